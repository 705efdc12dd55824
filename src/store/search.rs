//! `grep=`, `app=NAME` and `host=NAME` over stored messages at memory
//! speed: the needle is searched in the arena's bytes, a run of messages at
//! a time, with `memchr::memmem`, and each hit is mapped back to the
//! message that holds it, instead of a test of each message one by one.
//!
//! A hit counts when it lies where the caller's [`Place`] says in the
//! message's index: wholly in MSG for `grep=`, exactly on the app-name or
//! the hostname for `app=` and `host=`. Any other hit (in a header, in
//! another field, across two messages) is passed over, and the search goes
//! on from the next byte, so no hit in its place is missed. A message
//! stored without an index is parsed for the place's span: every field a
//! parse yields borrows from the message's bytes, so a message whose field
//! holds the needle has a hit there all the same. A source that cannot
//! hand out its records as one piece of memory
//! ([`Messages::contiguous_until`] says none) is searched message by
//! message, with the same results.

use std::ops::ControlFlow;

use memchr::memmem::Finder;

use crate::ingest::syslog::Fields;
use crate::store::messages::Messages;
use crate::store::ring::{Entry, Seq};

/// Where in a message a hit of a [`Needle`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Wholly in MSG: `grep=`.
    Msg,
    /// Exactly the app-name, first byte to last: `app=NAME`.
    AppName,
    /// Exactly the hostname: `host=NAME`.
    Hostname,
}

impl Place {
    /// The part of `f` a hit must lie in; `None` when the message has no
    /// such field.
    fn span<'a>(self, f: &Fields<'a>) -> Option<&'a [u8]> {
        match self {
            Place::Msg => Some(f.message),
            Place::AppName => f.app_name,
            Place::Hostname => f.hostname,
        }
    }

    /// Whether a needle of `len` bytes at `at..at + len` counts in `span`
    /// (both ranges of indexes of the same memory).
    fn holds(self, (start, end): (usize, usize), at: usize, len: usize) -> bool {
        match self {
            Place::Msg => start <= at && at + len <= end,
            Place::AppName | Place::Hostname => start == at && at + len == end,
        }
    }

    /// Whether the place of `f` holds `finder`'s needle: the test of one
    /// message, as a filter makes it.
    fn holds_in(self, f: &Fields<'_>, finder: &Finder<'_>) -> bool {
        match (self, self.span(f)) {
            (_, None) => false,
            (Place::Msg, Some(msg)) => finder.find(msg).is_some(),
            (Place::AppName | Place::Hostname, Some(field)) => field == finder.needle(),
        }
    }
}

/// What a search looks for, and where in a message it counts.
#[derive(Clone, Copy, Debug)]
pub struct Needle<'a> {
    pub finder: &'a Finder<'a>,
    pub place: Place,
}

/// A hit that is mapped to its message and tested costs the search about
/// as much as this many bytes searched: its budget bounds hits too, so a
/// needle that is everywhere (`app=a`) still ends a slice in time.
const HIT_BYTES: usize = 256;

/// What a search of `from..to` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// The MSG of this message holds the needle; the search found no
    /// message between it and where it began.
    At(Seq),
    /// No message on the searched side of this seq holds it: forward, none
    /// in `from..seq`; backward, none in `seq..to`. More may be left to
    /// search (the byte budget ran out) unless it is the far end.
    Through(Seq),
}

/// The first message in `from..to` whose place holds `needle`, searching
/// about `max_bytes` of the arena (at least one message).
pub fn next(m: &dyn Messages, from: Seq, to: Seq, needle: Needle<'_>, max_bytes: usize) -> Found {
    let mut found = None;
    let through = each(m, from, to, needle, max_bytes, |e| {
        found = Some(e.seq);
        ControlFlow::Break(())
    });
    found.map_or(Found::Through(through), Found::At)
}

