//! The arena ring: every stored message lives in one preallocated arena,
//! divided into fixed slots of [`SLOT`] bytes and used as a circular buffer.
//!
//! A message takes as many consecutive slots as its header and bytes need, so
//! it occupies about its own size, not a worst case. Messages never wrap
//! around the end of the arena: when the slots left at the end are too few,
//! the message starts again at slot 0 and those end slots stay unused until
//! the oldest messages before them are evicted.
//!
//! Stored messages have consecutive sequence numbers (the daemon assigns a
//! seq only to what it stores), so a message is found by seq in O(1) through
//! `starts`, a preallocated table of start slots indexed by `seq % capacity`.
//!
//! Layout of a stored message, little-endian:
//!
//! ```text
//! 0..8    received, µs since 1970 (i64)
//! 8..12   length of the message bytes (u32)
//! 12      flags: TRUNCATED, HAS_CRED
//! 13      transport
//! 14..16  reserved (0)
//! 16..28  pid, uid, gid (u32 each), only when HAS_CRED
//! then    the message bytes
//! ```
//!
//! Pushing allocates nothing: it writes into the arena and one table entry.

use std::io;

use memmap2::{Advice, MmapMut, MmapOptions};

/// Size of one arena slot in bytes: the unit a message's space is counted in.
pub const SLOT: usize = 16;

const HEADER: usize = 16;
const CRED_LEN: usize = 12;

const FLAG_TRUNCATED: u8 = 1;
const FLAG_CRED: u8 = 2;

/// Credentials of a unix datagram sender, as the kernel reported them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// How a message reached the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Unix = 0,
    Udp = 1,
    Tcp = 2,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Transport::Unix, Transport::Udp, Transport::Tcp];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }

    fn from_byte(b: u8) -> Transport {
        match b {
            1 => Transport::Udp,
            2 => Transport::Tcp,
            _ => Transport::Unix,
        }
    }
}

/// A message as it came in, before it is stored.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    pub received_us: i64,
    pub transport: Transport,
    pub cred: Option<Cred>,
    /// The bytes were already cut short before they reached the ring (by the
    /// kernel, or by the TCP framer).
    pub truncated: bool,
    pub bytes: &'a [u8],
}

/// A stored message, borrowed from the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub seq: u64,
    pub received_us: i64,
    pub transport: Transport,
    pub cred: Option<Cred>,
    pub truncated: bool,
    pub raw: &'a [u8],
}

/// What a cursor finds at a seq.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    Entry(Entry<'a>),
    /// The seq asked for was evicted or cleared; the oldest stored message is
    /// this many seqs later.
    Skipped(u64),
    /// Nothing stored at or after this seq yet.
    End,
}

/// Sizing of a ring.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// At most this many messages are kept.
    pub max_messages: usize,
    /// Size of the arena in bytes.
    pub arena_bytes: usize,
    /// Longer messages are truncated to this many bytes.
    pub max_message_bytes: usize,
}

#[derive(Debug)]
pub enum ConfigError {
    ZeroMessages,
    /// The arena cannot hold even one message of the maximum size.
    ArenaTooSmall {
        needed: usize,
    },
    /// More slots than a `u32` slot number can address.
    ArenaTooLarge,
    Map(io::Error),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::ZeroMessages => write!(f, "the buffer must hold at least one message"),
            ConfigError::ArenaTooSmall { needed } => write!(
                f,
                "the arena must be at least {needed} bytes to hold one message of the maximum size"
            ),
            ConfigError::ArenaTooLarge => write!(f, "the arena is larger than circolog supports"),
            ConfigError::Map(e) => write!(f, "cannot allocate the arena: {e}"),
        }
    }
}

/// The ring. See the module documentation.
pub struct Ring {
    arena: MmapMut,
    /// Start slot of each stored message, indexed by `seq % starts.len()`.
    starts: Box<[u32]>,
    nslots: u32,
    max_message_bytes: usize,
    /// Seq of the oldest stored message; `first_seq == next_seq` when empty.
    first_seq: u64,
    next_seq: u64,
    /// Start slot of the oldest message (0 when empty).
    head: u32,
    /// First free slot after the newest message (0 when empty).
    tail: u32,
    /// INVARIANT: when `wrapped`, the stored slots are `head..wrap_end` then
    /// `0..tail`, with `tail <= head`; otherwise they are `head..tail`.
    wrapped: bool,
    wrap_end: u32,
}

