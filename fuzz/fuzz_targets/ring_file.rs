//! A memory file from anywhere, adopted: whatever its bytes, adopting it
//! never panics; what is adopted reads back whole (every kept seq has its
//! message, no longer than the longest kept, its index read whatever it
//! says) and the ring goes on storing after it; a file of another geometry
//! is copied from the same way.
//!
//! Input: a mode byte and three sizing bytes (message count, message size,
//! spare slots). Even mode: a real file, a byte `n % 64` of pushes (a
//! `len` byte, then the bytes; `len & 0x80` adds credentials), then
//! patches to the end, four bytes each: the section (header, seq table,
//! PRI table, arena), the offset in it (two bytes) and the byte written.
//! Odd mode: the rest of the input is the file's meaningful bytes, one
//! section after the other: the header's first 64, the seq table, the PRI
//! table, the arena.
#![no_main]

use circolog::ingest::syslog::ParseContext;
use circolog::store::file;
use circolog::store::ring::{Config, Cred, Incoming, Refused, Ring, SLOT, Seq, Transport};
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
    let layout = Ring::layout(&config).expect("a ring of the size it asked for");
    let mut mem = file::anonymous(layout.file_bytes()).expect("memory");
    if mode & 1 == 0 {
        let mut ring = Ring::new(config).expect("a ring");
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
        }
        mem.copy_from_slice(ring.memory());
        let sections = [
            0..64,
            layout.starts.clone(),
            layout.pris.clone(),
            layout.arena.clone(),
        ];
        while !input.is_empty() {
            let section = &sections[usize::from(input.byte()) % sections.len()];
            let at = section.start + usize::from(input.u16()) % section.len().max(1);
            mem[at] = input.byte();
        }
    } else {
        let mut rest = input.rest();
        for section in [0..64, layout.starts, layout.pris, layout.arena] {
            let n = rest.len().min(section.len());
            mem[section.start..section.start + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }
    let ring = match Ring::adopt(config, mem) {
        Ok((ring, adopted)) => {
            assert_eq!(adopted.messages, ring.len());
            ring
        }
        Err(Refused::Geometry { mem, .. }) => {
            let mut ring = Ring::new(config).expect("a ring");
            let adopted = ring.copy_from(&mem).expect("the same header read twice");
            assert_eq!(adopted.messages, ring.len());
            ring
        }
        Err(Refused::Foreign { .. }) => return,
    };
    check(ring, &config);
});

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
