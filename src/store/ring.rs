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
//! A message's slots hold its record (see [`crate::store::record`]), zero
//! past it to the end of the last slot.
//!
//! The index is what ingestion's parse found (facility, severity, format,
//! where the hostname, app-name and MSG lie, the message's own time), so
//! that readers filter and render without parsing again.
//!
//! Pushing allocates nothing: it writes into the arena, an entry of
//! each seq table (the start slot, the PRI), the message's tags and the
//! summary of its block of seqs ([`crate::store::summary`]), which readers
//! filtering on a severity, facility, hostname, app-name or unit look at
//! to pass over whole blocks and messages. Tags and summaries live beside
//! the memory file, not in it: adopting a file rebuilds them from its
//! records.
//!
//! No byte of a message outlives it in the arena: an evicted message's slots
//! are zeroed as it goes (by either bound or by [`Ring::evict_older_than`]),
//! and a stored message's last slot is zero past its bytes. [`Ring::clear`]
//! empties the ring at once and overwrites the whole arena, slice by slice
//! ([`Ring::wipe_step`]), so that ingestion goes on while a large arena is
//! wiped.

use std::io;
use std::ops::Range;

use std::sync::atomic::{Ordering, compiler_fence};

use memmap2::{Advice, MmapMut};
use serde::{Deserialize, Serialize};

use crate::ingest::syslog::{self, Fields, Index, Sent};
use crate::store::file::{self, Foreign, Geometry, Layout, Memory, SnapshotSpace};
use crate::store::record::{self, Record};
use crate::store::summary::{Field, Sieve, SoleName, Stored, Summaries, Tags};

/// Size of one arena slot in bytes: the unit a message's space is counted in.
pub const SLOT: usize = 16;

/// In [`Ring::pris`]: the message has no index (no PRI is above 191).
const NO_PRI: u8 = u8::MAX;

/// A message's sequence number: its place in the order the daemon stored
/// messages in. Seqs are consecutive and only increase (a clear does not
/// start them again), so a reader resumes from one (`since=`) and the ring
/// finds a message by one.
///
/// A seq is a position, a count of messages (a `u64`) is a distance:
/// [`Seq::plus`] and [`Seq::since`] go from one to the other, and there is
/// no `+` or `-` that would let the two mix again. The plain operations
/// panic on overflow, as the arithmetic on the bare number did (overflow
/// checks are on in release too); the `saturating_` ones serve where it
/// saturated, mostly bounds that a client's `since=` or `l=` takes part
/// in. Displayed and serialized as the bare number, as HTTP headers, JSON
/// and notices carry it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(u64);

impl Seq {
    /// The first seq a ring gives.
    pub const ZERO: Seq = Seq(0);
    /// The last seq there is: nothing can come after it.
    pub const MAX: Seq = Seq(u64::MAX);

    /// The seq with this number, from a wire format or a test; a parser of
    /// untrusted input checks its range before (see `since=` in
    /// [`crate::query`]).
    pub const fn new(n: u64) -> Seq {
        Seq(n)
    }

    /// The number, for a table index (`% capacity`) and wire formats.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The seq after this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }

    /// The seq before this one, if there is one.
    pub fn prev(self) -> Option<Seq> {
        self.0.checked_sub(1).map(Seq)
    }

    /// The seq `n` messages later.
    pub fn plus(self, n: u64) -> Seq {
        Seq(self.0 + n)
    }

    /// The seq `n` messages earlier, which is not before [`Seq::ZERO`].
    pub fn minus(self, n: u64) -> Seq {
        Seq(self.0 - n)
    }

    /// [`Seq::plus`], stopping at [`Seq::MAX`]: the end of a window of at
    /// most `n` messages, whatever seq a client asked from.
    pub fn saturating_plus(self, n: u64) -> Seq {
        Seq(self.0.saturating_add(n))
    }

    /// The seq `n` messages earlier, stopping at [`Seq::ZERO`].
    pub fn saturating_minus(self, n: u64) -> Seq {
        Seq(self.0.saturating_sub(n))
    }

    /// How many messages lie from `earlier` up to this seq, which is not
    /// before it.
    pub fn since(self, earlier: Seq) -> u64 {
        self.0 - earlier.0
    }

    /// [`Seq::since`], 0 when `earlier` is in fact later.
    pub fn saturating_since(self, earlier: Seq) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The seqs `from..to`, in order (a `Range<Seq>` is not an iterator
    /// outside the standard library's own integer types).
    pub fn range(from: Seq, to: Seq) -> impl DoubleEndedIterator<Item = Seq> + Clone {
        (from.0..to.0).map(Seq)
    }
}

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

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
    /// The kernel's log buffer, `/dev/kmsg` (`-kmsg`).
    Kmsg = 3,
}

impl Transport {
    pub const ALL: [Transport; 4] = [
        Transport::Unix,
        Transport::Udp,
        Transport::Tcp,
        Transport::Kmsg,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Kmsg => "kmsg",
        }
    }

    /// The transport stored as this byte, if it is one.
    pub fn from_byte(b: u8) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| *t as u8 == b)
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
    pub seq: Seq,
    pub received_us: i64,
    pub transport: Transport,
    pub cred: Option<Cred>,
    /// The sender's systemd unit, looked up when it was received (see
    /// [`crate::ingest::unit`]): a unit's name.
    pub unit: Option<&'a [u8]>,
    pub truncated: bool,
    /// What ingestion's parse found, if it was stored.
    pub index: Option<Index>,
    pub raw: &'a [u8],
}

impl<'a> Entry<'a> {
    /// The fields filters test: from the index, or parsed when there is
    /// none; and who sent it.
    pub fn fields(&self) -> Fields<'a> {
        let fields = match self.index {
            Some(ix) => ix.fields(self.raw),
            None => syslog::fields(self.raw),
        };
        Fields {
            sent: self.sent(),
            ..fields
        }
    }

    /// Who sent it, as far as the daemon knows.
    pub fn sent(&self) -> Sent<'a> {
        sent(self.cred, self.unit, self.transport)
    }
}

/// Who sent a message with credentials `cred` from `unit`, that came by
/// `transport`.
pub fn sent(cred: Option<Cred>, unit: Option<&[u8]>, transport: Transport) -> Sent<'_> {
    Sent {
        pid: cred.map(|c| c.pid),
        uid: cred.map(|c| c.uid),
        unit,
        local: transport == Transport::Unix,
    }
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
    /// A message length must fit the header's `u32`.
    MessageTooLarge,
    /// The seq table's size in bytes does not fit in `usize`.
    TableTooLarge,
    /// The seq table could not be allocated.
    Alloc {
        bytes: usize,
    },
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
            ConfigError::MessageTooLarge => write!(
                f,
                "the maximum message size is larger than circolog supports ({} bytes)",
                u32::MAX
            ),
            ConfigError::TableTooLarge => {
                write!(f, "the message count is larger than circolog supports")
            }
            ConfigError::Alloc { bytes } => {
                write!(f, "cannot allocate the {bytes}-byte seq table")
            }
            ConfigError::Map(e) => write!(f, "cannot allocate the arena: {e}"),
        }
    }
}

/// What [`Ring::new`] allocates for a [`Config`]: start-up checks it
/// against memory before anything is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// The arena (whole slots; the end of `arena_bytes` past them is unused).
    pub arena_bytes: usize,
    /// The seq tables (a `u32` start slot and a PRI byte per message the
    /// ring may hold), the tags (three bytes per message) and the block
    /// summaries.
    pub table_bytes: usize,
}

