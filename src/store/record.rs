//! The record of one stored message: the same bytes in the ring's slots and
//! in a snapshot's region, written and read here only.
//!
//! Layout, little-endian:
//!
//! ```text
//! 0..8    received, µs since 1970 (i64)
//! 8..12   length of the message bytes (u32)
//! 12      flags: TRUNCATED, HAS_CRED, HAS_UNIT
//! 13      transport
//! 14..34  the index (zero when there is none): see syslog::Index
//! 34..46  pid, uid, gid (u32 each), only when HAS_CRED
//! then    only when HAS_UNIT: the sender's systemd unit, its length
//!         (u8, 1..=255) and its name
//! then    the message bytes
//! ```
//!
//! The unit is a field of its own rather than a fixed slot: most messages
//! have none (UDP, TCP, the kernel, a sender in no unit) and pay nothing,
//! and those that do pay its length and one byte, not systemd's 255.
//!
//! Whoever stores records adds its own padding after them (whole slots in
//! the ring, 8 bytes in a snapshot) and keeps it zero.
//!
//! [`decode`] checks what it reads instead of trusting it: a record comes
//! from this process's own writes or from a memory file a previous process
//! left, and a file is input like any other. A record that does not decode
//! is never served.

use std::ops::Range;

use crate::ingest::syslog::Index;
use crate::ingest::unit;
use crate::store::ring::{Cred, Entry, Seq, Transport};

/// Bytes of a record before its credentials and message bytes.
pub const HEADER: usize = 34;
/// Bytes of the credentials, when a record has them.
pub const CRED_LEN: usize = 12;

const LEN_AT: usize = 8;
const FLAGS_AT: usize = 12;
const TRANSPORT_AT: usize = 13;
const INDEX_AT: usize = 14;

const FLAG_TRUNCATED: u8 = 1;
const FLAG_CRED: u8 = 2;
const FLAG_UNIT: u8 = 4;
const FLAGS_KNOWN: u8 = FLAG_TRUNCATED | FLAG_CRED | FLAG_UNIT;

/// The most bytes a record's unit takes: its length and systemd's longest
/// name.
pub const UNIT_FIELD_MAX: usize = 1 + unit::NAME_MAX;

/// A message as a record holds it: an [`Entry`] without its seq, which is
/// where the record is found, not what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub received_us: i64,
    pub transport: Transport,
    pub cred: Option<Cred>,
    /// The sender's systemd unit. INVARIANT for [`encode`]: a unit name
    /// (see [`unit::is_unit_name`]), which [`decode`] checks; [`encode`]
    /// leaves out anything else.
    pub unit: Option<&'a [u8]>,
    pub truncated: bool,
    pub index: Option<Index>,
    pub raw: &'a [u8],
}

impl<'a> Record<'a> {
    /// The record of a stored message.
    pub fn of(e: &Entry<'a>) -> Record<'a> {
        let Entry {
            seq: _,
            received_us,
            transport,
            cred,
            unit,
            truncated,
            index,
            raw,
        } = *e;
        Record {
            received_us,
            transport,
            cred,
            unit,
            truncated,
            index,
            raw,
        }
    }

    /// The stored message this record is at `seq`.
    pub fn at(self, seq: Seq) -> Entry<'a> {
        let Record {
            received_us,
            transport,
            cred,
            unit,
            truncated,
            index,
            raw,
        } = self;
        Entry {
            seq,
            received_us,
            transport,
            cred,
            unit,
            truncated,
            index,
            raw,
        }
    }

    /// Bytes the record takes, before any padding.
    pub fn encoded_len(&self) -> usize {
        encoded_len(self.raw.len(), self.cred.is_some(), self.unit_field())
    }

    /// The unit as it is written: a unit name, or none.
    fn unit_field(&self) -> Option<&'a [u8]> {
        self.unit.filter(|u| unit::is_unit_name(u))
    }

    /// The unit a reader of this record finds: [`Record::unit`] if it is
    /// a unit's name.
    pub fn stored_unit(&self) -> Option<&'a [u8]> {
        self.unit_field()
    }

    /// Where, in the bytes [`encode`] writes of it, the stored unit's
    /// name lies (`None`: it has none), and where the message's bytes
    /// start.
    pub fn places(&self) -> (Option<Range<usize>>, usize) {
        let body = HEADER + if self.cred.is_some() { CRED_LEN } else { 0 };
        let unit = self.unit_field().map(|u| body + 1..body + 1 + u.len());
        (unit, self.encoded_len() - self.raw.len())
    }
}

