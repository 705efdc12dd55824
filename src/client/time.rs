//! The times `--since` and `--until` take: what the daemon's `from=` and
//! `until=` take (an RFC 3339 time with its offset, or an age), and
//! journalctl's forms, turned here into one of those: `now`, `today`,
//! `yesterday`, `tomorrow`, `-1h` (an age), `YYYY-MM-DD` and
//! `YYYY-MM-DD HH:MM[:SS]` in the local zone. The clock and the zone are
//! arguments: this module reads neither.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// What `text`, given to the flag the user typed as `flag` (`--since`,
/// `-S`, …), asks the daemon for: an RFC 3339 time or an age. An error
/// names `flag`.
pub fn journal_time(
    flag: &str,
    text: &str,
    now: Timestamp,
    tz: &TimeZone,
) -> Result<String, String> {
    let bad = |why: &dyn std::fmt::Display| format!("{flag}: bad time {text:?}: {why}");
    let trimmed = text.trim();
    let midnight = |day: fn(Date) -> Result<Date, jiff::Error>| {
        day(tz.to_datetime(now).date())
            .ok()
            .and_then(|d| local(d.to_datetime(jiff::civil::Time::midnight()), tz))
    };
    let at = match trimmed {
        "now" => Some(now),
        "today" => midnight(Ok),
        "yesterday" => midnight(Date::yesterday),
        "tomorrow" => midnight(Date::tomorrow),
        _ => None,
    };
    if let Some(t) = at {
        return Ok(t.to_string());
    }
    if matches!(trimmed, "today" | "yesterday" | "tomorrow") {
        return Err(bad(&"out of range"));
    }
    // journalctl's `-1h`: an age, as the daemon writes it.
    if let Some(age) = trimmed.strip_prefix('-') {
        let digits = age.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && age[digits..].bytes().all(|b| b.is_ascii_alphabetic()) {
            return check(age, now).map_err(|e| bad(&e));
        }
        return Err(bad(&FORMS));
    }
    match check(trimmed, now) {
        Ok(daemons) => Ok(daemons),
        // A date, or a date and time, without an offset: journalctl's
        // local time.
        Err(TimeError::NoOffset | TimeError::Unrecognised) => trimmed
            .parse::<DateTime>()
            .ok()
            .and_then(|dt| local(dt, tz))
            .map(|t| t.to_string())
            .ok_or_else(|| bad(&FORMS)),
        Err(e) => Err(bad(&e)),
    }
}

/// Refuses a `--since` later than the `--until`, as the daemon would, but
/// naming the flags as typed: `since` and `until` are each the flag and
/// what [`journal_time`] made of its value.
pub fn check_order(since: (&str, &str), until: (&str, &str), now: Timestamp) -> Result<(), String> {
    let instant = |text: &str| {
        text.parse::<Timestamp>().ok().or_else(|| {
            let digits = text.bytes().take_while(u8::is_ascii_digit).count();
            let n: i64 = text[..digits].parse().ok()?;
            let unit_s = match &text[digits..] {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86400,
                _ => return None,
            };
            let us = n.checked_mul(unit_s)?.checked_mul(1_000_000)?;
            Timestamp::from_microsecond(now.as_microsecond().checked_sub(us)?).ok()
        })
    };
    match (instant(since.1), instant(until.1)) {
        (Some(from), Some(to)) if from > to => Err(format!(
            "{} is later than {}: no message can match ({from} > {to})",
            since.0, until.0
        )),
        _ => Ok(()),
    }
}

/// Every form, for the error line.
const FORMS: &str = "expected now, today, yesterday, an age (30s, 10m, -2h, 1d), \
     a date and time in the local zone (2026-12-01, 2026-12-01 05:00[:00]) or an RFC 3339 \
     time (2026-12-01T05:00:00Z)";

/// Why a time is not one the daemon takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeError {
    NoOffset,
    NoUnit,
    UnknownUnit,
    TooLong,
    Unrecognised,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeError::NoOffset | TimeError::Unrecognised => FORMS,
            TimeError::NoUnit => "an age needs a unit: s, m, h or d (30s, 10m, 2h, 1d)",
            TimeError::UnknownUnit => "unknown unit: an age is in s, m, h or d (30s, 10m, 2h, 1d)",
            TimeError::TooLong => "an age too long to count back from now",
        })
    }
}

