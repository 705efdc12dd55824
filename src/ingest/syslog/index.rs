//! The index of a stored message: what filters test and what readers show,
//! written beside the message's bytes at ingest from the one parse
//! ingestion does, so that a reader neither filters nor renders by parsing
//! again.
//!
//! An index is spans of the stored bytes, not copies: the hostname, the
//! app-name, where MSG starts (it runs to the end), and the facility,
//! severity and format; and the message's own time, resolved. It takes
//! [`Index::LEN`] bytes in the message's own header. A message whose spans
//! do not fit it (a message longer than 64 KiB, a hostname or app-name over
//! 255 bytes) has none, and its readers parse it as before.
//!
//! The fields a parse yields do not depend on the receive time or the
//! `-tz` zone; only the timestamp does, and ingestion resolves it at the
//! receive time the ring stores and in the daemon's one zone, as every
//! reader would. So a reader reads from the index exactly what a parse of
//! the message would give it ([`Index::message`]).
//!
//! The time is kept to the microsecond, with its offset in minutes, which
//! is what every reader writes. A time with finer digits or an offset with
//! seconds (a zone's local mean time, before it took standard time) is not
//! kept, and [`Index::message`] parses such a message whole.

use std::ops::Range;

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use memchr::memchr;

use super::parse::parse_5424_timed;
use super::{Format, Message, MsgTime, ParseContext, parse};

/// The fields of a message a filter tests, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    pub facility: u8,
    pub severity: u8,
    pub hostname: Option<&'a [u8]>,
    pub app_name: Option<&'a [u8]>,
    /// PROCID, as the message says.
    pub proc_id: Option<&'a [u8]>,
    pub message: &'a [u8],
    pub format: Format,
    /// Who sent it, as the kernel said and the daemon looked up: what the
    /// message's bytes do not hold, filled in by whoever has it (a stored
    /// message's entry, ingestion); `None` from the bytes alone.
    pub sent: Sent<'a>,
}

/// A local sender, as the kernel's credentials and its cgroup tell it
/// (`pid=`, `uid=`, `unit=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent<'a> {
    pub pid: Option<u32>,
    pub uid: Option<u32>,
    /// The systemd unit, a unit's name.
    pub unit: Option<&'a [u8]>,
    /// It came on a local unix socket: a message there without a hostname
    /// is this host's ([`crate::query::Filter::on_host`]).
    pub local: bool,
}

impl<'a> From<&Message<'a>> for Fields<'a> {
    fn from(m: &Message<'a>) -> Fields<'a> {
        Fields {
            facility: m.facility,
            severity: m.severity,
            hostname: m.hostname,
            app_name: m.app_name,
            proc_id: m.proc_id,
            message: m.message,
            format: m.format,
            sent: Sent::default(),
        }
    }
}

/// The fields of `raw` and its index, as ingestion finds them: parsed as
/// received at `received` (the time the ring stores with it) in the zone of
/// `ctx`.
pub fn index<'a>(
    raw: &'a [u8],
    received: Timestamp,
    ctx: &ParseContext,
) -> (Fields<'a>, Option<Index>) {
    let msg = parse(raw, received, ctx);
    (Fields::from(&msg), Index::of(raw, &msg))
}

/// The fields of `raw`, for a message stored without an index. They do not
/// depend on the receive time or the zone (see the module documentation),
/// so the parse is at the epoch in UTC.
pub fn fields(raw: &[u8]) -> Fields<'_> {
    let ctx = ParseContext { tz: TimeZone::UTC };
    Fields::from(&parse(raw, Timestamp::UNIX_EPOCH, &ctx))
}

/// An RFC 5424 message's PROCID, the fifth field of its header
/// (`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID`); none for the NILVALUE.
/// Only spaces separate the header's fields, and none holds one.
fn proc_id_5424(raw: &[u8]) -> Option<&[u8]> {
    let field = raw.splitn(6, |&b| b == b' ').nth(4)?;
    (field != b"-" && !field.is_empty()).then_some(field)
}