/// The ring. See the module documentation.
pub struct Ring {
    /// The memory file, laid out as [`crate::store::file`] says: the arena,
    /// and two tables indexed by `seq % cap`: the start slot of each stored
    /// message, and the PRI in its index or [`NO_PRI`] (a filter on
    /// severity reads these bytes one after the other instead of a header
    /// per message, a cache miss each).
    mem: MmapMut,
    layout: Layout,
    /// What kind of memory `mem` is, as the daemon made it.
    memory: Memory,
    /// What the ring was adopted from; `None` for a fresh one.
    restored: Option<Restored>,
    cap: usize,
    nslots: u32,
    max_message_bytes: usize,
    /// Seq of the oldest stored message; `first_seq == next_seq` when empty.
    first_seq: Seq,
    next_seq: Seq,
    /// Start slot of the oldest message (0 when empty).
    head: u32,
    /// First free slot after the newest message (0 when empty).
    tail: u32,
    /// INVARIANT: when `wrapped`, the stored slots are `head..wrap_end` then
    /// `0..tail`, with `tail <= head`; otherwise they are `head..tail`.
    wrapped: bool,
    wrap_end: u32,
    /// The wipe a clear armed: slots `written..wipe_high` may still hold
    /// bytes stored before it. INVARIANT: every message stored since that
    /// clear lies in `0..written` (they were placed from slot 0, each at or
    /// before the end of the last), so the wipe never touches a live one.
    /// Both are 0 when no wipe is pending.
    wipe_high: u32,
    written: u32,
    /// What each block of seqs may hold, and each message's tags.
    /// INVARIANT: the summary of a block holds (at least) every message of
    /// it stored since the last clear; the tags of a stored message with
    /// an index are its own.
    summaries: Summaries,
}

impl Ring {
    /// Allocates the memory (one anonymous mapping, faulted in now so that
    /// ingestion never page-faults) and makes a fresh ring in it.
    pub fn new(config: Config) -> Result<Ring, ConfigError> {
        let layout = Ring::layout(&config, SnapshotSpace::NONE)?;
        let mem = file::anonymous(layout.ring_bytes()).map_err(ConfigError::Map)?;
        Ring::with_memory(config, SnapshotSpace::NONE, mem)
    }

    /// Where each part of a ring of `config` lies in its memory file, with
    /// the snapshots' part of `snapshots` after it; the memory handed to
    /// [`Ring::with_memory`] or [`Ring::adopt`] is the file's first
    /// [`Layout::ring_bytes`] at least.
    pub fn layout(config: &Config, snapshots: SnapshotSpace) -> Result<Layout, ConfigError> {
        let footprint = Ring::footprint(config)?;
        u32::try_from(footprint.arena_bytes / SLOT).map_err(|_| ConfigError::ArenaTooLarge)?;
        Layout::of(Ring::geometry(config, &footprint, snapshots)).ok_or(ConfigError::TableTooLarge)
    }

    fn geometry(config: &Config, footprint: &Footprint, snapshots: SnapshotSpace) -> Geometry {
        Geometry {
            max_messages: config.max_messages as u64,
            ring_bytes: footprint.arena_bytes as u64,
            max_message_bytes: config.max_message_bytes as u64,
            snapshots,
        }
    }

    /// A fresh, empty ring in `mem`, whatever it held: every byte of it is
    /// overwritten. Its header says that the file has the snapshots' part
    /// of `snapshots` (which is not in `mem`: the snapshot store has it).
    pub fn with_memory(
        config: Config,
        snapshots: SnapshotSpace,
        mut mem: MmapMut,
    ) -> Result<Ring, ConfigError> {
        let footprint = Ring::footprint(&config)?;
        let layout = Ring::layout(&config, snapshots)?;
        if mem.len() < layout.ring_bytes() {
            return Err(ConfigError::Map(io::Error::other(format!(
                "the memory is {} bytes, and the ring needs {}",
                mem.len(),
                layout.ring_bytes()
            ))));
        }
        let summaries = Summaries::new(config.max_messages).ok_or(ConfigError::Alloc {
            bytes: footprint.table_bytes,
        })?;
        // Messages are kept for a short while on purpose: never in a core dump.
        // A kernel without MADV_DONTDUMP still stores messages correctly.
        let _ = mem.advise(Advice::DontDump);
        mem.fill(0);
        mem[layout.pris.clone()].fill(NO_PRI);
        file::write_header(&mut mem, Ring::geometry(&config, &footprint, snapshots));
        Ok(Ring {
            mem,
            memory: Memory::Plain,
            restored: None,
            cap: config.max_messages,
            nslots: (footprint.arena_bytes / SLOT) as u32,
            layout,
            max_message_bytes: config.max_message_bytes,
            first_seq: Seq::ZERO,
            next_seq: Seq::ZERO,
            head: 0,
            tail: 0,
            wrapped: false,
            wrap_end: 0,
            wipe_high: 0,
            written: 0,
            summaries,
        })
    }

    /// Takes over a memory file a previous process left (its first
    /// [`Layout::ring_bytes`] in `mem`), if it is a ring of the same
    /// geometry as `config` with a snapshots' part of `snapshots`: every
    /// published message that checks out is kept where it is, with its
    /// seq; what does not is dropped and counted, and every byte no kept
    /// message owns is overwritten. A file of another geometry, or not a
    /// ring this version reads, is handed back (see [`Refused`]). The
    /// snapshots are the snapshot store's to adopt.
    pub fn adopt(
        config: Config,
        snapshots: SnapshotSpace,
        mem: MmapMut,
    ) -> Result<(Ring, Adopted), Refused> {
        let scan = match scan(&mem) {
            Ok(scan) => scan,
            Err(why) => return Err(Refused::Foreign { mem, why }),
        };
        let geometry = Ring::footprint(&config)
            .ok()
            .map(|f| Ring::geometry(&config, &f, snapshots));
        if geometry != Some(scan.geometry) {
            return Err(Refused::Geometry {
                mem,
                was: scan.geometry,
            });
        }
        // Summaries only spare reads: a ring without room for them still
        // answers every query, reading every block.
        let summaries = Summaries::new(config.max_messages).unwrap_or_else(Summaries::one_slot);
        let _ = mem.advise(Advice::DontDump);
        let mut ring = Ring {
            mem,
            memory: Memory::Plain,
            restored: None,
            cap: config.max_messages,
            nslots: scan.nslots,
            layout: scan.layout,
            max_message_bytes: config.max_message_bytes,
            first_seq: scan.first,
            next_seq: scan.next,
            head: 0,
            tail: 0,
            wrapped: false,
            wrap_end: 0,
            wipe_high: 0,
            written: 0,
            summaries,
        };
        file::publish_first(&mut ring.mem, scan.first.get());
        file::publish_next(&mut ring.mem, scan.next.get());
        ring.settle(scan.wrap_end);
        let adopted = Adopted {
            messages: ring.len(),
            dropped: scan.dropped,
        };
        ring.restored = Some(Restored::of(adopted, &ring.mem));
        Ok((ring, adopted))
    }

