//! From the bytes of one stored message to a [`Message`] that borrows them.
//!
//! [`parse`] never fails, never panics and allocates nothing (jiff builds an
//! error value only for dates at the edge of its range, around year ±9999).
//! It tries, in this order:
//!
//! 1. `<PRI>1 ` opens an RFC 5424 message. Its header is checked strictly
//!    (timestamp, six fields, well-formed structured data); a broken header
//!    makes the whole message [`Format::Malformed`].
//! 2. Anything else with a valid `<PRI>`, or without a PRI but starting with
//!    a recognisable timestamp, is read as RFC 3164 in the shapes seen in
//!    the wild: the glibc `/dev/log` form without hostname, Cisco sequence
//!    numbers and `*`/`.` markers, milliseconds, zone abbreviations, a year
//!    before or after the time, an RFC 3339 timestamp instead of the BSD
//!    one, a tag without its colon. RFC 3164 parsing is best effort: it
//!    never rejects a message whose PRI is valid.
//! 3. Everything else is [`Format::Malformed`]: kept whole as the message
//!    text, `user.notice`, every other field `None`.
//!
//! A 3164 date carries no year: the year is the one that puts the date
//! nearest to the receive time. Nor does it carry a zone: it is read in
//! [`ParseContext::tz`], unless a known zone abbreviation follows the time.

use super::{Format, Message, MsgTime};
use crate::ingest::syslog::calendar;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use memchr::{memchr, memchr2};

/// What parsing needs besides the bytes.
#[derive(Clone, Debug)]
pub struct ParseContext {
    /// Zone of RFC 3164 dates, which carry none (`-tz`).
    pub tz: TimeZone,
}

/// Facility `user`, severity `notice`: what a message without PRI gets.
const DEFAULT_PRI: u8 = 13;

/// Parses a stored message received at `received`.
///
/// `raw` is the message as stored, with its trailing `\n`, `\r\n` and NULs
/// already trimmed. Every field of the result is a subslice of `raw`.
pub fn parse<'a>(raw: &'a [u8], received: Timestamp, ctx: &ParseContext) -> Message<'a> {
    let parsed = match raw.first() {
        None => None,
        Some(b'<') => parse_pri(raw).and_then(|(pri, rest)| match rest.strip_prefix(b"1 ") {
            Some(header) => parse_5424(pri, header),
            None => parse_3164(Some(pri), rest, received, ctx),
        }),
        Some(_) => parse_3164(None, raw, received, ctx),
    };
    parsed.unwrap_or_else(|| Message::unparsed(raw))
}

/// `<` 1 to 3 digits `>`, at most 191; leading zeros are tolerated.
fn parse_pri(raw: &[u8]) -> Option<(u8, &[u8])> {
    let close = raw.iter().take(5).position(|&b| b == b'>')?;
    let digits = raw.get(1..close)?;
    if digits.is_empty() {
        return None;
    }
    let pri = decimal(digits)?;
    if pri > 191 {
        return None;
    }
    Some((pri as u8, &raw[close + 1..]))
}

// ---------------------------------------------------------------------------
// RFC 5424

/// `TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]`,
/// the part after `<PRI>1 `. `None` when the header is broken.
///
/// Header fields must be non-empty and separated by exactly one space; their
/// lengths and character sets are not enforced.
fn parse_5424(pri: u8, header: &[u8]) -> Option<Message<'_>> {
    parse_5424_with(pri, header, |text| match text {
        b"-" => Some(None),
        text => Some(Some(rfc5424_timestamp(text)?)),
    })
}

/// [`parse`] of an RFC 5424 message whose time is known already (from its
/// index): the header is walked for PROCID, MSGID and the structured data,
/// and the timestamp is not read again. `None` when `raw` is no RFC 5424
/// message after all.
pub(super) fn parse_5424_timed(raw: &[u8], time: Option<MsgTime>) -> Option<Message<'_>> {
    let (pri, rest) = parse_pri(raw)?;
    parse_5424_with(pri, rest.strip_prefix(b"1 ")?, |_| Some(time))
}

/// [`parse_5424`] with the timestamp's text read by `time`: `None` when it
/// is broken, `Some(None)` for the NILVALUE.
fn parse_5424_with(
    pri: u8,
    header: &[u8],
    time: impl FnOnce(&[u8]) -> Option<Option<MsgTime>>,
) -> Option<Message<'_>> {
    let (timestamp, rest) = field(header)?;
    let timestamp = time(timestamp)?;
    let (hostname, rest) = field(rest)?;
    let (app_name, rest) = field(rest)?;
    let (proc_id, rest) = field(rest)?;
    let (msg_id, rest) = field(rest)?;
    let (structured_data, rest) = match rest.first()? {
        b'-' => (None, &rest[1..]),
        _ => {
            let len = sd_len(rest)?;
            (Some(&rest[..len]), &rest[len..])
        }
    };
    let message = match rest {
        [] => rest,
        [b' ', text @ ..] => text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text),
        _ => return None,
    };
    Some(Message {
        facility: pri >> 3,
        severity: pri & 7,
        timestamp,
        hostname: nil(hostname),
        app_name: nil(app_name),
        proc_id: nil(proc_id),
        msg_id: nil(msg_id),
        structured_data,
        message,
        format: Format::Rfc5424,
    })
}

/// A non-empty header field and what follows its terminating space.
fn field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr(b' ', s)?;
    if end == 0 {
        return None;
    }
    Some((&s[..end], &s[end + 1..]))
}

fn nil(field: &[u8]) -> Option<&[u8]> {
    (field != b"-").then_some(field)
}

/// A whole RFC 3339 timestamp with its offset, as RFC 5424 requires.
fn rfc5424_timestamp(text: &[u8]) -> Option<MsgTime> {
    let (stamp, len) = rfc3339(text)?;
    let offset = stamp.offset?;
    if len != text.len() {
        return None;
    }
    let date = valid_date(stamp.year?, stamp.month, stamp.day)?;
    let instant = offset
        .to_timestamp(DateTime::from_parts(date, stamp.time))
        .ok()?;
    Some(MsgTime { instant, offset })
}

// ---------------------------------------------------------------------------
// RFC 3164 and the wild

/// Everything after the PRI (or the whole message when there is none).
/// `None` when the message must be kept as malformed: nothing after the PRI,
/// or no PRI and no timestamp either.
fn parse_3164<'a>(
    pri: Option<u8>,
    rest: &'a [u8],
    received: Timestamp,
    ctx: &ParseContext,
) -> Option<Message<'a>> {
    if rest.is_empty() {
        return None;
    }
    let header = header_3164(rest);
    if pri.is_none() && header.stamp.is_none() {
        return None;
    }
    let timestamp = header
        .stamp
        .and_then(|stamp| stamp.resolve(received, &ctx.tz));
    let fields = tag_and_message(header.body, header.stamp.is_some(), header.hostname);
    let pri = pri.unwrap_or(DEFAULT_PRI);
    Some(Message {
        facility: pri >> 3,
        severity: pri & 7,
        timestamp,
        hostname: fields.hostname,
        app_name: fields.app_name,
        proc_id: fields.proc_id,
        msg_id: None,
        structured_data: None,
        message: fields.message,
        format: Format::Rfc3164,
    })
}

/// The start of a 3164 message: an optional Cisco sequence number (and
/// origin hostname), then an optional timestamp.
struct Header3164<'a> {
    stamp: Option<Stamp>,
    /// Only set by the Cisco `SEQ: HOST: TIMESTAMP` form.
    hostname: Option<&'a [u8]>,
    /// What follows the timestamp and its separator.
    body: &'a [u8],
}

fn header_3164(rest: &[u8]) -> Header3164<'_> {
    // Cisco IOS `service sequence-numbers`: `237: *Jan  8 19:46:03.295 UTC: ...`,
    // with `logging origin-id hostname`: `58: router1: *Mar  1 ...`.
    if let Some(after_seq) = cisco_sequence(rest) {
        if let Some((stamp, body)) = timestamp_3164(after_seq, true) {
            return Header3164 {
                stamp: Some(stamp),
                hostname: None,
                body,
            };
        }
        if let Some(space) = memchr(b' ', after_seq) {
            let (origin, after_origin) = (&after_seq[..space], &after_seq[space + 1..]);
            if let Some(host) = origin.strip_suffix(b":").filter(|h| !h.is_empty())
                && let Some((stamp, body)) = timestamp_3164(after_origin, true)
            {
                return Header3164 {
                    stamp: Some(stamp),
                    hostname: Some(host),
                    body,
                };
            }
        }
        if after_seq.first() == Some(&b'%') {
            return Header3164 {
                stamp: None,
                hostname: None,
                body: after_seq,
            };
        }
    }
    match timestamp_3164(rest, false) {
        Some((stamp, body)) => Header3164 {
            stamp: Some(stamp),
            hostname: None,
            body,
        },
        None => Header3164 {
            stamp: None,
            hostname: None,
            body: rest,
        },
    }
}

/// Digits, `:` and a space at the very start: what follows them. NX-OS 9.3
/// writes the `: ` without digits.
fn cisco_sequence(s: &[u8]) -> Option<&[u8]> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    s[digits..].strip_prefix(b": ")
}