impl Ring {
    /// Allocates the arena (one anonymous mapping, faulted in now so that
    /// ingestion never page-faults) and the seq table.
    pub fn new(config: Config) -> Result<Ring, ConfigError> {
        if config.max_messages == 0 {
            return Err(ConfigError::ZeroMessages);
        }
        let needed = slots_for(config.max_message_bytes, true) * SLOT;
        if config.arena_bytes < needed {
            return Err(ConfigError::ArenaTooSmall { needed });
        }
        let nslots = config.arena_bytes / SLOT;
        let nslots = u32::try_from(nslots).map_err(|_| ConfigError::ArenaTooLarge)?;
        let arena = MmapOptions::new()
            .len(nslots as usize * SLOT)
            .populate()
            .map_anon()
            .map_err(ConfigError::Map)?;
        // Messages are kept for a short while on purpose: never in a core dump.
        // A kernel without MADV_DONTDUMP still stores messages correctly.
        let _ = arena.advise(Advice::DontDump);
        Ok(Ring {
            arena,
            starts: vec![0u32; config.max_messages].into_boxed_slice(),
            nslots,
            max_message_bytes: config.max_message_bytes,
            first_seq: 0,
            next_seq: 0,
            head: 0,
            tail: 0,
            wrapped: false,
            wrap_end: 0,
        })
    }

    /// Locks the arena into RAM so that no message is ever swapped out.
    pub fn lock_memory(&self) -> io::Result<()> {
        self.arena.lock()
    }

    /// Stores a message, evicting the oldest ones as needed, and returns its seq.
    pub fn push(&mut self, msg: Incoming<'_>) -> u64 {
        let truncated = msg.truncated || msg.bytes.len() > self.max_message_bytes;
        let bytes = &msg.bytes[..msg.bytes.len().min(self.max_message_bytes)];
        let header = HEADER + if msg.cred.is_some() { CRED_LEN } else { 0 };
        let k = slots_for(bytes.len(), msg.cred.is_some()) as u32;
        let start = self.place(k);

        let seq = self.next_seq;
        self.next_seq += 1;
        let cap = self.starts.len() as u64;
        self.starts[(seq % cap) as usize] = start;

        let at = start as usize * SLOT;
        let dst = &mut self.arena[at..at + header + bytes.len()];
        dst[0..8].copy_from_slice(&msg.received_us.to_le_bytes());
        dst[8..12].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        let mut flags = 0;
        if truncated {
            flags |= FLAG_TRUNCATED;
        }
        if let Some(c) = msg.cred {
            flags |= FLAG_CRED;
            dst[16..20].copy_from_slice(&c.pid.to_le_bytes());
            dst[20..24].copy_from_slice(&c.uid.to_le_bytes());
            dst[24..28].copy_from_slice(&c.gid.to_le_bytes());
        }
        dst[12] = flags;
        dst[13] = msg.transport as u8;
        dst[14] = 0;
        dst[15] = 0;
        dst[header..].copy_from_slice(bytes);
        seq
    }

