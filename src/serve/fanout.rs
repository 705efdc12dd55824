//! Websocket frames rendered once for every follower that shares a format
//! and filter.
//!
//! A hundred followers of `GET /ws?fmt=json` want the same bytes for every
//! new message. A [`FrameLog`] holds those bytes for the most recent
//! messages as a queue of immutable chunks, each the frames of a run of
//! consecutive seqs. The first follower to find new messages in the ring
//! renders them into a new chunk ([`FrameLog::extend`]); every follower then
//! writes straight from the chunks ([`FrameLog::take`] hands out
//! reference-counted slices, so a write copies nothing in user space).
//!
//! The log keeps a chunk while a registered follower still needs it, and at
//! most about `max_bytes` in all. A clear empties the log. A run of blocks
//! of seqs whose summary the filter rules out ([`crate::store::summary`])
//! is one chunk without frames ([`FrameLog::pass_over`]): a backlog of a
//! rare severity or unit is not rendered message by message.
//!
//! A [`Fanout`] owns the logs of every followed query (keyed by the parsed
//! query, [`ShareKey`]): two of them, `live` for the followers at the
//! newest messages and `behind` for those that fell behind it (a reader
//! that stalled, a backlog older than `live`), so that they too render each
//! message once between them. A follower joins with [`Fanout::join`],
//! gets its next frames from [`Fanout::fill`] and leaves with
//! [`Fanout::leave`]; [`Fill`] says where its frames came from.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::daemon::{ClearGeneration, State};
use crate::query::format::{self, Notice};
use crate::query::{Query, ShareKey};
use crate::serve::ws;
use crate::store::ring::{Entry, Read, Seq};
use crate::store::summary;

/// The frames of the messages `from..to` that pass the log's filter.
struct Chunk {
    from: Seq,
    to: Seq,
    frames: Bytes,
    /// For each seq in `from..to`, where in `frames` its frame (or, when it
    /// did not match, the next one) starts; empty when `frames` is.
    offsets: Box<[u32]>,
}

impl Chunk {
    fn offset(&self, seq: Seq) -> usize {
        let i = seq.since(self.from) as usize;
        self.offsets.get(i).map_or(0, |&at| at as usize)
    }
}

/// Rendered frames for the most recent messages, shared by the followers of
/// one query.
pub struct FrameLog {
    /// Consecutive: each chunk's `from` is the previous one's `to`.
    chunks: VecDeque<Chunk>,
    bytes: usize,
    max_bytes: usize,
    /// The clear the chunks were rendered after.
    clears: ClearGeneration,
    /// Where each registered follower is (`None`: a free slot).
    cursors: Vec<Option<Seq>>,
}

impl FrameLog {
    /// An empty log that keeps about `max_bytes` of frames at most.
    pub fn new(max_bytes: usize) -> FrameLog {
        FrameLog {
            chunks: VecDeque::new(),
            bytes: 0,
            max_bytes,
            clears: ClearGeneration::default(),
            cursors: Vec::new(),
        }
    }

    /// Seqs the log holds frames for.
    pub fn range(&self) -> Option<(Seq, Seq)> {
        Some((self.chunks.front()?.from, self.chunks.back()?.to))
    }

    /// Bytes of frames held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A follower now at `cursor` starts using the log; its chunks are kept
    /// until it has passed them. Returns its slot.
    pub fn register(&mut self, cursor: Seq) -> usize {
        match self.cursors.iter().position(Option::is_none) {
            Some(i) => {
                self.cursors[i] = Some(cursor);
                i
            }
            None => {
                self.cursors.push(Some(cursor));
                self.cursors.len() - 1
            }
        }
    }

    /// The follower in `slot` is gone.
    pub fn unregister(&mut self, slot: usize) {
        if let Some(c) = self.cursors.get_mut(slot) {
            *c = None;
        }
        self.trim();
    }

    /// The follower in `slot` has everything before `cursor`. The chunks
    /// every follower has passed go at the next [`FrameLog::extend`] (once
    /// per batch of new messages, rather than once per follower).
    pub fn advance(&mut self, slot: usize, cursor: Seq) {
        if let Some(c) = self.cursors.get_mut(slot) {
            *c = Some(cursor);
        }
    }

    /// Drops the chunks every follower has passed, and the oldest ones
    /// beyond `max_bytes` (the newest chunk always stays). [`FrameLog::extend`]
    /// and [`FrameLog::unregister`] do it too.
    pub fn trim(&mut self) {
        let min = self.cursors.iter().flatten().min().copied();
        while let Some(front) = self.chunks.front() {
            let passed = min.is_some_and(|m| front.to <= m);
            let over = self.bytes > self.max_bytes && self.chunks.len() > 1;
            if !(passed || over) {
                break;
            }
            self.bytes -= front.frames.len();
            self.chunks.pop_front();
        }
    }

