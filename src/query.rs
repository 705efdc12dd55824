//! Query parameters of `GET /` and `GET /ws`: the part of the target after
//! `?`, turned into a [`Query`] once per request.
//!
//! Parsing is strict: an unknown parameter, a repeated one or a bad value is
//! a [`QueryError`] whose text is the one-line reason of the `400` response,
//! naming the parameter. Names and values are percent-decoded and `+` is a
//! space; values are bytes (`grep=%FF` looks for the byte 0xFF).
//!
//! A [`Filter`] allocates when it is built and never in
//! [`Filter::matches`], which runs once per stored message of a dump.

use std::fmt;

use memchr::memmem;

use crate::syslog::{self, Message};

/// How messages are written in a response (`fmt=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One RFC 5424 line per message (the default).
    Syslog,
    /// One JSON object per line.
    Json,
    /// The bytes as received, one message per line.
    Raw,
}

impl OutputFormat {
    /// The value of `fmt=` that selects this format.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Syslog => "syslog",
            OutputFormat::Json => "json",
            OutputFormat::Raw => "raw",
        }
    }
}

/// Which messages a query selects. The default selects every message.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `sev=`: the least important severity kept (severities are more
    /// important when numerically smaller).
    max_severity: Option<u8>,
    /// `fac=`: bit `f` is set when facility `f` is kept. Facilities are
    /// 0..=23, so every one has a bit.
    facilities: Option<u32>,
    /// `host=`: `Nil` keeps the messages without a hostname.
    host: Option<Field>,
    /// `app=`, as `host`.
    app: Option<Field>,
    /// `grep=`.
    grep: Option<memmem::Finder<'static>>,
}

/// The value an exact-match filter wants.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    /// The value was `-`, the NILVALUE: the field must be absent.
    Nil,
    Bytes(Vec<u8>),
}

impl Field {
    fn matches(&self, value: Option<&[u8]>) -> bool {
        match (self, value) {
            (Field::Nil, None) => true,
            (Field::Bytes(want), Some(have)) => want.as_slice() == have,
            _ => false,
        }
    }
}

/// Filters are equal when they select the same messages by the same
/// rules: followers of equal filters share rendered frames.
impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.max_severity == other.max_severity
            && self.facilities == other.facilities
            && self.host == other.host
            && self.app == other.app
            && self.grep.as_ref().map(|f| f.needle()) == other.grep.as_ref().map(|f| f.needle())
    }
}

impl Eq for Filter {}

impl Filter {
    /// Whether `msg` is selected. Allocates nothing.
    pub fn matches(&self, msg: &Message<'_>) -> bool {
        self.max_severity.is_none_or(|max| msg.severity <= max)
            // A facility outside 0..=23 cannot come from the parser; it is
            // simply not selected rather than overflowing the shift.
            && self
                .facilities
                .is_none_or(|mask| msg.facility < 32 && mask & (1u32 << msg.facility) != 0)
            && self.host.as_ref().is_none_or(|host| host.matches(msg.hostname))
            && self.app.as_ref().is_none_or(|app| app.matches(msg.app_name))
            && self.grep.as_ref().is_none_or(|grep| grep.find(msg.message).is_some())
    }

    /// True when the filter selects every message, so a reader that needs no
    /// parsed fields (e.g. `fmt=raw`) can skip parsing altogether.
    pub fn matches_all(&self) -> bool {
        self.max_severity.is_none()
            && self.facilities.is_none()
            && self.host.is_none()
            && self.app.is_none()
            && self.grep.is_none()
    }
}

/// A parsed query string.
#[derive(Clone, Debug)]
pub struct Query {
    /// `l=N`: the last N matching messages; `None` = all (`l=-1`, the default).
    pub limit: Option<u64>,
    /// `fmt=`, [`OutputFormat::Syslog`] by default.
    pub format: OutputFormat,
    pub filter: Filter,
    /// `since=SEQ`: only messages with a greater seq.
    pub since: Option<u64>,
}

/// Why a query string was refused: a one-line reason for the `400` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

const PARAMS: &str = "l, fmt, sev, fac, host, app, grep or since";
const SEVERITIES: &str = "emerg, alert, crit, err, warning, notice, info, debug or 0-7";
const FORMATS: &str = "syslog, json or raw";

/// Values longer than this are cut in error messages, which stay one short
/// line whatever the client sent.
const ECHO_MAX: usize = 64;

