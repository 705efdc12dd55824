//! What a client prints: the `short` and `syslog` lines rendered from a
//! message's JSON, and the severity colours.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::JsonMessage;
use crate::ingest::syslog::SEVERITY_NAMES;

/// Appends a message in the `short` format, without a line end:
///
/// ```text
/// Jan  8 19:46:03 myhost sshd[1234]: Accepted publickey for alice
/// ```
///
/// * The time is the message's own timestamp, or its receive time when it
///   has none, in `tz` (the local zone), as `Mmm dd hh:mm:ss` with the day
///   padded with a space, as syslog writes it.
/// * The hostname is left out when the message has none (as `logread`
///   does): the glibc `/dev/log` form carries none.
/// * `app[pid]:` is the app name and process id; `[pid]` is left out when
///   there is no process id, and the whole tag when there is no app name.
/// * Control characters in any field are escaped as in `fmt=syslog`
///   (`\n`, `\r`, `\xHH`), so one message stays one line and cannot drive
///   the terminal.
pub fn render_short(msg: &JsonMessage, tz: &TimeZone, out: &mut String) {
    let time = msg
        .timestamp
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .or_else(|| msg.received.parse::<Timestamp>().ok());
    match time {
        Some(t) => {
            use fmt::Write as _;
            let _ = write!(out, "{}", tz.to_datetime(t).strftime("%b %e %H:%M:%S"));
        }
        None => out.push_str("--- -- --:--:--"),
    }
    if let Some(host) = msg.hostname.as_deref().filter(|h| !h.is_empty()) {
        out.push(' ');
        push_escaped(out, host);
    }
    if let Some(app) = msg.app_name.as_deref().filter(|a| !a.is_empty()) {
        out.push(' ');
        push_escaped(out, app);
        if let Some(pid) = msg.proc_id.as_deref().filter(|p| !p.is_empty()) {
            out.push('[');
            push_escaped(out, pid);
            out.push(']');
        }
        out.push(':');
    }
    if !msg.message.is_empty() {
        out.push(' ');
        push_escaped(out, &msg.message);
    }
}

/// Appends a message as the daemon's `fmt=syslog` writes it, without a
/// line end: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`, the
/// receive time standing in for a missing timestamp, and a malformed
/// message as `<13>1 RECEIVED - - - - - TEXT`. Text is escaped as the daemon
/// escapes it (see [`crate::query::format::render`]), so the line holds no control
/// character. Bytes that were not UTF-8 come as U+FFFD, as in the JSON.
///
/// `circolog-tail --fmt syslog` follows `fmt=json` and writes this, so
/// that every line it prints has a seq to resume after.
pub fn render_syslog(msg: &JsonMessage, out: &mut Vec<u8>) {
    let facility = name_number(&crate::ingest::syslog::FACILITY_NAMES, &msg.facility).unwrap_or(1);
    let severity = name_number(&SEVERITY_NAMES, &msg.severity).unwrap_or(5);
    out.extend_from_slice(
        format!("<{}>1 ", u16::from(facility) * 8 + u16::from(severity)).as_bytes(),
    );
    let time = match &msg.timestamp {
        Some(t) if !msg.malformed => t,
        _ => &msg.received,
    };
    header_field(out, Some(time));
    if msg.malformed {
        out.extend_from_slice(b" - - - - -");
    } else {
        for field in [&msg.hostname, &msg.app_name, &msg.proc_id, &msg.msg_id] {
            out.push(b' ');
            header_field(out, field.as_deref());
        }
        out.push(b' ');
        match msg.structured_data.as_ref().filter(|sd| !sd.0.is_empty()) {
            Some(sd) => {
                for element in &sd.0 {
                    out.push(b'[');
                    header_field(out, Some(&element.id));
                    for param in &element.params {
                        for value in &param.values {
                            out.push(b' ');
                            header_field(out, Some(&param.name));
                            out.extend_from_slice(b"=\"");
                            crate::query::format::escape_sd_param_value(value.as_bytes(), out);
                            out.push(b'"');
                        }
                    }
                    out.push(b']');
                }
            }
            None => out.push(b'-'),
        }
    }
    if !msg.message.is_empty() {
        out.push(b' ');
        crate::query::format::escape_one_line(msg.message.as_bytes(), out);
    }
}

/// The number of a facility or severity name; a number the daemon wrote
/// for a value without a name is taken as it is.
fn name_number(names: &[&str], name: &str) -> Option<u8> {
    names
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
        .or_else(|| name.parse().ok())
}

