//! Query strings: any text parses or is refused with a one-line reason, and
//! any value encoded with `encode_component` comes back as itself.
#![no_main]

use circolog::query::{Query, encode_component};
use circolog::syslog::{Format, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Query::parse(&text) {
        Ok(query) => {
            let _ = query.filter.matches(&message(b"x", Some(b"h"), None));
            let _ = query.filter.matches_all();
        }
        Err(e) => {
            let reason = e.to_string();
            assert!(!reason.contains(['\n', '\r']), "{reason:?}");
            // A short line whatever was sent: values are echoed cut to 64
            // characters, each escaped in at most 10 bytes (`\u{10ffff}`).
            assert!(reason.len() <= 1024, "a reason of {} bytes", reason.len());
        }
    }

    let value = text.as_bytes();
    let enc = encode_component(&text);
    let grep = Query::parse(&format!("grep={enc}")).expect("any grep value");
    assert!(grep.filter.matches(&message(value, None, None)));
    if !value.is_empty() {
        assert!(!grep.filter.matches(&message(b"", None, None)));
    }
    if !value.is_empty() && value != b"-" {
        let q = Query::parse(&format!("host={enc}&app={enc}")).expect("any name");
        assert!(q.filter.matches(&message(b"", Some(value), Some(value))));
        assert!(!q.filter.matches(&message(b"", None, Some(value))));
        assert!(!q.filter.matches(&message(b"", Some(value), None)));
    }
});

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
