//! Taking over the snapshots a previous process left in the memory file:
//! every published one is checked before it is kept, and whatever does
//! not check out is dropped, counted and overwritten.

use std::collections::VecDeque;

use super::list::{self as snapshot_list, Listed};
use super::*;

impl Snapshots {
    /// Takes over the snapshots' part a previous process left in `mem`
    /// (as [`Snapshots::with_memory`] takes it; the file's header said it
    /// is of this geometry): every published snapshot that checks out is
    /// kept where it is, with its id; what does not is dropped and counted
    /// ([`Snapshots::restored`]), and every byte no kept snapshot owns is
    /// overwritten. The counters go on.
    pub fn adopt(config: Config, mem: Option<MmapMut>) -> Result<Snapshots, ConfigError> {
        let mut s = Snapshots::unread(config, mem)?;
        let (list_len, arena_at) = (s.list_len, s.arena_at);
        let Some(mem) = s.mem.as_deref_mut() else {
            return Ok(s);
        };
        let (list, arena) = split(mem, list_len, arena_at);
        let (found, dropped) = check_list(list, arena);
        let counters = counters_of(list, &found);
        s.snapshots = found;
        s.counters = counters;
        s.restored = Some(Adopted {
            snapshots: s.snapshots.len() as u64,
            dropped,
        });
        s.settle();
        Ok(s)
    }

    /// Keeps the snapshots of a memory file of another geometry (`old`, the
    /// whole file), checked as [`Snapshots::adopt`] checks them, in this
    /// store, which is fresh: the newest that fit its arena whole and its
    /// `max_snapshots` (each without the room the old one kept for messages
    /// the ring evicted before they were copied; those left out are counted
    /// as evicted). The old file is not changed.
    pub fn copy_from(&mut self, old: &[u8]) -> Adopted {
        debug_assert!(self.snapshots.is_empty() && self.counters == Counters::default());
        let Some((list, arena)) = file::read_geometry(old).ok().and_then(|(_, layout)| {
            let list = old.get(layout.snapshot_list.clone())?;
            let arena = old.get(layout.snapshots.clone())?;
            Some((list, arena))
        }) else {
            let adopted = Adopted::default();
            self.restored = Some(adopted);
            return adopted;
        };
        let (mut found, dropped) = check_list(list, arena);
        let old_counters = counters_of(list, &found);
        let (list_len, arena_at, arena_len) = (self.list_len, self.arena_at, self.arena_len);
        // The newest that fit, together.
        let mut room = arena_len;
        let mut keep = found.len();
        if self.mem.is_some() {
            for s in found.iter().rev() {
                let need = s.compact_len(arena);
                if found.len() - keep == self.max_snapshots || need > room {
                    break;
                }
                room -= need;
                keep -= 1;
            }
        }
        let left_out = keep as u64;
        let mut at = 0;
        for mut s in found.drain(..).skip(keep) {
            if let Some(mem) = self.mem.as_deref_mut()
                && s.first < s.end
            {
                let (_, new) = split(mem, list_len, arena_at);
                let from = s.records_at(arena);
                let table = table_len(s.end.since(s.first));
                let records = at + table;
                let block = s.region.end() - from;
                new[records..records + block].copy_from_slice(&arena[from..s.region.end()]);
                for seq in Seq::range(s.first, s.end) {
                    let old_slot = s.region.start + seq.since(s.base) as usize * TABLE_ENTRY;
                    let moved = u32_at(arena, old_slot) as usize * ALIGN - from + records;
                    let slot = at + seq.since(s.first) as usize * TABLE_ENTRY;
                    new[slot..slot + TABLE_ENTRY]
                        .copy_from_slice(&((moved / ALIGN) as u32).to_le_bytes());
                }
                s.base = s.first;
                s.region = Region {
                    start: at,
                    len: table + block,
                };
                s.zero_unowned(new);
                at += table + block;
            }
            s.entry = None;
            self.snapshots.push_back(s);
            self.publish(self.snapshots.len() - 1);
        }
        self.counters = Counters {
            evicted: old_counters.evicted.saturating_add(left_out),
            ..old_counters
        };
        self.write_counters();
        let adopted = Adopted {
            snapshots: self.snapshots.len() as u64,
            dropped,
        };
        self.restored = Some(adopted);
        adopted
    }

