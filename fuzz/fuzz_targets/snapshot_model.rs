//! Snapshots against a model of copies: a small ring takes messages while
//! snapshots of it are begun, stepped with any budget, deleted and cleared,
//! and the ring itself cleared. Every snapshot that is done holds, field for
//! field, messages the ring stored under those seqs: the newest of what the
//! ring held when it was begun that fit the arena, exactly those when the
//! ring did not change meanwhile; what it says it left out (`did_not_fit`,
//! `evicted`) is true; reads at any seq answer as the ring's would; the
//! store keeps the newest snapshots, ids only increase, and every byte of the
//! arena outside a snapshot is zero. Never a panic.
//!
//! Input: four sizing bytes (ring messages, message size, spare slots, max
//! snapshots), two for the snapshot arena's size (% 12288; 0 disables
//! it), then operations, one control byte each: `op % 8` 0..=2 push (`len`
//! byte, then the bytes; `op & 0x10` adds credentials, `op >> 5` picks the
//! transport and the `truncated` flag), 3 begin (a byte for why and a
//! note's length, then the note), 4 step (two budget bytes), 5 delete (a
//! byte: which), 6 clear the snapshots (`op & 0x80`: the ring), 7 read (a
//! byte: which snapshot, two: the seq).
#![no_main]

use circolog::store::messages::Messages;
use circolog::store::record;
use circolog::store::ring::{self, ConfigError, Cred, Entry, Incoming, Read, Ring, SLOT, Seq, Transport};
use circolog::store::snapshot::{self, Error, MAX_NOTE_BYTES, Meta, Note, Snapshots, Step, Why};
use circolog_fuzz::Input;
use libfuzzer_sys::fuzz_target;

/// A message as the ring stored it.
struct Stored {
    received_us: i64,
    transport: Transport,
    cred: Option<Cred>,
    unit: Option<Vec<u8>>,
    truncated: bool,
    index: Option<circolog::ingest::syslog::Index>,
    raw: Vec<u8>,
}

impl Stored {
    fn entry(&self, seq: Seq) -> Entry<'_> {
        Entry {
            seq,
            received_us: self.received_us,
            transport: self.transport,
            cred: self.cred,
            unit: self.unit.as_deref(),
            truncated: self.truncated,
            index: self.index,
            raw: &self.raw,
        }
    }

    /// Its record's size, padded to 8 as `snapshot`'s documentation says.
    fn record(&self) -> usize {
        record::encoded_len(self.raw.len(), self.cred.is_some(), self.unit.as_deref()).div_ceil(8)
            * 8
    }
}

/// A snapshot the model asked for.
struct Asked {
    id: u64,
    /// The ring's seqs when it was begun.
    from: Seq,
    end: Seq,
    /// The ring did not change while it was taken.
    untouched: bool,
    note: Option<String>,
}

struct Model {
    /// Every message stored, by seq.
    history: Vec<Stored>,
    /// Kept (or being taken), oldest first.
    asked: Vec<Asked>,
    deleted: Vec<u64>,
    evicted: u64,
    last_id: u64,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max_messages = 1 + usize::from(input.byte() % 32);
    let max_message_bytes = 1 + usize::from(input.byte());
    let spare_slots = usize::from(input.byte());
    let max_snapshots = 1 + usize::from(input.byte() % 8);
    // Up to about what the largest ring here holds, so that both "all of it
    // fits" and "the newest fit" come up.
    let arena_bytes = usize::from(input.u16()) % 12_288;
    let needed = match Ring::new(ring::Config {
        max_messages,
        arena_bytes: 0,
        max_message_bytes,
    }) {
        Err(ConfigError::ArenaTooSmall { needed }) => needed,
        other => panic!("an empty arena was accepted: {:?}", other.err()),
    };
    let mut ring = Ring::new(ring::Config {
        max_messages,
        arena_bytes: needed + spare_slots * SLOT,
        max_message_bytes,
    })
    .expect("a ring of the size it asked for");
    let config = snapshot::Config {
        arena_bytes,
        max_snapshots,
    };
    let mut store = match Snapshots::new(config) {
        Ok(store) => store,
        Err(snapshot::ConfigError::ArenaTooSmall) => {
            assert!((1..8).contains(&arena_bytes));
            return;
        }
        Err(e) => panic!("{config:?}: {e}"),
    };
    assert_eq!(store.enabled(), arena_bytes > 0);
    assert_eq!(store.arena_bytes(), arena_bytes / 8 * 8);