/// A timestamp in the 3164 position and what follows its separator.
///
/// Accepted: `Mmm dd hh:mm:ss` (day padded with a space or a zero, or not
/// at all), optionally with `.fff` fractions, a year before or after the
/// time, a year before the month (NX-OS), a zone abbreviation, a leading
/// `*` or `.` (Cisco's clock-not-synced marks) and a trailing `:`; or an RFC
/// 3339 timestamp with or without offset. The timestamp must end at a space,
/// at `:` or at the end of the message.
fn timestamp_3164(s: &[u8], after_sequence: bool) -> Option<(Stamp, &[u8])> {
    let (marked, s) = match s.first() {
        Some(b'*' | b'.') => (true, &s[1..]),
        _ => (false, s),
    };
    let (stamp, mut len) = match rfc3339(s) {
        Some(found) => found,
        None => {
            let (stamp, len, fraction) = bsd_timestamp(s)?;
            let cisco = marked || after_sequence || fraction;
            let (stamp, suffix) = bsd_suffix(stamp, &s[len..], cisco);
            (stamp, len + suffix)
        }
    };
    if s.get(len) == Some(&b':') {
        len += 1;
    }
    let body = match s.get(len) {
        None => &s[len..],
        Some(b' ') => &s[len + 1..],
        Some(_) => return None,
    };
    Some((stamp, body))
}

/// `Mmm dd [YYYY ]hh:mm:ss[.fff]` or `YYYY Mmm dd hh:mm:ss[.fff]`: the stamp,
/// its length and whether it had a fraction.
fn bsd_timestamp(s: &[u8]) -> Option<(Stamp, usize, bool)> {
    let mut i = 0;
    let mut year = None;
    if s.get(4) == Some(&b' ') && month(s.get(5..8)?).is_some() {
        year = Some(decimal(s.get(..4)?)? as i16);
        i = 5;
    }
    let month = month(s.get(i..i + 3)?)?;
    i += 3;
    if s.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    let day_len = if s.get(i + 1).is_some_and(u8::is_ascii_digit) {
        2
    } else {
        1
    };
    let day = decimal(s.get(i..i + day_len)?)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    i += day_len;
    if s.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    if year.is_none()
        && s.get(i + 4) == Some(&b' ')
        && let Some(y) = s.get(i..i + 4).and_then(decimal)
    {
        year = Some(y as i16);
        i += 5;
    }
    let (time, time_len, fraction) = clock(s.get(i..)?)?;
    i += time_len;
    let stamp = Stamp {
        year,
        month,
        day: day as i8,
        time,
        offset: None,
    };
    Some((stamp, i, fraction))
}

/// What may follow a BSD time: ` YYYY`, ` ZONE:` (Cisco) or ` ZONE YYYY`
/// (RFC 3164 section 5.4). Returns the stamp and the length consumed.
///
/// A bare word after the time is a hostname, so a zone is recognised only
/// when it is followed by a year, or by `:` and either the message looks
/// like Cisco's or the abbreviation is a known one.
fn bsd_suffix(mut stamp: Stamp, s: &[u8], cisco: bool) -> (Stamp, usize) {
    let Some(after_space) = s.strip_prefix(b" ") else {
        return (stamp, 0);
    };
    if stamp.year.is_none()
        && let Some(year) = year_word(after_space)
    {
        stamp.year = Some(year);
        return (stamp, 5);
    }
    let letters = after_space
        .iter()
        .take(6)
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    if letters == 0 {
        return (stamp, 0);
    }
    let (zone, after_zone) = after_space.split_at(letters);
    let offset = zone_offset(zone);
    match after_zone.first() {
        Some(b':') if cisco || offset.is_some() => {
            stamp.offset = offset;
            (stamp, 1 + letters)
        }
        Some(b' ') if stamp.year.is_none() => match year_word(&after_zone[1..]) {
            Some(year) => {
                stamp.year = Some(year);
                stamp.offset = offset;
                (stamp, 1 + letters + 5)
            }
            None => (stamp, 0),
        },
        _ => (stamp, 0),
    }
}

/// Four digits ending at a space, a colon or the end.
fn year_word(s: &[u8]) -> Option<i16> {
    match s.get(4) {
        None | Some(b' ' | b':') => Some(decimal(s.get(..4)?)? as i16),
        Some(_) => None,
    }
}

/// Zone abbreviations that mean one offset only. Ambiguous ones (`CST`,
/// `IST`, `BST`, `AST`, ...) and unknown ones are read in `-tz`.
const ZONES: &[(&[u8], i32)] = &[
    (b"UTC", 0),
    (b"UT", 0),
    (b"GMT", 0),
    (b"Z", 0),
    (b"WET", 0),
    (b"WEST", 1),
    (b"CET", 1),
    (b"CEST", 2),
    (b"MET", 1),
    (b"MEST", 2),
    (b"EET", 2),
    (b"EEST", 3),
    (b"MSK", 3),
    (b"EST", -5),
    (b"EDT", -4),
    (b"CDT", -5),
    (b"MST", -7),
    (b"MDT", -6),
    (b"PST", -8),
    (b"PDT", -7),
    (b"AKST", -9),
    (b"AKDT", -8),
    (b"HST", -10),
    (b"JST", 9),
    (b"KST", 9),
    (b"AEST", 10),
    (b"AEDT", 11),
    (b"NZST", 12),
    (b"NZDT", 13),
];

fn zone_offset(abbreviation: &[u8]) -> Option<Offset> {
    let &(_, hours) = ZONES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(abbreviation))?;
    Offset::from_seconds(hours * 3600).ok()
}

/// A month's English abbreviation, in any case: its number.
fn month(name: &[u8]) -> Option<i8> {
    // One comparison of the three bytes, not one a month: looking the
    // month up name by name was most of the cost of a 3164 timestamp in
    // December.
    let &[a, b, c] = name else {
        return None;
    };
    let lower = [
        a.to_ascii_lowercase(),
        b.to_ascii_lowercase(),
        c.to_ascii_lowercase(),
    ];
    let number = match &lower {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    };
    Some(number)
}

/// The fields after the timestamp.
struct Fields<'a> {
    hostname: Option<&'a [u8]>,
    app_name: Option<&'a [u8]>,
    proc_id: Option<&'a [u8]>,
    message: &'a [u8],
}

/// Splits `[HOSTNAME SP] [TAG[PID][:] SP] MSG`.
///
/// A hostname is looked for only after a timestamp (RFC 3164 4.3.3: without
/// one, everything is content). The first word is the hostname unless it
/// is a tag (`app:`, `app[1]:`, `app[1]`), starts with `[` (a kernel time)
/// or is the last word. After a hostname the next word is the tag even
/// without a colon, as rsyslog and syslog-ng read it, unless it is the last
/// word; without a hostname it must look like a tag.
fn tag_and_message<'a>(
    body: &'a [u8],
    timestamped: bool,
    known_host: Option<&'a [u8]>,
) -> Fields<'a> {
    let mut hostname = known_host;
    let mut rest = body;
    if hostname.is_none() && timestamped {
        let word = first_word(rest);
        let last = word.len() == rest.len();
        if !word.is_empty() && !last && word[0] != b'[' && !whole_tag(word) {
            hostname = Some(word);
            rest = &rest[word.len() + 1..];
            // Cisco ASA with `logging device-id`: `asa1 : %ASA-6-...`.
            if let Some(after) = rest.strip_prefix(b": ") {
                rest = after;
            }
        }
    }
    let word = first_word(rest);
    let tag = tag(word).filter(|tag| match hostname {
        Some(_) => tag.marked || word.len() < rest.len(),
        None => tag.marked && tag.len == word.len(),
    });
    let Some(tag) = tag else {
        return Fields {
            hostname,
            app_name: None,
            proc_id: None,
            message: rest,
        };
    };
    let after = &rest[tag.len..];
    Fields {
        hostname,
        app_name: Some(tag.name),
        proc_id: tag.pid,
        message: after.strip_prefix(b" ").unwrap_or(after),
    }
}

fn first_word(s: &[u8]) -> &[u8] {
    &s[..memchr(b' ', s).unwrap_or(s.len())]
}

/// `NAME`, `NAME:`, `NAME[PID]` or `NAME[PID]:` at the start of `word`.
struct Tag<'a> {
    name: &'a [u8],
    pid: Option<&'a [u8]>,
    /// Bytes of `word` it covers.
    len: usize,
    /// It had a `[PID]` or a `:`, so it cannot be a hostname.
    marked: bool,
}

fn tag(word: &[u8]) -> Option<Tag<'_>> {
    let name_end = memchr2(b'[', b':', word).unwrap_or(word.len());
    if name_end == 0 {
        return None;
    }
    let mut tag = Tag {
        name: &word[..name_end],
        pid: None,
        len: name_end,
        marked: false,
    };
    if word.get(tag.len) == Some(&b'[') {
        let pid_len = memchr(b']', &word[tag.len + 1..])?;
        let pid = &word[tag.len + 1..tag.len + 1 + pid_len];
        tag.pid = (!pid.is_empty()).then_some(pid);
        tag.len += pid_len + 2;
        tag.marked = true;
    }
    if word.get(tag.len) == Some(&b':') {
        tag.len += 1;
        tag.marked = true;
    }
    Some(tag)
}

/// The whole word is a tag: `app:`, `app[1]:` or `app[1]`. An IPv6 address
/// (`fe80::1`) is not.
fn whole_tag(word: &[u8]) -> bool {
    tag(word).is_some_and(|tag| tag.marked && tag.len == word.len())
}

// ---------------------------------------------------------------------------
// Dates and times

/// A date and time as written, before the year and the zone are settled.
#[derive(Clone, Copy, Debug)]
struct Stamp {
    year: Option<i16>,
    month: i8,
    day: i8,
    time: Time,
    /// `None`: read in `-tz`.
    offset: Option<Offset>,
}

impl Stamp {
    /// The instant, or `None` when the date does not exist (`Feb 30`).
    fn resolve(self, received: Timestamp, tz: &TimeZone) -> Option<MsgTime> {
        let date = match self.year {
            Some(year) => valid_date(year, self.month, self.day)?,
            None => self.nearest_date(received, tz)?,
        };
        let datetime = DateTime::from_parts(date, self.time);
        // In a gap or a fold, the offset before the transition (what jiff
        // calls "compatible"): the instant and the offset then give back the
        // civil time as written.
        let offset = match self.offset {
            Some(offset) => offset,
            None => match tz.to_ambiguous_timestamp(datetime).offset() {
                AmbiguousOffset::Unambiguous { offset } => offset,
                AmbiguousOffset::Gap { before, .. } | AmbiguousOffset::Fold { before, .. } => {
                    before
                }
            },
        };
        let instant = offset.to_timestamp(datetime).ok()?;
        Some(MsgTime { instant, offset })
    }

