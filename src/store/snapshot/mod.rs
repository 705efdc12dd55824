//! Snapshots: copies of the ring's messages in a second arena, so that the
//! messages around an incident outlive the ring's eviction and clear.
//!
//! The arena is allocated at start-up like the ring's (one anonymous
//! mapping, faulted in, `MADV_DONTDUMP`, locked with [`Snapshots::lock_memory`])
//! and nothing else holds a copied message: the seq table and the records
//! live in the arena too, so the memory of snapshots is the arena's size
//! whatever they hold.
//!
//! Taking a snapshot is done in slices, so that ingestion never waits for
//! more than one ([`Snapshots::step`] with a byte budget):
//!
//! 1. [`Snapshots::begin`] fixes what is asked for: the ring's messages
//!    `first_seq..next_seq` at that moment.
//! 2. Sizing goes back from the newest of them, adding up the space each
//!    needs, until the arena is full (the older ones are left out: newest
//!    kept, counted in `did_not_fit`) or the ring's oldest is reached.
//! 3. The snapshot's region is placed (evicting the oldest snapshots until
//!    it fits) and the messages are copied, newest first. A message the ring
//!    evicts before it is copied ends the copy: the snapshot then starts at
//!    the oldest message that was still there (counted in `evicted`), and it
//!    still has the newest ones.
//!
//! Once done, a snapshot is read by seq through [`View`], which hands out
//! the ring's own [`Entry`] and implements [`Messages`], so the code that
//! dumps and filters the ring reads a snapshot the same way.
//!
//! Space is managed like the ring's slots, with snapshots for messages:
//! their regions lie in the arena in the order they were taken, as a
//! circular buffer. A new one goes after the newest, or at the start of the
//! arena when the end has too little room; the oldest go first until it
//! fits. Deleting one that is not the oldest or the newest leaves a hole
//! that is used again once every older snapshot has gone: nothing is ever
//! moved, so no step does more than its slice of copying (besides the
//! overwrite of what is deleted). A snapshot of no messages takes no space.
//!
//! INVARIANT: every byte of the arena outside a snapshot's region is zero.
//! Deleting or evicting a snapshot overwrites its whole region at once (at
//! most the arena: a `memset`, faster than the copy that filled it).
//!
//! Layout of a region, little-endian, everything 8-byte aligned:
//!
//! ```text
//! 0..T    seq table: for each seq from the oldest that fitted to the
//!         newest, the arena offset of its record / 8 (u32);
//!         T = 4 × count, rounded up to 8
//! T..     records, oldest first, as the ring's (see
//!         crate::store::record), each with zero padding to 8
//! ```
//!
//! A record is never larger than the same message in the ring (whose slots
//! are 16 bytes), so a snapshot of the whole ring takes at most the ring's
//! bytes in use plus 4 bytes a message.
//!
//! The arena is the last part of the memory file the ring lives in
//! ([`crate::store::file`]), after the snapshot list
//! ([`crate::store::snapshot_list`]): one entry per complete snapshot, with
//! what the list and a read need (its id, why, note, seqs, region),
//! published once the copy is done and taken out before its bytes are
//! overwritten. So snapshots outlive the process with the ring: a later
//! process [`Snapshots::adopt`]s the part as it is, checking every entry
//! (its seqs in order, its region in the arena, where the store would have
//! put it, every record in it decoding whole, one after the other): what
//! does not check out is dropped and counted, never served, and every
//! byte no kept snapshot owns is overwritten. From a file of another
//! geometry the newest snapshots that fit are copied
//! ([`Snapshots::copy_from`]). A snapshot still being taken when the
//! process dies is lost (its id is not given again).

use std::collections::VecDeque;
use std::io;

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;
use memmap2::{Advice, MmapMut, MmapOptions};
use serde_json::{Value, json};

use self::list::{self as snapshot_list, Listed, Slot};
use crate::store::file::{self, SnapshotSpace};
use crate::store::messages::Messages;
use crate::store::record::{self, Record};
use crate::store::ring::{Entry, Ring, Seq};

mod adopt;
pub mod list;
mod view;

use adopt::{first_nonzero, in_circular_order};
pub use view::{Info, View};

/// Records, the seq table and regions are aligned to this many bytes.
const ALIGN: usize = 8;
const TABLE_ENTRY: usize = 4;

/// What sizing one message counts against a step's budget: it reads the
/// message's header, about one cache line, as copying 64 bytes would.
pub const SIZE_COST: usize = 64;

/// The largest arena: a `u32` table entry addresses it in units of 8 bytes.
pub const MAX_ARENA: u64 = (u32::MAX as u64 + 1) * ALIGN as u64;

/// The longest note a snapshot takes, in bytes.
pub const MAX_NOTE_BYTES: usize = 256;

/// Seqs and ids a file may say: a process could not have reached more, and
/// the arithmetic on them cannot overflow.
const SEQ_LIMIT: u64 = 1 << 62;

/// Sizing of the snapshot store.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Size of the arena in bytes (rounded down to a multiple of 8); 0
    /// disables snapshots.
    pub arena_bytes: usize,
    /// At most this many snapshots are kept; the oldest goes first.
    pub max_snapshots: usize,
}

#[derive(Debug)]
pub enum ConfigError {
    ZeroSnapshots,
    /// Smaller than one record's alignment, yet not 0.
    ArenaTooSmall,
    /// Over [`MAX_ARENA`].
    ArenaTooLarge,
    /// More snapshots than the memory file's list has room for.
    TooMany,
    Map(io::Error),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::ZeroSnapshots => write!(
                f,
                "-snapshots must be at least 1 (-snapshot-bytes 0 disables snapshots)"
            ),
            ConfigError::ArenaTooSmall => write!(
                f,
                "-snapshot-bytes must be at least {ALIGN}, or 0 to disable snapshots"
            ),
            ConfigError::ArenaTooLarge => write!(
                f,
                "-snapshot-bytes is larger than circolog supports ({} bytes)",
                MAX_ARENA
            ),
            ConfigError::TooMany => write!(
                f,
                "-snapshots is larger than circolog supports ({})",
                snapshot_list::MAX_ENTRIES
            ),
            ConfigError::Map(e) => write!(f, "cannot allocate the snapshot arena: {e}"),
        }
    }
}

/// Why a snapshot was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// `POST /snapshot`.
    Api,
    /// `SIGUSR2`.
    Signal,
    /// A `-trigger` fired on the message `seq`; `query` is the trigger as
    /// configured.
    Trigger { seq: Seq, query: String },
}

impl Why {
    pub fn name(&self) -> &'static str {
        match self {
            Why::Api => "api",
            Why::Signal => "signal",
            Why::Trigger { .. } => "trigger",
        }
    }
}

/// A note given with a snapshot: at most [`MAX_NOTE_BYTES`] bytes and no
/// control characters, so that it fits on one notice line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub fn new(text: &str) -> Result<Note, Error> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(Error::NoteTooLong { len: text.len() });
        }
        if text.chars().any(char::is_control) {
            return Err(Error::NoteControl);
        }
        Ok(Note(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is known of a snapshot before it is taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub why: Why,
    /// When it was asked for, µs since 1970.
    pub taken_at_us: i64,
    pub note: Option<Note>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// `-snapshot-bytes 0`.
    Disabled,
    /// No snapshot has this id (never had, deleted or evicted).
    NotFound(u64),
    NoteTooLong {
        len: usize,
    },
    NoteControl,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Disabled => write!(f, "snapshots are disabled (-snapshot-bytes 0)"),
            Error::NotFound(id) => write!(f, "no snapshot {id}"),
            Error::NoteTooLong { len } => write!(
                f,
                "the note is {len} bytes long; at most {MAX_NOTE_BYTES} are allowed"
            ),
            Error::NoteControl => write!(f, "the note must not contain control characters"),
        }
    }
}

/// What one [`Snapshots::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// No snapshot is being taken.
    Idle,
    /// It worked its slice; there is more to do.
    More,
    /// The snapshot with this id is complete and can be read. Others may
    /// still be waiting: see [`Snapshots::is_taking`].
    Done(u64),
}

/// What adopting a memory file's snapshots kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adopted {
    /// Snapshots kept.
    pub snapshots: u64,
    /// Published snapshots that did not check out, dropped.
    pub dropped: u64,
}

/// Counters since the store was made (kept in the memory file, so they go
/// on in a process that adopts it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Snapshots begun (the last id given out).
    pub taken: u64,
    /// Snapshots dropped, oldest first, to make room for a new one or to
    /// keep at most `max_snapshots`.
    pub evicted: u64,
    /// Snapshots deleted on request (one or all).
    pub deleted: u64,
}

/// Bytes `start..start + len` of the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    start: usize,
    len: usize,
}

impl Region {
    const NONE: Region = Region { start: 0, len: 0 };

    fn end(self) -> usize {
        self.start + self.len
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Going back from the newest message: `base..end` are counted so far,
    /// and their records take `records` bytes.
    Sizing {
        records: usize,
    },
    /// Copying newest first: `first..end` are copied, and the record of
    /// `first - 1` ends at arena offset `write`.
    Copying {
        write: usize,
    },
    Done,
}

struct Snapshot {
    id: u64,
    meta: Meta,
    /// The ring's oldest seq when it was begun: `asked_from..end` was
    /// asked for.
    asked_from: Seq,
    /// The ring's next seq when it was begun.
    end: Seq,
    /// The seq of the table's first entry: the oldest message that fitted.
    /// INVARIANT: `asked_from <= base <= first <= end` once sizing is done.
    base: Seq,
    /// The oldest message held (`end` when none is yet).
    first: Seq,
    /// Messages `asked_from..base` left out because they did not fit.
    did_not_fit: u64,
    /// `Region::NONE` until placed, and when it holds no message.
    region: Region,
    phase: Phase,
    /// The list entry it is published in: `Some` once done.
    entry: Option<usize>,
}

impl Snapshot {
    /// Its entry in the snapshot list.
    fn listed(&self) -> Listed<'_> {
        let (why, trigger_seq, query) = match &self.meta.why {
            Why::Api => (snapshot_list::Why::Api, 0, ""),
            Why::Signal => (snapshot_list::Why::Signal, 0, ""),
            Why::Trigger { seq, query } => (snapshot_list::Why::Trigger, seq.get(), query.as_str()),
        };
        Listed {
            id: self.id,
            taken_at_us: self.meta.taken_at_us,
            asked_from: self.asked_from.get(),
            end: self.end.get(),
            base: self.base.get(),
            first: self.first.get(),
            did_not_fit: self.did_not_fit,
            region_start: self.region.start as u64,
            region_len: self.region.len as u64,
            why,
            trigger_seq,
            query,
            note: self.meta.note.as_ref().map(Note::as_str),
        }
    }

