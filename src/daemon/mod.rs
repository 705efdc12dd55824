//! circologd as a whole, apart from its I/O: the [`State`] the event loop
//! owns, the command line ([`args`]) and its start-up checks ([`startup`]),
//! what systemd hands over and is told ([`systemd`]), the event loop's
//! arithmetic ([`driver`]), the rate of its own diagnostics ([`diag`]) and
//! what a restart hands the next process ([`restart`]).

#![forbid(unsafe_code)]

pub mod args;
pub mod cred;
pub mod diag;
pub mod driver;
pub mod listen;
pub mod notify;
pub mod readiness;
pub mod restart;
pub mod signals;
pub mod startup;
mod state;
pub mod systemd;

pub use state::{
    Admitted, ClearGeneration, ClientKind, Clients, Counters, Event, Export, PausedBy,
    SNAPSHOT_SLICE, State,
};
