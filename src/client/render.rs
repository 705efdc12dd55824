//! What a client prints: the `short` and `syslog` lines rendered from a
//! message's JSON, and the severity colours.

use std::fmt;
use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{JsonMessage, JsonText, LaidOut, ShortFields};
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
/// * `app[pid]:` is the app name and process id: the message's own, else
///   the sender's pid from its credentials (a message received on a local
///   unix socket); `[pid]` is left out when there is neither, and the
///   whole tag when there is no app name.
/// * Control characters in any field are escaped as in `fmt=syslog`
///   (`\n`, `\r`, `\xHH`), so one message stays one line and cannot drive
///   the terminal.
pub fn render_short(msg: &JsonMessage, tz: &TimeZone, out: &mut String) {
    ShortClock::new(tz.clone()).render(&msg.short_fields(), out);
}

/// [`render_short`] for a line after line: the local time of the last
/// second rendered is kept, so that jiff's general printer runs once a
/// second of messages rather than once a message. The text of a second
/// depends on nothing else: a zone's offset changes only on a whole
/// second.
#[derive(Clone, Debug)]
pub struct ShortClock {
    tz: TimeZone,
    /// The whole second (rounded down) last rendered, and its text.
    last: Option<(i64, String)>,
    /// The date and time up to the second (`2026-12-01T08:16:39`) of a
    /// time written as the daemon writes it (see [`daemon_time`]) whose
    /// second is `last`'s: another time with the same is in that second,
    /// whatever its fraction, and needs no parse.
    last_prefix: Option<[u8; 19]>,
}

impl ShortClock {
    /// A clock that renders in `tz` (the local zone).
    pub fn new(tz: TimeZone) -> ShortClock {
        ShortClock {
            tz,
            last: None,
            last_prefix: None,
        }
    }

    /// Appends a message [`super::scan_layout`] read, as [`ShortClock::render`]
    /// appends the same message's fields: its strings are escaped for
    /// `short` as they are decoded, without a copy.
    pub fn render_laid_out(&mut self, msg: &LaidOut<'_>, out: &mut Vec<u8>) {
        let shown = msg.timestamp.is_some_and(|t| self.push_time_text(t, out))
            || self.push_time_text(msg.received, out);
        if !shown {
            out.extend_from_slice(b"--- -- --:--:--");
        }
        let verbatim = msg.verbatim;
        if let Some(host) = msg.hostname.filter(|h| !h.is_empty()) {
            out.push(b' ');
            push_escaped_json(out, host, verbatim);
        }
        if let Some(app) = msg.app_name.filter(|a| !a.is_empty()) {
            out.push(b' ');
            push_escaped_json(out, app, verbatim);
            if let Some(pid) = msg.proc_id.filter(|p| !p.is_empty()) {
                out.push(b'[');
                push_escaped_json(out, pid, verbatim);
                out.push(b']');
            } else if let Some(pid) = msg.cred_pid {
                // An integer's digits: nothing to escape.
                out.push(b'[');
                out.extend_from_slice(pid);
                out.push(b']');
            }
            out.push(b':');
        }
        if !msg.message.is_empty() {
            out.push(b' ');
            push_escaped_json(out, msg.message, verbatim);
        }
    }

