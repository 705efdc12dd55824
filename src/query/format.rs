//! Renderers: one stored message (its [`Entry`] and the [`Message`] parsed
//! from it) in, one line of bytes out, appended to a buffer the caller owns.
//!
//! * [`OutputFormat::Syslog`]: one RFC 5424 line,
//!   `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.
//! * [`OutputFormat::Json`]: one JSON object per line (NDJSON).
//! * [`OutputFormat::Raw`]: the stored bytes as received.
//!
//! Timestamps are RFC 3339 with microseconds. A message's own timestamp keeps
//! the offset it was written in (`Z` when that offset is zero); receive times
//! are in UTC (`Z`).
//!
//! A full ring (up to millions of messages) is dumped through [`render`], so
//! it writes straight into `out`: no intermediate JSON tree, and allocations
//! only for the rare fields that need one (a value that is not UTF-8, an
//! escaped structured-data value, the index of a message's structured data).

use std::cell::Cell;
use std::io::Write as _;

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;
use jiff::tz::Offset;

use crate::ingest::syslog::calendar;
use crate::ingest::syslog::{self, FACILITY_NAMES, Message, MsgTime, SEVERITY_NAMES};
use crate::query::OutputFormat;
use crate::store::ring::{Entry, Transport};

/// The `Content-Type` of a response in `fmt`.
pub fn content_type(fmt: OutputFormat) -> &'static str {
    match fmt {
        OutputFormat::Syslog | OutputFormat::Raw => "text/plain; charset=utf-8",
        OutputFormat::Json => "application/x-ndjson",
    }
}

/// Appends one message as one line, `\n` included.
///
/// `epoch_us` is the daemon's epoch (its start time, µs since 1970), written
/// in every JSON object.
///
/// In `fmt=syslog` the line stays one line whatever the message holds, and
/// holds nothing a terminal would take as a command: a line feed in the
/// message text or in a structured-data value is written as the two
/// characters `\n`, a carriage return as `\r`, and every other control
/// character (tab, the rest of C0, DEL, and the C1 controls U+0080–U+009F,
/// whether as UTF-8 or as a lone byte) as `\xHH` per byte. Other bytes,
/// including invalid UTF-8 outside the C1 range, pass through unchanged, and
/// a backslash is not escaped. (`fmt=json` is the lossless form; `fmt=raw`
/// is the bytes as received.) Header fields hold only printable ASCII, as
/// RFC 5424 requires: any other byte is written as `_`.
pub fn render(
    fmt: OutputFormat,
    entry: &Entry<'_>,
    msg: &Message<'_>,
    epoch_us: i64,
    out: &mut Vec<u8>,
) {
    match fmt {
        OutputFormat::Syslog => render_syslog(entry, msg, out),
        OutputFormat::Json => render_json(entry, msg, epoch_us, out),
        OutputFormat::Raw => render_raw(entry, out),
    }
}

/// `fmt=raw`: the bytes as stored and a line feed; nothing parsed.
pub fn render_raw(entry: &Entry<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(entry.raw);
    out.push(b'\n');
}

/// Something a reader is told that is not a stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The ring overwrote this many messages before the reader reached them.
    Skipped(u64),
    /// Every message was discarded (`POST /logs/clear`).
    Cleared,
    /// New messages are read and discarded from now on.
    Paused,
    /// New messages are stored again.
    Resumed,
    /// Snapshot `id` was taken (`why`: `api`, `signal` or `trigger`) and
    /// can be read.
    Snapshot { id: u64, why: &'static str },
}

/// The application name circologd's own notice lines carry.
pub const NOTICE_APP: &str = "circologd";

/// Appends a notice as one line, `\n` included.
///
/// JSON: `{"skipped":N,"epoch":E}`, `{"cleared":true,"epoch":E}`,
/// `{"paused":true,"epoch":E}` (`false` on resume) or
/// `{"snapshot":ID,"why":"api","epoch":E}`. Syslog and raw: an RFC 5424
/// line from `circologd` at `now_us`, `syslog.info`, with MSGID `skipped`,
/// `cleared`, `paused`, `resumed` or `snapshot`, e.g.
/// `<46>1 2026-11-24T10:00:00.000000Z - circologd - skipped - skipped 3
/// messages the ring overwrote before they were read`.
pub fn render_notice(
    fmt: OutputFormat,
    notice: &Notice,
    epoch_us: i64,
    now_us: i64,
    out: &mut Vec<u8>,
) {
    match fmt {
        OutputFormat::Json => {
            match notice {
                Notice::Skipped(n) => write_fmt(out, format_args!("{{\"skipped\":{n}")),
                Notice::Cleared => out.extend_from_slice(b"{\"cleared\":true"),
                Notice::Paused => out.extend_from_slice(b"{\"paused\":true"),
                Notice::Resumed => out.extend_from_slice(b"{\"paused\":false"),
                Notice::Snapshot { id, why } => {
                    write_fmt(out, format_args!("{{\"snapshot\":{id},\"why\":\"{why}\""))
                }
            }
            write_fmt(out, format_args!(",\"epoch\":{epoch_us}}}\n"));
        }
        OutputFormat::Syslog | OutputFormat::Raw => {
            // 46 = syslog (5) * 8 + info (6).
            out.extend_from_slice(b"<46>1 ");
            write_utc(out, timestamp_from_us(now_us));
            out.extend_from_slice(b" - ");
            out.extend_from_slice(NOTICE_APP.as_bytes());
            match notice {
                Notice::Skipped(n) => {
                    let plural = if *n == 1 { "" } else { "s" };
                    write_fmt(
                        out,
                        format_args!(
                            " - skipped - skipped {n} message{plural} the ring overwrote before they were read\n"
                        ),
                    );
                }
                Notice::Cleared => out.extend_from_slice(
                    b" - cleared - the buffer was cleared: every message in it was discarded\n",
                ),
                Notice::Paused => out.extend_from_slice(
                    b" - paused - paused: new messages are read and discarded\n",
                ),
                Notice::Resumed => {
                    out.extend_from_slice(b" - resumed - resumed: new messages are stored again\n")
                }
                Notice::Snapshot { id, why } => write_fmt(
                    out,
                    format_args!(
                        " - snapshot - snapshot {id} taken ({why}): read it with GET /snapshots/{id}/\n"
                    ),
                ),
            }
        }
    }
}

