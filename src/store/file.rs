//! The memory file the ring and the snapshots live in: one block of memory,
//! laid out so that a later process handed the same memory can tell what
//! it holds and adopt it ([`crate::store::ring::Ring::adopt`],
//! [`crate::store::snapshot::Snapshots::adopt`]).
//!
//! Layout, little-endian, every section starting on a page ([`PAGE`]):
//!
//! ```text
//! header (one page)
//!   0..8     magic "circolog"
//!   8..12    layout version (u32)
//!   12..16   zero
//!   16..24   geometry: messages the ring holds (u64)
//!   24..32   geometry: ring arena bytes, whole slots (u64)
//!   32..40   geometry: longest message kept (u64)
//!   40..48   geometry: snapshot arena bytes (u64; 0: no snapshots)
//!   48..56   geometry: snapshots kept at most, the list's entries (u64)
//!   56..64   published: seq of the oldest stored message (u64)
//!   64..72   published: seq the next stored message gets (u64)
//!   72..80   the epoch: when the first process of this ring started (µs)
//!   80..88   the pid of the process that runs it now (u64)
//!   88..96   when that process started (µs)
//!   96..104  paused (1) or not (0)
//!   104..112 when a timed pause ends (µs; i64::MIN: not timed)
//!   112..240 the daemon's counters (16 u64, see COUNTERS)
//!   240..248 the first seq stored after the last clear
//!   248..256 how the pause came (u64, the daemon's code; 0: not said)
//!   256..264 the SEQ of the last kernel record read (-kmsg), plus one (0:
//!            none)
//!   rest     zero
//! seq table      the start slot of each stored message, by seq % messages (u32)
//! PRI table      the PRI of each stored message's index, or 255 (u8)
//! arena          the ring's slots
//! snapshot list  what each snapshot is, one entry each (see
//!                crate::store::snapshot::list); none without snapshots
//! snapshot arena the snapshots' regions (see crate::store::snapshot)
//! ```
//!
//! The ring's sections (header to arena, [`Layout::ring_bytes`]) and the
//! snapshots' (list and arena, [`Layout::snapshot_part`]) are mapped apart,
//! each by its owner. A daemon adds what it needs after [`Layout::file_bytes`]
//! (its datagram receive buffers).
//!
//! The two published seqs are written last: a message is written whole,
//! then its seq-table and PRI entries, then `next seq`; a message is
//! evicted by raising `oldest` first, then zeroing its slots. A process
//! killed at any instant thus leaves a file whose published seqs name only
//! whole messages, except while a message is being stored, which is not
//! published yet. A snapshot is published the same way: copied whole, its
//! list entry written, then its id; unpublished before its bytes go.
//!
//! Nothing in a file is trusted when it is adopted: a header that is not
//! this layout is a foreign file, and every published message and snapshot
//! is checked (see the ring's `adopt` and the snapshots').

use std::io;
use std::ops::Range;

use memmap2::{MmapMut, MmapOptions};

use crate::store::snapshot::list as snapshot_list;

/// Every section starts on a page, so that each can be mapped on its own.
pub const PAGE: usize = 4096;
/// The first bytes of every circolog memory file.
pub const MAGIC: [u8; 8] = *b"circolog";
/// The layout this version writes and reads; another is a foreign file.
/// 2: records may carry the sender's unit (see [`crate::store::record`]);
/// a layout 1 file would read as records this version cannot tell from
/// damaged ones, so it is foreign rather than half adopted.
/// 3: the snapshot list and arena follow the ring's arena, and the header
/// says their geometry; in a layout 2 file the snapshots lay elsewhere,
/// without their list.
pub const VERSION: u32 = 3;

const VERSION_AT: usize = 8;
const GEOMETRY_AT: usize = 16;
const FIRST_SEQ_AT: usize = 56;
const NEXT_SEQ_AT: usize = 64;
const PROCESS_AT: usize = 72;
const PAUSE_AT: usize = 96;
const COUNTERS_AT: usize = 112;
const CLEARED_AT: usize = COUNTERS_AT + 8 * COUNTERS;
const PAUSED_BY_AT: usize = CLEARED_AT + 8;
const KMSG_AT: usize = PAUSED_BY_AT + 8;

/// Room for the daemon's counters, in words: what a reader resumes with
/// (the clears among them are the clear generation).
pub const COUNTERS: usize = 16;

