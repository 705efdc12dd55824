//! The snapshot list in the memory file: what `GET /snapshots` and `GET
//! /snapshots/ID/` need to know of each snapshot, kept beside the snapshot
//! arena that holds its messages, so that snapshots outlive the process
//! as the ring does ([`crate::store::snapshot::Snapshots::adopt`]).
//!
//! Layout, little-endian:
//!
//! ```text
//! head (HEAD bytes)
//!   0..8     snapshots begun: the last id given (u64)
//!   8..16    snapshots evicted (u64)
//!   16..24   snapshots deleted (u64)
//!   rest     zero
//! entries (ENTRY bytes each, as many as snapshots are kept at most)
//!   0..8     the id; 0: a free entry. Written last, cleared first
//!   8..16    when it was asked for (µs since 1970, i64)
//!   16..56   seqs: asked from, end, base, first; did not fit (u64 each)
//!   56..72   its region in the arena: start, length (u64 each)
//!   72..80   the seq of the message that fired its trigger (u64)
//!   80       why: 0 api, 1 signal, 2 trigger
//!   81       has a note (1) or not (0)
//!   82..84   the note's length (u16)
//!   84..86   the trigger's query's length (u16)
//!   86..96   zero
//!   96..352  the note (at most snapshot::MAX_NOTE_BYTES)
//!   352..    the trigger's query, to the end of the entry (QUERY_MAX)
//! ```
//!
//! An entry is written whole, then its id, which publishes it; taking a
//! snapshot out of the list clears its id first, then the rest, and only
//! then are its bytes in the arena overwritten. So a process killed at any
//! instant leaves a list whose published entries are whole, and none of
//! them names a region that was being written or wiped.
//!
//! The seqs mean what they mean in [`crate::store::snapshot`]; this module
//! reads and writes them, and the snapshot store checks them against its
//! arena when it adopts a list.

use std::sync::atomic::{Ordering, compiler_fence};

use crate::store::file::SnapshotSpace;
use crate::store::snapshot::{MAX_ARENA, MAX_NOTE_BYTES};

/// Bytes of the list's head.
pub const HEAD: usize = 64;
/// Bytes of one entry.
pub const ENTRY: usize = 1024;
/// The most entries a list may have: more than the daemon's `-snapshots`
/// allows, and few enough that a list is a few MiB at most.
pub const MAX_ENTRIES: u64 = 1 << 12;

const TAKEN_AT: usize = 8;
const SEQS_AT: usize = 16;
const REGION_AT: usize = 56;
const TRIGGER_SEQ_AT: usize = 72;
const WHY_AT: usize = 80;
const HAS_NOTE_AT: usize = 81;
const NOTE_LEN_AT: usize = 82;
const QUERY_LEN_AT: usize = 84;
const NOTE_AT: usize = 96;
const QUERY_AT: usize = NOTE_AT + MAX_NOTE_BYTES;
/// The longest trigger query an entry keeps whole, in bytes; a longer
/// one is kept cut, ending in `…`.
pub const QUERY_MAX: usize = ENTRY - QUERY_AT;

const ELLIPSIS: &str = "…";

/// Why a listed snapshot was taken (the trigger's query and message are
/// fields of [`Listed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Api = 0,
    Signal = 1,
    Trigger = 2,
}

/// One entry's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed<'a> {
    pub id: u64,
    pub taken_at_us: i64,
    pub asked_from: u64,
    pub end: u64,
    pub base: u64,
    pub first: u64,
    pub did_not_fit: u64,
    pub region_start: u64,
    pub region_len: u64,
    pub why: Why,
    /// The seq of the message that fired the trigger (0 otherwise).
    pub trigger_seq: u64,
    /// The trigger's query ("" otherwise).
    pub query: &'a str,
    pub note: Option<&'a str>,
}

/// What an entry of a list holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Slot<'a> {
    Free,
    Listed(Listed<'a>),
    /// Published, but not an entry this version wrote.
    Bad,
}

/// Bytes of a list of `entries` entries (none: no list).
pub fn bytes(entries: u64) -> Option<u64> {
    match entries {
        0 => Some(0),
        n => n.checked_mul(ENTRY as u64)?.checked_add(HEAD as u64),
    }
}

/// Whether a file's snapshot geometry is one this version makes: both
/// parts or neither, the arena in whole 8 bytes and within
/// [`MAX_ARENA`], at most [`MAX_ENTRIES`] entries.
pub fn fits(space: SnapshotSpace) -> bool {
    let SnapshotSpace {
        arena_bytes,
        entries,
    } = space;
    (arena_bytes == 0) == (entries == 0)
        && arena_bytes.is_multiple_of(8)
        && arena_bytes < MAX_ARENA
        && entries <= MAX_ENTRIES
        && space.part_bytes().is_some()
}

