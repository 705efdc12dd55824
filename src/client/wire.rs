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
        line,
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
            message: &self.message,
        }
    }
}

/// A cursor in a line. INVARIANT: `at <= b.len()`, and `b` is `line`'s
/// bytes, so that a string between two ASCII quotes is a `&str` of it.
struct Scan<'a> {
    b: &'a [u8],
    line: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.b[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

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
        self.line.get(start..start + len)
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
            // After a quote or an escape: an ASCII byte, a char boundary.
            let rest = self.line.get(self.at..)?;
            let len = memchr::memchr2(b'"', b'\\', rest.as_bytes())?;
            let chunk = rest.get(..len)?;
            if chunk.bytes().any(|c| c < 0x20) {
                return None;
            }
            out.push_str(chunk);
            self.at += len + 1;
            if rest.as_bytes()[len] == b'"' {
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

    fn optional_text(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null() {
            Some(None)
        } else {
            self.text().map(Some)
        }
    }

    /// `0` or digits not starting with `0`, as a number if it fits.
    fn digits(&mut self) -> Option<u64> {
        let start = self.at;
        let mut n = 0u64;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        let len = self.at - start;
        let leading_zero = len > 1 && self.b[start] == b'0';
        (len > 0 && !leading_zero).then_some(n)
    }

    /// An integer that fits a `u64`, and is not followed by a fraction.
    fn unsigned(&mut self) -> Option<u64> {
        let n = self.digits()?;
        self.integer_ends().then_some(n)
    }

    /// An integer that fits an `i64`; not `-0`.
    fn signed(&mut self) -> Option<()> {
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let n = self.digits()?;
        // -i64::MAX is the most negative taken: i64::MIN is left to serde.
        if n > i64::MAX as u64 || negative && n == 0 {
            return None;
        }
        self.integer_ends().then_some(())
    }

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
}
