//! The `fmt=json` wire format as a client reads it: messages and notices.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

use crate::store::ring::Seq;

/// One stored message, as `fmt=json` writes it (the fields `short` and
/// `syslog` are rendered from).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct JsonMessage {
    pub seq: Seq,
    pub epoch: i64,
    pub received: String,
    pub timestamp: Option<String>,
    pub facility: String,
    pub severity: String,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    /// The sender's pid as the kernel told it, for a message received on a
    /// local unix socket.
    pub cred_pid: Option<i64>,
    pub malformed: bool,
    pub structured_data: Option<StructuredData>,
    pub message: String,
}

/// `structured_data` of `fmt=json` in the order the daemon wrote it (the
/// message's order): elements, their params, each param's values (one,
/// or several when the name was repeated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StructuredData(pub Vec<SdElement>);

/// One element of [`StructuredData`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<SdParam>,
}

/// One param of an [`SdElement`]: a name and its values in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdParam {
    pub name: String,
    pub values: Vec<String>,
}

impl<'de> Deserialize<'de> for StructuredData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, Visitor};

        /// One value, or the array a repeated name becomes.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            One(String),
            Many(Vec<String>),
        }

        struct Params;
        impl<'de> Visitor<'de> for Params {
            type Value = Vec<SdParam>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured-data params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((name, values)) = map.next_entry::<String, Values>()? {
                    let values = match values {
                        Values::One(v) => vec![v],
                        Values::Many(vs) => vs,
                    };
                    out.push(SdParam { name, values });
                }
                Ok(out)
            }
        }
        struct Element(Vec<SdParam>);
        impl<'de> Deserialize<'de> for Element {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(Params).map(Element)
            }
        }
        struct Elements;
        impl<'de> Visitor<'de> for Elements {
            type Value = StructuredData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured-data elements")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((id, Element(params))) = map.next_entry::<String, Element>()? {
                    out.push(SdElement { id, params });
                }
                Ok(StructuredData(out))
            }
        }
        d.deserialize_map(Elements)
    }
}

/// One line of `fmt=json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonLine {
    Message(Box<JsonMessage>),
    /// `{"skipped":N,"epoch":E}`: the ring overwrote N messages before the
    /// follower read them.
    Skipped {
        count: u64,
        epoch: i64,
    },
    /// `{"cleared":true,"epoch":E}`: the buffer was cleared.
    Cleared {
        epoch: i64,
    },
    /// `{"paused":true|false,"epoch":E}`: the daemon paused or resumed.
    Paused {
        paused: bool,
        epoch: i64,
    },
    /// `{"snapshot":ID,"why":W,"epoch":E}`: a snapshot was taken.
    Snapshot {
        id: u64,
        why: String,
        epoch: i64,
    },
}

#[derive(Deserialize)]
struct AnyLine {
    seq: Option<Seq>,
    skipped: Option<u64>,
    #[serde(default)]
    cleared: bool,
    paused: Option<bool>,
    snapshot: Option<u64>,
    #[serde(default)]
    why: String,
    #[serde(default)]
    epoch: i64,
}

/// Parses one line of `fmt=json`: a message or a notice.
pub fn parse_json_line(line: &str) -> Result<JsonLine, serde_json::Error> {
    let any: AnyLine = serde_json::from_str(line)?;
    if any.seq.is_some() {
        return serde_json::from_str(line).map(|m| JsonLine::Message(Box::new(m)));
    }
    if let Some(count) = any.skipped {
        return Ok(JsonLine::Skipped {
            count,
            epoch: any.epoch,
        });
    }
    if any.cleared {
        return Ok(JsonLine::Cleared { epoch: any.epoch });
    }
    if let Some(paused) = any.paused {
        return Ok(JsonLine::Paused {
            paused,
            epoch: any.epoch,
        });
    }
    if let Some(id) = any.snapshot {
        return Ok(JsonLine::Snapshot {
            id,
            why: any.why,
            epoch: any.epoch,
        });
    }
    Err(<serde_json::Error as serde::de::Error>::custom(
        "neither a message nor a notice",
    ))
}

