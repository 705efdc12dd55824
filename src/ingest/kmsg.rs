//! The kernel's log buffer, `/dev/kmsg`, as an input (`-kmsg`), as
//! BusyBox's klogd, OpenWrt's logd and rsyslog's imklog read it: journald
//! does not forward kernel messages to syslog, so on a host where it is the
//! main logger this is the only way they reach the ring.
//!
//! Each `read(2)` of `/dev/kmsg` returns one whole record (a buffer too
//! small for it is `EINVAL`, so the reader's is [`RECORD_MAX`]):
//!
//! ```text
//! PRI,SEQ,TS_USEC,FLAGS[,MORE…];MESSAGE\n
//!  KEY=VALUE\n          (continuation lines, zero or more)
//! ```
//!
//! PRI is the facility and severity as syslog's (the kernel makes a user
//! space writer's facility 0 into `user`), SEQ the record's number in the
//! buffer, TS_USEC the time since boot on the monotonic clock. [`parse`]
//! reads one record without copying; [`write_line`] turns it into the RFC
//! 5424 line the ring stores, so that every reader (filters, formats,
//! triggers, the exporter) takes it like any other message: app `kernel`,
//! this host's name, the record's own time, and the continuation lines as
//! the structured-data element `kmsg` (`[kmsg SUBSYSTEM="pci"
//! DEVICE="+pci:0000:00:1f.0"]`), kept with their record.
//!
//! A reader that the kernel laps (its next record was overwritten) gets
//! `EPIPE` once, then the oldest record still there: [`Sequence`] counts
//! the records lost from the gap in SEQ.
//!
//! Nothing here allocates: the line goes into the caller's buffer, which
//! never needs more than [`LINE_MAX`] bytes for a record of at most
//! [`RECORD_MAX`].

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;

/// The reader's buffer: longer than any record the kernel writes (its
/// limit is about 1 KiB of text and as much of continuation lines).
pub const RECORD_MAX: usize = 8192;

/// The longest line [`write_line`] writes for a record of at most
/// [`RECORD_MAX`] bytes: the header, and the record's bytes with every one
/// of them escaped (doubled) at worst.
pub const LINE_MAX: usize = 2 * RECORD_MAX + HEADER_MAX;

/// `<191>1 ` + a timestamp + a host name (255 at most) + ` kernel - - ` +
/// `[kmsg]` and a space, with room to spare.
const HEADER_MAX: usize = 512;

/// The longest host name written; a longer one is written as `-`.
const HOST_MAX: usize = 255;

/// The structured-data id of the continuation lines.
pub const SD_ID: &str = "kmsg";

/// The app name of every kernel record.
pub const APP: &str = "kernel";

/// One record of `/dev/kmsg`, borrowed from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Facility and severity, as a syslog PRI (at most 191: a facility the
    /// kernel allows past 23 is taken as `user`).
    pub pri: u8,
    /// The record's number in the kernel's buffer.
    pub seq: u64,
    /// When it was logged, µs since boot on the monotonic clock.
    pub monotonic_us: u64,
    /// The text, without its line ending.
    pub message: &'a [u8],
    /// The continuation lines (` KEY=VALUE\n` each), as read; empty when
    /// there are none.
    pub dict: &'a [u8],
}

/// `1`: the facility the kernel gives a record whose own is out of range.
const USER: u8 = 1;

/// Reads one record; `None` when it is not in the kernel's format (no
/// `;`, or a PRI, SEQ or TS_USEC that is not a number).
pub fn parse(record: &[u8]) -> Option<Record<'_>> {
    let semi = memchr::memchr(b';', record)?;
    let mut fields = record[..semi].split(|&b| b == b',');
    let pri = number(fields.next()?)?;
    let seq = number(fields.next()?)?;
    let monotonic_us = number(fields.next()?)?;
    // FLAGS (`-`, `c`, `+`) and any later field (`caller=T1`) say nothing
    // the line keeps.
    let body = &record[semi + 1..];
    let (message, dict) = match memchr::memchr(b'\n', body) {
        Some(nl) => (&body[..nl], &body[nl + 1..]),
        None => (body, &body[body.len()..]),
    };
    let severity = (pri & 7) as u8;
    let facility = match pri >> 3 {
        f @ 0..=23 => f as u8,
        _ => USER,
    };
    Some(Record {
        pri: facility << 3 | severity,
        seq,
        monotonic_us,
        message,
        dict,
    })
}

/// A decimal number that fits a `u64`.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The continuation lines' `KEY=VALUE` pairs, in order. A line that is
/// not one (no `=`, a key that is not an SD-NAME of at most 32 bytes) is
/// left out.
pub fn pairs<'a>(dict: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    dict.split(|&b| b == b'\n').filter_map(|line| {
        let line = line.strip_prefix(b" ").unwrap_or(line);
        let eq = memchr::memchr(b'=', line)?;
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        let name = !key.is_empty()
            && key.len() <= 32
            && key
                .iter()
                .all(|&b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'));
        name.then_some((key, value))
    })
}