    /// The date in the year (before, of or after `received`) that puts it
    /// nearest to `received`; on a tie, the earlier one.
    fn nearest_date(self, received: Timestamp, tz: &TimeZone) -> Option<Date> {
        // The common case, without a zone lookup: a date within four months
        // of `received`'s UTC month is nearest in `received`'s UTC year (if
        // it exists in that year: Feb 29 may not). In the sender's zone the
        // month may be the next or the one before (offsets are under 26
        // hours, even across New Year), so the date is at most about five
        // months and a day away in that year, and seven months or more away
        // in any other.
        let utc = Offset::UTC.to_datetime(received);
        if (self.month - utc.month()).abs() <= 4
            && let Some(date) = valid_date(utc.year(), self.month, self.day)
        {
            return Some(date);
        }
        self.nearest_date_exact(received, tz)
    }

    fn nearest_date_exact(self, received: Timestamp, tz: &TimeZone) -> Option<Date> {
        let now = match self.offset {
            Some(offset) => offset.to_datetime(received),
            None => tz.to_datetime(received),
        };
        // The distance of two civil times is their difference, whatever the
        // zone. It is computed by arithmetic: jiff's spans between civil
        // times were the largest cost of a JSON dump of RFC 3164 lines in
        // December and January (outside the short cut above).
        let day = |date: Date| {
            calendar::days_from_civil(
                i64::from(date.year()),
                i64::from(date.month()),
                i64::from(date.day()),
            )
        };
        let in_day_ns = |time: Time| {
            (i64::from(time.hour()) * 3_600
                + i64::from(time.minute()) * 60
                + i64::from(time.second()))
                * 1_000_000_000
                + i64::from(time.subsec_nanosecond())
        };
        let (now_day, now_ns) = (day(now.date()), in_day_ns(now.time()));
        let mut best: Option<(Date, u64)> = None;
        for year in [now.year() - 1, now.year(), now.year() + 1] {
            let Some(date) = valid_date(year, self.month, self.day) else {
                continue;
            };
            // Within two years of `now`: 6.3e16 ns at most, well inside an i64.
            let ns = (day(date) - now_day) * 86_400_000_000_000 + in_day_ns(self.time) - now_ns;
            let distance = ns.unsigned_abs();
            if best.is_none_or(|(_, nearest)| distance < nearest) {
                best = Some((date, distance));
            }
        }
        best.map(|(date, _)| date)
    }
}

/// A date, checked before it is built so that the common failure (`Feb 29`
/// in a year that has none) builds no error value.
fn valid_date(year: i16, month: i8, day: i8) -> Option<Date> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(-9999..=9999).contains(&year) {
        return None;
    }
    if day > 28 && day > Date::new(year, month, 1).ok()?.days_in_month() {
        return None;
    }
    Date::new(year, month, day).ok()
}

/// `YYYY-MM-DDThh:mm:ss[.frac][Z|±hh:mm|±hhmm]` at the start of `s`: the
/// stamp (without offset when none is written) and its length.
fn rfc3339(s: &[u8]) -> Option<(Stamp, usize)> {
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') || !matches!(s.get(10), Some(b'T' | b't'))
    {
        return None;
    }
    let year = decimal(s.get(..4)?)? as i16;
    let month = decimal(s.get(5..7)?)? as i8;
    let day = decimal(s.get(8..10)?)? as i8;
    let (time, mut len, _) = clock(s.get(11..)?)?;
    len += 11;
    let offset = match s.get(len) {
        Some(b'Z' | b'z') => {
            len += 1;
            Some(Offset::UTC)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = decimal(s.get(len + 1..len + 3)?)?;
            len += 3;
            if s.get(len) == Some(&b':') {
                len += 1;
            }
            let minutes = decimal(s.get(len..len + 2)?)?;
            len += 2;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = (hours * 3600 + minutes * 60) as i32;
            Some(Offset::from_seconds(if sign == b'-' { -seconds } else { seconds }).ok()?)
        }
        _ => None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some((
        Stamp {
            year: Some(year),
            month,
            day,
            time,
            offset,
        },
        len,
    ))
}

/// `hh:mm:ss[.frac]` at the start of `s`: the time, its length and whether
/// it had a fraction. A leap second (`:60`) is read as `:59`; fraction
/// digits past the ninth are skipped.
fn clock(s: &[u8]) -> Option<(Time, usize, bool)> {
    if s.get(2) != Some(&b':') || s.get(5) != Some(&b':') {
        return None;
    }
    let hour = decimal(s.get(..2)?)?;
    let minute = decimal(s.get(3..5)?)?;
    let second = decimal(s.get(6..8)?)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut len = 8;
    let mut nanos = 0;
    // syslog-ng accepts a comma before the fraction too.
    let fraction =
        matches!(s.get(len), Some(b'.' | b',')) && s.get(9).is_some_and(u8::is_ascii_digit);
    if fraction {
        len += 1;
        let digits = s[len..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut scale = 100_000_000;
        for &d in &s[len..len + digits.min(9)] {
            nanos += i32::from(d - b'0') * scale;
            scale /= 10;
        }
        len += digits;
    }
    let time = Time::new(hour as i8, minute as i8, second.min(59) as i8, nanos).ok()?;
    Some((time, len, fraction))
}

/// ASCII digits as a number; `None` when empty, not all digits or too long
/// to matter here.
fn decimal(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

// ---------------------------------------------------------------------------
// Structured data

/// Length of the well-formed structured data at the start of `s`:
/// `1*("[" SD-ID *(SP PARAM-NAME "=" DQUOTE PARAM-VALUE DQUOTE) "]")`.
/// Inside a value `"` and `\` must be escaped; an unescaped `]` is tolerated.
fn sd_len(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while s.get(i) == Some(&b'[') {
        i += 1;
        i += sd_name_len(&s[i..])?;
        loop {
            match s.get(i)? {
                b']' => {
                    i += 1;
                    break;
                }
                b' ' => {
                    i += 1;
                    i += sd_name_len(&s[i..])?;
                    if s.get(i..i + 2) != Some(b"=\"") {
                        return None;
                    }
                    i += 2;
                    i += quoted_len(&s[i..])?;
                }
                _ => return None,
            }
        }
    }
    (i > 0).then_some(i)
}

/// SD-NAME: printable US-ASCII except `=`, space, `]` and `"`; not empty.
fn sd_name_len(s: &[u8]) -> Option<usize> {
    let len = s
        .iter()
        .take_while(|&&b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'))
        .count();
    (len > 0).then_some(len)
}

/// Length of a param value and its closing quote, honouring `\` escapes.
fn quoted_len(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        i += memchr2(b'"', b'\\', s.get(i..)?)?;
        if s[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// One `[id param="value" ...]` element of structured data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdElement<'a> {
    pub id: &'a [u8],
    /// ` name="value"` pairs, each with its leading space.
    params: &'a [u8],
}

/// One `name="value"` pair of an [`SdElement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdParam<'a> {
    pub name: &'a [u8],
    /// As received, still escaped: see [`unescape_sd_value`].
    pub raw_value: &'a [u8],
}

impl<'a> SdElement<'a> {
    pub fn params(&self) -> impl Iterator<Item = SdParam<'a>> + use<'a> {
        SdParams { rest: self.params }
    }
}

/// The elements of [`Message::structured_data`]. Given bytes that are not
/// well-formed structured data it stops early, without panicking.
pub fn sd_elements(sd: &[u8]) -> impl Iterator<Item = SdElement<'_>> {
    SdElements { rest: sd }
}

struct SdElements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SdElements<'a> {
    type Item = SdElement<'a>;

    fn next(&mut self) -> Option<SdElement<'a>> {
        let body = self.rest.strip_prefix(b"[")?;
        let id_len = body.iter().take_while(|&&b| b != b' ' && b != b']').count();
        let params_len = params_len(&body[id_len..]);
        let Some(params_len) = params_len else {
            self.rest = &[];
            return None;
        };
        let (id, params) = (&body[..id_len], &body[id_len..id_len + params_len]);
        // Past the closing `]`, which `params_len` found.
        self.rest = &body[id_len + params_len + 1..];
        Some(SdElement { id, params })
    }
}

/// Length of the params up to the `]` that closes their element.
fn params_len(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        match s.get(i)? {
            b']' => return Some(i),
            b'"' => i += 1 + quoted_len(&s[i + 1..])?,
            _ => i += 1,
        }
    }
}

struct SdParams<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SdParams<'a> {
    type Item = SdParam<'a>;

    fn next(&mut self) -> Option<SdParam<'a>> {
        let s = self.rest.strip_prefix(b" ")?;
        let eq = memchr(b'=', s)?;
        let value = s[eq + 1..].strip_prefix(b"\"")?;
        let len = quoted_len(value)?;
        self.rest = &value[len..];
        Some(SdParam {
            name: &s[..eq],
            raw_value: &value[..len - 1],
        })
    }
}