    /// Renders the messages stored after the log's end (or from `start`,
    /// when the log is empty), at most `max` of them, as one new chunk.
    /// Returns how many seqs the log moved forward.
    ///
    /// `scratch` is a buffer for one rendered line.
    pub fn extend(
        &mut self,
        st: &State,
        q: &Query,
        start: Seq,
        max: u64,
        scratch: &mut Vec<u8>,
    ) -> u64 {
        let from = self.end_or(st, start);
        let ring = st.ring();
        let to = ring.next_seq().min(from.saturating_plus(max));
        if to <= from {
            return 0;
        }
        let mut frames = Vec::with_capacity((to.since(from) as usize).saturating_mul(256));
        let mut offsets = Vec::with_capacity(to.since(from) as usize);
        for seq in Seq::range(from, to) {
            offsets.push(u32::try_from(frames.len()).unwrap_or(u32::MAX));
            if let Some(e) = ring.get(seq) {
                push_message(st, q, &e, scratch, &mut frames);
            }
        }
        self.bytes += frames.len();
        self.chunks.push_back(Chunk {
            from,
            to,
            frames: Bytes::from(frames),
            offsets: offsets.into_boxed_slice(),
        });
        self.trim();
        to.since(from)
    }

    /// Passes over the messages stored after the log's end (or from
    /// `start`, when the log is empty) that lie in blocks `q`'s filter
    /// rules out, up to `until` at most, as one new chunk without frames.
    /// Returns how many seqs the log moved forward. Call it before
    /// [`FrameLog::extend`], which renders from where it stopped.
    pub fn pass_over(&mut self, st: &State, q: &Query, start: Seq, until: Seq) -> u64 {
        if !q.filter.tests_summaries() {
            return 0;
        }
        let from = self.end_or(st, start);
        let ring = st.ring();
        let to = until.min(ring.next_seq());
        if to <= from {
            return 0;
        }
        let filter = &q.filter;
        let open = summary::next_open(ring, from, to, PASS_BLOCKS, &|s| filter.rules_out(s));
        if open.start <= from {
            return 0;
        }
        self.chunks.push_back(Chunk {
            from,
            to: open.start,
            frames: Bytes::new(),
            offsets: Box::default(),
        });
        self.trim();
        open.start.since(from)
    }

    /// Where the log goes on from: its end, or `start` when it is empty;
    /// after a clear, or once the ring overwrote what it did not reach, it
    /// is emptied and goes on from the oldest stored.
    fn end_or(&mut self, st: &State, start: Seq) -> Seq {
        if st.clear_generation() != self.clears {
            self.clears = st.clear_generation();
            self.clear();
        }
        self.trim();
        let ring = st.ring();
        let from = self.range().map_or(start, |(_, end)| end);
        if from < ring.first_seq() {
            // The ring overwrote messages before they were rendered: the
            // chunks must stay consecutive, so start again at the oldest.
            self.clear();
            return ring.first_seq();
        }
        from
    }

    /// The frames from `cursor` on, appended to `out` as slices of the log:
    /// about `max_bytes` at most (at least one chunk's worth) in at most
    /// `max_slices` slices. Returns the seq after them, or `None` when the
    /// log does not hold `cursor` (it is before the log, or nothing newer
    /// is rendered). Call [`FrameLog::extend`] first: that is where the log
    /// notices a clear.
    pub fn take(
        &self,
        cursor: Seq,
        max_bytes: usize,
        max_slices: usize,
        out: &mut Vec<Bytes>,
    ) -> Option<Seq> {
        let at = self.chunks.partition_point(|c| c.to <= cursor);
        let first = self.chunks.get(at)?;
        if first.from > cursor {
            return None;
        }
        let (mut bytes, mut slices) = (0, 0);
        let mut next = cursor;
        for c in self.chunks.range(at..) {
            if bytes >= max_bytes || slices >= max_slices.max(1) {
                break;
            }
            let start = if c.from < cursor { c.offset(cursor) } else { 0 };
            if start < c.frames.len() {
                out.push(c.frames.slice(start..));
                bytes += c.frames.len() - start;
                slices += 1;
            }
            next = c.to;
        }
        Some(next)
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.bytes = 0;
    }
}

/// Distinct followed queries with shared frame logs; followers of any other
/// query render their own frames.
pub const MAX_QUERIES: usize = 16;
/// Frames a log keeps at most, for followers that fall behind.
const LOG_BYTES: usize = 4 << 20;
/// Frames one fill takes from a log at most, in bytes and in slices.
const TAKE_BYTES: usize = 256 * 1024;
const TAKE_SLICES: usize = 64;
/// Messages one fill renders or looks at, at most: the event loop gets
/// control back after about this much work, whatever the filter finds.
pub const FILL_MESSAGES: u64 = 256;
/// A fill that renders a follower's own frames stops past this many bytes.
const OWN_BYTES: usize = 64 * 1024;
/// Block summaries one fill looks at, at most, to pass over the blocks a
/// filter rules out: each costs about a sixteenth of a message looked at.
const PASS_BLOCKS: u64 = FILL_MESSAGES * 16;

/// The frame logs of one followed query.
struct Followed {
    key: ShareKey,
    live: FrameLog,
    behind: FrameLog,
    members: usize,
}

/// The frame logs of every followed query, and who follows them. One owner
/// (the event loop's state); followers hold [`Follower`] handles.
#[derive(Default)]
pub struct Fanout {
    /// INVARIANT: a `Some` slot has `members > 0`; at most [`MAX_QUERIES`] slots.
    queries: Vec<Option<Followed>>,
}

