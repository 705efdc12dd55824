//! `GET /`: the matching messages from the ring, streamed a piece at a
//! time, so that neither memory nor the loop's time grows with the ring.
//! `GET /snapshots/ID/` is the same dump of a snapshot ([`Source`]): the
//! code reads both through [`Messages`].
//!
//! A dump ends at the newest seq at its start (`X-Circolog-Last-Seq`). Its
//! first message is found by [`Seek`]: `since` and the oldest seq give the
//! lower bound, and `l=N` with a filter scans back from the end, a slice at
//! a time, for the N-th match.
//!
//! Both pass over the blocks of seqs whose summary the filter rules out
//! ([`crate::store::summary`]) before they look at a message: a rare
//! severity, app-name or unit is found without reading the ring.

use crate::daemon::{ClearGeneration, State};
use crate::http::{self, BodyLen, Method, Request};
use crate::query::Query;
use crate::query::format;
use crate::serve::fanout::FILL_MESSAGES;
use crate::store::messages::Messages;
use crate::store::ring::{Read, Seq};
use crate::store::search::{self, Found};
use crate::store::secure::Zeroize;
use crate::store::summary;

use super::{Out, WRITE_CHUNK};

/// What a dump did in one poll.
pub(super) enum Step {
    /// It worked a slice and has more to do; nothing to write yet.
    More,
    /// A piece is in the output.
    Write,
    /// The last piece is in the output (or was written).
    Done { keep_alive: bool },
    /// What it was reading is gone (a snapshot deleted, the ring cleared):
    /// the response must end without its last chunk, and the connection
    /// close, so that the client sees an error rather than a complete
    /// answer that is not.
    CutShort,
}

/// What a dump reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// The ring, as long as it is not cleared: a clear meanwhile cuts the
    /// dump short.
    Ring(ClearGeneration),
    /// A complete snapshot, looked up again at every poll: one deleted
    /// meanwhile cuts the dump short.
    Snapshot(u64),
}

impl Source {
    /// The ring as it is now: a dump of it is cut short by the next clear.
    pub(super) fn ring(st: &State) -> Source {
        Source::Ring(st.clear_generation())
    }

    /// Calls `f` with the messages this source names; `None` when they are
    /// gone: a snapshot that is not there (or not complete), a ring
    /// cleared since.
    pub(super) fn with<R>(self, st: &State, f: impl FnOnce(&dyn Messages) -> R) -> Option<R> {
        match self {
            Source::Ring(seen) => (seen == st.clear_generation()).then(|| f(st.ring())),
            Source::Snapshot(id) => st.snapshots().view(id).map(|v| f(&v)),
        }
    }
}

pub(super) struct Dump {
    source: Source,
    query: Query,
    /// Where the dump starts, while it is still being looked for.
    seek: Option<Seek>,
    /// The matches the seek found, newest first, still to render: what a
    /// dump with `l=` renders, without scanning forward again.
    picked: Option<Vec<Seq>>,
    /// The next seq to render.
    cursor: Seq,
    /// While the cursor is before it, it is in blocks the filter does not
    /// rule out: no summary is looked at until it gets there.
    open_until: Seq,
    /// The ring's next seq when the dump started: it ends there.
    end: Seq,
    chunked: bool,
    keep_alive: bool,
    /// `HEAD`: the head is all there is.
    head_only: bool,
    /// Rendered and not yet framed into the output.
    body: Vec<u8>,
}

