//! The index of a stored message: what filters test, written beside the
//! message's bytes at ingest from the one parse ingestion does, so that a
//! reader filters without parsing again.
//!
//! An index is spans of the stored bytes, not copies: the hostname, the
//! app-name, where MSG starts (it runs to the end), and the facility,
//! severity and format. It takes [`Index::LEN`] bytes in the message's own
//! header. A message whose spans do not fit it (a message longer than 64 KiB,
//! a hostname or app-name over 255 bytes) has none, and its readers parse it
//! as before.
//!
//! The fields a parse yields do not depend on the receive time or the
//! `-tz` zone (only the timestamp does), so the index is the same whenever
//! the message is parsed, and a filter reads the same answer from either.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Format, Message, ParseContext, parse};

/// The fields of a message a filter tests, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    pub facility: u8,
    pub severity: u8,
    pub hostname: Option<&'a [u8]>,
    pub app_name: Option<&'a [u8]>,
    pub message: &'a [u8],
    pub format: Format,
}

impl<'a> From<&Message<'a>> for Fields<'a> {
    fn from(m: &Message<'a>) -> Fields<'a> {
        Fields {
            facility: m.facility,
            severity: m.severity,
            hostname: m.hostname,
            app_name: m.app_name,
            message: m.message,
            format: m.format,
        }
    }
}

/// The fields of `raw` and its index, as ingestion finds them: parsed in
/// UTC as if received at the epoch, which changes only the timestamp, and
/// that is not looked at (see the module documentation).
pub fn index(raw: &[u8]) -> (Fields<'_>, Option<Index>) {
    let ctx = ParseContext { tz: TimeZone::UTC };
    let msg = parse(raw, Timestamp::UNIX_EPOCH, &ctx);
    (Fields::from(&msg), Index::of(raw, &msg))
}

/// A span of at most 255 bytes that starts within the first 64 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u16,
    len: u8,
}

/// See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index {
    pri: u8,
    format: Format,
    hostname: Option<Span>,
    app_name: Option<Span>,
    /// MSG is `raw[message..]`.
    message: u16,
}

/// A span's start when there is no field (no span starts there: its
/// field would end past 64 KiB, and such messages have no index).
const NONE: u16 = u16::MAX;

impl Index {
    /// Bytes of an encoded index.
    pub const LEN: usize = 10;

    /// The index of `msg`, parsed from `raw`; `None` when a span does not
    /// fit, or a field is not a part of `raw` where the index expects it.
    pub fn of(raw: &[u8], msg: &Message<'_>) -> Option<Index> {
        let base = raw.as_ptr() as usize;
        // Where `field` lies in `raw`, by address: every field a parse
        // yields borrows from the bytes it was given.
        let offset = |field: &[u8]| -> Option<usize> {
            let at = (field.as_ptr() as usize).checked_sub(base)?;
            (at.checked_add(field.len())? <= raw.len()).then_some(at)
        };
        let span = |field: Option<&[u8]>| -> Option<Option<Span>> {
            let Some(f) = field else {
                return Some(None);
            };
            let start = u16::try_from(offset(f)?).ok().filter(|&s| s != NONE)?;
            let len = u8::try_from(f.len()).ok()?;
            Some(Some(Span { start, len }))
        };
        let message = offset(msg.message)?;
        if message + msg.message.len() != raw.len() || msg.facility > 23 || msg.severity > 7 {
            return None;
        }
        Some(Index {
            pri: msg.pri(),
            format: msg.format,
            hostname: span(msg.hostname)?,
            app_name: span(msg.app_name)?,
            message: u16::try_from(message).ok()?,
        })
    }