    /// Finds room for `k` consecutive slots, evicting the oldest messages
    /// until there is, and returns the first slot.
    fn place(&mut self, k: u32) -> u32 {
        debug_assert!(k <= self.nslots);
        loop {
            if self.is_empty() {
                self.head = 0;
                self.wrapped = false;
                self.tail = k;
                return 0;
            }
            if self.len() as usize >= self.starts.len() {
                self.evict_oldest();
                continue;
            }
            if self.wrapped {
                if self.head - self.tail >= k {
                    let start = self.tail;
                    self.tail += k;
                    return start;
                }
            } else if self.nslots - self.tail >= k {
                let start = self.tail;
                self.tail += k;
                return start;
            } else if self.head >= k {
                self.wrapped = true;
                self.wrap_end = self.tail;
                self.tail = k;
                return 0;
            }
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        self.first_seq += 1;
        if self.is_empty() {
            self.head = 0;
            self.tail = 0;
            self.wrapped = false;
            return;
        }
        let next = self.start_of(self.first_seq);
        if self.wrapped && next < self.head {
            // The last message above the wrap point is gone.
            self.wrapped = false;
        }
        self.head = next;
    }

    fn start_of(&self, seq: u64) -> u32 {
        self.starts[(seq % self.starts.len() as u64) as usize]
    }

    /// Discards every message and overwrites the bytes they occupied. Seqs
    /// keep increasing from where they were.
    pub fn clear(&mut self) {
        if !self.is_empty() {
            let (a, b) = self.used_ranges();
            self.arena[a.0 * SLOT..a.1 * SLOT].fill(0);
            self.arena[b.0 * SLOT..b.1 * SLOT].fill(0);
        }
        self.first_seq = self.next_seq;
        self.head = 0;
        self.tail = 0;
        self.wrapped = false;
    }

    /// The slot ranges holding messages (the second is empty unless wrapped).
    fn used_ranges(&self) -> ((usize, usize), (usize, usize)) {
        if self.wrapped {
            (
                (self.head as usize, self.wrap_end as usize),
                (0, self.tail as usize),
            )
        } else {
            ((self.head as usize, self.tail as usize), (0, 0))
        }
    }

    /// The stored message with this seq, if it is still in the ring.
    pub fn get(&self, seq: u64) -> Option<Entry<'_>> {
        if seq < self.first_seq || seq >= self.next_seq {
            return None;
        }
        let at = self.start_of(seq) as usize * SLOT;
        let h = &self.arena[at..at + HEADER];
        let received_us = i64::from_le_bytes(h[0..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes")) as usize;
        let flags = h[12];
        let transport = Transport::from_byte(h[13]);
        let (cred, body) = if flags & FLAG_CRED != 0 {
            let c = &self.arena[at + HEADER..at + HEADER + CRED_LEN];
            let word = |i: usize| u32::from_le_bytes(c[i..i + 4].try_into().expect("4 bytes"));
            let cred = Cred {
                pid: word(0),
                uid: word(4),
                gid: word(8),
            };
            (Some(cred), at + HEADER + CRED_LEN)
        } else {
            (None, at + HEADER)
        };
        Some(Entry {
            seq,
            received_us,
            transport,
            cred,
            truncated: flags & FLAG_TRUNCATED != 0,
            raw: &self.arena[body..body + len],
        })
    }

    /// What a cursor that has not yet seen `seq` should read next.
    pub fn read(&self, seq: u64) -> Read<'_> {
        if seq < self.first_seq {
            return Read::Skipped(self.first_seq - seq);
        }
        match self.get(seq) {
            Some(e) => Read::Entry(e),
            None => Read::End,
        }
    }

    /// Seq of the oldest stored message (equal to [`Ring::next_seq`] when empty).
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Seq the next stored message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Seq of the newest stored message, if any.
    pub fn last_seq(&self) -> Option<u64> {
        (!self.is_empty()).then(|| self.next_seq - 1)
    }

    pub fn len(&self) -> u64 {
        self.next_seq - self.first_seq
    }

    pub fn is_empty(&self) -> bool {
        self.first_seq == self.next_seq
    }

    /// Bytes of the arena taken by stored messages, counting whole slots and
    /// the unused end slots left by a wrap.
    pub fn bytes_used(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        let (a, b) = self.used_ranges();
        (a.1 - a.0 + b.1 - b.0) * SLOT
    }

    pub fn arena_bytes(&self) -> usize {
        self.nslots as usize * SLOT
    }

    pub fn max_messages(&self) -> usize {
        self.starts.len()
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }
}

fn slots_for(len: usize, cred: bool) -> usize {
    let total = HEADER + if cred { CRED_LEN } else { 0 } + len;
    total.div_ceil(SLOT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn ring(max_messages: usize, arena_bytes: usize, max_message_bytes: usize) -> Ring {
        Ring::new(Config {
            max_messages,
            arena_bytes,
            max_message_bytes,
        })
        .expect("ring")
    }

    fn msg(bytes: &[u8]) -> Incoming<'_> {
        Incoming {
            received_us: 7,
            transport: Transport::Udp,
            cred: None,
            truncated: false,
            bytes,
        }
    }

    #[test]
    fn stores_and_reads_back_with_header_fields() {
        let mut r = ring(10, 4096, 256);
        let cred = Cred {
            pid: 42,
            uid: 1000,
            gid: 100,
        };
        let s0 = r.push(Incoming {
            received_us: 1_700_000_000_000_000,
            transport: Transport::Unix,
            cred: Some(cred),
            truncated: false,
            bytes: b"<13>hello",
        });
        let s1 = r.push(msg(b"second"));
        assert_eq!((s0, s1), (0, 1));
        let e = r.get(0).expect("first");
        assert_eq!(e.raw, b"<13>hello");
        assert_eq!(e.cred, Some(cred));
        assert_eq!(e.transport, Transport::Unix);
        assert_eq!(e.received_us, 1_700_000_000_000_000);
        assert!(!e.truncated);
        let e = r.get(1).expect("second");
        assert_eq!(
            (e.raw, e.cred, e.transport),
            (&b"second"[..], None, Transport::Udp)
        );
        assert_eq!(r.read(2), Read::End);
    }

    #[test]
    fn truncates_long_messages_and_marks_them() {
        let mut r = ring(10, 4096, 8);
        r.push(msg(b"0123456789"));
        let e = r.get(0).expect("stored");
        assert_eq!(e.raw, b"01234567");
        assert!(e.truncated);
    }

    #[test]
    fn message_count_bound_evicts_oldest() {
        let mut r = ring(3, 4096, 64);
        for i in 0..5u8 {
            r.push(msg(&[b'a' + i]));
        }
        assert_eq!((r.first_seq(), r.next_seq(), r.len()), (2, 5, 3));
        assert_eq!(r.get(2).expect("kept").raw, b"c");
        assert_eq!(r.read(0), Read::Skipped(2));
    }

    #[test]
    fn byte_bound_evicts_oldest_and_space_is_about_message_size() {
        // 64 slots of 16 bytes; a 40-byte message needs 56 bytes = 4 slots.
        let mut r = ring(1000, 64 * SLOT, 48);
        for _ in 0..100 {
            r.push(msg(&[b'x'; 40]));
        }
        assert_eq!(r.len(), 16);
        assert_eq!(r.bytes_used(), 16 * 4 * SLOT);
        assert_eq!(r.get(99).expect("newest").raw, &[b'x'; 40][..]);
    }

    #[test]
    fn clear_empties_overwrites_and_keeps_seq() {
        let mut r = ring(10, 4096, 64);
        r.push(msg(b"secret password"));
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.read(0), Read::Skipped(1));
        assert!(memchr::memmem::find(&r.arena[..], b"secret").is_none());
        assert_eq!(r.push(msg(b"after")), 1);
        assert_eq!(r.get(1).expect("after").raw, b"after");
    }