impl Dump {
    /// Writes the response head into `out` and sets the dump up. `m` is
    /// what `source` names now.
    pub(super) fn start(
        req: &Request,
        query: Query,
        source: Source,
        m: &dyn Messages,
        st: &State,
        out: &mut Vec<u8>,
    ) -> Dump {
        let end = end_of(&query, m);
        let last = newest_given(m).map(|s| s.to_string());
        let epoch = st.epoch_us().to_string();
        let chunked = !req.http10;
        let keep_alive = req.keep_alive && chunked;
        let mut headers = Vec::with_capacity(3);
        if let Some(last) = &last {
            headers.push(("X-Circolog-Last-Seq", last.as_str()));
        }
        headers.push(("X-Circolog-Epoch", epoch.as_str()));
        // A resume from a cursor the ring has overtaken says what it lost.
        let skipped = query.since().map(|_| lost_since(&query, m).to_string());
        if let Some(n) = &skipped {
            headers.push(("X-Circolog-Skipped", n.as_str()));
        }
        http::write_head(
            out,
            200,
            Some(format::content_type(query.format)),
            if chunked {
                BodyLen::Chunked
            } else {
                BodyLen::UntilClose
            },
            keep_alive,
            &headers,
        );
        let (cursor, seek) = match Seek::new(&query, m, end) {
            Ok(start) => (start, None),
            Err(seek) => (end, Some(seek)),
        };
        Dump {
            source,
            query,
            seek,
            picked: None,
            cursor,
            open_until: Seq::ZERO,
            end,
            chunked,
            keep_alive,
            head_only: req.method == Method::Head,
            body: if chunked {
                let mut body = Vec::new();
                http::begin_chunk(&mut body);
                body
            } else {
                Vec::new()
            },
        }
    }

    pub(super) fn poll(&mut self, st: &State, out: &mut Out) -> Step {
        if self.head_only {
            return Step::Done {
                keep_alive: self.keep_alive,
            };
        }
        let source = self.source;
        match source.with(st, |m| self.fill(m, st)) {
            Some(false) => return Step::More,
            Some(true) => {}
            None => {
                // What is rendered and not sent is of messages now gone.
                self.body.zeroize();
                return Step::CutShort;
            }
        }
        let done = self.cursor >= self.end;
        if !done && self.body.len() < WRITE_CHUNK {
            return Step::More;
        }
        // The body was rendered after room for its chunk's size line:
        // framed in place, and handed over whole when nothing waits before
        // it, so that a dump's bytes are copied once, when rendered.
        let framed = if self.chunked {
            http::finish_chunk(&mut self.body)
        } else {
            !self.body.is_empty()
        };
        if framed && out.bytes.is_empty() {
            std::mem::swap(&mut out.bytes, &mut self.body);
        } else if framed {
            out.bytes.extend_from_slice(&self.body);
        }
        self.body.clear();
        if self.chunked && !done {
            http::begin_chunk(&mut self.body);
        }
        if !done {
            return Step::Write;
        }
        if self.chunked {
            http::write_last_chunk(&mut out.bytes);
        }
        Step::Done {
            keep_alive: self.keep_alive,
        }
    }

