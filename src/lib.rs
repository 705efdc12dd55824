//! circolog: an in-memory syslog with a circular buffer.
//!
//! Everything here is plain code without I/O: bytes and the current time go
//! in, bytes and what to do next come out. The `circologd` binary is a thin
//! io_uring driver around it: it opens the sockets, reads, writes, keeps
//! the time, and decides when to ingest. (The exceptions are the clients':
//! [`client::exchange`], their blocking request over a connection the
//! caller opened, and the look in `/proc` for a running daemon when none
//! answers.)
//!
//! ```text
//!  unix dgram / UDP ──(driver: io_uring poll, recvmmsg)──┐
//!  TCP ──(driver: read)── syslog::framing::Framer ───────┤
//!                                                        ▼
//!                        daemon::State::ingest ── ring::Ring (arena of slots)
//!                                                        │ read by seq
//!   query/control socket ──bytes──► conn::Conn ◄─────────┤
//!                                   ├─ http (heads), control::Command ─► status
//!                                   ├─ conn::dump: query::Query, format ─► chunks
//!                                   └─ conn::follow: ws, fanout::Fanout ─► frames
//!                                          │ Out + Want (Write, Read, Wait, Yield, Close)
//!                                          ▼
//!                                   the driver writes them
//! ```
//!
//! Where to look:
//! - a new endpoint of the query API: a row in `serve/conn/routes.rs`
//!   (its method, path and whether `Origin` is checked: the `405` and the
//!   `403` follow) and the arm answering its `Endpoint` in `Conn::query`;
//!   of the control API: [`control`] (the `ROUTES` table and `apply`),
//!   which `circolog-ctl` reads too;
//! - a new query parameter: a row of `PARAMS` in [`query`] (its name and
//!   what its value sets) and, for a new condition, a `Filter` field, which
//!   `matches_fields`, `ignores_fields` and the sharing identity
//!   destructure whole (the build fails until each handles it); every reader (dumps, followers, triggers, the export) takes it from
//!   there; a field it tests that the index lacks: [`syslog::Index`];
//! - a new output format or notice: [`mod@format`];
//! - a new counter: [`daemon`] (`Counters`) and [`status`].
//! - a new flag of circologd: [`daemon_args`] (`Args`, and the configs
//!   made of it), with its start-up checks in [`startup`].
//!
//! Messages are stored as received (trimmed, truncated if too long) with a
//! small header holding their index ([`syslog::Index`]): what the one parse
//! at ingest found, as spans of the stored bytes and the message's own time.
//! Filters test the index, and readers take the message from it
//! (`Index::message`) without parsing it again. Parsing is a pure function
//! of the bytes, their receive time (stored with them) and the configured
//! `-tz`, so the index reads what any parse would, and every reader sees
//! the same result. `grep=` searches the arena at once ([`search`]).

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod daemon;
pub mod export;
pub mod http;
pub mod ingest;
pub mod query;
pub mod serve;
pub mod store;