/// Calls `f` with each message in `from..to` whose place holds `needle`,
/// oldest first, until it breaks, searching about `max_bytes` of the arena
/// (at least one message; a hit looked at costs [`HIT_BYTES`]). Returns
/// where a search goes on: every message before it was searched (the one
/// after the message `f` broke at, `to` once all were), and none after.
/// `f` is called once per message, with a message no older than `from`.
pub fn each(
    m: &dyn Messages,
    from: Seq,
    to: Seq,
    needle: Needle<'_>,
    max_bytes: usize,
    mut f: impl FnMut(Entry<'_>) -> ControlFlow<()>,
) -> Seq {
    let from = from.max(m.first_seq());
    let to = to.min(m.next_seq());
    if from >= to {
        return to;
    }
    let (finder, place) = (needle.finder, needle.place);
    let len = finder.needle().len();
    let end = m.contiguous_until(from, to);
    if len == 0 || end <= from {
        // Every MSG holds the empty text: a search of the arena would hit
        // every byte.
        return each_one_by_one(m, from, to, needle, max_bytes, f);
    }
    let arena = m.arena();
    // The run's bytes, cut to the budget at a message's start.
    let lo = m.record_start(from);
    let limit = lo.saturating_add(max_bytes.max(1));
    let end = first_starting_after(m, from.next(), end, limit);
    let hi = end_of_record(m, end.minus(1)).unwrap_or(lo);
    // INVARIANT: `at` is in `lo..=hi`, and the record of `seen` starts at
    // or before it: hits come in order, so the next is mapped from there.
    let (mut at, mut seen, mut hits) = (lo, from, 0usize);
    while let Some(i) = finder.find(&arena[at..hi]) {
        let hit = at + i;
        let seq = last_starting_at_or_before(m, seen, end, hit);
        seen = seq;
        hits += 1;
        if seq > from && (hit - lo).saturating_add(hits.saturating_mul(HIT_BYTES)) > max_bytes {
            // The budget is spent; `seq` is searched again from its start.
            return seq;
        }
        at = hit + 1;
        let Some(e) = m.get(seq) else { continue };
        if span_of(m, &e, place).is_some_and(|span| place.holds(span, hit, len)) {
            if f(e).is_break() {
                return seq.next();
            }
            // Once per message: on from the next one's record.
            if seq.next() < end {
                at = at.max(m.record_start(seq.next()).min(hi));
            } else {
                break;
            }
        }
    }
    end
}

/// The last message in `from..to` whose place holds `needle`, searching
/// about `max_bytes` of the arena back from `to`.
pub fn prev(m: &dyn Messages, from: Seq, to: Seq, needle: Needle<'_>, max_bytes: usize) -> Found {
    let from = from.max(m.first_seq());
    let to = to.min(m.next_seq());
    if from >= to {
        return Found::Through(from);
    }
    let (finder, place) = (needle.finder, needle.place);
    let len = finder.needle().len();
    // The run that holds `to - 1`, from where it starts (or `from`).
    let start = run_start(m, from, to.minus(1));
    if len == 0 || start >= to {
        return prev_one_by_one(m, from, to, needle, max_bytes);
    }
    let arena = m.arena();
    let hi = end_of_record(m, to.minus(1)).unwrap_or(0);
    let floor = hi.saturating_sub(max_bytes.max(1));
    let start = last_starting_at_or_before(m, start, to, floor).max(start);
    let lo = m.record_start(start);
    let mut top = hi;
    while let Some(hit) = rfind(finder, &arena[lo..top]).map(|i| lo + i) {
        let seq = last_starting_at_or_before(m, start, to, hit);
        if m.get(seq)
            .and_then(|e| span_of(m, &e, place))
            .is_some_and(|span| place.holds(span, hit, len))
        {
            return Found::At(seq);
        }
        // Every hit after this one was looked at: go on below it.
        top = hit + len - 1;
    }
    Found::Through(start)
}

/// About how many bytes of the arena lie from the record of `from` to
/// that of `to`, which a search from one to the other went over (at least
/// one); `None` when they do not lie in one run.
pub fn bytes_of(m: &dyn Messages, from: Seq, to: Seq) -> Option<usize> {
    let Some(last) = to.prev().filter(|&last| last > from) else {
        return Some(1);
    };
    (m.contiguous_until(from, to) >= to).then(|| {
        m.record_start(last)
            .saturating_sub(m.record_start(from))
            .max(1)
    })
}

/// Where the last `finder`'s needle in `hay` starts. Blocks are taken from
/// the end, 4 KiB first and twice as large each time up to 1 MiB, and
/// searched forward: memchr's reverse searcher has no vector code, and
/// searching back with it took three times as long as a forward search of
/// the same bytes. (The small first blocks keep a needle that is common
/// from costing more than the bytes after its last hit.)
fn rfind(finder: &Finder<'_>, hay: &[u8]) -> Option<usize> {
    const FIRST: usize = 4 << 10;
    const MOST: usize = 1 << 20;
    let needle = finder.needle().len();
    let (mut top, mut block) = (hay.len(), FIRST);
    loop {
        let lo = top.saturating_sub(block);
        // A needle that starts below `top` may end above it; none that
        // starts at `top` or above fits in here.
        let slice = &hay[lo..(top + needle).saturating_sub(1).min(hay.len())];
        let mut last = None;
        let mut at = 0;
        while let Some(i) = finder.find(&slice[at..]) {
            last = Some(at + i);
            at += i + 1;
        }
        if let Some(i) = last {
            return Some(lo + i);
        }
        if lo == 0 {
            return None;
        }
        top = lo;
        block = (block * 2).min(MOST);
    }
}

/// Where the part of `e` that `place` names lies in `m`'s arena, as a
/// range of indexes; `None` when `e` has no such field.
fn span_of(m: &dyn Messages, e: &Entry<'_>, place: Place) -> Option<(usize, usize)> {
    let base = m.arena().as_ptr() as usize;
    let field = place.span(&e.fields())?;
    let start = (field.as_ptr() as usize).checked_sub(base)?;
    Some((start, start + field.len()))
}

/// The index in the arena just past the bytes of `seq`.
fn end_of_record(m: &dyn Messages, seq: Seq) -> Option<usize> {
    let base = m.arena().as_ptr() as usize;
    let raw = m.get(seq)?.raw;
    (raw.as_ptr() as usize + raw.len()).checked_sub(base)
}

/// The first seq in `lo..hi` whose record starts after `limit` (`hi` when
/// none does); the records of `lo - 1..hi` lie in order.
fn first_starting_after(m: &dyn Messages, mut lo: Seq, mut hi: Seq, limit: usize) -> Seq {
    while lo < hi {
        let mid = lo.plus(hi.since(lo) / 2);
        if m.record_start(mid) <= limit {
            lo = mid.next();
        } else {
            hi = mid;
        }
    }
    lo
}

/// The last seq in `lo..hi` whose record starts at or before `at` (`lo`
/// when none does); the records of `lo..hi` lie in order. Gallops from
/// `lo` first: hits are often in the next few messages.
fn last_starting_at_or_before(m: &dyn Messages, lo: Seq, hi: Seq, at: usize) -> Seq {
    let mut step = 1;
    let mut below = lo;
    let mut above = hi;
    while below.plus(step) < hi {
        if m.record_start(below.plus(step)) <= at {
            below = below.plus(step);
            step *= 2;
        } else {
            above = below.plus(step);
            break;
        }
    }
    // The answer is in below..above.
    let (mut l, mut h) = (below.next(), above);
    while l < h {
        let mid = l.plus(h.since(l) / 2);
        if m.record_start(mid) <= at {
            l = mid.next();
        } else {
            h = mid;
        }
    }
    l.minus(1)
}

/// The first seq of the run of contiguous records that holds `last`,
/// within `from..=last` (`last + 1` when the source has no runs).
fn run_start(m: &dyn Messages, from: Seq, last: Seq) -> Seq {
    if m.contiguous_until(from, last.next()) > last {
        return from;
    }
    // The records from `from` break before `last`: find the run's start,
    // the first seq from which `last` is reached in one piece.
    let (mut lo, mut hi) = (from.next(), last.next());
    while lo < hi {
        let mid = lo.plus(hi.since(lo) / 2);
        if m.contiguous_until(mid, last.next()) > last {
            hi = mid;
        } else {
            lo = mid.next();
        }
    }
    if lo <= last && m.contiguous_until(lo, last.next()) > last {
        lo
    } else {
        last.next()
    }
}

fn each_one_by_one(
    m: &dyn Messages,
    from: Seq,
    to: Seq,
    needle: Needle<'_>,
    max_bytes: usize,
    mut f: impl FnMut(Entry<'_>) -> ControlFlow<()>,
) -> Seq {
    let mut seen = 0;
    for seq in Seq::range(from, to) {
        if let Some(e) = m.get(seq) {
            seen += e.raw.len();
            if needle.place.holds_in(&e.fields(), needle.finder) && f(e).is_break() {
                return seq.next();
            }
        }
        if seen >= max_bytes {
            return seq.next();
        }
    }
    to
}

fn prev_one_by_one(
    m: &dyn Messages,
    from: Seq,
    to: Seq,
    needle: Needle<'_>,
    max_bytes: usize,
) -> Found {
    let mut seen = 0;
    for seq in Seq::range(from, to).rev() {
        if let Some(e) = m.get(seq) {
            if needle.place.holds_in(&e.fields(), needle.finder) {
                return Found::At(seq);
            }
            seen += e.raw.len();
        }
        if seen >= max_bytes {
            return Found::Through(seq);
        }
    }
    Found::Through(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ring::{Config, Incoming, Ring, Transport};
    use crate::store::snapshot::{self, Snapshots, Why};
    use proptest::prelude::*;

    /// Every message found, oldest first, by repeated forward searches of
    /// `max_bytes`.
    fn all_next(m: &dyn Messages, needle: &[u8], place: Place, max_bytes: usize) -> Vec<Seq> {
        let finder = Finder::new(needle);
        let needle = Needle {
            finder: &finder,
            place,
        };
        let (mut at, to) = (m.first_seq(), m.next_seq());
        let mut found = Vec::new();
        while at < to {
            match next(m, at, to, needle, max_bytes) {
                Found::At(seq) => {
                    assert!(seq >= at, "went back");
                    found.push(seq);
                    at = seq.next();
                }
                Found::Through(seq) => {
                    assert!(seq > at, "no progress");
                    at = seq;
                }
            }
        }
        found
    }

    /// The same by [`each`], given every message it finds.
    fn all_each(m: &dyn Messages, needle: &[u8], place: Place, max_bytes: usize) -> Vec<Seq> {
        let finder = Finder::new(needle);
        let needle = Needle {
            finder: &finder,
            place,
        };
        let (mut at, to) = (m.first_seq(), m.next_seq());
        let mut found = Vec::new();
        while at < to {
            let through = each(m, at, to, needle, max_bytes, |e| {
                found.push(e.seq);
                ControlFlow::Continue(())
            });
            assert!(through > at, "no progress");
            assert!(
                found.last().is_none_or(|&s| s < through),
                "past where it stopped"
            );
            at = through;
        }
        found
    }

    /// The same searching back, newest first.
    fn all_prev(m: &dyn Messages, needle: &[u8], place: Place, max_bytes: usize) -> Vec<Seq> {
        let finder = Finder::new(needle);
        let needle = Needle {
            finder: &finder,
            place,
        };
        let (from, mut to) = (m.first_seq(), m.next_seq());
        let mut found = Vec::new();
        while to > from {
            match prev(m, from, to, needle, max_bytes) {
                Found::At(seq) => {
                    assert!(seq < to, "went forward");
                    found.push(seq);
                    to = seq;
                }
                Found::Through(seq) => {
                    assert!(seq < to, "no progress");
                    to = seq;
                }
            }
        }
        found
    }

    proptest! {
        /// The search back by forward blocks finds the last needle that a
        /// reverse search finds: needles that overlap, repeat, or lie
        /// across the blocks' edges (4 KiB, 12 KiB, 28 KiB from the end).
        #[test]
        fn the_last_needle_is_found_across_blocks(
            len in 0usize..40_000,
            needle in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 1..5),
            at in proptest::collection::vec(0usize..40_000, 0..4),
            edge in prop_oneof![Just(4096usize), Just(12_288), Just(28_672), 0usize..40_000],
        ) {
            let mut hay = vec![b'x'; len];
            for p in at.into_iter().chain([len.saturating_sub(edge + 1)]) {
                if p + needle.len() <= len {
                    hay[p..p + needle.len()].copy_from_slice(&needle);
                }
            }
            let want = memchr::memmem::FinderRev::new(&needle).rfind(&hay);
            prop_assert_eq!(rfind(&Finder::new(&needle), &hay), want);
        }
    }

    /// What a test of each message's fields finds, as a filter tests
    /// them.
    fn model(m: &dyn Messages, needle: &[u8], place: Place) -> Vec<Seq> {
        let finder = Finder::new(needle);
        Seq::range(m.first_seq(), m.next_seq())
            .filter(|&s| {
                let f = m.get(s).unwrap().fields();
                match place {
                    Place::Msg => finder.find(f.message).is_some(),
                    Place::AppName => f.app_name == Some(needle),
                    Place::Hostname => f.hostname == Some(needle),
                }
            })
            .collect()
    }

    /// Messages of three formats; the needle lands in headers, hostnames,
    /// app-names (whole, or a part of one), MSG and across messages.
    fn message(i: usize, kind: u8, text: &str) -> Vec<u8> {
        match kind % 6 {
            0 => format!("<13>1 - {text} app - - - m{i} {text}"),
            1 => format!("<13>Oct 11 22:14:15 host {text}: m{i}"),
            2 => format!("{text}{text}"),
            3 => format!("<14>1 - host app - - - {text}"),
            4 => format!("<13>1 - {text} {text} - - - {text}{text}"),
            _ => format!("<13>1 - {text}a a{text} - - - {text}"),
        }
        .into_bytes()
    }

    fn ring(messages: &[(u8, String, bool)], max: usize, arena: usize) -> Ring {
        let mut r = Ring::new(Config {
            max_messages: max,
            arena_bytes: arena,
            max_message_bytes: 200,
        })
        .unwrap();
        for (i, (kind, text, indexed)) in messages.iter().enumerate() {
            let raw = message(i, *kind, text);
            let kept = &raw[..raw.len().min(200)];
            let index = if *indexed {
                crate::ingest::syslog::index_in_utc(kept, i as i64)
            } else {
                None
            };
            let msg = Incoming {
                received_us: i as i64,
                transport: Transport::Unix,
                cred: None,
                truncated: false,
                bytes: &raw,
            };
            r.push_indexed(msg, index);
        }
        r
    }

    #[test]
    fn hits_outside_msg_are_passed_over() {
        let msgs = vec![
            (0, "NEEDLE".to_string(), true), // hostname and MSG
            (1, "NEEDLE".to_string(), true), // app-name only
            (3, "xNEEDLEx".to_string(), true),
            (1, "NEED".to_string(), true), // "NEED" then next's "LE..."
            (2, "LE".to_string(), false),
            (3, "plain".to_string(), true),
        ];
        let r = ring(&msgs, 100, 1 << 16);
        let msg = Place::Msg;
        assert_eq!(model(&r, b"NEEDLE", msg), [0, 2].map(Seq::new));
        for budget in [1, 30, 1 << 20] {
            for found in [
                all_next(&r, b"NEEDLE", msg, budget),
                all_each(&r, b"NEEDLE", msg, budget),
            ] {
                assert_eq!(found, [0, 2].map(Seq::new), "{budget}");
            }
            assert_eq!(
                all_prev(&r, b"NEEDLE", msg, budget),
                [2, 0].map(Seq::new),
                "{budget}"
            );
        }
        let all = [0, 1, 2, 3, 4, 5].map(Seq::new);
        assert_eq!(all_next(&r, b"", msg, 1 << 20), all);
        assert_eq!(all_each(&r, b"", msg, 1 << 20), all);
    }

    /// `app=` and `host=` count a hit only on the whole field: not in
    /// MSG, in the other field, in a longer name, or across messages; a
    /// message without an index is parsed for its field.
    #[test]
    fn a_name_counts_only_as_the_whole_field() {
        let msgs = vec![
            (4, "sshd".to_string(), true),  // hostname, app-name and MSG
            (5, "sshd".to_string(), true),  // "sshda", "asshd" and MSG
            (3, "sshd".to_string(), true),  // MSG only
            (1, "sshd".to_string(), false), // the app-name, no index
            (1, "ss".to_string(), true),    // "ss" then the next's "hd"
            (2, "hd".to_string(), true),
            (0, "sshd".to_string(), true), // hostname and MSG twice
        ];
        let r = ring(&msgs, 100, 1 << 16);
        for (place, want) in [
            (Place::AppName, vec![0, 3]),
            (Place::Hostname, vec![0, 6]),
            (Place::Msg, vec![0, 1, 2, 6]),
        ] {
            let want: Vec<Seq> = want.into_iter().map(Seq::new).collect();
            assert_eq!(model(&r, b"sshd", place), want, "{place:?}");
            for budget in [1, 30, 300, 1 << 20] {
                assert_eq!(
                    all_next(&r, b"sshd", place, budget),
                    want,
                    "{place:?} {budget}"
                );
                assert_eq!(
                    all_each(&r, b"sshd", place, budget),
                    want,
                    "{place:?} {budget}"
                );
                let mut back = want.clone();
                back.reverse();
                assert_eq!(
                    all_prev(&r, b"sshd", place, budget),
                    back,
                    "{place:?} {budget}"
                );
            }
        }
    }

    fn place() -> impl Strategy<Value = Place> {
        prop_oneof![
            Just(Place::Msg),
            Just(Place::AppName),
            Just(Place::Hostname)
        ]
    }

    proptest! {
        /// Over a ring that wrapped and evicted, and a snapshot of it,
        /// forward and back, whatever the budget: exactly the messages
        /// whose MSG holds the needle, or whose app-name or hostname is it.
        #[test]
        fn finds_what_a_test_of_each_message_finds(
            messages in proptest::collection::vec(
                (any::<u8>(), "[ab]{0,4}(NE)?[ab]{0,3}", any::<bool>()), 1..120),
            needle in prop_oneof![
                Just("NE".to_string()), "[ab]{1,3}", Just("NEa".to_string()),
                Just("app".to_string()), Just("host".to_string()),
            ],
            place in place(),
            max in 4usize..60,
            arena in 1024usize..4096,
            budget in prop_oneof![Just(1usize), 16usize..300, Just(1 << 20)],
        ) {
            let r = ring(&messages, max, arena);
            let needle = needle.as_bytes();
            let want = model(&r, needle, place);
            prop_assert_eq!(all_next(&r, needle, place, budget), want.clone());
            prop_assert_eq!(all_each(&r, needle, place, budget), want.clone());
            let mut back = want.clone();
            back.reverse();
            prop_assert_eq!(all_prev(&r, needle, place, budget), back.clone());

            let mut snaps = Snapshots::new(snapshot::Config {
                arena_bytes: 1 << 16,
                max_snapshots: 1,
            }).unwrap();
            let id = snaps.begin(&r, snapshot::Meta { why: Why::Api, note: None, taken_at_us: 0 }).unwrap();
            while snaps.step(&r, 1 << 20) != snapshot::Step::Idle {}
            let v = snaps.view(id).unwrap();
            prop_assert_eq!(model(&v, needle, place), want.clone());
            prop_assert_eq!(all_next(&v, needle, place, budget), want.clone());
            prop_assert_eq!(all_each(&v, needle, place, budget), want);
            prop_assert_eq!(all_prev(&v, needle, place, budget), back);
        }
    }
}
