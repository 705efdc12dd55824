//! The query string a client sends: the filters as given, and where in the
//! ring a request starts.

use crate::query::encode_component;
use crate::store::ring::Seq;

/// The filters of a query, passed to the daemon as they were given: it
/// checks them and says what is wrong with a bad one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub sev: Option<String>,
    pub fac: Option<String>,
    pub host: Option<String>,
    pub app: Option<String>,
    pub grep: Option<String>,
    pub re: Option<String>,
    pub not: Option<String>,
    /// `from=`: RFC 3339 or an age, as the daemon reads it.
    pub from: Option<String>,
    pub until: Option<String>,
    /// `unit=`, `pid=`, `uid=`: lists, as `join_list` makes them.
    pub unit: Option<String>,
    pub pid: Option<String>,
    pub uid: Option<String>,
}

/// `-g PATTERN` as `re=`: as journalctl's `--grep`, a pattern without a
/// capital letter ignores case unless `case_sensitive` says otherwise, and
/// one with a capital keeps it unless `case_sensitive` is false.
pub fn journal_pattern(pattern: &str, case_sensitive: Option<bool>) -> String {
    let sensitive = case_sensitive.unwrap_or_else(|| pattern.chars().any(char::is_uppercase));
    if sensitive {
        pattern.to_string()
    } else {
        format!("(?i){pattern}")
    }
}

/// The one list a list flag (`--app`, `--host`, `--fac`) given `values`
/// stands for: repeats join into one list, as the daemon takes a parameter
/// once. A leading `!` negates the whole list, so the repeats must agree on
/// it (`--app '!cron' --app anacron` is `app=!cron,anacron`); `--app sshd
/// --app '!cron'` asks for two different things and is refused, naming
/// `flag` as the user typed it (`-t`, `--app`). `None` for no value.
pub fn join_list(flag: &str, values: &[String]) -> Result<Option<String>, String> {
    let Some(first) = values.first() else {
        return Ok(None);
    };
    let negated = first.starts_with('!');
    let mut list = String::new();
    if negated {
        list.push('!');
    }
    for (i, v) in values.iter().enumerate() {
        let items = match v.strip_prefix('!') {
            Some(rest) if negated => rest,
            None if !negated => v.as_str(),
            _ => {
                return Err(format!(
                    "{flag}: either every value given is negated with a leading ! or none is \
                     (got {first:?} and {v:?})"
                ));
            }
        };
        if i > 0 {
            list.push(',');
        }
        list.push_str(items);
    }
    Ok(Some(list))
}

/// Where a request starts in the daemon's ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The last N matching messages (`l=N`).
    Last(u64),
    /// Every matching message in the ring (neither `l` nor `since`).
    All,
    /// The messages after this seq (`since=SEQ`).
    Since(Seq),
    /// The last N of the messages after this seq (`l=N&since=SEQ`).
    LastAfter(u64, Seq),
}

/// The query string (without `?`) for `start`, in wire format `fmt`.
pub fn query_string(start: Start, fmt: &str, filters: &Filters) -> String {
    let mut q = match start {
        Start::Last(n) => format!("l={n}&"),
        Start::All => String::new(),
        Start::Since(s) => format!("since={s}&"),
        Start::LastAfter(n, s) => format!("l={n}&since={s}&"),
    };
    q.push_str("fmt=");
    q.push_str(&encode_component(fmt));
    for (name, value) in [
        ("sev", &filters.sev),
        ("fac", &filters.fac),
        ("host", &filters.host),
        ("app", &filters.app),
        ("grep", &filters.grep),
        ("re", &filters.re),
        ("not", &filters.not),
        ("from", &filters.from),
        ("until", &filters.until),
        ("unit", &filters.unit),
        ("pid", &filters.pid),
        ("uid", &filters.uid),
    ] {
        if let Some(v) = value {
            q.push('&');
            q.push_str(name);
            q.push('=');
            q.push_str(&encode_component(v));
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_ignores_case_as_journalctl_unless_told_or_given_a_capital() {
        assert_eq!(journal_pattern("error", None), "(?i)error");
        assert_eq!(journal_pattern("Error", None), "Error");
        assert_eq!(journal_pattern("état", None), "(?i)état");
        assert_eq!(journal_pattern("Érr", None), "Érr");
        assert_eq!(journal_pattern("error", Some(true)), "error");
        assert_eq!(journal_pattern("Error", Some(false)), "(?i)Error");
    }

    #[test]
    fn query_strings_encode_filters() {
        let f = Filters {
            sev: Some("err".into()),
            grep: Some("a b&c=d".into()),
            ..Filters::default()
        };
        assert_eq!(
            query_string(Start::Last(10), "json", &f),
            "l=10&fmt=json&sev=err&grep=a%20b%26c%3Dd"
        );
        let f = Filters {
            app: Some("!cron,atd".into()),
            re: Some("^a+$".into()),
            not: Some("x".into()),
            from: Some("2026-12-01T05:00:00+01:00".into()),
            until: Some("10m".into()),
            ..Filters::default()
        };
        assert_eq!(
            query_string(Start::All, "json", &f),
            "fmt=json&app=%21cron%2Catd&re=%5Ea%2B%24&not=x\
             &from=2026-12-01T05%3A00%3A00%2B01%3A00&until=10m"
        );
        assert_eq!(
            query_string(Start::Since(Seq::new(7)), "raw", &Filters::default()),
            "since=7&fmt=raw"
        );
        assert_eq!(
            query_string(Start::All, "json", &Filters::default()),
            "fmt=json"
        );
        assert_eq!(
            query_string(
                Start::LastAfter(3, Seq::new(7)),
                "json",
                &Filters::default()
            ),
            "l=3&since=7&fmt=json"
        );
        // `-u`, `--pid`, `--uid`: lists, as the daemon takes them.
        let f = Filters {
            unit: join_list("--unit", &["nginx".into(), "sshd.service".into()]).unwrap(),
            pid: Some("!1,2".into()),
            uid: Some("1000".into()),
            ..Filters::default()
        };
        assert_eq!(
            query_string(Start::Last(1), "json", &f),
            "l=1&fmt=json&unit=nginx%2Csshd.service&pid=%211%2C2&uid=1000"
        );
    }

    #[test]
    fn list_flags_join_into_one_list() {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(join_list("--app", &[]), Ok(None));
        assert_eq!(join_list("--app", &v(&["sshd"])), Ok(Some("sshd".into())));
        assert_eq!(
            join_list("--app", &v(&["sshd,nginx", "cron"])),
            Ok(Some("sshd,nginx,cron".into()))
        );
        assert_eq!(
            join_list("--app", &v(&["!cron", "!anacron,atd"])),
            Ok(Some("!cron,anacron,atd".into()))
        );
        let err = join_list("--app", &v(&["sshd", "!cron"])).unwrap_err();
        assert!(err.starts_with("--app: "), "{err}");
        assert!(join_list("--host", &v(&["!a", "b"])).is_err());
    }
}
