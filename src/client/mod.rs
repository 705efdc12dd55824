//! The client side of the query and control APIs, shared by `circolog-tail`
//! and `circolog-ctl`.
//!
//! Most of it is plain code without I/O:
//!
//! * [`parse_json_line`] and [`render_short`], the `short` format of
//!   `circolog-tail`, and the severity colours;
//! * [`plan`], the follower's decision of where to resume after a
//!   reconnection;
//! * [`parse_json_line`] and [`render_syslog`], the `syslog` lines
//!   `circolog-tail -f` writes from the JSON it follows;
//! * [`summarize_status`], the human summary of `circolog-ctl status`;
//! * [`connect_failure`], [`absent_hint`] and [`wrong_api`], the lines that
//!   say which socket a user gave a client, and which circologd runs
//!   instead.
//!
//! The plain code reads no socket and no clock: [`plan`], [`Reconnect`],
//! [`MergeWindow`], [`LineSplitter`] and [`journal_time`] are given the
//! time and the bytes. [`exchange`] reads and writes a stream its caller
//! opened (`circolog-ctl` owns its socket); `circolog-tail`'s sockets and
//! threads are in `source`, `dump` and `follow`. The only other I/O is
//! looking: [`running_daemons`] reads `/proc`, [`not_a_socket`] a path's
//! metadata, when a connection has already failed.
//!
//! What lives where:
//!
//! * `exchange`: one request and its response on a stream ([`exchange`]);
//! * `diagnosis`: which socket is which, and why connecting failed;
//! * `query`: the query string ([`Filters`], [`Start`], [`query_string`]);
//! * `resume`: where a follower (re)starts ([`plan`]), and when it tries
//!   again and what it says ([`Reconnect`]);
//! * `time`: the times `--since` and `--until` take ([`journal_time`]);
//! * `split`: a body cut into lines, each bounded ([`LineSplitter`]);
//! * `merge`: several daemons' lines merged by receive time
//!   ([`MergeWindow`]);
//! * `wire`: the `fmt=json` wire format ([`parse_json_line`], and the
//!   faster readers of a line as the daemon writes it, [`scan_layout`]
//!   first);
//! * `render`: the `short` and `syslog` lines, the colours, and the
//!   escaping of a peer's text ([`escape_text`]);
//! * `source`, `output`, `dump`, `follow`: `circolog-tail`'s connections
//!   to its daemons (with their deadlines), its standard output, and its
//!   two loops, without and with `-f`, for one daemon or several merged;
//! * [`status`]: `circolog-ctl`'s human summary of `/status`.
//!
//! Everything is re-exported here: `circolog::client::X` is the path to use.

#![forbid(unsafe_code)]

pub use crate::http::response::{Head, HttpError, ResponseDecoder};

mod diagnosis;
mod dump;
mod exchange;
mod follow;
mod merge;
mod output;
mod query;
mod render;
mod resume;
mod source;
mod split;
pub mod status;
mod time;
mod wire;

pub use diagnosis::*;
pub use dump::*;
pub use exchange::*;
pub use follow::*;
pub use merge::*;
pub use output::*;
pub use query::*;
pub use render::*;
pub use resume::*;
pub use source::*;
pub use split::*;
pub use status::{Histogram, describe_state, query_socket_for, sparkline, summarize_status};
pub use time::*;
pub use wire::*;
