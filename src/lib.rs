//! circolog: an in-memory syslog with a circular buffer.
//!
//! Everything here is plain code without I/O: bytes and the current time go
//! in, bytes and what to do next come out. The `circologd` binary is a thin
//! io_uring driver around it: its event loop's tasks read, write, keep
//! the time, and carry out what the library decides; what they ask of the
//! kernel is [`sys`], the one module with `unsafe`. (The other exceptions,
//! each at an edge: the clients' connections in [`client`], which own
//! circolog-tail's sockets, deadlines and threads; the look in `/proc` for
//! a running daemon when none answers; [`daemon::listen::open`], which
//! binds what the listen plan names; and [`daemon::startup`]'s reading of
//! the host's limits.)
//!
//! The folders follow a message on its way, each with a `mod.rs` that says
//! what lives there:
//!
//! ```text
//!  ingest/   unix dgram / UDP ─(driver: io_uring poll, recvmmsg)─┐
//!            TCP ─(driver: read)─ syslog::framing ────────────────┤
//!            /dev/kmsg ─(driver: read)─ kmsg ─────────────────────┤
//!            one parse into an Index, limit (rate), trigger       ▼
//!  daemon/   State::ingest ── State::poll_event() ─► the driver wakes readers
//!                 │
//!  store/         ▼ ring::Ring (arena of slots, seq and PRI tables), snapshot,
//!                 │ one record codec, search, block summaries; read
//!                 │ through messages::Messages
//!  serve/   query/control socket ─bytes─► conn::Conn ◄── read by seq
//!                 ├─ conn::routes: the query API's table ─► dump, follow,
//!                 │  histogram, snapshots (query/: Query, format, histogram)
//!                 ├─ follow: ws, fanout::Fanout ─► frames
//!                 └─ control::ROUTES ─► control::Command ─► status
//!  export/  State ─► export::Exporter ─► OTLP/HTTP endpoint
//!  client/  circolog-tail, circolog-ctl ─► http::response ◄─ the daemon
//!  cli/     what the three command lines share: one-dash flags, manuals
//!  sys/     the kernel's side: sockets, io_uring, the memory file, exec
//! ```
//!
//! Where to look, to add:
//! - **an endpoint**: of the query API, a row in `serve/conn/routes.rs`
//!   (its method, path and whether `Origin` is checked: the `404`, `405`
//!   and `403` follow from the table) and the arm answering its `Endpoint`
//!   in `Conn::query`, which the compiler asks for; of the control API, a
//!   row of [`serve::control`]'s `ROUTES` and its `apply`, which
//!   `circolog-ctl` reads too;
//! - **a query parameter**: a row of `PARAMS` in [`query`] (its name and
//!   what its value sets) and, for a new condition, a `Filter` field, which
//!   `matches_fields`, `ignores_fields`, `rules_out` (block summaries) and
//!   the sharing identity destructure whole (the build fails until each
//!   handles it); its line in
//!   [`cli::params`] for the help, the manual and the reference. Every
//!   reader (dumps, followers, histograms, triggers, the export) takes it
//!   from there; a field the index lacks: [`ingest::syslog::Index`];
//! - **a transport**: a variant of [`store::ring::Transport`] (counters are
//!   sized from `Transport::ALL`, JSON and `/metrics` name it from there),
//!   its sockets in the listen plan ([`daemon::listen`]), its reader in
//!   [`sys`] and its task in `src/bin/circologd/serve.rs`; what
//!   `POST /restart` hands the next process is every socket of
//!   `listen::Listeners` (`Listeners::handover` destructures it whole,
//!   [`daemon::restart`]);
//! - **an export target**: [`export`], a state machine like `Conn`
//!   (`otlp.rs` writes the records), driven by `src/bin/circologd/export.rs`;
//! - **a client flag**: circolog-tail's `Args` in `src/bin/circolog-tail.rs`
//!   (its one-dash form comes from clap's definition,
//!   [`cli::config::LongFlags`]) and what it does in [`client`];
//! - a flag of circologd: [`daemon::args`] (`Args`, and the configs made of
//!   it), with its start-up checks in [`daemon::startup`];
//! - an output format or notice: [`query::format`]; a counter:
//!   [`daemon::Counters`] and [`serve::status`].
//!
//! Messages are stored as received (trimmed, truncated if too long) with a
//! small header holding their index ([`ingest::syslog::Index`]): what the
//! one parse at ingest found, as spans of the stored bytes and the
//! message's own time. Filters test the index, and readers take the message
//! from it (`Index::message`) without parsing it again. Parsing is a pure
//! function of the bytes, their receive time (stored with them) and the
//! configured `-tz`, so the index reads what any parse would, and every
//! reader sees the same result. `grep=` searches the arena at once
//! ([`store::search`]), and a filter on a severity, facility or name passes
//! over the blocks of messages whose summary rules it out, and the
//! messages whose PRI and tags do ([`store::summary`]).

// `unsafe` is allowed in `sys` alone (`sys/kernel.rs`); every other module
// forbids it.
#![deny(unsafe_code)]

pub mod cli;
pub mod client;
pub mod daemon;
pub mod export;
pub mod http;
pub mod ingest;
pub mod query;
pub mod serve;
pub mod store;
pub mod sys;
