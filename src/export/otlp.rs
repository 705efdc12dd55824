//! The OTLP protobuf messages the exporter sends and reads, written and read
//! by hand with the field numbers of the official `.proto` files
//! (opentelemetry-proto v1: `collector/logs/v1/logs_service.proto`,
//! `logs/v1/logs.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`). The tests decode what is written here with
//! the types prost generates from those files (the `opentelemetry-proto`
//! crate), and `tests/otlp_server.py` with the official Python package.
//!
//! A record is encoded once, when it is queued, as the whole
//! `ScopeLogs.log_records` field (key, length, `LogRecord`); a request is a
//! fixed prefix (`ResourceLogs` with the resource, `ScopeLogs` with the
//! scope) around records copied as they are. Protobuf allows it: a
//! repeated field is its elements one after the other.
//!
//! ```text
//! ExportLogsServiceRequest
//!   1 resource_logs: ResourceLogs
//!       1 resource: Resource { 1 attributes: host.name, service.name }
//!       2 scope_logs: ScopeLogs
//!           1 scope: InstrumentationScope { 1 name, 2 version }
//!           2 log_records: LogRecord ...   <- the queued records
//! ```

use crate::ingest::syslog::{self, FACILITY_NAMES, Message, SEVERITY_NAMES};
use crate::store::ring::Entry;

// Wire types.
const VARINT: u32 = 0;
const I64: u32 = 1;
const LEN: u32 = 2;

// ExportLogsServiceRequest
const REQUEST_RESOURCE_LOGS: u32 = 1;
// ResourceLogs
const RESOURCE_LOGS_RESOURCE: u32 = 1;
const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
// Resource
const RESOURCE_ATTRIBUTES: u32 = 1;
// ScopeLogs
const SCOPE_LOGS_SCOPE: u32 = 1;
const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
// InstrumentationScope
const SCOPE_NAME: u32 = 1;
const SCOPE_VERSION: u32 = 2;
// LogRecord
const LOG_TIME_UNIX_NANO: u32 = 1;
const LOG_SEVERITY_NUMBER: u32 = 2;
const LOG_SEVERITY_TEXT: u32 = 3;
const LOG_BODY: u32 = 5;
const LOG_ATTRIBUTES: u32 = 6;
const LOG_DROPPED_ATTRIBUTES_COUNT: u32 = 7;
const LOG_OBSERVED_TIME_UNIX_NANO: u32 = 11;
// KeyValue
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;
// AnyValue (a oneof)
const ANY_STRING: u32 = 1;
const ANY_INT: u32 = 3;
const ANY_ARRAY: u32 = 5;
// ArrayValue
const ARRAY_VALUES: u32 = 1;
// ExportLogsServiceResponse
const RESPONSE_PARTIAL_SUCCESS: u32 = 1;
// ExportLogsPartialSuccess
const PARTIAL_REJECTED: u32 = 1;
const PARTIAL_ERROR_MESSAGE: u32 = 2;
// google.rpc.Status, the body of an OTLP/HTTP error response
const STATUS_MESSAGE: u32 = 2;

/// `service.name` of the resource.
pub const SERVICE_NAME: &str = "circologd";

/// RFC 5424 limits SD-ID and PARAM-NAME to 32 characters. Longer ones are
/// not turned into attributes (counted in `dropped_attributes_count`):
/// every parameter repeats its element's id in its key, and without the
/// limit a sender could make one message's record many times its size.
const SD_NAME_MAX: usize = 32;

/// Bytes kept for the length of a nested message until its size is known:
/// a varint of 5 bytes holds any length below 2^35, far above the limit of
/// a [`Writer`].
const LEN_RESERVE: usize = 5;

