//! A memory file from anywhere, adopted: whatever its bytes, adopting it
//! never panics; what is adopted reads back whole (every kept seq has its
//! message, no longer than the longest kept, its index read whatever it
//! says; every kept snapshot has each of its messages, and the snapshot
//! store's invariants hold: no byte outside a kept snapshot) and the ring
//! and the snapshots go on after it; a file of another geometry is copied
//! from the same way.
//!
//! Input: a mode byte and three sizing bytes (message count, message size,
//! spare slots). The mode's bit 0 picks the mode; bits 1-2 are the
//! snapshots kept at most, less one, and bits 3-7 the snapshot arena in
//! 512 bytes (0: no snapshots). Even mode: a real file, a byte `n % 64` of
//! pushes (a `len` byte, then the bytes; `len & 0x80` adds credentials;
//! with snapshots, `len & 0x40` begins one after the push and works on it
//! for `len` × 8 bytes, so that some are left half taken), then patches
//! to the end, four bytes each: the section (header, seq table, PRI
//! table, arena, and with snapshots their list and their arena), the
//! offset in it (two bytes) and the byte written. Odd mode: the rest of
//! the input is the file's meaningful bytes, one section after the other:
//! the header's first 64, the seq table, the PRI table, the arena, the
//! snapshot list, the snapshot arena.
#![no_main]

use circolog::ingest::syslog::ParseContext;
use circolog::store::file;
use circolog::store::ring::{Config, Cred, Incoming, Refused, Ring, SLOT, Seq, Transport};
use circolog::store::snapshot::{self, Meta, Snapshots, Step, Why};
use circolog_fuzz::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.byte();
    let max_message_bytes = 1 + usize::from(input.byte());
    let config = Config {
        max_messages: 1 + usize::from(input.byte() % 32),
        arena_bytes: (circolog::store::record::max_encoded_len(max_message_bytes)
            .div_ceil(SLOT)
            + usize::from(input.byte()))
            * SLOT,
        max_message_bytes,
    };
    let snapshot_config = snapshot::Config {
        arena_bytes: usize::from(mode >> 3) * 512,
        max_snapshots: 1 + usize::from((mode >> 1) & 3),
    };
    let space = Snapshots::space(&snapshot_config).expect("snapshots of the size asked for");
    let layout = Ring::layout(&config, space).expect("a ring of the size it asked for");
    let mut mem = vec![0u8; layout.file_bytes()];
    let sections = [
        0..64,
        layout.starts.clone(),
        layout.pris.clone(),
        layout.arena.clone(),
        layout.snapshot_list.clone(),
        layout.snapshots.clone(),
    ];
    if mode & 1 == 0 {
        let ring_mem = file::anonymous(layout.ring_bytes()).expect("memory");
        let mut ring = Ring::with_memory(config, space, ring_mem).expect("a ring");
        let mut snapshots = Snapshots::new(snapshot_config).expect("snapshots");
        for _ in 0..input.byte() % 64 {
            let len = input.byte();
            let bytes = input.take(usize::from(len & 0x7f));
            ring.push(Incoming {
                received_us: i64::from(len),
                transport: Transport::Udp,
                cred: (len & 0x80 != 0).then_some(Cred { pid: 1, uid: 2, gid: 3 }),
                truncated: false,
                bytes,
            });
            if len & 0x40 != 0 && snapshots.enabled() {
                snapshots.begin(&ring, api()).expect("enabled");
                snapshots.step(&ring, usize::from(len) * 8);
            }
        }
        mem[..layout.ring_bytes()].copy_from_slice(ring.memory());
        mem[layout.snapshot_part()].copy_from_slice(snapshots.memory());
        let sections: Vec<_> = sections.into_iter().filter(|s| !s.is_empty()).collect();
        while !input.is_empty() {
            let section = &sections[usize::from(input.byte()) % sections.len()];
            let at = section.start + usize::from(input.u16()) % section.len().max(1);
            mem[at] = input.byte();
        }
    } else {
        let mut rest = input.rest();
        for section in sections {
            let n = rest.len().min(section.len());
            mem[section.start..section.start + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }
    let mut ring_mem = file::anonymous(layout.ring_bytes()).expect("memory");
    ring_mem.copy_from_slice(&mem[..layout.ring_bytes()]);
    let (ring, snapshots) = match Ring::adopt(config, space, ring_mem) {
        Ok((ring, adopted)) => {
            assert_eq!(adopted.messages, ring.len());
            let part = layout.snapshot_part();
            let part_mem = (!part.is_empty()).then(|| {
                let mut m = file::anonymous(part.len()).expect("memory");
                m.copy_from_slice(&mem[part]);
                m
            });
            let snapshots =
                Snapshots::adopt(snapshot_config, part_mem).expect("the part it asked for");
            (ring, snapshots)
        }
        Err(Refused::Geometry { .. }) => {
            let mut ring = Ring::new(config).expect("a ring");
            let adopted = ring.copy_from(&mem).expect("the same header read twice");
            assert_eq!(adopted.messages, ring.len());
            let mut snapshots = Snapshots::new(snapshot_config).expect("snapshots");
            let kept = snapshots.copy_from(&mem);
            assert_eq!(kept.snapshots, snapshots.len() as u64);
            (ring, snapshots)
        }
        Err(Refused::Foreign { .. }) => return,
    };
    check(ring, &config);
    check_snapshots(snapshots, &config);
});

