//! `GET /snapshots` (on both sockets), and the list the snapshot calls of
//! the control API answer with: the JSON of
//! [`crate::store::snapshot::Snapshots::list`], byte for byte, written as
//! a dump is, [`ROWS_PER_SLICE`] rows at a time, so that a long list is
//! never rendered in one piece while the loop waits.
//!
//! The store's figures (capacity, use, counters) are those of the list's
//! start; its rows are the snapshots there were then, each as it is when
//! its slice is rendered, and one deleted meanwhile is left out.

use crate::daemon::State;
use crate::http::{self, BodyLen, Method, Request};

use super::dump::Step;
use super::{Out, WRITE_CHUNK};

/// Rows rendered per poll at most (a row is some 400 bytes of JSON).
const ROWS_PER_SLICE: usize = 64;

/// Where the rows go in the frame's text.
const ROWS_AT: &str = "\"snapshots\":[]";

pub(super) struct List {
    /// The newest id when the list started: it ends there.
    last_id: u64,
    /// The id of the last row written (0: none yet).
    cursor: u64,
    /// The frame's text after the rows, with the final newline.
    after: String,
    chunked: bool,
    keep_alive: bool,
    head_only: bool,
    /// Rendered and not yet framed into the output.
    body: Vec<u8>,
}

impl List {
    /// Writes the response head into `out` and sets the list up.
    pub(super) fn start(req: &Request, st: &State, out: &mut Vec<u8>) -> List {
        let snapshots = st.snapshots();
        let frame = snapshots.list_frame().to_string();
        // The frame holds no text of its own: the key is there once.
        let (before, after) = frame.split_once(ROWS_AT).unwrap_or((&frame, ""));
        let chunked = !req.http10;
        let keep_alive = req.keep_alive && chunked;
        let epoch = st.epoch_us().to_string();
        http::write_head(
            out,
            200,
            Some("application/json"),
            if chunked {
                BodyLen::Chunked
            } else {
                BodyLen::UntilClose
            },
            keep_alive,
            &[("X-Circolog-Epoch", epoch.as_str())],
        );
        let mut body = Vec::new();
        if chunked {
            http::begin_chunk(&mut body);
        }
        body.extend_from_slice(before.as_bytes());
        body.extend_from_slice(b"\"snapshots\":[");
        List {
            last_id: snapshots.infos().last().map_or(0, |i| i.id),
            cursor: 0,
            after: format!("]{after}\n"),
            chunked,
            keep_alive,
            head_only: req.method == Method::Head,
            body,
        }
    }

    pub(super) fn poll(&mut self, st: &State, out: &mut Out) -> Step {
        if self.head_only {
            return Step::Done {
                keep_alive: self.keep_alive,
            };
        }
        let (from, last) = (self.cursor, self.last_id);
        let rows = st
            .snapshots()
            .infos()
            .skip_while(|i| i.id <= from)
            .take_while(|i| i.id <= last)
            .take(ROWS_PER_SLICE);
        for info in rows {
            if self.cursor != 0 {
                self.body.push(b',');
            }
            self.cursor = info.id;
            // Writing to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.body, &info.to_json());
            if self.body.len() >= WRITE_CHUNK {
                break;
            }
        }
        let done = st
            .snapshots()
            .infos()
            .all(|i| i.id <= self.cursor || i.id > self.last_id);
        if done {
            self.body.extend_from_slice(self.after.as_bytes());
        }
        if self.chunked {
            http::finish_chunk(&mut self.body);
        }
        out.bytes.append(&mut self.body);
        if !done {
            if self.chunked {
                http::begin_chunk(&mut self.body);
            }
            return Step::Write;
        }
        if self.chunked {
            http::write_last_chunk(&mut out.bytes);
        }
        Step::Done {
            keep_alive: self.keep_alive,
        }
    }
}
