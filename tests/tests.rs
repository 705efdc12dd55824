//! Integration tests: the real `circologd` binary over real sockets.

mod util;

mod cli;
mod ingest;
mod query;
mod clients;
mod control;
mod follow;
mod peers;