/// The OpenTelemetry severity number of a syslog severity, from the table
/// "SeverityNumber example mappings" of the logs data model's appendix B:
///
/// | syslog            | SeverityNumber |
/// |-------------------|----------------|
/// | Emergency (0)     | FATAL (21)     |
/// | Alert (1)         | ERROR3 (19)    |
/// | Critical (2)      | ERROR2 (18)    |
/// | Error (3)         | ERROR (17)     |
/// | Warning (4)       | WARN (13)      |
/// | Notice (5)        | INFO2 (10)     |
/// | Informational (6) | INFO (9)       |
/// | Debug (7)         | DEBUG (5)      |
///
/// A value outside 0..=7 (the parser never produces one) is UNSPECIFIED (0).
pub fn severity_number(severity: u8) -> u8 {
    match severity {
        0 => 21,
        1 => 19,
        2 => 18,
        3 => 17,
        4 => 13,
        5 => 10,
        6 => 9,
        7 => 5,
        _ => 0,
    }
}

/// Appends bytes up to a limit fixed at creation, into a buffer allocated
/// once: it never reallocates, so no copy of a message is left behind in
/// freed memory. Past the limit it writes nothing more and says so
/// ([`Writer::overflowed`]); what it holds is then of no use.
///
/// INVARIANT: `limit <= buf.capacity()`, and the bytes of `buf`'s spare
/// capacity are zero (or were never written).
pub(super) struct Writer {
    buf: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl Writer {
    pub(super) fn new(limit: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(limit),
            limit,
            overflowed: false,
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(super) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Zeroes what was written and starts again.
    pub(super) fn wipe(&mut self) {
        self.buf.fill(0);
        self.buf.clear();
        self.overflowed = false;
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.overflowed || bytes.len() > self.limit - self.buf.len() {
            self.overflowed = true;
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    fn varint(&mut self, mut v: u64) {
        // Byte by byte: most varints here are one or two bytes, for which
        // a copy through a buffer costs more than the varint.
        if self.overflowed || varint_len(v) > self.limit - self.buf.len() {
            self.overflowed = true;
            return;
        }
        while v >= 0x80 {
            self.buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }

    /// Opens a length-delimited field whose length is not known yet; give
    /// what this returns to [`Writer::close`] once its content is written.
    fn open(&mut self, field: u32) -> usize {
        self.key(field, LEN);
        let at = self.buf.len();
        self.put(&[0; LEN_RESERVE]);
        at
    }

    /// Writes the length of the field opened at `at` and moves its content
    /// next to it.
    fn close(&mut self, at: usize) {
        if self.overflowed {
            return;
        }
        let start = at + LEN_RESERVE;
        let len = self.buf.len() - start;
        let mut tmp = [0; 10];
        let n = encode_varint(len as u64, &mut tmp);
        debug_assert!(n <= LEN_RESERVE);
        self.buf[at..at + n].copy_from_slice(&tmp[..n]);
        self.buf.copy_within(start.., at + n);
        let end = at + n + len;
        // The tail moved down: its old last bytes must not stay behind.
        self.buf[end..].fill(0);
        self.buf.truncate(end);
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        self.key(field, I64);
        self.put(&v.to_le_bytes());
    }

    fn uint(&mut self, field: u32, v: u64) {
        self.key(field, VARINT);
        self.varint(v);
    }

    fn bytes_field(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, LEN);
        self.varint(bytes.len() as u64);
        self.put(bytes);
    }

    /// A string field from bytes that may not be UTF-8: invalid sequences
    /// become U+FFFD, as `String::from_utf8_lossy` does.
    fn lossy(&mut self, field: u32, bytes: &[u8]) {
        if std::str::from_utf8(bytes).is_ok() {
            self.bytes_field(field, bytes);
        } else {
            let at = self.open(field);
            self.put_lossy(bytes);
            self.close(at);
        }
    }

    fn put_lossy(&mut self, bytes: &[u8]) {
        for chunk in bytes.utf8_chunks() {
            self.put(chunk.valid().as_bytes());
            if !chunk.invalid().is_empty() {
                self.put("\u{FFFD}".as_bytes());
            }
        }
    }

    /// A structured-data value as received, unescaped as
    /// [`syslog::unescape_sd_value`] does, then made UTF-8 like
    /// [`Writer::lossy`]. (Both orders give the same text: the escapes
    /// removed are ASCII and only ever precede ASCII.)
    pub(super) fn put_sd_value(&mut self, raw: &[u8]) {
        let mut rest = raw;
        while let Some(i) = memchr::memchr(b'\\', rest) {
            self.put_lossy(&rest[..i]);
            match rest.get(i + 1) {
                Some(&escaped @ (b'"' | b'\\' | b']')) => {
                    self.put(&[escaped]);
                    rest = &rest[i + 2..];
                }
                _ => {
                    self.put(b"\\");
                    rest = &rest[i + 1..];
                }
            }
        }
        self.put_lossy(rest);
    }

    /// A field holding an `AnyValue` with a string value. Text that is
    /// UTF-8 already (nearly all) has its lengths computed, not moved into
    /// place by [`Writer::close`].
    fn any_str(&mut self, field: u32, value: &[u8]) {
        if std::str::from_utf8(value).is_ok() {
            self.key(field, LEN);
            self.varint(len_field_len(value.len()) as u64);
            self.bytes_field(ANY_STRING, value);
        } else {
            let any = self.open(field);
            self.lossy(ANY_STRING, value);
            self.close(any);
        }
    }

    /// One `KeyValue` of `field` with a string value.
    fn attr_str(&mut self, field: u32, key: &str, value: &[u8]) {
        if std::str::from_utf8(value).is_ok() {
            let any = len_field_len(value.len());
            self.key(field, LEN);
            self.varint((len_field_len(key.len()) + len_field_len(any)) as u64);
            self.bytes_field(KV_KEY, key.as_bytes());
            self.key(KV_VALUE, LEN);
            self.varint(any as u64);
            self.bytes_field(ANY_STRING, value);
        } else {
            let kv = self.open(field);
            self.bytes_field(KV_KEY, key.as_bytes());
            self.any_str(KV_VALUE, value);
            self.close(kv);
        }
    }

    fn attr_int(&mut self, key: &str, value: i64) {
        // int64 is written as the varint of its two's complement.
        let v = value as u64;
        let any = 1 + varint_len(v);
        self.key(LOG_ATTRIBUTES, LEN);
        self.varint((len_field_len(key.len()) + len_field_len(any)) as u64);
        self.bytes_field(KV_KEY, key.as_bytes());
        self.key(KV_VALUE, LEN);
        self.varint(any as u64);
        self.uint(ANY_INT, v);
    }
}

/// Size of a length-delimited field of a one-byte key with `len` bytes of
/// content.
fn len_field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Writes `v` as a protobuf varint into `out`; returns its length.
fn encode_varint(mut v: u64, out: &mut [u8; 10]) -> usize {
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[n] = byte;
            return n + 1;
        }
        out[n] = byte | 0x80;
        n += 1;
    }
}

fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn push_varint(out: &mut Vec<u8>, v: u64) {
    let mut tmp = [0; 10];
    let n = encode_varint(v, &mut tmp);
    out.extend_from_slice(&tmp[..n]);
}

/// What a record carries besides the message: where it comes from.
#[derive(Clone, Copy, Debug)]
pub(super) struct Origin {
    /// The daemon's epoch (µs since 1970), as `/status` gives it.
    pub(super) epoch_us: i64,
    /// The snapshot the record is exported from, if any.
    pub(super) snapshot: Option<u64>,
}

/// Encodes one stored message as a `ScopeLogs.log_records` field.
///
/// `LogRecord` fields: `time_unix_nano` (the message's own timestamp, when
/// it has one at or after 1970), `observed_time_unix_nano` (received),
/// `severity_number` ([`severity_number`]) and `severity_text` (the
/// `syslog.h` name, as circolog writes it everywhere), `body` (the message
/// text as a string), and the attributes:
///
/// | key | value |
/// |---|---|
/// | `syslog.facility` | the facility's `syslog.h` name (`auth`, `local0`), as in circolog's JSON |
/// | `syslog.hostname`, `syslog.appname`, `syslog.procid`, `syslog.msgid` | string, when present |
/// | `circolog.seq`, `circolog.epoch` | int: the message's seq, in the daemon's epoch (µs since 1970) |
/// | `circolog.cred_pid`, `circolog.cred_uid`, `circolog.cred_gid` | int: the sender's credentials, for unix datagrams (the `cred_*` of the JSON format) |
/// | `systemd.unit` | string: the sender's systemd unit, for unix datagrams of a sender in one (the `unit` of the JSON format) |
/// | `circolog.snapshot` | int: the snapshot's id, for snapshot records |
/// | `syslog.sd.ID.PARAM` | string: a structured-data parameter, unescaped; an array of strings when the name repeats in an element (or the element repeats); an element without parameters is `syslog.sd.ID` with an empty string |
///
/// Every text is UTF-8 with invalid bytes replaced by U+FFFD. Structured
/// data with an id or name over 32 characters (RFC 5424's limit) is left
/// out and counted in `dropped_attributes_count`.
pub(super) fn write_record(w: &mut Writer, entry: &Entry<'_>, msg: &Message<'_>, origin: Origin) {
    let record = w.open(SCOPE_LOGS_LOG_RECORDS);
    if let Some(t) = msg.timestamp
        && let Ok(ns) = u64::try_from(t.instant.as_nanosecond())
    {
        w.fixed64(LOG_TIME_UNIX_NANO, ns);
    }
    w.uint(
        LOG_SEVERITY_NUMBER,
        u64::from(severity_number(msg.severity)),
    );
    match SEVERITY_NAMES.get(usize::from(msg.severity)) {
        Some(name) => w.bytes_field(LOG_SEVERITY_TEXT, name.as_bytes()),
        None => w.bytes_field(LOG_SEVERITY_TEXT, msg.severity.to_string().as_bytes()),
    }
    w.any_str(LOG_BODY, msg.message);

    match FACILITY_NAMES.get(usize::from(msg.facility)) {
        Some(name) => w.attr_str(LOG_ATTRIBUTES, "syslog.facility", name.as_bytes()),
        None => w.attr_str(
            LOG_ATTRIBUTES,
            "syslog.facility",
            msg.facility.to_string().as_bytes(),
        ),
    }
    for (key, value) in [
        ("syslog.hostname", msg.hostname),
        ("syslog.appname", msg.app_name),
        ("syslog.procid", msg.proc_id),
        ("syslog.msgid", msg.msg_id),
    ] {
        if let Some(v) = value {
            w.attr_str(LOG_ATTRIBUTES, key, v);
        }
    }
    // A seq above i64::MAX would take ~300 000 years at a million a second.
    w.attr_int("circolog.seq", entry.seq.get() as i64);
    w.attr_int("circolog.epoch", origin.epoch_us);
    if let Some(cred) = entry.cred {
        w.attr_int("circolog.cred_pid", i64::from(cred.pid));
        w.attr_int("circolog.cred_uid", i64::from(cred.uid));
        w.attr_int("circolog.cred_gid", i64::from(cred.gid));
    }
    if let Some(unit) = entry.unit {
        w.attr_str(LOG_ATTRIBUTES, "systemd.unit", unit);
    }
    if let Some(id) = origin.snapshot {
        w.attr_int("circolog.snapshot", id as i64);
    }
    let dropped = match msg.structured_data {
        Some(sd) => write_sd(w, sd),
        None => 0,
    };
    if dropped > 0 {
        w.uint(LOG_DROPPED_ATTRIBUTES_COUNT, dropped);
    }
    if let Some(ns) = entry.received_us.checked_mul(1000)
        && let Ok(ns) = u64::try_from(ns)
    {
        w.fixed64(LOG_OBSERVED_TIME_UNIX_NANO, ns);
    }
    w.close(record);
}

/// One parameter of the structured data, or an element without any
/// (`name: None`).
struct SdItem<'a> {
    id: &'a [u8],
    name: Option<&'a [u8]>,
    raw_value: &'a [u8],
    /// Position in the message: values of one key keep their order.
    pos: usize,
}

/// The structured data as `syslog.sd.ID.PARAM` attributes, in the order of
/// their keys (attributes are a map: their order means nothing); returns
/// how many were left out. The items only borrow the message, so the one
/// allocation here holds no message bytes.
fn write_sd(w: &mut Writer, sd: &[u8]) -> u64 {
    let mut items = Vec::new();
    let mut dropped = 0;
    for element in syslog::sd_elements(sd) {
        let mut params = 0;
        for param in element.params() {
            params += 1;
            if element.id.len() > SD_NAME_MAX || param.name.len() > SD_NAME_MAX {
                dropped += 1;
                continue;
            }
            let pos = items.len();
            items.push(SdItem {
                id: element.id,
                name: Some(param.name),
                raw_value: param.raw_value,
                pos,
            });
        }
        if params == 0 {
            if element.id.len() > SD_NAME_MAX {
                dropped += 1;
                continue;
            }
            let pos = items.len();
            items.push(SdItem {
                id: element.id,
                name: None,
                raw_value: b"",
                pos,
            });
        }
    }
    // Positions are unique: the unstable sort is deterministic and keeps
    // the values of one key in message order.
    items.sort_unstable_by(|a, b| (a.id, a.name, a.pos).cmp(&(b.id, b.name, b.pos)));
    let mut start = 0;
    while start < items.len() {
        let (id, name) = (items[start].id, items[start].name);
        let end = start
            + items[start..]
                .iter()
                .take_while(|it| (it.id, it.name) == (id, name))
                .count();
        // SD-IDs and names are printable ASCII (the parser checked them):
        // the key needs no replacement.
        let key_len = "syslog.sd.".len() + id.len() + name.map_or(0, |n| 1 + n.len());
        let write_key = |w: &mut Writer| {
            w.key(KV_KEY, LEN);
            w.varint(key_len as u64);
            w.put(b"syslog.sd.");
            w.put(id);
            if let Some(name) = name {
                w.put(b".");
                w.put(name);
            }
        };
        let single = end - start == 1 || name.is_none();
        let raw = items[start].raw_value;
        if single && !raw.contains(&b'\\') && std::str::from_utf8(raw).is_ok() {
            // Nothing to unescape or replace, the common case: every
            // length is known.
            let any = len_field_len(raw.len());
            w.key(LOG_ATTRIBUTES, LEN);
            w.varint((len_field_len(key_len) + len_field_len(any)) as u64);
            write_key(w);
            w.key(KV_VALUE, LEN);
            w.varint(any as u64);
            w.bytes_field(ANY_STRING, raw);
        } else {
            let kv = w.open(LOG_ATTRIBUTES);
            write_key(w);
            let any = w.open(KV_VALUE);
            if single {
                let v = w.open(ANY_STRING);
                w.put_sd_value(raw);
                w.close(v);
            } else {
                let array = w.open(ANY_ARRAY);
                for item in &items[start..end] {
                    let value = w.open(ARRAY_VALUES);
                    let v = w.open(ANY_STRING);
                    w.put_sd_value(item.raw_value);
                    w.close(v);
                    w.close(value);
                }
                w.close(array);
            }
            w.close(any);
            w.close(kv);
        }
        start = end;
    }
    dropped
}

/// The constant part of every request: the resource and the scope, each
/// already encoded as its field.
pub(super) struct Prefix {
    /// `ResourceLogs.resource`.
    resource: Vec<u8>,
    /// `ScopeLogs.scope`.
    scope: Vec<u8>,
}

impl Prefix {
    /// Resource attributes `host.name` = `host_name`, `service.name` =
    /// `circologd`; scope `circologd` and this version.
    pub(super) fn new(host_name: &str) -> Prefix {
        let mut w = Writer::new(host_name.len() + 256);
        let at = w.open(RESOURCE_LOGS_RESOURCE);
        w.attr_str(RESOURCE_ATTRIBUTES, "host.name", host_name.as_bytes());
        w.attr_str(RESOURCE_ATTRIBUTES, "service.name", SERVICE_NAME.as_bytes());
        w.close(at);
        let resource = w.bytes().to_vec();
        w.wipe();
        let at = w.open(SCOPE_LOGS_SCOPE);
        w.bytes_field(SCOPE_NAME, SERVICE_NAME.as_bytes());
        w.bytes_field(SCOPE_VERSION, env!("CARGO_PKG_VERSION").as_bytes());
        w.close(at);
        let scope = w.bytes().to_vec();
        Prefix { resource, scope }
    }

