//! `GET /ws`: the backlog, then every new matching message, one text frame
//! each. A follower is a cursor into the ring: new messages cost it nothing
//! until its socket takes more; if the ring overwrites what it has not
//! sent, it skips ahead and says how many it missed. It shares rendered
//! frames with the followers of the same query through the [`Fanout`].
//!
//! What the peer sends goes through a [`ws::Decoder`]: pings are answered,
//! a close is answered and ends the follower, a protocol violation closes
//! with its code; data messages are read and ignored.

use crate::daemon::{ClearGeneration, State};
use crate::query::Query;
use crate::query::format::{self, Notice};
use crate::serve::fanout::{Fanout, Fill, Follower, push_text};
use crate::serve::ws::{self, CloseCode};
use crate::store::ring::Seq;

use super::dump::{Seek, lost_since, newest_given};
use super::{Config, Now, Out};

/// What a follower did in one poll.
pub(super) enum Step {
    Write,
    Yield,
    Wait,
    /// A close frame is in the output (or the peer has gone): the
    /// connection closes once it is written.
    Close,
}

pub(super) struct Follow {
    query: Query,
    /// While the backlog's start is being looked for.
    seek: Option<Seek>,
    /// The next seq to send.
    cursor: Seq,
    /// Its place in the query's shared frame logs, once it has joined.
    follower: Option<Follower>,
    joined: bool,
    /// The last clear it was told of.
    seen: ClearGeneration,
    /// Whether it was last told the daemon is paused.
    told_paused: bool,
    /// The id of the last snapshot it was told of.
    told_snapshot: u64,
    decoder: ws::Decoder,
    /// A rendered line, reused.
    scratch: Vec<u8>,
}

impl Follow {
    /// Writes the `101` into `out` and sets the follower up.
    pub(super) fn start(
        now_us: i64,
        key: &str,
        query: Query,
        cfg: &Config,
        st: &mut State,
        out: &mut Vec<u8>,
    ) -> Follow {
        let ring = st.ring();
        let end = ring.next_seq();
        let last = newest_given(ring).map(|s| s.to_string());
        let epoch = st.epoch_us().to_string();
        let mut headers = vec![("X-Circolog-Epoch", epoch.as_str())];
        if let Some(last) = &last {
            headers.push(("X-Circolog-Last-Seq", last.as_str()));
        }
        ws::write_handshake_response(out, key, &headers);
        let (cursor, seek) = match Seek::new(&query, st.ring(), end) {
            Ok(start) => (start, None),
            Err(seek) => (end, Some(seek)),
        };
        // A resume from a cursor the ring has overtaken: the first frame
        // says what it lost.
        let lost = lost_since(&query, st.ring());
        if lost > 0 {
            let mut line = Vec::new();
            let notice = Notice::Skipped(lost);
            format::render_notice(query.format, &notice, st.epoch_us(), now_us, &mut line);
            push_text(out, &line);
            st.count_skipped(lost);
        }
        Follow {
            query,
            seek,
            cursor,
            follower: None,
            joined: false,
            seen: st.clear_generation(),
            told_paused: st.paused(),
            told_snapshot: st.snapshot_done(),
            decoder: ws::Decoder::new(ws::Limits {
                max_frame: cfg.max_ws_frame,
                max_message: cfg.max_ws_frame,
            }),
            scratch: Vec::with_capacity(1024),
        }
    }

    pub(super) fn handle_input(&mut self, data: &[u8]) {
        self.decoder.feed(data);
    }

    /// Queues the close frame of a daemon that stops (1001) or restarts
    /// (1012).
    pub(super) fn close_for(&mut self, code: CloseCode, out: &mut Out) {
        ws::write_close(&mut out.bytes, code, code.reason());
    }

    /// Gives back its place in the frame logs.
    pub(super) fn leave(mut self, fanout: &mut Fanout) {
        if let Some(f) = self.follower.take() {
            fanout.leave(f);
        }
    }

    pub(super) fn poll(
        &mut self,
        now: Now,
        st: &mut State,
        fanout: &mut Fanout,
        out: &mut Out,
    ) -> Step {
        // What the peer said first: pings are answered before any frame.
        loop {
            match self.decoder.next_event() {
                Ok(Some(ws::Event::Ping(p))) => ws::write_pong(&mut out.bytes, &p),
                Ok(Some(ws::Event::Close { code, .. })) => {
                    let code = code.map_or(CloseCode::Normal, CloseCode::Peer);
                    ws::write_close(&mut out.bytes, code, "");
                    return Step::Close;
                }
                // Followers have nothing to say: data and pongs are ignored.
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(code) => {
                    ws::write_close(&mut out.bytes, code, code.reason());
                    return Step::Close;
                }
            }
        }
        if let Some(seek) = &mut self.seek {
            match seek.step(&self.query, st.ring()) {
                Some(start) => {
                    self.cursor = start;
                    self.seek = None;
                }
                None => return Step::Yield,
            }
        }
        if !self.joined {
            self.joined = true;
            self.follower = fanout.join(&self.query, self.cursor);
        }
        if st.clear_generation() != self.seen {
            self.seen = st.clear_generation();
            self.notice(&Notice::Cleared, st, now.unix_us, out);
            self.cursor = self.cursor.max(st.cleared_at());
        }
        let fill = fanout.fill(
            self.follower.as_mut(),
            st,
            &self.query,
            now.unix_us,
            &mut self.cursor,
            &mut out.bytes,
            &mut out.shared,
            &mut self.scratch,
        );
        // Pause, resume and snapshots are told once every message stored
        // before them was sent (nothing is stored while paused, so it
        // catches up), and after what is already in the output.
        if matches!(fill, Fill::UpToDate) && out.shared.is_empty() {
            self.tell_changes(st, now.unix_us, out);
        }
        match fill {
            Fill::Live | Fill::Behind => Step::Write,
            _ if !out.is_empty() => Step::Write,
            // Only messages the filter left out: more may follow.
            Fill::Own => Step::Yield,
            Fill::UpToDate => Step::Wait,
        }
    }

    /// Tells what changed since it last told: the pause, snapshots taken.
    fn tell_changes(&mut self, st: &State, now_us: i64, out: &mut Out) {
        if st.paused() != self.told_paused {
            // Told of the state it finds, not of every change: a pause and
            // resume between two polls changed nothing for the reader.
            self.told_paused = st.paused();
            let notice = if self.told_paused {
                Notice::Paused
            } else {
                Notice::Resumed
            };
            self.notice(&notice, st, now_us, out);
        }
        if st.snapshot_done() > self.told_snapshot {
            let (after, upto) = (self.told_snapshot, st.snapshot_done());
            self.told_snapshot = upto;
            // Those completed since, and still there (at most -snapshots).
            for info in st.snapshots().infos() {
                if info.id > after && info.id <= upto && !info.taking {
                    let notice = Notice::Snapshot {
                        id: info.id,
                        why: info.why.name(),
                    };
                    self.notice(&notice, st, now_us, out);
                }
            }
        }
    }

    /// Sends a notice frame.
    fn notice(&mut self, notice: &Notice, st: &State, now_us: i64, out: &mut Out) {
        self.scratch.clear();
        let fmt = self.query.format;
        format::render_notice(fmt, notice, st.epoch_us(), now_us, &mut self.scratch);
        push_text(&mut out.bytes, &self.scratch);
    }
}