/// Appends `raw` to `out` with the escapes of RFC 5424 section 6.3.3 undone:
/// `\"`, `\\` and `\]` become `"`, `\` and `]`; any other backslash is kept.
pub fn unescape_sd_value(raw: &[u8], out: &mut Vec<u8>) {
    let mut rest = raw;
    while let Some(i) = memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..i]);
        match rest.get(i + 1) {
            Some(&escaped @ (b'"' | b'\\' | b']')) => {
                out.push(escaped);
                rest = &rest[i + 2..];
            }
            _ => {
                out.push(b'\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i32 = 3600;

    fn utc() -> ParseContext {
        ParseContext { tz: TimeZone::UTC }
    }

    /// Europe/Rome's rule, spelled out so that the tests need no tz database.
    fn rome() -> ParseContext {
        ParseContext {
            tz: TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap(),
        }
    }

    fn ts(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap()
    }

    /// The instant (in UTC) and the offset it was written in.
    fn at(instant: &str, offset_seconds: i32) -> Option<MsgTime> {
        Some(MsgTime {
            instant: ts(instant),
            offset: Offset::from_seconds(offset_seconds).unwrap(),
        })
    }

    fn b(s: &str) -> Option<&[u8]> {
        Some(s.as_bytes())
    }

    fn parse_utc<'a>(raw: &'a [u8], received: &str) -> Message<'a> {
        parse(raw, ts(received), &utc())
    }

    /// `(id, [(name, unescaped value)])` for every element.
    fn sd(sd: &[u8]) -> Vec<(String, Vec<(String, String)>)> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        sd_elements(sd)
            .map(|element| {
                let params = element
                    .params()
                    .map(|param| {
                        let mut value = Vec::new();
                        unescape_sd_value(param.raw_value, &mut value);
                        (text(param.name), text(&value))
                    })
                    .collect();
                (text(element.id), params)
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    // --- RFC 5424 --------------------------------------------------------

    /// RFC 5424 section 6.5, example 1: no structured data, a BOM before MSG.
    #[test]
    fn rfc5424_example_1() {
        let raw = b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \
                    \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8";
        assert_eq!(
            parse_utc(raw, "2003-10-11T22:14:16Z"),
            Message {
                facility: 4,
                severity: 2,
                timestamp: at("2003-10-11T22:14:15.003Z", 0),
                hostname: b("mymachine.example.com"),
                app_name: b("su"),
                proc_id: None,
                msg_id: b("ID47"),
                structured_data: None,
                message: b"'su root' failed for lonvick on /dev/pts/8",
                format: Format::Rfc5424,
            }
        );
    }

    /// RFC 5424 section 6.5, example 2: microseconds and a -07:00 offset.
    #[test]
    fn rfc5424_example_2() {
        let raw = b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - \
                    %% It's time to make the do-nuts.";
        assert_eq!(
            parse_utc(raw, "2003-08-24T12:14:16Z"),
            Message {
                facility: 20,
                severity: 5,
                timestamp: at("2003-08-24T12:14:15.000003Z", -7 * H),
                hostname: b("192.0.2.1"),
                app_name: b("myproc"),
                proc_id: b("8710"),
                msg_id: None,
                structured_data: None,
                message: b"%% It's time to make the do-nuts.",
                format: Format::Rfc5424,
            }
        );
    }

    /// RFC 5424 section 6.5, example 3: one SD element, then a BOM and MSG.
    #[test]
    fn rfc5424_example_3() {
        let raw = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
                    [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \
                    \xEF\xBB\xBFAn application event log entry...";
        let m = parse_utc(raw, "2003-10-11T22:14:16Z");
        assert_eq!(
            m,
            Message {
                facility: 20,
                severity: 5,
                timestamp: at("2003-10-11T22:14:15.003Z", 0),
                hostname: b("mymachine.example.com"),
                app_name: b("evntslog"),
                proc_id: None,
                msg_id: b("ID47"),
                structured_data: b(
                    "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
                ),
                message: b"An application event log entry...",
                format: Format::Rfc5424,
            }
        );
        assert_eq!(
            sd(m.structured_data.unwrap()),
            [(
                "exampleSDID@32473".to_string(),
                pairs(&[
                    ("iut", "3"),
                    ("eventSource", "Application"),
                    ("eventID", "1011")
                ])
            )]
        );
    }

    /// RFC 5424 section 6.5, example 4: two SD elements and no MSG at all.
    #[test]
    fn rfc5424_example_4() {
        let raw = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
                    [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
                    [examplePriority@32473 class=\"high\"]";
        let m = parse_utc(raw, "2003-10-11T22:14:16Z");
        assert_eq!(
            m,
            Message {
                facility: 20,
                severity: 5,
                timestamp: at("2003-10-11T22:14:15.003Z", 0),
                hostname: b("mymachine.example.com"),
                app_name: b("evntslog"),
                proc_id: None,
                msg_id: b("ID47"),
                structured_data: b(
                    "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
                     [examplePriority@32473 class=\"high\"]"
                ),
                message: b"",
                format: Format::Rfc5424,
            }
        );
        let elements = sd(m.structured_data.unwrap());
        assert_eq!(elements.len(), 2);
        assert_eq!(
            elements[1],
            (
                "examplePriority@32473".to_string(),
                pairs(&[("class", "high")])
            )
        );
    }

    /// RFC 5424 section 6.3.3: `"`, `\` and `]` escaped inside values; any
    /// other backslash stays.
    #[test]
    fn rfc5424_sd_escapes() {
        let raw = br#"<14>1 2024-01-08T19:46:03Z host app 42 - [meta@32473 quote="say \"hi\"" path="C:\\dir" bracket="a\]b" other="x\ny" raw="[ok]"][origin ip="192.0.2.1"] text"#;
        let m = parse_utc(raw, "2024-01-08T19:46:03Z");
        assert_eq!(
            m,
            Message {
                facility: 1,
                severity: 6,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: b("host"),
                app_name: b("app"),
                proc_id: b("42"),
                msg_id: None,
                structured_data: Some(
                    &br#"[meta@32473 quote="say \"hi\"" path="C:\\dir" bracket="a\]b" other="x\ny" raw="[ok]"][origin ip="192.0.2.1"]"#[..]
                ),
                message: b"text",
                format: Format::Rfc5424,
            }
        );
        assert_eq!(
            sd(m.structured_data.unwrap()),
            [
                (
                    "meta@32473".to_string(),
                    pairs(&[
                        ("quote", r#"say "hi""#),
                        ("path", r"C:\dir"),
                        ("bracket", "a]b"),
                        ("other", r"x\ny"),
                        ("raw", "[ok]"),
                    ])
                ),
                ("origin".to_string(), pairs(&[("ip", "192.0.2.1")])),
            ]
        );
        let raw_values: Vec<&[u8]> = sd_elements(m.structured_data.unwrap())
            .flat_map(|e| e.params())
            .map(|p| p.raw_value)
            .collect();
        assert_eq!(raw_values[0], br#"say \"hi\""#);
    }

    /// RFC 5424 section 6.3.5 calls a space between elements invalid SD; the
    /// first element is the SD and the rest is MSG, as its grammar reads.
    #[test]
    fn rfc5424_space_between_sd_elements() {
        let raw = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
                    [exampleSDID@32473 iut=\"3\"] [examplePriority@32473 class=\"high\"]";
        let m = parse_utc(raw, "2003-10-11T22:14:16Z");
        assert_eq!(m.structured_data, b("[exampleSDID@32473 iut=\"3\"]"));
        assert_eq!(m.message, b"[examplePriority@32473 class=\"high\"]");
    }

    /// util-linux `logger --rfc5424` (its default over the network): offset,
    /// microseconds and a timeQuality element.
    #[test]
    fn logger_rfc5424() {
        let raw = b"<13>1 2024-11-24T10:00:00.123456+01:00 myhost alice - - \
                    [timeQuality tzKnown=\"1\" isSynced=\"1\" syncAccuracy=\"62000\"] hello world";
        assert_eq!(
            parse_utc(raw, "2024-11-24T09:00:01Z"),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-11-24T09:00:00.123456Z", H),
                hostname: b("myhost"),
                app_name: b("alice"),
                proc_id: None,
                msg_id: None,
                structured_data: b(
                    "[timeQuality tzKnown=\"1\" isSynced=\"1\" syncAccuracy=\"62000\"]"
                ),
                message: b"hello world",
                format: Format::Rfc5424,
            }
        );
    }

    /// Junos OS structured-data format (`structured-data` under `syslog host`),
    /// the example in Juniper's documentation.
    #[test]
    fn junos_structured() {
        let raw = b"<165>1 2007-02-15T09:17:15.719Z router1 mgd 3046 UI_DBASE_LOGOUT_EVENT \
                    [junos@2636.1.1.1.2.18 username=\"regress\"] User 'regress' exiting configuration mode";
        assert_eq!(
            parse_utc(raw, "2007-02-15T09:17:16Z"),
            Message {
                facility: 20,
                severity: 5,
                timestamp: at("2007-02-15T09:17:15.719Z", 0),
                hostname: b("router1"),
                app_name: b("mgd"),
                proc_id: b("3046"),
                msg_id: b("UI_DBASE_LOGOUT_EVENT"),
                structured_data: b("[junos@2636.1.1.1.2.18 username=\"regress\"]"),
                message: b"User 'regress' exiting configuration mode",
                format: Format::Rfc5424,
            }
        );
    }

    /// rsyslog test suite (hostname-with-slash-dflt-slash-valid.sh): a
    /// hostname with a slash, the tcpflood SD element.
    #[test]
    fn rsyslog_tcpflood_5424() {
        let raw = b"<167>1 2003-03-01T01:00:00.000Z hostname1/hostname2 tcpflood - tag \
                    [tcpflood@32473 MSGNUM=\"0\"] data";
        assert_eq!(
            parse_utc(raw, "2003-03-01T01:00:01Z"),
            Message {
                facility: 20,
                severity: 7,
                timestamp: at("2003-03-01T01:00:00Z", 0),
                hostname: b("hostname1/hostname2"),
                app_name: b("tcpflood"),
                proc_id: None,
                msg_id: b("tag"),
                structured_data: b("[tcpflood@32473 MSGNUM=\"0\"]"),
                message: b"data",
                format: Format::Rfc5424,
            }
        );
    }

    /// The offset is subtracted to get UTC; the written offset is kept.
    #[test]
    fn rfc5424_offsets() {
        let cases: [(&[u8], &str, i32); 5] = [
            (
                b"<14>1 2024-05-01T10:00:00+02:00 h a - - -",
                "2024-05-01T08:00:00Z",
                2 * H,
            ),
            (
                b"<14>1 2024-05-01T10:00:00-03:30 h a - - -",
                "2024-05-01T13:30:00Z",
                -(3 * H + 1800),
            ),
            (
                b"<14>1 2024-05-01t10:00:00z h a - - -",
                "2024-05-01T10:00:00Z",
                0,
            ),
            (
                b"<14>1 2024-05-01T10:00:00.123456789+05:45 h a - - -",
                "2024-05-01T04:15:00.123456789Z",
                5 * H + 2700,
            ),
            // A leap second is read as the second before it.
            (
                b"<14>1 2016-12-31T23:59:60Z h a - - -",
                "2016-12-31T23:59:59Z",
                0,
            ),
        ];
        for (raw, instant, offset) in cases {
            let m = parse_utc(raw, "2024-05-01T08:00:00Z");
            assert_eq!(
                m.format,
                Format::Rfc5424,
                "{}",
                String::from_utf8_lossy(raw)
            );
            assert_eq!(
                m.timestamp,
                at(instant, offset),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn rfc5424_nil_everywhere_and_bom_only() {
        assert_eq!(
            parse_utc(b"<0>1 - - - - - - \xEF\xBB\xBF", "2024-01-01T00:00:00Z"),
            Message {
                facility: 0,
                severity: 0,
                timestamp: None,
                hostname: None,
                app_name: None,
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"",
                format: Format::Rfc5424,
            }
        );
    }

    #[test]
    fn rfc5424_broken_headers_are_malformed() {
        let cases: [&[u8]; 11] = [
            b"<13>1 2024-13-01T00:00:00Z h a p m - x", // month 13
            b"<13>1 2023-02-29T00:00:00Z h a p m - x", // no such day
            b"<13>1 2024-01-01T00:00:00 h a p m - x",  // no offset
            b"<13>1 2024-01-01 00:00:00Z h a p m - x", // space for T
            b"<13>1 - h a p m [id a=\"b\" x",          // unterminated SD
            b"<13>1 - h a p m [id a=b] x",             // unquoted value
            b"<13>1 - h a p m [ a=\"b\"] x",           // empty SD-ID
            b"<13>1 - h a p m [id a=\"b\"]x",          // no space before MSG
            b"<13>1 - h a p m -x",                     // nor after a nil SD
            b"<13>1 - host app",                       // fields missing
            b"<13>1 -  h a p m - x",                   // empty field
        ];
        for raw in cases {
            assert_eq!(
                parse_utc(raw, "2024-01-01T00:00:00Z"),
                Message::unparsed(raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    // --- RFC 3164 --------------------------------------------------------

    /// RFC 3164 section 5.4, example 1.
    #[test]
    fn rfc3164_example_1() {
        let raw = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";
        assert_eq!(
            parse_utc(raw, "2003-10-11T22:14:16Z"),
            Message {
                facility: 4,
                severity: 2,
                timestamp: at("2003-10-11T22:14:15Z", 0),
                hostname: b("mymachine"),
                app_name: b("su"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"'su root' failed for lonvick on /dev/pts/8",
                format: Format::Rfc3164,
            }
        );
    }

    /// RFC 3164 section 5.4, example 2: neither PRI nor timestamp.
    #[test]
    fn rfc3164_example_2_is_malformed() {
        assert_eq!(
            parse_utc(b"Use the BFG!", "2024-01-01T00:00:00Z"),
            Message::unparsed(b"Use the BFG!")
        );
    }

    /// RFC 3164 section 5.4, example 3: no tag; like rsyslog we read the
    /// word after the hostname as one.
    #[test]
    fn rfc3164_example_3() {
        let raw = b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!";
        assert_eq!(
            parse_utc(raw, "2024-02-05T17:32:20Z"),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-02-05T17:32:18Z", 0),
                hostname: b("10.0.0.99"),
                app_name: b("Use"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"the BFG!",
                format: Format::Rfc3164,
            }
        );
    }

    /// RFC 3164 section 5.4, example 4: a zone and a year after the time.
    /// `CST` is ambiguous, so the date is read in `-tz`.
    #[test]
    fn rfc3164_example_4() {
        let raw = b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the \
                    do-nuts.  %%  Ingredients: Mix=OK, Jumbo=OK, Grease=OK";
        assert_eq!(
            parse_utc(raw, "2024-01-01T00:00:00Z"),
            Message {
                facility: 20,
                severity: 5,
                timestamp: at("1987-08-24T05:34:00Z", 0),
                hostname: b("mymachine"),
                app_name: b("myproc"),
                proc_id: b("10"),
                msg_id: None,
                structured_data: None,
                message: b"%% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jumbo=OK, Grease=OK",
                format: Format::Rfc3164,
            }
        );
    }

    /// glibc syslog(3) writes `<PRI>%h %e %T TAG[PID]: ` to /dev/log: no
    /// hostname.
    #[test]
    fn glibc_dev_log() {
        assert_eq!(
            parse_utc(
                b"<13>Nov 24 10:00:00 myapp[123]: hello",
                "2024-11-24T10:00:01Z"
            ),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-11-24T10:00:00Z", 0),
                hostname: None,
                app_name: b("myapp"),
                proc_id: b("123"),
                msg_id: None,
                structured_data: None,
                message: b"hello",
                format: Format::Rfc3164,
            }
        );
    }

    /// The same line relayed with a hostname (RFC 3164 section 4.1.2).
    #[test]
    fn glibc_relayed_with_hostname() {
        assert_eq!(
            parse_utc(
                b"<13>Nov 24 10:00:00 host1 myapp[123]: hello",
                "2024-11-24T10:00:01Z"
            ),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-11-24T10:00:00Z", 0),
                hostname: b("host1"),
                app_name: b("myapp"),
                proc_id: b("123"),
                msg_id: None,
                structured_data: None,
                message: b"hello",
                format: Format::Rfc3164,
            }
        );
    }

    /// sudo logs through glibc syslog(3) as `sudo` without LOG_PID, to
    /// authpriv; its message starts with spaces, of which only the one
    /// after the colon is a separator.
    #[test]
    fn glibc_sudo_without_pid() {
        let raw = b"<85>Nov 24 10:00:00 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id";
        assert_eq!(
            parse_utc(raw, "2024-11-24T10:00:01Z"),
            Message {
                facility: 10,
                severity: 5,
                timestamp: at("2024-11-24T10:00:00Z", 0),
                hostname: None,
                app_name: b("sudo"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message:
                    b"   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
                format: Format::Rfc3164,
            }
        );
    }

    /// systemd-journald ForwardToSyslog= writes the glibc form to the
    /// syslog socket.
    #[test]
    fn journald_forward_to_syslog() {
        assert_eq!(
            parse_utc(
                b"<30>Jan  8 19:46:03 systemd[1]: Started Session 5 of user alice.",
                "2024-01-08T19:46:04Z"
            ),
            Message {
                facility: 3,
                severity: 6,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: None,
                app_name: b("systemd"),
                proc_id: b("1"),
                msg_id: None,
                structured_data: None,
                message: b"Started Session 5 of user alice.",
                format: Format::Rfc3164,
            }
        );
    }

    /// util-linux `logger --rfc3164` over the network: hostname, tag, no pid.
    #[test]
    fn logger_rfc3164() {
        assert_eq!(
            parse_utc(
                b"<13>Nov 24 10:00:00 myhost alice: hello world",
                "2024-11-24T10:00:01Z"
            ),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-11-24T10:00:00Z", 0),
                hostname: b("myhost"),
                app_name: b("alice"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"hello world",
                format: Format::Rfc3164,
            }
        );
    }

    /// util-linux `logger` to a local socket (its default there): the glibc
    /// form, no hostname.
    #[test]
    fn logger_local_socket() {
        assert_eq!(
            parse_utc(
                b"<13>Nov 24 10:00:00 alice: hello world",
                "2024-11-24T10:00:01Z"
            ),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-11-24T10:00:00Z", 0),
                hostname: None,
                app_name: b("alice"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"hello world",
                format: Format::Rfc3164,
            }
        );
    }

    /// A Linux kernel message as rsyslog (imklog) and syslog-ng forward it:
    /// the `[seconds]` printk time is message text, not structured data.
    #[test]
    fn kernel_via_rsyslog() {
        let raw = b"<6>Jan  8 19:46:03 myhost kernel: [  123.456789] usb 1-1: new high-speed USB device number 2 using xhci_hcd";
        assert_eq!(
            parse_utc(raw, "2024-01-08T19:46:04Z"),
            Message {
                facility: 0,
                severity: 6,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: b("myhost"),
                app_name: b("kernel"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message:
                    b"[  123.456789] usb 1-1: new high-speed USB device number 2 using xhci_hcd",
                format: Format::Rfc3164,
            }
        );
    }

    /// A line of /proc/kmsg as a klogd relays it: PRI, printk time, text.
    #[test]
    fn kernel_proc_kmsg() {
        let raw = b"<4>[ 1234.567890] CPU0: Core temperature above threshold, cpu clock throttled";
        assert_eq!(
            parse_utc(raw, "2024-01-08T19:46:04Z"),
            Message {
                facility: 0,
                severity: 4,
                timestamp: None,
                hostname: None,
                app_name: None,
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message:
                    b"[ 1234.567890] CPU0: Core temperature above threshold, cpu clock throttled",
                format: Format::Rfc3164,
            }
        );
    }

    /// A kernel time right after the timestamp is neither hostname nor tag.
    #[test]
    fn kernel_time_after_timestamp() {
        let m = parse_utc(
            b"<6>Jan  8 19:46:03 [  5.000000] eth0: link up",
            "2024-01-08T19:46:04Z",
        );
        assert_eq!((m.hostname, m.app_name), (None, None));
        assert_eq!(m.message, b"[  5.000000] eth0: link up");
    }

    /// Cisco IOS with `service sequence-numbers` and `service timestamps log
    /// datetime msec show-timezone`, clock not set (`*`).
    #[test]
    fn cisco_ios_sequence_marker_msec_zone() {
        let raw = b"<189>237: *Jan  8 19:46:03.295 UTC: %SYS-5-CONFIG_I: Configured from console by console";
        assert_eq!(
            parse(raw, ts("2024-01-08T19:46:05Z"), &rome()),
            Message {
                facility: 23,
                severity: 5,
                timestamp: at("2024-01-08T19:46:03.295Z", 0),
                hostname: None,
                app_name: b("%SYS-5-CONFIG_I"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Configured from console by console",
                format: Format::Rfc3164,
            }
        );
    }

    /// rsyslog test suite (pmnull-basic.sh): Cisco IOS with sequence number
    /// and milliseconds but no zone, read in `-tz`.
    #[test]
    fn cisco_ios_rsyslog_sample() {
        let raw = b"<189>16261: May 28 16:09:56.185: %SYS-5-CONFIG_I: Configured from console by adminsepp on vty0 (10.23.214.226)";
        assert_eq!(
            parse(raw, ts("2016-05-28T14:10:00Z"), &rome()),
            Message {
                facility: 23,
                severity: 5,
                timestamp: at("2016-05-28T14:09:56.185Z", 2 * H),
                hostname: None,
                app_name: b("%SYS-5-CONFIG_I"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Configured from console by adminsepp on vty0 (10.23.214.226)",
                format: Format::Rfc3164,
            }
        );
    }

    /// OSSEC's Cisco IOS log samples: `.` (clock lost sync) and a known
    /// zone abbreviation, which wins over `-tz`.
    #[test]
    fn cisco_ios_dot_marker_edt() {
        let raw = b"<190>636: .Jul 10 15:58:56.590 EDT: %SEC-6-IPACCESSLOGP: list 102 denied tcp 10.0.6.56(3067) -> 172.36.4.7(139), 1 packet";
        assert_eq!(
            parse(raw, ts("2024-07-10T20:00:00Z"), &rome()),
            Message {
                facility: 23,
                severity: 6,
                timestamp: at("2024-07-10T19:58:56.590Z", -4 * H),
                hostname: None,
                app_name: b("%SEC-6-IPACCESSLOGP"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"list 102 denied tcp 10.0.6.56(3067) -> 172.36.4.7(139), 1 packet",
                format: Format::Rfc3164,
            }
        );
    }

    /// Cisco IOS with `logging origin-id hostname`: `SEQ: HOST: TIMESTAMP:`.
    #[test]
    fn cisco_ios_origin_id() {
        let raw = b"<189>58: router1: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)";
        assert_eq!(
            parse_utc(raw, "2024-03-01T18:49:00Z"),
            Message {
                facility: 23,
                severity: 5,
                timestamp: at("2024-03-01T18:48:50.483Z", 0),
                hostname: b("router1"),
                app_name: b("%SYS-5-CONFIG_I"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Configured from console by vty0 (10.0.0.1)",
                format: Format::Rfc3164,
            }
        );
    }

    /// OSSEC's Cisco IOS samples: sequence numbers without timestamps.
    #[test]
    fn cisco_ios_sequence_without_timestamp() {
        let raw = b"<189>89: %SYS-5-CONFIG_I: Configured from console by admin on vty0 (1.1.1.1)";
        assert_eq!(
            parse_utc(raw, "2024-09-06T12:00:00Z"),
            Message {
                facility: 23,
                severity: 5,
                timestamp: None,
                hostname: None,
                app_name: b("%SYS-5-CONFIG_I"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Configured from console by admin on vty0 (1.1.1.1)",
                format: Format::Rfc3164,
            }
        );
    }

    /// OSSEC's Cisco IOS samples: sent without PRI, the Cisco timestamp is
    /// still recognised (so `user.notice`, not malformed).
    #[test]
    fn cisco_ios_without_pri() {
        let raw = b"123: May  3 05:15:25.217 UTC: %SEC-6-IPACCESSLOGP: list 120 denied udp 10.0.0.66(137) -> 10.0.0.11(137), 33 packets";
        assert_eq!(
            parse_utc(raw, "2024-05-03T05:16:00Z"),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-05-03T05:15:25.217Z", 0),
                hostname: None,
                app_name: b("%SEC-6-IPACCESSLOGP"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"list 120 denied udp 10.0.0.66(137) -> 10.0.0.11(137), 33 packets",
                format: Format::Rfc3164,
            }
        );
    }

    /// Cisco NX-OS 9.3 (as syslog-ng's cisco-parser documents it): `: `
    /// without a sequence number and the year before the month.
    #[test]
    fn cisco_nxos_year_first() {
        let raw = b"<189>: 2024 Jan  8 19:46:03 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up in mode access";
        assert_eq!(
            parse(raw, ts("2024-01-08T19:46:04Z"), &rome()),
            Message {
                facility: 23,
                severity: 5,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: None,
                app_name: b("%ETHPORT-5-IF_UP"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Interface Ethernet1/1 is up in mode access",
                format: Format::Rfc3164,
            }
        );
    }

    /// Cisco ASA with `logging timestamp`: the year between day and time,
    /// a colon after the time, no hostname.
    #[test]
    fn cisco_asa_year_in_date() {
        let raw = b"<166>Jan 08 2024 19:46:03: %ASA-6-302013: Built outbound TCP connection 123 for outside:192.0.2.4/443 (192.0.2.4/443) to inside:10.0.0.2/51234 (10.0.0.2/51234)";
        assert_eq!(
            parse_utc(raw, "2025-06-01T00:00:00Z"),
            Message {
                facility: 20,
                severity: 6,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: None,
                app_name: b("%ASA-6-302013"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Built outbound TCP connection 123 for outside:192.0.2.4/443 (192.0.2.4/443) to inside:10.0.0.2/51234 (10.0.0.2/51234)",
                format: Format::Rfc3164,
            }
        );
    }

    /// Cisco ASA with `logging device-id hostname`: `HOST : %ASA-...`.
    #[test]
    fn cisco_asa_device_id() {
        let raw = b"<166>Jan 08 2024 19:46:03 asa1 : %ASA-6-302014: Teardown TCP connection 123 for outside:192.0.2.4/443 to inside:10.0.0.2/51234 duration 0:00:30 bytes 6144 TCP FINs";
        assert_eq!(
            parse_utc(raw, "2024-01-08T19:46:04Z"),
            Message {
                facility: 20,
                severity: 6,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: b("asa1"),
                app_name: b("%ASA-6-302014"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Teardown TCP connection 123 for outside:192.0.2.4/443 to inside:10.0.0.2/51234 duration 0:00:30 bytes 6144 TCP FINs",
                format: Format::Rfc3164,
            }
        );
    }

    /// Logstash's syslog spec example: an ASA relayed with an IP as hostname
    /// and a bracketed suffix that is not structured data.
    #[test]
    fn cisco_asa_logstash_sample() {
        let raw = b"<164>Oct 26 15:19:25 1.2.3.4 %ASA-4-106023: Deny udp src DRAC:10.1.2.3/43434 dst outside:192.168.0.1/53 by access-group \"acl_drac\" [0x0, 0x0]";
        assert_eq!(
            parse_utc(raw, "2012-10-26T15:19:30Z"),
            Message {
                facility: 20,
                severity: 4,
                timestamp: at("2012-10-26T15:19:25Z", 0),
                hostname: b("1.2.3.4"),
                app_name: b("%ASA-4-106023"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"Deny udp src DRAC:10.1.2.3/43434 dst outside:192.168.0.1/53 by access-group \"acl_drac\" [0x0, 0x0]",
                format: Format::Rfc3164,
            }
        );
    }

    /// Junos OS default (RFC 3164) format.
    #[test]
    fn junos_3164() {
        let raw = b"<28>Mar 12 18:04:58 mx960-re0 mib2d[2017]: SNMP_TRAP_LINK_DOWN: ifIndex 598, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-1/0/3";
        assert_eq!(
            parse_utc(raw, "2024-03-12T18:05:00Z"),
            Message {
                facility: 3,
                severity: 4,
                timestamp: at("2024-03-12T18:04:58Z", 0),
                hostname: b("mx960-re0"),
                app_name: b("mib2d"),
                proc_id: b("2017"),
                msg_id: None,
                structured_data: None,
                message: b"SNMP_TRAP_LINK_DOWN: ifIndex 598, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-1/0/3",
                format: Format::Rfc3164,
            }
        );
    }

    /// BusyBox syslogd `-R` forwards the /dev/log datagram unmodified
    /// (sysklogd/syslogd.c), so the remote end gets no hostname.
    #[test]
    fn busybox_remote() {
        let raw =
            b"<30>Jan  8 19:46:03 udhcpc[1234]: lease of 192.168.1.23 obtained, lease time 86400";
        assert_eq!(
            parse_utc(raw, "2024-01-08T19:46:04Z"),
            Message {
                facility: 3,
                severity: 6,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: None,
                app_name: b("udhcpc"),
                proc_id: b("1234"),
                msg_id: None,
                structured_data: None,
                message: b"lease of 192.168.1.23 obtained, lease time 86400",
                format: Format::Rfc3164,
            }
        );
    }

    /// musl's syslog(3) (src/misc/syslog.c) formats the time with gmtime:
    /// with `-tz UTC` the instant is right, with the host's zone it is not.
    #[test]
    fn musl_writes_utc() {
        let raw =
            b"<78>Jan  8 19:46:03 crond[77]: USER root pid 80 cmd run-parts /etc/periodic/15min";
        let expected = Message {
            facility: 9,
            severity: 6,
            timestamp: at("2024-01-08T19:46:03Z", 0),
            hostname: None,
            app_name: b("crond"),
            proc_id: b("77"),
            msg_id: None,
            structured_data: None,
            message: b"USER root pid 80 cmd run-parts /etc/periodic/15min",
            format: Format::Rfc3164,
        };
        assert_eq!(parse_utc(raw, "2024-01-08T19:46:04Z"), expected);
        let in_rome = parse(raw, ts("2024-01-08T19:46:04Z"), &rome());
        assert_eq!(in_rome.timestamp, at("2024-01-08T18:46:03Z", H));
    }

    /// musl's syslog(3) without openlog(): no tag at all. A lone word after
    /// the timestamp is message text.
    #[test]
    fn musl_without_ident() {
        assert_eq!(
            parse_utc(b"<14>Jan  8 19:46:03 hello", "2024-01-08T19:46:04Z"),
            Message {
                facility: 1,
                severity: 6,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: None,
                app_name: None,
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"hello",
                format: Format::Rfc3164,
            }
        );
    }

    /// rsyslog's RSYSLOG_ForwardFormat: an RFC 3339 timestamp in the 3164
    /// position.
    #[test]
    fn rsyslog_forward_format() {
        let raw = b"<13>2024-01-08T19:46:03.295123+01:00 myhost app[42]: msg text";
        assert_eq!(
            parse_utc(raw, "2024-01-08T18:46:04Z"),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-01-08T18:46:03.295123Z", H),
                hostname: b("myhost"),
                app_name: b("app"),
                proc_id: b("42"),
                msg_id: None,
                structured_data: None,
                message: b"msg text",
                format: Format::Rfc3164,
            }
        );
    }

    /// rsyslog test suite (pmrfc3164-defaultTag.sh): a tag without colon,
    /// read as rsyslog does by default.
    #[test]
    fn rsyslog_tag_without_colon() {
        assert_eq!(
            parse_utc(
                b"<129>Mar 10 01:00:00 Hostname3 tag msgnum:3",
                "2024-03-10T01:00:01Z"
            ),
            Message {
                facility: 16,
                severity: 1,
                timestamp: at("2024-03-10T01:00:00Z", 0),
                hostname: b("Hostname3"),
                app_name: b("tag"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"msgnum:3",
                format: Format::Rfc3164,
            }
        );
    }

    /// rsyslog test suite (pmrfc3164-defaultTag.sh): no tag, two spaces.
    #[test]
    fn rsyslog_no_tag() {
        assert_eq!(
            parse_utc(
                b"<129>Mar 10 01:00:00 Hostname1  msgnum:1",
                "2024-03-10T01:00:01Z"
            ),
            Message {
                facility: 16,
                severity: 1,
                timestamp: at("2024-03-10T01:00:00Z", 0),
                hostname: b("Hostname1"),
                app_name: None,
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b" msgnum:1",
                format: Format::Rfc3164,
            }
        );
    }

    /// rsyslog test suite (hostname-with-slash-pmrfc3164.sh).
    #[test]
    fn rsyslog_hostname_with_slash() {
        assert_eq!(
            parse_utc(
                b"<167>Mar  6 16:57:54 hostname1/hostname2 test: msgnum:0",
                "2024-03-06T16:57:55Z"
            ),
            Message {
                facility: 20,
                severity: 7,
                timestamp: at("2024-03-06T16:57:54Z", 0),
                hostname: b("hostname1/hostname2"),
                app_name: b("test"),
                proc_id: None,
                msg_id: None,
                structured_data: None,
                message: b"msgnum:0",
                format: Format::Rfc3164,
            }
        );
    }

    /// A syslog file line (as `tail -f /var/log/auth.log | nc` sends it):
    /// no PRI, but a timestamp, so `user.notice`.
    #[test]
    fn missing_pri_with_timestamp() {
        let raw = b"Jan  8 19:46:03 myhost sshd[4242]: Accepted publickey for alice from 192.0.2.7 port 51234 ssh2";
        assert_eq!(
            parse_utc(raw, "2024-01-08T19:46:04Z"),
            Message {
                facility: 1,
                severity: 5,
                timestamp: at("2024-01-08T19:46:03Z", 0),
                hostname: b("myhost"),
                app_name: b("sshd"),
                proc_id: b("4242"),
                msg_id: None,
                structured_data: None,
                message: b"Accepted publickey for alice from 192.0.2.7 port 51234 ssh2",
                format: Format::Rfc3164,
            }
        );
    }

    /// An old device writing Latin-1: fields are bytes, never an error.
    #[test]
    fn latin1_bytes() {
        let raw = b"<13>Nov 24 10:00:00 oldbox app: caf\xe9 cr\xe8me \xff";
        let m = parse_utc(raw, "2024-11-24T10:00:01Z");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.hostname, b("oldbox"));
        assert_eq!(m.message, b"caf\xe9 cr\xe8me \xff");
    }

    /// A year after the time, as in RFC 3164 section 5.4 example 4 but
    /// without the zone.
    #[test]
    fn year_after_time() {
        let m = parse_utc(
            b"<13>Jan  8 19:46:03 2021 host app: x",
            "2024-06-01T00:00:00Z",
        );
        assert_eq!(m.timestamp, at("2021-01-08T19:46:03Z", 0));
        assert_eq!(
            (m.hostname, m.app_name, m.message),
            (b("host"), b("app"), &b"x"[..])
        );
    }

    #[test]
    fn ipv6_hostname_is_not_a_tag() {
        let m = parse_utc(
            b"<13>Jan  8 19:46:03 fe80::1 app[7]: x",
            "2024-01-08T19:46:04Z",
        );
        assert_eq!(
            (m.hostname, m.app_name, m.proc_id),
            (b("fe80::1"), b("app"), b("7"))
        );
    }

    /// Without a timestamp everything after the PRI is content, unless it
    /// starts with a tag (RFC 3164 section 4.3.3).
    #[test]
    fn pri_without_timestamp() {
        let m = parse_utc(b"<13>myapp[9]: started", "2024-01-08T19:46:04Z");
        assert_eq!(
            (m.timestamp, m.hostname, m.app_name, m.proc_id),
            (None, None, b("myapp"), b("9"))
        );
        assert_eq!(m.message, b"started");
        let m = parse_utc(b"<13>hello world", "2024-01-08T19:46:04Z");
        assert_eq!(
            (m.hostname, m.app_name, m.message),
            (None, None, &b"hello world"[..])
        );
        assert_eq!(m.format, Format::Rfc3164);
    }

    /// A date that does not exist keeps its place in the header but gives
    /// no timestamp.
    #[test]
    fn impossible_date() {
        let m = parse_utc(b"<13>Feb 30 10:00:00 host app: x", "2024-02-20T00:00:00Z");
        assert_eq!(
            (m.timestamp, m.hostname, m.app_name),
            (None, b("host"), b("app"))
        );
        assert_eq!(m.format, Format::Rfc3164);
    }

    #[test]
    fn malformed_inputs() {
        let cases: [&[u8]; 10] = [
            b"",
            b"<13>",
            b"<192>Jan  8 19:46:03 host app: x",
            b"<1a>Jan  8 19:46:03 host app: x",
            b"<>Jan  8 19:46:03 host app: x",
            b"<1234>Jan  8 19:46:03 host app: x",
            b"<13 Jan  8 19:46:03 host app: x",
            b"hello world",
            b"app[1]: no pri, no timestamp",
            b"\xff\xfe\x00garbage",
        ];
        for raw in cases {
            assert_eq!(
                parse_utc(raw, "2024-01-08T19:46:04Z"),
                Message::unparsed(raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    // --- Years and zones -------------------------------------------------

    #[test]
    fn months_are_read_in_any_case_and_nothing_else_is_a_month() {
        const NAMES: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // Every letter, and the bytes that a case fold by bit would confuse
        // with letters (`@`, `[`, `` ` ``, `{`), Latin-1 capitals and DEL.
        let mut bytes: Vec<u8> = (b'a'..=b'z').chain(b'A'..=b'Z').collect();
        bytes.extend_from_slice(b"@[`{^_\x7f\xc4\xe4 0");
        for &a in &bytes {
            for &b in &bytes {
                for &c in &bytes {
                    let name = [a, b, c];
                    let expected = NAMES
                        .iter()
                        .position(|m| m.as_bytes().eq_ignore_ascii_case(&name))
                        .map(|i| i as i8 + 1);
                    assert_eq!(month(&name), expected, "{name:?}");
                }
            }
        }
        assert_eq!(month(b"De"), None);
        assert_eq!(month(b"Decem"), None);
    }

    #[test]
    fn year_is_the_nearest_to_reception() {
        let cases = [
            // Sent just before midnight on New Year's Eve, received after.
            (
                "Dec 31 23:59:59",
                "2024-01-01T00:00:30Z",
                "2023-12-31T23:59:59Z",
            ),
            // The sender's clock a little ahead across New Year.
            (
                "Jan  1 00:00:10",
                "2023-12-31T23:59:50Z",
                "2024-01-01T00:00:10Z",
            ),
            (
                "Jun 15 12:00:00",
                "2024-06-15T12:00:00Z",
                "2024-06-15T12:00:00Z",
            ),
            // August is nearer last year's than this year's from January.
            (
                "Aug  1 00:00:00",
                "2024-01-10T00:00:00Z",
                "2023-08-01T00:00:00Z",
            ),
            (
                "Jun  1 00:00:00",
                "2024-01-10T00:00:00Z",
                "2024-06-01T00:00:00Z",
            ),
            // Halfway between two New Years (2026-07-02T12:00:00): a tie goes
            // to the earlier; a second later, to the later. The time of day
            // decides, not the date alone.
            (
                "Jan  1 00:00:00",
                "2026-07-02T12:00:00Z",
                "2026-01-01T00:00:00Z",
            ),
            (
                "Jan  1 00:00:00",
                "2026-07-02T12:00:01Z",
                "2027-01-01T00:00:00Z",
            ),
            (
                "Jan  1 00:00:01",
                "2026-07-02T12:00:01Z",
                "2026-01-01T00:00:01Z",
            ),
            // Only leap years have it.
            (
                "Feb 29 12:00:00",
                "2025-03-01T00:00:00Z",
                "2024-02-29T12:00:00Z",
            ),
        ];
        for (date, received, expected) in cases {
            let raw = format!("<13>{date} host app: x");
            let m = parse_utc(raw.as_bytes(), received);
            assert_eq!(m.timestamp, at(expected, 0), "{date} received {received}");
        }
    }

    #[test]
    fn year_inference_uses_the_zone() {
        // 23:45 UTC on Dec 31 is already 00:45 on Jan 1 in Rome.
        let m = parse(
            b"<13>Jan  1 00:30:00 host app: x",
            ts("2023-12-31T23:45:00Z"),
            &rome(),
        );
        assert_eq!(m.timestamp, at("2023-12-31T23:30:00Z", H));
    }

    #[test]
    fn tz_applies_to_3164_dates() {
        let summer = b"<13>Jul 15 12:00:00 host app: x";
        let winter = b"<13>Jan 15 12:00:00 host app: x";
        let received = ts("2024-07-15T12:00:00Z");
        assert_eq!(
            parse(summer, received, &utc()).timestamp,
            at("2024-07-15T12:00:00Z", 0)
        );
        assert_eq!(
            parse(summer, received, &rome()).timestamp,
            at("2024-07-15T10:00:00Z", 2 * H)
        );
        let received = ts("2024-01-15T12:00:00Z");
        assert_eq!(
            parse(winter, received, &rome()).timestamp,
            at("2024-01-15T11:00:00Z", H)
        );
        // 02:30 does not exist in Rome on 2024-03-31: read in the offset
        // before the gap, it is the instant of 03:30 CEST.
        let gap = b"<13>Mar 31 02:30:00 host app: x";
        let received = ts("2024-03-31T01:00:00Z");
        assert_eq!(
            parse(gap, received, &rome()).timestamp,
            at("2024-03-31T01:30:00Z", H)
        );
        // An RFC 3339 timestamp without offset is read in -tz too.
        let iso = b"<13>2024-07-15T12:00:00 host app: x";
        assert_eq!(
            parse(iso, received, &rome()).timestamp,
            at("2024-07-15T10:00:00Z", 2 * H)
        );
    }

    #[test]
    fn known_zone_abbreviation_wins_over_tz() {
        let raw = b"<13>Jan  8 19:46:03 UTC: app: x";
        let m = parse(raw, ts("2024-01-08T19:46:04Z"), &rome());
        assert_eq!(m.timestamp, at("2024-01-08T19:46:03Z", 0));
        assert_eq!((m.hostname, m.app_name), (None, b("app")));
        // A word that is no zone is the hostname.
        let m = parse(
            b"<13>Jan  8 19:46:03 FOO app: x",
            ts("2024-01-08T19:46:04Z"),
            &rome(),
        );
        assert_eq!(m.hostname, b("FOO"));
    }

    #[test]
    fn bom_is_dropped_in_5424_only() {
        let m = parse_utc(
            b"<13>1 - h a - - - \xEF\xBB\xBFhello",
            "2024-01-01T00:00:00Z",
        );
        assert_eq!(m.message, b"hello");
        let m = parse_utc(
            b"<13>Jan  1 00:00:00 h a: \xEF\xBB\xBFhello",
            "2024-01-01T00:00:00Z",
        );
        assert_eq!(m.message, b"\xEF\xBB\xBFhello");
    }

    #[test]
    fn unescape_keeps_other_backslashes() {
        let mut out = Vec::new();
        unescape_sd_value(br#"a\"b\\c\]d\ne\"#, &mut out);
        assert_eq!(out, br#"a"b\c]d\ne\"#);
    }

    // --- Properties -------------------------------------------------------

    fn within(field: &[u8], raw: &[u8]) -> bool {
        let start = raw.as_ptr() as usize;
        let at = field.as_ptr() as usize;
        at >= start && at + field.len() <= start + raw.len()
    }

    fn check(raw: &[u8], received: Timestamp) {
        for ctx in [utc(), rome()] {
            let m = parse(raw, received, &ctx);
            assert!(m.facility < 24 && m.severity < 8);
            let fields = [
                m.hostname,
                m.app_name,
                m.proc_id,
                m.msg_id,
                m.structured_data,
            ];
            for field in fields.into_iter().flatten().chain([m.message]) {
                assert!(within(field, raw), "{field:?} not in {raw:?}");
            }
            if m.malformed() {
                assert_eq!(m.message, raw);
            }
            let Some(sd) = m.structured_data else {
                continue;
            };
            let mut out = Vec::new();
            for element in sd_elements(sd) {
                assert!(within(element.id, sd) && !element.id.is_empty());
                for param in element.params() {
                    assert!(within(param.name, sd) && within(param.raw_value, sd));
                    unescape_sd_value(param.raw_value, &mut out);
                }
            }
        }
    }

    const FRAGMENTS: &[&[u8]] = &[
        b"<13>",
        b"<165>1 ",
        b"<0>",
        b"<191>",
        b"<",
        b">",
        b"1 ",
        b"-",
        b" ",
        b"  ",
        b"2003-10-11T22:14:15.003Z",
        b"2003-08-24T05:14:15.000003-07:00",
        b"9999-12-31T23:59:60+23:59",
        b"0000-01-01T00:00:00-23:59",
        b"Jan  8 ",
        b"Feb 29 ",
        b"Dec 31",
        b"19:46:03",
        b".295",
        b" UTC:",
        b" CST 1987",
        b" 2024",
        b"2024 ",
        b"*",
        b".",
        b":",
        b": ",
        b"237: ",
        b"%SYS-5-X:",
        b"host",
        b"app[12]:",
        b"app[",
        b"]",
        b"[",
        b"[id",
        b" a=\"",
        b"\"",
        b"\\",
        b"\\\"",
        b"=",
        b"\xEF\xBB\xBF",
        b"\xff",
        b"\0",
    ];

    fn any_received() -> impl Strategy<Value = Timestamp> {
        (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second())
            .prop_map(|s| Timestamp::from_second(s).unwrap())
    }

    proptest! {
        /// The short cut picks what the exact search picks, in zones as far
        /// from UTC as offsets go, and most of all around New Year.
        #[test]
        fn nearest_date_shortcut_is_exact(
            received in proptest::prop_oneof![
                -2_208_988_800i64..4_102_444_800,
                // Within five days of a New Year (UTC) from 1901 to 2099.
                (1901i16..2100, -432_000i64..432_000).prop_map(|(year, s)| {
                    Offset::UTC.to_timestamp(Date::new(year, 1, 1).unwrap().at(0, 0, 0, 0)).unwrap().as_second() + s
                }),
            ],
            month in 1i8..=12,
            day in 1i8..=31,
            (hour, minute) in (0i8..24, 0i8..60),
            zone in 0usize..5,
        ) {
            let received = Timestamp::from_second(received).unwrap();
            let tz = match zone {
                0 => TimeZone::UTC,
                1 => rome().tz,
                2 => TimeZone::fixed(Offset::from_seconds(14 * 3600).unwrap()),
                3 => TimeZone::fixed(Offset::from_seconds(-12 * 3600).unwrap()),
                _ => TimeZone::fixed(Offset::MAX),
            };
            let time = Time::new(hour, minute, 0, 0).unwrap();
            let stamp = Stamp { year: None, month, day, time, offset: None };
            prop_assert_eq!(stamp.nearest_date(received, &tz), stamp.nearest_date_exact(received, &tz));
        }

        /// The arithmetic distance picks the year jiff's spans between civil
        /// times pick, over jiff's whole range, with fractions and offsets.
        #[test]
        fn nearest_date_is_the_one_jiffs_spans_pick(
            received in any_received(),
            month in 1i8..=12,
            day in 1i8..=31,
            (hour, minute, second, nanos) in (0i8..24, 0i8..60, 0i8..60, 0i32..1_000_000_000),
            offset in proptest::option::of(-93_599i32..=93_599),
            in_rome: bool,
        ) {
            let tz = if in_rome { rome().tz } else { TimeZone::UTC };
            let time = Time::new(hour, minute, second, nanos).unwrap();
            let offset = offset.map(|s| Offset::from_seconds(s).unwrap());
            let stamp = Stamp { year: None, month, day, time, offset };
            let now = match offset {
                Some(offset) => offset.to_datetime(received),
                None => tz.to_datetime(received),
            };
            let mut model: Option<(Date, jiff::SignedDuration)> = None;
            for year in [now.year() - 1, now.year(), now.year() + 1] {
                let Some(date) = valid_date(year, month, day) else { continue };
                let distance = DateTime::from_parts(date, time).duration_since(now).abs();
                if model.is_none_or(|(_, nearest)| distance < nearest) {
                    model = Some((date, distance));
                }
            }
            prop_assert_eq!(stamp.nearest_date_exact(received, &tz), model.map(|(date, _)| date));
        }

        #[test]
        fn never_panics_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..200), received in any_received()) {
            check(&raw, received);
        }

        #[test]
        fn never_panics_on_syslogish(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24), received in any_received()) {
            check(&parts.concat(), received);
        }

        #[test]
        fn sd_walk_never_panics(raw in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24)) {
            let raw = raw.concat();
            let mut out = Vec::new();
            for element in sd_elements(&raw) {
                for param in element.params() {
                    unescape_sd_value(param.raw_value, &mut out);
                }
            }
        }
    }
}
