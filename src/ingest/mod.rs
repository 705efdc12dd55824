//! The first stage: what happens to a message between its socket and the
//! store. Bytes from a datagram or a TCP stream are framed
//! ([`syslog::framing`]), parsed once into an index ([`syslog::Index`]),
//! admitted or suppressed per sender ([`limit`]), and matched against the
//! flight recorder's triggers ([`trigger`]); [`crate::daemon::State`] then
//! stores them in [`crate::store`].

#![forbid(unsafe_code)]

pub mod kmsg;
pub mod limit;
pub mod syslog;
pub mod trigger;
pub mod unit;