/// A message line of `fmt=json` read without copying its strings: each
/// borrows from the line unless it holds an escape. What `circolog-tail`
/// renders a dump's `short` lines from, a line at a time.
///
/// INVARIANT: [`borrow_message`] is at least as strict as
/// [`parse_json_line`]: every line it reads is one `parse_json_line` reads
/// as a [`JsonLine::Message`] with the same field values (the fields of
/// both of its passes are here with the same types; `structured_data` is
/// checked for the same shape and not kept). Any other line (a notice, a
/// line it refuses) is left to `parse_json_line`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[allow(dead_code, reason = "a field not rendered is read for its type")]
pub struct BorrowedMessage<'a> {
    seq: Option<Seq>,
    // The fields of a notice, which `parse_json_line` reads first.
    skipped: Option<u64>,
    cleared: bool,
    paused: Option<bool>,
    snapshot: Option<u64>,
    #[serde(borrow)]
    why: Text<'a>,
    epoch: i64,
    #[serde(borrow)]
    received: Text<'a>,
    #[serde(borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    facility: Text<'a>,
    #[serde(borrow)]
    severity: Text<'a>,
    #[serde(borrow)]
    hostname: Option<Text<'a>>,
    #[serde(borrow)]
    app_name: Option<Text<'a>>,
    #[serde(borrow)]
    proc_id: Option<Text<'a>>,
    #[serde(borrow)]
    msg_id: Option<Text<'a>>,
    cred_pid: Option<i64>,
    malformed: bool,
    structured_data: Option<SdShape>,
    #[serde(borrow)]
    message: Text<'a>,
}

/// A JSON string, borrowed from the line when it holds no escape.
#[derive(Debug, Default, Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

/// `structured_data` checked for the shape [`StructuredData`] takes (an
/// object of objects whose values are strings or arrays of strings), and
/// dropped.
#[derive(Debug)]
struct SdShape;

impl<'de> Deserialize<'de> for SdShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};

        /// One value, or the array a repeated name becomes.
        struct Values;
        impl<'de> Visitor<'de> for Values {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Values)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Text<'de>>()?.is_some() {}
                Ok(Values)
            }
        }
        impl<'de> Deserialize<'de> for Values {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(Values)
            }
        }
        /// An object of `Keyed`, its keys strings.
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured data")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                while map.next_entry::<Text<'de>, T>()?.is_some() {}
                Ok(())
            }
        }
        struct Params;
        impl<'de> Deserialize<'de> for Params {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(Object::<Values>(std::marker::PhantomData))
                    .map(|()| Params)
            }
        }
        d.deserialize_map(Object::<Params>(std::marker::PhantomData))
            .map(|()| SdShape)
    }
}

/// A `fmt=json` line read as a message without copying it, when it is
/// one [`parse_json_line`] would read (see [`BorrowedMessage`]); `None`
/// for anything else, which is `parse_json_line`'s to read.
pub fn borrow_message(line: &str) -> Option<BorrowedMessage<'_>> {
    serde_json::from_str::<BorrowedMessage<'_>>(line)
        .ok()
        .filter(|m| m.seq.is_some())
}

impl<'a> BorrowedMessage<'a> {
    pub fn severity(&self) -> &str {
        self.severity.as_str()
    }

    /// What `short` prints of it.
    pub fn short_fields(&self) -> ShortFields<'_> {
        ShortFields {
            timestamp: self.timestamp.as_ref().map(Text::as_str),
            received: self.received.as_str(),
            hostname: self.hostname.as_ref().map(Text::as_str),
            app_name: self.app_name.as_ref().map(Text::as_str),
            proc_id: self.proc_id.as_ref().map(Text::as_str),
            cred_pid: self.cred_pid,
            message: self.message.as_str(),
        }
    }
}

/// The fields of a message that the `short` format prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShortFields<'a> {
    pub timestamp: Option<&'a str>,
    pub received: &'a str,
    pub hostname: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub proc_id: Option<&'a str>,
    /// The sender's pid from its credentials, shown when `proc_id` is
    /// missing or empty.
    pub cred_pid: Option<i64>,
    pub message: &'a str,
}

impl JsonMessage {
    /// What `short` prints of it.
    pub fn short_fields(&self) -> ShortFields<'_> {
        ShortFields {
            timestamp: self.timestamp.as_deref(),
            received: &self.received,
            hostname: self.hostname.as_deref(),
            app_name: self.app_name.as_deref(),
            proc_id: self.proc_id.as_deref(),
            cred_pid: self.cred_pid,
            message: &self.message,
        }
    }
}