    let mut m = Model {
        history: Vec::new(),
        asked: Vec::new(),
        deleted: Vec::new(),
        evicted: 0,
        last_id: 0,
    };
    while !input.is_empty() {
        let op = input.byte();
        // The listing is checked when it may have changed but for the
        // snapshots' progress: building it is most of the time of a check.
        let mut listed = matches!(op % 8, 3 | 5 | 6);
        match op % 8 {
            0..=2 => {
                let len = usize::from(input.byte());
                let taken = input.take(len);
                let seq = ring.next_seq();
                let n = seq.get();
                let bytes: Vec<u8> = (0..len)
                    .map(|i| taken.get(i).copied().unwrap_or(i as u8))
                    .collect();
                // Indexed as ingestion does, the kept bytes (op 2: none).
                let kept = &bytes[..bytes.len().min(ring.max_message_bytes())];
                let received_us = (n as i64).wrapping_mul(-7919);
                let index = (op % 8 != 2).then(|| circolog_fuzz::index(kept, received_us));
                // A sender's unit on every other message.
                let unit = format!("fuzz-{}.scope", n % 97);
                ring.push_sent(
                    Incoming {
                        received_us,
                        transport: Transport::ALL[usize::from(op >> 5) % 3],
                        cred: (op & 0x10 != 0).then_some(Cred {
                            pid: n as u32,
                            uid: u32::MAX - n as u32,
                            gid: 7,
                        }),
                        truncated: op & 0x20 != 0,
                        bytes: &bytes,
                    },
                    index.flatten(),
                    (n % 2 == 0).then_some(unit.as_bytes()),
                );
                let e = ring.get(seq).expect("the newest message is kept");
                assert_eq!(m.history.len() as u64, n);
                m.history.push(Stored {
                    received_us: e.received_us,
                    transport: e.transport,
                    cred: e.cred,
                    unit: e.unit.map(<[u8]>::to_vec),
                    truncated: e.truncated,
                    index: e.index,
                    raw: e.raw.to_vec(),
                });
                ring_changed(&store, &mut m);
            }
            3 => begin(&mut store, &ring, &mut m, &mut input),
            4 => {
                let budget = usize::from(input.u16());
                let taking = store.is_taking();
                match store.step(&ring, budget) {
                    Step::Idle => assert!(!taking),
                    Step::More => assert!(store.is_taking()),
                    Step::Done(id) => {
                        assert!(!store.info(id).expect("done, so kept").taking);
                        listed = true;
                    }
                }
            }
            5 => {
                let k = usize::from(input.byte());
                let kept: Vec<u64> = store.infos().map(|i| i.id).collect();
                match kept.get(k % 16) {
                    Some(&id) => {
                        store.delete(id).expect("a kept snapshot");
                        m.asked.retain(|a| a.id != id);
                        m.deleted.push(id);
                        assert!(store.info(id).is_none() && store.view(id).is_none());
                    }
                    None => {
                        let id = match k % 3 {
                            0 => m.deleted.last().copied().unwrap_or(0),
                            1 => m.last_id + 1,
                            _ => u64::MAX,
                        };
                        assert_eq!(store.delete(id), Err(Error::NotFound(id)));
                    }
                }
            }
            6 if op & 0x80 != 0 => {
                ring.clear();
                ring_changed(&store, &mut m);
            }
            6 => {
                assert_eq!(store.clear(), m.asked.len());
                m.deleted.extend(m.asked.drain(..).map(|a| a.id));
                assert!(store.is_empty() && store.bytes_used() == 0);
            }
            _ => {
                let k = usize::from(input.byte());
                let offset = u64::from(input.u16());
                if let Some(a) = m.asked.get(k % m.asked.len().max(1))
                    && let Some(v) = store.view(a.id)
                {
                    // Around the snapshot's seqs, both sides.
                    let seq = v
                        .first_seq()
                        .saturating_minus(offset % 64)
                        .plus(offset / 64 % 64);
                    match v.read(seq) {
                        Read::Skipped(n) => assert_eq!(seq.plus(n), v.first_seq()),
                        Read::End => assert!(seq >= v.next_seq()),
                        Read::Entry(e) => assert_eq!(e, m.history[seq.get() as usize].entry(seq)),
                    }
                }
            }
        }
        check(&store, &ring, &mut m, listed);
    }
    // Whatever was begun finishes, with any budget.
    for _ in 0..100_000 {
        if store.step(&ring, 1) == Step::Idle {
            break;
        }
    }
    assert!(!store.is_taking(), "a snapshot never finished");
    check(&store, &ring, &mut m, true);
    let counters = store.counters();
    assert_eq!(counters.taken, m.last_id);
    assert_eq!(counters.deleted, m.deleted.len() as u64);
    assert_eq!(counters.evicted, m.evicted);
});

