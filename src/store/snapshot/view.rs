//! What readers get of a snapshot: its messages ([`View`]) and what the
//! list says of it ([`Info`]).

use super::*;

/// A complete snapshot, read by seq like the ring.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub(super) arena: &'a [u8],
    pub(super) snapshot: &'a Snapshot,
}

impl<'a> View<'a> {
    pub fn id(&self) -> u64 {
        self.snapshot.id
    }

    pub fn info(&self) -> Info<'a> {
        self.snapshot.info()
    }

    /// The copied message with this seq, if the snapshot holds it.
    pub fn get(&self, seq: Seq) -> Option<Entry<'a>> {
        let s = self.snapshot;
        if seq < s.first || seq >= s.end {
            return None;
        }
        let slot = s.region.start + seq.since(s.base) as usize * TABLE_ENTRY;
        let at = u32_at(self.arena, slot) as usize * ALIGN;
        // Written by this store, or checked when it was adopted: one that
        // does not decode is a bug, and is not served.
        let r = record::decode(&self.arena[at..]);
        debug_assert!(r.is_ok(), "the record of {seq} at {at}: {r:?}");
        r.ok().map(|r| r.at(seq))
    }
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.snapshot;
        write!(f, "View {{ id: {}, seqs: {}..{} }}", s.id, s.first, s.end)
    }
}

impl Messages for View<'_> {
    fn get(&self, seq: Seq) -> Option<Entry<'_>> {
        View::get(self, seq)
    }

    fn first_seq(&self) -> Seq {
        self.snapshot.first
    }

    fn next_seq(&self) -> Seq {
        self.snapshot.end
    }

    fn arena(&self) -> &[u8] {
        self.arena
    }

    /// A snapshot's records lie oldest first in its region, one after
    /// the other.
    fn contiguous_until(&self, from: Seq, to: Seq) -> Seq {
        let s = self.snapshot;
        if from < s.first || from >= s.end {
            return from;
        }
        to.min(s.end).max(from)
    }

    fn record_start(&self, seq: Seq) -> usize {
        let s = self.snapshot;
        let slot = s.region.start + seq.saturating_since(s.base) as usize * TABLE_ENTRY;
        u32_at(self.arena, slot) as usize * ALIGN
    }
}

/// What is known of one snapshot; `first_seq..next_seq` are the seqs it
/// holds (so far, while it is being taken).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info<'a> {
    pub id: u64,
    pub why: &'a Why,
    pub taken_at_us: i64,
    pub note: Option<&'a str>,
    pub first_seq: Seq,
    pub next_seq: Seq,
    /// Arena bytes it takes.
    pub bytes: usize,
    /// Still being copied.
    pub taking: bool,
    /// Messages the ring held when it was begun.
    pub asked: u64,
    /// Older messages left out because the arena could not hold them too.
    pub did_not_fit: u64,
    /// Messages the ring evicted before they could be copied (known once
    /// done).
    pub evicted: u64,
}

impl Info<'_> {
    pub fn messages(&self) -> u64 {
        self.next_seq.since(self.first_seq)
    }

    pub fn last_seq(&self) -> Option<Seq> {
        self.next_seq.prev().filter(|&last| last >= self.first_seq)
    }

    /// Done, and holds every message the ring held when it was begun.
    pub fn complete(&self) -> bool {
        !self.taking && self.messages() == self.asked
    }

    /// One row of `GET /snapshots`, and the answer to `POST /snapshot`.
    pub fn to_json(&self) -> Value {
        let trigger = match self.why {
            Why::Trigger { seq, query } => json!({ "seq": seq, "query": query }),
            _ => Value::Null,
        };
        json!({
            "id": self.id,
            "why": self.why.name(),
            "trigger": trigger,
            "taken_at": rfc3339(self.taken_at_us),
            "taken_at_us": self.taken_at_us,
            "first_seq": self.last_seq().map(|_| self.first_seq),
            "last_seq": self.last_seq(),
            "messages": self.messages(),
            "bytes": self.bytes,
            "note": self.note,
            "taking": self.taking,
            "complete": self.complete(),
            "did_not_fit": self.did_not_fit,
            "evicted": self.evicted,
        })
    }
}

/// RFC 3339 in UTC with µs, as messages' `received`.
fn rfc3339(us: i64) -> String {
    let t = Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    DateTimePrinter::new()
        .precision(Some(6))
        .timestamp_to_string(&t)
}
