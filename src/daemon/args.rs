//! circologd's command line: its flags and their help text, and what they
//! make of the library's configurations (the ring's, the snapshots', the
//! connections', the triggers', the exporter's). A flag that cannot work,
//! alone or with another, is one line naming the flags as the user writes
//! them. The driver (`src/bin/circologd/main.rs`) parses the command line
//! with [`Args`], and opens and allocates what these functions say.
//!
//! The clients' flags stay in their binaries: they are only read there,
//! and nothing in them sizes a table. The daemon's are here because most
//! of what it does with them is checking and arithmetic, which is tested
//! here without starting it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::cli::config::{Suggest, format_size, parse_duration, parse_mode, parse_size, size_flag};
use crate::ingest::syslog::SEVERITY_NAMES;
use crate::{
    cli::manual, daemon::startup, export, ingest::limit, ingest::trigger, query, serve::conn,
    store::ring, store::snapshot,
};

/// The most `-snapshots` may keep. A snapshot is an incident for a person
/// to read, and they share `-snapshot-bytes`: at 1024 the list is some
/// 400 KiB of JSON and its bookkeeping as much, and each snapshot of the
/// default 16 MiB arena still has 16 KiB. A larger number is a mistake,
/// not a plan, and its list would hold up the loop that renders it.
pub const MAX_SNAPSHOTS: usize = 1024;