/// How many entries `list` has room for.
pub fn entries(list: &[u8]) -> usize {
    list.len().saturating_sub(HEAD) / ENTRY
}

/// The store's counters: begun (the last id given), evicted, deleted;
/// none in a file without snapshots (no list).
pub fn counters(list: &[u8]) -> [u64; 3] {
    match list.len() >= HEAD {
        true => std::array::from_fn(|i| u64_at(list, 8 * i)),
        false => [0; 3],
    }
}

pub fn write_counters(list: &mut [u8], counters: [u64; 3]) {
    for (i, c) in counters.into_iter().enumerate() {
        put_u64(list, 8 * i, c);
    }
}

/// The id in entry `i`: 0 when it is free.
pub fn id(list: &[u8], i: usize) -> u64 {
    u64_at(list, HEAD + i * ENTRY)
}

/// Writes `e` into entry `i`, which is free, and then publishes it (its id
/// last). A query longer than [`QUERY_MAX`] is kept cut, ending in `…`.
pub fn publish(list: &mut [u8], i: usize, e: &Listed<'_>) {
    let at = HEAD + i * ENTRY;
    let entry = &mut list[at..at + ENTRY];
    entry.fill(0);
    put_u64(entry, TAKEN_AT, e.taken_at_us as u64);
    for (k, v) in [e.asked_from, e.end, e.base, e.first, e.did_not_fit]
        .into_iter()
        .enumerate()
    {
        put_u64(entry, SEQS_AT + 8 * k, v);
    }
    put_u64(entry, REGION_AT, e.region_start);
    put_u64(entry, REGION_AT + 8, e.region_len);
    put_u64(entry, TRIGGER_SEQ_AT, e.trigger_seq);
    entry[WHY_AT] = e.why as u8;
    if let Some(note) = e.note {
        // A note is at most MAX_NOTE_BYTES (`Note::new`); one that is not
        // would be cut at the same place the reader refuses it.
        let note = &note.as_bytes()[..note.len().min(MAX_NOTE_BYTES)];
        entry[HAS_NOTE_AT] = 1;
        entry[NOTE_LEN_AT..NOTE_LEN_AT + 2].copy_from_slice(&(note.len() as u16).to_le_bytes());
        entry[NOTE_AT..NOTE_AT + note.len()].copy_from_slice(note);
    }
    let query = e.query.as_bytes();
    let len = if query.len() <= QUERY_MAX {
        entry[QUERY_AT..QUERY_AT + query.len()].copy_from_slice(query);
        query.len()
    } else {
        let mut cut = QUERY_MAX - ELLIPSIS.len();
        while !e.query.is_char_boundary(cut) {
            cut -= 1;
        }
        let end = QUERY_AT + cut;
        entry[QUERY_AT..end].copy_from_slice(&query[..cut]);
        entry[end..end + ELLIPSIS.len()].copy_from_slice(ELLIPSIS.as_bytes());
        cut + ELLIPSIS.len()
    };
    entry[QUERY_LEN_AT..QUERY_LEN_AT + 2].copy_from_slice(&(len as u16).to_le_bytes());
    // Whole, then published: a process killed before this line leaves a
    // free entry.
    compiler_fence(Ordering::Release);
    put_u64(entry, 0, e.id);
}

/// Takes entry `i` out of the list: its id first, then the rest. Its
/// region may be overwritten once this returns.
pub fn unpublish(list: &mut [u8], i: usize) {
    let at = HEAD + i * ENTRY;
    put_u64(list, at, 0);
    compiler_fence(Ordering::Release);
    list[at + 8..at + ENTRY].fill(0);
}

/// Reads entry `i`, checking its fields' form (the seqs and the region
/// are the store's to check).
pub fn read(list: &[u8], i: usize) -> Slot<'_> {
    let at = HEAD + i * ENTRY;
    let entry = &list[at..at + ENTRY];
    let id = u64_at(entry, 0);
    if id == 0 {
        return Slot::Free;
    }
    let why = match entry[WHY_AT] {
        0 => Why::Api,
        1 => Why::Signal,
        2 => Why::Trigger,
        _ => return Slot::Bad,
    };
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([entry[at], entry[at + 1]]));
    let note = match entry[HAS_NOTE_AT] {
        0 => None,
        1 => {
            let len = u16_at(NOTE_LEN_AT);
            if len > MAX_NOTE_BYTES {
                return Slot::Bad;
            }
            match std::str::from_utf8(&entry[NOTE_AT..NOTE_AT + len]) {
                Ok(note) => Some(note),
                Err(_) => return Slot::Bad,
            }
        }
        _ => return Slot::Bad,
    };
    let len = u16_at(QUERY_LEN_AT);
    if len > QUERY_MAX {
        return Slot::Bad;
    }
    let Ok(query) = std::str::from_utf8(&entry[QUERY_AT..QUERY_AT + len]) else {
        return Slot::Bad;
    };
    let seq = |k: usize| u64_at(entry, SEQS_AT + 8 * k);
    Slot::Listed(Listed {
        id,
        taken_at_us: u64_at(entry, TAKEN_AT) as i64,
        asked_from: seq(0),
        end: seq(1),
        base: seq(2),
        first: seq(3),
        did_not_fit: seq(4),
        region_start: u64_at(entry, REGION_AT),
        region_len: u64_at(entry, REGION_AT + 8),
        why,
        trigger_seq: u64_at(entry, TRIGGER_SEQ_AT),
        query,
        note,
    })
}