/// A follower's places in its query's frame logs. Not `Clone`: it is given
/// back with [`Fanout::leave`].
#[derive(Debug)]
pub struct Follower {
    query: usize,
    live: usize,
    behind: usize,
    /// Its place in `behind` is where it is (else past everything there).
    is_behind: bool,
}

/// Where [`Fanout::fill`] found a follower's next frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Slices of the query's live log, in `shared`.
    Live,
    /// Slices of the query's log for followers behind the live one.
    Behind,
    /// Rendered for this follower alone, in `out` (notices of skipped
    /// messages included): a query without logs, or a follower behind
    /// both. The cursor moved, though the filter may have matched nothing.
    Own,
    /// Nothing new.
    UpToDate,
}

impl Fanout {
    pub fn new() -> Fanout {
        Fanout::default()
    }

    /// Queries followed with shared logs now.
    pub fn queries(&self) -> usize {
        self.queries.iter().flatten().count()
    }

    /// A follower of `q` now at `cursor` joins its query's logs, which are
    /// made if need be; `None` when [`MAX_QUERIES`] other queries are
    /// followed already (it then renders its own frames).
    pub fn join(&mut self, q: &Query, cursor: Seq) -> Option<Follower> {
        let key = q.share_key();
        let found = self
            .queries
            .iter()
            .position(|f| f.as_ref().is_some_and(|f| f.key == key));
        let index = match found {
            Some(i) => i,
            None => {
                let free = self.queries.iter().position(Option::is_none);
                let i = match free {
                    Some(i) => i,
                    None if self.queries.len() < MAX_QUERIES => {
                        self.queries.push(None);
                        self.queries.len() - 1
                    }
                    None => return None,
                };
                self.queries[i] = Some(Followed {
                    key,
                    live: FrameLog::new(LOG_BYTES),
                    behind: FrameLog::new(LOG_BYTES),
                    members: 0,
                });
                i
            }
        };
        let f = self.queries[index].as_mut()?;
        f.members += 1;
        Some(Follower {
            query: index,
            live: f.live.register(cursor),
            // Not behind until it finds itself before the live log.
            behind: f.behind.register(Seq::MAX),
            is_behind: false,
        })
    }

    /// The follower is gone; the logs of a query nobody follows go too.
    pub fn leave(&mut self, follower: Follower) {
        let Some(slot) = self.queries.get_mut(follower.query) else {
            return;
        };
        if let Some(f) = slot {
            f.live.unregister(follower.live);
            f.behind.unregister(follower.behind);
            f.members -= 1;
            if f.members == 0 {
                *slot = None;
            }
        }
    }

    /// Gathers the frames a follower of `q` at `cursor` is to be sent next,
    /// and moves the cursor past them. With a handle: slices of the live
    /// log when it holds the cursor, after rendering into it what is new;
    /// else slices of the behind log when the cursor is older, after
    /// rendering into it what comes next. Otherwise (no handle, or behind
    /// both logs) frames rendered here into `out` until the cursor reaches
    /// a log, and a notice of what the ring overwrote first (counted in
    /// the state). Looks at [`FILL_MESSAGES`] messages at most.
    ///
    /// `scratch` is a buffer for one rendered line.
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &mut self,
        follower: Option<&mut Follower>,
        st: &mut State,
        q: &Query,
        now_us: i64,
        cursor: &mut Seq,
        out: &mut Vec<u8>,
        shared: &mut Vec<Bytes>,
        scratch: &mut Vec<u8>,
    ) -> Fill {
        let mut stop = Seq::MAX;
        let mut place = None;
        if let Some(h) = follower
            && let Some(Some(f)) = self.queries.get_mut(h.query)
        {
            f.live.pass_over(st, q, *cursor, Seq::MAX);
            f.live.extend(st, q, *cursor, FILL_MESSAGES, scratch);
            if let Some(next) = f.live.take(*cursor, TAKE_BYTES, TAKE_SLICES, shared) {
                *cursor = next;
                f.live.advance(h.live, next);
                if h.is_behind {
                    h.is_behind = false;
                    f.behind.advance(h.behind, Seq::MAX);
                    f.behind.trim();
                }
                return Fill::Live;
            }
            let first = match f.live.range() {
                Some((first, _)) if *cursor < first => first,
                _ => return Fill::UpToDate,
            };
            // Behind the live log: the followers there share another.
            h.is_behind = true;
            f.behind.advance(h.behind, *cursor);
            f.behind.pass_over(st, q, *cursor, first);
            let from = f.behind.range().map_or(*cursor, |(_, end)| end);
            let max = FILL_MESSAGES.min(first.saturating_since(from));
            if max > 0 {
                f.behind.extend(st, q, *cursor, max, scratch);
            }
            if let Some(next) = f.behind.take(*cursor, TAKE_BYTES, TAKE_SLICES, shared) {
                *cursor = next;
                f.live.advance(h.live, next);
                f.behind.advance(h.behind, next);
                return Fill::Behind;
            }
            stop = match f.behind.range() {
                Some((b, _)) if *cursor < b => b.min(first),
                _ => first,
            };
            place = Some((f, h));
        }
        let start = *cursor;
        let ring = st.ring();
        if q.filter.tests_summaries() && start >= ring.first_seq() {
            // Past the blocks the filter rules out (overwritten ones are
            // read, to be told of).
            let to = stop.min(ring.next_seq());
            let filter = &q.filter;
            *cursor = summary::next_open(ring, start, to, PASS_BLOCKS, &|s| filter.rules_out(s))
                .start
                .max(start);
        }
        let end = stop.min(cursor.saturating_plus(FILL_MESSAGES));
        while out.len() < OWN_BYTES && *cursor < end {
            match st.ring().read(*cursor) {
                Read::Entry(e) => {
                    *cursor = cursor.next();
                    push_message(st, q, &e, scratch, out);
                }
                Read::Skipped(n) => {
                    *cursor = cursor.plus(n);
                    st.count_skipped(n);
                    scratch.clear();
                    let notice = Notice::Skipped(n);
                    format::render_notice(q.format, &notice, st.epoch_us(), now_us, scratch);
                    push_text(out, scratch);
                }
                Read::End => break,
            }
        }
        if let Some((f, h)) = place {
            f.live.advance(h.live, *cursor);
            if h.is_behind {
                f.behind.advance(h.behind, *cursor);
            }
        }
        if *cursor == start {
            Fill::UpToDate
        } else {
            Fill::Own
        }
    }
}