    /// Appends the time `text` when it parses as a timestamp, and says
    /// whether it did. One in the second of the last one, written as the
    /// daemon writes times, is not parsed again.
    fn push_time_text(&mut self, text: &[u8], out: &mut Vec<u8>) -> bool {
        let prefix = daemon_time(text);
        // Compared where they are, not copied first.
        if let (Some(p), Some(last), Some((_, shown))) = (prefix, &self.last_prefix, &self.last)
            && p == last
        {
            out.extend_from_slice(shown.as_bytes());
            return true;
        }
        let Some(t) = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<Timestamp>().ok())
        else {
            return false;
        };
        out.extend_from_slice(self.second_text(t).as_bytes());
        self.last_prefix = prefix.copied();
        true
    }

    /// Appends `msg` in the `short` format, as [`render_short`] does.
    pub fn render(&mut self, msg: &ShortFields<'_>, out: &mut String) {
        let time = msg
            .timestamp
            .and_then(|t| t.parse::<Timestamp>().ok())
            .or_else(|| msg.received.parse::<Timestamp>().ok());
        match time {
            Some(t) => self.push_time(t, out),
            None => out.push_str("--- -- --:--:--"),
        }
        if let Some(host) = msg.hostname.filter(|h| !h.is_empty()) {
            out.push(' ');
            push_escaped(out, host);
        }
        if let Some(app) = msg.app_name.filter(|a| !a.is_empty()) {
            out.push(' ');
            push_escaped(out, app);
            if let Some(pid) = msg.proc_id.filter(|p| !p.is_empty()) {
                out.push('[');
                push_escaped(out, pid);
                out.push(']');
            } else if let Some(pid) = msg.cred_pid {
                // Writing to a String cannot fail.
                let _ = write!(out, "[{pid}]");
            }
            out.push(':');
        }
        if !msg.message.is_empty() {
            out.push(' ');
            push_escaped(out, msg.message);
        }
    }

    fn push_time(&mut self, t: Timestamp, out: &mut String) {
        out.push_str(self.second_text(t));
    }

    /// The text of `t`'s second, kept for the next.
    fn second_text(&mut self, t: Timestamp) -> &str {
        // Rounded down, not toward zero: half a second before 1970 is in
        // the second before.
        let second = t.as_second() - i64::from(t.subsec_nanosecond() < 0);
        if self.last.as_ref().is_none_or(|(last, _)| *last != second) {
            self.last_prefix = None;
            let mut text = String::with_capacity(16);
            push_civil(&mut text, self.tz.to_datetime(t));
            self.last = Some((second, text));
        }
        self.last.as_ref().map_or("", |(_, text)| text)
    }
}

/// The date and time up to the second of `text` when it is written as the
/// daemon writes times in JSON, `2026-12-01T08:16:39.000000Z` (UTC, six
/// digits of fraction): all such texts with the same are in the same
/// second, rounded down, whatever the fraction.
fn daemon_time(text: &[u8]) -> Option<&[u8; 19]> {
    let b: &[u8; 27] = text.try_into().ok()?;
    let fraction = b[20..26].iter().all(u8::is_ascii_digit);
    if b[19] == b'.' && b[26] == b'Z' && fraction {
        b.first_chunk::<19>()
    } else {
        None
    }
}

/// `dt` as `strftime("%b %e %H:%M:%S")` writes it, without its general
/// printer.
fn push_civil(out: &mut String, dt: jiff::civil::DateTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // jiff's months are 1–12, its days 1–31, its hours, minutes and
    // seconds below 60: every index and digit below is in range.
    let month = usize::try_from(dt.month() - 1).unwrap_or_default();
    out.push_str(MONTHS.get(month).copied().unwrap_or("???"));
    out.push(' ');
    let two = |out: &mut String, n: i8, pad: char| {
        let n = u8::try_from(n).unwrap_or_default();
        out.push(if n < 10 {
            pad
        } else {
            char::from(b'0' + n / 10 % 10)
        });
        out.push(char::from(b'0' + n % 10));
    };
    two(out, dt.day(), ' ');
    out.push(' ');
    two(out, dt.hour(), '0');
    out.push(':');
    two(out, dt.minute(), '0');
    out.push(':');
    two(out, dt.second(), '0');
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
    let clean = clean_prefix(text.as_bytes());
    out.push_str(&text[..clean]);
    push_escaped_chars(out, &text[clean..]);
}

/// How many bytes at the start of `text` [`push_escaped`] copies as they
/// are: up to the first byte of the first character it escapes, a
/// character boundary. A byte scan for what most lines do not hold.
fn clean_prefix(text: &[u8]) -> usize {
    // Most text holds none of the bytes that start what is escaped: a
    // whole pass without an early exit, which the compiler turns into wide
    // compares, says so.
    let suspect = text.iter().fold(false, |found, &b| {
        found | (b < 0x20 && b != b'\t') | (b == 0x7f) | (b == 0xc2) | (b == 0xe2)
    });
    if !suspect {
        return text.len();
    }
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        let escaped = match b {
            b'\t' => false,
            0..=0x1f | 0x7f => true,
            // U+0080–U+009F, the C1 controls.
            0xc2 => text.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
            // U+202A–U+202E and U+2066–U+2069.
            0xe2 => matches!(
                (text.get(i + 1), text.get(i + 2)),
                (Some(0x80), Some(0xaa..=0xae)) | (Some(0x81), Some(0xa6..=0xa9))
            ),
            _ => false,
        };
        if escaped {
            return i;
        }
        i += 1;
    }
    i
}

