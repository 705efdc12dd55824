//! Any bytes, parsed as a stored message: no panic, every field borrowed
//! from the input, and each rendering well formed (one line; JSON that
//! parses and says what the message holds; a syslog line that parses back
//! as RFC 5424 with the same header fields and structured data); and the
//! index ingestion stores reads the fields this parse gives, whatever the
//! receive time and zone.
#![no_main]

use std::sync::OnceLock;

use circolog::query::format::render;
use circolog::query::OutputFormat;
use circolog::store::ring::{Cred, Entry, Seq, Transport};
use circolog::ingest::syslog::{self, Format, Message, ParseContext};
use circolog_fuzz::within;
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const EPOCH_US: i64 = 1_750_000_000_000_000;

/// Receive times and zones that stress the RFC 3164 year and zone rules: a
/// summer day, New Year in a zone with DST, a clock that was never set, and
/// the day after a leap day.
fn contexts() -> &'static [(Timestamp, ParseContext)] {
    static CONTEXTS: OnceLock<Vec<(Timestamp, ParseContext)>> = OnceLock::new();
    CONTEXTS.get_or_init(|| {
        let zone = |name: &str, hours: i8| {
            TimeZone::get(name).unwrap_or_else(|_| TimeZone::fixed(Offset::constant(hours)))
        };
        let at = |s: &str| s.parse::<Timestamp>().expect("a valid timestamp");
        vec![
            (
                at("2025-06-15T12:00:00Z"),
                ParseContext { tz: TimeZone::UTC },
            ),
            (
                at("2025-12-31T23:30:00Z"),
                ParseContext {
                    tz: zone("Europe/Rome", 1),
                },
            ),
            (
                at("1970-01-01T00:00:00Z"),
                ParseContext {
                    tz: TimeZone::fixed(Offset::constant(-5)),
                },
            ),
            (
                at("2025-03-01T00:00:00Z"),
                ParseContext {
                    tz: zone("America/Los_Angeles", -8),
                },
            ),
        ]
    })
}

fuzz_target!(|raw: &[u8]| {
    for (received, ctx) in contexts() {
        check(raw, *received, ctx);
    }
});

fn check(raw: &[u8], received: Timestamp, ctx: &ParseContext) {
    let msg = syslog::parse(raw, received, ctx);
    assert!(msg.facility < 24 && msg.severity < 8, "{msg:?}");
    for field in fields(&msg).into_iter().flatten().chain([msg.message]) {
        assert!(
            within(raw, field),
            "a field is not part of the input: {msg:?}"
        );
    }
    let (fields, index) = syslog::index(raw, received, ctx);
    assert_eq!(
        fields,
        syslog::Fields::from(&msg),
        "ingest sees the reader's fields"
    );
    assert_eq!(syslog::fields(raw), fields, "the fields depend on no time or zone");
    if let Some(ix) = index {
        let back = syslog::Index::decode(&ix.encode()).expect("an index decodes");
        assert_eq!(back, ix, "an index decodes as it was");
        assert_eq!(back.fields(raw), fields, "the index reads the fields");
        assert_eq!(
            back.message(raw, received, ctx),
            msg,
            "a message read from its index is its parse"
        );
    } else {
        // Only messages whose spans do not fit go without one.
        let long = |f: Option<&[u8]>| f.is_some_and(|f| f.len() > 255);
        assert!(
            raw.len() > 0xfffe || long(msg.hostname) || long(msg.app_name),
            "no index for {msg:?}"
        );
    }
    if msg.malformed() {
        assert_eq!(msg.message, raw, "a malformed message is stored whole");
        assert_eq!(
            (msg.facility, msg.severity),
            (1, 5),
            "malformed is user.notice"
        );
    }
    if let Some(sd) = msg.structured_data {
        assert!(within(raw, sd));
        let mut value = Vec::new();
        for element in syslog::sd_elements(sd) {
            assert!(within(sd, element.id));
            for param in element.params() {
                assert!(within(sd, param.name) && within(sd, param.raw_value));
                value.clear();
                syslog::unescape_sd_value(param.raw_value, &mut value);
                assert!(value.len() <= param.raw_value.len());
            }
        }
    }

    let entry = Entry {
        seq: Seq::new(42),
        received_us: received.as_microsecond(),
        transport: Transport::Unix,
        cred: Some(Cred {
            pid: 1,
            uid: 2,
            gid: 3,
        }),
        unit: None,
        truncated: false,
        index,
        raw,
    };

    let mut out = Vec::new();
    render(OutputFormat::Raw, &entry, &msg, EPOCH_US, &mut out);
    assert_eq!(out.strip_suffix(b"\n"), Some(raw));

    out.clear();
    render(OutputFormat::Json, &entry, &msg, EPOCH_US, &mut out);
    let json = check_json(&out, &msg);

    out.clear();
    render(OutputFormat::Syslog, &entry, &msg, EPOCH_US, &mut out);
    let line = one_line(&out);
    check_reparse(line, received, ctx, &msg, &entry, &json);
}