/// A message line of `fmt=json` as the daemon writes it, read by a scan
/// that knows its shape: no whitespace, strings without a backslash,
/// integers, `true`, `false`, `null`, and `structured_data` an object of
/// objects of strings or arrays of strings. The fastest way through a
/// dump; `None` for anything else (a string with an escape, a notice, a
/// float, a line that is not JSON), which [`borrow_message`] and
/// [`parse_json_line`] read.
///
/// INVARIANT: every line it reads is valid JSON that [`borrow_message`]
/// and [`parse_json_line`] read as the same message: the grammar is a
/// subset of JSON's, each known field has a value of its type (as
/// [`BorrowedMessage`] takes it), none is repeated, and `seq` is there.
pub fn scan_message(line: &str) -> Option<ScannedMessage<'_>> {
    let mut s = Scan {
        b: line.as_bytes(),
        at: 0,
    };
    let mut m = ScannedMessage::default();
    let mut seen = 0u32;
    s.eat(b'{')?;
    if s.peek()? == b'}' {
        return None;
    }
    // The key the daemon writes next, tried first as whole bytes.
    let mut hint = 0;
    loop {
        let key = match LAYOUT.get(hint) {
            Some((quoted, key)) if s.b[s.at..].starts_with(quoted) => {
                s.at += quoted.len();
                hint += 1;
                *key
            }
            _ => {
                let key = s.string()?;
                s.eat(b':')?;
                hint = LAYOUT
                    .iter()
                    .position(|(_, k)| *k == key)
                    .map_or(hint, |i| i + 1);
                key
            }
        };
        let field = field_index(key);
        if let Some(i) = field {
            let bit = 1u32 << i;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
        }
        match field {
            Some(SEQ) => m.seq = s.unsigned()?,
            Some(SKIPPED | SNAPSHOT) => {
                if !s.null() {
                    s.unsigned()?;
                }
            }
            Some(CLEARED | MALFORMED) => {
                s.boolean()?;
            }
            Some(PAUSED) => {
                if !s.null() {
                    s.boolean()?;
                }
            }
            Some(EPOCH) => s.signed()?,
            Some(WHY | FACILITY) => s.skip_string()?,
            Some(MSG_ID) => {
                if !s.null() {
                    s.skip_string()?;
                }
            }
            Some(RECEIVED) => m.received = s.text()?,
            Some(TIMESTAMP) => m.timestamp = s.optional_text()?,
            Some(SEVERITY) => m.severity = s.text()?,
            Some(HOSTNAME) => m.hostname = s.optional_text()?,
            Some(APP_NAME) => m.app_name = s.optional_text()?,
            Some(PROC_ID) => m.proc_id = s.optional_text()?,
            Some(CRED_PID) => {
                if !s.null() {
                    let start = s.at;
                    s.signed()?;
                    // What `signed` took is an i64 written as JSON writes it.
                    m.cred_pid = Some(std::str::from_utf8(&s.b[start..s.at]).ok()?.parse().ok()?);
                }
            }
            Some(MESSAGE) => m.message = s.text()?,
            Some(STRUCTURED_DATA) => {
                if !s.null() {
                    s.structured_data()?;
                }
            }
            _ => s.scalar()?,
        }
        match s.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    // `seq` makes it a message; nothing may follow the object.
    (seen & 1 != 0 && s.at == s.b.len()).then_some(m)
}

/// A string of a `fmt=json` line as it is written between its quotes:
/// its escapes not decoded, but each one of the short ones (`\"`, `\\`,
/// `\/`, `\b`, `\f`, `\n`, `\r`, `\t`), and no control character. UTF-8
/// (the line it is from is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonText<'a> {
    pub raw: &'a [u8],
    /// Whether `raw` holds an escape at all.
    pub escaped: bool,
}

