//! Query strings: any text parses at any time or is refused with a one-line
//! reason; a parsed query is equal to itself parsed again and selects only
//! messages in its time range; and any value encoded with
//! `encode_component` comes back as itself, in `grep`, `not`, `re`, lists
//! of names and times.
//!
//! An input is `NOW\nQUERY` (NOW: µs since 1970, the time ages count back
//! from), or just `QUERY` at NOW = 0.
#![no_main]

use std::sync::OnceLock;

use circolog::query::{Query, encode_component};
use circolog::store::ring::Seq;
use circolog::ingest::syslog::{self, Format, Message, ParseContext};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;

/// A few stored messages, as the parser reads them.
const STORED: [&[u8]; 5] = [
    b"<34>1 2026-12-01T05:00:00.5+01:00 web1 sshd 812 ID47 [a b=\"c\"] Failed password",
    b"<13>Dec  1 05:00:01 cron[1]: job done",
    b"<191>1 - - - - - - \xff\xfe disk full",
    b"<0>Dec  1 05:00:02 db kernel: Oops",
    b"plain text without a header",
];

fn stored() -> &'static [Message<'static>] {
    static MESSAGES: OnceLock<Vec<Message<'static>>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let received = Timestamp::from_second(1_796_101_200).expect("a valid time");
        let ctx = ParseContext { tz: TimeZone::UTC };
        STORED
            .iter()
            .map(|raw| syslog::parse(raw, received, &ctx))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (now, text) = match text.split_once('\n') {
        Some((n, rest)) => match n.parse::<i64>() {
            Ok(now) => (now, rest),
            Err(_) => (0, &*text),
        },
        None => (0, &*text),
    };
    any_query(text, now);
    encoded_values(text, now);
});

fn any_query(text: &str, now: i64) {
    match Query::parse(text, now) {
        Ok(query) => {
            assert_eq!(Query::parse(text, now).as_ref(), Ok(&query));
            assert!(query.share_key() == query.clone().share_key());
            // The seq after since exists: no wrap to 0.
            assert_eq!(
                query.first_seq(),
                query.since().map_or(Seq::ZERO, |s| Seq::new(s.get() + 1))
            );
            let range = query.received();
            for msg in stored() {
                for t in [i64::MIN, now, now.wrapping_sub(1), 0, i64::MAX] {
                    let m = query.filter.matches(t, msg);
                    assert!(!m || range.contains(t), "{t} outside {range:?}");
                    if query.filter.matches_all() {
                        assert!(m);
                    }
                }
            }
        }
        Err(e) => {
            let reason = e.to_string();
            assert!(!reason.contains(['\n', '\r']), "{reason:?}");
            // A short line whatever was sent: values are echoed cut to 64
            // characters, each escaped in at most 10 bytes (`\u{10ffff}`).
            assert!(reason.len() <= 1024, "a reason of {} bytes", reason.len());
        }
    }
}

fn encoded_values(text: &str, now: i64) {
    let value = text.as_bytes();
    let enc = encode_component(text);

    let grep = Query::parse(&format!("grep={enc}"), now).expect("any grep value");
    assert!(grep.filter.matches(now, &message(value, None, None)));
    let not = Query::parse(&format!("not={enc}"), now).expect("any not value");
    assert!(!not.filter.matches(now, &message(value, None, None)));
    if !value.is_empty() {
        assert!(!grep.filter.matches(now, &message(b"", None, None)));
        assert!(not.filter.matches(now, &message(b"", None, None)));
    }

    // The text as a literal pattern matches itself. Short texts only:
    // compiling a long one costs the fuzzer most of its time, and a long
    // one may be too big to compile.
    if text.len() <= 256 {
        let pattern = encode_component(&escape(text));
        let re = Query::parse(&format!("re={pattern}"), now).expect("a literal pattern");
        assert!(re.filter.matches(now, &message(value, None, None)));
    }

    names(text, &enc, now);

    // Any time jiff can write comes back to the µs.
    if let Ok(t) = Timestamp::from_microsecond(now) {
        let q = Query::parse(&format!("from={}", encode_component(&t.to_string())), 0)
            .expect("a time written by jiff");
        assert_eq!(q.received().from_us, Some(now));
    }
    let secs = value.len() as i64 * 7919;
    let age = Query::parse(&format!("until={secs}s"), now);
    match secs
        .checked_mul(1_000_000)
        .and_then(|us| now.checked_sub(us))
    {
        Some(until) => assert_eq!(age.map(|q| q.received().until_us), Ok(Some(until))),
        None => assert!(age.is_err()),
    }
}

/// `host=` and `app=` with the text as a list: each item is selected, and
/// with `!` none is.
fn names(text: &str, enc: &str, now: i64) {
    let items: Vec<&str> = text.split(',').collect();
    let q = Query::parse(&format!("host={enc}&app={enc}"), now);
    let neg = Query::parse(&format!("host=!{enc}&app=!{enc}"), now);
    if text.starts_with('!') {
        // A leading `!` negates: no name starts with it.
        return;
    }
    if items.iter().any(|i| i.is_empty()) {
        assert!(q.is_err() && neg.is_err(), "{text:?}");
        return;
    }
    let (q, neg) = (q.expect("a list of names"), neg.expect("a negated list"));
    for item in &items {
        let field = (*item != "-").then_some(item.as_bytes());
        let m = message(b"", field, field);
        assert!(q.filter.matches(now, &m), "{item:?} in {text:?}");
        assert!(!neg.filter.matches(now, &m), "{item:?} in !{text:?}");
        // Both fields are needed.
        if let Some(f) = field
            && !items.contains(&"\u{1}")
        {
            assert!(!q.filter.matches(now, &message(b"", Some(f), Some(b"\x01"))));
        }
    }
    // A name that is no item: the other way round.
    let other = [text.as_bytes(), b"\x01"].concat();
    let m = message(b"", Some(&other), Some(&other));
    assert!(!q.filter.matches(now, &m));
    assert!(neg.filter.matches(now, &m));
}

/// `text` as a regular expression that matches exactly it.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn message<'a>(text: &'a [u8], host: Option<&'a [u8]>, app: Option<&'a [u8]>) -> Message<'a> {
    Message {
        facility: 1,
        severity: 5,
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
