//! The platform: what the daemon's event loop asks of the kernel beyond
//! `std` and `rustix`, each behind a safe API.
//!
//! - `kernel.rs`: every `unsafe` of the crate (the zeroing allocator, the
//!   `recvmmsg` batch, the datagram ring's two io_uring calls, `memfd_secret`
//!   and mapping, inherited descriptors, the exec of a restart); every other
//!   module forbids `unsafe`;
//! - [`dgram`]: the datagram hot path's receiver (a poll per socket on an
//!   io_uring of its own, then `recvmmsg`), which the benchmark also drives
//!   bare;
//! - [`kmsg`]: `/dev/kmsg`, read a record at a time;
//! - [`memfile`]: the memory file, made of the kind `-memory` asks for or
//!   adopted, and mapped;
//! - a client's socket on tokio-uring ([`stream`]), what accepting asks
//!   ([`peer_allowed`]), executing the daemon again ([`exec_again`]) and
//!   waiting on the loop ([`task`]).
//!
//! What to do with what is read is decided elsewhere ([`crate::daemon`],
//! [`crate::ingest`]); the `circologd` binary owns the event loop and its
//! tasks.

mod accept;
mod exec;
mod kernel;

pub mod dgram;
pub mod kmsg;
pub mod memfile;
pub mod stream;
pub mod task;

pub use accept::{out_of_descriptors, peer_allowed};
pub use exec::{exec_again, this_program};
pub use kernel::*;