impl Query {
    /// Parses a query string: the part of the request target after `?`,
    /// possibly empty. Empty `&`-separated pieces are ignored; a parameter
    /// without `=` has an empty value.
    pub fn parse(query_string: &str) -> Result<Query, QueryError> {
        let mut query = Query {
            limit: None,
            format: OutputFormat::Syslog,
            filter: Filter::default(),
            since: None,
        };
        // Bit i set when PARAM_NAMES[i] was seen: a repeated parameter is an
        // error rather than a silent choice between two values.
        let mut seen = 0u16;
        for piece in query_string.split('&') {
            if piece.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = percent_decode(raw_name).map_err(|e| {
                QueryError(format!(
                    "bad parameter name {}: {e}",
                    echo(raw_name.as_bytes())
                ))
            })?;
            let Some(index) = PARAM_NAMES
                .iter()
                .position(|p| p.as_bytes() == name.as_slice())
            else {
                return Err(QueryError(format!(
                    "unknown parameter {}: expected {PARAMS}",
                    echo(&name)
                )));
            };
            let param = PARAM_NAMES[index];
            if seen & (1 << index) != 0 {
                return Err(QueryError(format!("repeated parameter \"{param}\"")));
            }
            seen |= 1 << index;
            let value = percent_decode(raw_value).map_err(|e| {
                QueryError(format!("bad {param} {}: {e}", echo(raw_value.as_bytes())))
            })?;
            query.set(param, value)?;
        }
        Ok(query)
    }

    fn set(&mut self, param: &str, value: Vec<u8>) -> Result<(), QueryError> {
        let text = std::str::from_utf8(&value).ok();
        match param {
            "l" => {
                self.limit = match text.and_then(|t| t.parse::<i64>().ok()) {
                    Some(-1) => None,
                    Some(n) if n >= 0 => Some(n as u64),
                    _ => {
                        return Err(bad(
                            param,
                            &value,
                            "expected a number of messages, or -1 for all",
                        ));
                    }
                }
            }
            "fmt" => {
                self.format = match text {
                    Some("syslog") => OutputFormat::Syslog,
                    Some("json") => OutputFormat::Json,
                    Some("raw") => OutputFormat::Raw,
                    _ => return Err(bad(param, &value, &format!("expected {FORMATS}"))),
                }
            }
            "sev" => {
                let sev = text.and_then(|t| syslog::severity_from_name(&t.to_ascii_lowercase()));
                match sev {
                    Some(s) => self.filter.max_severity = Some(s),
                    None => return Err(bad(param, &value, &format!("expected {SEVERITIES}"))),
                }
            }
            "fac" => {
                let mut mask = 0u32;
                for item in value.split(|&b| b == b',') {
                    let fac = std::str::from_utf8(item)
                        .ok()
                        .and_then(|t| syslog::facility_from_name(&t.to_ascii_lowercase()));
                    match fac {
                        Some(f) if f < 32 => mask |= 1 << f,
                        _ => {
                            return Err(bad(
                                param,
                                item,
                                "expected facility names (kern, user, mail, daemon, auth, syslog, \
                                 lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, \
                                 solaris-cron, local0-local7) or 0-23, separated by commas",
                            ));
                        }
                    }
                }
                self.filter.facilities = Some(mask);
            }
            "host" | "app" => {
                if value.is_empty() {
                    return Err(bad(param, &value, "expected a name, or - for none"));
                }
                let field = if value == b"-" {
                    Field::Nil
                } else {
                    Field::Bytes(value)
                };
                if param == "host" {
                    self.filter.host = Some(field);
                } else {
                    self.filter.app = Some(field);
                }
            }
            "grep" => {
                // An empty needle matches every message, like `grep ''`.
                self.filter.grep = Some(memmem::Finder::new(&value).into_owned());
            }
            "since" => match text.and_then(|t| t.parse::<u64>().ok()) {
                Some(seq) => self.since = Some(seq),
                None => return Err(bad(param, &value, "expected a seq (0 or more)")),
            },
            // Every name in PARAM_NAMES has an arm above.
            _ => return Err(QueryError(format!("unknown parameter \"{param}\""))),
        }
        Ok(())
    }
}

const PARAM_NAMES: [&str; 8] = ["l", "fmt", "sev", "fac", "host", "app", "grep", "since"];

fn bad(param: &str, value: &[u8], expected: &str) -> QueryError {
    QueryError(format!("bad {param} {}: {expected}", echo(value)))
}

/// A value quoted for an error message: lossy UTF-8, control characters
/// escaped (so the reason stays one line), at most [`ECHO_MAX`] characters.
fn echo(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut cut: String = text.chars().take(ECHO_MAX).collect();
    if text.chars().nth(ECHO_MAX).is_some() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// Why a component could not be percent-decoded.
#[derive(Debug, PartialEq, Eq)]
struct DecodeError;

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad percent-encoding (expected % followed by two hex digits)")
    }
}