/// Keeps the most recent syslog messages in RAM and serves them over HTTP
/// and websocket. Single-dash flags (`-query-socket PATH`) work too.
#[derive(Parser, Debug)]
#[command(
    name = "circologd",
    version,
    about = "The in-memory syslog daemon: the most recent messages, in RAM only, over HTTP and websocket",
    long_about = manual::CIRCOLOGD_ABOUT,
    after_long_help = manual::after_long_help(manual::CIRCOLOGD)
)]
pub struct Args {
    /// Print the manual page or a shell completion script, and exit.
    #[arg(long = "generate", value_enum, value_name = "WHAT")]
    pub generate: Option<manual::Generate>,
    /// Syslog input on a unix datagram socket, what syslog-ng's unix-dgram(),
    /// rsyslog's omuxsock and logger -u send to (repeatable).
    #[arg(long = "syslogd-socket", value_name = "PATH")]
    pub syslogd_socket: Vec<PathBuf>,
    /// Syslog input on UDP and TCP at this address; port 0 gives both the
    /// same free port (repeatable).
    #[arg(long = "syslog-addr", value_name = "HOST:PORT")]
    pub syslog_addr: Vec<String>,
    /// HTTP/websocket query API on a unix stream socket.
    #[arg(long = "query-socket", value_name = "PATH")]
    pub query_socket: Option<PathBuf>,
    /// HTTP/websocket query API on TCP.
    #[arg(long = "query-addr", value_name = "HOST:PORT")]
    pub query_addr: Option<String>,
    /// HTTP control API on a unix stream socket.
    #[arg(long = "ctl-socket", value_name = "PATH")]
    pub ctl_socket: Option<PathBuf>,
    /// Keep at most the last N messages.
    #[arg(long = "buffer-size", value_name = "N", default_value_t = 100_000)]
    pub buffer_size: usize,
    /// Size of the preallocated arena (64M, 1G, …).
    #[arg(long = "buffer-bytes", value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub buffer_bytes: usize,
    /// Longer messages are truncated (at least 2048).
    #[arg(long = "max-message-size", value_name = "SIZE", default_value = "16K", value_parser = parse_size)]
    pub max_message_size: usize,
    /// Mode of the query and control sockets (default 0600, 0660 with -socket-group).
    #[arg(long = "socket-mode", value_name = "MODE", value_parser = parse_mode)]
    pub socket_mode: Option<u32>,
    /// Group of the query and control sockets; its members may use them.
    #[arg(long = "socket-group", value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Where the ring lives: secret (memfd_secret: unreadable even by
    /// root, never swapped), locked (mlock), plain; auto: secret where
    /// possible, else plain.
    #[arg(
        long = "memory",
        value_name = "KIND",
        value_enum,
        default_value = "auto"
    )]
    pub memory: crate::store::file::Choice,
    /// Lock the arena in RAM (never swapped): -memory locked or better.
    #[arg(long = "lock-memory", num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    pub lock_memory: Option<bool>,
    /// Zone of RFC 3164 dates, which carry none (UTC, Europe/Rome, local).
    #[arg(long = "tz", value_name = "ZONE", default_value = "local")]
    pub tz: String,
    /// Largest HTTP request head; larger ones get 431.
    #[arg(long = "max-head-bytes", value_name = "SIZE", default_value = "16K", value_parser = parse_size)]
    pub max_head_bytes: usize,
    /// A client must send its whole request head within this time.
    #[arg(long = "head-timeout", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub head_timeout: Duration,
    /// Idle keep-alive connections are closed after this time.
    #[arg(long = "idle-timeout", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Past this many query and control clients, new ones get 503.
    #[arg(long = "max-clients", value_name = "N", default_value_t = 1024)]
    pub max_clients: u64,
    /// Messages received longer ago than this are evicted and their bytes
    /// overwritten (checked at least once a second; default: no age limit).
    #[arg(long = "max-age", value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<Duration>,
    /// Export to this OTLP/HTTP logs endpoint (http://HOST:PORT/v1/logs,
    /// usually the local collector): messages leave the RAM-only daemon.
    #[arg(long = "export-otlp", value_name = "URL")]
    pub export_otlp: Option<export::Endpoint>,
    /// Messages to export as they arrive, in the query language of GET /
    /// (default: none live).
    #[arg(long = "export-query", value_name = "QUERY")]
    pub export_query: Option<String>,
    /// Also export every snapshot when it is taken (its records carry
    /// circolog.snapshot).
    #[arg(long = "export-snapshots")]
    pub export_snapshots: bool,
    /// RAM for records waiting to be sent; past it the oldest are dropped.
    #[arg(long = "export-buffer", value_name = "SIZE", default_value = "8M", value_parser = parse_size)]
    pub export_buffer: usize,
    /// A client that takes none of a response for this long is closed.
    #[arg(long = "write-timeout", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub write_timeout: Duration,
    /// Past this many TCP syslog senders, new ones are closed at once.
    #[arg(long = "max-senders", value_name = "N", default_value_t = 1024)]
    pub max_senders: u64,
    /// Largest websocket frame or message a client may send (1009 past it).
    #[arg(long = "max-ws-frame", value_name = "SIZE", default_value = "64K", value_parser = parse_size)]
    pub max_ws_frame: usize,
    /// Size of the second arena, allocated at start-up and RAM only like the
    /// ring's, that holds snapshots (0 disables them).
    #[arg(long = "snapshot-bytes", value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    pub snapshot_bytes: usize,
    /// At most N snapshots are kept (1 to 1024); the oldest goes first.
    #[arg(long = "snapshots", value_name = "N", default_value_t = 8)]
    pub snapshots: usize,
    /// A stored message that matches QUERY (the query language of GET /:
    /// sev=crit, app=kernel&grep=Oops) fires the trigger; repeatable.
    #[arg(long = "trigger", value_name = "QUERY")]
    pub trigger: Vec<String>,
    /// Post-roll: keep collecting N more messages (or for DURATION) after
    /// the triggering one, then act; a post-roll by count also ends 10 s
    /// after the trigger at the latest.
    #[arg(long = "trigger-after", value_name = "N|DURATION", default_value = "100", value_parser = trigger::PostRoll::parse)]
    pub trigger_after: trigger::PostRoll,
    /// What firing does: take a snapshot, or pause as a person would.
    #[arg(long = "trigger-action", value_name = "snapshot|pause", default_value = "snapshot",
          hide_possible_values = true, value_parser = Suggest::new(trigger::Action::parse, TRIGGER_ACTIONS))]
    pub trigger_action: trigger::Action,
    /// A trigger does not fire again within DURATION of its last firing;
    /// matches meanwhile are counted as held off.
    #[arg(long = "trigger-holdoff", value_name = "DURATION", default_value = "60s", value_parser = trigger::parse_duration)]
    pub trigger_holdoff: Duration,
    /// Each sender (see -rate-limit-by) may store N messages per DURATION
    /// (e.g. 1000/10s); more are dropped, and one notice says how many. Off
    /// by default.
    #[arg(long = "rate-limit", value_name = "N/DURATION", value_parser = limit::Rate::parse)]
    pub rate_limit: Option<limit::Rate>,
    /// Messages at or above LEVEL are never rate-limited.
    #[arg(long = "rate-limit-keep", value_name = "LEVEL", default_value = "crit",
          hide_possible_values = true, value_parser = Suggest::new(limit::parse_keep, &SEVERITY_NAMES))]
    pub rate_limit_keep: u8,
    /// Who a sender is for -rate-limit: app (the message's hostname and
    /// app-name, which a relay keeps), unit (the systemd unit of the pid on
    /// unix sockets), pid (the pid on unix sockets, from the kernel; unit and
    /// pid are the address on UDP and TCP) or host (the hostname).
    #[arg(long = "rate-limit-by", value_name = "app|unit|pid|host", default_value = "app", value_parser = limit::By::parse)]
    pub rate_limit_by: limit::By,
    /// Also read the kernel's log buffer, /dev/kmsg (app kernel, transport
    /// kmsg), as klogd does: journald does not forward kernel messages.
    #[arg(long = "kmsg")]
    pub kmsg: bool,
}