/// For tests of the stores: the index of `raw` received at `received_us`,
/// in UTC.
#[cfg(test)]
pub(crate) fn index_in_utc(raw: &[u8], received_us: i64) -> Option<Index> {
    let received = Timestamp::from_microsecond(received_us).unwrap_or_default();
    index(raw, received, &ParseContext { tz: TimeZone::UTC }).1
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
    time: Time,
}

/// The message's own time, as the index keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Time {
    /// It carries none.
    Absent,
    /// In µs since 1970, written at an offset of this many minutes.
    At { us: i64, offset_minutes: i16 },
    /// Too fine for the index: parse the message to read it.
    NotKept,
}

/// [`Time`] in the encoding's offset field: beyond any offset (they are
/// under 26 hours, 1560 minutes).
const TIME_ABSENT: i16 = i16::MIN;
const TIME_NOT_KEPT: i16 = i16::MAX;

impl Time {
    fn of(t: Option<MsgTime>) -> Time {
        let Some(t) = t else {
            return Time::Absent;
        };
        let seconds = t.offset.seconds();
        if t.instant.subsec_nanosecond() % 1000 != 0 || seconds % 60 != 0 {
            return Time::NotKept;
        }
        // Offsets are under 26 hours: the minutes fit.
        match i16::try_from(seconds / 60) {
            Ok(offset_minutes) => Time::At {
                us: t.instant.as_microsecond(),
                offset_minutes,
            },
            Err(_) => Time::NotKept,
        }
    }

    /// The time a parse gives, or `Err` when it is not kept.
    fn get(self) -> Result<Option<MsgTime>, ()> {
        match self {
            Time::Absent => Ok(None),
            Time::At { us, offset_minutes } => {
                // The index was made from a valid time: both are in range.
                let instant = Timestamp::from_microsecond(us).map_err(|_| ())?;
                let offset =
                    Offset::from_seconds(i32::from(offset_minutes) * 60).map_err(|_| ())?;
                Ok(Some(MsgTime { instant, offset }))
            }
            Time::NotKept => Err(()),
        }
    }
}

/// A span's start when there is no field (no span starts there: its
/// field would end past 64 KiB, and such messages have no index).
const NONE: u16 = u16::MAX;

