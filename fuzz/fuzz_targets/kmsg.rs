//! A `/dev/kmsg` record, as one `read(2)` returns it: parsed without
//! panicking, and, when it is one, written as a line that fits the
//! reader's buffer and that the syslog parser reads as RFC 5424 with app
//! `kernel` and the record's facility and severity.
//!
//! Input: the record (at most `RECORD_MAX` bytes are used, as a read
//! returns at most that many).
#![no_main]

use circolog::ingest::kmsg::{self, LINE_MAX, RECORD_MAX};
use circolog::ingest::syslog::{self, Format, ParseContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let record = &data[..data.len().min(RECORD_MAX)];
    let Some(r) = kmsg::parse(record) else {
        return;
    };
    let mut line = Vec::with_capacity(LINE_MAX);
    kmsg::write_line(&mut line, &r, 1_765_000_000_000_000, b"host");
    assert!(line.len() <= LINE_MAX, "a line of {} bytes", line.len());
    assert_eq!(line.capacity(), LINE_MAX, "the line buffer grew");
    let ctx = ParseContext {
        tz: jiff::tz::TimeZone::UTC,
    };
    let m = syslog::parse(&line, jiff::Timestamp::UNIX_EPOCH, &ctx);
    // A message that has a line break of its own is still one message.
    assert_eq!(m.format, Format::Rfc5424, "{:?}", String::from_utf8_lossy(&line));
    assert_eq!(m.pri(), r.pri);
    assert_eq!(m.app_name, Some(&b"kernel"[..]));
});
