//! Integration tests: the real `circologd` binary over real sockets.

mod util;

mod cli;
mod clients;
mod control;
mod follow;
mod ingest;
mod limits;
mod peers;
mod query;
mod browser;