/// Writes the counters, and the first seq stored after the last clear.
pub fn write_counters(mem: &mut [u8], counters: &[u64; COUNTERS], cleared_at: u64) {
    for (i, c) in counters.iter().enumerate() {
        put_u64(mem, COUNTERS_AT + 8 * i, *c);
    }
    put_u64(mem, CLEARED_AT, cleared_at);
}

/// The counters a file says, and the first seq stored after its last clear.
pub fn counters(mem: &[u8]) -> ([u64; COUNTERS], u64) {
    let counters = std::array::from_fn(|i| u64_at(mem, COUNTERS_AT + 8 * i));
    (counters, u64_at(mem, CLEARED_AT))
}

/// A pause as the file keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    pub paused: bool,
    /// When a timed pause ends, µs since 1970.
    pub resume_at_us: Option<i64>,
    /// How it came, in the daemon's own code (0: not said; a file written
    /// before this word was kept reads 0).
    pub by: u64,
}

/// Writes the pause state.
pub fn write_pause(mem: &mut [u8], pause: Pause) {
    put_u64(mem, PAUSE_AT, u64::from(pause.paused));
    put_u64(
        mem,
        PAUSE_AT + 8,
        pause.resume_at_us.unwrap_or(i64::MIN) as u64,
    );
    put_u64(mem, PAUSED_BY_AT, pause.by);
}

/// The pause state a file says.
pub fn pause(mem: &[u8]) -> Pause {
    let resume_at = u64_at(mem, PAUSE_AT + 8) as i64;
    Pause {
        paused: u64_at(mem, PAUSE_AT) == 1,
        resume_at_us: (resume_at != i64::MIN).then_some(resume_at),
        by: u64_at(mem, PAUSED_BY_AT),
    }
}

/// Writes the SEQ of the last kernel record read, which the next process
/// goes on after.
pub fn write_kmsg(mem: &mut [u8], seq: Option<u64>) {
    put_u64(mem, KMSG_AT, seq.map_or(0, |s| s.saturating_add(1)));
}

/// The SEQ of the last kernel record read, as the file says.
pub fn kmsg(mem: &[u8]) -> Option<u64> {
    u64_at(mem, KMSG_AT).checked_sub(1)
}

/// Who runs a ring: the epoch its seqs count from, kept across restarts,
/// and the process now storing in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    pub epoch_us: i64,
    pub pid: u32,
    pub started_us: i64,
}

/// Writes who runs the ring now.
pub fn write_process(mem: &mut [u8], p: Process) {
    put_u64(mem, PROCESS_AT, p.epoch_us as u64);
    put_u64(mem, PROCESS_AT + 8, u64::from(p.pid));
    put_u64(mem, PROCESS_AT + 16, p.started_us as u64);
}

/// Who ran the ring, as its header says (any values: they are shown,
/// never trusted for anything else).
pub fn process(mem: &[u8]) -> Process {
    Process {
        epoch_us: u64_at(mem, PROCESS_AT) as i64,
        pid: u64_at(mem, PROCESS_AT + 8) as u32,
        started_us: u64_at(mem, PROCESS_AT + 16) as i64,
    }
}

/// What a file's sections are sized by: the flags that change them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub max_messages: u64,
    pub ring_bytes: u64,
    pub max_message_bytes: u64,
    pub snapshots: SnapshotSpace,
}

/// The snapshots' part of a file (`-snapshot-bytes`, `-snapshots`): the
/// arena's bytes and the list's entries, both 0 without snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotSpace {
    pub arena_bytes: u64,
    pub entries: u64,
}

impl SnapshotSpace {
    /// No snapshots: no part.
    pub const NONE: SnapshotSpace = SnapshotSpace {
        arena_bytes: 0,
        entries: 0,
    };

    /// Where the arena starts in the part, after the list: a page.
    pub fn arena_at(self) -> Option<usize> {
        let list = usize::try_from(snapshot_list::bytes(self.entries)?).ok()?;
        page_up(list)
    }

    /// Bytes of the whole part, the list and the arena, in whole pages.
    pub fn part_bytes(self) -> Option<usize> {
        let arena = usize::try_from(self.arena_bytes).ok()?;
        self.arena_at()?.checked_add(page_up(arena)?)
    }
}