    /// After an adopt: the positions from the kept messages, their PRIs
    /// and their blocks' summaries from their records, and zero everywhere
    /// else in the arena.
    fn settle(&mut self, wrap_end: Option<u32>) {
        let nslots = self.nslots as usize * SLOT;
        if self.is_empty() {
            self.arena_mut().fill(0);
            return;
        }
        self.head = self.start_of(self.first_seq);
        let mut pos = self.head as usize * SLOT;
        for seq in Seq::range(self.first_seq, self.next_seq) {
            let start = self.start_of(seq);
            let at = start as usize * SLOT;
            let (len, pri) = {
                let arena = &self.mem[self.layout.arena.clone()];
                let r = record::decode(&arena[at..]).expect("checked by the scan");
                let i = (seq.get() % self.cap as u64) as usize;
                let stored = r.index.map(|ix| stored_at(at, &r, ix));
                self.summaries.add(seq, i, self.first_seq, arena, stored);
                (r.encoded_len(), r.index.map_or(NO_PRI, |ix| ix.pri()))
            };
            if at < pos {
                // The wrap: free from the end of the last one above it.
                self.arena_mut()[pos..nslots].fill(0);
                pos = 0;
            }
            self.arena_mut()[pos..at].fill(0);
            self.set_entry(seq, start, pri);
            pos = at + len;
            self.tail = (at + len).div_ceil(SLOT) as u32;
        }
        match wrap_end {
            Some(end) => {
                self.wrapped = true;
                self.wrap_end = end;
                let head = self.head as usize * SLOT;
                self.arena_mut()[pos..head].fill(0);
            }
            None => {
                let head = self.head as usize * SLOT;
                self.arena_mut()[pos..nslots].fill(0);
                self.arena_mut()[..head].fill(0);
            }
        }
    }

    /// Stores the messages of a memory file of another geometry, checked as
    /// [`Ring::adopt`] checks them, in this ring, which is empty and gets
    /// their seqs: the newest that fit are kept. The old file is not
    /// changed.
    pub fn copy_from(&mut self, old: &[u8]) -> Result<Adopted, Foreign> {
        debug_assert!(self.is_empty() && self.next_seq == Seq::ZERO);
        let scan = scan(old)?;
        let arena = &old[scan.layout.arena.clone()];
        let starts = &old[scan.layout.starts.clone()];
        let cap = scan.geometry.max_messages;
        // Only the newest that can fit the count bound are worth copying.
        let from = scan.first.max(scan.next.saturating_minus(self.cap as u64));
        self.first_seq = from;
        self.next_seq = from;
        file::publish_first(&mut self.mem, from.get());
        file::publish_next(&mut self.mem, from.get());
        for seq in Seq::range(from, scan.next) {
            let i = (seq.get() % cap) as usize * 4;
            let start = u32::from_le_bytes(starts[i..i + 4].try_into().expect("4 bytes"));
            let r = record::decode(&arena[start as usize * SLOT..]).expect("checked by the scan");
            self.push_indexed(
                Incoming {
                    received_us: r.received_us,
                    transport: r.transport,
                    cred: r.cred,
                    truncated: r.truncated,
                    bytes: r.raw,
                },
                r.index.filter(|_| r.raw.len() <= self.max_message_bytes),
            );
        }
        let adopted = Adopted {
            messages: self.len(),
            dropped: scan.dropped,
        };
        self.restored = Some(Restored::of(adopted, old));
        file::write_kmsg(&mut self.mem, file::kmsg(old));
        Ok(adopted)
    }

    /// Says in the file who runs the ring from now on; the epoch stays the
    /// adopted ring's ([`Ring::epoch_us`]).
    pub fn begin_process(&mut self, epoch_us: i64, pid: u32, started_us: i64) {
        file::write_process(
            &mut self.mem,
            file::Process {
                epoch_us,
                pid,
                started_us,
            },
        );
    }

    /// Keeps the pause state in the file, for the next process to go on
    /// with.
    pub fn record_pause(&mut self, pause: file::Pause) {
        file::write_pause(&mut self.mem, pause);
    }

    /// Keeps in the file the SEQ of the last kernel record read, for the
    /// next process to go on after.
    pub fn record_kmsg(&mut self, seq: u64) {
        file::write_kmsg(&mut self.mem, Some(seq));
    }

    /// Keeps the daemon's counters in the file, for the next process to go
    /// on with.
    pub fn record_counters(&mut self, counters: &[u64; file::COUNTERS], cleared_at: Seq) {
        file::write_counters(&mut self.mem, counters, cleared_at.get());
    }

    /// The epoch of the adopted ring, the one its seqs count from; `None`
    /// for a fresh ring.
    pub fn epoch_us(&self) -> Option<i64> {
        self.restored.map(|r| r.epoch_us)
    }

    /// Checks a config and says what [`Ring::new`] would allocate for it,
    /// allocating nothing (the sizes are computed without overflow whatever
    /// the flags said). An arena too large for slot numbers is left to
    /// [`Ring::new`], after the caller has compared these sizes with memory.
    pub fn footprint(config: &Config) -> Result<Footprint, ConfigError> {
        if config.max_messages == 0 {
            return Err(ConfigError::ZeroMessages);
        }
        if u32::try_from(config.max_message_bytes).is_err() {
            return Err(ConfigError::MessageTooLarge);
        }
        let needed = max_slots_for(config.max_message_bytes) * SLOT;
        if config.arena_bytes < needed {
            return Err(ConfigError::ArenaTooSmall { needed });
        }
        let table_bytes = config
            .max_messages
            .checked_mul(std::mem::size_of::<u32>() + 1)
            .zip(Summaries::bytes_for(config.max_messages))
            .and_then(|(seqs, blocks)| seqs.checked_add(blocks))
            .filter(|b| isize::try_from(*b).is_ok())
            .ok_or(ConfigError::TableTooLarge)?;
        Ok(Footprint {
            arena_bytes: config.arena_bytes / SLOT * SLOT,
            table_bytes,
        })
    }

    /// Locks the arena into RAM so that no message is ever swapped out.
    pub fn lock_memory(&self) -> io::Result<()> {
        self.mem.lock()
    }

    /// The memory file, as the module [`crate::store::file`] lays it out.
    pub fn memory(&self) -> &[u8] {
        &self.mem
    }

    /// Says what kind of memory the ring lives in (the daemon made it).
    pub fn set_memory_kind(&mut self, memory: Memory) {
        self.memory = memory;
    }

    pub fn memory_kind(&self) -> Memory {
        self.memory
    }

    /// What the ring was adopted from (`/status` `restored`); `None` for a
    /// fresh ring.
    pub fn restored(&self) -> Option<Restored> {
        self.restored
    }