// ---- syslog (RFC 5424) ----

fn render_syslog(entry: &Entry<'_>, msg: &Message<'_>, out: &mut Vec<u8>) {
    write_fmt(out, format_args!("<{}>1 ", pri(msg)));
    if msg.malformed() {
        // Nothing of it was understood: the receive time and the whole bytes.
        write_utc(out, timestamp_from_us(entry.received_us));
        out.extend_from_slice(b" - - - - -");
        if !entry.raw.is_empty() {
            out.push(b' ');
            write_one_line(out, entry.raw);
        }
        out.push(b'\n');
        return;
    }
    match msg.timestamp {
        Some(t) => write_msg_time(out, t),
        None => write_utc(out, timestamp_from_us(entry.received_us)),
    }
    for field in [msg.hostname, msg.app_name, msg.proc_id, msg.msg_id] {
        out.push(b' ');
        write_header_field(out, field);
    }
    out.push(b' ');
    write_sd_syslog(out, msg.structured_data);
    // MSG is optional in RFC 5424: no trailing space when it is empty.
    if !msg.message.is_empty() {
        out.push(b' ');
        write_one_line(out, msg.message);
    }
    out.push(b'\n');
}

/// PRI, computed wide so that no facility value can overflow it.
fn pri(msg: &Message<'_>) -> u16 {
    u16::from(msg.facility) * 8 + u16::from(msg.severity)
}

/// A header field: `-` when absent or empty, else its bytes with anything
/// outside PRINTUSASCII (33..=126) written as `_`.
fn write_header_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        Some(bytes) if !bytes.is_empty() => {
            out.extend(
                bytes
                    .iter()
                    .map(|&b| if (33..=126).contains(&b) { b } else { b'_' }),
            );
        }
        _ => out.push(b'-'),
    }
}

/// Message text, with the control characters that would break the line or
/// drive a terminal escaped (see [`render`]).
fn write_one_line(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if (0x20..0x7f).contains(&b) {
            i += 1;
            continue;
        }
        // How many bytes from `i` are escaped; 0 when the byte (or the
        // UTF-8 character it starts) is printable.
        let (escaped, step) = if b < 0x80 {
            (1, 1)
        } else {
            match utf8_char_len(&text[i..]) {
                // U+0080..U+009F, the C1 controls: `\xc2\x9b` is CSI to a
                // UTF-8 terminal as the lone byte 0x9b is to others.
                Some(2) if b == 0xc2 && text[i + 1] < 0xa0 => (2, 2),
                Some(n) => (0, n),
                None if b < 0xa0 => (1, 1),
                // Not UTF-8 and not a C1 control (Latin-1 text, say): as it is.
                None => (0, 1),
            }
        };
        if escaped > 0 {
            out.extend_from_slice(&text[start..i]);
            for &e in &text[i..i + escaped] {
                escape_byte(out, e);
            }
            start = i + step;
        }
        i += step;
    }
    out.extend_from_slice(&text[start..]);
}

/// The length of the valid UTF-8 character at the start of `bytes`, or
/// `None` when they do not start with one.
fn utf8_char_len(bytes: &[u8]) -> Option<usize> {
    let n = match bytes.first()? {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let candidate = bytes.get(..n)?;
    std::str::from_utf8(candidate).ok().map(|_| n)
}

fn escape_byte(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'x',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// Text as `fmt=syslog` writes a message's text: one line, with line
/// feeds, carriage returns, tabs and every other control character (C0,
/// DEL, C1) escaped. Clients that render `fmt=syslog` from `fmt=json`
/// write the same.
pub fn escape_one_line(text: &[u8], out: &mut Vec<u8>) {
    write_one_line(out, text);
}

/// A structured-data value as `fmt=syslog` writes it between its quotes.
pub fn escape_sd_param_value(value: &[u8], out: &mut Vec<u8>) {
    escape_sd_value(out, value);
}

/// Structured data re-emitted from its parsed elements, each value escaped
/// again (`"`, `\` and `]` get a backslash, control characters are written
/// as in [`render`]); `-` when there is none.
fn write_sd_syslog(out: &mut Vec<u8>, sd: Option<&[u8]>) {
    let start = out.len();
    if let Some(sd) = sd {
        let mut scratch = Vec::new();
        for element in syslog::sd_elements(sd) {
            out.push(b'[');
            out.extend_from_slice(element.id);
            for param in element.params() {
                out.push(b' ');
                out.extend_from_slice(param.name);
                out.extend_from_slice(b"=\"");
                escape_sd_value(out, unescaped(param.raw_value, &mut scratch));
                out.push(b'"');
            }
            out.push(b']');
        }
    }
    if out.len() == start {
        out.push(b'-');
    }
}

/// The value a raw (still escaped) SD value stands for. Values without a
/// backslash are their own meaning and are returned as they are; the others
/// are unescaped into `scratch`.
fn unescaped<'a>(raw: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    if memchr::memchr(b'\\', raw).is_none() {
        return raw;
    }
    scratch.clear();
    syslog::unescape_sd_value(raw, scratch);
    scratch
}

fn escape_sd_value(out: &mut Vec<u8>, value: &[u8]) {
    // A value may hold any byte, line feeds included: between the
    // characters RFC 5424 escapes, it is written as message text is, on
    // one line (in runs, so that a UTF-8 character stays whole).
    let mut rest = value;
    while let Some(i) = memchr::memchr3(b'"', b'\\', b']', rest) {
        write_one_line(out, &rest[..i]);
        out.push(b'\\');
        out.push(rest[i]);
        rest = &rest[i + 1..];
    }
    write_one_line(out, rest);
}