/// Bytes a record of `raw_len` message bytes takes, before any padding;
/// the largest, for any unit, with `Some` of [`unit::NAME_MAX`] bytes.
pub const fn encoded_len(raw_len: usize, cred: bool, unit: Option<&[u8]>) -> usize {
    let unit = match unit {
        Some(u) => 1 + u.len(),
        None => 0,
    };
    HEADER + if cred { CRED_LEN } else { 0 } + unit + raw_len
}

/// [`encoded_len`] of the largest record of `raw_len` message bytes.
pub const fn max_encoded_len(raw_len: usize) -> usize {
    HEADER + CRED_LEN + UNIT_FIELD_MAX + raw_len
}

/// Writes `r` at the start of `dst`, which holds at least [`Record::encoded_len`]
/// bytes; returns how many it wrote. The message's length must fit a `u32`
/// (the stores' configs make sure of it).
pub fn encode(dst: &mut [u8], r: &Record<'_>) -> usize {
    let mut flags = 0;
    if r.truncated {
        flags |= FLAG_TRUNCATED;
    }
    let mut body = match r.cred {
        Some(c) => {
            flags |= FLAG_CRED;
            dst[HEADER..HEADER + 4].copy_from_slice(&c.pid.to_le_bytes());
            dst[HEADER + 4..HEADER + 8].copy_from_slice(&c.uid.to_le_bytes());
            dst[HEADER + 8..HEADER + 12].copy_from_slice(&c.gid.to_le_bytes());
            HEADER + CRED_LEN
        }
        None => HEADER,
    };
    if let Some(u) = r.unit_field() {
        flags |= FLAG_UNIT;
        // A unit name is 1..=255 bytes (`is_unit_name`).
        dst[body] = u.len() as u8;
        dst[body + 1..body + 1 + u.len()].copy_from_slice(u);
        body += 1 + u.len();
    }
    let len = u32::try_from(r.raw.len()).expect("a message length fits the header's u32");
    dst[0..LEN_AT].copy_from_slice(&r.received_us.to_le_bytes());
    dst[LEN_AT..FLAGS_AT].copy_from_slice(&len.to_le_bytes());
    dst[FLAGS_AT] = flags;
    dst[TRANSPORT_AT] = r.transport as u8;
    dst[INDEX_AT..HEADER].copy_from_slice(&r.index.map_or([0; Index::LEN], |ix| ix.encode()));
    dst[body..body + r.raw.len()].copy_from_slice(r.raw);
    body + r.raw.len()
}

/// Why bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The header, the credentials or the message run past the bytes given.
    Short,
    /// A flag this version does not write.
    Flags(u8),
    /// A transport this version does not know.
    Transport(u8),
    /// The unit is not a unit's name.
    Unit,
}

/// The record at the start of `src`, checked: it lies whole within `src`,
/// and its flags and transport are ones [`encode`] writes.
pub fn decode(src: &[u8]) -> Result<Record<'_>, Invalid> {
    let h: &[u8; HEADER] = src
        .get(..HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or(Invalid::Short)?;
    let flags = h[FLAGS_AT];
    if flags & !FLAGS_KNOWN != 0 {
        return Err(Invalid::Flags(flags));
    }
    let transport =
        Transport::from_byte(h[TRANSPORT_AT]).ok_or(Invalid::Transport(h[TRANSPORT_AT]))?;
    let cred = flags & FLAG_CRED != 0;
    let raw_len = u32::from_le_bytes(word(h, LEN_AT)) as usize;
    let mut at = HEADER + if cred { CRED_LEN } else { 0 };
    let unit = match flags & FLAG_UNIT != 0 {
        true => {
            let len = usize::from(*src.get(at).ok_or(Invalid::Short)?);
            let name = src.get(at + 1..at + 1 + len).ok_or(Invalid::Short)?;
            if !unit::is_unit_name(name) {
                return Err(Invalid::Unit);
            }
            at += 1 + len;
            Some(name)
        }
        false => None,
    };
    let end = at
        .checked_add(raw_len)
        .filter(|&end| end <= src.len())
        .ok_or(Invalid::Short)?;
    let cred = cred.then(|| Cred {
        pid: u32::from_le_bytes(word(src, HEADER)),
        uid: u32::from_le_bytes(word(src, HEADER + 4)),
        gid: u32::from_le_bytes(word(src, HEADER + 8)),
    });
    let index_bytes: &[u8; Index::LEN] = h[INDEX_AT..HEADER].try_into().expect("the index's bytes");
    Ok(Record {
        received_us: i64::from_le_bytes(h[..LEN_AT].try_into().expect("8 bytes")),
        transport,
        cred,
        unit,
        truncated: flags & FLAG_TRUNCATED != 0,
        index: Index::decode(index_bytes),
        raw: &src[end - raw_len..end],
    })
}