impl<'a> JsonText<'a> {
    /// The text decoded, a piece at a time: each run between escapes as
    /// it is (whole characters: it ends at an escape's ASCII backslash),
    /// then the character the escape stands for.
    pub fn pieces(&self, mut each: impl FnMut(&'a [u8], Option<char>)) {
        let mut rest = self.raw;
        if self.escaped {
            while let Some(i) = backslash(rest) {
                let decoded = match rest.get(i + 1) {
                    Some(b'b') => '\u{8}',
                    Some(b'f') => '\u{c}',
                    Some(b'n') => '\n',
                    Some(b'r') => '\r',
                    Some(b't') => '\t',
                    Some(&c) => char::from(c),
                    None => break,
                };
                each(&rest[..i], Some(decoded));
                rest = rest.get(i + 2..).unwrap_or_default();
            }
        }
        each(rest, None);
    }

    /// The text decoded (bytes that are not UTF-8, which a [`scan_layout`]
    /// line never holds, as U+FFFD).
    pub fn decode(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        self.pieces(|run, c| {
            out.push_str(&String::from_utf8_lossy(run));
            out.extend(c);
        });
        out
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// A message line of `fmt=json` laid out exactly as circologd writes it,
/// read by [`scan_layout`]: what `short` prints of it, borrowed from the
/// line, its strings as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaidOut<'a> {
    pub received: &'a [u8],
    pub timestamp: Option<&'a [u8]>,
    pub severity: &'a [u8],
    pub hostname: Option<JsonText<'a>>,
    pub app_name: Option<JsonText<'a>>,
    pub proc_id: Option<JsonText<'a>>,
    /// `cred_pid` as written: an integer's digits, perhaps after a `-`.
    pub cred_pid: Option<&'a [u8]>,
    pub message: JsonText<'a>,
    /// The line is printable ASCII: no text in it has a character that
    /// `short` escapes, but for its JSON escapes.
    pub verbatim: bool,
}

/// A message line read in one pass when it is laid out as circologd
/// writes it: every key in the daemon's order (`cred_*`, `unit`,
/// `truncated` and `malformed` where the daemon may leave them out), no
/// whitespace, no control byte, the times and the severity without an
/// escape, and UTF-8. The way through a whole dump in `short`; `None` for
/// any other line, which [`scan_message`] and the parsers after it read.
///
/// INVARIANT: every line it reads is UTF-8 and one [`scan_message`] reads
/// too, with the same `short` fields and severity: each value is checked
/// as strictly as `scan_message` checks it, or more.
pub fn scan_layout(line: &[u8]) -> Option<LaidOut<'_>> {
    let (mut m, end) = parse_layout(line)?;
    if end != line.len() {
        return None;
    }
    m.verbatim = printable(line)?;
    Some(m)
}

/// [`scan_layout`] of the first line of `lines` (whole lines, each with
/// its line feed), without looking for its end first: the message and
/// where its line feed is, when that line is one `scan_layout` reads.
pub fn scan_layout_first(lines: &[u8]) -> Option<(LaidOut<'_>, usize)> {
    let (mut m, end) = parse_layout(lines)?;
    // A parse that went past a line feed read more than a line, and the
    // line holds a control character: refused here.
    if lines.get(end) != Some(&b'\n') {
        return None;
    }
    m.verbatim = printable(lines.get(..end)?)?;
    Some((m, end))
}

/// Whether `line` is printable ASCII (`Some(true)`), else UTF-8 without a
/// control character (`Some(false)`); `None` for anything else.
#[inline(always)]
fn printable(line: &[u8]) -> Option<bool> {
    // Most lines are printable ASCII (the daemon escapes every control
    // character): one pass without an early exit, which the compiler turns
    // into wide compares, says so. A byte below 0x20 or above 0x7e, plus
    // one, is below 0x21 as a signed byte. Others are looked at closely.
    let odd = line
        .iter()
        .fold(false, |odd, &c| odd | ((c.wrapping_add(1) as i8) < 0x21));
    if odd && (line.iter().any(|&c| c < 0x20) || std::str::from_utf8(line).is_err()) {
        return None;
    }
    Some(!odd)
}

/// The layout of [`scan_layout`] read from the start of `b`, and where
/// it ends (just after its `}`). Its strings are not looked at for
/// control characters, nor its bytes for UTF-8: the caller checks the
/// line it ends.
#[inline(always)]
fn parse_layout(b: &[u8]) -> Option<(LaidOut<'_>, usize)> {
    let mut s = Scan { b, at: 0 };
    s.key(b"{\"seq\":")?;
    s.skip_unsigned()?;
    s.key(b",\"epoch\":")?;
    s.signed()?;
    s.key(b",\"received\":")?;
    let received = s.time()?;
    // Strings not kept are checked as `Scan::skip_string` checks them.
    s.key(b",\"transport\":")?;
    s.json_text()?;
    s.key(b",\"timestamp\":")?;
    let timestamp = if s.null() { None } else { Some(s.time()?) };
    s.key(b",\"facility\":")?;
    s.json_text()?;
    s.key(b",\"severity\":")?;
    let severity = s.plain()?;
    s.key(b",\"hostname\":")?;
    let hostname = s.optional_json_text()?;
    s.key(b",\"app_name\":")?;
    let app_name = s.optional_json_text()?;
    s.key(b",\"proc_id\":")?;
    let proc_id = s.optional_json_text()?;
    s.key(b",\"msg_id\":")?;
    if !s.null() {
        s.json_text()?;
    }
    // Integers as `scan_message` takes a field it does not know: signed.
    let mut cred_pid = None;
    if s.key(b",\"cred_pid\":").is_some() {
        let start = s.at;
        s.signed()?;
        cred_pid = s.b.get(start..s.at);
        s.key(b",\"cred_uid\":")?;
        s.signed()?;
        s.key(b",\"cred_gid\":")?;
        s.signed()?;
    }
    if s.key(b",\"unit\":").is_some() {
        s.json_text()?;
    }
    let _ = s.key(b",\"truncated\":true");
    let _ = s.key(b",\"malformed\":true");
    s.key(b",\"structured_data\":")?;
    if !s.null() {
        s.structured_data()?;
    }
    s.key(b",\"message\":")?;
    let message = s.json_text()?;
    s.key(b"}")?;
    let m = LaidOut {
        received,
        timestamp,
        severity,
        hostname,
        app_name,
        proc_id,
        cred_pid,
        message,
        verbatim: false,
    };
    Some((m, s.at))
}

/// The keys of a message line in the order the daemon writes them, as
/// they are written (quoted, and the colon).
const LAYOUT: [(&[u8], &str); 19] = [
    (b"\"seq\":", "seq"),
    (b"\"epoch\":", "epoch"),
    (b"\"received\":", "received"),
    (b"\"transport\":", "transport"),
    (b"\"timestamp\":", "timestamp"),
    (b"\"facility\":", "facility"),
    (b"\"severity\":", "severity"),
    (b"\"hostname\":", "hostname"),
    (b"\"app_name\":", "app_name"),
    (b"\"proc_id\":", "proc_id"),
    (b"\"msg_id\":", "msg_id"),
    (b"\"cred_pid\":", "cred_pid"),
    (b"\"cred_uid\":", "cred_uid"),
    (b"\"cred_gid\":", "cred_gid"),
    (b"\"unit\":", "unit"),
    (b"\"truncated\":", "truncated"),
    (b"\"malformed\":", "malformed"),
    (b"\"structured_data\":", "structured_data"),
    (b"\"message\":", "message"),
];

// The fields [`scan_message`] checks: a bit each in its `seen`.
const SEQ: u32 = 0;
const SKIPPED: u32 = 1;
const CLEARED: u32 = 2;
const PAUSED: u32 = 3;
const SNAPSHOT: u32 = 4;
const WHY: u32 = 5;
const EPOCH: u32 = 6;
const RECEIVED: u32 = 7;
const TIMESTAMP: u32 = 8;
const FACILITY: u32 = 9;
const SEVERITY: u32 = 10;
const HOSTNAME: u32 = 11;
const APP_NAME: u32 = 12;
const PROC_ID: u32 = 13;
const MSG_ID: u32 = 14;
const MALFORMED: u32 = 15;
const STRUCTURED_DATA: u32 = 16;
const MESSAGE: u32 = 17;
const CRED_PID: u32 = 18;

/// The field `key` is, among those of [`JsonMessage`] and of a notice.
fn field_index(key: &str) -> Option<u32> {
    Some(match key {
        "seq" => SEQ,
        "skipped" => SKIPPED,
        "cleared" => CLEARED,
        "paused" => PAUSED,
        "snapshot" => SNAPSHOT,
        "why" => WHY,
        "epoch" => EPOCH,
        "received" => RECEIVED,
        "timestamp" => TIMESTAMP,
        "facility" => FACILITY,
        "severity" => SEVERITY,
        "hostname" => HOSTNAME,
        "app_name" => APP_NAME,
        "proc_id" => PROC_ID,
        "msg_id" => MSG_ID,
        "malformed" => MALFORMED,
        "structured_data" => STRUCTURED_DATA,
        "message" => MESSAGE,
        "cred_pid" => CRED_PID,
        _ => return None,
    })
}

/// A message [`scan_message`] read: what `short` prints of it, borrowed
/// from the line unless it held an escape.
#[derive(Clone, Debug, Default)]
pub struct ScannedMessage<'a> {
    pub seq: u64,
    received: Cow<'a, str>,
    timestamp: Option<Cow<'a, str>>,
    severity: Cow<'a, str>,
    hostname: Option<Cow<'a, str>>,
    app_name: Option<Cow<'a, str>>,
    proc_id: Option<Cow<'a, str>>,
    cred_pid: Option<i64>,
    message: Cow<'a, str>,
}

