//! The query and control APIs: one state machine per client connection
//! ([`conn`]) over HTTP/1.1 ([`crate::http`]) and websocket ([`ws`]) framing, the
//! frames shared by followers of the same query ([`fanout`]), the control
//! commands ([`control`]) and what they report ([`status`]), and who may
//! connect at all ([`access`]).

#![forbid(unsafe_code)]

pub mod access;
pub mod conn;
pub mod control;
pub mod fanout;
pub mod status;
pub mod ws;