    #[test]
    fn rejects_an_arena_too_small_for_one_message() {
        assert!(matches!(
            Ring::new(Config {
                max_messages: 1,
                arena_bytes: 64,
                max_message_bytes: 1024
            }),
            Err(ConfigError::ArenaTooSmall { .. })
        ));
    }

    use proptest::prelude::*;

    proptest! {
        /// The ring behaves like a bounded queue: it holds the newest messages
        /// that fit both bounds, in order, byte for byte.
        #[test]
        fn matches_a_queue_model(
            ops in proptest::collection::vec(
                proptest::option::weighted(0.9, proptest::collection::vec(proptest::num::u8::ANY, 0..200)),
                0..400,
            ),
            max_messages in 1usize..40,
            extra_slots in 0usize..100,
        ) {
            let max_bytes = 150;
            let arena = (slots_for(max_bytes, true) + extra_slots) * SLOT;
            let mut r = ring(max_messages, arena, max_bytes);
            let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Some(bytes) => {
                        let seq = r.push(msg(&bytes));
                        prop_assert_eq!(seq, next);
                        let mut kept = bytes.clone();
                        kept.truncate(max_bytes);
                        model.push_back((seq, kept));
                        next += 1;
                        while model.len() > max_messages {
                            model.pop_front();
                        }
                    }
                    None => {
                        r.clear();
                        model.clear();
                    }
                }
                // Everything the ring still has is the newest suffix of the model.
                let first = r.first_seq();
                prop_assert!(r.len() as usize <= model.len());
                prop_assert!(r.bytes_used() <= r.arena_bytes());
                while model.front().is_some_and(|(s, _)| *s < first) {
                    model.pop_front();
                }
                prop_assert_eq!(r.len() as usize, model.len());
                for (seq, bytes) in &model {
                    let e = r.get(*seq).expect("stored");
                    prop_assert_eq!(e.raw, &bytes[..]);
                }
                // The newest message always fits.
                if let Some((s, _)) = model.back() {
                    prop_assert_eq!(*s, next - 1);
                }
            }
        }
    }
}