/// `text` if the daemon's `from=` and `until=` take it (an age, digits
/// and `s`, `m`, `h` or `d`; or an RFC 3339 time with its offset), checked
/// here so that an error names the flag the user typed.
fn check(text: &str, now: Timestamp) -> Result<String, TimeError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if digits > 0 && unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        let unit_s: i64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            "" => return Err(TimeError::NoUnit),
            _ => return Err(TimeError::UnknownUnit),
        };
        let back = number
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_s))
            .and_then(|s| s.checked_mul(1_000_000))
            .and_then(|us| now.as_microsecond().checked_sub(us));
        return match back {
            Some(_) => Ok(text.to_string()),
            None => Err(TimeError::TooLong),
        };
    }
    match text.parse::<Timestamp>() {
        Ok(_) => Ok(text.to_string()),
        Err(_) if text.parse::<DateTime>().is_ok() => Err(TimeError::NoOffset),
        Err(_) => Err(TimeError::Unrecognised),
    }
}

/// A local date and time in `tz` (the earlier of two in a repeated hour,
/// the later in a skipped one, as a person means it).
fn local(dt: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(dt).compatible().ok()
}

/// circolog-tail's letters that take no value, which may come first in a
/// group of letters (`-kS today` is `-k -S today`).
const VALUELESS: [char; 3] = ['f', 'k', 'r'];