    fn scope_logs_len(&self, records_len: usize) -> usize {
        self.scope.len() + records_len
    }

    fn resource_logs_len(&self, records_len: usize) -> usize {
        let scope_logs = self.scope_logs_len(records_len);
        self.resource.len() + 1 + varint_len(scope_logs as u64) + scope_logs
    }

    /// Length of the whole `ExportLogsServiceRequest` around records that
    /// take `records_len` bytes.
    pub(super) fn body_len(&self, records_len: usize) -> usize {
        let resource_logs = self.resource_logs_len(records_len);
        1 + varint_len(resource_logs as u64) + resource_logs
    }

    /// Appends what comes before the records; the records follow it.
    pub(super) fn write(&self, records_len: usize, out: &mut Vec<u8>) {
        out.push((REQUEST_RESOURCE_LOGS << 3 | LEN) as u8);
        push_varint(out, self.resource_logs_len(records_len) as u64);
        out.extend_from_slice(&self.resource);
        out.push((RESOURCE_LOGS_SCOPE_LOGS << 3 | LEN) as u8);
        push_varint(out, self.scope_logs_len(records_len) as u64);
        out.extend_from_slice(&self.scope);
    }
}

/// A protobuf value as read: only what the responses need.
enum Value<'a> {
    Varint(u64),
    Len(&'a [u8]),
    /// A fixed32 or fixed64, skipped.
    Fixed,
}

/// The fields of a message, in order; stops at the first malformed one.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, Value<'a>);