/// Where each section of a file of some [`Geometry`] lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub starts: Range<usize>,
    pub pris: Range<usize>,
    pub arena: Range<usize>,
    pub snapshot_list: Range<usize>,
    pub snapshots: Range<usize>,
}

impl Layout {
    /// The layout of a file of `g`, or `None` when it does not fit in the
    /// address space.
    pub fn of(g: Geometry) -> Option<Layout> {
        let n = usize::try_from(g.max_messages).ok()?;
        let section = |at: usize, len: u64| -> Option<Range<usize>> {
            let len = usize::try_from(len).ok()?;
            let end = at.checked_add(len)?;
            Some(at..end)
        };
        let starts = section(PAGE, (n as u64).checked_mul(4)?)?;
        let pris = section(page_up(starts.end)?, n as u64)?;
        let arena = section(page_up(pris.end)?, g.ring_bytes)?;
        let part = page_up(arena.end)?;
        let list = section(part, snapshot_list::bytes(g.snapshots.entries)?)?;
        let snapshots = section(
            part.checked_add(g.snapshots.arena_at()?)?,
            g.snapshots.arena_bytes,
        )?;
        let end = part.checked_add(g.snapshots.part_bytes()?)?;
        isize::try_from(end).ok()?;
        Some(Layout {
            starts,
            pris,
            arena,
            snapshot_list: list,
            snapshots,
        })
    }

    /// Bytes of the ring's sections, the header to the arena, in whole
    /// pages: the ring's own mapping.
    pub fn ring_bytes(&self) -> usize {
        page_up(self.arena.end).expect("checked by Layout::of")
    }

    /// The snapshots' part, the list and the arena, in whole pages (empty
    /// without snapshots): the snapshot store's own mapping.
    pub fn snapshot_part(&self) -> Range<usize> {
        self.snapshot_list.start..self.file_bytes()
    }

    /// Bytes of the whole file.
    pub fn file_bytes(&self) -> usize {
        page_up(self.snapshots.end).expect("checked by Layout::of")
    }
}

/// Anonymous memory of `len` bytes, zero and faulted in: where a ring
/// lives when no memory file is handed to it (tests, and a daemon that
/// keeps nothing across restarts).
pub fn anonymous(len: usize) -> io::Result<MmapMut> {
    MmapOptions::new().len(len).populate().map_anon()
}

fn page_up(n: usize) -> Option<usize> {
    n.checked_next_multiple_of(PAGE)
}

/// What kind of memory the file is (`-memory`, `/status` `"memory"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// `memfd_secret(2)`: out of the kernel's direct map, never swapped,
    /// unreadable through `/proc/PID/mem` and `ptrace`, even by root.
    Secret,
    /// An ordinary memory file, locked in RAM (`mlock`): never swapped.
    Locked,
    /// An ordinary memory file (or anonymous memory).
    Plain,
}

impl Memory {
    pub fn name(self) -> &'static str {
        match self {
            Memory::Secret => "secret",
            Memory::Locked => "locked",
            Memory::Plain => "plain",
        }
    }
}

/// What `-memory` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// Secret where the kernel and limits allow it, else plain.
    Auto,
    Secret,
    Locked,
    Plain,
}

impl Choice {
    /// The kinds to try, best first; when none can be had it is a start-up
    /// error, except that `auto` ends with plain, which can always be had.
    /// `-lock-memory` (`lock`) means locked or better.
    pub fn tries(self, lock: bool) -> &'static [Memory] {
        match (self, lock) {
            (Choice::Auto, false) => &[Memory::Secret, Memory::Plain],
            (Choice::Auto, true) => &[Memory::Secret, Memory::Locked],
            (Choice::Secret, _) => &[Memory::Secret],
            (Choice::Locked, _) | (Choice::Plain, true) => &[Memory::Locked],
            (Choice::Plain, false) => &[Memory::Plain],
        }
    }
}

/// Why memory is not a circolog file this version can adopt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreign {
    /// Shorter than its header says, or than one page.
    Short,
    /// Not a circolog memory file.
    Magic,
    /// A circolog memory file of another layout.
    Version(u32),
    /// Its geometry lies outside what this version supports.
    Geometry,
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Foreign::Short => write!(f, "it is shorter than its own header says"),
            Foreign::Magic => write!(f, "it is not a circolog ring"),
            Foreign::Version(v) => write!(
                f,
                "it is of layout {v}, and this version reads layout {VERSION}"
            ),
            Foreign::Geometry => write!(f, "its sizes are out of range"),
        }
    }
}