/// A header field as RFC 5424 allows it: `-` when absent, printable ASCII
/// only (any other byte is `_`, as the daemon writes it).
fn header_field(out: &mut Vec<u8>, field: Option<&str>) {
    match field.filter(|f| !f.is_empty()) {
        Some(f) => out.extend(
            f.bytes()
                .map(|b| if (33..=126).contains(&b) { b } else { b'_' }),
        ),
        None => out.push(b'-'),
    }
}

/// `text` with control characters other than tab written as `\n`, `\r`
/// or `\xHH`, and the characters that reorder text on a terminal (bidi
/// embeddings, overrides and isolates, U+202A–U+202E and U+2066–U+2069,
/// the ones compilers warn about in source) as `\u{202e}`: what a peer
/// sends cannot drive the terminal or disguise a line.
fn push_escaped(out: &mut String, text: &str) {
    use fmt::Write as _;
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Text from a daemon or a peer (a notice, a close reason, an error body,
/// a line that is not what was asked for) made safe to print, escaped as
/// the `short` format escapes a message.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// [`escape_text`] of bytes that may not be UTF-8 (shown as U+FFFD).
pub fn escape_bytes(bytes: &[u8]) -> String {
    escape_text(&String::from_utf8_lossy(bytes))
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and `NO_COLOR` is unset or
    /// empty, and `TERM` is not `dumb`.
    Auto,
    Always,
    Never,
}

/// Whether to colour, given the choice and the environment.
pub fn use_color(
    choice: ColorChoice,
    stdout_is_terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            stdout_is_terminal
                && no_color.is_none_or(|v| v.is_empty())
                && term.is_none_or(|t| t != "dumb")
        }
    }
}

/// Ends a coloured line.
pub const RESET: &str = "\x1b[0m";

/// The SGR sequence that starts a line of severity `sev` (0 = emerg …
/// 7 = debug): emerg, alert and crit bright red bold, err red, warning
/// yellow, notice bold, info plain, debug dim.
pub fn severity_style(sev: u8) -> Option<&'static str> {
    match sev {
        0..=2 => Some("\x1b[1;91m"),
        3 => Some("\x1b[31m"),
        4 => Some("\x1b[33m"),
        5 => Some("\x1b[1m"),
        7 => Some("\x1b[2m"),
        _ => None,
    }
}

/// The number of a severity name as the daemon writes it.
pub fn severity_number(name: &str) -> Option<u8> {
    SEVERITY_NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
}