    /// Bytes it takes copied without the room kept for messages evicted
    /// before they were copied: a table of `first..end` and its records.
    fn compact_len(&self, arena: &[u8]) -> usize {
        match self.first == self.end {
            true => 0,
            false => {
                table_len(self.end.since(self.first)) + self.region.end() - self.records_at(arena)
            }
        }
    }

    /// Where its oldest record starts in `arena`.
    fn records_at(&self, arena: &[u8]) -> usize {
        let slot = self.region.start + self.first.since(self.base) as usize * TABLE_ENTRY;
        u32_at(arena, slot) as usize * ALIGN
    }

    fn info(&self) -> Info<'_> {
        let done = self.phase == Phase::Done;
        Info {
            id: self.id,
            why: &self.meta.why,
            taken_at_us: self.meta.taken_at_us,
            note: self.meta.note.as_ref().map(Note::as_str),
            first_seq: self.first,
            next_seq: self.end,
            bytes: self.region.len,
            taking: !done,
            asked: self.end.since(self.asked_from),
            did_not_fit: self.did_not_fit,
            evicted: if done {
                self.first.since(self.asked_from) - self.did_not_fit
            } else {
                0
            },
        }
    }

    /// Sizes messages until the budget is spent; true once sizing is done.
    fn size(&mut self, ring: &Ring, limit: usize, budget: usize, spent: &mut usize) -> bool {
        let Phase::Sizing { records } = &mut self.phase else {
            return true;
        };
        loop {
            if *spent >= budget && *spent > 0 {
                return false;
            }
            let Some(seq) = self.base.prev() else {
                return true;
            };
            // Gone already (or the ring's oldest was reached): the older
            // ones are gone too.
            let Some(e) = ring.get(seq) else {
                return true;
            };
            *spent += SIZE_COST;
            let len = record_len(&e);
            if table_len(self.end.since(seq)) + *records + len > limit {
                self.did_not_fit = seq.next().since(self.asked_from);
                return true;
            }
            *records += len;
            self.base = seq;
        }
    }

    /// The bytes of its region, once sizing is done: none for no message.
    fn sized_len(&self) -> usize {
        match self.phase {
            Phase::Sizing { records } if self.base < self.end => {
                table_len(self.end.since(self.base)) + records
            }
            _ => 0,
        }
    }

    /// Copies messages, newest first, until the budget is spent; true once
    /// the copy is done.
    fn copy(&mut self, arena: &mut [u8], ring: &Ring, budget: usize, spent: &mut usize) -> bool {
        let Phase::Copying { write } = &mut self.phase else {
            return true;
        };
        let table = self.region.start;
        let records = table + table_len(self.end.since(self.base));
        loop {
            if self.first == self.base {
                return true;
            }
            if *spent >= budget && *spent > 0 {
                return false;
            }
            let seq = self.first.minus(1);
            // Evicted by the ring meanwhile: the snapshot starts after it.
            let Some(e) = ring.get(seq) else {
                return true;
            };
            let len = record_len(&e);
            // Sizing counted this same message: it fits.
            debug_assert!(*write >= records + len, "record {seq} does not fit");
            if *write < records + len {
                return true;
            }
            *write -= len;
            write_record(&mut arena[*write..*write + len], &e);
            let slot = table + seq.since(self.base) as usize * TABLE_ENTRY;
            arena[slot..slot + TABLE_ENTRY]
                .copy_from_slice(&((*write / ALIGN) as u32).to_le_bytes());
            self.first = seq;
            *spent += len;
        }
    }
}

/// The snapshot store. See the module documentation.
pub struct Snapshots {
    /// The snapshots' part of the memory file: the list
    /// ([`snapshot_list`], `list_len` bytes), then from `arena_at` the
    /// arena, `arena_len` bytes. `None` when snapshots are disabled.
    mem: Option<MmapMut>,
    list_len: usize,
    arena_at: usize,
    arena_len: usize,
    max_snapshots: usize,
    /// Oldest first.
    ///
    /// INVARIANT: the regions of those that have one are disjoint and lie in
    /// this order around the arena: their starts increase, but for at most
    /// one drop back to a lower start, after which every region ends at or
    /// before the oldest one's start. Only the oldest snapshot not done is
    /// worked on, so every region is older than every snapshot still sizing.
    /// Those done, and only they, are published in an entry of the list
    /// each; every other entry is zero.
    snapshots: VecDeque<Snapshot>,
    counters: Counters,
    /// What was adopted from a previous process; `None` for a fresh store.
    restored: Option<Adopted>,
}

/// The list and the arena of a store's memory.
fn split(mem: &mut [u8], list_len: usize, arena_at: usize) -> (&mut [u8], &mut [u8]) {
    let (list, arena) = mem.split_at_mut(arena_at);
    (&mut list[..list_len], arena)
}

impl Snapshots {
    /// Allocates the memory (faulted in now, so that taking a snapshot
    /// never page-faults), unless `arena_bytes` is 0.
    pub fn new(config: Config) -> Result<Snapshots, ConfigError> {
        let len = Snapshots::part_len(Snapshots::space(&config)?)?;
        let mem = match len {
            0 => None,
            len => Some(
                MmapOptions::new()
                    .len(len)
                    .populate()
                    .map_anon()
                    .map_err(ConfigError::Map)?,
            ),
        };
        Snapshots::with_memory(config, mem)
    }

    /// The bytes of the arena for `config`, checked: 0 when snapshots are
    /// disabled.
    pub fn arena_len(config: &Config) -> Result<usize, ConfigError> {
        let disabled = config.arena_bytes == 0;
        if !disabled && config.max_snapshots == 0 {
            return Err(ConfigError::ZeroSnapshots);
        }
        if !disabled && config.max_snapshots as u64 > snapshot_list::MAX_ENTRIES {
            return Err(ConfigError::TooMany);
        }
        let len = config.arena_bytes / ALIGN * ALIGN;
        if !disabled && len == 0 {
            return Err(ConfigError::ArenaTooSmall);
        }
        if len as u64 >= MAX_ARENA {
            return Err(ConfigError::ArenaTooLarge);
        }
        Ok(len)
    }

    /// The snapshots' part of the memory file `config` asks for: the
    /// arena and a list entry per snapshot kept; none when disabled.
    pub fn space(config: &Config) -> Result<SnapshotSpace, ConfigError> {
        Ok(match Snapshots::arena_len(config)? as u64 {
            0 => SnapshotSpace::NONE,
            arena_bytes => SnapshotSpace {
                arena_bytes,
                entries: config.max_snapshots as u64,
            },
        })
    }

    /// Bytes of the snapshots' part of `space` (0 without snapshots): what
    /// [`Snapshots::with_memory`] and [`Snapshots::adopt`] are handed.
    pub fn part_len(space: SnapshotSpace) -> Result<usize, ConfigError> {
        space.part_bytes().ok_or(ConfigError::ArenaTooLarge)
    }

    /// A store whose memory is `mem` (the snapshots' part of the memory
    /// file), exactly [`Snapshots::part_len`] bytes, or `None` when that is
    /// 0. Whatever it held is overwritten: snapshots start afresh.
    pub fn with_memory(config: Config, mem: Option<MmapMut>) -> Result<Snapshots, ConfigError> {
        let mut s = Snapshots::unread(config, mem)?;
        if let Some(mem) = &mut s.mem {
            mem.fill(0);
        }
        Ok(s)
    }

    /// A store in `mem`, checked against `config`, with nothing read from
    /// it or written to it yet.
    fn unread(config: Config, mem: Option<MmapMut>) -> Result<Snapshots, ConfigError> {
        let space = Snapshots::space(&config)?;
        let len = Snapshots::part_len(space)?;
        let mem = match mem {
            Some(_) if len == 0 => None,
            Some(mem) if mem.len() == len => {
                // As the ring's: never in a core dump. A kernel without
                // MADV_DONTDUMP still keeps snapshots correctly.
                let _ = mem.advise(Advice::DontDump);
                Some(mem)
            }
            Some(mem) => {
                return Err(ConfigError::Map(io::Error::other(format!(
                    "the snapshots' memory is {} bytes, not {len}",
                    mem.len()
                ))));
            }
            None if len == 0 => None,
            None => {
                return Err(ConfigError::Map(io::Error::other(
                    "no memory for the snapshot arena",
                )));
            }
        };
        let list_len = snapshot_list::bytes(space.entries).ok_or(ConfigError::TooMany)? as usize;
        Ok(Snapshots {
            mem,
            list_len,
            arena_at: space.arena_at().ok_or(ConfigError::TooMany)?,
            arena_len: space.arena_bytes as usize,
            max_snapshots: config.max_snapshots,
            snapshots: VecDeque::with_capacity(config.max_snapshots.min(64)),
            counters: Counters::default(),
            restored: None,
        })
    }

    /// Publishes the done snapshot `i` in a free entry of the list.
    fn publish(&mut self, i: usize) {
        let (list_len, arena_at) = (self.list_len, self.arena_at);
        let Some(mem) = self.mem.as_deref_mut() else {
            return;
        };
        let (list, _) = split(mem, list_len, arena_at);
        // As many entries as snapshots are kept at most: one is free.
        let free = (0..snapshot_list::entries(list)).find(|&k| snapshot_list::id(list, k) == 0);
        debug_assert!(free.is_some(), "no free entry for snapshot {i}");
        if let Some(k) = free {
            snapshot_list::publish(list, k, &self.snapshots[i].listed());
            self.snapshots[i].entry = Some(k);
        }
    }