/// Writes a fresh header for `g` at the start of `mem`, nothing published.
pub fn write_header(mem: &mut [u8], g: Geometry) {
    mem[..PAGE].fill(0);
    mem[..VERSION_AT].copy_from_slice(&MAGIC);
    mem[VERSION_AT..VERSION_AT + 4].copy_from_slice(&VERSION.to_le_bytes());
    let fields = [
        g.max_messages,
        g.ring_bytes,
        g.max_message_bytes,
        g.snapshots.arena_bytes,
        g.snapshots.entries,
    ];
    for (i, v) in fields.into_iter().enumerate() {
        put_u64(mem, GEOMETRY_AT + 8 * i, v);
    }
}

/// The geometry and layout the header of `mem` says, checked against the
/// memory's length: `mem` holds the ring's sections at least (the
/// snapshots' part is checked by whoever reads it).
pub fn read_header(mem: &[u8]) -> Result<(Geometry, Layout), Foreign> {
    let (g, layout) = read_geometry(mem)?;
    if layout.arena.end > mem.len() {
        return Err(Foreign::Short);
    }
    Ok((g, layout))
}

/// [`read_header`] from the header's page alone: the caller checks that
/// the file is as long as the layout.
pub fn read_geometry(mem: &[u8]) -> Result<(Geometry, Layout), Foreign> {
    if mem.len() < PAGE {
        return Err(Foreign::Short);
    }
    if mem[..VERSION_AT] != MAGIC {
        return Err(Foreign::Magic);
    }
    let version = u32::from_le_bytes(mem[VERSION_AT..VERSION_AT + 4].try_into().expect("4"));
    if version != VERSION {
        return Err(Foreign::Version(version));
    }
    let field = |i: usize| u64_at(mem, GEOMETRY_AT + 8 * i);
    let g = Geometry {
        max_messages: field(0),
        ring_bytes: field(1),
        max_message_bytes: field(2),
        snapshots: SnapshotSpace {
            arena_bytes: field(3),
            entries: field(4),
        },
    };
    if g.max_messages == 0 || !g.ring_bytes.is_multiple_of(crate::store::ring::SLOT as u64) {
        return Err(Foreign::Geometry);
    }
    if !snapshot_list::fits(g.snapshots) {
        return Err(Foreign::Geometry);
    }
    let layout = Layout::of(g).ok_or(Foreign::Geometry)?;
    Ok((g, layout))
}

/// The published seqs: (oldest stored, next to give), as numbers.
pub fn published(mem: &[u8]) -> (u64, u64) {
    (u64_at(mem, FIRST_SEQ_AT), u64_at(mem, NEXT_SEQ_AT))
}

/// Publishes the seq of the oldest stored message.
pub fn publish_first(mem: &mut [u8], seq: u64) {
    put_u64(mem, FIRST_SEQ_AT, seq);
}

/// Publishes the seq the next stored message gets.
pub fn publish_next(mem: &mut [u8], seq: u64) {
    put_u64(mem, NEXT_SEQ_AT, seq);
}

fn u64_at(mem: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(mem[at..at + 8].try_into().expect("8 bytes"))
}