fn api() -> Meta {
    Meta {
        why: Why::Api,
        taken_at_us: 0,
        note: None,
    }
}

fn check(mut ring: Ring, config: &Config) {
    for seq in Seq::range(ring.first_seq(), ring.next_seq()) {
        let e = ring.get(seq).expect("an adopted seq has its message");
        assert!(e.raw.len() <= config.max_message_bytes);
        let _ = e.fields();
        // An index read from a file may not fit its bytes: still no panic.
        if let Some(ix) = e.index {
            let ctx = ParseContext {
                tz: jiff::tz::TimeZone::UTC,
            };
            let _ = ix.message(e.raw, jiff::Timestamp::UNIX_EPOCH, &ctx);
        }
        let _ = ring.pri(seq);
    }
    let next = ring.next_seq();
    let seq = ring.push(Incoming {
        received_us: 1,
        transport: Transport::Tcp,
        cred: None,
        truncated: false,
        bytes: b"after",
    });
    assert_eq!(seq, next);
    let kept = b"after".len().min(config.max_message_bytes);
    assert_eq!(ring.get(seq).expect("stored").raw, &b"after"[..kept]);
}

fn check_snapshots(mut s: Snapshots, config: &Config) {
    s.check_invariants().expect("an adopted store's invariants");
    let ids: Vec<u64> = s.infos().map(|i| i.id).collect();
    for &id in &ids {
        let v = s.view(id).expect("an adopted snapshot is complete");
        let info = v.info();
        let _ = info.to_json();
        for seq in Seq::range(info.first_seq, info.next_seq) {
            let e = v.get(seq).expect("an adopted seq has its message");
            let _ = e.fields();
        }
    }
    // It goes on: a new snapshot gets a new id, and one can be deleted.
    let mut ring = Ring::new(*config).expect("a ring");
    ring.push(Incoming {
        received_us: 2,
        transport: Transport::Unix,
        cred: None,
        truncated: false,
        bytes: b"later",
    });
    if let Ok(id) = s.begin(&ring, api()) {
        assert!(ids.iter().all(|&old| old < id), "id {id} given again");
        while let Step::More = s.step(&ring, 64) {}
        s.check_invariants().expect("after a new snapshot");
    }
    if let Some(&oldest) = ids.first()
        && s.info(oldest).is_some()
    {
        s.delete(oldest).expect("kept");
        s.check_invariants().expect("after a delete");
    }
}