    /// The fields of the message `raw` this indexes.
    ///
    /// The spans were checked against the bytes when the index was made; a
    /// span that is not in `raw` (which only a caller that pairs an index
    /// with other bytes can cause) reads as empty rather than panicking.
    pub fn fields<'a>(&self, raw: &'a [u8]) -> Fields<'a> {
        let span = |s: Option<Span>| {
            s.map(|s| {
                let start = usize::from(s.start);
                raw.get(start..start + usize::from(s.len))
                    .unwrap_or_default()
            })
        };
        Fields {
            facility: self.pri >> 3,
            severity: self.pri & 7,
            hostname: span(self.hostname),
            app_name: span(self.app_name),
            message: raw.get(usize::from(self.message)..).unwrap_or_default(),
            format: self.format,
        }
    }

    /// The PRI, facility × 8 + severity.
    pub fn pri(&self) -> u8 {
        self.pri
    }

    /// The index as it is stored: PRI, format, the hostname's start and
    /// length, the app-name's length and start, MSG's start (little-endian).
    pub fn encode(&self) -> [u8; Index::LEN] {
        let (hs, hl) = self.hostname.map_or((NONE, 0), |s| (s.start, s.len));
        let (as_, al) = self.app_name.map_or((NONE, 0), |s| (s.start, s.len));
        let mut b = [0; Index::LEN];
        b[0] = self.pri;
        b[1] = match self.format {
            Format::Rfc5424 => 1,
            Format::Rfc3164 => 2,
            Format::Malformed => 3,
        };
        b[2..4].copy_from_slice(&hs.to_le_bytes());
        b[4] = hl;
        b[5] = al;
        b[6..8].copy_from_slice(&as_.to_le_bytes());
        b[8..10].copy_from_slice(&self.message.to_le_bytes());
        b
    }

    /// An index [`Index::encode`] wrote; `None` for bytes it did not write
    /// (all zero: a message stored without one).
    pub fn decode(b: &[u8; Index::LEN]) -> Option<Index> {
        let format = match b[1] {
            1 => Format::Rfc5424,
            2 => Format::Rfc3164,
            3 => Format::Malformed,
            _ => return None,
        };
        let span = |start: [u8; 2], len: u8| {
            let start = u16::from_le_bytes(start);
            (start != NONE).then_some(Span { start, len })
        };
        Some(Index {
            pri: b[0],
            format,
            hostname: span([b[2], b[3]], b[4]),
            app_name: span([b[6], b[7]], b[5]),
            message: u16::from_le_bytes([b[8], b[9]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc() -> ParseContext {
        ParseContext { tz: TimeZone::UTC }
    }

    fn fields_of(raw: &[u8]) -> Fields<'_> {
        Fields::from(&parse(raw, Timestamp::UNIX_EPOCH, &utc()))
    }

    fn indexed(raw: &[u8]) -> Option<Fields<'_>> {
        let m = parse(raw, Timestamp::UNIX_EPOCH, &utc());
        let ix = Index::of(raw, &m)?;
        let back = Index::decode(&ix.encode()).expect("decodes");
        assert_eq!(back, ix);
        Some(back.fields(raw))
    }

    #[test]
    fn the_index_reads_the_fields_of_each_format() {
        let samples: [&[u8]; 6] = [
            b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - hello",
            b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
            b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
            b"<30>sshd[42]: Accepted publickey",
            b"no pri, no timestamp: kept whole",
            b"<14>1 - - - - - -",
        ];
        for raw in samples {
            let want = fields_of(raw);
            assert_eq!(indexed(raw), Some(want), "{}", String::from_utf8_lossy(raw));
        }
        let f = indexed(samples[0]).unwrap();
        assert_eq!((f.facility, f.severity), (20, 5));
        assert_eq!(f.hostname, Some(&b"mymachine.example.com"[..]));
        assert_eq!(f.app_name, Some(&b"evntslog"[..]));
        assert_eq!(f.message, b"hello");
        assert_eq!(indexed(samples[4]).unwrap().format, Format::Malformed);
    }

    #[test]
    fn fields_too_long_for_the_index_leave_the_message_without_one() {
        let host = "h".repeat(256);
        let raw = format!("<14>1 - {host} app - - - text");
        let m = parse(raw.as_bytes(), Timestamp::UNIX_EPOCH, &utc());
        assert_eq!(m.hostname.map(<[u8]>::len), Some(256));
        assert_eq!(Index::of(raw.as_bytes(), &m), None);

        let long = format!("<14>1 - host app - - - {}", "x".repeat(70_000));
        let m = parse(long.as_bytes(), Timestamp::UNIX_EPOCH, &utc());
        assert!(Index::of(long.as_bytes(), &m).is_some(), "MSG starts early");
        let late = format!("<14>1 - host app - - [x a=\"{}\"] late", "x".repeat(70_000));
        let m = parse(late.as_bytes(), Timestamp::UNIX_EPOCH, &utc());
        assert_eq!(
            Index::of(late.as_bytes(), &m),
            None,
            "MSG starts past 64 KiB"
        );
        // Fields that are not parts of the bytes given: no index.
        let other = b"<14>1 - host app - - - text".to_vec();
        let m = parse(&other, Timestamp::UNIX_EPOCH, &utc());
        assert_eq!(Index::of(b"<14>1 - host app - - - text", &m), None);
    }

    #[test]
    fn zero_bytes_are_no_index() {
        assert_eq!(Index::decode(&[0; Index::LEN]), None);
    }

    proptest! {
        /// Whatever the bytes, the receive time and the zone: the index
        /// reads exactly the fields a parse at read time gives.
        #[test]
        fn the_index_agrees_with_a_parse_at_read_time(
            raw in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                "<[0-9]{1,3}>(1 )?[A-Za-z0-9 :.\\[\\]-]{0,80}".prop_map(String::into_bytes),
                "<1[0-9]>[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9] [a-z]{1,8} [a-z]{1,8}(\\[[0-9]+\\])?: .{0,40}"
                    .prop_map(String::into_bytes),
            ],
            received_s in 0i64..4_000_000_000,
            rome in any::<bool>(),
        ) {
            let at_read = ParseContext {
                tz: if rome {
                    TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap()
                } else {
                    TimeZone::UTC
                },
            };
            let received = Timestamp::from_second(received_s).unwrap();
            let read = Fields::from(&parse(&raw, received, &at_read));
            if let Some(f) = indexed(&raw) {
                prop_assert_eq!(f, read);
            }
        }
    }
}