    /// Finds the start, then renders a slice into the body; false while
    /// the start is still being looked for.
    fn fill(&mut self, m: &dyn Messages, st: &State) -> bool {
        if let Some(seek) = &mut self.seek {
            match seek.step(&self.query, m) {
                Some(start) => {
                    self.cursor = start;
                    self.picked = seek.take_matches();
                    self.seek = None;
                }
                None => return false,
            }
        }
        if let Some(picked) = &mut self.picked {
            let mut rendered = 0;
            while rendered < FILL_MESSAGES && self.body.len() < WRITE_CHUNK {
                let Some(seq) = picked.pop() else {
                    self.cursor = self.end;
                    break;
                };
                // One the ring overwrote since it was found is gone.
                if let Some(e) = m.get(seq) {
                    st.render(self.query.format, &e, &mut self.body);
                    rendered += 1;
                }
            }
            return true;
        }
        let (mut looked, mut rendered, mut searched) = (0, 0, 0);
        let by_summaries = self.query.filter.tests_summaries();
        let sieve = self.query.filter.sieve();
        let needle = self.query.filter.needle_in(m);
        while self.cursor < self.end
            && looked < SCAN_MESSAGES * 16
            && rendered < FILL_MESSAGES
            && self.body.len() < WRITE_CHUNK
        {
            if by_summaries && self.cursor >= self.open_until {
                // Past the blocks the filter rules out: a sixteenth of a
                // look each.
                let filter = &self.query.filter;
                let left = SCAN_MESSAGES * 16 - looked;
                let open =
                    summary::next_open(m, self.cursor, self.end, left, &|s| filter.rules_out(s));
                looked += open.looked;
                self.cursor = open.start;
                self.open_until = open.until;
                continue;
            }
            // Nothing after it is in the same run of blocks.
            let limit = match by_summaries {
                true => self.open_until.min(self.end),
                false => self.end,
            };
            if by_summaries {
                // Past those whose PRI and tags alone say no: a sixteenth
                // of a look.
                let left = SCAN_MESSAGES * 16 - looked;
                let next = m.skip_pri(self.cursor, limit, left, &sieve);
                looked += next.since(self.cursor);
                self.cursor = next;
                if next >= limit || looked >= SCAN_MESSAGES * 16 {
                    continue;
                }
            }
            if let Some(needle) = needle {
                // Straight to the next message that holds the needle
                // (`grep=`'s text, `app=`'s or `host=`'s one name).
                if searched >= SCAN_BYTES {
                    break;
                }
                let from = self.cursor;
                match search::next(m, from, limit, needle, SCAN_BYTES) {
                    Found::At(seq) => self.cursor = seq,
                    Found::Through(seq) => {
                        self.cursor = seq;
                        // A short run between blocks passed over costs
                        // what it holds.
                        searched += search::bytes_of(m, from, seq).unwrap_or(SCAN_BYTES);
                        continue;
                    }
                }
            }
            looked += 16;
            match m.read(self.cursor) {
                Read::Entry(e) => {
                    if self.query.filter.matches_entry(&e) {
                        st.render(self.query.format, &e, &mut self.body);
                        rendered += 1;
                    }
                    self.cursor = self.cursor.next();
                }
                // Overwritten while we were writing: go on from the oldest.
                Read::Skipped(n) => self.cursor = self.cursor.plus(n),
                Read::End => self.cursor = self.end,
            }
        }
        true
    }
}

/// Messages a slice of a dump or a seek looks at, at most: testing one
/// against its index takes some nanoseconds, rendering one a microsecond,
/// so a slice renders [`FILL_MESSAGES`] at most of these. Passing over one
/// on its PRI alone counts a sixteenth.
pub(super) const SCAN_MESSAGES: u64 = 4096;

/// Bytes of the arena a slice searches for the filter's needle, at most (a
/// `memmem` search takes some hundred microseconds for this).
pub(super) const SCAN_BYTES: usize = 4 << 20;

/// The seq a dump of `m` ends before: the newest at its start, or the
/// first received at or after `until=`.
pub(super) fn end_of(q: &Query, m: &dyn Messages) -> Seq {
    match q.received().until_us {
        Some(until) => m.first_received_at(until),
        None => m.next_seq(),
    }
}

/// The cursor a response names in `X-Circolog-Last-Seq`: the newest seq
/// given before it started, stored still or not (after a clear the ring is
/// empty but seqs go on, and `since=` that seq asks for what comes next).
/// `None` while no message was ever stored: then there is no header, as
/// there is no seq a client could resume after.
pub(super) fn newest_given(m: &dyn Messages) -> Option<Seq> {
    m.next_seq().prev()
}

/// How many messages after `since` the ring (or snapshot) no longer holds
/// (none without `since`: such a reader asked for what there is).
pub(super) fn lost_since(q: &Query, m: &dyn Messages) -> u64 {
    if q.since().is_none() {
        return 0;
    }
    m.first_seq().saturating_since(q.first_seq())
}

/// The search for the first seq of a dump or a follower's backlog: the
/// last `l` matching messages after `since`.
pub(super) struct Seek {
    /// Nothing before this seq is wanted (`since`, the oldest stored).
    lower: Seq,
    /// The scan goes back from here.
    seq: Seq,
    /// While `seq` is after it, `open_from..seq` lies in blocks the filter
    /// does not rule out.
    open_from: Seq,
    found: u64,
    limit: u64,
    /// The seqs found, newest first, while there are at most
    /// [`MAX_PICKED`] to find.
    matches: Vec<Seq>,
}