    /// Takes a snapshot out of the list, before its bytes go.
    fn unpublish(&mut self, entry: Option<usize>) {
        let (list_len, arena_at) = (self.list_len, self.arena_at);
        if let (Some(k), Some(mem)) = (entry, self.mem.as_deref_mut()) {
            let (list, _) = split(mem, list_len, arena_at);
            snapshot_list::unpublish(list, k);
        }
    }

    /// Keeps the counters in the list's head, for the next process.
    fn write_counters(&mut self) {
        let (list_len, arena_at) = (self.list_len, self.arena_at);
        let c = self.counters;
        if let Some(mem) = self.mem.as_deref_mut() {
            let (list, _) = split(mem, list_len, arena_at);
            snapshot_list::write_counters(list, [c.taken, c.evicted, c.deleted]);
        }
    }

    fn arena(&self) -> Option<&[u8]> {
        let mem = self.mem.as_deref()?;
        Some(&mem[self.arena_at..self.arena_at + self.arena_len])
    }

    fn arena_mut(&mut self) -> Option<&mut [u8]> {
        let (at, len) = (self.arena_at, self.arena_len);
        let mem = self.mem.as_deref_mut()?;
        Some(&mut mem[at..at + len])
    }

    /// Locks the memory into RAM so that no copied message is ever swapped out.
    pub fn lock_memory(&self) -> io::Result<()> {
        match &self.mem {
            Some(mem) => mem.lock(),
            None => Ok(()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.mem.is_some()
    }

    /// Size of the arena in bytes (0 when disabled).
    pub fn arena_bytes(&self) -> usize {
        match self.mem {
            Some(_) => self.arena_len,
            None => 0,
        }
    }

    /// The snapshots' part of the memory file, as [`snapshot_list`] and
    /// this module lay it out (for tests: what a killed process leaves).
    #[doc(hidden)]
    pub fn memory(&self) -> &[u8] {
        self.mem.as_deref().unwrap_or_default()
    }

    /// Bytes of the arena taken by snapshots (holes left by deletes not
    /// counted).
    pub fn bytes_used(&self) -> usize {
        self.snapshots.iter().map(|s| s.region.len).sum()
    }

    pub fn max_snapshots(&self) -> usize {
        self.max_snapshots
    }

    /// Snapshots kept, those being taken included.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Starts a snapshot of the ring's messages as they are now and returns
    /// its id (increasing, never reused). The oldest snapshot goes first if
    /// `max_snapshots` are kept already. The copy is made by
    /// [`Snapshots::step`].
    pub fn begin(&mut self, ring: &Ring, meta: Meta) -> Result<u64, Error> {
        self.begin_until(ring, meta, ring.next_seq())
    }

    /// [`Snapshots::begin`] of the ring's messages before `end` only: a
    /// snapshot asked for earlier (a trigger's, at the end of its
    /// post-roll) and begun now holds what the ring held then, not what
    /// came since.
    pub fn begin_until(&mut self, ring: &Ring, meta: Meta, end: Seq) -> Result<u64, Error> {
        if self.mem.is_none() {
            return Err(Error::Disabled);
        }
        while self.snapshots.len() >= self.max_snapshots {
            self.evict_oldest();
        }
        self.counters.taken += 1;
        self.write_counters();
        let id = self.counters.taken;
        let end = end.min(ring.next_seq());
        self.snapshots.push_back(Snapshot {
            id,
            meta,
            asked_from: ring.first_seq().min(end),
            end,
            base: end,
            first: end,
            did_not_fit: 0,
            region: Region::NONE,
            phase: Phase::Sizing { records: 0 },
            entry: None,
        });
        Ok(id)
    }

    /// A request for the same snapshot as the newest one, made while that
    /// one still waits its turn (another is being copied, and nothing of it
    /// is sized or copied yet), joins it rather than begin another: it now
    /// holds the ring's messages as they are now, is dated `meta`'s time,
    /// and its id is returned. `None` when there is no such snapshot or it
    /// was asked for another reason or with another note; then
    /// [`Snapshots::begin`] it is. A burst of requests thus costs one copy
    /// more, not one per request.
    pub fn join(&mut self, ring: &Ring, meta: &Meta) -> Option<u64> {
        let working = self.snapshots.iter().position(|s| s.phase != Phase::Done)?;
        let newest = self.snapshots.len().checked_sub(1)?;
        let s = self.snapshots.back_mut()?;
        let untouched = s.phase == Phase::Sizing { records: 0 } && s.base == s.end;
        if newest == working || !untouched || s.meta.why != meta.why || s.meta.note != meta.note {
            return None;
        }
        let end = ring.next_seq();
        s.meta.taken_at_us = meta.taken_at_us;
        s.asked_from = ring.first_seq();
        (s.end, s.base, s.first) = (end, end, end);
        Some(s.id)
    }

    /// Whether a snapshot is being taken: [`Snapshots::step`] has work.
    pub fn is_taking(&self) -> bool {
        self.snapshots.iter().any(|s| s.phase != Phase::Done)
    }

    /// Works on the oldest snapshot being taken for about `budget` bytes of
    /// copy (sizing a message counts [`SIZE_COST`]), and at least one
    /// message whatever the budget. Messages that came into the ring after
    /// [`Snapshots::begin`] are not part of it; those the ring evicted since
    /// are left out, as said above.
    ///
    /// Placing a snapshot evicts the oldest ones (their bytes overwritten)
    /// when there is too little room: that step overwrites up to the
    /// arena's size besides its budget.
    pub fn step(&mut self, ring: &Ring, budget: usize) -> Step {
        let Some(mut i) = self.snapshots.iter().position(|s| s.phase != Phase::Done) else {
            return Step::Idle;
        };
        let limit = self.arena_bytes();
        let mut spent = 0;
        if matches!(self.snapshots[i].phase, Phase::Sizing { .. }) {
            if !self.snapshots[i].size(ring, limit, budget, &mut spent) {
                return Step::More;
            }
            let need = self.snapshots[i].sized_len();
            let id = self.snapshots[i].id;
            if need > 0 {
                let start = self.place(need);
                // Placing evicts only snapshots older than this one (see
                // `place`), so it is still there.
                i = self
                    .snapshots
                    .iter()
                    .position(|s| s.id == id)
                    .expect("placing evicts only older snapshots");
                self.snapshots[i].region = Region { start, len: need };
            }
            let s = &mut self.snapshots[i];
            s.phase = Phase::Copying {
                write: s.region.end(),
            };
        }
        let (at, len) = (self.arena_at, self.arena_len);
        let Some(mem) = self.mem.as_deref_mut() else {
            return Step::Idle;
        };
        let arena = &mut mem[at..at + len];
        let s = &mut self.snapshots[i];
        if !s.copy(arena, ring, budget, &mut spent) {
            return Step::More;
        }
        s.phase = Phase::Done;
        if s.first == s.end {
            // The ring lost them all before any was copied: nothing was
            // written, and the space goes back at once.
            s.region = Region::NONE;
        }
        let id = s.id;
        // Whole, then published.
        self.publish(i);
        Step::Done(id)
    }

    /// Where a region of `need` bytes goes, after evicting the oldest
    /// snapshots until there is room. The snapshot being placed is never
    /// the one evicted: every snapshot with a region is older than it (see
    /// the invariant), so once it is the oldest the arena is free.
    fn place(&mut self, need: usize) -> usize {
        let arena_len = self.arena_bytes();
        debug_assert!(0 < need && need <= arena_len);
        loop {
            let mut placed = self.snapshots.iter().filter(|s| s.region.len > 0);
            let Some(oldest) = placed.next() else {
                return 0;
            };
            let newest = placed.next_back().unwrap_or(oldest);
            let (head, tail) = (oldest.region.start, newest.region.end());
            if newest.region.start < head {
                // Wrapped: the room is between the newest and the oldest.
                if head - tail >= need {
                    return tail;
                }
            } else if arena_len - tail >= need {
                return tail;
            } else if head >= need {
                return 0;
            }
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(s) = self.snapshots.pop_front() {
            self.wipe(&s);
            self.counters.evicted += 1;
            self.write_counters();
        }
    }

    /// Takes a snapshot out of the list, then overwrites its bytes.
    fn wipe(&mut self, s: &Snapshot) {
        self.unpublish(s.entry);
        if let Some(arena) = self.arena_mut() {
            arena[s.region.start..s.region.end()].fill(0);
        }
    }

    /// Deletes a snapshot (being taken or not), overwriting its bytes.
    pub fn delete(&mut self, id: u64) -> Result<(), Error> {
        let i = self
            .snapshots
            .iter()
            .position(|s| s.id == id)
            .ok_or(Error::NotFound(id))?;
        if let Some(s) = self.snapshots.remove(i) {
            self.wipe(&s);
        }
        self.counters.deleted += 1;
        self.write_counters();
        Ok(())
    }

    /// Deletes every snapshot, overwriting their bytes; returns how many
    /// there were.
    pub fn clear(&mut self) -> usize {
        let n = self.snapshots.len();
        while let Some(s) = self.snapshots.pop_front() {
            self.wipe(&s);
        }
        self.counters.deleted += n as u64;
        self.write_counters();
        n
    }

    /// A complete snapshot, to read; `None` when there is no snapshot `id`
    /// or it is still being taken (see [`Snapshots::info`]).
    pub fn view(&self, id: u64) -> Option<View<'_>> {
        let arena = self.arena()?;
        let snapshot = self
            .snapshots
            .iter()
            .find(|s| s.id == id && s.phase == Phase::Done)?;
        Some(View { arena, snapshot })
    }

    /// What is known of snapshot `id`, also while it is being taken.
    pub fn info(&self, id: u64) -> Option<Info<'_>> {
        self.snapshots
            .iter()
            .find(|s| s.id == id)
            .map(Snapshot::info)
    }

    /// Every snapshot kept, oldest first.
    pub fn infos(&self) -> impl Iterator<Item = Info<'_>> {
        self.snapshots.iter().map(Snapshot::info)
    }