/// [`push_escaped`] of a JSON string's text, decoded as it goes: the runs
/// between escapes as they are, each escape as the character it stands for
/// (escaping is a character at a time, so the pieces escape as the whole
/// would). `verbatim`: the runs hold nothing to escape.
fn push_escaped_json(out: &mut Vec<u8>, text: JsonText<'_>, verbatim: bool) {
    if verbatim && !text.escaped {
        out.extend_from_slice(text.raw);
        return;
    }
    text.pieces(|run, c| {
        if verbatim {
            out.extend_from_slice(run);
        } else {
            push_escaped_bytes(out, run);
        }
        if let Some(c) = c {
            push_escaped_ascii(out, c);
        }
    });
}

/// [`push_escaped_chars`] of one character a JSON escape stands for
/// (ASCII: any other is pushed as it is).
fn push_escaped_ascii(out: &mut Vec<u8>, c: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match u8::try_from(c) {
        Ok(b'\n') => out.extend_from_slice(b"\\n"),
        Ok(b'\r') => out.extend_from_slice(b"\\r"),
        Ok(b'\t') => out.push(b'\t'),
        Ok(b @ (0..=0x1f | 0x7f)) => {
            out.extend_from_slice(b"\\x");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
        Ok(b) if b.is_ascii() => out.push(b),
        _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
    }
}

/// [`push_escaped`] of UTF-8 bytes (any that are not, as U+FFFD).
fn push_escaped_bytes(out: &mut Vec<u8>, text: &[u8]) {
    let clean = clean_prefix(text);
    out.extend_from_slice(&text[..clean]);
    if clean < text.len() {
        let mut escaped = String::new();
        push_escaped_chars(&mut escaped, &String::from_utf8_lossy(&text[clean..]));
        out.extend_from_slice(escaped.as_bytes());
    }
}

/// [`push_escaped`] a character at a time.
fn push_escaped_chars(out: &mut String, text: &str) {
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
    severity_number_of(name.as_bytes())
}

/// [`severity_number`] of the name's bytes.
pub fn severity_number_of(name: &[u8]) -> Option<u8> {
    SEVERITY_NAMES
        .iter()
        .position(|n| n.as_bytes() == name)
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

    /// A message that names no PID shows the sender's pid from its
    /// credentials; its own PROCID wins when it has one.
    #[test]
    fn short_shows_the_credentials_pid_when_the_message_has_none() {
        let utc = TimeZone::UTC;
        let m = JsonMessage {
            proc_id: None,
            cred_pid: Some(4242),
            ..message(None, Some("h"), Some("cron"))
        };
        assert!(short(&m, &utc).starts_with("Jan  8 19:46:04 h cron[4242]: hello"));
        let m = JsonMessage {
            proc_id: Some(String::new()),
            ..m
        };
        assert!(short(&m, &utc).starts_with("Jan  8 19:46:04 h cron[4242]: hello"));
        let m = JsonMessage {
            cred_pid: Some(4242),
            ..message(None, Some("h"), Some("cron"))
        };
        assert!(short(&m, &utc).starts_with("Jan  8 19:46:04 h cron[123]: hello"));
        // No app name: no tag, whatever the credentials.
        let m = JsonMessage {
            proc_id: None,
            cred_pid: Some(4242),
            ..message(None, Some("h"), None)
        };
        assert!(short(&m, &utc).starts_with("Jan  8 19:46:04 h hello"));
    }

    /// Each way circolog-tail reads a daemon line (the layout scan, the
    /// general scan, the borrowed and the whole parse) shows the
    /// credentials' pid for a message without a PROCID, and the PROCID
    /// for one with it.
    #[test]
    fn every_reading_of_a_line_shows_the_credentials_pid() {
        let utc = TimeZone::UTC;
        let cases: [(&[u8], &str); 3] = [
            (
                b"<13>1 2026-01-08T19:46:03Z h app - - - text",
                "h app[31337]: text",
            ),
            (
                b"<13>1 2026-01-08T19:46:03Z h app 12 - - text",
                "h app[12]: text",
            ),
            (b"<13>1 2026-01-08T19:46:03Z h - - - - text", "h text"),
        ];
        for (raw, tail) in cases {
            let want = format!("Jan  8 19:46:03 {tail}");
            let line = daemon_json_of(raw, 1_767_901_564_000_000, 1, 31337);
            let JsonLine::Message(whole) = parse_json_line(&line).unwrap() else {
                panic!("a message: {line}");
            };
            assert_eq!(short(&whole, &utc), want, "{line}");
            let mut clock = ShortClock::new(utc.clone());
            let borrowed = crate::client::borrow_message(&line).unwrap();
            let mut out = String::new();
            clock.render(&borrowed.short_fields(), &mut out);
            assert_eq!(out, want, "borrowed: {line}");
            let scanned = crate::client::scan_message(&line).unwrap();
            let mut out = String::new();
            clock.render(&scanned.short_fields(), &mut out);
            assert_eq!(out, want, "scanned: {line}");
            let laid = crate::client::scan_layout(line.as_bytes()).unwrap();
            let mut out = Vec::new();
            clock.render_laid_out(&laid, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), want, "laid out: {line}");
        }
        // Without credentials (a message from the network), no pid.
        let line = daemon_json_of(
            b"<13>1 2026-01-08T19:46:03Z h app - - - text",
            1_767_901_564_000_000,
            0,
            31337,
        );
        let laid = crate::client::scan_layout(line.as_bytes()).unwrap();
        let mut out = Vec::new();
        ShortClock::new(utc).render_laid_out(&laid, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), "Jan  8 19:46:03 h app: text");
    }

    #[test]
    fn short_format_in_another_zone() {
        let rome = TimeZone::fixed(jiff::tz::offset(1));
        let m = message(Some("2026-01-18T19:46:03Z"), Some("h"), Some("a"));
        assert!(short(&m, &rome).starts_with("Jan 18 20:46:03 h a[123]: "));
    }

    /// The byte scan stops at the first character the char loop escapes.
    #[test]
    fn escaping_a_byte_at_a_time_is_escaping_a_char_at_a_time() {
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            let text = format!("a{c}b{c}");
            let (mut fast, mut slow) = (String::new(), String::new());
            push_escaped(&mut fast, &text);
            push_escaped_chars(&mut slow, &text);
            assert_eq!(fast, slow, "{c:?}");
        }
    }

    /// What the daemon writes as JSON for `raw` received at `received_us`.
    fn daemon_json(raw: &[u8], received_us: i64) -> String {
        daemon_json_of(raw, received_us, 0, 4242)
    }

    /// [`daemon_json`] with what the daemon adds to some messages, by
    /// `extra`: the sender's credentials (1, with pid `pid`), its unit (2),
    /// `truncated` (4).
    fn daemon_json_of(raw: &[u8], received_us: i64, extra: u8, pid: u32) -> String {
        use crate::query::OutputFormat;
        use crate::store::ring::{Cred, Entry, Transport};
        let ctx = crate::ingest::syslog::ParseContext { tz: TimeZone::UTC };
        let received = Timestamp::from_microsecond(received_us).unwrap();
        let msg = crate::ingest::syslog::parse(raw, received, &ctx);
        let entry = Entry {
            seq: Seq::new(7),
            received_us,
            transport: Transport::Unix,
            cred: (extra & 1 != 0).then_some(Cred {
                pid,
                uid: 1000,
                gid: 0,
            }),
            unit: (extra & 2 != 0).then_some(&b"nginx.service"[..]),
            truncated: extra & 4 != 0,
            index: None,
            raw,
        };
        let mut json = Vec::new();
        crate::query::format::render(OutputFormat::Json, &entry, &msg, 1, &mut json);
        String::from_utf8(json).unwrap().trim_end().to_string()
    }

    /// The fast paths (the layout scan, the general scan, a borrowed
    /// parse; one clock for every line) render what the slow one (a whole
    /// parse, a fresh render) does, or leave the line to it. Each line is
    /// rendered by every path that reads it, on the same clock, so that
    /// what one path keeps of a second cannot mislead another.
    fn same_short(lines: &[String], tz: &TimeZone) -> Result<(), String> {
        let mut clock = ShortClock::new(tz.clone());
        for line in lines {
            let laid = crate::client::scan_layout(line.as_bytes());
            let scanned = crate::client::scan_message(line);
            let Some(fast) = crate::client::borrow_message(line) else {
                if scanned.is_some() || laid.is_some() {
                    return Err(format!("scanned, not borrowed: {line}"));
                }
                continue;
            };
            if let Some(s) = &scanned
                && (s.short_fields() != fast.short_fields() || s.severity() != fast.severity())
            {
                return Err(format!("scanned as {s:?}: {line}"));
            }
            let Ok(JsonLine::Message(slow)) = parse_json_line(line) else {
                return Err(format!("read only by the fast path: {line}"));
            };
            let want = short(&slow, tz);
            if let Some(l) = laid {
                let Some(s) = &scanned else {
                    return Err(format!("laid out, not scanned: {line}"));
                };
                let fields = s.short_fields();
                let decoded = [&l.hostname, &l.app_name, &l.proc_id].map(|t| t.map(|t| t.decode()));
                let cred_pid = l.cred_pid.map(String::from_utf8_lossy);
                if decoded.each_ref().map(|t| t.as_deref())
                    != [fields.hostname, fields.app_name, fields.proc_id]
                    || cred_pid.as_deref() != fields.cred_pid.map(|p| p.to_string()).as_deref()
                    || l.message.decode() != fields.message
                {
                    return Err(format!("laid out as {l:?}: {line}"));
                }
                let mut ours = Vec::new();
                clock.render_laid_out(&l, &mut ours);
                if ours != want.as_bytes()
                    || severity_number_of(l.severity) != severity_number(&slow.severity)
                {
                    return Err(format!(
                        "{:?} laid out from {line}",
                        String::from_utf8_lossy(&ours)
                    ));
                }
            }
            let mut ours = String::new();
            clock.render(&fast.short_fields(), &mut ours);
            if ours != want || fast.severity() != slow.severity {
                return Err(format!("{ours:?} from {line}"));
            }
        }
        Ok(())
    }

    fn zones() -> Vec<TimeZone> {
        let mut zones = vec![TimeZone::UTC, TimeZone::fixed(jiff::tz::offset(-9))];
        zones.extend(
            ["Europe/Rome", "America/St_Johns", "Australia/Lord_Howe"]
                .iter()
                .filter_map(|z| TimeZone::get(z).ok()),
        );
        zones
    }

    #[test]
    fn the_fast_path_leaves_odd_lines_to_the_slow_one() {
        let lines: Vec<String> = [
            r#"{"seq":1,"received":"2026-01-08T19:46:04.000000Z","message":"a\"b\u0007"}"#,
            r#"{"seq":1,"seq":2,"received":"2026-01-08T19:46:04Z"}"#,
            r#"{"seq":1,"why":3}"#,
            r#"{"seq":null,"skipped":1}"#,
            r#"{"skipped":1,"epoch":2}"#,
            r#"{"seq":1,"structured_data":{"a":{"b":["c","d"],"e":"f"}},"message":"m"}"#,
            r#"{"seq":1,"structured_data":{"a":{"b":[1]}}}"#,
            r#"{"seq":1,"structured_data":{"a":{"b":null}}}"#,
            r#"{"seq":1,"structured_data":{"a":"b"}}"#,
            r#"{"seq":1,"timestamp":"1969-12-31T23:59:59.5Z","received":"x","unknown":[1,{}]}"#,
            r#"{"seq":1,"timestamp":"bad","received":"1969-12-31T23:59:59.999Z"} "#,
            r#"{"seq":1} x"#,
        ]
        .map(String::from)
        .to_vec();
        for tz in zones() {
            same_short(&lines, &tz).unwrap();
        }
        assert!(crate::client::borrow_message(&lines[1]).is_none());
        assert!(crate::client::borrow_message(&lines[3]).is_none());
        assert!(crate::client::borrow_message(&lines[7]).is_none());
        // The scan reads what the daemon writes, structured data too.
        assert!(crate::client::scan_message(&lines[5]).is_some());
        let daemon = daemon_json(
            b"<13>1 2026-01-08T19:46:03Z h app 12 - [a@1 b=\"c\"] text",
            1,
        );
        assert!(crate::client::scan_message(&daemon).is_some(), "{daemon}");
        assert!(crate::client::scan_message(&lines[0]).is_none());
        let quoted =
            r#"{"seq":1,"received":"2026-01-08T19:46:04Z","message":"a \"b\" \\ \/ \t\n\r\b\f"}"#;
        let scanned = crate::client::scan_message(quoted).expect("short escapes are scanned");
        assert_eq!(
            scanned.short_fields().message,
            "a \"b\" \\ / \t\n\r\u{8}\u{c}"
        );
        same_short(&[quoted.to_string()], &TimeZone::UTC).unwrap();
    }

    proptest::proptest! {
        /// Whatever line the scan reads, the slower parses read the same.
        #[test]
        fn the_scan_reads_only_what_the_parsers_read(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "[", "]", ":", ",", " ", "\"seq\"", "\"epoch\"", "\"skipped\"",
                "\"paused\"", "\"why\"", "\"message\"", "\"severity\"", "\"hostname\"",
                "\"timestamp\"", "\"received\"", "\"structured_data\"", "\"malformed\"",
                "\"unit\"", "\"cred_pid\"", "\"proc_id\"", "\"app_name\"",
                "\"x\\\"y\"", "\"é\u{7f}\"", "\"2026-01-08T19:46:04Z\"",
                "null", "true", "false", "0", "7", "-3", "-0", "01", "1.5", "2e3",
                "18446744073709551615", "18446744073709551616", "-9223372036854775808",
            ]), 0..30),
            shape in 0usize..3,
        ) {
            let body = tokens.concat();
            let line = match shape {
                0 => format!("{{\"seq\":1,{body}"),
                1 => format!("{{\"seq\":1,\"message\":\"m\",{body}}}"),
                _ => body,
            };
            for tz in zones().iter().take(2) {
                proptest::prop_assert_eq!(same_short(std::slice::from_ref(&line), tz), Ok(()));
            }
        }

        /// Messages as the daemon writes them, lines in a row (times in
        /// the same second and not, before 1970 and after), render the
        /// same on the fast path as on the slow one, in zones with DST.
        #[test]
        fn the_fast_path_is_the_slow_path(
            sent in proptest::collection::vec((
                proptest::sample::select(vec![
                    "<13>1 2026-03-29T01:59:59.999+00:00 h a 1 - - m",
                    "<165>1 2026-10-25T00:30:00Z host app - ID [x@1 a=\"\\\"\"] t\u{202e}\u{85}x",
                    "<14>Jan  8 19:46:03 host app[12]: rfc 3164 \"q\" \\ line\nfeed",
                    "<78>Dec 31 23:59:59 cron[77]: glibc form",
                    "<14>1 1969-12-31T23:59:59.5Z - - - - -",
                    "just bytes \u{1b}[2J",
                    "<13>1 - - app - - [bad sd",
                ]),
                proptest::collection::vec(proptest::prelude::any::<char>(), 0..8),
                -86_400_000_000i64..4_000_000_000_000_000,
                0i64..3_000_000,
                0u8..8,
                proptest::prelude::any::<u32>(),
            ), 1..12),
        ) {
            let mut lines = Vec::new();
            for (template, extra, received, step, added, pid) in sent {
                let mut raw = template.as_bytes().to_vec();
                raw.extend(extra.iter().collect::<String>().bytes());
                lines.push(daemon_json_of(&raw, received, added, pid));
                lines.push(daemon_json_of(&raw, received.saturating_add(step), added, pid));
            }
            for tz in zones() {
                proptest::prop_assert_eq!(same_short(&lines, &tz), Ok(()));
            }
            // The daemon's lines are read by the layout scan, but those
            // with a `\u` escape (a control character), left to the
            // others.
            for line in &lines {
                // A `\u` escape: a backslash that is not itself escaped,
                // then `u`.
                let mut unicode = false;
                let mut bytes = line.bytes();
                while let Some(b) = bytes.next() {
                    if b == b'\\' {
                        unicode |= bytes.next() == Some(b'u');
                    }
                }
                proptest::prop_assert_eq!(
                    crate::client::scan_layout(line.as_bytes()).is_some(),
                    !unicode,
                    "{}", line
                );
            }
        }

        /// Lines as the daemon writes them with a few bytes changed, added
        /// or taken away: whatever the layout scan reads is UTF-8 and read
        /// the same by every other path.
        #[test]
        fn the_layout_scan_reads_only_what_the_parsers_read(
            template in proptest::sample::select(vec![
                "<134>1 2025-01-01T12:00:00.000000Z web01 nginx 812 - - 10.0.0.1 \"GET /\" 200",
                "<165>1 2026-10-25T00:30:00Z host app - ID [x@1 a=\"\\\"\" b=\"c\"][y@2] t\\x/y",
                "<14>Jan  8 19:46:03 host app[12]: caf\u{e9} \u{7f} \"q\"",
                "<78>Dec 31 23:59:59 cron[77]: glibc form",
                "just bytes",
            ]),
            added in 0u8..8,
            pid in proptest::prelude::any::<u32>(),
            edits in proptest::collection::vec((
                0usize..1000,
                proptest::sample::select(b"\"\\u0/ntfbr:,{}[]-.eE9 \x00\x1f\x7f\xc2\x85\xe2\xff".to_vec()),
                0u8..3,
            ), 1..4),
        ) {
            let mut line = daemon_json_of(template.as_bytes(), 1_800_000_000_123_456, added, pid).into_bytes();
            for (at, byte, how) in edits {
                let at = at % (line.len() + 1);
                match how {
                    0 => line.insert(at, byte),
                    1 if at < line.len() => line[at] = byte,
                    _ if at < line.len() => {
                        line.remove(at);
                    }
                    _ => {}
                }
            }
            let read = crate::client::scan_layout(&line).is_some();
            match String::from_utf8(line) {
                Ok(text) => {
                    for tz in zones().iter().take(2) {
                        proptest::prop_assert_eq!(same_short(std::slice::from_ref(&text), tz), Ok(()));
                    }
                }
                Err(e) => proptest::prop_assert!(!read, "not UTF-8, read: {:?}", e.as_bytes()),
            }
        }
    }

    proptest::proptest! {
        /// The first line of a run of lines, read without looking for its
        /// end first, is read as that line alone is: the same message, or
        /// none. Lines as the daemon writes them, some with a few bytes
        /// changed, line feeds among them.
        #[test]
        fn the_first_line_of_a_run_is_read_as_the_line(
            lines in proptest::collection::vec((
                proptest::sample::select(vec![
                    "<134>1 2025-01-01T12:00:00.000000Z web01 nginx 812 - - 10.0.0.1 \"GET /\" 200",
                    "<165>1 2026-10-25T00:30:00Z host app - ID [x@1 a=\"b\"] t\\x/y",
                    "<14>Jan  8 19:46:03 host app[12]: caf\u{e9} \u{7f}",
                    "just bytes",
                ]),
                0u8..8,
                proptest::prelude::any::<u32>(),
                proptest::collection::vec((
                    0usize..1000,
                    proptest::sample::select(b"\n\"\\}{,:0\x00\x7f\xc3\xff".to_vec()),
                    0u8..3,
                ), 0..3),
            ), 1..5),
        ) {
            let mut run = Vec::new();
            for (template, added, pid, edits) in lines {
                let mut line = daemon_json_of(template.as_bytes(), 1_800_000_000_123_456, added, pid)
                    .into_bytes();
                for (at, byte, how) in edits {
                    let at = at % (line.len() + 1);
                    match how {
                        0 => line.insert(at, byte),
                        1 if at < line.len() => line[at] = byte,
                        _ if at < line.len() => {
                            line.remove(at);
                        }
                        _ => {}
                    }
                }
                run.extend_from_slice(&line);
                run.push(b'\n');
            }
            let mut rest = &run[..];
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                let alone = crate::client::scan_layout(&rest[..end]).map(|m| (m, end));
                proptest::prop_assert_eq!(crate::client::scan_layout_first(rest), alone);
                rest = &rest[end + 1..];
            }
        }
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
