//! The query parameters of `GET /`, `/ws`, snapshots, `-trigger` and
//! `-export-query`, as a user reads them: the one description from which
//! `circologd --help`, its manual page and the reference are written.
//!
//! The text is written once, with `code` in backticks: the reference keeps
//! them, the help and the page drop them ([`plain`]).

/// One query parameter, documented.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// What the user writes: `fac=F[,F…]`; several names that share a
    /// meaning are one row (`from=TIME`, `until=TIME`).
    pub usage: &'static str,
    /// Its meaning.
    pub text: &'static str,
}

/// Every query parameter, in the order the reference lists them.
pub const QUERY_PARAMETERS: &[Param] = &[
    Param {
        usage: "l=N",
        text: "the last N matching messages; `-1` (the default) for all; `0` for none \
               (headers only)",
    },
    Param {
        usage: "fmt=syslog|json|raw",
        text: "one RFC 5424 line per message (the default), one JSON object per line \
               (`application/x-ndjson`), or the bytes as received. In syslog lines, line \
               feeds, carriage returns, tabs and every other control character are \
               escaped (`\\n`, `\\r`, `\\xHH`), so one message is one line and cannot \
               drive a terminal",
    },
    Param {
        usage: "sev=LEVEL",
        text: "severity LEVEL or more important: `emerg alert crit err warning notice \
               info debug`, `error` and `warn` too, or `0`–`7`; case-insensitive; \
               `sev=!LEVEL`: less severe than LEVEL",
    },
    Param {
        usage: "fac=F[,F…]",
        text: "any of these facilities: `kern user mail daemon auth syslog lpr news uucp \
               cron authpriv ftp local0`…`local7`, or numbers",
    },
    Param {
        usage: "host=H[,H…]",
        text: "any of these hostnames, exactly; `-` selects messages without one. A message from a local unix socket without a hostname has this host's name, here as where it is shown",
    },
    Param {
        usage: "app=A[,A…]",
        text: "any of these app-names, exactly; `-` selects messages without one",
    },
    Param {
        usage: "grep=TEXT",
        text: "the text contains TEXT (bytes, case-sensitive); empty matches all",
    },
    Param {
        usage: "not=TEXT",
        text: "the text does not contain TEXT; empty matches none",
    },
    Param {
        usage: "re=REGEX",
        text: "the text matches the regular expression (Rust `regex` syntax, linear \
               time; `(?i)` for case-insensitive); a bad one, or one larger than 1 MiB \
               compiled, is a `400`",
    },
    Param {
        usage: "unit=U[,U…]",
        text: "any of these systemd units of a local sender, as `journalctl -u` reads \
               them: a name without a kind is a service's (`nginx` is `nginx.service`); \
               `session-4.scope`, `user@1000.service`; `-` selects messages of no unit",
    },
    Param {
        usage: "pid=P[,P…]",
        text: "any of these sender pids: the kernel's, for a local sender; else the \
               message's own PROCID",
    },
    Param {
        usage: "uid=U[,U…]",
        text: "any of these sender uids, as the kernel gave them for a local sender (a \
               message without credentials has none)",
    },
    Param {
        usage: "from=TIME, until=TIME",
        text: "received at or after / before TIME: RFC 3339 with its offset \
               (`2026-12-01T05:00:00Z`, `…+01:00`) or an age (`30s`, `10m`, `2h`, `1d`: \
               that long before now); `from` after `until` is a `400`",
    },
    Param {
        usage: "since=SEQ",
        text: "only messages with a seq greater than SEQ: the cursor to resume from; a \
               value that overflows is a `400`",
    },
];

/// What every list parameter shares.
pub const LISTS: &str = "`host`, `app`, `fac`, `unit`, `pid` and `uid` take lists (any \
of them) and a leading `!` negates the whole list (`app=!cron,anacron`). Lists and `!` are read after percent-decoding, so a name cannot contain a comma \
or start with `!`. All parameters combine with AND; an unknown or repeated one, or a \
bad value, is a `400` whose body is one line naming it.";

/// `text` without its backticks, for the help and the manual page.
pub fn plain(text: &str) -> String {
    text.replace('`', "")
}

/// The reference's table of the parameters, in Markdown.
pub fn markdown_table() -> String {
    let mut out = String::from("| parameter | meaning |\n|---|---|\n");
    for p in QUERY_PARAMETERS {
        let usage: Vec<String> = p
            .usage
            .split(", ")
            .map(|u| format!("`{}`", u.replace('|', "\\|")))
            .collect();
        out.push_str(&format!(
            "| {} | {} |\n",
            usage.join(", "),
            p.text.replace('|', "\\|")
        ));
    }
    out.push('\n');
    out.push_str(LISTS);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter the query language takes is documented, and nothing
    /// else is: the names it takes are those its error for an unknown one
    /// lists.
    #[test]
    fn every_parameter_is_documented() {
        let error = |q: &str| match crate::query::Query::parse(q, 0) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        let mut documented: Vec<&str> = QUERY_PARAMETERS
            .iter()
            .flat_map(|p| p.usage.split(", "))
            .map(|u| u.split('=').next().unwrap_or_default())
            .collect();
        let e = error("nosuch=1");
        let (_, known) = e.split_once("expected ").unwrap_or_else(|| panic!("{e}"));
        let mut known: Vec<&str> = known
            .split([',', ' '])
            .filter(|w| !w.is_empty() && *w != "or")
            .collect();
        known.sort();
        documented.sort();
        assert_eq!(documented, known);
    }

    #[test]
    fn the_table_keeps_code_and_escapes_bars() {
        let table = markdown_table();
        assert!(
            table.contains("| `fmt=syslog\\|json\\|raw` | one RFC 5424"),
            "{table}"
        );
        assert!(table.contains("| `from=TIME`, `until=TIME` |"), "{table}");
        assert_eq!(plain("`re` (`(?i)`)"), "re ((?i))");
    }
}