    fn arena_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.layout.arena.clone()]
    }

    /// Writes the seq tables' entries of `seq`; returns where they are.
    fn set_entry(&mut self, seq: Seq, start: u32, pri: u8) -> usize {
        let i = (seq.get() % self.cap as u64) as usize;
        let at = self.layout.starts.start + 4 * i;
        self.mem[at..at + 4].copy_from_slice(&start.to_le_bytes());
        self.mem[self.layout.pris.start + i] = pri;
        i
    }

    fn pris(&self) -> &[u8] {
        &self.mem[self.layout.pris.clone()]
    }

    /// Stores a message, evicting the oldest ones as needed, and returns its seq.
    pub fn push(&mut self, msg: Incoming<'_>) -> Seq {
        self.push_indexed(msg, None)
    }

    /// [`Ring::push`] with the message's index, which must be of the bytes
    /// the ring keeps (the first [`Ring::max_message_bytes`]).
    pub fn push_indexed(&mut self, msg: Incoming<'_>, index: Option<Index>) -> Seq {
        self.push_sent(msg, index, None)
    }

    /// [`Ring::push_indexed`] with the sender's systemd unit, a unit's
    /// name (anything else is left out, see [`Record::unit`]).
    pub fn push_sent(
        &mut self,
        msg: Incoming<'_>,
        index: Option<Index>,
        unit: Option<&[u8]>,
    ) -> Seq {
        let truncated = msg.truncated || msg.bytes.len() > self.max_message_bytes;
        let bytes = &msg.bytes[..msg.bytes.len().min(self.max_message_bytes)];
        let record = Record {
            received_us: msg.received_us,
            transport: msg.transport,
            cred: msg.cred,
            unit,
            truncated,
            index,
            raw: bytes,
        };
        let k = record.encoded_len().div_ceil(SLOT) as u32;
        let start = self.place(k);

        let seq = self.next_seq;
        self.next_seq = seq.next();
        if self.wipe_pending() {
            self.written = self.written.max(start + k);
        }

        let slots = &mut self.arena_mut()[start as usize * SLOT..(start + k) as usize * SLOT];
        let end = record::encode(slots, &record);
        // The rest of the last slot: it may hold bytes of a cleared message
        // that the wipe has not reached.
        slots[end..].fill(0);
        let at = self.set_entry(seq, start, index.map_or(NO_PRI, |ix| ix.pri()));
        let stored = index.map(|ix| stored_at(start as usize * SLOT, &record, ix));
        let arena = &self.mem[self.layout.arena.clone()];
        self.summaries.add(seq, at, self.first_seq, arena, stored);
        // Whole, then published: a process killed before this line leaves
        // a file without this message, never a part of it.
        compiler_fence(Ordering::Release);
        file::publish_next(&mut self.mem, self.next_seq.get());
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
            if self.len() as usize >= self.cap {
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

    /// Evicts the oldest message and zeroes its slots.
    fn evict_oldest(&mut self) {
        let at = self.head as usize * SLOT;
        let k = self.slots_at(self.head) as usize;
        self.first_seq = self.first_seq.next();
        // Gone from the file before its bytes are.
        file::publish_first(&mut self.mem, self.first_seq.get());
        compiler_fence(Ordering::Release);
        self.arena_mut()[at..at + k * SLOT].fill(0);
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

    fn start_of(&self, seq: Seq) -> u32 {
        let at = self.layout.starts.start + 4 * (seq.get() % self.cap as u64) as usize;
        u32::from_le_bytes(self.mem[at..at + 4].try_into().expect("4 bytes"))
    }

    /// How many slots the message stored at `start` takes, from its header.
    fn slots_at(&self, start: u32) -> u32 {
        let at = start as usize * SLOT;
        record::stored_len(&self.arena()[at..]).div_ceil(SLOT) as u32
    }

    /// Discards every message and overwrites the whole arena now (the
    /// messages' bytes and anything left of earlier ones). Seqs keep
    /// increasing from where they were. The event loop uses
    /// [`Ring::begin_clear`] and [`Ring::wipe_step`] instead, so that a large
    /// arena is wiped without stopping ingestion.
    pub fn clear(&mut self) {
        self.begin_clear();
        while self.wipe_step(usize::MAX) {}
    }

    /// Discards every message at once and arms a wipe of the whole arena,
    /// done by [`Ring::wipe_step`]: until it is done, no message can be read
    /// but the bytes of the discarded ones are still in memory. Messages
    /// stored meanwhile are kept and never wiped. A clear during a wipe
    /// starts it again from the top.
    pub fn begin_clear(&mut self) {
        self.first_seq = self.next_seq;
        file::publish_first(&mut self.mem, self.first_seq.get());
        compiler_fence(Ordering::Release);
        self.summaries.clear();
        self.head = 0;
        self.tail = 0;
        self.wrapped = false;
        self.written = 0;
        self.wipe_high = self.nslots;
    }

    /// Zeroes the next slice of at most `max_bytes` (at least one slot) of
    /// the wipe [`Ring::begin_clear`] armed; returns whether more remains.
    pub fn wipe_step(&mut self, max_bytes: usize) -> bool {
        if !self.wipe_pending() {
            // Done, perhaps by new messages that covered the rest.
            self.wipe_high = 0;
            self.written = 0;
            return false;
        }
        // From the top down, while new messages fill the arena from slot 0.
        let n = (max_bytes / SLOT).clamp(1, self.wipe_high as usize) as u32;
        let low = (self.wipe_high - n).max(self.written);
        let wipe_high = self.wipe_high as usize;
        self.arena_mut()[low as usize * SLOT..wipe_high * SLOT].fill(0);
        self.wipe_high = low;
        if !self.wipe_pending() {
            self.wipe_high = 0;
            self.written = 0;
        }
        self.wipe_pending()
    }

    /// A clear's wipe is not finished: call [`Ring::wipe_step`].
    pub fn wipe_pending(&self) -> bool {
        self.wipe_high > self.written
    }

    /// Evicts, oldest first, at most `max_messages` messages received
    /// before `cutoff_us` (µs since 1970), zeroing their bytes, and returns
    /// how many went. It stops at the first message received at or after
    /// the cutoff: receive times follow the wall clock, so after a step back
    /// a message may wait for an older-stamped one stored after it.
    pub fn evict_older_than(&mut self, cutoff_us: i64, max_messages: usize) -> usize {
        let mut n = 0;
        while n < max_messages && !self.is_empty() {
            let at = self.head as usize * SLOT;
            let received = record::received_us(&self.arena()[at..]);
            if received >= cutoff_us {
                break;
            }
            self.evict_oldest();
            n += 1;
        }
        n
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
    pub fn get(&self, seq: Seq) -> Option<Entry<'_>> {
        if seq < self.first_seq || seq >= self.next_seq {
            return None;
        }
        let at = self.start_of(seq) as usize * SLOT;
        // Every record the ring serves was written by it, or checked when
        // it was adopted: one that does not decode is a bug, and is not served.
        let r = record::decode(&self.arena()[at..]);
        debug_assert!(r.is_ok(), "the record of {seq} at slot {at}: {r:?}");
        r.ok().map(|r| r.at(seq))
    }

    /// What a cursor that has not yet seen `seq` should read next.
    pub fn read(&self, seq: Seq) -> Read<'_> {
        if seq < self.first_seq {
            return Read::Skipped(self.first_seq.since(seq));
        }
        match self.get(seq) {
            Some(e) => Read::Entry(e),
            None => Read::End,
        }
    }

    /// The arena, where messages lie as the module documentation says.
    pub fn arena(&self) -> &[u8] {
        &self.mem[self.layout.arena.clone()]
    }

    /// The PRI in the index of the stored `seq`, from the PRI table: a
    /// filter on severity passes over most messages with this one byte.
    pub fn pri(&self, seq: Seq) -> Option<u8> {
        if seq < self.first_seq || seq >= self.next_seq {
            return None;
        }
        let pri = self.pris()[(seq.get() % self.cap as u64) as usize];
        (pri != NO_PRI).then_some(pri)
    }

    /// The tags of the stored `seq` ([`crate::store::summary::Tags`]), if
    /// it has an index.
    pub fn tags(&self, seq: Seq) -> Option<Tags> {
        if seq < self.first_seq || seq >= self.next_seq {
            return None;
        }
        let i = (seq.get() % self.cap as u64) as usize;
        let tags = self.summaries.tags().get(i).copied();
        tags.filter(|_| self.pris()[i] != NO_PRI)
    }

    /// [`crate::store::messages::Messages::skip_pri`]: the first seq in
    /// `from..to` (looking at `max` at most) that `sieve` passes on its
    /// PRI and tags. Walks the seq tables as at most two slices, a few bit
    /// tests per message and no call.
    pub fn skip_pri(&self, from: Seq, to: Seq, max: u64, sieve: &Sieve) -> Seq {
        let from = from.max(self.first_seq);
        let to = to.min(self.next_seq).min(from.saturating_plus(max));
        if from >= to {
            return to;
        }
        let cap = self.cap as u64;
        let (pris, tags) = (self.pris(), self.summaries.tags());
        // `to - from` is at most the ring's capacity: one wrap at most.
        let start = (from.get() % cap) as usize;
        let n = to.since(from) as usize;
        let first = n.min(self.cap - start);
        let pass = |at: usize, len: usize| -> Option<usize> {
            let pris = &pris[at..at + len];
            match tags.get(at..at + len) {
                Some(tags) => pris
                    .iter()
                    .zip(tags)
                    .position(|(&pri, tags)| pri == NO_PRI || sieve.passes_tagged(pri, tags)),
                None => pris
                    .iter()
                    .position(|&pri| pri == NO_PRI || sieve.passes(pri, None)),
            }
        };
        if let Some(k) = pass(start, first) {
            return from.plus(k as u64);
        }
        match pass(0, n - first) {
            Some(k) => from.plus((first + k) as u64),
            None => to,
        }
    }

    /// [`crate::store::messages::Messages::sole_name`].
    pub fn sole_name(&self, field: Field, tag: u8, from: Seq) -> SoleName<'_> {
        let arena = self.arena();
        self.summaries
            .sole_name(arena, self.first_seq, field, tag, from)
    }

    /// What each block of seqs may hold ([`crate::store::summary`]).
    pub fn summaries(&self) -> &Summaries {
        &self.summaries
    }

    /// Where the record of the stored `seq` starts in [`Ring::arena`].
    pub fn record_start(&self, seq: Seq) -> usize {
        self.start_of(seq) as usize * SLOT
    }

    /// The end of the run of messages from the stored `from` that lie one
    /// after the other in the arena, at most `to`: `to`, or the first seq
    /// placed at slot 0 after a wrap.
    pub fn contiguous_until(&self, from: Seq, to: Seq) -> Seq {
        let to = to.min(self.next_seq);
        if from < self.first_seq || from >= to {
            return from;
        }
        if !self.wrapped || self.start_of(from) < self.head {
            // Below the wrap point (or no wrap): on to the newest.
            return to;
        }
        // Above it: the seqs there come first, then those from slot 0.
        let (mut lo, mut hi) = (from.next(), to);
        while lo < hi {
            let mid = lo.plus(hi.since(lo) / 2);
            if self.start_of(mid) >= self.head {
                lo = mid.next();
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Seq of the oldest stored message (equal to [`Ring::next_seq`] when empty).
    pub fn first_seq(&self) -> Seq {
        self.first_seq
    }

    /// Seq the next stored message will get.
    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// Seq of the newest stored message, if any.
    pub fn last_seq(&self) -> Option<Seq> {
        self.next_seq.prev().filter(|&last| last >= self.first_seq)
    }

    pub fn len(&self) -> u64 {
        self.next_seq.since(self.first_seq)
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
        self.cap
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }
}

/// What adopting a memory file kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adopted {
    /// Messages kept, with their seqs.
    pub messages: u64,
    /// Published messages that did not check out, dropped.
    pub dropped: u64,
}

/// What a ring was adopted from, for `/status` `restored`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    pub adopted: Adopted,
    /// The epoch the adopted seqs count from.
    pub epoch_us: i64,
    /// The pid of the process that stored them, and when it started (µs
    /// since 1970), as the file says.
    pub pid: u32,
    pub started_us: i64,
    /// Whether it was paused, how, and when a timed pause ends.
    pub pause: file::Pause,
    /// The SEQ of the last kernel record it read (`-kmsg`).
    pub kmsg: Option<u64>,
    /// The daemon's counters, as it last wrote them
    /// ([`Ring::record_counters`]), and the first seq after its last clear.
    pub counters: [u64; file::COUNTERS],
    pub cleared_at: Seq,
}

impl Restored {
    fn of(adopted: Adopted, mem: &[u8]) -> Restored {
        let p = file::process(mem);
        let pause = file::pause(mem);
        let (counters, cleared_at) = file::counters(mem);
        Restored {
            counters,
            cleared_at: Seq::new(cleared_at),
            adopted,
            epoch_us: p.epoch_us,
            pid: p.pid,
            started_us: p.started_us,
            pause,
            kmsg: file::kmsg(mem),
        }
    }
}

/// Why [`Ring::adopt`] did not take a memory file, which it hands back.
pub enum Refused {
    /// Not a ring this version reads: overwrite it.
    Foreign { mem: MmapMut, why: Foreign },
    /// A ring of another geometry: copy from it ([`Ring::copy_from`]).
    Geometry { mem: MmapMut, was: Geometry },
}

impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Foreign { why, .. } => write!(f, "Foreign({why:?})"),
            Refused::Geometry { was, .. } => write!(f, "Geometry({was:?})"),
        }
    }
}