impl Index {
    /// Bytes of an encoded index.
    pub const LEN: usize = 20;

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
            time: Time::of(msg.timestamp),
        })
    }

    /// The message `raw` this indexes, as [`parse`] would give it with the
    /// receive time and zone the index was made with: from the index, with
    /// no parse but RFC 5424's walk of its header for PROCID, MSGID and
    /// structured data. A message whose time the index does not keep (see
    /// the module documentation) is parsed at `received` in `ctx`, which
    /// must be those the index was made with.
    pub fn message<'a>(
        &self,
        raw: &'a [u8],
        received: Timestamp,
        ctx: &ParseContext,
    ) -> Message<'a> {
        let Ok(timestamp) = self.time.get() else {
            return parse(raw, received, ctx);
        };
        let f = self.fields(raw);
        let msg = match f.format {
            Format::Malformed => Some(Message::unparsed(raw)),
            Format::Rfc5424 => parse_5424_timed(raw, timestamp),
            Format::Rfc3164 => Some(Message {
                facility: f.facility,
                severity: f.severity,
                timestamp,
                hostname: f.hostname,
                app_name: f.app_name,
                proc_id: self.proc_id_3164(raw),
                msg_id: None,
                structured_data: None,
                message: f.message,
                format: Format::Rfc3164,
            }),
        };
        // Only an index paired with other bytes can fail here.
        msg.unwrap_or_else(|| parse(raw, received, ctx))
    }

    /// An RFC 3164 tag's PID: `NAME[PID]`, right after the app-name; none
    /// when empty. (The parse took the app-name from a tag that had its `]`
    /// before the next space, so the first `]` after it closes the PID.)
    fn proc_id_3164<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        let app = self.app_name?;
        let end = usize::from(app.start) + usize::from(app.len);
        let after = raw.get(end..)?.strip_prefix(b"[")?;
        let close = memchr(b']', after)?;
        (close > 0).then(|| &after[..close])
    }

    /// The fields of the message `raw` this indexes.
    ///
    /// The spans were checked against the bytes when the index was made; a
    /// span that is not in `raw` (which only a caller that pairs an index
    /// with other bytes can cause) reads as empty rather than panicking.
    pub fn fields<'a>(&self, raw: &'a [u8]) -> Fields<'a> {
        let (hostname, app_name) = self.names(raw);
        Fields {
            facility: self.pri >> 3,
            severity: self.pri & 7,
            hostname,
            app_name,
            proc_id: match self.format {
                Format::Rfc3164 => self.proc_id_3164(raw),
                Format::Rfc5424 => proc_id_5424(raw),
                Format::Malformed => None,
            },
            message: raw.get(usize::from(self.message)..).unwrap_or_default(),
            format: self.format,
            sent: Sent::default(),
        }
    }

    /// [`Index::fields`] without the PROCID and MSG (none, and empty): what
    /// a test of the PRI and the names reads, without the search for the
    /// PROCID.
    pub fn fields_but_text<'a>(&self, raw: &'a [u8]) -> Fields<'a> {
        let (hostname, app_name) = self.names(raw);
        Fields {
            facility: self.pri >> 3,
            severity: self.pri & 7,
            hostname,
            app_name,
            proc_id: None,
            message: &[],
            format: self.format,
            sent: Sent::default(),
        }
    }

    /// The hostname and the app-name of [`Index::fields`], without the
    /// rest: what a block's summary keeps of a message at ingest.
    pub fn names<'a>(&self, raw: &'a [u8]) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
        let [hostname, app_name] = self.name_ranges(raw.len());
        let name = |r: Option<Range<usize>>| r.map(|r| raw.get(r).unwrap_or_default());
        (name(hostname), name(app_name))
    }

    /// Where [`Index::names`] lie in a message of `len` bytes: the
    /// hostname's bytes and the app-name's (`None`: absent; empty when the
    /// index does not fit the message).
    pub fn name_ranges(&self, len: usize) -> [Option<Range<usize>>; 2] {
        let range = |s: Option<Span>| {
            s.map(|s| {
                let start = usize::from(s.start);
                let end = start + usize::from(s.len);
                if end <= len { start..end } else { 0..0 }
            })
        };
        [range(self.hostname), range(self.app_name)]
    }

    /// The PRI, facility × 8 + severity.
    pub fn pri(&self) -> u8 {
        self.pri
    }

    /// The index as it is stored: PRI, format, the hostname's start and
    /// length, the app-name's length and start, MSG's start, the time in µs
    /// and its offset in minutes (`i16::MIN`: no time; `i16::MAX`: not
    /// kept), little-endian.
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
        let (us, offset) = match self.time {
            Time::Absent => (0, TIME_ABSENT),
            Time::At { us, offset_minutes } => (us, offset_minutes),
            Time::NotKept => (0, TIME_NOT_KEPT),
        };
        b[10..18].copy_from_slice(&us.to_le_bytes());
        b[18..20].copy_from_slice(&offset.to_le_bytes());
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
            time: match i16::from_le_bytes([b[18], b[19]]) {
                TIME_ABSENT => Time::Absent,
                TIME_NOT_KEPT => Time::NotKept,
                offset_minutes => Time::At {
                    us: i64::from_le_bytes(b[10..18].try_into().expect("8 bytes")),
                    offset_minutes,
                },
            },
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
    fn the_index_keeps_the_time_to_the_microsecond_with_its_offset() {
        let ctx = utc();
        let received: Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
        let kept: [&[u8]; 4] = [
            b"<165>1 2003-10-11T22:14:15.003Z host app - - - hello",
            b"<165>1 2003-10-11T22:14:15.123456-07:00 host app - - - hello",
            b"<34>Dec  1 07:59:58 mymachine su[12]: 'su root' failed",
            b"<14>1 - host app - - - no time",
        ];
        for raw in kept {
            let ix = read_back(raw, received, &ctx);
            assert_ne!(ix.time, Time::NotKept, "{}", String::from_utf8_lossy(raw));
        }
        // Finer than a microsecond, or an offset with seconds: not kept,
        // and the message is parsed whole when read.
        let raw = b"<165>1 2003-10-11T22:14:15.123456789Z host app - - - hello";
        let ix = read_back(raw, received, &ctx);
        assert_eq!(ix.time, Time::NotKept);
        let read = ix.message(raw, received, &ctx);
        assert_eq!(
            read.timestamp.unwrap().instant.subsec_nanosecond(),
            123_456_789
        );
        let paris_1900 = ParseContext {
            tz: TimeZone::get("Europe/Paris").unwrap(),
        };
        let raw = b"<13>1900 Jan  1 00:00:00 host app: before standard time";
        let then: Timestamp = "1900-01-01T12:00:00Z".parse().unwrap();
        assert_eq!(read_back(raw, then, &paris_1900).time, Time::NotKept);
    }

    /// The index of `raw` as ingestion stores it, decoded back; the message
    /// read from it is checked to be the parse.
    fn read_back(raw: &[u8], received: Timestamp, ctx: &ParseContext) -> Index {
        let ix = index(raw, received, ctx).1.expect("indexed");
        let ix = Index::decode(&ix.encode()).expect("decodes");
        assert_eq!(
            ix.message(raw, received, ctx),
            parse(raw, received, ctx),
            "{}",
            String::from_utf8_lossy(raw)
        );
        ix
    }

    #[test]
    fn a_message_read_from_its_index_is_its_parse() {
        let ctx = utc();
        let received: Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
        let raws: [&[u8]; 14] = [
            b"<30>Dec  1 07:59:58 host sshd[42]: Accepted",
            b"<30>Dec  1 07:59:58 host sshd[]: empty pid",
            b"<30>Dec  1 07:59:58 host sshd[4 2]: pid with a space",
            b"<30>Dec  1 07:59:58 host sshd[42: unclosed",
            b"<30>Dec  1 07:59:58 host sshd: no pid",
            b"<30>sshd[42]: no time, no host",
            b"<30>Dec  1 07:59:58 sshd[42]x] trailing",
            b"237: *Jan  8 19:46:03.295 UTC: %SYS-5-CONFIG_I: Configured",
            b"<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 [a b=\"c\"][d@1 e=\"]\"] msg",
            b"<165>1 2003-10-11T22:14:15.003Z - - - - - \xEF\xBB\xBFbom",
            b"<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 [a]",
            b"<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 - ",
            b"<14>1 - - - - - -",
            b"not syslog at all",
        ];
        for raw in raws {
            read_back(raw, received, &ctx);
        }
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
                // Tags as 3164 senders write them, right after the PRI or a
                // time: `app[pid]:`, `app[]`, `app:`, `[x]`, unclosed.
                "<[0-9]{1,2}>([A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})? )?([a-z]{1,6} )?[a-z\\[\\]:]{0,6}(\\[[0-9a-z ]{0,4}\\]?)?:? ?[a-z \\[\\]]{0,12}"
                    .prop_map(String::into_bytes),
                // RFC 5424 with fractions of 1 to 9 digits, offsets, PROCID,
                // MSGID, structured data and a BOM.
                "<[0-9]{1,3}>1 (-|20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9])) [a-z-]{1,5} [a-z-]{1,5} [0-9-]{1,4} [A-Z-]{1,4} (-|(\\[[a-z@0-9]{1,5}( [a-z]{1,3}=\"[a-z\\\\\\]\"]{0,5}\")*\\]){1,2})( (\u{feff})?.{0,20})?"
                    .prop_map(String::into_bytes),
            ],
            received_s in 0i64..4_000_000_000,
            rome in any::<bool>(),
        ) {
            let ctx = ParseContext {
                tz: if rome {
                    TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap()
                } else {
                    TimeZone::UTC
                },
            };
            let received = Timestamp::from_second(received_s).unwrap();
            let read = parse(&raw, received, &ctx);
            // The fields alone, from an index made at any time in any zone.
            if let Some(f) = indexed(&raw) {
                prop_assert_eq!(f, Fields::from(&read));
            }
            // The whole message, from an index made as ingestion makes it.
            let (fields, ix) = index(&raw, received, &ctx);
            prop_assert_eq!(fields, Fields::from(&read));
            if let Some(ix) = ix {
                let back = Index::decode(&ix.encode()).expect("decodes");
                prop_assert_eq!(back, ix);
                prop_assert_eq!(back.message(&raw, received, &ctx), read);
            }
        }
    }
}