/// What `-trigger-action` takes, for completion (a test checks that each
/// is one, and that they are those its help names).
const TRIGGER_ACTIONS: &[&str] = &["snapshot", "pause"];

/// The smallest maximum message size: RFC 5424 receivers must take 2048.
pub const MIN_MESSAGE: usize = 2048;

/// How many listeners of each kind the daemon opened, for
/// [`Args::descriptors`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Opened {
    /// Query API listeners (unix and TCP).
    pub query: usize,
    /// Control API listeners.
    pub ctl: usize,
    /// TCP syslog listeners.
    pub tcp_ingest: usize,
    /// Every listening and receiving socket, these and the datagram inputs.
    pub sockets: usize,
}

impl Args {
    /// `-tz`: `local`, `UTC` or a zone of the system's database.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone, String> {
        match self.tz.as_str() {
            "local" => Ok(jiff::tz::TimeZone::system()),
            "UTC" | "utc" => Ok(jiff::tz::TimeZone::UTC),
            name => jiff::tz::TimeZone::get(name)
                .map_err(|e| format!("unknown time zone {name:?} for -tz: {e}")),
        }
    }

    /// `-max-message-size`, raised to [`MIN_MESSAGE`].
    pub fn max_message(&self) -> usize {
        self.max_message_size.max(MIN_MESSAGE)
    }

    /// Whether any flag names a listener: without one (and with no socket
    /// from systemd) the daemon takes the default paths the clients look for.
    pub fn names_listeners(&self) -> bool {
        !self.syslogd_socket.is_empty()
            || !self.syslog_addr.is_empty()
            || self.query_socket.is_some()
            || self.query_addr.is_some()
            || self.ctl_socket.is_some()
    }

    /// The client limits, for [`startup::check_limits`].
    pub fn limits(&self) -> startup::Limits {
        startup::Limits {
            max_clients: self.max_clients,
            max_head_bytes: self.max_head_bytes,
            head_timeout: self.head_timeout,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            max_ws_frame: self.max_ws_frame,
        }
    }

    /// What each query and control connection is configured with.
    pub fn conn_config(&self) -> conn::Config {
        conn::Config {
            max_head: self.max_head_bytes,
            head_timeout: self.head_timeout,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            max_clients: self.max_clients,
            max_ws_frame: self.max_ws_frame,
        }
    }

    /// The `-trigger`s, parsed at `now_us` (their `since`/`until` are
    /// relative to it), refused when they would take snapshots that
    /// `-snapshot-bytes 0` disables.
    pub fn triggers(&self, now_us: i64) -> Result<trigger::Triggers, String> {
        let triggers = trigger::Triggers::new(
            self.trigger
                .iter()
                .map(|t| trigger::parse_trigger(t, now_us).map(|f| (f, t.clone())))
                .collect::<Result<_, _>>()?,
            self.trigger_after,
            self.trigger_action,
            self.trigger_holdoff,
        );
        if !triggers.is_empty()
            && self.trigger_action == trigger::Action::Snapshot
            && self.snapshot_bytes == 0
        {
            return Err(
                "-trigger takes snapshots (-trigger-action snapshot), but -snapshot-bytes 0 \
                 disables them: give the snapshots room, or use -trigger-action pause"
                    .to_string(),
            );
        }
        Ok(triggers)
    }

    /// The ring `-buffer-size`, `-buffer-bytes` and `-max-message-size` ask for.
    pub fn ring_config(&self) -> ring::Config {
        ring::Config {
            max_messages: self.buffer_size,
            arena_bytes: self.buffer_bytes,
            max_message_bytes: self.max_message(),
        }
    }

    /// The snapshot arena `-snapshot-bytes` and `-snapshots` ask for.
    pub fn snapshot_config(&self) -> snapshot::Config {
        snapshot::Config {
            arena_bytes: self.snapshot_bytes,
            max_snapshots: self.snapshots,
        }
    }

    /// A ring that cannot be made, in the flags' own terms.
    pub fn ring_error(&self, e: ring::ConfigError) -> String {
        match e {
            ring::ConfigError::ArenaTooSmall { needed } => format!(
                "the arena (-buffer-bytes {}) must be at least {} to hold one message of the \
                 maximum size (-max-message-size {})",
                format_size(self.buffer_bytes as u64),
                format_size(needed as u64),
                format_size(self.max_message() as u64)
            ),
            e => e.to_string(),
        }
    }

    /// The tables these flags make the daemon allocate at start-up, for
    /// [`startup::check_memory`]; `receive_slots` datagrams of the largest
    /// size are read at once. A ring that cannot be made, or more
    /// snapshots than [`MAX_SNAPSHOTS`], is the error.
    pub fn tables(&self, receive_slots: usize) -> Result<Vec<startup::Table>, String> {
        if self.snapshots > MAX_SNAPSHOTS {
            return Err(format!(
                "-snapshots {} is more than circologd keeps: it must be at most {MAX_SNAPSHOTS}",
                self.snapshots
            ));
        }
        let ring = self.ring_config();
        let footprint = ring::Ring::footprint(&ring).map_err(|e| self.ring_error(e))?;
        let receive = receive_slots.saturating_mul(ring.max_message_bytes.saturating_add(1));
        Ok(vec![
            startup::Table {
                what: "the arena",
                flags: format!("-buffer-bytes {}", size_flag(self.buffer_bytes as u64)),
                bytes: footprint.arena_bytes as u64,
            },
            startup::Table {
                what: "the seq table",
                flags: format!("-buffer-size {}", self.buffer_size),
                bytes: footprint.table_bytes as u64,
            },
            startup::Table {
                what: "the receive buffers",
                flags: format!(
                    "-max-message-size {}",
                    size_flag(ring.max_message_bytes as u64)
                ),
                bytes: receive as u64,
            },
            startup::Table {
                what: "the snapshot arena",
                flags: format!("-snapshot-bytes {}", size_flag(self.snapshot_bytes as u64)),
                bytes: self.snapshot_bytes as u64,
            },
        ])
    }

    /// The mode of the query and control socket files: `-socket-mode`, or
    /// 0660 with a `-socket-group` (its members may use them), else 0600.
    pub fn socket_mode(&self, gid: Option<u32>) -> u32 {
        self.socket_mode
            .unwrap_or(if gid.is_some() { 0o660 } else { 0o600 })
    }

    /// What the daemon may hold open at once with these listeners open.
    /// `-max-clients` counts for each API that has a listener.
    pub fn descriptors(&self, opened: &Opened) -> startup::Descriptors {
        let has = |n: usize, v: u64| if n > 0 { v } else { 0 };
        startup::Descriptors {
            query_clients: has(opened.query, self.max_clients),
            ctl_clients: has(opened.ctl, self.max_clients),
            senders: has(opened.tcp_ingest, self.max_senders),
            listeners: opened.sockets as u64,
        }
    }

    /// The filter of `-export-query` (`None`: nothing is exported live),
    /// relative to `now_us`.
    pub fn export_filter(&self, now_us: i64) -> Result<Option<query::Filter>, String> {
        self.export_query
            .as_deref()
            .map(|q| {
                query::Query::parse(q.strip_prefix('?').unwrap_or(q), now_us)
                    .map(|q| q.filter)
                    .map_err(|e| format!("bad -export-query {q:?}: {e}"))
            })
            .transpose()
    }

    /// The exporter `-export-otlp` and `-export-buffer` ask for, whose
    /// records name `host_name`.
    pub fn exporter(
        &self,
        endpoint: &export::Endpoint,
        host_name: String,
        epoch_us: i64,
    ) -> Result<export::Exporter, String> {
        export::Exporter::new(export::Config {
            endpoint: endpoint.clone(),
            buffer_bytes: self.export_buffer,
            host_name,
            epoch_us,
        })
        .map_err(|e| {
            format!(
                "-export-buffer {}: {e}",
                format_size(self.export_buffer as u64)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon's command line as a user types it, Go-style.
    fn args(line: &[&str]) -> Result<Args, String> {
        let argv = std::iter::once("circologd").chain(line.iter().copied());
        let flags = crate::cli::config::LongFlags::of(&<Args as clap::CommandFactory>::command());
        Args::try_parse_from(flags.rewrite(argv.map(Into::into))).map_err(|e| e.to_string())
    }

    fn ok(line: &[&str]) -> Args {
        args(line).unwrap()
    }

    #[test]
    fn the_trigger_actions_offered_are_those_it_takes() {
        for name in TRIGGER_ACTIONS {
            assert_eq!(trigger::Action::parse(name).map(|a| a.name()), Ok(*name));
        }
        let cmd = <Args as clap::CommandFactory>::command();
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some("trigger-action"))
            .unwrap();
        let names = arg.get_value_names().unwrap()[0].to_string();
        assert_eq!(names, TRIGGER_ACTIONS.join("|"));
    }

    #[test]
    fn the_defaults_are_those_of_the_help() {
        let a = ok(&[]);
        let ring = a.ring_config();
        assert_eq!(ring.max_messages, 100_000);
        assert_eq!(ring.arena_bytes, 64 << 20);
        assert_eq!(ring.max_message_bytes, 16 << 10);
        let conn = a.conn_config();
        assert_eq!(conn.max_head, 16 << 10);
        assert_eq!(conn.head_timeout, Duration::from_secs(10));
        assert_eq!(conn.idle_timeout, Duration::from_secs(60));
        assert_eq!(conn.write_timeout, startup::DEFAULT_WRITE_TIMEOUT);
        assert_eq!(conn.max_clients, 1024);
        assert_eq!(conn.max_ws_frame, 64 << 10);
        assert_eq!(a.max_senders, startup::DEFAULT_MAX_SENDERS);
        let snap = a.snapshot_config();
        assert_eq!((snap.arena_bytes, snap.max_snapshots), (16 << 20, 8));
        assert_eq!(a.export_buffer, 8 << 20);
        assert_eq!(a.tz, "local");
        assert_eq!(startup::check_limits(&a.limits()), Ok(()));
        assert!(!a.names_listeners());
        assert!(a.triggers(0).unwrap().is_empty());
        assert_eq!(a.export_filter(0), Ok(None));
        assert_eq!(a.lock_memory, None);
    }

    #[test]
    fn go_style_flags_set_what_they_name() {
        let a = ok(&[
            "-buffer-size=50",
            "-buffer-bytes",
            "1M",
            "-max-message-size",
            "100",
            "-head-timeout",
            "250ms",
            "-lock-memory",
            "-query-socket",
            "/run/q.sock",
        ]);
        assert_eq!(a.ring_config().max_messages, 50);
        assert_eq!(a.ring_config().arena_bytes, 1 << 20);
        // Below what RFC 5424 receivers must take: raised to it.
        assert_eq!(a.max_message(), MIN_MESSAGE);
        assert_eq!(a.ring_config().max_message_bytes, MIN_MESSAGE);
        assert_eq!(a.conn_config().head_timeout, Duration::from_millis(250));
        assert_eq!(a.lock_memory, Some(true));
        assert!(a.names_listeners());
        assert_eq!(ok(&["-lock-memory=false"]).lock_memory, Some(false));
        for flag in [
            "-syslogd-socket",
            "-syslog-addr",
            "-query-socket",
            "-query-addr",
            "-ctl-socket",
        ] {
            assert!(ok(&[flag, "x"]).names_listeners(), "{flag}");
        }
    }

    #[test]
    fn a_bad_flag_value_is_one_error_naming_the_flag() {
        let e = args(&["-buffer-bytes", "lots"]).unwrap_err();
        assert!(
            e.starts_with(
                "error: invalid value 'lots' for '--buffer-bytes <SIZE>': bad size \"lots\""
            ),
            "{e}"
        );
        let e = args(&["-idle-timeout", "1y"]).unwrap_err();
        assert!(
            e.contains("'--idle-timeout <DURATION>': bad duration \"1y\": unknown unit \"y\""),
            "{e}"
        );
        let e = args(&["-socket-mode", "0999"]).unwrap_err();
        assert!(e.contains("bad socket mode \"0999\""), "{e}");
        let e = args(&["-no-such-flag"]).unwrap_err();
        assert!(
            e.starts_with("error: unexpected argument '--no-such-flag' found"),
            "{e}"
        );
    }

    #[test]
    fn an_arena_too_small_for_one_message_says_both_flags() {
        let a = ok(&["-buffer-bytes", "4K"]);
        let e = ring::Ring::footprint(&a.ring_config()).unwrap_err();
        let line = a.ring_error(e);
        assert_eq!(
            line,
            "the arena (-buffer-bytes 4K) must be at least 16.3K to hold one message of the \
             maximum size (-max-message-size 16K)"
        );
        // The memory check makes the same error before allocating anything.
        assert_eq!(a.tables(64).unwrap_err(), line);
        // Other ring errors are the ring's own words.
        let a = ok(&["-buffer-size", "0"]);
        let e = ring::Ring::footprint(&a.ring_config()).unwrap_err();
        let words = e.to_string();
        assert_eq!(a.ring_error(e), words);
    }

    #[test]
    fn more_snapshots_than_the_maximum_is_one_line_naming_the_flag() {
        assert!(ok(&["-snapshots", "1024"]).tables(64).is_ok());
        assert_eq!(
            ok(&["-snapshots", "1025"]).tables(64).unwrap_err(),
            "-snapshots 1025 is more than circologd keeps: it must be at most 1024"
        );
    }

    #[test]
    fn tables_larger_than_memory_name_the_flag_to_lower() {
        let a = ok(&["-buffer-bytes", "64T"]);
        let tables = a.tables(64).unwrap();
        let names: Vec<_> = tables.iter().map(|t| t.flags.as_str()).collect();
        assert_eq!(
            names,
            [
                "-buffer-bytes 64T",
                "-buffer-size 100000",
                "-max-message-size 16K",
                "-snapshot-bytes 16M",
            ]
        );
        // 64 datagrams of the largest size, and the byte that shows truncation.
        assert_eq!(tables[2].bytes, 64 * ((16 << 10) + 1));
        let memory = startup::Memory {
            host: Some(24 << 30),
            cgroup: None,
        };
        assert_eq!(
            startup::check_memory(&tables, memory).unwrap_err(),
            "the arena (-buffer-bytes 64T) needs 64.0T, larger than this host's memory \
             (24G): lower -buffer-bytes"
        );
        assert_eq!(
            startup::check_memory(&ok(&[]).tables(64).unwrap(), memory),
            Ok(())
        );
    }

    #[test]
    fn triggers_that_would_snapshot_without_room_are_refused() {
        let e = ok(&["-trigger", "sev=crit", "-snapshot-bytes", "0"])
            .triggers(0)
            .err();
        assert_eq!(
            e.as_deref(),
            Some(
                "-trigger takes snapshots (-trigger-action snapshot), but -snapshot-bytes 0 \
             disables them: give the snapshots room, or use -trigger-action pause"
            )
        );
        let paused = ok(&[
            "-trigger",
            "sev=crit",
            "-snapshot-bytes",
            "0",
            "-trigger-action",
            "pause",
        ]);
        assert_eq!(paused.triggers(0).map(|t| t.is_empty()), Ok(false));
        let e = ok(&["-trigger", "sev=bogus"]).triggers(0).err().unwrap();
        assert!(e.starts_with("bad trigger \"sev=bogus\""), "{e}");
    }

    #[test]
    fn socket_files_are_private_unless_a_group_or_mode_is_given() {
        assert_eq!(ok(&[]).socket_mode(None), 0o600);
        assert_eq!(ok(&["-socket-group", "adm"]).socket_mode(Some(4)), 0o660);
        assert_eq!(ok(&["-socket-mode", "0640"]).socket_mode(Some(4)), 0o640);
        assert_eq!(ok(&["-socket-mode", "666"]).socket_mode(None), 0o666);
    }

    #[test]
    fn client_limits_count_only_for_the_apis_that_listen() {
        let a = ok(&["-max-clients", "10", "-max-senders", "7"]);
        let d = a.descriptors(&Opened {
            query: 2,
            ctl: 0,
            tcp_ingest: 1,
            sockets: 5,
        });
        assert_eq!(
            (d.query_clients, d.ctl_clients, d.senders, d.listeners),
            (10, 0, 7, 5)
        );
        let d = a.descriptors(&Opened {
            query: 0,
            ctl: 1,
            tcp_ingest: 0,
            sockets: 2,
        });
        assert_eq!(
            (d.query_clients, d.ctl_clients, d.senders, d.listeners),
            (0, 10, 0, 2)
        );
        let e = startup::check_limits(&ok(&["-max-clients", "0"]).limits()).unwrap_err();
        assert!(
            e.starts_with("-max-clients 0 would refuse every client"),
            "{e}"
        );
    }

    #[test]
    fn the_export_flags_make_the_exporter_or_say_what_is_wrong() {
        let url = "http://127.0.0.1:4318/v1/logs";
        let a = ok(&["-export-otlp", url, "-export-query", "?sev=err"]);
        assert!(a.export_filter(0).unwrap().is_some());
        let endpoint = a.export_otlp.clone().unwrap();
        assert!(a.exporter(&endpoint, "host".into(), 0).is_ok());
        // An empty query exports everything live.
        assert!(
            ok(&["-export-query", ""])
                .export_filter(0)
                .unwrap()
                .is_some()
        );
        let e = ok(&["-export-query", "sev=bogus"])
            .export_filter(0)
            .unwrap_err();
        assert!(e.starts_with("bad -export-query \"sev=bogus\": "), "{e}");
        let small = ok(&["-export-otlp", url, "-export-buffer", "1K"]);
        assert_eq!(
            small.exporter(&endpoint, "host".into(), 0).err(),
            Some("-export-buffer 1K: the export buffer must be at least 64K".to_string())
        );
        let e = args(&["-export-otlp", "ftp://x/"]).unwrap_err();
        assert!(e.contains("'--export-otlp <URL>'"), "{e}");
    }
}
