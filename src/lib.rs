//! circolog: an in-memory syslog with a circular buffer.
//!
//! The daemon's side of this library is plain code without I/O: bytes and
//! the current time go in, bytes and events come out. The `circologd` binary
//! is a thin io_uring driver around it. (The exceptions are the clients':
//! [`client::exchange`], their blocking request over a connection the
//! caller opened, and the look in `/proc` for a running daemon when none
//! answers.)
//!
//! ```text
//!  unix dgram / UDP ──(poll, recvmmsg)──┐
//!  TCP ──(tokio-uring read)── framing ──┤
//!                                       ▼
//!                          daemon::State::ingest ── ring::Ring (arena of slots)
//!                                                        │  read by seq
//!                     HTTP conn (http, query) ◄──────────┤
//!                     websocket follower (ws) ◄──────────┘
//!                                  │ syslog::parse + format
//!                                  ▼
//!                          bytes to the client
//! ```
//!
//! Messages are stored as received (trimmed, truncated if too long) with a
//! small header; they are parsed when read. Parsing is a pure function of the
//! bytes, their receive time and the configured `-tz`, so every reader sees
//! the same result and ingestion stays a copy.

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod daemon;
pub mod fanout;
pub mod format;
pub mod http;
pub mod manual;
pub mod query;
pub mod ring;
pub mod syslog;
pub mod ws;
