//! Where messages live: the arena ring ([`ring`]), the snapshots copied
//! from it ([`snapshot`]), the one record both store a message as
//! ([`record`]), the memory file both live in ([`file`], with the
//! snapshots' list in [`snapshot::list`]), what a reader of either needs
//! ([`messages`]), the search that runs over their bytes ([`search`]), what
//! each block of the ring may hold, for readers to pass over those a filter
//! rules out ([`summary`]), and the heap buffers that zero what they held
//! ([`secure`]).

#![forbid(unsafe_code)]

pub mod file;
pub mod messages;
pub mod record;
pub mod ring;
pub mod search;
pub mod secure;
pub mod snapshot;
pub mod summary;