    /// `GET /snapshots`: every snapshot, oldest first, with the store's size
    /// and counters.
    pub fn list(&self) -> Value {
        let mut list = self.list_frame();
        list["snapshots"] = self.infos().map(|i| i.to_json()).collect();
        list
    }

    /// [`Snapshots::list`] with `snapshots` empty: what a reader that
    /// writes the rows ([`Info::to_json`]) a slice at a time writes them
    /// into.
    pub fn list_frame(&self) -> Value {
        json!({
            "enabled": self.enabled(),
            "snapshots": [],
            "capacity": {
                "bytes": self.arena_bytes(),
                "snapshots": self.max_snapshots,
            },
            "used": {
                "bytes": self.bytes_used(),
                "snapshots": self.snapshots.len(),
            },
            "taken": self.counters.taken,
            "evicted": self.counters.evicted,
            "deleted": self.counters.deleted,
        })
    }

    /// Checks the store's invariants: regions inside the arena, disjoint and
    /// in order; every byte outside them zero; seqs in order. For tests and
    /// fuzzing; the first one broken, said in a line.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.snapshots.len() > self.max_snapshots.max(1) {
            return Err(format!("{} snapshots kept", self.snapshots.len()));
        }
        let mut ids = self.snapshots.iter().map(|s| s.id);
        if let Some(mut last) = ids.next() {
            for id in ids {
                if id <= last {
                    return Err(format!("id {id} after {last}"));
                }
                last = id;
            }
        }
        let mut worked = false;
        for s in &self.snapshots {
            let published = s.entry.map(|k| snapshot_list::id(self.list_bytes(), k));
            match (s.phase == Phase::Done, published) {
                (true, Some(id)) if id == s.id => {}
                (false, None) => {}
                _ => return Err(format!("snapshot {} is listed as {published:?}", s.id)),
            }
            let sized = !matches!(s.phase, Phase::Sizing { .. });
            if sized && !(s.asked_from <= s.base && s.base <= s.first && s.first <= s.end) {
                return Err(format!("snapshot {} holds seqs out of order", s.id));
            }
            if !sized && s.region.len > 0 {
                return Err(format!("snapshot {} has a region while sizing", s.id));
            }
            if s.phase != Phase::Done {
                if worked && (s.base != s.end || s.phase != (Phase::Sizing { records: 0 })) {
                    return Err(format!("snapshot {} worked on out of turn", s.id));
                }
                worked = true;
            }
        }
        let Some(arena) = self.arena() else {
            return match self.snapshots.is_empty() {
                true => Ok(()),
                false => Err("snapshots without an arena".to_string()),
            };
        };
        let list = self.list_bytes();
        for k in 0..snapshot_list::entries(list) {
            let used = self.snapshots.iter().any(|s| s.entry == Some(k));
            if !used && !snapshot_list::is_clear(list, k) {
                return Err(format!("list entry {k} is not in use, and not zero"));
            }
        }
        let [taken, evicted, deleted] = snapshot_list::counters(list);
        let c = self.counters;
        if (taken, evicted, deleted) != (c.taken, c.evicted, c.deleted) {
            return Err(format!(
                "the list says counters {taken}, {evicted}, {deleted}"
            ));
        }
        let regions: Vec<Region> = self
            .snapshots
            .iter()
            .map(|s| s.region)
            .filter(|r| r.len > 0)
            .collect();
        if !in_circular_order(&regions) {
            return Err(format!("regions out of circular order: {regions:?}"));
        }
        let mut sorted = regions.clone();
        sorted.sort_by_key(|r| r.start);
        let mut at = 0;
        for r in sorted.iter().chain([&Region {
            start: arena.len(),
            len: 0,
        }]) {
            if r.start < at || r.end() > arena.len() {
                return Err(format!("region {r:?} overlaps another or the arena's end"));
            }
            if let Some(i) = first_nonzero(&arena[at..r.start]) {
                return Err(format!(
                    "byte {} outside every snapshot is not zero",
                    at + i
                ));
            }
            at = r.end();
        }
        Ok(())
    }
}

impl Snapshots {
    /// The snapshot list, as long as its entries.
    fn list_bytes(&self) -> &[u8] {
        self.mem.as_deref().map_or(&[], |m| &m[..self.list_len])
    }
}

fn record_len(e: &Entry<'_>) -> usize {
    Record::of(e).encoded_len().next_multiple_of(ALIGN)
}

/// Bytes of the seq table for `count` messages.
fn table_len(count: u64) -> usize {
    (count as usize * TABLE_ENTRY).next_multiple_of(ALIGN)
}

/// Writes a message's record into `dst`, which is exactly
/// [`record_len`] bytes and zero.
fn write_record(dst: &mut [u8], e: &Entry<'_>) {
    record::encode(dst, &Record::of(e));
}