/// The messages of a memory file that check out.
struct Scan {
    geometry: Geometry,
    layout: Layout,
    nslots: u32,
    /// Kept: `first..next`.
    first: Seq,
    next: Seq,
    /// The end slot of the newest kept message above the wrap point, when
    /// the kept ones wrap.
    wrap_end: Option<u32>,
    dropped: u64,
}

/// Checks a memory file: its header, then each published message from the
/// newest back. A message is kept when its seq-table entry lies in the
/// arena, its record decodes whole within the arena and is no longer than
/// the longest kept, and it lies where the ring would have put it: before
/// the next newer one, or above the newest after the one wrap. The first
/// that does not is dropped with every older one (they were stored before
/// it, so nothing after a hole is trusted to be in order).
fn scan(mem: &[u8]) -> Result<Scan, Foreign> {
    let (geometry, layout) = file::read_header(mem)?;
    let nslots = u32::try_from(geometry.ring_bytes / SLOT as u64).map_err(|_| Foreign::Geometry)?;
    if geometry.max_message_bytes > u64::from(u32::MAX) {
        return Err(Foreign::Geometry);
    }
    let (first, next) = file::published(mem);
    // Seqs this high could not be reached; the next push would overflow.
    if next >= 1 << 62 {
        return Err(Foreign::Geometry);
    }
    let published = next.saturating_sub(first);
    let cap = geometry.max_messages;
    let arena = &mem[layout.arena.clone()];
    let starts = &mem[layout.starts.clone()];
    let mut kept = 0u64;
    // Slot bounds of the kept messages so far: the newest's end, the
    // oldest's start.
    let mut tail = 0u32;
    let mut low = 0u32;
    let mut wrap_end = None;
    for seq in (next - published.min(cap)..next).rev() {
        let i = (seq % cap) as usize * 4;
        let start = u32::from_le_bytes(starts[i..i + 4].try_into().expect("4 bytes"));
        if start >= nslots {
            break;
        }
        let Ok(r) = record::decode(&arena[start as usize * SLOT..]) else {
            break;
        };
        if r.raw.len() as u64 > geometry.max_message_bytes {
            break;
        }
        let end = start + r.encoded_len().div_ceil(SLOT) as u32;
        if kept == 0 {
            tail = end;
        } else if wrap_end.is_none() && end > low {
            if start < tail {
                break;
            }
            wrap_end = Some(end);
        } else if end > low || start < tail && wrap_end.is_some() {
            break;
        }
        low = start;
        kept += 1;
    }
    Ok(Scan {
        geometry,
        layout,
        nslots,
        first: Seq::new(next - kept),
        next: Seq::new(next),
        wrap_end,
        dropped: published - kept,
    })
}