fn begin(store: &mut Snapshots, ring: &Ring, m: &mut Model, input: &mut Input<'_>) {
    let b = input.byte();
    let len = usize::from(input.byte()) * 2;
    let text = String::from_utf8_lossy(input.take(len)).into_owned();
    let note = if b & 4 != 0 {
        match Note::new(&text) {
            Ok(note) => {
                assert!(text.len() <= MAX_NOTE_BYTES && !text.chars().any(char::is_control));
                Some(note)
            }
            Err(e) => {
                let reason = e.to_string();
                assert!(!reason.is_empty() && !reason.contains('\n'));
                assert!(text.len() > MAX_NOTE_BYTES || text.chars().any(char::is_control));
                None
            }
        }
    } else {
        None
    };
    let why = match b % 3 {
        0 => Why::Api,
        1 => Why::Signal,
        _ => Why::Trigger {
            seq: ring.last_seq().unwrap_or(Seq::ZERO),
            query: text.clone(),
        },
    };
    let meta = Meta {
        why: why.clone(),
        taken_at_us: i64::from(b) << 56,
        note,
    };
    let note = meta.note.as_ref().map(|n| n.as_str().to_string());
    match store.begin(ring, meta) {
        Err(e) => {
            assert_eq!(e, Error::Disabled);
            assert!(!store.enabled());
        }
        Ok(id) => {
            assert!(id > m.last_id, "id {id} after {}", m.last_id);
            m.last_id = id;
            m.asked.push(Asked {
                id,
                from: ring.first_seq(),
                end: ring.next_seq(),
                untouched: true,
                note,
            });
            let info = store.info(id).expect("just begun");
            assert_eq!(*info.why, why);
            assert!(info.taking && !info.complete());
        }
    }
}

/// The ring changed: the snapshots being taken may miss what it evicted.
fn ring_changed(store: &Snapshots, m: &mut Model) {
    for a in m.asked.iter_mut() {
        if store.info(a.id).is_some_and(|i| i.taking) {
            a.untouched = false;
        }
    }
}

/// Bytes of a region holding `seqs`.
fn space(history: &[Stored], seqs: std::ops::Range<Seq>) -> usize {
    let n = seqs.end.since(seqs.start) as usize;
    let records: usize = Seq::range(seqs.start, seqs.end)
        .map(|s| history[s.get() as usize].record())
        .sum();
    (n * 4).div_ceil(8) * 8 + records
}