fn fields<'a>(msg: &Message<'a>) -> [Option<&'a [u8]>; 5] {
    [
        msg.hostname,
        msg.app_name,
        msg.proc_id,
        msg.msg_id,
        msg.structured_data,
    ]
}

/// The line without its `\n`, checking there is exactly one, at the end.
fn one_line(out: &[u8]) -> &[u8] {
    let line = out.strip_suffix(b"\n").expect("a line ends with \\n");
    assert!(
        !line.contains(&b'\n'),
        "one message, one line: {:?}",
        String::from_utf8_lossy(out)
    );
    line
}

fn check_json(out: &[u8], msg: &Message<'_>) -> Value {
    let line = one_line(out);
    let json: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
        panic!(
            "JSON that does not parse ({e}): {}",
            String::from_utf8_lossy(line)
        )
    });
    let text = |b: Option<&[u8]>| match b {
        Some(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        None => Value::Null,
    };
    assert_eq!(json["message"], text(Some(msg.message)));
    assert_eq!(json["hostname"], text(msg.hostname));
    assert_eq!(json["app_name"], text(msg.app_name));
    assert_eq!(json["proc_id"], text(msg.proc_id));
    assert_eq!(json["msg_id"], text(msg.msg_id));
    assert_eq!(
        json["facility"],
        syslog::FACILITY_NAMES[usize::from(msg.facility)]
    );
    assert_eq!(
        json["severity"],
        syslog::SEVERITY_NAMES[usize::from(msg.severity)]
    );
    assert_eq!(
        json["malformed"].as_bool().unwrap_or(false),
        msg.malformed()
    );
    assert_eq!(json["timestamp"].is_null(), msg.timestamp.is_none());
    assert!(json["structured_data"].is_null() || json["structured_data"].is_object());
    json
}

/// The `fmt=syslog` line is RFC 5424: parsed again, it says the same.
fn check_reparse(
    line: &[u8],
    received: Timestamp,
    ctx: &ParseContext,
    msg: &Message<'_>,
    entry: &Entry<'_>,
    json: &Value,
) {
    let again = syslog::parse(line, received, ctx);
    let shown = || String::from_utf8_lossy(line).into_owned();
    assert_eq!(again.format, Format::Rfc5424, "{}", shown());
    assert_eq!(
        (again.facility, again.severity),
        (msg.facility, msg.severity),
        "{}",
        shown()
    );
    if msg.malformed() {
        return;
    }
    let header = [msg.hostname, msg.app_name, msg.proc_id, msg.msg_id];
    let header_again = [again.hostname, again.app_name, again.proc_id, again.msg_id];
    for (was, is) in header.iter().zip(header_again) {
        let expected: Option<Vec<u8>> = match was {
            None => None,
            Some(b) if b.is_empty() || *b == b"-" => None,
            Some(b) => Some(
                b.iter()
                    .map(|&c| if (33..=126).contains(&c) { c } else { b'_' })
                    .collect(),
            ),
        };
        assert_eq!(is.map(<[u8]>::to_vec), expected, "{}", shown());
    }
    let when = msg.timestamp.map_or(received, |t| t.instant);
    let when_again = again
        .timestamp
        .expect("a rendered line has a timestamp")
        .instant;
    assert_eq!(
        when_again.as_microsecond(),
        when.as_microsecond(),
        "{}",
        shown()
    );
    // Values escaped again by the renderer unescape to the same JSON (but
    // control characters are written escaped, on purpose, and come back as
    // their escapes).
    if !msg.structured_data.is_some_and(sd_has_control) {
        let mut out = Vec::new();
        render(OutputFormat::Json, entry, &again, EPOCH_US, &mut out);
        let json_again: Value = serde_json::from_slice(one_line(&out)).expect("JSON");
        assert_eq!(
            json_again["structured_data"],
            json["structured_data"],
            "{}",
            shown()
        );
    }
    let plain = !msg.message.iter().copied().any(is_control)
        && !msg.message.starts_with("\u{feff}".as_bytes());
    if plain {
        assert_eq!(again.message, msg.message, "{}", shown());
    }
}

/// Bytes that `fmt=syslog` may write escaped: C0 (tab included), DEL, and
/// C1, which it escapes as a lone byte and as UTF-8 (whose second byte is
/// then 0x80..=0x9f). A continuation byte of another character can be in
/// that range too: such a message is simply not checked for a round trip.
fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f || (0x80..=0x9f).contains(&b)
}

fn sd_has_control(sd: &[u8]) -> bool {
    let mut value = Vec::new();
    syslog::sd_elements(sd).any(|element| {
        element.params().any(|param| {
            value.clear();
            syslog::unescape_sd_value(param.raw_value, &mut value);
            value.iter().copied().any(is_control)
        })
    })
}