/// A seek for at most this many matches keeps their seqs (8 bytes each),
/// so that they are rendered without a second scan.
const MAX_PICKED: u64 = 4096;

impl Seek {
    /// The first seq at once when no scan is needed, else the scan to run
    /// with [`Seek::step`].
    pub(super) fn new(q: &Query, m: &dyn Messages, end: Seq) -> Result<Seq, Seek> {
        // The receive times of `from=` and `until=` bound it too.
        let end = end.min(end_of(q, m));
        let mut lower = m.first_seq().max(q.first_seq());
        if let Some(from) = q.received().from_us {
            lower = lower.max(m.first_received_at(from));
        }
        let Some(limit) = q.limit else {
            return Ok(lower);
        };
        if limit == 0 {
            return Ok(end);
        }
        if q.filter.ignores_fields() {
            // Every message between the bounds is selected.
            return Ok(end.saturating_minus(limit).max(lower));
        }
        Err(Seek {
            lower,
            seq: end,
            open_from: Seq::MAX,
            found: 0,
            limit,
            matches: Vec::new(),
        })
    }

    /// Scans back [`SCAN_MESSAGES`] messages at most; the first seq once
    /// it is found.
    /// `m` holds the messages; their index says what they hold.
    pub(super) fn step(&mut self, q: &Query, m: &dyn Messages) -> Option<Seq> {
        // Messages evicted meanwhile are not wanted either.
        self.lower = self.lower.max(m.first_seq());
        let (mut looked, mut searched) = (0, 0);
        let by_summaries = q.filter.tests_summaries();
        let sieve = q.filter.sieve();
        let needle = q.filter.needle_in(m);
        while self.seq > self.lower && looked < SCAN_MESSAGES * 16 {
            if by_summaries && self.seq <= self.open_from {
                // Back past the blocks the filter rules out.
                let left = SCAN_MESSAGES * 16 - looked;
                let open =
                    summary::prev_open(m, self.lower, self.seq, left, &|s| q.filter.rules_out(s));
                looked += open.looked;
                self.seq = open.until;
                self.open_from = open.start;
                continue;
            }
            // Nothing before it is in the same run of blocks.
            let lower = match by_summaries {
                true => self.open_from.max(self.lower),
                false => self.lower,
            };
            let s = self.seq.minus(1);
            if by_summaries
                && m.pri(s)
                    .is_some_and(|p| !sieve.passes(p, m.tags(s).as_ref()))
            {
                self.seq = self.seq.minus(1);
                looked += 1;
                continue;
            }
            if let Some(needle) = needle {
                // Straight back to the last message that holds the needle.
                if searched >= SCAN_BYTES {
                    return None;
                }
                let to = self.seq;
                match search::prev(m, lower, to, needle, SCAN_BYTES) {
                    Found::At(seq) => self.seq = seq.next(),
                    Found::Through(seq) => {
                        self.seq = seq;
                        searched += search::bytes_of(m, seq, to).unwrap_or(SCAN_BYTES);
                        continue;
                    }
                }
            }
            looked += 16;
            let s = self.seq.minus(1);
            if let Some(e) = m.get(s)
                && q.filter.matches_entry(&e)
            {
                self.found += 1;
                if self.limit <= MAX_PICKED {
                    self.matches.push(s);
                }
                if self.found == self.limit {
                    return Some(s);
                }
            }
            self.seq = s;
        }
        (self.seq <= self.lower).then_some(self.lower)
    }

    /// Once [`Seek::step`] found the start: every match from there to the
    /// end, newest first, when they were few enough to keep.
    pub(super) fn take_matches(&mut self) -> Option<Vec<Seq>> {
        (self.limit <= MAX_PICKED).then(|| std::mem::take(&mut self.matches))
    }
}