    /// What was adopted from a previous process's memory file
    /// ([`Snapshots::adopt`], [`Snapshots::copy_from`]); `None` for a
    /// fresh store.
    pub fn restored(&self) -> Option<Adopted> {
        self.restored
    }

    /// After an adopt: the counters written, and every byte no kept
    /// snapshot owns zero, in the list and in the arena.
    fn settle(&mut self) {
        self.write_counters();
        let (list_len, arena_at) = (self.list_len, self.arena_at);
        let Some(mem) = self.mem.as_deref_mut() else {
            return;
        };
        mem[list_len..arena_at].fill(0);
        let (list, arena) = split(mem, list_len, arena_at);
        for i in 0..snapshot_list::entries(list) {
            if !self.snapshots.iter().any(|s| s.entry == Some(i)) {
                snapshot_list::unpublish(list, i);
            }
        }
        let mut placed: Vec<&Snapshot> =
            self.snapshots.iter().filter(|s| s.region.len > 0).collect();
        placed.sort_by_key(|s| s.region.start);
        let mut at = 0;
        for s in placed {
            arena[at..s.region.start].fill(0);
            s.zero_unowned(arena);
            at = s.region.end();
        }
        arena[at..].fill(0);
    }
}

impl Snapshot {
    /// A snapshot a list entry says, if it checks out against `arena`:
    /// its seqs in order, and when it holds messages, its region in the
    /// arena with a table and the records of `first..end` one after the
    /// other to the region's end, each decoding whole.
    pub(super) fn checked(l: &Listed<'_>, arena: &[u8]) -> Option<Snapshot> {
        let Listed {
            id,
            taken_at_us,
            asked_from,
            end,
            base,
            first,
            did_not_fit,
            region_start,
            region_len,
            why,
            trigger_seq,
            query,
            note,
        } = *l;
        let in_order = asked_from <= base && base <= first && first <= end && end < SEQ_LIMIT;
        if id >= SEQ_LIMIT || !in_order || did_not_fit > first - asked_from {
            return None;
        }
        let note = match note {
            Some(text) => Some(Note::new(text).ok()?),
            None => None,
        };
        let why = match why {
            snapshot_list::Why::Api => Why::Api,
            snapshot_list::Why::Signal => Why::Signal,
            snapshot_list::Why::Trigger => Why::Trigger {
                seq: Seq::new(trigger_seq),
                query: query.to_string(),
            },
        };
        let region = Region {
            start: usize::try_from(region_start).ok()?,
            len: usize::try_from(region_len).ok()?,
        };
        let s = Snapshot {
            id,
            meta: Meta {
                why,
                taken_at_us,
                note,
            },
            asked_from: Seq::new(asked_from),
            end: Seq::new(end),
            base: Seq::new(base),
            first: Seq::new(first),
            did_not_fit,
            region,
            phase: Phase::Done,
            entry: None,
        };
        match first == end {
            true => (region == Region::NONE).then_some(s),
            false => s.records_check_out(arena).then_some(s),
        }
    }

    /// Whether its region holds what [`Snapshot::copy`] writes: see
    /// [`Snapshot::checked`].
    fn records_check_out(&self, arena: &[u8]) -> bool {
        let r = self.region;
        let Some(region_end) = r.start.checked_add(r.len) else {
            return false;
        };
        let count = self.end.since(self.base);
        if r.len == 0
            || !r.start.is_multiple_of(ALIGN)
            || !r.len.is_multiple_of(ALIGN)
            || region_end > arena.len()
            || count > (r.len / TABLE_ENTRY) as u64
        {
            return false;
        }
        // The lowest a record may start: after the table.
        let mut at = r.start + table_len(count);
        for seq in Seq::range(self.first, self.end) {
            let slot = r.start + seq.since(self.base) as usize * TABLE_ENTRY;
            let start = u32_at(arena, slot) as usize * ALIGN;
            let placed = match seq == self.first {
                true => start >= at,
                false => start == at,
            };
            if !placed || start >= region_end {
                return false;
            }
            let Ok(record) = record::decode(&arena[start..region_end]) else {
                return false;
            };
            at = start + record.encoded_len().next_multiple_of(ALIGN);
        }
        at == region_end
    }