/// Whether entry `i` is all zero: free, and holding nothing of what was
/// in it.
pub fn is_clear(list: &[u8], i: usize) -> bool {
    let at = HEAD + i * ENTRY;
    list[at..at + ENTRY].iter().all(|b| *b == 0)
}

fn u64_at(mem: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&mem[at..at + 8]);
    u64::from_le_bytes(word)
}

fn put_u64(mem: &mut [u8], at: usize, v: u64) {
    mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(query: &str, note: Option<&'static str>) -> Listed<'static> {
        let query: &'static str = Box::leak(query.to_string().into_boxed_str());
        Listed {
            id: 7,
            taken_at_us: -3,
            asked_from: 10,
            end: 20,
            base: 12,
            first: 13,
            did_not_fit: 2,
            region_start: 4096,
            region_len: 800,
            why: Why::Trigger,
            trigger_seq: 19,
            query,
            note,
        }
    }

    #[test]
    fn an_entry_reads_back_and_unpublished_leaves_nothing() {
        let mut list = vec![0u8; bytes(3).unwrap() as usize];
        assert_eq!(entries(&list), 3);
        let e = listed("sev=crit&app=kernel", Some("disk full — db1"));
        publish(&mut list, 1, &e);
        assert_eq!(read(&list, 0), Slot::Free);
        assert_eq!(read(&list, 1), Slot::Listed(e));
        assert_eq!(id(&list, 1), 7);
        write_counters(&mut list, [7, 2, 3]);
        assert_eq!(counters(&list), [7, 2, 3]);
        unpublish(&mut list, 1);
        assert_eq!(read(&list, 1), Slot::Free);
        assert!(is_clear(&list, 1));
        assert_eq!(counters(&list), [7, 2, 3]);
    }

    #[test]
    fn a_long_query_is_kept_cut_on_a_character() {
        let mut list = vec![0u8; bytes(1).unwrap() as usize];
        let long = format!("grep={}", "é".repeat(QUERY_MAX));
        publish(&mut list, 0, &listed(&long, None));
        let Slot::Listed(back) = read(&list, 0) else {
            panic!("not read back");
        };
        assert!(back.query.len() <= QUERY_MAX);
        assert!(back.query.ends_with('…'), "{}", back.query);
        assert!(long.starts_with(back.query.trim_end_matches('…')));
        let fits = "q".repeat(QUERY_MAX);
        publish(&mut list, 0, &listed(&fits, None));
        assert!(matches!(read(&list, 0), Slot::Listed(l) if l.query == fits));
    }

    #[test]
    fn an_entry_that_is_not_one_says_so() {
        let mut list = vec![0u8; bytes(1).unwrap() as usize];
        publish(&mut list, 0, &listed("", None));
        for (at, byte) in [(WHY_AT, 3), (HAS_NOTE_AT, 2), (QUERY_LEN_AT + 1, 0xff)] {
            let mut bad = list.clone();
            bad[HEAD + at] = byte;
            assert_eq!(read(&bad, 0), Slot::Bad, "byte {at}");
        }
        let mut bad = list.clone();
        bad[HEAD + HAS_NOTE_AT] = 1;
        bad[HEAD + NOTE_LEN_AT] = 1;
        bad[HEAD + NOTE_AT] = 0xff;
        assert_eq!(read(&bad, 0), Slot::Bad, "a note that is not UTF-8");
    }

    #[test]
    fn geometries_this_version_makes() {
        let space = |arena_bytes, entries| SnapshotSpace {
            arena_bytes,
            entries,
        };
        assert!(fits(SnapshotSpace::NONE));
        assert!(fits(space(16 << 20, 8)));
        assert!(!fits(space(16 << 20, 0)));
        assert!(!fits(space(0, 8)));
        assert!(!fits(space(12, 8)));
        assert!(!fits(space(MAX_ARENA, 8)));
        assert!(!fits(space(8, MAX_ENTRIES + 1)));
        assert_eq!(bytes(0), Some(0));
        assert_eq!(bytes(2), Some((HEAD + 2 * ENTRY) as u64));
        assert_eq!(QUERY_MAX, 672);
    }
}