fn check(store: &Snapshots, ring: &Ring, m: &mut Model, listed: bool) {
    if let Err(broken) = store.check_invariants() {
        panic!("{broken}");
    }
    let arena = store.arena_bytes();
    let kept: Vec<u64> = store.infos().map(|i| i.id).collect();
    assert!(kept.len() <= store.max_snapshots());
    // The oldest go first: what is kept is the newest of those asked for.
    let gone = m.asked.len() - kept.len();
    assert!(
        m.asked[gone..]
            .iter()
            .map(|a| a.id)
            .eq(kept.iter().copied()),
        "kept {kept:?}"
    );
    m.evicted += gone as u64;
    m.asked.drain(..gone);
    assert_eq!(store.counters().evicted, m.evicted);
    let list = listed.then(|| store.list());
    if let Some(list) = &list {
        assert_eq!(list["snapshots"].as_array().map(Vec::len), Some(kept.len()));
    }
    let mut used = 0;
    for (i, a) in m.asked.iter().enumerate() {
        let info = store.info(a.id).expect("kept");
        used += info.bytes;
        let row = match &list {
            Some(list) => &list["snapshots"][i],
            None => &serde_json::Value::Null,
        };
        if listed {
            assert_eq!(row["id"], a.id);
            assert_eq!(row["why"], info.why.name());
            assert_eq!(row["note"].as_str(), a.note.as_deref());
            assert_eq!(row["messages"], info.messages());
            assert_eq!(row["bytes"], info.bytes);
            assert_eq!(row["taking"], info.taking);
            assert_eq!(row["complete"], info.complete());
            assert_eq!(row["did_not_fit"], info.did_not_fit);
            assert_eq!(row["evicted"], info.evicted);
        }
        let Some(v) = store.view(a.id) else {
            assert!(info.taking);
            continue;
        };
        assert!(!info.taking);
        let first = v.first_seq();
        assert_eq!(v.next_seq(), a.end);
        assert!(a.from <= first && first <= a.end);
        assert_eq!(info.did_not_fit + info.evicted, first.since(a.from));
        assert_eq!(info.complete(), first == a.from);
        if first < a.end {
            assert!(space(&m.history, first..a.end) <= info.bytes && info.bytes <= arena);
            assert!(
                !listed
                    || (row["first_seq"] == first.get() && row["last_seq"] == a.end.minus(1).get())
            );
        } else {
            assert_eq!(info.bytes, 0);
            assert!(!listed || (row["first_seq"].is_null() && row["last_seq"].is_null()));
        }
        if info.did_not_fit > 0 {
            // Sizing stopped for room: the next older one did not fit.
            let base = a.from.plus(info.did_not_fit);
            assert!(
                space(&m.history, base.minus(1)..a.end) > arena,
                "left out but fits"
            );
            if first < a.end {
                assert_eq!(info.bytes, space(&m.history, base..a.end));
            }
        }
        if info.evicted > 0 {
            assert!(
                ring.get(first.minus(1)).is_none(),
                "said evicted, still there"
            );
        }
        if a.untouched {
            // Exactly the newest messages that fit.
            let mut fit = a.end;
            while fit > a.from && space(&m.history, fit.minus(1)..a.end) <= arena {
                fit = fit.minus(1);
            }
            assert_eq!((first, info.evicted), (fit, 0));
        }
        for seq in Seq::range(first, a.end) {
            let want = m.history[seq.get() as usize].entry(seq);
            assert_eq!(v.get(seq), Some(want), "seq {seq}");
        }
        assert_eq!(v.read(a.end), Read::End);
        if first > Seq::ZERO {
            assert_eq!(v.read(first.minus(1)), Read::Skipped(1));
            assert_eq!(v.get(first.minus(1)), None);
        }
    }
    assert_eq!(store.bytes_used(), used);
    if let Some(list) = list {
        assert_eq!(list["used"]["bytes"], used);
    }
}
