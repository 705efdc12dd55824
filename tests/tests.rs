//! Integration tests: the real `circologd` binary over real sockets.

mod util;

mod browser;
mod cli;
mod clients;
mod control;
mod export;
mod follow;
mod gaps;
mod hardening;
mod histogram;
mod ingest;
mod journald;
mod limits;
mod manuals;
mod memory;
mod peers;
mod printing;
mod query;
mod recorder;
mod restart;
mod soak;
mod systemd;
mod tail;