/// The receive time of the record at the start of `src`, which holds at
/// least its header: what age eviction tests without decoding the rest.
pub fn received_us(src: &[u8]) -> i64 {
    i64::from_le_bytes(src[..LEN_AT].try_into().expect("8 bytes"))
}

/// [`encoded_len`] of the record at the start of `src`, which holds at least its
/// header, as its header says.
pub fn stored_len(src: &[u8]) -> usize {
    let raw_len = u32::from_le_bytes(word(src, LEN_AT)) as usize;
    let cred = src[FLAGS_AT] & FLAG_CRED != 0;
    let unit = match src[FLAGS_AT] & FLAG_UNIT != 0 {
        // Past the header: a record that does not hold it says none (it
        // does not decode either).
        true => src
            .get(HEADER + if cred { CRED_LEN } else { 0 })
            .map_or(0, |&len| 1 + usize::from(len)),
        false => 0,
    };
    encoded_len(raw_len, cred, None) + unit
}

fn word(src: &[u8], at: usize) -> [u8; 4] {
    src[at..at + 4].try_into().expect("4 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(raw: &[u8], cred: Option<Cred>) -> Record<'_> {
        Record {
            received_us: -1_700_000_000_000_001,
            transport: Transport::Tcp,
            cred,
            unit: None,
            truncated: true,
            index: crate::ingest::syslog::index_in_utc(raw, 5),
            raw,
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let raw = b"<13>1 - host app - - - hi";
        let cred = Cred {
            pid: 0x0102_0304,
            uid: 5,
            gid: 6,
        };
        let r = sample(raw, Some(cred));
        let mut buf = vec![0u8; r.encoded_len()];
        assert_eq!(encode(&mut buf, &r), HEADER + CRED_LEN + raw.len());
        assert_eq!(&buf[0..8], &r.received_us.to_le_bytes());
        assert_eq!(&buf[8..12], &(raw.len() as u32).to_le_bytes());
        assert_eq!(buf[12], FLAG_TRUNCATED | FLAG_CRED);
        assert_eq!(buf[13], 2);
        assert_eq!(&buf[14..34], &r.index.unwrap().encode());
        assert_eq!(&buf[34..38], &[4, 3, 2, 1]);
        assert_eq!(&buf[46..], raw);
        assert_eq!(stored_len(&buf), buf.len());
        assert_eq!(received_us(&buf), r.received_us);
    }

    #[test]
    fn bytes_that_are_not_a_record_say_why() {
        let r = sample(b"hello", None);
        let mut buf = vec![0u8; r.encoded_len()];
        encode(&mut buf, &r);
        assert_eq!(decode(&buf[..HEADER - 1]), Err(Invalid::Short));
        assert_eq!(decode(&buf[..buf.len() - 1]), Err(Invalid::Short));
        let mut bad = buf.clone();
        bad[12] |= 0x80;
        assert_eq!(decode(&bad), Err(Invalid::Flags(0x81)));
        let mut bad = buf.clone();
        bad[13] = 7;
        assert_eq!(decode(&bad), Err(Invalid::Transport(7)));
        let mut bad = buf.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&bad), Err(Invalid::Short));
        assert_eq!(decode(&buf), Ok(r));
    }

    /// Unit names up to systemd's longest.
    fn unit_name() -> impl Strategy<Value = Vec<u8>> {
        (
            "[a-z0-9@:._-]{1,247}",
            proptest::sample::select(vec![".service", ".scope"]),
        )
            .prop_map(|(name, kind)| format!("{name}{kind}").into_bytes())
    }

    #[test]
    fn the_unit_follows_the_credentials() {
        let raw = b"<13>1 - host app - - - hi";
        let cred = Cred {
            pid: 7,
            uid: 0,
            gid: 0,
        };
        let r = Record {
            unit: Some(b"foo.service"),
            truncated: false,
            ..sample(raw, Some(cred))
        };
        let mut buf = vec![0u8; r.encoded_len()];
        assert_eq!(encode(&mut buf, &r), HEADER + CRED_LEN + 1 + 11 + raw.len());
        assert_eq!(buf[12], FLAG_CRED | FLAG_UNIT);
        assert_eq!(buf[46], 11);
        assert_eq!(&buf[47..58], b"foo.service");
        assert_eq!(&buf[58..], raw);
        assert_eq!(stored_len(&buf), buf.len());
        assert_eq!(decode(&buf), Ok(r));
        // Without credentials, right after the header.
        let r = Record { cred: None, ..r };
        let mut buf = vec![0u8; r.encoded_len()];
        encode(&mut buf, &r);
        assert_eq!(buf[34], 11);
        assert_eq!(decode(&buf), Ok(r));
        // The longest there is fits its length byte.
        let long = format!("{}.service", "a".repeat(unit::NAME_MAX - 8));
        let r = Record {
            unit: Some(long.as_bytes()),
            ..r
        };
        let mut buf = vec![0u8; r.encoded_len()];
        encode(&mut buf, &r);
        assert_eq!(usize::from(buf[34]), unit::NAME_MAX);
        assert_eq!(decode(&buf), Ok(r));
        assert!(r.encoded_len() <= max_encoded_len(raw.len()));
    }

    #[test]
    fn what_is_not_a_unit_name_is_not_written_nor_read() {
        let raw = b"hi";
        let long = format!("{}.service", "a".repeat(unit::NAME_MAX));
        for bad in [&b""[..], b"foo", b"a b.service", long.as_bytes()] {
            let r = Record {
                unit: Some(bad),
                ..sample(raw, None)
            };
            let mut buf = vec![0u8; r.encoded_len()];
            assert_eq!(encode(&mut buf, &r), HEADER + raw.len(), "{bad:?}");
            assert_eq!(decode(&buf), Ok(Record { unit: None, ..r }));
        }
        // Bytes that say otherwise, from a file.
        let r = Record {
            unit: Some(b"x.scope"),
            ..sample(raw, None)
        };
        let mut buf = vec![0u8; r.encoded_len()];
        encode(&mut buf, &r);
        let mut bad = buf.clone();
        bad[35] = b' ';
        assert_eq!(decode(&bad), Err(Invalid::Unit));
        let mut bad = buf.clone();
        bad[34] = 0;
        assert_eq!(decode(&bad), Err(Invalid::Unit));
        let mut bad = buf.clone();
        bad[34] = 255;
        assert_eq!(decode(&bad), Err(Invalid::Short));
        assert_eq!(decode(&buf[..HEADER]), Err(Invalid::Short));
        assert_eq!(decode(&buf), Ok(r));
    }

    fn transport() -> impl Strategy<Value = Transport> {
        proptest::sample::select(Transport::ALL.to_vec())
    }

    proptest! {
        /// What is encoded decodes to itself, from bytes with anything
        /// after it.
        #[test]
        fn round_trips(
            raw in proptest::collection::vec(any::<u8>(), 0..300),
            received_us in any::<i64>(),
            transport in transport(),
            cred in proptest::option::of((any::<u32>(), any::<u32>(), any::<u32>())),
            unit in proptest::option::of(unit_name()),
            truncated in any::<bool>(),
            trailing in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let r = Record {
                received_us,
                transport,
                cred: cred.map(|(pid, uid, gid)| Cred { pid, uid, gid }),
                unit: unit.as_deref(),
                truncated,
                index: crate::ingest::syslog::index_in_utc(&raw, received_us),
                raw: &raw,
            };
            let mut buf = vec![0u8; r.encoded_len()];
            prop_assert_eq!(encode(&mut buf, &r), r.encoded_len());
            // The unit and the message lie where `places` says.
            let (unit_at, raw_at) = r.places();
            prop_assert_eq!(unit_at.map(|u| &buf[u]), r.stored_unit());
            prop_assert_eq!(&buf[raw_at..], &raw[..]);
            buf.extend_from_slice(&trailing);
            prop_assert_eq!(decode(&buf), Ok(r));
            prop_assert_eq!(stored_len(&buf), r.encoded_len());
        }

        /// Any bytes decode to a record within them, or to a reason.
        #[test]
        fn any_bytes_decode_or_say_why(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(r) = decode(&bytes) {
                prop_assert!(r.encoded_len() <= bytes.len());
                prop_assert_eq!(stored_len(&bytes), r.encoded_len());
            }
        }

        /// A record with a unit, its length byte set to anything: it
        /// decodes within its bytes or says why, and never panics.
        #[test]
        fn any_unit_length_is_read_safely(
            unit in unit_name(),
            len in any::<u8>(),
            flags in any::<u8>(),
            cut in 0usize..400,
        ) {
            let raw = b"<13>hi";
            let r = Record { unit: Some(&unit), ..sample(raw, None) };
            let mut buf = vec![0u8; r.encoded_len()];
            encode(&mut buf, &r);
            buf[HEADER] = len;
            buf[FLAGS_AT] = flags;
            buf.truncate(cut.min(buf.len()));
            if buf.len() > FLAGS_AT {
                let _ = stored_len(&buf);
            }
            if let Ok(r) = decode(&buf) {
                prop_assert!(r.encoded_len() <= buf.len());
                prop_assert!(r.unit.is_none_or(unit::is_unit_name));
            }
        }
    }
}