fn u32_at(arena: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&arena[at..at + 4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::HEADER;
    use crate::store::ring::{self, Cred, Incoming, Read, Transport};

    fn ring(max_messages: usize, arena_bytes: usize) -> Ring {
        Ring::new(ring::Config {
            max_messages,
            arena_bytes,
            max_message_bytes: 256,
        })
        .unwrap()
    }

    fn store(arena_bytes: usize, max_snapshots: usize) -> Snapshots {
        Snapshots::new(Config {
            arena_bytes,
            max_snapshots,
        })
        .unwrap()
    }

    fn push(r: &mut Ring, bytes: &[u8]) -> Seq {
        r.push(Incoming {
            received_us: 1_700_000_000_000_000 + r.next_seq().get() as i64,
            transport: Transport::Udp,
            cred: None,
            truncated: false,
            bytes,
        })
    }

    fn api() -> Meta {
        Meta {
            why: Why::Api,
            taken_at_us: 1_800_000_000_000_000,
            note: None,
        }
    }

    /// Steps until the snapshot being taken is done; its id.
    fn finish(s: &mut Snapshots, r: &Ring, budget: usize) -> u64 {
        for _ in 0..100_000 {
            match s.step(r, budget) {
                Step::Done(id) => return id,
                Step::More => {}
                Step::Idle => panic!("nothing was being taken"),
            }
            s.check_invariants().unwrap();
        }
        panic!("the snapshot never finished");
    }

    fn take(s: &mut Snapshots, r: &Ring) -> u64 {
        let id = s.begin(r, api()).unwrap();
        assert_eq!(finish(s, r, 4096), id);
        s.check_invariants().unwrap();
        id
    }

    #[test]
    fn a_request_joins_an_identical_one_that_waits_its_turn() {
        let mut r = ring(100, 1 << 16);
        let mut s = store(1 << 16, 8);
        for i in 0..10 {
            push(&mut r, format!("<13>m{i}").as_bytes());
        }
        assert_eq!(s.join(&r, &api()), None, "nothing to join");
        let first = s.begin(&r, api()).unwrap();
        assert_eq!(
            s.join(&r, &api()),
            None,
            "the one being taken is not joined"
        );
        let queued = s.begin(&r, api()).unwrap();
        push(&mut r, b"<13>later");
        let noted = Meta {
            note: Some(Note::new("other").unwrap()),
            ..api()
        };
        assert_eq!(s.join(&r, &noted), None, "another note is another snapshot");
        assert_eq!(s.join(&r, &api()), Some(queued));
        assert_eq!(finish(&mut s, &r, 1 << 20), first);
        assert_eq!(finish(&mut s, &r, 1 << 20), queued);
        s.check_invariants().unwrap();
        let joined = s.info(queued).unwrap();
        assert_eq!(joined.messages(), 11, "it holds what came before the join");
        assert_eq!(s.info(first).unwrap().messages(), 10);
        assert_eq!(s.counters().taken, 2);
    }

    fn found(s: &Snapshots, marker: &[u8]) -> usize {
        let arena = s.arena().unwrap();
        memchr::memmem::find_iter(arena, marker).count()
    }

    #[test]
    fn copies_every_field_and_reads_back_as_the_ring_does() {
        let mut r = ring(100, 1 << 16);
        let cred = Cred {
            pid: 4242,
            uid: 1000,
            gid: u32::MAX,
        };
        for (i, bytes) in [&b"<13>first"[..], b"", &[0xff; 200], b"x", &[b'y'; 300]]
            .into_iter()
            .enumerate()
        {
            r.push(Incoming {
                received_us: -5 + i as i64 * 1_000_003,
                transport: Transport::ALL[i % 3],
                cred: (i % 2 == 0).then_some(cred),
                truncated: i == 3,
                bytes,
            });
        }
        let mut s = store(1 << 16, 8);
        let id = s.begin(&r, api()).unwrap();
        assert!(s.view(id).is_none(), "readable only once done");
        assert!(s.info(id).unwrap().taking);
        // One message per step: the smallest slices there are.
        assert_eq!(finish(&mut s, &r, 1), id);
        assert_eq!(s.step(&r, 1), Step::Idle);
        let v = s.view(id).unwrap();
        assert_eq!(
            (v.first_seq(), v.next_seq(), v.last_seq()),
            (Seq::ZERO, Seq::new(5), Some(Seq::new(4)))
        );
        for seq in (0..5).map(Seq::new) {
            let e = v.get(seq).unwrap();
            assert_eq!(Some(e), r.get(seq), "seq {seq}");
            assert_eq!(v.read(seq), Read::Entry(e));
        }
        assert_eq!(
            v.get(Seq::new(4)).unwrap().raw.len(),
            256,
            "truncated in the ring"
        );
        assert!(v.get(Seq::new(4)).unwrap().truncated && v.get(Seq::new(3)).unwrap().truncated);
        assert_eq!(v.read(Seq::new(5)), Read::End);
        assert_eq!(v.get(Seq::new(5)), None);
        let info = v.info();
        assert!(info.complete() && !info.taking);
        assert_eq!((info.messages(), info.did_not_fit, info.evicted), (5, 0, 0));
        let row = info.to_json();
        assert_eq!(row["id"], id);
        assert_eq!(row["why"], "api");
        assert_eq!(row["trigger"], Value::Null);
        assert_eq!(row["taken_at"], "2027-01-15T08:00:00.000000Z");
        assert_eq!(
            (row["first_seq"].as_u64(), row["last_seq"].as_u64()),
            (Some(0), Some(4))
        );
        assert_eq!(row["messages"], 5);
        assert_eq!(row["complete"], true);
        assert_eq!(row["bytes"].as_u64(), Some(s.bytes_used() as u64));
    }

    /// What a dump reads, written once for the ring and snapshots alike.
    fn dump(m: &impl Messages) -> (u64, Vec<Entry<'_>>) {
        let (mut seq, mut skipped, mut out) = (Seq::ZERO, 0, Vec::new());
        loop {
            match m.read(seq) {
                Read::Entry(e) => {
                    out.push(e);
                    seq = seq.next();
                }
                Read::Skipped(n) => {
                    skipped += n;
                    seq = seq.plus(n);
                }
                Read::End => return (skipped, out),
            }
        }
    }

    #[test]
    fn the_same_dump_code_reads_the_ring_and_a_snapshot() {
        let mut r = ring(5, 4096);
        for i in 0..8u8 {
            push(&mut r, &[b'a' + i; 3]);
        }
        let mut s = store(4096, 8);
        let id = take(&mut s, &r);
        let v = s.view(id).unwrap();
        assert_eq!(dump(&v), dump(&r));
        assert_eq!(dump(&v).0, 3);
        assert_eq!(dump(&v).1.len(), 5);
    }

    #[test]
    fn a_snapshot_survives_the_ring_moving_on_and_clearing() {
        let mut r = ring(4, 4096);
        for m in [b"one", b"two"] {
            push(&mut r, m);
        }
        let mut s = store(4096, 8);
        let id = take(&mut s, &r);
        for _ in 0..10 {
            push(&mut r, b"later");
        }
        r.clear();
        let v = s.view(id).unwrap();
        assert_eq!(v.get(Seq::ZERO).unwrap().raw, b"one");
        assert_eq!(v.get(Seq::new(1)).unwrap().raw, b"two");
        assert_eq!(v.count(), 2);
    }

    #[test]
    fn a_snapshot_keeps_each_message_s_index() {
        let mut r = ring(100, 1 << 16);
        let raws: [&[u8]; 3] = [
            b"<11>1 - web1 nginx - - - upstream timed out",
            b"<38>Oct 11 22:14:15 db su: 'su root' failed",
            b"no syslog at all",
        ];
        for raw in raws {
            let index = crate::ingest::syslog::index_in_utc(raw, 1);
            assert!(index.is_some());
            r.push_indexed(
                Incoming {
                    received_us: 1,
                    transport: Transport::Unix,
                    cred: Some(Cred {
                        pid: 7,
                        uid: 8,
                        gid: 9,
                    }),
                    truncated: false,
                    bytes: raw,
                },
                index,
            );
        }
        push(&mut r, b"stored without an index");
        let mut s = store(1 << 16, 8);
        let id = take(&mut s, &r);
        let v = s.view(id).unwrap();
        for seq in (0..4).map(Seq::new) {
            let (got, want) = (v.get(seq).unwrap(), r.get(seq).unwrap());
            assert_eq!(got, want);
            assert_eq!(got.index.is_some(), seq < Seq::new(3));
        }
        let f = v
            .get(Seq::ZERO)
            .unwrap()
            .index
            .unwrap()
            .fields(v.get(Seq::ZERO).unwrap().raw);
        assert_eq!((f.severity, f.hostname), (3, Some(&b"web1"[..])));
    }

    #[test]
    fn messages_after_begin_are_not_part_of_it() {
        let mut r = ring(100, 1 << 16);
        push(&mut r, b"before");
        let mut s = store(1 << 16, 8);
        let id = s.begin(&r, api()).unwrap();
        push(&mut r, b"after");
        finish(&mut s, &r, 1);
        let v = s.view(id).unwrap();
        assert_eq!((v.first_seq(), v.next_seq()), (Seq::ZERO, Seq::new(1)));
        assert_eq!(v.read(Seq::new(1)), Read::End);
    }

    #[test]
    fn keeps_the_newest_when_the_arena_is_too_small() {
        let mut r = ring(1000, 1 << 16);
        // Records of a header and 40 bytes, rounded up to 8; the table
        // takes 4 per message.
        for i in 0..100u8 {
            push(&mut r, &[b'a' + i % 26; 40]);
        }
        let record = (HEADER + 40).next_multiple_of(8);
        // Ten messages: ten records and 40 bytes of table.
        let mut s = store(10 * record + 40, 8);
        let id = take(&mut s, &r);
        let info = s.info(id).unwrap();
        assert_eq!(
            (info.first_seq, info.next_seq),
            (Seq::new(90), Seq::new(100))
        );
        assert_eq!((info.did_not_fit, info.evicted), (90, 0));
        assert!(!info.complete());
        assert_eq!(info.bytes, s.arena_bytes());
        let row = info.to_json();
        assert_eq!(
            (row["complete"].as_bool(), row["did_not_fit"].as_u64()),
            (Some(false), Some(90))
        );
        let v = s.view(id).unwrap();
        assert_eq!(v.read(Seq::new(89)), Read::Skipped(1));
        for seq in (90..100).map(Seq::new) {
            assert_eq!(v.get(seq), r.get(seq));
        }
        // Not even the newest fits: an empty snapshot that says so.
        let mut tiny = store(64, 8);
        let id = take(&mut tiny, &r);
        let info = tiny.info(id).unwrap();
        assert_eq!((info.messages(), info.did_not_fit, info.bytes), (0, 100, 0));
        assert_eq!(tiny.view(id).unwrap().read(Seq::ZERO), Read::Skipped(100));
    }

    #[test]
    fn messages_the_ring_evicts_mid_copy_are_left_out_and_the_newest_kept() {
        let mut r = ring(20, 1 << 16);
        for _ in 0..20 {
            push(&mut r, &[b'm'; 40]);
        }
        let mut s = store(1 << 16, 8);
        let id = s.begin(&r, api()).unwrap();
        // Size everything (20 × SIZE_COST), then copy one slice: the
        // newest five (a slice ends with the record that goes past it).
        let record = (HEADER + 40).next_multiple_of(8);
        assert_eq!(s.step(&r, 20 * SIZE_COST), Step::More);
        assert_eq!(s.step(&r, 4 * record + 1), Step::More);
        assert_eq!(s.info(id).unwrap().first_seq, Seq::new(15));
        // The ring moves on by twelve: seqs 0..12 go, 12..15 are still there.
        for _ in 0..12 {
            push(&mut r, b"new");
        }
        finish(&mut s, &r, 56);
        let info = s.info(id).unwrap();
        assert_eq!(
            (info.first_seq, info.next_seq),
            (Seq::new(12), Seq::new(20))
        );
        assert_eq!((info.did_not_fit, info.evicted, info.asked), (0, 12, 20));
        assert!(!info.complete());
        let v = s.view(id).unwrap();
        for seq in (12..20).map(Seq::new) {
            assert_eq!(v.get(seq).unwrap().raw, &[b'm'; 40][..], "seq {seq}");
        }
        assert_eq!(v.read(Seq::new(11)), Read::Skipped(1));
    }

    #[test]
    fn messages_the_ring_evicts_while_sizing_are_left_out() {
        let mut r = ring(10, 1 << 16);
        for _ in 0..10 {
            push(&mut r, b"old");
        }
        let mut s = store(1 << 16, 8);
        let id = s.begin(&r, api()).unwrap();
        assert_eq!(s.step(&r, 3 * SIZE_COST), Step::More);
        r.clear();
        finish(&mut s, &r, 1);
        let info = s.info(id).unwrap();
        assert_eq!(
            (info.first_seq, info.next_seq, info.evicted),
            (Seq::new(10), Seq::new(10), 10)
        );
        assert_eq!(info.bytes, 0, "no message, no space");
        s.check_invariants().unwrap();
    }

    #[test]
    fn a_ring_cleared_mid_copy_ends_the_copy_with_what_was_copied() {
        let mut r = ring(10, 1 << 16);
        for _ in 0..10 {
            push(&mut r, b"MARK-old");
        }
        let mut s = store(1 << 16, 8);
        let id = s.begin(&r, api()).unwrap();
        // Sizing, then four records of a header and 8 bytes.
        let record = (HEADER + 8).next_multiple_of(8);
        assert_eq!(s.step(&r, 10 * SIZE_COST + 4 * record), Step::More);
        r.clear();
        finish(&mut s, &r, 1);
        let info = s.info(id).unwrap();
        assert_eq!(
            (info.first_seq, info.next_seq, info.evicted),
            (Seq::new(6), Seq::new(10), 6)
        );
        assert_eq!(found(&s, b"MARK-old"), 4);
    }

    #[test]
    fn delete_and_clear_overwrite_the_bytes() {
        let mut r = ring(100, 1 << 16);
        push(&mut r, b"SECRET-one password=hunter2");
        let mut s = store(1 << 16, 8);
        let a = take(&mut s, &r);
        push(&mut r, b"SECRET-two");
        let b = take(&mut s, &r);
        push(&mut r, b"SECRET-three");
        let c = take(&mut s, &r);
        assert_eq!(found(&s, b"SECRET-one"), 3);
        assert_eq!(found(&s, b"SECRET-three"), 1);
        // The one in the middle: a hole.
        s.delete(b).unwrap();
        s.check_invariants().unwrap();
        assert_eq!(found(&s, b"SECRET-two"), 1, "only c holds it now");
        assert_eq!(found(&s, b"SECRET-one"), 2);
        assert_eq!(s.delete(b), Err(Error::NotFound(b)));
        assert!(s.view(b).is_none() && s.info(b).is_none());
        assert!(s.view(a).is_some() && s.view(c).is_some());
        assert_eq!(s.clear(), 2);
        assert_eq!(found(&s, b"SECRET"), 0);
        assert!(s.arena().unwrap().iter().all(|&b| b == 0));
        assert_eq!(s.counters().deleted, 3);
        assert_eq!(s.list()["snapshots"], json!([]));
    }

    #[test]
    fn deleting_a_snapshot_being_taken_stops_it_and_overwrites_it() {
        let mut r = ring(100, 1 << 16);
        for _ in 0..10 {
            push(&mut r, b"SECRET-copying");
        }
        let mut s = store(1 << 16, 8);
        let a = s.begin(&r, api()).unwrap();
        let b = s.begin(&r, api()).unwrap();
        assert_eq!(s.step(&r, 10 * SIZE_COST + 2 * 32), Step::More);
        assert_eq!(found(&s, b"SECRET"), 2);
        s.delete(a).unwrap();
        assert_eq!(found(&s, b"SECRET"), 0);
        s.check_invariants().unwrap();
        assert_eq!(finish(&mut s, &r, 64), b);
        assert_eq!(s.view(b).unwrap().count(), 10);
        assert_eq!(s.step(&r, 64), Step::Idle);
    }

    #[test]
    fn the_count_limit_evicts_the_oldest_and_counts_it() {
        let mut r = ring(100, 1 << 16);
        let mut s = store(1 << 16, 2);
        let ids: Vec<u64> = (0..3)
            .map(|i| {
                push(&mut r, format!("SECRET-{i}").as_bytes());
                take(&mut s, &r)
            })
            .collect();
        assert!(s.info(ids[0]).is_none());
        assert!(s.info(ids[1]).is_some() && s.info(ids[2]).is_some());
        assert_eq!(s.counters().evicted, 1);
        assert_eq!(s.list()["evicted"], 1);
        // Evicted means overwritten too: SECRET-0 is only in the two kept.
        assert_eq!(found(&s, b"SECRET-0"), 2);
        assert_eq!(found(&s, b"SECRET-2"), 1);
    }

    #[test]
    fn room_is_made_by_evicting_the_oldest_first() {
        let mut r = ring(8, 1 << 16);
        // Each snapshot of 8 of these takes 8 records and 32 bytes of
        // table: two fit.
        let snapshot = 8 * (HEADER + 40).next_multiple_of(8) + 32;
        let mut s = store(2 * snapshot + 100, 8);
        let mut ids = Vec::new();
        for i in 0..5u8 {
            for _ in 0..8 {
                push(&mut r, &[b'0' + i; 40]);
            }
            ids.push(take(&mut s, &r));
            let kept: Vec<u64> = s.infos().map(|i| i.id).collect();
            let newest = &ids[ids.len().saturating_sub(2)..];
            assert_eq!(kept, newest, "the two newest");
        }
        assert_eq!(s.counters().evicted, 3);
        // A hole in the middle is used once the snapshots before it go.
        let mut s = store(3 * snapshot, 8);
        let (a, b, c) = (take(&mut s, &r), take(&mut s, &r), take(&mut s, &r));
        s.delete(b).unwrap();
        let d = take(&mut s, &r);
        assert!(
            s.info(a).is_none(),
            "the hole after a is not reused before a goes"
        );
        assert!(s.info(c).is_some() && s.info(d).is_some());
        assert_eq!(s.bytes_used(), 2 * snapshot);
    }

    #[test]
    fn ids_are_never_reused() {
        let mut r = ring(100, 1 << 16);
        push(&mut r, b"x");
        let mut s = store(4096, 2);
        let mut last = 0;
        for round in 0..4 {
            let id = take(&mut s, &r);
            assert!(id > last, "{id} after {last}");
            last = id;
            match round % 2 {
                0 => s.delete(id).unwrap(),
                _ => _ = s.clear(),
            }
        }
        assert_eq!(s.begin(&r, api()), Ok(5));
        assert_eq!(s.counters().taken, 5);
    }

    #[test]
    fn notes_and_triggers_are_listed() {
        let r = ring(100, 1 << 16);
        let mut s = store(4096, 8);
        let meta = Meta {
            why: Why::Trigger {
                seq: Seq::new(77),
                query: "sev=crit".to_string(),
            },
            taken_at_us: 0,
            note: Some(Note::new("disk full on db1 — see ticket").unwrap()),
        };
        let id = s.begin(&r, meta).unwrap();
        let row = s.info(id).unwrap().to_json();
        assert_eq!(row["taking"], true);
        assert_eq!(row["complete"], false);
        assert_eq!(row["messages"], 0);
        assert_eq!(row["first_seq"], Value::Null);
        finish(&mut s, &r, 1);
        let row = s.info(id).unwrap().to_json();
        assert_eq!(row["why"], "trigger");
        assert_eq!(row["trigger"], json!({"seq": 77, "query": "sev=crit"}));
        assert_eq!(row["note"], "disk full on db1 — see ticket");
        assert_eq!(row["taken_at"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            row["complete"], true,
            "the ring was empty: all of it is there"
        );
        let list = s.list();
        assert_eq!(list["snapshots"][0], row);
        assert_eq!(list["capacity"], json!({"bytes": 4096, "snapshots": 8}));
        assert_eq!(list["used"], json!({"bytes": 0, "snapshots": 1}));
    }

    #[test]
    fn notes_are_bounded_and_on_one_line() {
        assert!(Note::new(&"n".repeat(MAX_NOTE_BYTES)).is_ok());
        let long = Note::new(&"n".repeat(MAX_NOTE_BYTES + 1)).unwrap_err();
        assert_eq!(long, Error::NoteTooLong { len: 257 });
        assert_eq!(
            long.to_string(),
            "the note is 257 bytes long; at most 256 are allowed"
        );
        assert_eq!(Note::new("two\nlines"), Err(Error::NoteControl));
        assert_eq!(Note::new("esc\x1b[31m"), Err(Error::NoteControl));
    }

    /// A whole memory file whose snapshots' part is `s`'s, as a process
    /// of `config` left it.
    fn file_with(s: &Snapshots, config: Config) -> Vec<u8> {
        let g = file::Geometry {
            max_messages: 1,
            ring_bytes: 4096,
            max_message_bytes: 64,
            snapshots: Snapshots::space(&config).unwrap(),
        };
        let layout = file::Layout::of(g).unwrap();
        let mut mem = vec![0; layout.file_bytes()];
        file::write_header(&mut mem, g);
        mem[layout.snapshot_part()].copy_from_slice(s.memory());
        mem
    }

    /// A change to a list entry.
    type Change<'c> = dyn Fn(Listed<'_>) -> Listed<'_> + 'c;

    /// Rewrites entry `k` of a store's memory as `change` says, published.
    fn rewrite(mem: &mut [u8], k: usize, change: impl Fn(Listed<'_>) -> Listed<'_>) {
        let old = mem.to_vec();
        let Slot::Listed(l) = snapshot_list::read(&old, k) else {
            panic!("entry {k} is not listed");
        };
        snapshot_list::publish(mem, k, &change(l));
    }

    fn three_snapshots() -> (Config, Snapshots, [u64; 3]) {
        let mut r = ring(100, 1 << 16);
        let config = Config {
            arena_bytes: 1 << 16,
            max_snapshots: 4,
        };
        let mut s = Snapshots::new(config).unwrap();
        let mut ids = [0; 3];
        for (i, id) in ids.iter_mut().enumerate() {
            // Each holds its own five.
            r.clear();
            for n in 0..5 {
                push(&mut r, format!("SECRET-{i} message {n}").as_bytes());
            }
            let meta = Meta {
                why: Why::Trigger {
                    seq: r.last_seq().unwrap(),
                    query: "sev=crit".to_string(),
                },
                taken_at_us: 1_800_000_000_000_000 + i as i64,
                note: Some(Note::new(&format!("incident {i}")).unwrap()),
            };
            *id = s.begin(&r, meta).unwrap();
            finish(&mut s, &r, 1 << 20);
        }
        (config, s, ids)
    }

    #[test]
    fn an_adopted_store_keeps_its_snapshots_and_goes_on() {
        let (config, s, [a, b, c]) = three_snapshots();
        let mut adopted = Snapshots::adopt(config, Some(frozen(s.memory()))).unwrap();
        adopted.check_invariants().unwrap();
        assert_eq!(adopted.list(), s.list(), "listed as they were");
        assert_eq!(
            adopted.restored(),
            Some(Adopted {
                snapshots: 3,
                dropped: 0
            })
        );
        for id in [a, b, c] {
            assert_eq!(dump(&adopted.view(id).unwrap()), dump(&s.view(id).unwrap()));
        }
        // Ids go on, and the oldest goes first.
        let r = ring(10, 4096);
        let d = adopted.begin(&r, api()).unwrap();
        assert_eq!(d, c + 1);
        finish(&mut adopted, &r, 64);
        let meta = api();
        adopted.begin(&r, meta).unwrap();
        finish(&mut adopted, &r, 64);
        assert!(adopted.info(a).is_none() && adopted.info(b).is_some());
        assert_eq!(adopted.counters().evicted, 1);
        adopted.check_invariants().unwrap();
        // A fresh store in the same memory keeps nothing.
        let fresh = Snapshots::with_memory(config, Some(frozen(s.memory()))).unwrap();
        assert!(fresh.is_empty() && fresh.restored().is_none());
        assert!(fresh.memory().iter().all(|b| *b == 0));
    }

    #[test]
    fn what_does_not_check_out_is_dropped_counted_and_overwritten() {
        let (config, s, [a, b, c]) = three_snapshots();
        let entry = |id| entry_of(s.memory(), id).unwrap();
        let adopt = |mem: &[u8]| {
            let a = Snapshots::adopt(config, Some(frozen(mem))).unwrap();
            a.check_invariants().unwrap();
            let kept: Vec<u64> = a.infos().map(|i| i.id).collect();
            (a, kept)
        };
        // A byte of b's messages: its record no longer decodes whole.
        let mut mem = s.memory().to_vec();
        let at = s.arena_at
            + s.view(b)
                .unwrap()
                .record_start(s.info(b).unwrap().first_seq);
        mem[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let (adopted, kept) = adopt(&mem);
        assert_eq!(kept, [a, c]);
        assert_eq!(adopted.restored().unwrap().dropped, 1);
        assert_eq!(found(&adopted, b"SECRET-2"), 5);
        assert_eq!(found(&adopted, b"SECRET-1"), 0, "b's bytes are overwritten");
        // Seqs out of order, a region outside the arena, a note that is
        // not one, an id given twice, an entry of another version: each
        // dropped and counted, the rest kept.
        let cases: [(u64, &Change<'_>); 5] = [
            (c, &|l| Listed {
                first: l.end + 1,
                ..l
            }),
            (c, &|l| Listed {
                region_start: 1 << 16,
                ..l
            }),
            (a, &|l| Listed {
                note: Some("two\nlines"),
                ..l
            }),
            (a, &|l| Listed { id: b, ..l }),
            (b, &|l| Listed {
                region_len: l.region_len - 8,
                ..l
            }),
        ];
        for (i, (id, change)) in cases.iter().enumerate() {
            let mut mem = s.memory().to_vec();
            rewrite(&mut mem, entry(*id), change);
            let (adopted, kept) = adopt(&mem);
            assert_eq!(adopted.restored().unwrap().dropped, 1, "case {i}");
            let want: Vec<u64> = [a, b, c].into_iter().filter(|x| x != id).collect();
            assert_eq!(kept, want, "case {i}");
            assert_eq!(adopted.counters().taken, c, "case {i}");
        }
        // A region that overlaps a newer one's (b's entry says c's region,
        // whose records check out): the older is dropped.
        let mut mem = s.memory().to_vec();
        let old = mem.clone();
        let Slot::Listed(of_c) = snapshot_list::read(&old, entry(c)) else {
            panic!("c is listed");
        };
        snapshot_list::publish(&mut mem, entry(b), &Listed { id: b, ..of_c });
        let (_, kept) = adopt(&mem);
        assert_eq!(kept, [a, c], "b lies under c");
        // Counters no process reaches are read as none; ids never go back.
        let mut mem = s.memory().to_vec();
        snapshot_list::write_counters(&mut mem, [u64::MAX, u64::MAX, 2]);
        let (adopted, _) = adopt(&mem);
        assert_eq!(adopted.counters().taken, c);
        assert_eq!(adopted.counters().evicted, 0);
        assert_eq!(adopted.counters().deleted, 2);
    }

    #[test]
    fn another_geometry_keeps_the_newest_snapshots_that_fit() {
        let (config, s, [a, b, c]) = three_snapshots();
        let old = file_with(&s, config);
        let each = s.info(c).unwrap().bytes;
        // Room for two.
        let mut small = Snapshots::new(Config {
            arena_bytes: 2 * each + 8,
            max_snapshots: 4,
        })
        .unwrap();
        let adopted = small.copy_from(&old);
        small.check_invariants().unwrap();
        assert_eq!(
            adopted,
            Adopted {
                snapshots: 2,
                dropped: 0
            }
        );
        assert_eq!(small.infos().map(|i| i.id).collect::<Vec<_>>(), [b, c]);
        for id in [b, c] {
            assert_eq!(small.info(id), s.info(id));
            assert_eq!(dump(&small.view(id).unwrap()), dump(&s.view(id).unwrap()));
        }
        assert_eq!(small.counters().evicted, 1, "a did not fit");
        assert_eq!(small.restored(), Some(adopted));
        // One kept at most: the newest.
        let mut one = store(1 << 16, 1);
        one.copy_from(&old);
        one.check_invariants().unwrap();
        assert_eq!(one.infos().map(|i| i.id).collect::<Vec<_>>(), [c]);
        // Disabled now: none.
        let mut none = store(0, 1);
        assert_eq!(none.copy_from(&old).snapshots, 0);
        // A file without snapshots: none.
        let without = file_with(
            &store(0, 1),
            Config {
                arena_bytes: 0,
                max_snapshots: 1,
            },
        );
        let mut from_none = store(1 << 16, 4);
        assert_eq!(from_none.copy_from(&without), Adopted::default());
        assert_eq!(from_none.restored(), Some(Adopted::default()));
        from_none.check_invariants().unwrap();
        // Not a ring: nothing, and no panic.
        let mut other = store(1 << 16, 4);
        assert_eq!(other.copy_from(&[0xa5; 8192]), Adopted::default());
        assert!(other.is_empty());
        let _ = a;
    }

    #[test]
    fn a_copy_leaves_out_the_room_of_messages_evicted_mid_copy() {
        let mut r = ring(20, 1 << 16);
        for _ in 0..20 {
            push(&mut r, &[b'm'; 40]);
        }
        let config = Config {
            arena_bytes: 1 << 16,
            max_snapshots: 8,
        };
        let mut s = Snapshots::new(config).unwrap();
        let id = s.begin(&r, api()).unwrap();
        let record = (HEADER + 40).next_multiple_of(8);
        assert_eq!(s.step(&r, 20 * SIZE_COST), Step::More);
        assert_eq!(s.step(&r, 4 * record + 1), Step::More);
        for _ in 0..12 {
            push(&mut r, b"new");
        }
        finish(&mut s, &r, 56);
        let old = file_with(&s, config);
        // The same geometry, adopted in place: as it was.
        let same = Snapshots::adopt(config, Some(frozen(s.memory()))).unwrap();
        same.check_invariants().unwrap();
        assert_eq!(same.info(id), s.info(id));
        // Copied: the same messages, in the room they take.
        let mut copy = store(1 << 16, 8);
        copy.copy_from(&old);
        copy.check_invariants().unwrap();
        let (was, now) = (s.info(id).unwrap(), copy.info(id).unwrap());
        assert_eq!((now.first_seq, now.next_seq), (was.first_seq, was.next_seq));
        assert_eq!(
            (now.evicted, now.did_not_fit),
            (was.evicted, was.did_not_fit)
        );
        assert_eq!(now.bytes, table_len(8) + 8 * record);
        assert!(now.bytes < was.bytes);
        assert_eq!(dump(&copy.view(id).unwrap()), dump(&s.view(id).unwrap()));
    }

    #[test]
    fn a_disabled_store_says_so() {
        let r = ring(100, 4096);
        let mut s = store(0, 8);
        assert!(!s.enabled());
        assert_eq!(s.begin(&r, api()), Err(Error::Disabled));
        assert_eq!(s.step(&r, 1), Step::Idle);
        assert_eq!(s.list()["enabled"], false);
        assert_eq!(s.delete(1), Err(Error::NotFound(1)));
        s.lock_memory().unwrap();
        assert!(matches!(
            Snapshots::new(Config {
                arena_bytes: 4096,
                max_snapshots: 0
            }),
            Err(ConfigError::ZeroSnapshots)
        ));
        let small = Snapshots::new(Config {
            arena_bytes: 7,
            max_snapshots: 1,
        });
        assert!(matches!(small, Err(ConfigError::ArenaTooSmall)));
        let large = Snapshots::new(Config {
            arena_bytes: MAX_ARENA as usize,
            max_snapshots: 1,
        });
        assert!(matches!(large, Err(ConfigError::ArenaTooLarge)));
        assert_eq!(
            large.err().unwrap().to_string(),
            "-snapshot-bytes is larger than circolog supports (34359738368 bytes)"
        );
        assert_eq!(
            Error::Disabled.to_string(),
            "snapshots are disabled (-snapshot-bytes 0)"
        );
        assert_eq!(Error::NotFound(12).to_string(), "no snapshot 12");
    }

    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Push {
            len: usize,
            cred: bool,
            transport: usize,
            truncated: bool,
        },
        Begin,
        Step(usize),
        /// The k-th kept snapshot, or (past the end) one that is gone.
        Delete(usize),
        Clear,
        ClearRing,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0usize..120, any::<bool>(), 0usize..3, any::<bool>()).prop_map(
                |(len, cred, transport, truncated)| Op::Push {
                    len,
                    cred,
                    transport,
                    truncated
                }
            ),
            2 => Just(Op::Begin),
            5 => (0usize..600).prop_map(Op::Step),
            1 => (0usize..8).prop_map(Op::Delete),
            1 => Just(Op::Clear),
            1 => Just(Op::ClearRing),
        ]
    }

    /// A message as the ring stored it.
    #[derive(Debug)]
    struct Stored {
        received_us: i64,
        transport: Transport,
        cred: Option<Cred>,
        truncated: bool,
        raw: Vec<u8>,
    }

    impl Stored {
        fn entry(&self, seq: Seq) -> Entry<'_> {
            Entry {
                seq,
                received_us: self.received_us,
                transport: self.transport,
                cred: self.cred,
                unit: None,
                truncated: self.truncated,
                index: None,
                raw: &self.raw,
            }
        }

        /// The record's size, padded as the module documentation says.
        fn record(&self) -> usize {
            record::encoded_len(self.raw.len(), self.cred.is_some(), None).div_ceil(8) * 8
        }
    }

    /// What the model knows of a snapshot it asked for.
    #[derive(Debug)]
    struct Asked {
        id: u64,
        /// The ring's seqs when it was begun.
        from: Seq,
        end: Seq,
        /// The ring did not change while it was being taken.
        untouched: bool,
    }

    /// Bytes of a region holding `seqs`.
    fn space(history: &[Stored], seqs: std::ops::Range<Seq>) -> usize {
        let n = seqs.end.since(seqs.start);
        let records: usize = Seq::range(seqs.start, seqs.end)
            .map(|s| history[s.get() as usize].record())
            .sum();
        (n as usize * 4).div_ceil(8) * 8 + records
    }

    fn check_model(
        s: &Snapshots,
        r: &Ring,
        history: &[Stored],
        asked: &mut Vec<Asked>,
        evicted: &mut u64,
    ) -> Result<(), TestCaseError> {
        s.check_invariants().map_err(TestCaseError::fail)?;
        let arena = s.arena_bytes();
        let kept: Vec<u64> = s.infos().map(|i| i.id).collect();
        // The oldest go first: what is kept is the newest of those asked for.
        let gone = asked.len() - kept.len();
        prop_assert!(asked[gone..].iter().map(|a| a.id).eq(kept.iter().copied()));
        *evicted += gone as u64;
        asked.drain(..gone);
        prop_assert_eq!(s.counters().evicted, *evicted);
        for a in asked.iter() {
            let info = s.info(a.id).unwrap();
            let Some(v) = s.view(a.id) else {
                prop_assert!(info.taking);
                continue;
            };
            prop_assert!(!info.taking);
            let first = v.first_seq();
            prop_assert_eq!(v.next_seq(), a.end);
            prop_assert!(a.from <= first && first <= a.end);
            prop_assert_eq!(info.did_not_fit + info.evicted, first.since(a.from));
            prop_assert_eq!(info.complete(), first == a.from);
            if first < a.end {
                // Room for what it holds, and perhaps for some the ring
                // evicted before they were copied.
                prop_assert!(space(history, first..a.end) <= info.bytes);
                prop_assert!(info.bytes <= arena);
            } else {
                prop_assert_eq!(info.bytes, 0);
            }
            if info.did_not_fit > 0 {
                // Sizing stopped for room: the next older did not fit.
                let base = a.from.plus(info.did_not_fit);
                prop_assert!(
                    space(history, base.minus(1)..a.end) > arena,
                    "left out but fits"
                );
                if first < a.end {
                    prop_assert_eq!(info.bytes, space(history, base..a.end));
                }
            }
            if info.evicted > 0 {
                prop_assert!(
                    r.get(first.minus(1)).is_none(),
                    "said evicted but still there"
                );
            }
            if a.untouched {
                // Exactly the newest messages that fit.
                let mut fit = a.end;
                while fit > a.from && space(history, fit.minus(1)..a.end) <= arena {
                    fit = fit.minus(1);
                }
                prop_assert_eq!((first, info.evicted), (fit, 0));
            }
            for seq in Seq::range(first, a.end) {
                let want = history[seq.get() as usize].entry(seq);
                prop_assert_eq!(v.get(seq), Some(want));
                prop_assert_eq!(v.read(seq), Read::Entry(want));
            }
            prop_assert_eq!(v.read(a.end), Read::End);
            prop_assert_eq!(v.get(a.end), None);
            if first > Seq::ZERO {
                prop_assert_eq!(v.read(Seq::ZERO), Read::Skipped(first.since(Seq::ZERO)));
                prop_assert_eq!(v.get(first.minus(1)), None);
            }
        }
        Ok(())
    }

    /// The list entry snapshot `id` is published in, in a store's memory.
    fn entry_of(mem: &[u8], id: u64) -> Option<usize> {
        let list = &mem[..mem
            .len()
            .min(snapshot_list::HEAD + 64 * snapshot_list::ENTRY)];
        (0..snapshot_list::entries(list)).find(|&k| snapshot_list::id(list, k) == id)
    }

    /// A copy of a store's memory as a killed process would leave it.
    fn frozen(bytes: &[u8]) -> MmapMut {
        let mut mem = file::anonymous(bytes.len()).unwrap();
        mem.copy_from_slice(bytes);
        mem
    }

    /// A store of `config` adopting `bytes` (what a killed process left
    /// of `s`) keeps every complete snapshot of `s` but those of `not`,
    /// as they are, and nothing else; its counters go on from `counters`.
    fn check_adopted(
        config: Config,
        s: &Snapshots,
        bytes: &[u8],
        not: &[u64],
        counters: Counters,
    ) -> Result<(), TestCaseError> {
        let a = Snapshots::adopt(config, Some(frozen(bytes))).unwrap();
        a.check_invariants().map_err(TestCaseError::fail)?;
        let want: Vec<Info<'_>> = s
            .infos()
            .filter(|i| !i.taking && !not.contains(&i.id))
            .collect();
        prop_assert_eq!(a.infos().collect::<Vec<_>>(), want.clone());
        prop_assert_eq!(
            a.restored(),
            Some(Adopted {
                snapshots: want.len() as u64,
                dropped: 0
            })
        );
        prop_assert_eq!(a.counters(), counters);
        for info in want {
            let (va, vs) = (a.view(info.id).unwrap(), s.view(info.id).unwrap());
            for seq in Seq::range(vs.first_seq(), vs.next_seq()) {
                prop_assert_eq!(va.get(seq), vs.get(seq));
            }
        }
        Ok(())
    }

    proptest! {
        /// Snapshots against a model: each holds, field for field, the
        /// newest of the messages the ring had when it was begun that fit
        /// (all of those the ring did not evict meanwhile), says what it left
        /// out and why, and the store keeps the newest snapshots, with every
        /// byte outside them zero. After every step, a process handed its
        /// memory adopts every complete snapshot as it is, also when the
        /// step was cut short by a kill (before a snapshot was published,
        /// between taking one out of the list and wiping its bytes).
        #[test]
        fn matches_a_model_of_copies(
            ops in proptest::collection::vec(op(), 0..300),
            ring_messages in 1usize..30,
            arena in 8usize..3000,
            max_snapshots in 1usize..5,
        ) {
            let mut r = Ring::new(ring::Config {
                max_messages: ring_messages,
                arena_bytes: 2048,
                max_message_bytes: 100,
            })
            .unwrap();
            let mut s = store(arena, max_snapshots);
            let mut history: Vec<Stored> = Vec::new();
            let mut asked: Vec<Asked> = Vec::new();
            let mut deleted: Vec<u64> = Vec::new();
            let mut evicted = 0;
            let mut last_id = 0;
            let drain = [Op::Step(usize::MAX)].repeat(50);
            let config = Config { arena_bytes: arena, max_snapshots };
            for op in ops.iter().chain(&drain) {
                let before = s.memory().to_vec();
                let counted = s.counters();
                let mut done = None;
                let mut gone = Vec::new();
                match *op {
                    Op::Push { len, cred, transport, truncated } => {
                        let seq = r.next_seq();
                        let n = seq.get();
                        let bytes: Vec<u8> = (0..len).map(|i| (n as usize * 31 + i) as u8).collect();
                        r.push(Incoming {
                            received_us: n as i64 * 1_000_003 - 77,
                            transport: Transport::ALL[transport],
                            cred: cred.then_some(Cred { pid: n as u32, uid: 7, gid: u32::MAX }),
                            truncated,
                            bytes: &bytes,
                        });
                        let e = r.get(seq).unwrap();
                        history.push(Stored {
                            received_us: e.received_us,
                            transport: e.transport,
                            cred: e.cred,
                            truncated: e.truncated,
                            raw: e.raw.to_vec(),
                        });
                    }
                    Op::Begin => {
                        let id = s.begin(&r, api()).unwrap();
                        prop_assert!(id > last_id);
                        last_id = id;
                        asked.push(Asked { id, from: r.first_seq(), end: r.next_seq(), untouched: true });
                    }
                    Op::Step(budget) => {
                        let taking = s.is_taking();
                        match s.step(&r, budget) {
                            Step::Idle => prop_assert!(!taking),
                            Step::More => prop_assert!(s.is_taking()),
                            Step::Done(id) => {
                                prop_assert!(!s.info(id).unwrap().taking);
                                done = Some(id);
                            }
                        }
                    }
                    Op::Delete(k) => {
                        let kept: Vec<u64> = s.infos().map(|i| i.id).collect();
                        match kept.get(k) {
                            Some(&id) => {
                                gone.push(entry_of(&before, id));
                                s.delete(id).unwrap();
                                asked.retain(|a| a.id != id);
                                deleted.push(id);
                            }
                            None => {
                                let id = deleted.last().copied().unwrap_or(last_id + 1);
                                prop_assert_eq!(s.delete(id), Err(Error::NotFound(id)));
                            }
                        }
                    }
                    Op::Clear => {
                        gone.extend(s.infos().map(|i| entry_of(&before, i.id)));
                        prop_assert_eq!(s.clear(), asked.len());
                        deleted.extend(asked.drain(..).map(|a| a.id));
                    }
                    Op::ClearRing => r.clear(),
                }
                if matches!(op, Op::Push { .. } | Op::ClearRing) {
                    for a in asked.iter_mut() {
                        if s.info(a.id).is_some_and(|i| i.taking) {
                            a.untouched = false;
                        }
                    }
                }
                check_model(&s, &r, &history, &mut asked, &mut evicted)?;
                // Killed now: the next process adopts every complete one.
                check_adopted(config, &s, s.memory(), &[], s.counters())?;
                // Killed before the one just done was published: not it.
                if let Some(id) = done {
                    let mut bytes = s.memory().to_vec();
                    if let Some(k) = entry_of(&bytes, id) {
                        bytes[snapshot_list::HEAD + k * snapshot_list::ENTRY..][..8].fill(0);
                    }
                    check_adopted(config, &s, &bytes, &[id], s.counters())?;
                }
                // Killed once deleted ones were taken out of the list, before
                // their bytes were overwritten.
                if !gone.is_empty() {
                    let mut bytes = before;
                    for k in gone.into_iter().flatten() {
                        bytes[snapshot_list::HEAD + k * snapshot_list::ENTRY..][..8].fill(0);
                    }
                    check_adopted(config, &s, &bytes, &[], counted)?;
                }
            }
            prop_assert!(!s.is_taking());
            prop_assert_eq!(s.counters().deleted, deleted.len() as u64);
            prop_assert_eq!(s.counters().taken, last_id);
        }
    }
}