// ---- JSON ----

/// One object: fixed keys in a fixed order, values escaped by serde_json.
/// Byte strings that are not UTF-8 are converted lossily (U+FFFD).
fn render_json(entry: &Entry<'_>, msg: &Message<'_>, epoch_us: i64, out: &mut Vec<u8>) {
    // Room for the line at once, so that the appends below find it: the
    // fixed parts are under 400 bytes, and the fields, escaped, seldom take
    // twice the message's bytes (a line that needs more grows as usual).
    out.reserve(400 + entry.raw.len() * 2);
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(n.format(entry.seq.get()).as_bytes());
    out.extend_from_slice(b",\"epoch\":");
    out.extend_from_slice(n.format(epoch_us).as_bytes());
    out.extend_from_slice(b",\"received\":\"");
    write_utc_us(out, entry.received_us, Memo::Received);
    out.extend_from_slice(match entry.transport {
        Transport::Unix => b"\",\"transport\":\"unix\",\"timestamp\":",
        Transport::Udp => b"\",\"transport\":\"udp\",\"timestamp\":",
        Transport::Tcp => b"\",\"transport\":\"tcp\",\"timestamp\":",
        Transport::Kmsg => b"\",\"transport\":\"kmsg\",\"timestamp\":",
    });
    match msg.timestamp {
        Some(t) => {
            out.push(b'"');
            write_msg_time(out, t);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"facility\":");
    write_name(out, &FACILITY_NAMES, msg.facility);
    out.extend_from_slice(b",\"severity\":");
    write_name(out, &SEVERITY_NAMES, msg.severity);
    for (key, value) in [
        (&b",\"hostname\":"[..], msg.hostname),
        (b",\"app_name\":", msg.app_name),
        (b",\"proc_id\":", msg.proc_id),
        (b",\"msg_id\":", msg.msg_id),
    ] {
        out.extend_from_slice(key);
        match value {
            Some(v) => write_json_bytes(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    if let Some(cred) = entry.cred {
        for (key, value) in [
            (&b",\"cred_pid\":"[..], cred.pid),
            (b",\"cred_uid\":", cred.uid),
            (b",\"cred_gid\":", cred.gid),
        ] {
            out.extend_from_slice(key);
            out.extend_from_slice(n.format(value).as_bytes());
        }
    }
    if let Some(unit) = entry.unit {
        out.extend_from_slice(b",\"unit\":");
        write_json_bytes(out, unit);
    }
    if entry.truncated {
        out.extend_from_slice(b",\"truncated\":true");
    }
    if msg.malformed() {
        out.extend_from_slice(b",\"malformed\":true");
    }
    out.extend_from_slice(b",\"structured_data\":");
    write_sd_json(out, msg.structured_data);
    out.extend_from_slice(b",\"message\":");
    write_json_bytes(out, msg.message);
    out.extend_from_slice(b"}\n");
}

/// A facility or severity name; a number the name tables do not cover (the
/// parser never produces one) is written as a string of its digits.
fn write_name(out: &mut Vec<u8>, names: &[&str], value: u8) {
    match names.get(usize::from(value)) {
        Some(name) => {
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        }
        None => write_fmt(out, format_args!("\"{value}\"")),
    }
}

fn write_json_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Most fields are printable ASCII with nothing to escape: as they are.
    // Many more have only quotes to escape (web servers' request lines,
    // key="value" logs). (Without a short cut, so that the test runs over
    // many bytes at once.)
    let (unprintable, quoted) = bytes.iter().fold((false, false), |(u, q), &b| {
        (
            u | !(0x20..0x7f).contains(&b),
            q | (b == b'"') | (b == b'\\'),
        )
    });
    if unprintable {
        // Controls or bytes past ASCII: serde_json's escaping of the text,
        // decoded lossily when it is not UTF-8.
        return match std::str::from_utf8(bytes) {
            Ok(s) => write_json_str(out, s),
            Err(_) => write_json_str(out, &String::from_utf8_lossy(bytes)),
        };
    }
    out.push(b'"');
    if quoted {
        write_json_quoted(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Printable ASCII with quotes or backslashes in it, each escaped with a
/// backslash; the runs between them are copied whole.
fn write_json_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut run = 0;
    for at in memchr::memchr2_iter(b'"', b'\\', bytes) {
        out.extend_from_slice(&bytes[run..at]);
        out.push(b'\\');
        run = at;
    }
    out.extend_from_slice(&bytes[run..]);
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a str cannot fail, and neither can writing to a Vec.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// One parameter of the structured data, or an element without any
/// (`name: None`), which still shows as an empty object.
struct SdItem<'a> {
    id: &'a [u8],
    name: Option<&'a [u8]>,
    raw_value: &'a [u8],
    /// Position in the message: keys are written in the order they appear.
    pos: usize,
}

/// The items of one (element id, parameter name) pair, a range of the
/// sorted items.
struct SdRun {
    start: usize,
    end: usize,
    /// Position of the first item of the run.
    first: usize,
    /// Position of the first item with the same element id.
    id_first: usize,
}

/// `{"id":{"name":"value",…},…}` with values unescaped, or `null`.
///
/// A parameter name repeated inside one element (RFC 5424 allows it, e.g.
/// `origin ip=` for each address) becomes an array of its values in order;
/// a name that appears once is a plain string. An element id that appears
/// more than once (RFC 5424 forbids it, senders do it anyway) has its
/// parameters merged into one object, with the same rule. Keys keep their
/// order of first appearance. Sorting keeps this O(n log n) in the number of
/// parameters, whatever a sender packs into a message.
fn write_sd_json(out: &mut Vec<u8>, sd: Option<&[u8]>) {
    let Some(sd) = sd else {
        out.extend_from_slice(b"null");
        return;
    };
    let mut items = Vec::new();
    for element in syslog::sd_elements(sd) {
        let before = items.len();
        for param in element.params() {
            let pos = items.len();
            items.push(SdItem {
                id: element.id,
                name: Some(param.name),
                raw_value: param.raw_value,
                pos,
            });
        }
        if items.len() == before {
            let pos = items.len();
            items.push(SdItem {
                id: element.id,
                name: None,
                raw_value: b"",
                pos,
            });
        }
    }
    if items.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    // Positions are unique, so the unstable sort is deterministic and keeps
    // each run in message order.
    items.sort_unstable_by(|a, b| (a.id, a.name, a.pos).cmp(&(b.id, b.name, b.pos)));
    let mut runs: Vec<SdRun> = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        let same = items
            .get(i)
            .is_some_and(|it| (it.id, it.name) == (items[start].id, items[start].name));
        if same {
            continue;
        }
        runs.push(SdRun {
            start,
            end: i,
            first: items[start].pos,
            id_first: items[start].pos,
        });
        start = i;
    }
    // Runs of one id are consecutive: give them all the id's first position.
    let mut group = 0;
    for i in 1..=runs.len() {
        if runs
            .get(i)
            .is_some_and(|r| items[r.start].id == items[runs[group].start].id)
        {
            continue;
        }
        let id_first = runs[group..i].iter().map(|r| r.first).min().unwrap_or(0);
        for run in &mut runs[group..i] {
            run.id_first = id_first;
        }
        group = i;
    }
    runs.sort_unstable_by_key(|r| (r.id_first, r.first));

    let mut scratch = Vec::new();
    let mut open_id: Option<usize> = None;
    let mut first_param = true;
    out.push(b'{');
    for run in &runs {
        if open_id != Some(run.id_first) {
            if open_id.is_some() {
                out.extend_from_slice(b"},");
            }
            write_json_bytes(out, items[run.start].id);
            out.extend_from_slice(b":{");
            open_id = Some(run.id_first);
            first_param = true;
        }
        let Some(name) = items[run.start].name else {
            continue;
        };
        if !first_param {
            out.push(b',');
        }
        first_param = false;
        write_json_bytes(out, name);
        out.push(b':');
        let values = &items[run.start..run.end];
        if let [only] = values {
            write_json_bytes(out, unescaped(only.raw_value, &mut scratch));
        } else {
            out.push(b'[');
            for (i, item) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_bytes(out, unescaped(item.raw_value, &mut scratch));
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b"}}");
}

// ---- time ----

/// RFC 3339 with exactly six fractional digits.
const PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(6));

/// A receive time; one outside the range of dates jiff represents (years
/// -9999..=9999, which no clock reports) is clamped to that range.
fn timestamp_from_us(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// A time in µs since 1970 as `write_utc` writes it, for JSON documents.
pub fn rfc3339_us(us: i64) -> String {
    let mut out = Vec::new();
    write_utc(&mut out, timestamp_from_us(us));
    String::from_utf8_lossy(&out).into_owned()
}

/// Which memo of [`write_utc_us`] a time goes through. A line's receive
/// time repeats its second from line to line, and so does its own time, but
/// not each other's: each has its memo.
#[derive(Clone, Copy)]
enum Memo {
    Received = 0,
    Written = 1,
}

std::thread_local! {
    /// For each [`Memo`]: the last second written (in s since 1970) and its
    /// text up to the fraction, `2026-12-01T08:00:00.`. `i64::MIN` is no
    /// second [`write_utc_us`] writes itself.
    static LAST_SECOND: [Cell<(i64, [u8; 20])>; 2] =
        const { [Cell::new((i64::MIN, [0; 20])), Cell::new((i64::MIN, [0; 20]))] };
}

/// A time in µs since 1970 as [`write_utc`] writes it
/// (`2026-12-01T08:00:00.123456Z`), computed directly for the years 0000
/// to 9999 (every receive time): jiff's printer, which handles every
/// case, was among the largest costs of a JSON line in a profile. The text
/// of the second is remembered: lines in a dump mostly share it with the
/// line before, and then only the fraction is written.
fn write_utc_us(out: &mut Vec<u8>, us: i64, memo: Memo) {
    // 0000-01-01 in µs since 1970; jiff's last instant (late on
    // 9999-12-30), past which times are clamped.
    const MIN: i64 = -62_167_219_200_000_000;
    if !(MIN..=Timestamp::MAX.as_microsecond()).contains(&us) {
        return write_utc(out, timestamp_from_us(us));
    }
    let secs = us.div_euclid(1_000_000);
    // In range: a fraction of a second fits a u32.
    let micros = us.rem_euclid(1_000_000) as u32;
    let head = LAST_SECOND.with(|last| {
        let last = &last[memo as usize];
        match last.get() {
            (at, head) if at == secs => head,
            _ => {
                let head = second_text(secs);
                last.set((secs, head));
                head
            }
        }
    });
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    b[..20].copy_from_slice(&head);
    two_digits(&mut b[20..], micros / 10_000);
    two_digits(&mut b[22..], micros / 100 % 100);
    two_digits(&mut b[24..], micros % 100);
    out.extend_from_slice(&b);
}

/// `2026-12-01T08:00:00.` for a second since 1970 of the years 0000 to 9999.
fn second_text(secs: i64) -> [u8; 20] {
    let days = secs.div_euclid(86_400);
    // In range: a second of the day fits a u32.
    let in_day = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = calendar::civil_from_days(days);
    let mut b = *b"0000-00-00T00:00:00.";
    // Two digits at a time, with divisions by constants only.
    let y = y as u32;
    two_digits(&mut b[0..], y / 100);
    two_digits(&mut b[2..], y % 100);
    two_digits(&mut b[5..], m as u32);
    two_digits(&mut b[8..], d as u32);
    two_digits(&mut b[11..], in_day / 3600);
    two_digits(&mut b[14..], in_day / 60 % 60);
    two_digits(&mut b[17..], in_day % 60);
    b
}

/// `v` (below 100) as two ASCII digits at the start of `at`.
fn two_digits(at: &mut [u8], v: u32) {
    at[0] = b'0' + (v / 10) as u8;
    at[1] = b'0' + (v % 10) as u8;
}

/// UTC, `Z`.
fn write_utc(out: &mut Vec<u8>, t: Timestamp) {
    // Printing to a Vec cannot fail.
    let _ = PRINTER.print_timestamp(&t, &mut *out);
}

/// The message's own time in the offset it was written in.
///
/// RFC 3339 offsets are whole minutes: an offset with seconds (a zone's
/// local mean time, for dates before it adopted standard time) is cut to the
/// minute and the time written in that offset, so it names the same instant.
fn write_msg_time(out: &mut Vec<u8>, t: MsgTime) {
    let offset = Offset::from_seconds(t.offset.seconds() / 60 * 60).unwrap_or(Offset::UTC);
    if offset == Offset::UTC && t.instant.subsec_nanosecond() % 1000 == 0 {
        write_utc_us(out, t.instant.as_microsecond(), Memo::Written);
    } else if offset == Offset::UTC {
        write_utc(out, t.instant);
    } else {
        // Printing to a Vec cannot fail.
        let _ = PRINTER.print_timestamp_with_offset(&t.instant, offset, &mut *out);
    }
}

fn write_fmt(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    // Writing to a Vec cannot fail.
    let _ = out.write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ring::{Cred, Seq, Transport};

    proptest::proptest! {
        /// The direct UTC writer writes what jiff's printer writes, for
        /// every time of the years 0000 to 9999 and at both ends.
        #[test]
        fn utc_times_are_written_as_jiff_writes_them(
            us in proptest::prop_oneof![
                -62_167_219_200_000_000i64..253_402_300_800_000_000,
                0i64..4_102_444_800_000_000,
                proptest::prelude::any::<i64>(),
            ]
        ) {
            let (mut fast, mut jiff) = (Vec::new(), Vec::new());
            write_utc_us(&mut fast, us, Memo::Received);
            write_utc(&mut jiff, timestamp_from_us(us));
            proptest::prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(jiff).unwrap());
        }

        /// Any text, ASCII or not, valid UTF-8 or not, is the JSON string
        /// serde_json writes of it (of its lossy decoding when not UTF-8).
        #[test]
        fn json_strings_are_serde_jsons(
            bytes in proptest::prop_oneof![
                proptest::collection::vec(0u8..0x80, 0..80),
                proptest::collection::vec(proptest::sample::select(b"ab\"\\\n\t\x00\x1f\x7f \xc3\xa9\xff".to_vec()), 0..40),
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            ]
        ) {
            let mut ours = Vec::new();
            write_json_bytes(&mut ours, &bytes);
            let theirs = serde_json::to_vec(&String::from_utf8_lossy(&bytes)).unwrap();
            proptest::prop_assert_eq!(ours, theirs);
        }

        /// Runs of times close together, as a dump writes them (most in the
        /// second of the one before, some across into the next second,
        /// minute or day, some back), through both memos in turn: each is
        /// what jiff writes, whatever the memo held.
        #[test]
        fn utc_times_written_through_the_memo_are_written_as_jiff_writes_them(
            start in -62_167_219_200_000_000i64..253_402_200_000_000_000,
            steps in proptest::collection::vec(
                proptest::prop_oneof![0i64..1_000, -2_000_000i64..2_000_000, 0i64..90_000_000_000],
                1..64,
            ),
        ) {
            let mut us = start;
            for (i, step) in steps.into_iter().enumerate() {
                us += step;
                let memo = if i % 3 == 0 { Memo::Written } else { Memo::Received };
                let (mut fast, mut jiff) = (Vec::new(), Vec::new());
                write_utc_us(&mut fast, us, memo);
                write_utc(&mut jiff, timestamp_from_us(us));
                proptest::prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(jiff).unwrap());
            }
        }
    }

    #[test]
    fn every_ascii_byte_is_escaped_as_serde_json_escapes_it() {
        for b in 0u8..0x80 {
            for bytes in [vec![b], vec![b'a', b, b'"', b, b'z'], vec![b'\\', b]] {
                let mut ours = Vec::new();
                write_json_bytes(&mut ours, &bytes);
                let theirs = serde_json::to_vec(std::str::from_utf8(&bytes).unwrap()).unwrap();
                assert_eq!(ours, theirs, "{bytes:?}");
            }
        }
    }

    #[test]
    fn utc_times_at_the_edges_of_days_years_and_the_range() {
        for us in [
            0,
            -1,
            86_399_999_999,
            951_782_400_000_000,     // 2000-02-29
            1_795_514_400_123_456,   // 2026-11-24T10:00:00.123456Z
            -62_167_219_200_000_000, // 0000-01-01
            253_402_207_200_999_999, // jiff's last µs, late on 9999-12-30
            253_402_207_201_000_000, // past it: clamped by jiff's printer
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999Z
            i64::MIN,
            i64::MAX,
        ] {
            for memo in [Memo::Received, Memo::Received, Memo::Written] {
                let (mut fast, mut jiff) = (Vec::new(), Vec::new());
                write_utc_us(&mut fast, us, memo);
                write_utc(&mut jiff, timestamp_from_us(us));
                assert_eq!(fast, jiff, "{us}");
            }
        }
    }
    use crate::ingest::syslog::Format;
    use serde_json::{Value, json};

    const RECEIVED_US: i64 = 1_795_514_400_123_456; // 2026-11-24T10:00:00.123456Z
    const EPOCH_US: i64 = 1_795_500_000_000_000;

    fn entry(raw: &[u8]) -> Entry<'_> {
        Entry {
            seq: Seq::new(42),
            received_us: RECEIVED_US,
            transport: Transport::Unix,
            cred: Some(Cred {
                pid: 1234,
                uid: 1000,
                gid: 100,
            }),
            unit: Some(b"sshd.service"),
            truncated: true,
            index: None,
            raw,
        }
    }

    fn full_message<'a>(sd: &'a [u8], text: &'a [u8]) -> Message<'a> {
        Message {
            facility: 4,
            severity: 3,
            timestamp: Some(MsgTime {
                instant: "2026-11-24T08:59:58.5Z".parse().unwrap(),
                offset: Offset::from_hours(-5).unwrap(),
            }),
            hostname: Some(b"web1.example.com"),
            app_name: Some(b"sshd"),
            proc_id: Some(b"777"),
            msg_id: Some(b"ID47"),
            structured_data: Some(sd),
            message: text,
            format: Format::Rfc5424,
        }
    }

    fn render_to_string(fmt: OutputFormat, entry: &Entry<'_>, msg: &Message<'_>) -> String {
        let mut out = Vec::new();
        render(fmt, entry, msg, EPOCH_US, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn json_of(entry: &Entry<'_>, msg: &Message<'_>) -> Value {
        let line = render_to_string(OutputFormat::Json, entry, msg);
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        serde_json::from_str(&line).unwrap()
    }

    const SD: &[u8] = br#"[exampleSDID@32473 iut="3" eventSource="App\"li\\cation\]" eventID="1011"][examplePriority@32473 class="high"]"#;

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(OutputFormat::Syslog),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(OutputFormat::Raw), "text/plain; charset=utf-8");
        assert_eq!(content_type(OutputFormat::Json), "application/x-ndjson");
    }

    #[test]
    fn json_every_field_of_a_full_message() {
        let raw = b"<35>1 ... whatever was received";
        let v = json_of(
            &entry(raw),
            &full_message(SD, "failed password for ümlaut\n\"x\"".as_bytes()),
        );
        let expected = json!({
            "seq": 42,
            "epoch": EPOCH_US,
            "received": "2026-11-24T10:00:00.123456Z",
            "transport": "unix",
            "timestamp": "2026-11-24T03:59:58.500000-05:00",
            "facility": "auth",
            "severity": "err",
            "hostname": "web1.example.com",
            "app_name": "sshd",
            "proc_id": "777",
            "msg_id": "ID47",
            "cred_pid": 1234,
            "cred_uid": 1000,
            "cred_gid": 100,
            "unit": "sshd.service",
            "truncated": true,
            "structured_data": {
                "exampleSDID@32473": {"iut": "3", "eventSource": "App\"li\\cation]", "eventID": "1011"},
                "examplePriority@32473": {"class": "high"}
            },
            "message": "failed password for ümlaut\n\"x\"",
        });
        assert_eq!(v, expected);
        // Key order is fixed, message last.
        let line = render_to_string(OutputFormat::Json, &entry(raw), &full_message(SD, b"m"));
        assert!(line.starts_with("{\"seq\":42,\"epoch\":"), "{line}");
        assert!(line.ends_with(",\"message\":\"m\"}\n"), "{line}");
        // Structured data keys keep the message's order.
        let iut = line.find("\"iut\"").unwrap();
        let source = line.find("\"eventSource\"").unwrap();
        let prio = line.find("examplePriority").unwrap();
        assert!(iut < source && source < prio, "{line}");
    }

    #[test]
    fn json_of_a_malformed_message() {
        let raw = b"garbage \xff\xfe from a printer";
        let mut e = entry(raw);
        e.cred = None;
        e.unit = None;
        e.truncated = false;
        e.transport = Transport::Tcp;
        let v = json_of(&e, &Message::unparsed(raw));
        let expected = json!({
            "seq": 42,
            "epoch": EPOCH_US,
            "received": "2026-11-24T10:00:00.123456Z",
            "transport": "tcp",
            "timestamp": null,
            "facility": "user",
            "severity": "notice",
            "hostname": null,
            "app_name": null,
            "proc_id": null,
            "msg_id": null,
            "malformed": true,
            "structured_data": null,
            "message": "garbage \u{fffd}\u{fffd} from a printer",
        });
        assert_eq!(v, expected);
    }

    #[test]
    fn json_timestamp_offsets() {
        let e = entry(b"");
        let mut m = full_message(b"", b"");
        m.structured_data = None;
        for (offset_s, want) in [
            (0, "2026-11-24T08:59:58.500000Z"),
            (5 * 3600 + 30 * 60, "2026-11-24T14:29:58.500000+05:30"),
            (-(9 * 3600), "2026-11-23T23:59:58.500000-09:00"),
        ] {
            m.timestamp = Some(MsgTime {
                instant: "2026-11-24T08:59:58.5Z".parse().unwrap(),
                offset: Offset::from_seconds(offset_s).unwrap(),
            });
            assert_eq!(json_of(&e, &m)["timestamp"], want);
        }
    }

    #[test]
    fn json_repeated_params_and_ids() {
        let sd = br#"[origin ip="10.0.0.1" ip="192.168.1.1" software="x"][empty@1][origin ip="::1" enterpriseId="9"]"#;
        let v = json_of(&entry(b""), &full_message(sd, b""));
        assert_eq!(
            v["structured_data"],
            json!({
                "origin": {"ip": ["10.0.0.1", "192.168.1.1", "::1"], "software": "x", "enterpriseId": "9"},
                "empty@1": {}
            })
        );
        let line = render_to_string(OutputFormat::Json, &entry(b""), &full_message(sd, b""));
        assert!(
            line.find("\"origin\"").unwrap() < line.find("\"empty@1\"").unwrap(),
            "{line}"
        );
    }

    #[test]
    fn json_many_params_stays_valid() {
        let mut sd = b"[big".to_vec();
        for i in 0..3000 {
            sd.extend_from_slice(format!(" p{}=\"{i}\"", i % 7).as_bytes());
        }
        sd.push(b']');
        let v = json_of(&entry(b""), &full_message(&sd, b""));
        assert_eq!(
            v["structured_data"]["big"]["p3"].as_array().unwrap().len(),
            429
        );
    }

    #[test]
    fn json_non_utf8_fields_are_lossy() {
        let mut m = full_message(b"[a@1 k=\"v\xff\"]", b"\xc3(");
        m.hostname = Some(b"h\x80");
        let v = json_of(&entry(b""), &m);
        assert_eq!(v["hostname"], "h\u{fffd}");
        assert_eq!(v["structured_data"]["a@1"]["k"], "v\u{fffd}");
        assert_eq!(v["message"], "\u{fffd}(");
    }

    #[test]
    fn syslog_full_message() {
        let line = render_to_string(
            OutputFormat::Syslog,
            &entry(b""),
            &full_message(SD, b"hello world"),
        );
        assert_eq!(
            line,
            "<35>1 2026-11-24T03:59:58.500000-05:00 web1.example.com sshd 777 ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"li\\\\cation\\]\" eventID=\"1011\"]\
             [examplePriority@32473 class=\"high\"] hello world\n"
        );
    }

    #[test]
    fn syslog_sd_escaping_round_trips() {
        // A value holding every character that needs escaping, and a
        // backslash before an ordinary character (which stands for itself).
        let sd = br#"[x@1 a="q\"b\\s\]e" b="c:\path" c="plain"]"#;
        let line = render_to_string(OutputFormat::Syslog, &entry(b""), &full_message(sd, b""));
        let start = line.find('[').unwrap();
        let end = line.rfind(']').unwrap();
        let emitted = &line.as_bytes()[start..=end];
        assert_eq!(emitted, br#"[x@1 a="q\"b\\s\]e" b="c:\\path" c="plain"]"#);
        // Parsing the emitted data gives the original values back.
        let values = |sd: &[u8]| -> Vec<Vec<u8>> {
            syslog::sd_elements(sd)
                .flat_map(|e| e.params())
                .map(|p| {
                    let mut v = Vec::new();
                    syslog::unescape_sd_value(p.raw_value, &mut v);
                    v
                })
                .collect()
        };
        assert_eq!(values(emitted), values(sd));
        assert_eq!(
            values(emitted),
            vec![
                b"q\"b\\s]e".to_vec(),
                b"c:\\path".to_vec(),
                b"plain".to_vec()
            ]
        );
    }

    #[test]
    fn syslog_nil_fields_and_receive_time() {
        let mut m = full_message(b"", b"");
        m.timestamp = None;
        m.hostname = None;
        m.app_name = Some(b"");
        m.proc_id = None;
        m.msg_id = None;
        m.structured_data = None;
        m.format = Format::Rfc3164;
        let line = render_to_string(OutputFormat::Syslog, &entry(b""), &m);
        assert_eq!(line, "<35>1 2026-11-24T10:00:00.123456Z - - - - -\n");
    }

    #[test]
    fn syslog_keeps_one_line() {
        let mut m = full_message(
            b"",
            b"line one\nline two\r\n\ttab \x1b[31mred\x7f \\n stays",
        );
        m.structured_data = None;
        m.hostname = Some(b"bad host\n");
        let line = render_to_string(OutputFormat::Syslog, &entry(b""), &m);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.contains(" bad_host_ "), "{line}");
        assert!(
            line.ends_with(" line one\\nline two\\r\\n\\x09tab \\x1b[31mred\\x7f \\n stays\n"),
            "{line}"
        );
    }

    /// A C1 control is a terminal command too (0x9b is CSI), as a UTF-8
    /// character or as a lone byte; other UTF-8 (`€` holds the byte 0x82)
    /// and other invalid bytes (Latin-1 `é`) pass through.
    #[test]
    fn syslog_escapes_c1_controls_and_keeps_other_bytes() {
        let text =
            b"a\xc2\x9b2J b\x9b2J c\xc2\x85 \xe2\x82\xac \xe9t\xe9 \xc2\xa0 \xf0\x9f\x92\xa1";
        let mut m = full_message(b"[x@1 v=\"\xc2\x9b\xe2\x82\xac\"]", text);
        m.hostname = None;
        let mut line = Vec::new();
        render(OutputFormat::Syslog, &entry(b""), &m, EPOCH_US, &mut line);
        let want: &[u8] = b"[x@1 v=\"\\xc2\\x9b\xe2\x82\xac\"] a\\xc2\\x9b2J b\\x9b2J c\\xc2\\x85 \xe2\x82\xac \xe9t\xe9 \xc2\xa0 \xf0\x9f\x92\xa1\n";
        assert!(
            line.ends_with(want),
            "{}",
            String::from_utf8_lossy(&line).escape_debug()
        );
        assert!(!line.windows(2).any(|w| w == b"\xc2\x9b"));
        // Cut short inside a character: the bytes that are left are not C1.
        let mut out = Vec::new();
        escape_one_line(b"\xe2\x82", &mut out);
        assert_eq!(out, b"\xe2\\x82");
    }

    /// Found by fuzzing (`parse_syslog`): a line feed in a structured-data
    /// value split the `fmt=syslog` line in two, letting a sender forge a
    /// second message line.
    #[test]
    fn syslog_sd_value_control_characters_stay_on_one_line() {
        let sd = b"[a@2 k=\"x\nforged\r\x00y\" ok=\"plain\"]";
        let line = render_to_string(OutputFormat::Syslog, &entry(b""), &full_message(sd, b"m"));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(
            line.contains(r#"[a@2 k="x\nforged\r\x00y" ok="plain"] m"#),
            "{line}"
        );
        // The input the fuzzer found, through the parser.
        let raw = b"<13>1 - - - - 4cr\n\x00edOgid[ [a@2 k=\"a\\\"b\x07\x00\x01\x00\x00\x00\x00\x00\
                    \x014\\c\\cos\x11\x11\x11\x11\x11\x11\xf5\t 4cr\n\x00edOgid[\xee\xee\xee\xee\
                    \xee\xee\x11\x11\x11\x11\x11\xff\xff\xff\xff\x11.0.2.1\" ip=\"192.0.2\xbf\x00.129\"] msd";
        let ctx = syslog::ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        };
        let m = syslog::parse(raw, Timestamp::UNIX_EPOCH, &ctx);
        assert!(m.structured_data.is_some(), "{m:?}");
        let mut line = Vec::new();
        render(OutputFormat::Syslog, &entry(raw), &m, EPOCH_US, &mut line);
        let line_feeds = line.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(line_feeds, 1, "{}", String::from_utf8_lossy(&line));
    }

    /// Found by fuzzing (`parse_syslog`): an RFC 3164 date in 1404 in
    /// Europe/Rome has the zone's local mean time, +00:49:56, which RFC 3339
    /// cannot write; the offset was rounded but not the time, so the line
    /// named an instant 4 s away.
    #[test]
    fn offsets_with_seconds_keep_the_instant() {
        let mut m = full_message(b"", b"m");
        let instant: Timestamp = "1404-06-15T11:10:04Z".parse().unwrap();
        m.timestamp = Some(MsgTime {
            instant,
            offset: Offset::from_seconds(49 * 60 + 56).unwrap(),
        });
        let json = json_of(&entry(b""), &m);
        let shown: Timestamp = json["timestamp"].as_str().unwrap().parse().unwrap();
        assert_eq!(shown, instant, "{json}");
        let line = render_to_string(OutputFormat::Syslog, &entry(b""), &m);
        assert!(
            line.starts_with("<35>1 1404-06-15T11:59:04.000000+00:49 "),
            "{line}"
        );
        // The input the fuzzer found, through the parser, in that offset.
        let raw = b"<30>Jun 15 1404 12:00:00 h\xffst a hostyear";
        let ctx = syslog::ParseContext {
            tz: jiff::tz::TimeZone::fixed(Offset::from_seconds(49 * 60 + 56).unwrap()),
        };
        let m = syslog::parse(raw, "2025-12-31T23:30:00Z".parse().unwrap(), &ctx);
        let instant = m.timestamp.expect("a date").instant;
        let json = json_of(&entry(raw), &m);
        let shown: Timestamp = json["timestamp"].as_str().unwrap().parse().unwrap();
        assert_eq!(shown, instant, "{json}");
    }

    #[test]
    fn syslog_malformed() {
        let raw = b"just some text\nwith a newline";
        let line = render_to_string(OutputFormat::Syslog, &entry(raw), &Message::unparsed(raw));
        assert_eq!(
            line,
            "<13>1 2026-11-24T10:00:00.123456Z - - - - - just some text\\nwith a newline\n"
        );
    }

    #[test]
    fn raw_is_the_bytes() {
        let raw = b"<13>anything \xff at all";
        let mut out = Vec::new();
        render(
            OutputFormat::Raw,
            &entry(raw),
            &Message::unparsed(raw),
            EPOCH_US,
            &mut out,
        );
        assert_eq!(out, b"<13>anything \xff at all\n");
    }

    #[test]
    fn render_appends() {
        let mut out = b"before\n".to_vec();
        render(
            OutputFormat::Raw,
            &entry(b"x"),
            &Message::unparsed(b"x"),
            EPOCH_US,
            &mut out,
        );
        render(
            OutputFormat::Json,
            &entry(b"x"),
            &Message::unparsed(b"x"),
            EPOCH_US,
            &mut out,
        );
        assert!(out.starts_with(b"before\nx\n{"));
    }

    #[test]
    fn out_of_range_times_do_not_panic() {
        let mut e = entry(b"x");
        for us in [i64::MIN, i64::MAX, -1, 0] {
            e.received_us = us;
            let v = json_of(&e, &Message::unparsed(b"x"));
            assert!(v["received"].is_string());
            let mut out = Vec::new();
            render_notice(OutputFormat::Syslog, &Notice::Cleared, us, us, &mut out);
        }
        e.received_us = 0;
        assert_eq!(
            json_of(&e, &Message::unparsed(b"x"))["received"],
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn odd_facility_values_do_not_panic() {
        let mut m = Message::unparsed(b"x");
        m.facility = 255;
        m.severity = 255;
        let v = json_of(&entry(b"x"), &m);
        assert_eq!(v["facility"], "255");
        let line = render_to_string(OutputFormat::Syslog, &entry(b"x"), &m);
        assert!(line.starts_with("<2295>1 "));
    }

    #[test]
    fn notices() {
        let now = RECEIVED_US;
        let notice = |fmt, n: Notice| {
            let mut out = Vec::new();
            render_notice(fmt, &n, EPOCH_US, now, &mut out);
            String::from_utf8(out).unwrap()
        };
        let skipped: Value =
            serde_json::from_str(&notice(OutputFormat::Json, Notice::Skipped(17))).unwrap();
        assert_eq!(skipped, json!({"skipped": 17, "epoch": EPOCH_US}));
        let cleared: Value =
            serde_json::from_str(&notice(OutputFormat::Json, Notice::Cleared)).unwrap();
        assert_eq!(cleared, json!({"cleared": true, "epoch": EPOCH_US}));
        assert_eq!(
            notice(OutputFormat::Syslog, Notice::Skipped(17)),
            "<46>1 2026-11-24T10:00:00.123456Z - circologd - skipped - \
             skipped 17 messages the ring overwrote before they were read\n"
        );
        assert!(
            notice(OutputFormat::Syslog, Notice::Skipped(1))
                .contains(" skipped 1 message the ring")
        );
        assert_eq!(
            notice(OutputFormat::Raw, Notice::Cleared),
            notice(OutputFormat::Syslog, Notice::Cleared)
        );
        assert!(
            notice(OutputFormat::Syslog, Notice::Cleared)
                .starts_with("<46>1 2026-11-24T10:00:00.123456Z - circologd - cleared - ")
        );
    }
}