/// The severity of a line that starts with `<PRI>` (an `fmt=syslog` line).
pub fn pri_severity(line: &[u8]) -> Option<u8> {
    let rest = line.strip_prefix(b"<")?;
    let end = rest.iter().position(|&b| b == b'>')?;
    if end == 0 || end > 3 {
        return None;
    }
    let pri: u16 = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    u8::try_from(pri % 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{JsonLine, parse_json_line};
    use crate::store::ring::Seq;

    fn message(timestamp: Option<&str>, host: Option<&str>, app: Option<&str>) -> JsonMessage {
        JsonMessage {
            seq: Seq::new(1),
            epoch: 1,
            received: "2026-01-08T19:46:04.000000Z".into(),
            timestamp: timestamp.map(Into::into),
            severity: "info".into(),
            hostname: host.map(Into::into),
            app_name: app.map(Into::into),
            proc_id: Some("123".into()),
            message: "hello\nworld\x1b[2J".into(),
            ..JsonMessage::default()
        }
    }

    /// What `circolog-tail --fmt syslog` renders from the daemon's JSON is
    /// the daemon's own `fmt=syslog` line.
    #[test]
    fn syslog_from_json_is_the_daemons_syslog() {
        use crate::query::OutputFormat;
        use crate::store::ring::{Entry, Transport};
        let ctx = crate::ingest::syslog::ParseContext { tz: TimeZone::UTC };
        let received = Timestamp::from_microsecond(1_795_514_400_123_456).unwrap();
        let sent: [&[u8]; 8] = [
            b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
              [exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"li\\\\cation\\]\" eventID=\"1011\"]\
              [examplePriority@32473 class=\"high\"] An application event log entry...",
            b"<34>1 2026-01-08T20:46:03.295+01:00 h su 77 - [o@1 ip=\"a\" ip=\"b\" x=\"\tt\"] tab\there \xc2\x9b2J bell\x07 \xe2\x82\xac",
            b"<13>Jan  8 19:46:03 host app[12]: rfc 3164 line\nwith a line feed",
            b"<78>Jan  8 19:46:05 cron[77]: glibc form",
            b"<14>1 - - - - - -",
            b"just bytes \x1b[2J from a printer",
            b"<13>1 - - app - - [bad sd",
            b"<191>1 2026-01-08T19:46:03Z h app - - - debug",
        ];
        for raw in sent {
            let msg = crate::ingest::syslog::parse(raw, received, &ctx);
            let entry = Entry {
                seq: Seq::new(7),
                received_us: received.as_microsecond(),
                transport: Transport::Unix,
                cred: None,
                unit: None,
                truncated: false,
                index: None,
                raw,
            };
            let mut daemon = Vec::new();
            crate::query::format::render(OutputFormat::Syslog, &entry, &msg, 1, &mut daemon);
            let mut json = Vec::new();
            crate::query::format::render(OutputFormat::Json, &entry, &msg, 1, &mut json);
            let line = std::str::from_utf8(&json).unwrap();
            let JsonLine::Message(m) = parse_json_line(line.trim_end()).unwrap() else {
                panic!("a message: {line}");
            };
            let mut ours = render_syslog_line(&m);
            ours.push(b'\n');
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&daemon),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    fn render_syslog_line(m: &JsonMessage) -> Vec<u8> {
        let mut out = Vec::new();
        render_syslog(m, &mut out);
        out
    }

    fn short(m: &JsonMessage, tz: &TimeZone) -> String {
        let mut out = String::new();
        render_short(m, tz, &mut out);
        out
    }

    #[test]
    fn short_format() {
        let utc = TimeZone::UTC;
        let m = message(
            Some("2026-01-08T20:46:03.295+01:00"),
            Some("h"),
            Some("app"),
        );
        assert_eq!(
            short(&m, &utc),
            "Jan  8 19:46:03 h app[123]: hello\\nworld\\x1b[2J"
        );
        // No timestamp: the receive time. No host: left out. No app: no tag.
        let m = message(None, None, None);
        assert_eq!(short(&m, &utc), "Jan  8 19:46:04 hello\\nworld\\x1b[2J");
        let m = JsonMessage {
            proc_id: None,
            message: String::new(),
            ..message(None, Some("h"), Some("cron"))
        };
        assert_eq!(short(&m, &utc), "Jan  8 19:46:04 h cron:");
        let rome = TimeZone::fixed(jiff::tz::offset(1));
        let m = message(Some("2026-01-18T19:46:03Z"), Some("h"), Some("a"));
        assert!(short(&m, &rome).starts_with("Jan 18 20:46:03 h a[123]: "));
    }

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            escape_text("\x1b]0;owned\x07 \x1b[2J a\u{202e}b\u{2066} \u{9b}x\ttab é"),
            "\\x1b]0;owned\\x07 \\x1b[2J a\\u{202e}b\\u{2066} \\x9bx\ttab é"
        );
        assert_eq!(escape_bytes(b"a\xff\nb"), "a\u{fffd}\\nb");
        let m = JsonMessage {
            message: "evil\u{202e}txt.exe".into(),
            ..message(None, None, None)
        };
        assert!(short(&m, &TimeZone::UTC).ends_with("evil\\u{202e}txt.exe"));
    }

    #[test]
    fn colours() {
        use std::ffi::OsStr;
        assert!(use_color(ColorChoice::Auto, true, None, None));
        assert!(!use_color(ColorChoice::Auto, false, None, None));
        assert!(!use_color(
            ColorChoice::Auto,
            true,
            Some(OsStr::new("1")),
            None
        ));
        assert!(use_color(
            ColorChoice::Auto,
            true,
            Some(OsStr::new("")),
            None
        ));
        assert!(!use_color(
            ColorChoice::Auto,
            true,
            None,
            Some(OsStr::new("dumb"))
        ));
        assert!(use_color(
            ColorChoice::Always,
            false,
            Some(OsStr::new("1")),
            None
        ));
        assert!(!use_color(ColorChoice::Never, true, None, None));
        assert_eq!(severity_number("err"), Some(3));
        assert_eq!(severity_number("bogus"), None);
        assert_eq!(severity_style(3), Some("\x1b[31m"));
        assert_eq!(severity_style(6), None);
        assert_eq!(pri_severity(b"<11>1 - - - - - - x"), Some(3));
        assert_eq!(pri_severity(b"<191>1 x"), Some(7));
        assert_eq!(pri_severity(b"<>1 x"), None);
        assert_eq!(pri_severity(b"plain"), None);
    }
}