fn put_u64(mem: &mut [u8], at: usize, v: u64) {
    mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry {
            max_messages: 1000,
            ring_bytes: 64 << 10,
            max_message_bytes: 2048,
            snapshots: SnapshotSpace {
                arena_bytes: 8 << 10,
                entries: 3,
            },
        }
    }

    #[test]
    fn memory_choices_try_the_best_first_and_lock_means_locked_or_better() {
        use Memory::*;
        assert_eq!(Choice::Auto.tries(false), [Secret, Plain]);
        assert_eq!(Choice::Auto.tries(true), [Secret, Locked]);
        assert_eq!(Choice::Secret.tries(true), [Secret]);
        assert_eq!(Choice::Plain.tries(true), [Locked]);
        assert_eq!(Choice::Plain.tries(false), [Plain]);
        assert_eq!(Choice::Locked.tries(false), [Locked]);
        assert_eq!(Secret.name(), "secret");
    }

    #[test]
    fn sections_start_on_pages_in_order() {
        let l = Layout::of(geometry()).unwrap();
        assert_eq!(l.starts, PAGE..PAGE + 4000);
        assert_eq!(l.pris, 2 * PAGE..2 * PAGE + 1000);
        assert_eq!(l.arena, 3 * PAGE..3 * PAGE + (64 << 10));
        assert_eq!(l.ring_bytes(), l.arena.end);
        let list = snapshot_list::HEAD + 3 * snapshot_list::ENTRY;
        assert_eq!(l.snapshot_list, l.arena.end..l.arena.end + list);
        assert_eq!(
            l.snapshots,
            l.arena.end + PAGE..l.arena.end + PAGE + (8 << 10)
        );
        assert_eq!(l.snapshot_part(), l.arena.end..l.snapshots.end);
        assert_eq!(l.file_bytes(), l.snapshots.end);
        let none = Layout::of(Geometry {
            snapshots: SnapshotSpace::NONE,
            ..geometry()
        })
        .unwrap();
        assert_eq!(none.file_bytes(), none.ring_bytes());
        assert!(none.snapshot_part().is_empty() && none.snapshots.is_empty());
        let huge = Geometry {
            max_messages: u64::MAX,
            ..geometry()
        };
        assert_eq!(Layout::of(huge), None);
    }

    #[test]
    fn a_header_reads_back_and_anything_else_says_why() {
        let g = geometry();
        let len = Layout::of(g).unwrap().file_bytes();
        let mut mem = vec![0u8; len];
        write_header(&mut mem, g);
        assert_eq!(read_header(&mem), Ok((g, Layout::of(g).unwrap())));
        // The ring's sections are enough: the snapshots' part is mapped
        // apart.
        let ring = Layout::of(g).unwrap().ring_bytes();
        assert_eq!(read_header(&mem[..ring]), Ok((g, Layout::of(g).unwrap())));
        assert_eq!(read_header(&mem[..ring - 1]), Err(Foreign::Short));
        assert_eq!(read_header(&mem[..100]), Err(Foreign::Short));
        let mut other = mem.clone();
        other[0] = b'C';
        assert_eq!(read_header(&other), Err(Foreign::Magic));
        let mut other = mem.clone();
        // The layouts before the snapshot list, and before records carried
        // a unit, are foreign too.
        other[8] = 2;
        assert_eq!(read_header(&other), Err(Foreign::Version(2)));
        other[8] = 1;
        assert_eq!(read_header(&other), Err(Foreign::Version(1)));
        let mut other = mem.clone();
        other[24] = 1;
        assert_eq!(read_header(&other), Err(Foreign::Geometry));
        // Snapshot entries without an arena.
        let mut other = mem.clone();
        other[40..48].fill(0);
        assert_eq!(read_header(&other), Err(Foreign::Geometry));
        assert_eq!(published(&mem), (0, 0));
        publish_first(&mut mem, 5);
        publish_next(&mut mem, 9);
        assert_eq!(published(&mem), (5, 9));
        let p = |paused, resume_at_us, by| Pause {
            paused,
            resume_at_us,
            by,
        };
        assert_eq!(pause(&mem), p(false, Some(0), 0));
        write_pause(&mut mem, p(true, None, 2));
        assert_eq!(pause(&mem), p(true, None, 2));
        write_pause(&mut mem, p(true, Some(-5), u64::MAX));
        assert_eq!(pause(&mem), p(true, Some(-5), u64::MAX));
        let words = std::array::from_fn(|i| i as u64 * 3);
        write_counters(&mut mem, &words, 77);
        assert_eq!(counters(&mem), (words, 77));
        assert_eq!(pause(&mem), p(true, Some(-5), u64::MAX), "apart");
        assert_eq!(kmsg(&mem), None);
        for seq in [Some(0), Some(41), Some(u64::MAX - 1), None] {
            write_kmsg(&mut mem, seq);
            assert_eq!(kmsg(&mem), seq);
        }
        assert_eq!(pause(&mem), p(true, Some(-5), u64::MAX), "apart");
        assert_eq!(published(&mem), (5, 9));
        for e in [Foreign::Short, Foreign::Magic, Foreign::Version(3)] {
            assert!(!e.to_string().is_empty());
        }
    }
}