    /// Zeroes what of its region no record it holds owns: the table
    /// entries of messages it does not hold, the table's padding, the room
    /// kept for messages evicted before they were copied, each record's
    /// padding. Its records check out.
    pub(super) fn zero_unowned(&self, arena: &mut [u8]) {
        let r = self.region;
        if r.len == 0 {
            return;
        }
        let count = self.end.since(self.base) as usize;
        let left_out = self.first.since(self.base) as usize;
        arena[r.start..r.start + left_out * TABLE_ENTRY].fill(0);
        arena[r.start + count * TABLE_ENTRY..r.start + table_len(count as u64)].fill(0);
        let mut at = r.start + table_len(count as u64);
        for seq in Seq::range(self.first, self.end) {
            let slot = r.start + seq.since(self.base) as usize * TABLE_ENTRY;
            let start = u32_at(arena, slot) as usize * ALIGN;
            arena[at..start].fill(0);
            let len = record::decode(&arena[start..r.end()])
                .expect("checked by records_check_out")
                .encoded_len();
            at = start + len;
        }
        arena[at..r.end()].fill(0);
    }
}

/// Whether `regions`, oldest first, lie as the store puts them (see the
/// invariant of [`Snapshots`]): disjoint, their starts increasing but for
/// at most one drop, after which every region ends at or before the
/// oldest one's start.
pub(super) fn in_circular_order(regions: &[Region]) -> bool {
    let mut drops = 0;
    for pair in regions.windows(2) {
        if pair[1].start < pair[0].start {
            drops += 1;
        } else if pair[1].start < pair[0].end() {
            return false;
        }
    }
    match (regions.first(), regions.last()) {
        (Some(first), Some(last)) => drops == 0 || (drops == 1 && last.end() <= first.start),
        _ => true,
    }
}

/// The snapshots a list says that check out against `arena`, oldest
/// first, and how many published ones did not. Each is checked on its own
/// ([`Snapshot::checked`]); then, from the newest back, one whose region
/// does not lie where the store would have put it after the newer ones
/// (see [`in_circular_order`]) is dropped too, as is a second with an id
/// already kept.
fn check_list(list: &[u8], arena: &[u8]) -> (VecDeque<Snapshot>, u64) {
    let mut found = Vec::new();
    let mut dropped = 0;
    for k in 0..snapshot_list::entries(list) {
        match snapshot_list::read(list, k) {
            Slot::Free => {}
            Slot::Bad => dropped += 1,
            Slot::Listed(l) => match Snapshot::checked(&l, arena) {
                Some(s) => found.push(Snapshot {
                    entry: Some(k),
                    ..s
                }),
                None => dropped += 1,
            },
        }
    }
    found.sort_by_key(|s| s.id);
    let mut kept: VecDeque<Snapshot> = VecDeque::with_capacity(found.len());
    let mut regions: VecDeque<Region> = VecDeque::with_capacity(found.len());
    for s in found.into_iter().rev() {
        if kept.front().is_some_and(|k| k.id == s.id) {
            dropped += 1;
            continue;
        }
        if s.region.len > 0 {
            regions.push_front(s.region);
            if !in_circular_order(regions.make_contiguous()) {
                regions.pop_front();
                dropped += 1;
                continue;
            }
        }
        kept.push_front(s);
    }
    (kept, dropped)
}

/// The counters a list says, for a store that keeps `kept`: an id is
/// never given twice, and a count no process could have reached is read
/// as none.
fn counters_of(list: &[u8], kept: &VecDeque<Snapshot>) -> Counters {
    let [taken, evicted, deleted] = snapshot_list::counters(list).map(|c| match c < SEQ_LIMIT {
        true => c,
        false => 0,
    });
    let newest = kept.iter().map(|s| s.id).max().unwrap_or(0);
    Counters {
        taken: taken.max(newest),
        evicted,
        deleted,
    }
}

/// Where the first byte that is not zero is. Tested a chunk at a time
/// without a branch per byte, so that a fuzzer's checks stay cheap.
pub(super) fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    for chunk in bytes.chunks(256) {
        if chunk.iter().fold(0, |acc, &b| acc | b) != 0 {
            return chunk.iter().position(|&b| b != 0).map(|i| at + i);
        }
        at += chunk.len();
    }
    None
}