/// Appends the frame of the stored message `e` when it passes `q`'s filter;
/// `scratch` holds the rendered line meanwhile.
pub fn push_message(
    st: &State,
    q: &Query,
    e: &Entry<'_>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    if q.filter.matches_entry(e) {
        scratch.clear();
        st.render(q.format, e, scratch);
        push_text(out, scratch);
    }
}

/// Appends one rendered line as one websocket text frame, without the line
/// feed a renderer ends it with. A text frame must be UTF-8 (RFC 6455
/// §5.6), and `raw` and `syslog` pass a message's bytes through: bytes that
/// are not UTF-8 are replaced with U+FFFD, as in JSON.
pub fn push_text(out: &mut Vec<u8>, line: &[u8]) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(_) => ws::write_text(out, line),
        Err(_) => ws::write_text(out, String::from_utf8_lossy(line).as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::syslog::ParseContext;
    use crate::store::ring::{Config, Incoming, Ring, Transport};

    fn state(max_messages: usize) -> State {
        let ring = Ring::new(Config {
            max_messages,
            arena_bytes: 1 << 20,
            max_message_bytes: 1024,
        })
        .expect("ring");
        State::new(
            ring,
            1,
            ParseContext {
                tz: jiff::tz::TimeZone::UTC,
            },
        )
    }

    fn store(st: &mut State, text: &str) {
        st.ingest(Incoming {
            received_us: 1_700_000_000_000_000,
            transport: Transport::Unix,
            cred: None,
            truncated: false,
            bytes: text.as_bytes(),
        });
    }

    fn query(q: &str) -> Query {
        Query::parse(q, 0).expect("query")
    }

    /// The payloads of the (unmasked, text) frames in `slices`.
    fn payloads(slices: &[Bytes]) -> Vec<String> {
        let all: Vec<u8> = slices.iter().flat_map(|b| b.iter().copied()).collect();
        let mut out = Vec::new();
        let mut p = 0;
        while p < all.len() {
            assert_eq!(all[p], 0x81, "a final text frame");
            let (hdr, len) = match all[p + 1] {
                126 => (4, u16::from_be_bytes([all[p + 2], all[p + 3]]) as usize),
                n => (2, usize::from(n)),
            };
            out.push(String::from_utf8(all[p + hdr..p + hdr + len].to_vec()).expect("UTF-8"));
            p += hdr + len;
        }
        assert_eq!(p, all.len(), "a frame was cut");
        out
    }

    #[test]
    fn renders_once_and_hands_out_the_same_bytes_from_any_cursor() {
        let mut st = state(100);
        for i in 0..10 {
            store(&mut st, &format!("<13>1 - h app - - - m{i}"));
        }
        let q = query("fmt=raw");
        let mut log = FrameLog::new(1 << 20);
        let mut scratch = Vec::new();
        assert_eq!(log.extend(&st, &q, Seq::ZERO, 4, &mut scratch), 4);
        assert_eq!(log.extend(&st, &q, Seq::ZERO, 100, &mut scratch), 6);
        assert_eq!(log.extend(&st, &q, Seq::ZERO, 100, &mut scratch), 0);
        assert_eq!(log.range(), Some((Seq::ZERO, Seq::new(10))));

        let mut out = Vec::new();
        assert_eq!(
            log.take(Seq::ZERO, 1 << 20, 64, &mut out),
            Some(Seq::new(10))
        );
        let all = payloads(&out);
        assert_eq!(all.len(), 10);
        assert_eq!(all[0], "<13>1 - h app - - - m0");
        assert_eq!(all[9], "<13>1 - h app - - - m9");

        // From the middle of the first chunk, and of the second.
        for from in [2u64, 5] {
            let mut out = Vec::new();
            assert_eq!(
                log.take(Seq::new(from), 1 << 20, 64, &mut out),
                Some(Seq::new(10))
            );
            assert_eq!(payloads(&out), all[from as usize..].to_vec());
        }
        // Nothing newer than the end.
        assert_eq!(log.take(Seq::new(10), 1 << 20, 64, &mut Vec::new()), None);
    }

    #[test]
    fn a_filter_keeps_only_matching_frames_at_every_offset() {
        let mut st = state(100);
        for i in 0..8 {
            let sev = if i % 2 == 0 { 3 } else { 6 };
            store(&mut st, &format!("<{sev}>1 - h app - - - m{i}"));
        }
        let q = query("fmt=raw&sev=err");
        let mut log = FrameLog::new(1 << 20);
        log.extend(&st, &q, Seq::ZERO, 100, &mut Vec::new());
        for from in 0..8u64 {
            let mut out = Vec::new();
            assert_eq!(
                log.take(Seq::new(from), 1 << 20, 64, &mut out),
                Some(Seq::new(8))
            );
            let want: Vec<String> = (from..8)
                .filter(|i| i % 2 == 0)
                .map(|i| format!("<3>1 - h app - - - m{i}"))
                .collect();
            assert_eq!(payloads(&out), want, "from {from}");
        }
    }

    #[test]
    fn a_cursor_before_the_log_is_not_served() {
        let mut st = state(100);
        for i in 0..6 {
            store(&mut st, &format!("m{i}"));
        }
        let mut log = FrameLog::new(1 << 20);
        log.extend(&st, &query("fmt=raw"), Seq::new(3), 100, &mut Vec::new());
        assert_eq!(log.range(), Some((Seq::new(3), Seq::new(6))));
        assert_eq!(log.take(Seq::new(2), 1 << 20, 64, &mut Vec::new()), None);
        assert_eq!(
            log.take(Seq::new(3), 1 << 20, 64, &mut Vec::new()),
            Some(Seq::new(6))
        );
    }

    #[test]
    fn chunks_go_once_every_follower_has_passed_them() {
        let mut st = state(100);
        let q = query("fmt=raw");
        let mut log = FrameLog::new(1 << 20);
        let mut scratch = Vec::new();
        let a = log.register(Seq::ZERO);
        let b = log.register(Seq::ZERO);
        for i in 0..3 {
            store(&mut st, &format!("m{i}"));
            log.extend(&st, &q, Seq::ZERO, 100, &mut scratch);
        }
        assert_eq!(log.range(), Some((Seq::ZERO, Seq::new(3))));
        log.advance(a, Seq::new(3));
        log.extend(&st, &q, Seq::ZERO, 100, &mut scratch);
        assert_eq!(
            log.range(),
            Some((Seq::ZERO, Seq::new(3))),
            "b still needs them"
        );
        log.advance(b, Seq::new(2));
        log.extend(&st, &q, Seq::ZERO, 100, &mut scratch);
        assert_eq!(log.range(), Some((Seq::new(2), Seq::new(3))));
        log.unregister(b);
        assert_eq!(log.range(), None, "a has everything");
        // A freed slot is reused.
        assert_eq!(log.register(Seq::new(3)), b);
    }

    #[test]
    fn a_stalled_follower_holds_at_most_max_bytes() {
        let mut st = state(10_000);
        let q = query("fmt=raw");
        let mut log = FrameLog::new(4096);
        let mut scratch = Vec::new();
        let _stalled = log.register(Seq::ZERO);
        for i in 0..1000 {
            store(&mut st, &format!("message number {i} with some text"));
            log.extend(&st, &q, Seq::ZERO, 100, &mut scratch);
        }
        assert!(log.bytes() <= 4096 + 64, "{} bytes held", log.bytes());
        let (first, end) = log.range().expect("the newest chunks stay");
        assert_eq!(end, Seq::new(1000));
        assert!(first > Seq::ZERO);
        assert_eq!(log.take(Seq::ZERO, 1 << 20, 64, &mut Vec::new()), None);
    }

    #[test]
    fn overwritten_and_cleared_messages_are_never_served() {
        let mut st = state(4);
        let q = query("fmt=raw");
        let mut log = FrameLog::new(1 << 20);
        let mut scratch = Vec::new();
        let _f = log.register(Seq::ZERO);
        store(&mut st, "a");
        log.extend(&st, &q, Seq::ZERO, 100, &mut scratch);
        // Six more: the ring (4 messages) drops seqs 1 and 2 before they
        // are rendered, so the log starts again at the oldest stored.
        for t in ["b", "c", "d", "e", "f", "g"] {
            store(&mut st, t);
        }
        log.extend(&st, &q, Seq::ZERO, 100, &mut scratch);
        assert_eq!(log.range(), Some((Seq::new(3), Seq::new(7))));

        st.clear();
        store(&mut st, "after");
        assert_eq!(log.extend(&st, &q, Seq::ZERO, 100, &mut scratch), 1);
        assert_eq!(log.range(), Some((Seq::new(7), Seq::new(8))));
        let mut out = Vec::new();
        assert_eq!(
            log.take(Seq::new(7), 1 << 20, 64, &mut out),
            Some(Seq::new(8))
        );
        assert_eq!(payloads(&out), vec!["after".to_string()]);
    }

    #[test]
    fn take_stops_near_max_bytes_or_max_slices_on_a_chunk_boundary() {
        let mut st = state(100);
        let q = query("fmt=raw");
        let mut log = FrameLog::new(1 << 20);
        let mut scratch = Vec::new();
        for i in 0..10 {
            store(&mut st, &format!("{i:0100}"));
            log.extend(&st, &q, Seq::ZERO, 100, &mut scratch);
        }
        let mut out = Vec::new();
        // Each chunk is one 102-byte frame: 250 bytes take three.
        assert_eq!(log.take(Seq::ZERO, 250, 64, &mut out), Some(Seq::new(3)));
        assert_eq!(out.len(), 3);
        // And at most so many slices.
        out.clear();
        assert_eq!(log.take(Seq::ZERO, 1 << 20, 4, &mut out), Some(Seq::new(4)));
        assert_eq!(out.len(), 4);
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            /// Store messages with these severities.
            Store(Vec<u8>),
            Extend(u64),
            /// A follower at this position (a fraction of the log) takes
            /// its frames and moves on.
            Take(usize, u8),
            Clear,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => proptest::collection::vec(0u8..8, 1..12).prop_map(Op::Store),
                3 => (1u64..20).prop_map(Op::Extend),
                3 => (0usize..3, any::<u8>()).prop_map(|(f, at)| Op::Take(f, at)),
                1 => Just(Op::Clear),
            ]
        }

        proptest! {
            /// Whatever the interleaving of stores, renders, takes and
            /// clears, the log hands a cursor exactly the frames of the
            /// matching messages from there on, in order, and never one
            /// from before a clear.
            #[test]
            fn take_matches_rendering_each_message(ops in proptest::collection::vec(op(), 1..60)) {
                let mut st = state(16);
                let q = query("fmt=raw&sev=warning");
                let mut log = FrameLog::new(2048);
                let mut scratch = Vec::new();
                // The expected frame of each seq: None when filtered out.
                let mut want: Vec<Option<String>> = Vec::new();
                let mut cleared_before = Seq::ZERO;
                let slots: Vec<usize> = (0..3).map(|_| log.register(Seq::ZERO)).collect();
                for op in ops {
                    match op {
                        Op::Store(sevs) => {
                            for sev in sevs {
                                let text = format!("<{sev}>1 - h app - - - m{}", want.len());
                                store(&mut st, &text);
                                want.push((sev <= 4).then_some(text));
                            }
                        }
                        Op::Extend(max) => {
                            log.extend(&st, &q, Seq::ZERO, max, &mut scratch);
                        }
                        Op::Take(f, at) => {
                            let Some((first, end)) = log.range() else { continue };
                            let c = first.plus(u64::from(at) % (end.since(first) + 1));
                            let mut out = Vec::new();
                            match log.take(c, 300, 4, &mut out) {
                                None => prop_assert_eq!(c, end),
                                Some(next) => {
                                    prop_assert!(next > c && next <= end);
                                    prop_assert!(c >= cleared_before, "a frame from before a clear");
                                    let expected: Vec<String> = want[c.get() as usize..next.get() as usize]
                                        .iter()
                                        .flatten()
                                        .cloned()
                                        .collect();
                                    prop_assert_eq!(payloads(&out), expected);
                                    log.advance(slots[f], next);
                                }
                            }
                        }
                        Op::Clear => {
                            st.clear();
                            cleared_before = st.ring().next_seq();
                            // What a clear leaves is only seen after an extend.
                            log.extend(&st, &q, st.ring().next_seq(), 0, &mut scratch);
                            prop_assert_eq!(log.range(), None);
                        }
                    }
                    prop_assert!(log.bytes() <= 2048 + 16 * 64, "{} bytes held", log.bytes());
                }
            }
        }
    }

    /// Followers moving between the logs: the [`Fanout`] against a model of
    /// what each follower must be sent.
    mod followers {
        use super::*;
        use crate::daemon::ClearGeneration;
        use proptest::prelude::*;

        /// The followed queries: three share keys, so three pairs of logs.
        const QUERIES: [&str; 3] = ["fmt=raw&sev=warning", "fmt=raw", "fmt=raw&sev=err"];
        /// Messages the ring holds: bursts of stores lap it.
        const RING: usize = 16;
        /// Frames a log keeps (a few chunks), so that followers that stall
        /// fall off the logs and render their own.
        const SMALL_LOG: usize = 300;
        /// The largest chunk: a log renders at most what the ring holds, in
        /// frames of 32 bytes at most (`<7>1 - h app - - - m9999`).
        const MAX_CHUNK: usize = RING * 32;

        #[derive(Clone, Debug)]
        enum Op {
            /// Store messages with these severities.
            Store(Vec<u8>),
            /// A follower of `QUERIES[query]` joins, starting `back` seqs
            /// before the newest (a backlog), or at the oldest stored.
            Join {
                query: usize,
                back: u8,
            },
            /// The follower at this index (of those there are) fills once;
            /// the others stall meanwhile.
            Fill(usize),
            /// Every follower fills once, in turn.
            FillAll,
            Leave(usize),
            Clear,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                5 => proptest::collection::vec(0u8..8, 1..12).prop_map(Op::Store),
                2 => proptest::collection::vec(0u8..8, 12..40).prop_map(Op::Store),
                2 => (0..QUERIES.len(), any::<u8>())
                    .prop_map(|(query, back)| Op::Join { query, back }),
                5 => any::<usize>().prop_map(Op::Fill),
                2 => Just(Op::FillAll),
                1 => any::<usize>().prop_map(Op::Leave),
                1 => Just(Op::Clear),
            ]
        }

        /// One follower, as [`crate::serve::conn`] drives it, and where it is
        /// by the model's count.
        struct Model {
            query: usize,
            handle: Option<Follower>,
            cursor: Seq,
            seen: ClearGeneration,
            /// Everything before this seq was sent, skipped or cleared.
            pos: Seq,
        }

        /// What a follower was sent: a message's frame, by its seq, or a
        /// notice of skipped messages.
        #[derive(Debug, PartialEq, Eq)]
        enum Item {
            Message(Seq, String),
            Skipped(u64),
        }

        fn items(out: &[u8], shared: &[Bytes]) -> Vec<Item> {
            let mut all = vec![Bytes::copy_from_slice(out)];
            all.extend(shared.iter().cloned());
            payloads(&all)
                .into_iter()
                .map(|p| match p.split_once(" circologd - skipped - skipped ") {
                    Some((_, rest)) => {
                        Item::Skipped(rest.split(' ').next().unwrap().parse().unwrap())
                    }
                    None => {
                        let seq = p.rsplit_once(" m").unwrap().1.parse().unwrap();
                        Item::Message(Seq::new(seq), p)
                    }
                })
                .collect()
        }

        /// Every log of every query: its byte count adds up, its chunks are
        /// consecutive, and it holds about its limit at most.
        fn check_logs(fanout: &Fanout) -> Result<(), TestCaseError> {
            for f in fanout.queries.iter().flatten() {
                prop_assert!(f.members > 0);
                for log in [&f.live, &f.behind] {
                    let sum: usize = log.chunks.iter().map(|c| c.frames.len()).sum();
                    prop_assert_eq!(log.bytes(), sum);
                    prop_assert!(
                        log.bytes() <= SMALL_LOG + MAX_CHUNK,
                        "{} bytes held",
                        log.bytes()
                    );
                    for pair in log.chunks.iter().collect::<Vec<_>>().windows(2) {
                        prop_assert_eq!(pair[0].to, pair[1].from);
                    }
                }
            }
            Ok(())
        }

        /// One fill of `m`, as the follower does it (a clear it has not
        /// seen moves it past what the clear discarded), checked against
        /// `want`: the frames of the matching messages from where it was,
        /// in order, each once, and a notice exactly where the ring
        /// overwrote what it had not read. Returns whether it was up to
        /// date.
        fn fill(
            m: &mut Model,
            fanout: &mut Fanout,
            st: &mut State,
            want: &[Option<String>],
            cleared_at: Seq,
        ) -> Result<bool, TestCaseError> {
            if st.clear_generation() != m.seen {
                m.seen = st.clear_generation();
                m.cursor = m.cursor.max(cleared_at);
                m.pos = m.pos.max(cleared_at);
            }
            prop_assert_eq!(m.cursor, m.pos);
            let q = query(QUERIES[m.query]);
            let (from, first) = (m.cursor, st.ring().first_seq());
            let skipped_before = st.counters().skipped_followers;
            let (mut out, mut shared, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
            let filled = fanout.fill(
                m.handle.as_mut(),
                st,
                &q,
                1_700_000_000_000_000,
                &mut m.cursor,
                &mut out,
                &mut shared,
                &mut scratch,
            );
            let to = m.cursor;
            match filled {
                Fill::UpToDate => {
                    prop_assert_eq!(to, from);
                    prop_assert_eq!(to, st.ring().next_seq(), "up to date while behind");
                }
                Fill::Live | Fill::Behind => {
                    prop_assert!(m.handle.is_some());
                    prop_assert!(out.is_empty(), "shared frames only");
                    prop_assert!(to > from);
                }
                Fill::Own => {
                    prop_assert!(shared.is_empty());
                    prop_assert!(to > from);
                }
            }
            prop_assert!(to <= st.ring().next_seq());
            // Its places in the logs say where it is, so that the logs keep
            // exactly the chunks someone still needs.
            if let Some(h) = &m.handle {
                let f = fanout.queries[h.query].as_ref().unwrap();
                let live = f.live.cursors[h.live].unwrap();
                let behind = f.behind.cursors[h.behind].unwrap();
                let here = if h.is_behind { to } else { Seq::MAX };
                if filled == Fill::UpToDate {
                    // A clear it noticed before this fill moved it on.
                    prop_assert!(live <= to);
                    prop_assert!(behind == Seq::MAX || behind <= to);
                } else {
                    prop_assert_eq!(live, to);
                    prop_assert_eq!(behind, here);
                }
            }
            let mut skipped = 0;
            for item in items(&out, &shared) {
                match item {
                    Item::Skipped(n) => {
                        prop_assert!(n > 0);
                        prop_assert_eq!(m.pos.plus(n), first, "a notice where the ring overwrote");
                        skipped += n;
                        m.pos = m.pos.plus(n);
                    }
                    Item::Message(seq, text) => {
                        prop_assert!(seq >= m.pos, "seq {} again, or before a clear", seq);
                        for s in Seq::range(m.pos, seq) {
                            prop_assert!(want[s.get() as usize].is_none(), "match {} not sent", s);
                        }
                        prop_assert_eq!(want[seq.get() as usize].as_deref(), Some(text.as_str()));
                        m.pos = seq.next();
                    }
                }
            }
            prop_assert!(m.pos <= to);
            for s in Seq::range(m.pos, to) {
                prop_assert!(want[s.get() as usize].is_none(), "match {} passed over", s);
            }
            m.pos = to;
            prop_assert_eq!(st.counters().skipped_followers - skipped_before, skipped);
            Ok(filled == Fill::UpToDate)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever the interleaving of stores (bursts that lap the
            /// ring), joins with and without a backlog, fills by any
            /// follower while others stall, leaves and clears, each
            /// follower is sent exactly the frames of its matching messages
            /// from where it started, in order, each once, and told where
            /// the ring overwrote what it had not read; the logs stay
            /// within their limit, and go when nobody follows.
            #[test]
            fn each_follower_gets_its_messages_once_in_order_wherever_they_come_from(
                crowded in any::<bool>(),
                ops in proptest::collection::vec(op(), 1..80),
            ) {
                let mut st = state(RING);
                let mut fanout = Fanout::new();
                // Followers of other queries: the last of ours finds no
                // room for logs and renders its own frames.
                let crowd: Vec<Follower> = if crowded {
                    (0..MAX_QUERIES - 2)
                        .map(|i| fanout.join(&query(&format!("grep=other{i}")), Seq::ZERO).unwrap())
                        .collect()
                } else {
                    Vec::new()
                };
                // The expected frame of each seq: None when filtered out, per query.
                let mut want: [Vec<Option<String>>; 3] = Default::default();
                let mut cleared_at = Seq::ZERO;
                let mut models: Vec<Model> = Vec::new();
                for op in ops {
                    match op {
                        Op::Store(sevs) => {
                            for sev in sevs {
                                let seq = st.ring().next_seq();
                                let text = format!("<{sev}>1 - h app - - - m{seq}");
                                store(&mut st, &text);
                                want[0].push((sev <= 4).then(|| text.clone()));
                                want[1].push(Some(text.clone()));
                                want[2].push((sev <= 3).then_some(text));
                            }
                        }
                        Op::Join { query: i, back } => {
                            let ring = st.ring();
                            let start = ring
                                .next_seq()
                                .saturating_minus(u64::from(back % 24))
                                .max(ring.first_seq());
                            let followed = models.iter().any(|m| m.query == i && m.handle.is_some());
                            let room = followed || fanout.queries() < MAX_QUERIES;
                            let handle = fanout.join(&query(QUERIES[i]), start);
                            prop_assert_eq!(handle.is_some(), room);
                            for f in fanout.queries.iter_mut().flatten() {
                                f.live.max_bytes = SMALL_LOG;
                                f.behind.max_bytes = SMALL_LOG;
                            }
                            models.push(Model {
                                query: i,
                                handle,
                                cursor: start,
                                seen: st.clear_generation(),
                                pos: start,
                            });
                        }
                        Op::Fill(i) if !models.is_empty() => {
                            let n = models.len();
                            let m = &mut models[i % n];
                            fill(m, &mut fanout, &mut st, &want[m.query], cleared_at)?;
                        }
                        Op::FillAll => {
                            for m in &mut models {
                                fill(m, &mut fanout, &mut st, &want[m.query], cleared_at)?;
                            }
                        }
                        Op::Leave(i) if !models.is_empty() => {
                            let n = models.len();
                            if let Some(h) = models.remove(i % n).handle {
                                fanout.leave(h);
                            }
                        }
                        Op::Clear => {
                            st.clear();
                            cleared_at = st.ring().next_seq();
                        }
                        Op::Fill(_) | Op::Leave(_) => {}
                    }
                    check_logs(&fanout)?;
                }
                // Every follower catches up, in a bounded number of fills.
                for m in &mut models {
                    let mut fills = 0;
                    while !fill(m, &mut fanout, &mut st, &want[m.query], cleared_at)? {
                        fills += 1;
                        prop_assert!(fills < 100, "never up to date");
                    }
                    prop_assert_eq!(m.pos, st.ring().next_seq());
                }
                for m in models {
                    if let Some(h) = m.handle {
                        fanout.leave(h);
                    }
                }
                for h in crowd {
                    fanout.leave(h);
                }
                prop_assert_eq!(fanout.queries(), 0);
            }
        }
    }
}