/// Which spelling of a flag the user typed, from the command line `args`
/// (the program's name first): `-S`, `--since` or `-since`, the last one
/// given. `--since` when none is found. `longs` are the command's long
/// flags, which may be written with one dash: `-until` is not `-u`.
pub fn typed_flag(args: &[std::ffi::OsString], longs: &[&str], short: char, long: &str) -> String {
    let mut found = None;
    for a in args.iter().skip(1) {
        let Some(a) = a.to_str() else { continue };
        if a == "--" {
            break;
        }
        let name = a.split('=').next().unwrap_or(a);
        if name == format!("--{long}") || name == format!("-{long}") {
            found = Some(name.to_string());
        } else if a.strip_prefix('-').is_some_and(|r| {
            !r.starts_with('-')
                && !longs.contains(&name.trim_start_matches('-'))
                && r.trim_start_matches(VALUELESS).starts_with(short)
        }) {
            found = Some(format!("-{short}"));
        }
    }
    found.unwrap_or_else(|| format!("--{long}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 18:30:00 in Rome (UTC+1).
    fn now() -> Timestamp {
        "2026-12-07T17:30:00Z".parse().unwrap()
    }

    fn rome() -> TimeZone {
        TimeZone::get("Europe/Rome").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(1)))
    }

    fn t(text: &str) -> Result<String, String> {
        journal_time("-S", text, now(), &rome())
    }

    #[test]
    fn journalctl_forms_in_the_local_zone() {
        assert_eq!(t("now").unwrap(), "2026-12-07T17:30:00Z");
        assert_eq!(t("today").unwrap(), "2026-12-06T23:00:00Z");
        assert_eq!(t("yesterday").unwrap(), "2026-12-05T23:00:00Z");
        assert_eq!(t("tomorrow").unwrap(), "2026-12-07T23:00:00Z");
        assert_eq!(t("-1h").unwrap(), "1h");
        assert_eq!(t("-30m").unwrap(), "30m");
        assert_eq!(t("2026-12-01").unwrap(), "2026-11-30T23:00:00Z");
        assert_eq!(t("2026-12-01 05:00").unwrap(), "2026-12-01T04:00:00Z");
        assert_eq!(t("2026-12-01 05:00:07").unwrap(), "2026-12-01T04:00:07Z");
        assert_eq!(t("2026-07-01 05:00").unwrap(), "2026-07-01T03:00:00Z");
        // What the daemon takes goes as it is.
        assert_eq!(
            t("2026-12-01T05:00:00+01:00").unwrap(),
            "2026-12-01T05:00:00+01:00"
        );
        assert_eq!(t("10m").unwrap(), "10m");
        // In UTC, midnight is midnight.
        let utc = journal_time("--since", "today", now(), &TimeZone::UTC).unwrap();
        assert_eq!(utc, "2026-12-07T00:00:00Z");
    }

    #[test]
    fn errors_name_the_flag_typed() {
        let e = t("1234").unwrap_err();
        assert!(
            e.starts_with("-S: bad time \"1234\": an age needs a unit"),
            "{e}"
        );
        assert!(!e.contains("from"), "{e}");
        let e = journal_time("--until", "soon", now(), &rome()).unwrap_err();
        assert!(
            e.starts_with("--until: bad time \"soon\": expected now, today"),
            "{e}"
        );
        assert!(t("-1x").unwrap_err().contains("unknown unit"));
        assert!(t("-h").unwrap_err().contains("expected now"));
        assert!(t("2026-13-01").is_err());
        assert!(t("99999999999999999999d").unwrap_err().contains("too long"));
    }

    #[test]
    fn a_since_after_the_until_names_both_flags() {
        let e = check_order(("-S", "2026-12-07T17:30:00Z"), ("--until", "1h"), now()).unwrap_err();
        assert!(
            e.starts_with("-S is later than --until: no message can match"),
            "{e}"
        );
        assert!(check_order(("-S", "2h"), ("-U", "1h"), now()).is_ok());
        assert!(check_order(("-S", "1h"), ("-U", "2h"), now()).is_err());
        assert!(check_order(("-S", "2026-12-01T00:00:00Z"), ("-U", "now?"), now()).is_ok());
    }

    proptest::proptest! {
        /// Whatever is typed is a time or an error naming the flag, never
        /// a panic; and what is sent, the daemon reads.
        #[test]
        fn any_text_is_a_time_or_an_error(text in "\\PC{0,30}|-?[0-9]{1,25}[a-z]?|[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2})?)?") {
            match journal_time("-S", &text, now(), &rome()) {
                Ok(sent) => proptest::prop_assert!(check(&sent, now()).is_ok(), "{sent}"),
                Err(e) => proptest::prop_assert!(e.starts_with("-S: bad time "), "{e}"),
            }
        }
    }

    #[test]
    fn the_spelling_typed_is_found() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        const LONGS: &[&str] = &["since", "until", "unit", "uid", "app"];
        assert_eq!(
            typed_flag(&args(&["t", "-unit", "a", "-uid", "0"]), LONGS, 'u', "unit"),
            "-unit",
            "-uid is not -u"
        );
        assert_eq!(
            typed_flag(&args(&["t", "-until", "x"]), LONGS, 'u', "unit"),
            "--unit"
        );
        assert_eq!(
            typed_flag(&args(&["t", "-S", "x"]), LONGS, 'S', "since"),
            "-S"
        );
        assert_eq!(typed_flag(&args(&["t", "-Sx"]), LONGS, 'S', "since"), "-S");
        assert_eq!(
            typed_flag(&args(&["t", "-kS", "x"]), LONGS, 'S', "since"),
            "-S"
        );
        assert_eq!(
            typed_flag(&args(&["t", "-krU", "x"]), LONGS, 'U', "until"),
            "-U"
        );
        assert_eq!(
            typed_flag(&args(&["t", "-tU"]), LONGS, 'U', "until"),
            "--until",
            "a value of -t"
        );
        assert_eq!(
            typed_flag(&args(&["t", "--since=x"]), LONGS, 'S', "since"),
            "--since"
        );
        assert_eq!(
            typed_flag(&args(&["t", "-since", "x"]), LONGS, 'S', "since"),
            "-since"
        );
        assert_eq!(
            typed_flag(
                &args(&["t", "-S", "a", "--since", "b"]),
                LONGS,
                'S',
                "since"
            ),
            "--since"
        );
        assert_eq!(
            typed_flag(&args(&["t", "-U", "x"]), LONGS, 'S', "since"),
            "--since"
        );
        assert_eq!(
            typed_flag(&args(&["t", "--", "-S"]), LONGS, 'S', "since"),
            "--since"
        );
    }
}