/// RFC 3339 with exactly six fractional digits, as the daemon's other lines.
const PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(6));

/// Appends `record` as one RFC 5424 line, without a line ending:
/// `<PRI>1 TIME HOST kernel - - SD MESSAGE`, where TIME is `boot_us` (the
/// wall-clock time of boot, µs since 1970) plus the record's monotonic
/// stamp, HOST is `host` (`-` when empty, longer than 255 bytes or not
/// printable ASCII) and SD is `-` or the `kmsg` element of the continuation
/// lines. Writes at most `HEADER_MAX` bytes more than twice the record's, so
/// that a buffer of [`LINE_MAX`] never grows for a record read whole.
pub fn write_line(out: &mut Vec<u8>, record: &Record<'_>, boot_us: i64, host: &[u8]) {
    use std::io::Write as _;
    let mut n = itoa::Buffer::new();
    out.push(b'<');
    out.extend_from_slice(n.format(record.pri).as_bytes());
    out.extend_from_slice(b">1 ");
    let us = i64::try_from(record.monotonic_us)
        .unwrap_or(i64::MAX)
        .saturating_add(boot_us);
    match Timestamp::from_microsecond(us) {
        // Printing to a Vec cannot fail.
        Ok(t) => {
            let _ = PRINTER.print_timestamp(&t, &mut *out);
        }
        Err(_) => out.push(b'-'),
    }
    out.push(b' ');
    let host_ok =
        !host.is_empty() && host.len() <= HOST_MAX && host.iter().all(|&b| (33..=126).contains(&b));
    out.extend_from_slice(if host_ok { host } else { b"-" });
    let _ = write!(out, " {APP} - - ");
    let mut sd = false;
    for (key, value) in pairs(record.dict) {
        if !sd {
            out.push(b'[');
            out.extend_from_slice(SD_ID.as_bytes());
            sd = true;
        }
        out.push(b' ');
        out.extend_from_slice(key);
        out.extend_from_slice(b"=\"");
        for &b in value {
            if matches!(b, b'"' | b'\\' | b']') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(if sd { b']' } else { b'-' });
    if !record.message.is_empty() {
        out.push(b' ');
        out.extend_from_slice(record.message);
    }
}

/// The records lost to the kernel lapping the reader, from the gaps in
/// their SEQ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sequence {
    /// The SEQ the next record should have (`None` before the first).
    next: Option<u64>,
    lost: u64,
}

impl Sequence {
    /// Notes a record read; returns how many records before it were lost
    /// (overwritten before they were read). The first record read is where
    /// reading starts: nothing before it counts as lost, nor does a SEQ
    /// that goes back (the buffer is not the same one).
    pub fn record(&mut self, seq: u64) -> u64 {
        let gap = match self.next {
            Some(next) if seq > next => seq - next,
            _ => 0,
        };
        self.lost = self.lost.saturating_add(gap);
        self.next = Some(seq.saturating_add(1));
        gap
    }

    /// Reading goes on after the record `seq`, which a previous process
    /// read: a gap after it is records lost meanwhile.
    pub fn resume_after(&mut self, seq: u64) {
        self.next = Some(seq.saturating_add(1));
    }

    /// Records lost since reading began.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::syslog::{self, Format, ParseContext};
    use proptest::prelude::*;

    const BOOT: i64 = 1_765_000_000_000_000;

    fn line(record: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(LINE_MAX);
        write_line(&mut out, &parse(record).expect("a record"), BOOT, b"web01");
        out
    }

    fn utc() -> ParseContext {
        ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    #[test]
    fn reads_a_record_and_its_continuation_lines() {
        let raw = b"6,339,5140900,-;NET: Registered PF_INET6 protocol family\n SUBSYSTEM=net\n DEVICE=+net:lo\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.pri, 6);
        assert_eq!(r.seq, 339);
        assert_eq!(r.monotonic_us, 5_140_900);
        assert_eq!(r.message, b"NET: Registered PF_INET6 protocol family");
        let pairs: Vec<_> = pairs(r.dict).collect();
        assert_eq!(
            pairs,
            [
                (&b"SUBSYSTEM"[..], &b"net"[..]),
                (&b"DEVICE"[..], &b"+net:lo"[..])
            ]
        );
    }

    #[test]
    fn later_fields_and_flags_are_skipped() {
        let r = parse(b"4,12,77,c,caller=T42;text").unwrap();
        assert_eq!((r.pri, r.seq, r.monotonic_us), (4, 12, 77));
        assert_eq!(r.message, b"text");
        assert!(r.dict.is_empty());
    }

    #[test]
    fn a_user_space_record_keeps_its_facility_and_an_odd_one_is_user() {
        // `echo '<3>x' > /dev/kmsg`: the kernel makes facility 0 `user`.
        assert_eq!(parse(b"11,1,2,-;x").unwrap().pri, 11);
        // A facility past 23 (the kernel allows up to 127).
        assert_eq!(parse(b"1019,1,2,-;x").unwrap().pri, 8 | 3);
    }

    #[test]
    fn what_is_not_a_record_is_none() {
        for bad in [
            &b""[..],
            b"no semicolon",
            b"6,1;short",
            b"x,1,2,-;a",
            b"6,,2,-;a",
            b"6,1,99999999999999999999,-;a",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_line_is_rfc5424_with_the_records_own_time() {
        let out = line(b"3,7,2500000,-;usb 1-1: device descriptor read/64, error -71\n");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "<3>1 2025-12-06T05:46:42.500000Z web01 kernel - - - \
             usb 1-1: device descriptor read/64, error -71"
        );
        let m = syslog::parse(&out, Timestamp::now(), &utc());
        assert_eq!(m.format, Format::Rfc5424);
        assert_eq!((m.facility, m.severity), (0, 3));
        assert_eq!(m.app_name, Some(&b"kernel"[..]));
        assert_eq!(m.hostname, Some(&b"web01"[..]));
        assert_eq!(
            m.timestamp.unwrap().instant.as_microsecond(),
            BOOT + 2_500_000
        );
    }

    #[test]
    fn continuation_lines_become_the_kmsg_element_escaped() {
        let out = line(b"6,1,2,-;hello\n SUBSYSTEM=pci\n ODD=a\"b]c\\d\n not a pair\n");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.ends_with(r#" kernel - - [kmsg SUBSYSTEM="pci" ODD="a\"b\]c\\d"] hello"#),
            "{text}"
        );
        let m = syslog::parse(&out, Timestamp::now(), &utc());
        assert_eq!(m.format, Format::Rfc5424);
        assert_eq!(m.message, b"hello");
        let sd = syslog::sd_elements(m.structured_data.unwrap())
            .next()
            .unwrap();
        assert_eq!(sd.id, b"kmsg");
    }

    #[test]
    fn an_empty_message_and_a_bad_host() {
        let mut out = Vec::new();
        write_line(&mut out, &parse(b"6,1,0,-;").unwrap(), 0, b"bad host");
        assert_eq!(out, b"<6>1 1970-01-01T00:00:00.000000Z - kernel - - -");
    }

    #[test]
    fn gaps_in_seq_are_counted_as_lost() {
        let mut s = Sequence::default();
        assert_eq!(s.record(100), 0, "where reading starts");
        assert_eq!(s.record(101), 0);
        assert_eq!(s.record(150), 48);
        assert_eq!(s.record(151), 0);
        assert_eq!(s.record(3), 0, "a buffer that went back");
        assert_eq!(s.record(5), 1);
        assert_eq!(s.lost(), 49);
    }

    #[test]
    fn after_a_restart_the_gap_from_the_last_record_read_is_lost() {
        let mut s = Sequence::default();
        s.resume_after(99);
        assert_eq!(s.record(100), 0, "the next one");
        let mut s = Sequence::default();
        s.resume_after(99);
        assert_eq!(s.record(130), 30, "overwritten while restarting");
        assert_eq!(s.lost(), 30);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic_and_fit_the_line(
            bytes in proptest::collection::vec(any::<u8>(), 0..RECORD_MAX),
            host in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Some(r) = parse(&bytes) {
                let mut out = Vec::with_capacity(LINE_MAX);
                write_line(&mut out, &r, BOOT, &host);
                prop_assert!(out.len() <= LINE_MAX);
                prop_assert_eq!(out.capacity(), LINE_MAX, "the buffer never grows");
            }
        }

        #[test]
        fn a_wellformed_record_reads_back_through_the_syslog_parser(
            pri in 0u32..192,
            seq in any::<u64>(),
            ts in 0u64..1u64 << 40,
            message in "[ -~]{0,200}",
            values in proptest::collection::vec("[ -~]{0,40}", 0..4),
        ) {
            let mut raw = format!("{pri},{seq},{ts},-;{message}\n").into_bytes();
            for (i, v) in values.iter().enumerate() {
                raw.extend_from_slice(format!(" K{i}={v}\n").as_bytes());
            }
            let r = parse(&raw).unwrap();
            prop_assert_eq!(r.seq, seq);
            let mut out = Vec::new();
            write_line(&mut out, &r, BOOT, b"host");
            let m = syslog::parse(&out, Timestamp::now(), &utc());
            prop_assert_eq!(m.format, Format::Rfc5424);
            prop_assert_eq!(u32::from(m.facility) * 8 + u32::from(m.severity), pri);
            prop_assert_eq!(m.app_name, Some(&b"kernel"[..]));
            prop_assert_eq!(m.message, message.as_bytes());
            let got: Vec<Vec<u8>> = match m.structured_data {
                None => Vec::new(),
                Some(sd) => syslog::sd_elements(sd)
                    .flat_map(|e| e.params().collect::<Vec<_>>())
                    .map(|p| {
                        let mut v = Vec::new();
                        syslog::unescape_sd_value(p.raw_value, &mut v);
                        v
                    })
                    .collect(),
            };
            let want: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
