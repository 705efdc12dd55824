//! The ring against a queue: after any sequence of pushes, clears and
//! reads, it holds the newest messages in order, byte for byte and header
//! field for header field, within both bounds (message count and arena);
//! seqs never repeat; reads before the oldest say how many were skipped;
//! and messages that fit in the arena since the last clear are all kept.
//!
//! Input: three sizing bytes (message count, message size, spare slots) and
//! a byte for extra arena bytes, then operations, one control byte each:
//! `op % 8` 0..=4 push (`len` byte, then the bytes), 5 clear, 6 read at an
//! offset from the oldest seq, 7 push a message over the size limit;
//! `op & 0x10` adds credentials, `op >> 5` picks the transport and the
//! `truncated` flag.
#![no_main]

use std::collections::VecDeque;

use circolog::store::record;
use circolog::store::ring::{
    Config, ConfigError, Cred, Entry, Incoming, Read, Ring, SLOT, Seq, Transport,
};
use circolog_fuzz::Input;
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Stored {
    seq: Seq,
    index: Option<circolog::ingest::syslog::Index>,
    received_us: i64,
    transport: Transport,
    cred: Option<Cred>,
    unit: Option<Vec<u8>>,
    truncated: bool,
    bytes: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max_messages = 1 + usize::from(input.byte() % 32);
    let max_message_bytes = 1 + usize::from(input.byte());
    let spare_slots = usize::from(input.byte());
    let spare_bytes = usize::from(input.byte()) % SLOT;
    // The smallest arena the ring accepts, as the ring itself says.
    let needed = match Ring::new(Config {
        max_messages,
        arena_bytes: 0,
        max_message_bytes,
    }) {
        Err(ConfigError::ArenaTooSmall { needed }) => needed,
        other => panic!("an empty arena was accepted: {:?}", other.err()),
    };
    let config = Config {
        max_messages,
        arena_bytes: needed + spare_slots * SLOT + spare_bytes,
        max_message_bytes,
    };
    let mut ring = Ring::new(config).expect("a ring of the size it asked for");
    let nslots = ring.arena_bytes() / SLOT;
    assert!(ring.arena_bytes() <= config.arena_bytes);

    let mut model: VecDeque<Stored> = VecDeque::new();
    let mut next_seq = Seq::ZERO;
    // Slots taken since the ring was last empty, while nothing was evicted:
    // `None` once the ring may have had to evict for space.
    let mut fresh_slots = Some(0usize);

    while !input.is_empty() {
        let op = input.byte();
        match op % 8 {
            5 => {
                ring.clear();
                model.clear();
                fresh_slots = Some(0);
                assert!(ring.is_empty() && ring.bytes_used() == 0);
            }
            6 => {
                let back = u64::from(input.byte() % 8);
                let seq = ring
                    .first_seq()
                    .saturating_minus(back)
                    .plus(u64::from(input.byte() % 40));
                check_read(&ring, &model, seq);
            }
            kind => {
                let len = if kind == 7 {
                    max_message_bytes + usize::from(input.byte())
                } else {
                    usize::from(input.byte())
                };
                let taken = input.take(len);
                let bytes: Vec<u8> = (0..len)
                    .map(|i| taken.get(i).copied().unwrap_or(i as u8))
                    .collect();
                let n = next_seq.get();
                let cred = (op & 0x10 != 0).then_some(Cred {
                    pid: n as u32,
                    uid: u32::MAX - n as u32,
                    gid: 7,
                });
                let incoming = Incoming {
                    received_us: (n as i64).wrapping_mul(-7919),
                    transport: Transport::ALL[usize::from(op >> 5) % 3],
                    cred,
                    truncated: op & 0x20 != 0,
                    bytes: &bytes,
                };
                let kept = len.min(max_message_bytes);
                // With its index, as ingestion stores it; op 7 without one.
                let index = (op % 8 != 7)
                    .then(|| circolog_fuzz::index(&bytes[..kept], incoming.received_us))
                    .flatten();
                // A sender's unit, of every length up to systemd's longest,
                // on two of three messages with credentials.
                let unit = cred.filter(|_| n % 3 != 0).map(|_| {
                    let mut name = vec![b'u'; (n % 247) as usize + 1];
                    name.extend_from_slice(b".service");
                    name
                });
                let seq = ring.push_sent(incoming, index, unit.as_deref());
                assert_eq!(seq, next_seq, "seqs are consecutive");
                next_seq = next_seq.next();
                model.push_back(Stored {
                    index,
                    seq,
                    received_us: incoming.received_us,
                    transport: incoming.transport,
                    cred,
                    unit: unit.clone(),
                    truncated: incoming.truncated || len > max_message_bytes,
                    bytes: bytes[..kept].to_vec(),
                });
                while model.len() > max_messages {
                    model.pop_front();
                    fresh_slots = None;
                }
                let record = record::encoded_len(kept, cred.is_some(), unit.as_deref());
                fresh_slots = fresh_slots
                    .map(|used| used + record.div_ceil(SLOT))
                    .filter(|&used| used <= nslots);
                assert_eq!(ring.last_seq(), Some(seq), "the newest message is kept");
            }
        }
        check(&ring, &mut model, max_messages, fresh_slots);
    }
});

fn check(ring: &Ring, model: &mut VecDeque<Stored>, max_messages: usize, fresh: Option<usize>) {
    assert!(ring.len() as usize <= max_messages, "count bound");
    assert!(ring.bytes_used() <= ring.arena_bytes(), "arena bound");
    if fresh.is_some() {
        assert_eq!(
            ring.len() as usize,
            model.len(),
            "evicted although everything fits"
        );
    }
    // The ring holds a suffix of the model: the newest messages.
    assert!(ring.len() as usize <= model.len());
    while model.front().is_some_and(|m| m.seq < ring.first_seq()) {
        model.pop_front();
    }
    assert_eq!(ring.len() as usize, model.len(), "not the newest messages");
    if let Some(last) = model.back() {
        assert_eq!(ring.next_seq(), last.seq.next());
    }
    for m in model.iter() {
        let e = ring.get(m.seq).expect("stored");
        assert_eq!(e, expected(m), "seq {}", m.seq);
        assert_eq!(ring.pri(m.seq), m.index.map(|ix| ix.pri()), "the PRI table");
        assert_eq!(ring.read(m.seq), Read::Entry(e));
    }
    let first = ring.first_seq();
    assert_eq!(ring.read(ring.next_seq()), Read::End);
    assert!(ring.get(ring.next_seq()).is_none());
    if first > Seq::ZERO {
        assert!(ring.get(first.minus(1)).is_none());
        assert_eq!(ring.read(first.minus(1)), Read::Skipped(1));
    }
}

fn check_read(ring: &Ring, model: &VecDeque<Stored>, seq: Seq) {
    let first = ring.first_seq();
    match ring.read(seq) {
        Read::Skipped(n) => assert_eq!((seq < first, n), (true, first.since(seq))),
        Read::End => assert!(seq >= ring.next_seq()),
        Read::Entry(e) => {
            let m = model.iter().find(|m| m.seq == seq).expect("in the model");
            assert_eq!(e, expected(m));
        }
    }
}

fn expected(m: &Stored) -> Entry<'_> {
    Entry {
        seq: m.seq,
        received_us: m.received_us,
        transport: m.transport,
        cred: m.cred,
        unit: m.unit.as_deref(),
        truncated: m.truncated,
        index: m.index,
        raw: &m.bytes,
    }
}