#[cfg(test)]
fn slots_for(len: usize, cred: bool) -> usize {
    record::encoded_len(len, cred, None).div_ceil(SLOT)
}

/// The slots of the largest record of `len` message bytes.
fn max_slots_for(len: usize) -> usize {
    record::max_encoded_len(len).div_ceil(SLOT)
}

/// The names of `record`, written at `at` in the arena, and where they
/// start there ([`Summaries::add`]). The names are read from the record's
/// bytes: as received when it is being stored.
fn stored_at<'a>(at: usize, record: &Record<'a>, ix: Index) -> Stored<'a> {
    let (unit, raw_at) = record.places();
    let [hostname, app_name] = ix.name_ranges(record.raw.len());
    let name = |r: &Option<Range<usize>>| r.clone().map(|r| &record.raw[r]);
    let start = |r: &Option<Range<usize>>, by: usize| r.as_ref().map_or(0, |r| by + r.start);
    Stored {
        pri: ix.pri(),
        names: [name(&hostname), name(&app_name), record.stored_unit()],
        places: [
            start(&hostname, at + raw_at),
            start(&app_name, at + raw_at),
            start(&unit, at),
        ],
    }
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
        assert_eq!((s0, s1), (Seq::ZERO, Seq::new(1)));
        let e = r.get(Seq::ZERO).expect("first");
        assert_eq!(e.raw, b"<13>hello");
        assert_eq!(e.cred, Some(cred));
        assert_eq!(e.transport, Transport::Unix);
        assert_eq!(e.received_us, 1_700_000_000_000_000);
        assert!(!e.truncated);
        let e = r.get(Seq::new(1)).expect("second");
        assert_eq!(
            (e.raw, e.cred, e.transport),
            (&b"second"[..], None, Transport::Udp)
        );
        assert_eq!(r.read(Seq::new(2)), Read::End);
    }

    #[test]
    fn truncates_long_messages_and_marks_them() {
        let mut r = ring(10, 4096, 8);
        r.push(msg(b"0123456789"));
        let e = r.get(Seq::ZERO).expect("stored");
        assert_eq!(e.raw, b"01234567");
        assert!(e.truncated);
    }

    #[test]
    fn message_count_bound_evicts_oldest() {
        let mut r = ring(3, 4096, 64);
        for i in 0..5u8 {
            r.push(msg(&[b'a' + i]));
        }
        assert_eq!(
            (r.first_seq(), r.next_seq(), r.len()),
            (Seq::new(2), Seq::new(5), 3)
        );
        assert_eq!(r.get(Seq::new(2)).expect("kept").raw, b"c");
        assert_eq!(r.read(Seq::ZERO), Read::Skipped(2));
    }

    #[test]
    fn byte_bound_evicts_oldest_and_space_is_about_message_size() {
        // 64 slots of 16 bytes; a 40-byte message takes its header and 40
        // bytes, rounded up to whole slots (5).
        let mut r = ring(1000, 64 * SLOT, 48);
        for _ in 0..100 {
            r.push(msg(&[b'x'; 40]));
        }
        let k = record::encoded_len(40, false, None).div_ceil(SLOT);
        assert_eq!(k, 5);
        assert_eq!(r.len(), (64 / k) as u64);
        assert_eq!(r.bytes_used(), 64 / k * k * SLOT);
        assert_eq!(r.get(Seq::new(99)).expect("newest").raw, &[b'x'; 40][..]);
    }

    #[test]
    fn clear_empties_overwrites_and_keeps_seq() {
        let mut r = ring(10, 4096, 64);
        r.push(msg(b"secret password"));
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.read(Seq::ZERO), Read::Skipped(1));
        assert!(memchr::memmem::find(r.arena(), b"secret").is_none());
        assert_eq!(r.push(msg(b"after")), Seq::new(1));
        assert_eq!(r.get(Seq::new(1)).expect("after").raw, b"after");
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

    #[test]
    fn footprint_is_checked_before_anything_is_allocated() {
        let config = |max_messages, arena_bytes, max_message_bytes| Config {
            max_messages,
            arena_bytes,
            max_message_bytes,
        };
        // -buffer-size 1000000000000: a 5 TB seq table, 3 TB of tags and
        // 2^34 block summaries of 80 bytes, said before allocating them.
        assert_eq!(
            Ring::footprint(&config(1_000_000_000_000, 64 << 20, 16 << 10)).unwrap(),
            Footprint {
                arena_bytes: 64 << 20,
                table_bytes: 8_000_000_000_000 + (1 << 34) * 80,
            }
        );
        // Whole slots only.
        assert_eq!(
            Ring::footprint(&config(10, 4096 + 7, 64))
                .unwrap()
                .arena_bytes,
            4096
        );
        assert!(matches!(
            Ring::footprint(&config(usize::MAX / 2, 4096, 64)),
            Err(ConfigError::TableTooLarge)
        ));
        assert!(matches!(
            Ring::new(config(usize::MAX / 2, 4096, 64)),
            Err(ConfigError::TableTooLarge)
        ));
        assert!(matches!(
            Ring::footprint(&config(0, 4096, 64)),
            Err(ConfigError::ZeroMessages)
        ));
        assert!(matches!(
            Ring::footprint(&config(1, usize::MAX, 1 << 33)),
            Err(ConfigError::MessageTooLarge)
        ));
        assert_eq!(
            Ring::footprint(&config(1, 1 << 40, 64))
                .unwrap()
                .arena_bytes,
            1 << 40
        );
        assert!(matches!(
            Ring::new(config(1, 1 << 40, 64)),
            Err(ConfigError::ArenaTooLarge)
        ));
        for e in [
            ConfigError::TableTooLarge,
            ConfigError::MessageTooLarge,
            ConfigError::Alloc { bytes: 4 },
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn evicted_messages_are_zeroed_at_once() {
        // By the count bound, and by the byte bound (the big one's slots are
        // only partly reused by the small ones that evict it).
        let mut r = ring(2, 64 * SLOT, 600);
        r.push(msg(b"secret one"));
        r.push(msg(b"two"));
        r.push(msg(b"three"));
        assert!(memchr::memmem::find(r.arena(), b"secret").is_none());
        let mut r = ring(100, 64 * SLOT, 600);
        r.push(msg(&[b'S'; 600]));
        for _ in 0..30 {
            r.push(msg(b"small"));
        }
        assert!(r.get(Seq::ZERO).is_none());
        assert!(!r.arena().contains(&b'S'));
    }

    #[test]
    fn the_index_is_stored_beside_the_message_with_or_without_credentials() {
        let mut r = ring(10, 64 * SLOT, 64);
        let raw = b"<13>1 - host app - - - hello";
        let index = crate::ingest::syslog::index_in_utc(raw, msg(raw).received_us);
        let fields = crate::ingest::syslog::fields(raw);
        let cred = Cred {
            pid: 1,
            uid: 2,
            gid: 3,
        };
        for cred in [None, Some(cred)] {
            let seq = r.push_indexed(Incoming { cred, ..msg(raw) }, index);
            let e = r.get(seq).unwrap();
            assert_eq!((e.raw, e.cred), (&raw[..], cred));
            assert_eq!(e.index, index);
            assert_eq!(e.index.unwrap().fields(e.raw), fields);
        }
        let seq = r.push(msg(raw));
        assert_eq!(r.get(seq).unwrap().index, None);
    }

    #[test]
    fn a_message_leaves_no_old_byte_in_its_last_slot() {
        let mut r = ring(10, 64 * SLOT, 64);
        r.arena_mut().fill(0xee);
        r.push(msg(b"x"));
        // Its slots: the header, one byte, then zeros.
        let end = slots_for(1, false) * SLOT;
        let header = record::HEADER;
        let mut want = vec![0u8; end - header];
        want[0] = b'x';
        assert_eq!(&r.arena()[header..end], &want[..]);
    }

    #[test]
    fn clear_overwrites_the_whole_arena() {
        let mut r = ring(10, 64 * SLOT, 64);
        r.push(msg(b"live secret"));
        // Bytes no message owns any more (as a kernel-reused page or an
        // older build could have left them).
        r.arena_mut()[60 * SLOT..].fill(0xee);
        r.clear();
        assert!(r.arena().iter().all(|b| *b == 0));
        assert!(!r.wipe_pending());
    }

    #[test]
    fn a_sliced_wipe_spares_what_is_stored_meanwhile() {
        let mut r = ring(100, 64 * SLOT, 64);
        for i in 0..40u8 {
            r.push(msg(&[b'A' + i % 26; 40]));
        }
        r.begin_clear();
        assert!(r.is_empty());
        assert!(r.wipe_pending());
        let mut steps = 0;
        let mut stored = Vec::new();
        // One slot per step; a new message between steps.
        while r.wipe_step(SLOT) {
            steps += 1;
            if steps % 4 == 0 {
                stored.push(r.push(msg(b"during the wipe")));
            }
        }
        assert!(steps > 10, "{steps}");
        for seq in &stored {
            assert_eq!(r.get(*seq).expect("kept").raw, b"during the wipe");
        }
        for c in b'A'..=b'Z' {
            assert!(
                memchr::memmem::find(r.arena(), &[c; 16]).is_none(),
                "{}",
                c as char
            );
        }
        assert!(!r.wipe_step(SLOT));
    }

    #[test]
    fn age_eviction_is_bounded_per_call_and_overwrites() {
        let mut r = ring(100, 4096, 64);
        for t in 0..10i64 {
            r.push(Incoming {
                received_us: t,
                ..msg(format!("old {t}").as_bytes())
            });
        }
        assert_eq!(r.evict_older_than(5, 2), 2);
        assert_eq!(r.first_seq(), Seq::new(2));
        assert_eq!(r.evict_older_than(5, 100), 3);
        assert_eq!(r.evict_older_than(5, 100), 0);
        assert_eq!(r.first_seq(), Seq::new(5));
        for t in 0..5 {
            let gone = format!("old {t}");
            assert!(memchr::memmem::find(r.arena(), gone.as_bytes()).is_none());
        }
        assert_eq!(r.get(Seq::new(5)).expect("kept").raw, b"old 5");
        assert_eq!(r.evict_older_than(i64::MAX, 100), 5);
        assert!(r.is_empty());
        assert!(r.arena().iter().all(|b| *b == 0));
    }

    /// The first byte of the arena that is not part of a stored message
    /// (header, credentials, bytes), not zero, and not left for a pending
    /// wipe.
    fn stray_byte(r: &Ring) -> Option<usize> {
        let mut owned = vec![false; r.arena().len()];
        for seq in Seq::range(r.first_seq(), r.next_seq()) {
            let at = r.start_of(seq) as usize * SLOT;
            let e = r.get(seq).expect("stored");
            let len = Record::of(&e).encoded_len();
            owned[at..at + len].fill(true);
        }
        let pending = r.written as usize * SLOT..r.wipe_high as usize * SLOT;
        (0..r.arena().len()).find(|&i| r.arena()[i] != 0 && !owned[i] && !pending.contains(&i))
    }

    /// A copy of the ring's memory file as a killed process would leave it.
    fn frozen(bytes: &[u8]) -> MmapMut {
        let mut mem = file::anonymous(bytes.len()).unwrap();
        mem.copy_from_slice(bytes);
        mem
    }

    fn config_of(r: &Ring) -> Config {
        Config {
            max_messages: r.max_messages(),
            arena_bytes: r.arena_bytes(),
            max_message_bytes: r.max_message_bytes(),
        }
    }

    fn adopt(r: &Ring, bytes: &[u8]) -> (Ring, Adopted) {
        Ring::adopt(config_of(r), SnapshotSpace::NONE, frozen(bytes)).expect("adopted")
    }

    /// The messages of a ring, as (seq, record) pairs.
    fn contents(r: &Ring) -> Vec<(Seq, Vec<u8>, i64, Option<Cred>)> {
        Seq::range(r.first_seq(), r.next_seq())
            .map(|s| {
                let e = r.get(s).expect("stored");
                (s, e.raw.to_vec(), e.received_us, e.cred)
            })
            .collect()
    }

    #[test]
    fn an_adopted_ring_goes_on_with_its_messages_and_seqs() {
        let mut r = ring(4, 64 * SLOT, 64);
        for i in 0..7u8 {
            r.push(msg(&[b'a' + i; 20]));
        }
        let (mut a, adopted) = adopt(&r, r.memory());
        assert_eq!(
            adopted,
            Adopted {
                messages: 4,
                dropped: 0
            }
        );
        assert_eq!(contents(&a), contents(&r));
        assert_eq!(a.push(msg(b"after")), Seq::new(7));
        assert_eq!(a.get(Seq::new(7)).unwrap().raw, b"after");
        assert_eq!(a.first_seq(), Seq::new(4));
    }

    /// The sender's unit is in the record: read back, and adopted with it.
    #[test]
    fn the_senders_unit_is_stored_and_adopted() {
        let mut r = ring(8, 256 * SLOT, 64);
        let cred = Some(Cred {
            pid: 42,
            uid: 0,
            gid: 0,
        });
        let raw = b"<13>1 - host app - - - from a unit";
        let index = crate::ingest::syslog::index_in_utc(raw, msg(raw).received_us);
        let long = format!("{}.service", "u".repeat(crate::ingest::unit::NAME_MAX - 8));
        let units: [Option<&[u8]>; 4] = [
            Some(b"nginx.service"),
            None,
            Some(long.as_bytes()),
            Some(b"not a unit"),
        ];
        for unit in units {
            r.push_sent(Incoming { cred, ..msg(raw) }, index, unit);
        }
        let stored = |r: &Ring| -> Vec<Option<Vec<u8>>> {
            Seq::range(r.first_seq(), r.next_seq())
                .map(|s| r.get(s).expect("stored").unit.map(<[u8]>::to_vec))
                .collect()
        };
        let want = vec![
            Some(b"nginx.service".to_vec()),
            None,
            Some(long.clone().into_bytes()),
            None,
        ];
        assert_eq!(stored(&r), want);
        let e = r.get(r.first_seq()).expect("stored");
        assert_eq!(e.fields().sent.unit, Some(&b"nginx.service"[..]));
        assert_eq!(e.fields().sent.pid, Some(42));
        let (a, adopted) = adopt(&r, r.memory());
        assert_eq!(adopted.messages, 4);
        assert_eq!(stored(&a), want);
    }

    #[test]
    fn a_foreign_or_other_file_is_handed_back() {
        let r = ring(4, 64 * SLOT, 64);
        let mut bytes = r.memory().to_vec();
        bytes[0] ^= 1;
        assert!(matches!(
            Ring::adopt(config_of(&r), SnapshotSpace::NONE, frozen(&bytes)),
            Err(Refused::Foreign {
                why: Foreign::Magic,
                ..
            })
        ));
        let other = Config {
            max_messages: 5,
            ..config_of(&r)
        };
        let big = frozen(&[r.memory(), &[0; 4 * file::PAGE]].concat());
        assert!(matches!(
            Ring::adopt(other, SnapshotSpace::NONE, big),
            Err(Refused::Geometry { .. })
        ));
        // The same ring beside another snapshots' part: another file.
        let snapshots = SnapshotSpace {
            arena_bytes: 4096,
            entries: 2,
        };
        assert!(matches!(
            Ring::adopt(config_of(&r), snapshots, frozen(r.memory())),
            Err(Refused::Geometry { .. })
        ));
    }

    #[test]
    fn another_geometry_copies_the_newest_that_fit_with_their_seqs() {
        let mut r = ring(10, 64 * SLOT, 64);
        for i in 0..12u8 {
            r.push(msg(&[b'a' + i; 30]));
        }
        let mut small = ring(3, 64 * SLOT, 16);
        let adopted = small.copy_from(r.memory()).unwrap();
        assert_eq!(
            adopted,
            Adopted {
                messages: 3,
                dropped: 0
            }
        );
        assert_eq!(small.first_seq(), Seq::new(9));
        let e = small.get(Seq::new(11)).unwrap();
        assert_eq!((e.raw, e.truncated), (&[b'l'; 16][..], true));
        assert_eq!(small.push(msg(b"next")), Seq::new(12));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(Vec<u8>, bool),
        Clear,
        BeginClear,
        Wipe(usize),
        /// Evict what is older than this many ops ago, at most this many.
        Age(i64, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => (proptest::collection::vec(1u8..=255, 0..200), proptest::bool::weighted(0.3))
                .prop_map(|(b, cred)| Op::Push(b, cred)),
            1 => Just(Op::Clear),
            1 => Just(Op::BeginClear),
            4 => (0usize..300).prop_map(Op::Wipe),
            1 => (0i64..50, 0usize..8).prop_map(|(a, n)| Op::Age(a, n)),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        /// The ring behaves like a bounded queue: it holds the newest messages
        /// that fit both bounds, in order, byte for byte; and no byte outside
        /// them survives, except where a clear's wipe has yet to pass.
        #[test]
        fn matches_a_queue_model(
            ops in proptest::collection::vec(op(), 0..400),
            max_messages in 1usize..40,
            extra_slots in 0usize..100,
        ) {
            let max_bytes = 150;
            let arena = (max_slots_for(max_bytes) + extra_slots) * SLOT;
            let mut r = ring(max_messages, arena, max_bytes);
            let mut model: VecDeque<(Seq, i64, Vec<u8>)> = VecDeque::new();
            let mut next = Seq::ZERO;
            for (now, op) in ops.into_iter().enumerate() {
                let now = now as i64;
                let mut pushed = None;
                let torn = now as u8 | 1;
                let before = r.memory().to_vec();
                let before_contents = contents(&r);
                match op {
                    Op::Push(bytes, cred) => {
                        let seq = r.push(Incoming {
                            received_us: now,
                            cred: cred.then_some(Cred { pid: 1, uid: 2, gid: 3 }),
                            ..msg(&bytes)
                        });
                        pushed = Some((
                            seq,
                            r.start_of(seq) as usize,
                            r.slots_at(r.start_of(seq)) as usize,
                        ));
                        prop_assert_eq!(seq, next);
                        let mut kept = bytes.clone();
                        kept.truncate(max_bytes);
                        model.push_back((seq, now, kept));
                        next = next.next();
                        while model.len() > max_messages {
                            model.pop_front();
                        }
                    }
                    Op::Clear => {
                        r.clear();
                        model.clear();
                        prop_assert!(!r.wipe_pending());
                    }
                    Op::BeginClear => {
                        r.begin_clear();
                        model.clear();
                    }
                    Op::Wipe(n) => {
                        let more = r.wipe_step(n);
                        prop_assert_eq!(more, r.wipe_pending());
                    }
                    Op::Age(age, max) => {
                        // Only what the ring still holds can be evicted by age.
                        let first = r.first_seq();
                        while model.front().is_some_and(|(s, _, _)| *s < first) {
                            model.pop_front();
                        }
                        let cutoff = now - age;
                        let want = model.iter().take(max).take_while(|(_, t, _)| *t < cutoff).count();
                        prop_assert_eq!(r.evict_older_than(cutoff, max), want);
                        model.drain(..want);
                    }
                }
                // Everything the ring still has is the newest suffix of the model.
                let first = r.first_seq();
                prop_assert!(r.len() as usize <= model.len());
                prop_assert!(r.bytes_used() <= r.arena_bytes());
                while model.front().is_some_and(|(s, _, _)| *s < first) {
                    model.pop_front();
                }
                prop_assert_eq!(r.len() as usize, model.len());
                for (seq, t, bytes) in &model {
                    let e = r.get(*seq).expect("stored");
                    prop_assert_eq!(e.raw, &bytes[..]);
                    prop_assert_eq!(e.received_us, *t);
                }
                // Only the age bound and clears drop the newest message.
                if let Some((s, _, _)) = model.back() {
                    prop_assert_eq!(*s, next.minus(1));
                }
                prop_assert_eq!(stray_byte(&r), None);
                // Killed now: the next process adopts exactly what is stored.
                let (a, adopted) = adopt(&r, r.memory());
                prop_assert_eq!(adopted.dropped, 0);
                prop_assert_eq!(contents(&a), contents(&r));
                prop_assert_eq!(stray_byte(&a), None);
                // Killed while this push was being written: everything
                // before it is adopted, nothing of it.
                if let Some((before_next, start, k)) = pushed {
                    let mut bytes = r.memory().to_vec();
                    file::publish_next(&mut bytes, before_next.get());
                    let arena = r.layout.arena.start;
                    bytes[arena + start * SLOT..arena + (start + k) * SLOT].fill(torn);
                    let (a, adopted) = adopt(&r, &bytes);
                    prop_assert_eq!(adopted.dropped, 0);
                    let mut want = contents(&r);
                    want.pop();
                    prop_assert_eq!(contents(&a), want);
                    prop_assert_eq!(stray_byte(&a), None);
                    // Killed after it evicted what it needed room for, before
                    // those bytes were zeroed: the evicted are not adopted.
                    let mut bytes = before.clone();
                    file::publish_first(&mut bytes, r.first_seq().min(before_next).get());
                    let (a, _) = adopt(&r, &bytes);
                    let first = r.first_seq().min(before_next);
                    let want: Vec<_> = before_contents.iter().filter(|m| m.0 >= first).cloned().collect();
                    prop_assert_eq!(contents(&a), want);
                    prop_assert_eq!(stray_byte(&a), None);
                }
            }
            // Once the wipe is done, nothing but stored messages is left.
            while r.wipe_step(64) {}
            prop_assert!(!r.wipe_pending());
            prop_assert_eq!(stray_byte(&r), None);
        }
    }
}