impl ScannedMessage<'_> {
    pub fn severity(&self) -> &str {
        &self.severity
    }

    /// What `short` prints of it.
    pub fn short_fields(&self) -> ShortFields<'_> {
        ShortFields {
            timestamp: self.timestamp.as_deref(),
            received: &self.received,
            hostname: self.hostname.as_deref(),
            app_name: self.app_name.as_deref(),
            proc_id: self.proc_id.as_deref(),
            cred_pid: self.cred_pid,
            message: &self.message,
        }
    }
}

/// The high bit of each byte of `word` that is `"` or `\`, and perhaps of
/// bytes after one (a borrow): the lowest bit set is the first of them.
#[inline(always)]
fn quotes_or_backslashes(word: &[u8]) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&word[..8]);
    let x = u64::from_le_bytes(bytes);
    zeros(x ^ QUOTES) | zeros(x ^ BACKSLASHES)
}

/// Where the first `\` of `text` is, eight bytes at a time, as
/// [`quote_or_backslash`].
#[inline(always)]
fn backslash(text: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let mut words = text.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ BACKSLASHES;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = words.remainder().iter().position(|&c| c == b'\\')?;
    Some(at + tail)
}

/// Where the first `"` or `\` of `text` is. Eight bytes at a time: the
/// strings of a line are mostly too short for `memchr`'s set-up to pay.
#[inline(always)]
fn quote_or_backslash(text: &[u8]) -> Option<usize> {
    let mut words = text.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let found = quotes_or_backslashes(word);
        if found != 0 {
            // Little-endian: the lowest bits are the first byte.
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = words
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')?;
    Some(at + tail)
}

/// The number ASCII `digits` write, if a `u64` holds it.
fn value(digits: &[u8]) -> Option<u64> {
    if digits.len() < 20 {
        // Below 10^19, which a u64 holds: no step can overflow.
        return Some(digits.iter().fold(0u64, |n, &d| {
            n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        }));
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A cursor in a line. INVARIANT: `at <= b.len()`.
struct Scan<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    #[inline(always)]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.b[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    #[inline(always)]
    fn null(&mut self) -> bool {
        self.literal(b"null")
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.literal(b"true") {
            Some(true)
        } else if self.literal(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// A string without escape or control character.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = &self.b[start..];
        // Keys and most values a byte at a time; a longer string (a
        // message) with `memchr`, then a pass for control bytes without
        // an early exit, which the compiler turns into wide compares.
        let mut end = None;
        for (i, &c) in rest.iter().take(24).enumerate() {
            match c {
                b'"' => {
                    end = Some(i);
                    break;
                }
                b'\\' | 0..=0x1f => return None,
                _ => {}
            }
        }
        let len = match end {
            Some(len) => len,
            None => {
                let len = memchr::memchr2(b'"', b'\\', rest)?;
                let control = rest[..len]
                    .iter()
                    .fold(false, |found, &c| found | (c < 0x20));
                if rest[len] != b'"' || control {
                    return None;
                }
                len
            }
        };
        self.at = start + len + 1;
        std::str::from_utf8(&self.b[start..start + len]).ok()
    }

    /// A string that is not kept: escapes are allowed but `\u` (whose
    /// surrogates JSON parsers tell apart), and no control character.
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// A string, borrowed when it holds no escape; decoded when its
    /// escapes are the short ones (not `\u`, whose surrogates JSON parsers
    /// tell apart). No control character.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        if let Some(plain) = self.string() {
            return Some(Cow::Borrowed(plain));
        }
        self.at = start;
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let rest = self.b.get(self.at..)?;
            let len = memchr::memchr2(b'"', b'\\', rest)?;
            let chunk = &rest[..len];
            if chunk.iter().any(|&c| c < 0x20) {
                return None;
            }
            // Between quotes and escapes, ASCII: whole characters of a
            // line that is UTF-8.
            out.push_str(std::str::from_utf8(chunk).ok()?);
            self.at += len + 1;
            if rest[len] == b'"' {
                return Some(Cow::Owned(out));
            }
            out.push(match self.next()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                _ => return None,
            });
        }
    }

    /// The bytes `key` (a key, its quotes and colon, and what comes
    /// before it), consumed when they are next. A constant length, which
    /// the compiler compares in a few loads.
    #[inline(always)]
    fn key<const N: usize>(&mut self, key: &[u8; N]) -> Option<()> {
        let next: &[u8; N] = self.b.get(self.at..self.at + N)?.try_into().ok()?;
        if next != key {
            return None;
        }
        self.at += N;
        Some(())
    }

    /// A string without escape (without control character: [`scan_layout`]
    /// checked the line).
    #[inline(always)]
    fn plain(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        let len = quote_or_backslash(&self.b[start..])?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        Some(&self.b[start..start + len])
    }

    /// [`Scan::plain`], first tried as a time is written
    /// (`"2026-12-01T08:16:39.000000Z"`): a fixed length, looked at a word
    /// at a time.
    #[inline(always)]
    fn time(&mut self) -> Option<&'a [u8]> {
        const LEN: usize = 27;
        if let Some(quoted) = self.b.get(self.at..self.at + LEN + 2)
            && quoted[0] == b'"'
            && quoted[LEN + 1] == b'"'
        {
            let text = &quoted[1..=LEN];
            // Four words, the last overlapping the third, cover the 27.
            let special = quotes_or_backslashes(&text[..8])
                | quotes_or_backslashes(&text[8..16])
                | quotes_or_backslashes(&text[16..24])
                | quotes_or_backslashes(&text[LEN - 8..]);
            if special == 0 {
                self.at += LEN + 2;
                return Some(text);
            }
        }
        self.plain()
    }

    /// A string whose escapes are the short ones (`\u`, whose surrogates
    /// JSON parsers tell apart, is refused, as [`Scan::text`] refuses it),
    /// as written (without control character: [`scan_layout`] checked the
    /// line).
    #[inline(always)]
    fn json_text(&mut self) -> Option<JsonText<'a>> {
        self.eat(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            let i = self.at + quote_or_backslash(&self.b[self.at..])?;
            if self.b[i] == b'"' {
                self.at = i + 1;
                let raw = &self.b[start..i];
                return Some(JsonText { raw, escaped });
            }
            match self.b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                _ => return None,
            }
            escaped = true;
            self.at = i + 2;
        }
    }

    #[inline(always)]
    fn optional_json_text(&mut self) -> Option<Option<JsonText<'a>>> {
        if self.null() {
            Some(None)
        } else {
            self.json_text().map(Some)
        }
    }

    fn optional_text(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null() {
            Some(None)
        } else {
            self.text().map(Some)
        }
    }

    /// `0` or digits not starting with `0`.
    #[inline(always)]
    fn digits(&mut self) -> Option<&'a [u8]> {
        let rest = &self.b[self.at..];
        let mut len = 0;
        while rest.get(len).is_some_and(u8::is_ascii_digit) {
            len += 1;
        }
        let digits = &rest[..len];
        if len == 0 || len > 1 && digits[0] == b'0' {
            return None;
        }
        self.at += len;
        Some(digits)
    }

    /// An integer that fits a `u64`, and is not followed by a fraction.
    fn unsigned(&mut self) -> Option<u64> {
        let n = value(self.digits()?)?;
        self.integer_ends().then_some(n)
    }

    /// [`Scan::unsigned`], its value not kept.
    #[inline(always)]
    fn skip_unsigned(&mut self) -> Option<()> {
        let digits = self.digits()?;
        // Below 10^19 a u64 holds it, without a look at its value.
        if digits.len() > 19 {
            value(digits)?;
        }
        self.integer_ends().then_some(())
    }

    /// An integer that fits an `i64`; not `-0`.
    #[inline(always)]
    fn signed(&mut self) -> Option<()> {
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let digits = self.digits()?;
        // -i64::MAX is the most negative taken: i64::MIN is left to serde.
        // Below 10^18 an i64 holds it, without a look at its value.
        if digits.len() > 18 && value(digits).is_none_or(|n| n > i64::MAX as u64) {
            return None;
        }
        if negative && digits == b"0" {
            return None;
        }
        self.integer_ends().then_some(())
    }

    #[inline(always)]
    fn integer_ends(&self) -> bool {
        !matches!(self.peek(), Some(b'.' | b'e' | b'E'))
    }

    /// A value of a field neither reads: a string, an integer, a literal.
    fn scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'-' | b'0'..=b'9' => self.signed(),
            _ if self.null() || self.literal(b"true") || self.literal(b"false") => Some(()),
            _ => None,
        }
    }

    /// `{"ID":{"NAME":"V" or ["V",…],…},…}`, each object possibly empty.
    fn structured_data(&mut self) -> Option<()> {
        self.object(|s| {
            s.object(|s| {
                if s.peek()? != b'[' {
                    return s.skip_string();
                }
                s.at += 1;
                if s.peek()? == b']' {
                    s.at += 1;
                    return Some(());
                }
                loop {
                    s.skip_string()?;
                    match s.next()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            })
        })
    }

    /// An object of string keys, each value read by `value`.
    fn object(&mut self, mut value: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.skip_string()?;
            self.eat(b':')?;
            value(self)?;
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_and_notices() {
        let line = r#"{"seq":3,"epoch":17,"received":"2026-01-08T19:46:04.000000Z","transport":"unix","timestamp":null,"facility":"user","severity":"err","hostname":null,"app_name":"app","proc_id":null,"msg_id":null,"structured_data":null,"message":"m"}"#;
        let JsonLine::Message(m) = parse_json_line(line).expect("parses") else {
            panic!("a message");
        };
        assert_eq!(
            (m.seq, m.epoch, m.severity.as_str()),
            (Seq::new(3), 17, "err")
        );
        assert_eq!(
            parse_json_line(r#"{"skipped":4,"epoch":17}"#).expect("parses"),
            JsonLine::Skipped {
                count: 4,
                epoch: 17
            }
        );
        assert_eq!(
            parse_json_line(r#"{"cleared":true,"epoch":17}"#).expect("parses"),
            JsonLine::Cleared { epoch: 17 }
        );
        assert!(parse_json_line(r#"{"hello":1}"#).is_err());
        assert!(parse_json_line("not json").is_err());
    }

    /// Integers at the edges of what the scans take: within a `u64` for a
    /// seq, an `i64` for the others (not `-0`), no leading zero, no
    /// fraction.
    #[test]
    fn integers_at_their_edges() {
        let unsigned = |n: &str| {
            let mut s = Scan {
                b: n.as_bytes(),
                at: 0,
            };
            (s.unsigned(), s.at)
        };
        assert_eq!(unsigned("18446744073709551615,"), (Some(u64::MAX), 20));
        assert_eq!(unsigned("18446744073709551616").0, None);
        assert_eq!(
            unsigned("9999999999999999999").0,
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(unsigned("012").0, None);
        assert_eq!(unsigned("0").0, Some(0));
        assert_eq!(unsigned("12.5").0, None);
        let signed = |n: &str| {
            Scan {
                b: n.as_bytes(),
                at: 0,
            }
            .signed()
            .is_some()
        };
        assert!(signed("9223372036854775807"));
        assert!(!signed("9223372036854775808"));
        assert!(signed("-9223372036854775807"));
        assert!(!signed("-9223372036854775808"));
        assert!(!signed("-0"));
        assert!(signed("-1"));
        assert!(!signed("1e3"));
        let skipped = |n: &str| {
            Scan {
                b: n.as_bytes(),
                at: 0,
            }
            .skip_unsigned()
            .is_some()
        };
        assert!(skipped("18446744073709551615"));
        assert!(!skipped("18446744073709551616"));
        assert!(!skipped("00"));
    }

    proptest::proptest! {
        /// The word-at-a-time searches find what a byte-at-a-time one
        /// finds.
        #[test]
        fn searches_a_word_at_a_time(
            text in proptest::collection::vec(proptest::sample::select(
                b"ab\"\\\x00\x80\xff!#[]".to_vec()), 0..40),
        ) {
            proptest::prop_assert_eq!(
                quote_or_backslash(&text),
                text.iter().position(|&c| c == b'"' || c == b'\\')
            );
            proptest::prop_assert_eq!(backslash(&text), text.iter().position(|&c| c == b'\\'));
        }
    }
}