    fn next(&mut self) -> Option<(u64, Value<'a>)> {
        let key = read_varint(&mut self.rest)?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(&mut self.rest)?),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                self.rest = self.rest.get(n..)?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(read_varint(&mut self.rest)?).ok()?;
                let (v, rest) = self.rest.split_at_checked(len)?;
                self.rest = rest;
                Value::Len(v)
            }
            _ => {
                self.rest = &[];
                return None;
            }
        };
        Some((key >> 3, value))
    }
}

fn read_varint(data: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *data = &data[i + 1..];
            return Some(v);
        }
    }
    None
}

/// The `partial_success` of an `ExportLogsServiceResponse`: how many
/// records the endpoint rejected and what it said, when it said anything.
pub(super) fn partial_success(body: &[u8]) -> Option<(u64, &[u8])> {
    let partial = Fields { rest: body }.find_map(|(f, v)| match v {
        Value::Len(p) if f == u64::from(RESPONSE_PARTIAL_SUCCESS) => Some(p),
        _ => None,
    })?;
    let mut rejected = 0;
    let mut message: &[u8] = b"";
    for (f, v) in (Fields { rest: partial }) {
        match v {
            Value::Varint(n) if f == u64::from(PARTIAL_REJECTED) => {
                // int64 on the wire; a negative count means nothing.
                rejected = i64::try_from(n).map_or(0, |n| n.max(0) as u64);
            }
            Value::Len(m) if f == u64::from(PARTIAL_ERROR_MESSAGE) => message = m,
            _ => {}
        }
    }
    (rejected > 0 || !message.is_empty()).then_some((rejected, message))
}

/// The `message` of a `google.rpc.Status`, the body OTLP/HTTP gives with
/// an error status.
pub(super) fn status_message(body: &[u8]) -> Option<&[u8]> {
    Fields { rest: body }
        .find_map(|(f, v)| match v {
            Value::Len(m) if f == u64::from(STATUS_MESSAGE) => Some(m),
            _ => None,
        })
        .filter(|m| !m.is_empty())
}