/// Decodes `%XX` escapes and `+` (a space) of one query component.
fn percent_decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&b| hex_value(b));
                let lo = bytes.get(i + 2).and_then(|&b| hex_value(b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(DecodeError),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes `s` as one query component (a name or a value): every
/// byte except the RFC 3986 unreserved characters `A-Z a-z 0-9 - . _ ~`
/// becomes `%XX`, so the result decodes back to `s` with [`Query::parse`]'s
/// rules (including `+`, which is encoded).
pub fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syslog::Format;

    fn msg<'a>(
        facility: u8,
        severity: u8,
        host: Option<&'a [u8]>,
        app: Option<&'a [u8]>,
        text: &'a [u8],
    ) -> Message<'a> {
        Message {
            facility,
            severity,
            timestamp: None,
            hostname: host,
            app_name: app,
            proc_id: None,
            msg_id: None,
            structured_data: None,
            message: text,
            format: Format::Rfc5424,
        }
    }

    fn err(q: &str) -> String {
        match Query::parse(q) {
            Ok(_) => panic!("{q:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_query_selects_everything() {
        let q = Query::parse("").unwrap();
        assert_eq!(q.limit, None);
        assert_eq!(q.format, OutputFormat::Syslog);
        assert_eq!(q.since, None);
        assert!(q.filter.matches_all());
        assert!(q.filter.matches(&msg(23, 7, None, None, b"")));
        // Stray separators are ignored.
        assert!(Query::parse("&&").unwrap().filter.matches_all());
    }

    #[test]
    fn limit() {
        assert_eq!(Query::parse("l=10").unwrap().limit, Some(10));
        assert_eq!(Query::parse("l=0").unwrap().limit, Some(0));
        assert_eq!(Query::parse("l=-1").unwrap().limit, None);
        assert!(err("l=-2").starts_with("bad l \"-2\""));
        assert!(err("l=ten").starts_with("bad l \"ten\""));
        assert!(err("l=").starts_with("bad l \"\""));
        assert!(err("l=99999999999999999999999").starts_with("bad l"));
    }

    #[test]
    fn formats() {
        assert_eq!(Query::parse("fmt=json").unwrap().format, OutputFormat::Json);
        assert_eq!(Query::parse("fmt=raw").unwrap().format, OutputFormat::Raw);
        assert_eq!(
            Query::parse("fmt=syslog").unwrap().format,
            OutputFormat::Syslog
        );
        assert_eq!(
            err("fmt=xml"),
            "bad fmt \"xml\": expected syslog, json or raw"
        );
        for f in [OutputFormat::Syslog, OutputFormat::Json, OutputFormat::Raw] {
            assert_eq!(
                Query::parse(&format!("fmt={}", f.name())).unwrap().format,
                f
            );
        }
    }

    #[test]
    fn severity_at_or_above() {
        let q = Query::parse("sev=warning").unwrap();
        assert!(q.filter.matches(&msg(1, 0, None, None, b"")));
        assert!(q.filter.matches(&msg(1, 4, None, None, b"")));
        assert!(!q.filter.matches(&msg(1, 5, None, None, b"")));
        for (name, n) in [
            ("err", 3),
            ("error", 3),
            ("warn", 4),
            ("WARNING", 4),
            ("7", 7),
            ("0", 0),
            ("emerg", 0),
        ] {
            let q = Query::parse(&format!("sev={name}")).unwrap();
            assert_eq!(q.filter.max_severity, Some(n), "{name}");
        }
        assert_eq!(
            err("sev=loud"),
            "bad sev \"loud\": expected emerg, alert, crit, err, warning, notice, info, debug or 0-7"
        );
        assert!(err("sev=8").starts_with("bad sev \"8\""));
    }

    #[test]
    fn facilities() {
        let q = Query::parse("fac=kern,local0,3").unwrap();
        assert!(q.filter.matches(&msg(0, 6, None, None, b"")));
        assert!(q.filter.matches(&msg(16, 6, None, None, b"")));
        assert!(q.filter.matches(&msg(3, 6, None, None, b"")));
        assert!(!q.filter.matches(&msg(1, 6, None, None, b"")));
        // A facility the parser cannot produce is not selected, not a panic.
        assert!(!q.filter.matches(&msg(200, 6, None, None, b"")));
        // An encoded comma still separates: the value is decoded first.
        assert!(
            Query::parse("fac=kern%2Cuser")
                .unwrap()
                .filter
                .matches(&msg(1, 6, None, None, b""))
        );
        assert!(err("fac=kern,,user").starts_with("bad fac \"\""));
        assert!(err("fac=24").starts_with("bad fac \"24\""));
        assert!(err("fac=kern,bogus").starts_with("bad fac \"bogus\""));
    }

    #[test]
    fn host_and_app_exact() {
        let q = Query::parse("host=web1&app=nginx").unwrap();
        assert!(
            q.filter
                .matches(&msg(1, 6, Some(b"web1"), Some(b"nginx"), b""))
        );
        assert!(
            !q.filter
                .matches(&msg(1, 6, Some(b"web10"), Some(b"nginx"), b""))
        );
        assert!(
            !q.filter
                .matches(&msg(1, 6, Some(b"web1"), Some(b"Nginx"), b""))
        );
        assert!(!q.filter.matches(&msg(1, 6, None, Some(b"nginx"), b"")));
        let nil = Query::parse("host=-").unwrap();
        assert!(nil.filter.matches(&msg(1, 6, None, None, b"")));
        assert!(!nil.filter.matches(&msg(1, 6, Some(b"web1"), None, b"")));
        assert!(err("host=").starts_with("bad host \"\""));
        // Non-UTF-8 bytes are matched as bytes.
        let q = Query::parse("app=%FFx").unwrap();
        assert!(q.filter.matches(&msg(1, 6, None, Some(b"\xffx"), b"")));
    }

    #[test]
    fn grep_bytes_case_sensitive() {
        let q = Query::parse("grep=disk+full").unwrap();
        assert!(
            q.filter
                .matches(&msg(1, 6, None, None, b"error: disk full on /"))
        );
        assert!(
            !q.filter
                .matches(&msg(1, 6, None, None, b"error: Disk full on /"))
        );
        assert!(!q.filter.matches(&msg(1, 6, None, None, b"disk+full")));
        let q = Query::parse("grep=a%2Bb%00").unwrap();
        assert!(q.filter.matches(&msg(1, 6, None, None, b"xa+b\0y")));
        assert!(
            Query::parse("grep=")
                .unwrap()
                .filter
                .matches(&msg(1, 6, None, None, b""))
        );
        assert!(
            Query::parse("grep")
                .unwrap()
                .filter
                .matches(&msg(1, 6, None, None, b"x"))
        );
    }

    #[test]
    fn combined_filters() {
        let q = Query::parse("sev=err&fac=auth&grep=fail&l=5&since=42&fmt=json").unwrap();
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.since, Some(42));
        assert_eq!(q.format, OutputFormat::Json);
        assert!(!q.filter.matches_all());
        assert!(q.filter.matches(&msg(4, 3, None, None, b"login failed")));
        assert!(!q.filter.matches(&msg(4, 4, None, None, b"login failed")));
        assert!(!q.filter.matches(&msg(10, 3, None, None, b"login failed")));
        assert!(!q.filter.matches(&msg(4, 3, None, None, b"login ok")));
    }

    #[test]
    fn since() {
        assert_eq!(Query::parse("since=0").unwrap().since, Some(0));
        assert_eq!(
            Query::parse("since=18446744073709551615").unwrap().since,
            Some(u64::MAX)
        );
        assert!(err("since=-1").starts_with("bad since \"-1\""));
    }

    #[test]
    fn unknown_repeated_and_badly_encoded() {
        assert_eq!(
            err("lines=5"),
            "unknown parameter \"lines\": expected l, fmt, sev, fac, host, app, grep or since"
        );
        assert_eq!(err("l=1&l=2"), "repeated parameter \"l\"");
        assert_eq!(
            err("sev=err&fmt=json&sev=err"),
            "repeated parameter \"sev\""
        );
        assert!(err("grep=%4").starts_with("bad grep \"%4\": bad percent-encoding"));
        assert!(err("grep=%zz").starts_with("bad grep"));
        assert!(err("%=1").starts_with("bad parameter name"));
        // Encoded names are decoded.
        assert_eq!(Query::parse("%6C=3").unwrap().limit, Some(3));
    }

    #[test]
    fn errors_stay_one_short_line() {
        let e = err("host=&x=1");
        assert!(!e.contains('\n'));
        let e = err(&format!("fmt={}%0A", "y".repeat(500)));
        assert!(!e.contains('\n'), "{e}");
        assert!(e.len() < 200, "{e}");
        let e = err("fmt=%FF%0D%0A");
        assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
    }

    #[test]
    fn encode_component_round_trips() {
        for s in [
            "",
            "plain",
            "a b+c&d=e%f",
            "kern,user",
            "ünïcödé",
            "~-._",
            "\n\r\0",
        ] {
            let encoded = encode_component(s);
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{encoded}"
            );
            assert_eq!(percent_decode(&encoded).unwrap(), s.as_bytes());
            let q = Query::parse(&format!("grep={encoded}")).unwrap();
            assert!(
                q.filter
                    .matches(&msg(1, 6, None, None, format!("<{s}>").as_bytes()))
            );
        }
        assert_eq!(encode_component("a b"), "a%20b");
    }
}
