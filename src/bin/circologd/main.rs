//! circologd: the in-memory syslog daemon. A thin io_uring driver around the
//! `circolog` library: it opens the sockets, runs one single-threaded event
//! loop, and moves bytes between the sockets and the library's state.

mod dgram;
mod listen;
mod notify;
mod serve;
mod sys;

#[global_allocator]
static ALLOC: sys::Zeroing = sys::Zeroing;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use circolog::config::{self, parse_duration, parse_mode, parse_size, size_flag};
use circolog::daemon::State;
use circolog::limit::{self, Limiter};
use circolog::manual;
use circolog::ring::{self, Ring, Transport};
use circolog::snapshot::{self, Snapshots};
use circolog::startup;
use circolog::syslog::ParseContext;
use circolog::trigger::{self, Triggers};
use clap::{CommandFactory, Parser};

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
struct Args {
    /// Print the manual page or a shell completion script, and exit.
    #[arg(long = "generate", value_enum, value_name = "WHAT")]
    generate: Option<manual::Generate>,
    /// Syslog input on a unix datagram socket (repeatable).
    #[arg(long = "syslogd-socket", value_name = "PATH")]
    syslogd_socket: Vec<PathBuf>,
    /// Syslog input on UDP and TCP at this address (repeatable).
    #[arg(long = "syslog-addr", value_name = "HOST:PORT")]
    syslog_addr: Vec<String>,
    /// HTTP/websocket query API on a unix stream socket.
    #[arg(long = "query-socket", value_name = "PATH")]
    query_socket: Option<PathBuf>,
    /// HTTP/websocket query API on TCP.
    #[arg(long = "query-addr", value_name = "HOST:PORT")]
    query_addr: Option<String>,
    /// HTTP control API on a unix stream socket.
    #[arg(long = "ctl-socket", value_name = "PATH")]
    ctl_socket: Option<PathBuf>,
    /// Keep at most the last N messages.
    #[arg(long = "buffer-size", value_name = "N", default_value_t = 100_000)]
    buffer_size: usize,
    /// Size of the preallocated arena (64M, 1G, …).
    #[arg(long = "buffer-bytes", value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    buffer_bytes: usize,
    /// Longer messages are truncated (at least 2048).
    #[arg(long = "max-message-size", value_name = "SIZE", default_value = "16K", value_parser = parse_size)]
    max_message_size: usize,
    /// Mode of the query and control sockets (default 0600, 0660 with -socket-group).
    #[arg(long = "socket-mode", value_name = "MODE", value_parser = parse_mode)]
    socket_mode: Option<u32>,
    /// Group of the query and control sockets; its members may use them.
    #[arg(long = "socket-group", value_name = "GROUP")]
    socket_group: Option<String>,
    /// Lock the arena in RAM (never swapped).
    #[arg(long = "lock-memory", num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    lock_memory: Option<bool>,
    /// Zone of RFC 3164 dates, which carry none (UTC, Europe/Rome, local).
    #[arg(long = "tz", value_name = "ZONE", default_value = "local")]
    tz: String,
    /// Largest HTTP request head; larger ones get 431.
    #[arg(long = "max-head-bytes", value_name = "SIZE", default_value = "16K", value_parser = parse_size)]
    max_head_bytes: usize,
    /// A client must send its whole request head within this time.
    #[arg(long = "head-timeout", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    head_timeout: Duration,
    /// Idle keep-alive connections are closed after this time.
    #[arg(long = "idle-timeout", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Past this many query and control clients, new ones get 503.
    #[arg(long = "max-clients", value_name = "N", default_value_t = 1024)]
    max_clients: u64,
    /// Messages received longer ago than this are evicted and their bytes
    /// overwritten (checked at least once a second; default: no age limit).
    #[arg(long = "max-age", value_name = "DURATION", value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// Export to this OTLP/HTTP logs endpoint (http://HOST:PORT/v1/logs,
    /// usually the local collector): messages leave the RAM-only daemon.
    #[arg(long = "export-otlp", value_name = "URL")]
    export_otlp: Option<circolog::export::Endpoint>,
    /// Messages to export as they arrive, in the query language of GET /
    /// (default: none live).
    #[arg(long = "export-query", value_name = "QUERY")]
    export_query: Option<String>,
    /// Also export every snapshot when it is taken (its records carry
    /// circolog.snapshot).
    #[arg(long = "export-snapshots")]
    export_snapshots: bool,
    /// RAM for records waiting to be sent; past it the oldest are dropped.
    #[arg(long = "export-buffer", value_name = "SIZE", default_value = "8M", value_parser = parse_size)]
    export_buffer: usize,
    /// A client that takes none of a response for this long is closed.
    #[arg(long = "write-timeout", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    write_timeout: Duration,
    /// Past this many TCP syslog senders, new ones are closed at once.
    #[arg(long = "max-senders", value_name = "N", default_value_t = 1024)]
    max_senders: u64,
    /// Largest websocket frame or message a client may send (1009 past it).
    #[arg(long = "max-ws-frame", value_name = "SIZE", default_value = "64K", value_parser = parse_size)]
    max_ws_frame: usize,
    /// Size of the second arena, allocated at start-up and RAM only like the
    /// ring's, that holds snapshots (0 disables them).
    #[arg(long = "snapshot-bytes", value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    snapshot_bytes: usize,
    /// At most N snapshots are kept; the oldest goes first.
    #[arg(long = "snapshots", value_name = "N", default_value_t = 8)]
    snapshots: usize,
    /// A stored message that matches QUERY (the query language of GET /:
    /// sev=crit, app=kernel&grep=Oops) fires the trigger; repeatable.
    #[arg(long = "trigger", value_name = "QUERY")]
    trigger: Vec<String>,
    /// Post-roll: keep collecting N more messages (or for DURATION) after
    /// the triggering one, then act.
    #[arg(long = "trigger-after", value_name = "N|DURATION", default_value = "100", value_parser = trigger::PostRoll::parse)]
    trigger_after: trigger::PostRoll,
    /// What firing does: take a snapshot, or pause as a person would.
    #[arg(long = "trigger-action", value_name = "snapshot|pause", default_value = "snapshot", value_parser = trigger::Action::parse)]
    trigger_action: trigger::Action,
    /// A trigger does not fire again within DURATION of its last firing.
    #[arg(long = "trigger-holdoff", value_name = "DURATION", default_value = "60s", value_parser = trigger::parse_duration)]
    trigger_holdoff: Duration,
    /// Each sender (unix sockets: its pid; UDP and TCP: its address) may store N
    /// messages per DURATION (e.g. 1000/10s); more are dropped, and one
    /// notice says how many. Off by default.
    #[arg(long = "rate-limit", value_name = "N/DURATION", value_parser = limit::Rate::parse)]
    rate_limit: Option<limit::Rate>,
    /// Messages at or above LEVEL are never rate-limited.
    #[arg(long = "rate-limit-keep", value_name = "LEVEL", default_value = "crit", value_parser = limit::parse_keep)]
    rate_limit_keep: u8,
}

/// The smallest maximum message size: RFC 5424 receivers must take 2048.
const MIN_MESSAGE: usize = 2048;

fn main() -> ExitCode {
    let args = Args::parse_from(config::go_style_args_all(std::env::args_os()));
    if let Some(what) = args.generate {
        return match manual::generate(
            what,
            Args::command(),
            manual::CIRCOLOGD,
            &mut std::io::stdout(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("circologd: cannot write the {what:?} output: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("circologd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let tz = match args.tz.as_str() {
        "local" => jiff::tz::TimeZone::system(),
        "UTC" | "utc" => jiff::tz::TimeZone::UTC,
        name => jiff::tz::TimeZone::get(name)
            .map_err(|e| format!("unknown time zone {name:?} for -tz: {e}"))?,
    };
    let max_message = args.max_message_size.max(MIN_MESSAGE);
    startup::check_limits(&startup::Limits {
        max_clients: args.max_clients,
        max_head_bytes: args.max_head_bytes,
        head_timeout: args.head_timeout,
        idle_timeout: args.idle_timeout,
        write_timeout: args.write_timeout,
        max_ws_frame: args.max_ws_frame,
    })?;
    let triggers = Triggers::new(
        args.trigger
            .iter()
            .map(|t| trigger::parse_trigger(t, now_us()).map(|f| (f, t.clone())))
            .collect::<Result<_, _>>()?,
        args.trigger_after,
        args.trigger_action,
        args.trigger_holdoff,
    );
    if !triggers.is_empty()
        && args.trigger_action == trigger::Action::Snapshot
        && args.snapshot_bytes == 0
    {
        return Err(
            "-trigger takes snapshots (-trigger-action snapshot), but -snapshot-bytes 0 \
             disables them: give the snapshots room, or use -trigger-action pause"
                .to_string(),
        );
    }
    // No core dump, and no same-user process reading this one's memory.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| format!("cannot make the process non-dumpable: {e}"))?;
    let nofile = raise_nofile();
    check_io_uring()?;

    let ring_config = ring::Config {
        max_messages: args.buffer_size,
        arena_bytes: args.buffer_bytes,
        max_message_bytes: max_message,
    };
    check_memory(&args, &ring_config)?;
    let ring = Ring::new(ring_config).map_err(|e| ring_error(e, &args))?;
    let snapshots = Snapshots::new(snapshot::Config {
        arena_bytes: args.snapshot_bytes,
        max_snapshots: args.snapshots,
    })
    .map_err(|e| e.to_string())?;
    if args.lock_memory == Some(true) {
        let lock_failed = |what: &str, bytes: usize, e: std::io::Error| {
            format!(
                "cannot lock the {} {what} in RAM: {e} (raise RLIMIT_MEMLOCK, e.g. \
                 LimitMEMLOCK=infinity in the unit, or run without -lock-memory)",
                config::format_size(bytes as u64)
            )
        };
        ring.lock_memory()
            .map_err(|e| lock_failed("arena", ring.arena_bytes(), e))?;
        snapshots
            .lock_memory()
            .map_err(|e| lock_failed("snapshot arena", snapshots.arena_bytes(), e))?;
    }

    let socket_gid = args.socket_group.as_deref().map(group_id).transpose()?;
    let access = listen::Access {
        mode: args
            .socket_mode
            .unwrap_or(if socket_gid.is_some() { 0o660 } else { 0o600 }),
        gid: socket_gid,
    };

    // No listener flag at all: the defaults the clients also look for.
    let mut syslogd_socket = args.syslogd_socket.clone();
    let mut query_socket = args.query_socket.clone();
    let mut ctl_socket = args.ctl_socket.clone();
    let mut inherited = listen::Inherited::from_env();
    let defaults = syslogd_socket.is_empty()
        && args.syslog_addr.is_empty()
        && query_socket.is_none()
        && args.query_addr.is_none()
        && ctl_socket.is_none()
        && inherited.is_empty();
    if defaults {
        let d = config::default_paths();
        if let Some(dir) = &d.dir {
            listen::ensure_private_dir(dir)?;
        }
        syslogd_socket.push(d.syslog);
        query_socket = Some(d.query);
        ctl_socket = Some(d.ctl);
    }

    // Before any socket exists: a SIGTERM sent as soon as one appears (by a
    // supervisor, a script) is then a clean shutdown, not a kill that leaves
    // socket files behind.
    let signals = serve::Signals::register().map_err(|e| format!("cannot handle signals: {e}"))?;
    let mut created = Vec::new();
    let mut sources = Vec::new();
    let mut tcp_ingest = Vec::new();
    let mut query_unix = Vec::new();
    let mut query_tcp = Vec::new();
    let mut ctl_unix = Vec::new();
    let mut listening = Vec::new();
    let opened = (|| -> Result<(), String> {
        for path in &syslogd_socket {
            let fd = listen::unix_dgram(path, &mut inherited, &mut created)?;
            sources.push(dgram::Source {
                fd,
                transport: Transport::Unix,
                credentials: true,
            });
            listening.push(format!("syslog unix datagram {}", path.display()));
        }
        for spec in &args.syslog_addr {
            let addr = listen::resolve(spec)?;
            let fd = listen::udp(addr, &mut inherited)?;
            // A `:0` port: TCP takes the one the kernel chose for UDP, so
            // that one address is printed and means both.
            let addr = listen::local_addr(&fd).unwrap_or(addr);
            sources.push(dgram::Source {
                fd,
                transport: Transport::Udp,
                credentials: false,
            });
            tcp_ingest.push(listen::tcp(addr, &mut inherited)?);
            listening.push(format!("syslog UDP and TCP {addr}"));
        }
        if let Some(path) = &query_socket {
            query_unix.push(listen::unix_stream(
                path,
                access,
                &mut inherited,
                &mut created,
            )?);
            listening.push(format!("query {}", path.display()));
        }
        if let Some(spec) = &args.query_addr {
            let addr = listen::resolve(spec)?;
            let listener = listen::tcp(addr, &mut inherited)?;
            let addr = listener.local_addr().unwrap_or(addr);
            query_tcp.push(listener);
            listening.push(format!("query http://{addr}/"));
            if !addr.ip().is_loopback() {
                eprintln!(
                    "circologd: warning: the query API on {addr} is not on loopback: anyone \
                     who can reach it can read these logs"
                );
            }
        }
        if let Some(path) = &ctl_socket {
            ctl_unix.push(listen::unix_stream(
                path,
                access,
                &mut inherited,
                &mut created,
            )?);
            listening.push(format!("control {}", path.display()));
        }
        // Sockets from systemd, by name, then what is left by kind.
        for s in inherited.take_named("query")? {
            match s {
                listen::Socket::Unix(l) => query_unix.push(l),
                listen::Socket::Tcp(l) => query_tcp.push(l),
                other => {
                    return Err(format!(
                        "the inherited socket named query is a {} socket: the query API needs \
                         a stream socket (ListenStream=)",
                        other.describe()
                    ));
                }
            }
            listening.push("query socket from systemd".into());
        }
        for s in inherited.take_named("ctl")? {
            match s {
                listen::Socket::Unix(l) => ctl_unix.push(l),
                other => {
                    return Err(format!(
                        "the inherited socket named ctl is a {} socket: the control API needs \
                         a unix stream socket",
                        other.describe()
                    ));
                }
            }
            listening.push("control socket from systemd".into());
        }
        let mut add_input = |s: listen::Socket, from: &str| -> Result<(), String> {
            let (fd, transport, credentials) = match s {
                listen::Socket::UnixDgram(fd) => (fd, Transport::Unix, true),
                listen::Socket::Udp(fd) => (fd, Transport::Udp, false),
                listen::Socket::Tcp(l) => {
                    tcp_ingest.push(l);
                    listening.push(format!("syslog TCP socket {from}"));
                    return Ok(());
                }
                listen::Socket::Unix(_) => {
                    return Err(format!(
                        "the inherited socket {from} is a unix stream socket: syslog input is \
                         read from datagram sockets (ListenDatagram=) or TCP"
                    ));
                }
            };
            listening.push(format!("syslog {} socket {from}", transport.name()));
            sources.push(dgram::Source {
                fd,
                transport,
                credentials,
            });
            Ok(())
        };
        for s in inherited.take_named("syslog")? {
            add_input(s, "named syslog from systemd")?;
        }
        // What no name claimed, by kind: datagram sockets are syslog inputs.
        for s in inherited.take_rest()? {
            add_input(s, "from systemd")?;
        }
        Ok(())
    })();
    let has = |n: usize, v: u64| if n > 0 { v } else { 0 };
    let descriptors = startup::Descriptors {
        query_clients: has(query_unix.len() + query_tcp.len(), args.max_clients),
        ctl_clients: has(ctl_unix.len(), args.max_clients),
        senders: has(tcp_ingest.len(), args.max_senders),
        listeners: (sources.len()
            + tcp_ingest.len()
            + query_unix.len()
            + query_tcp.len()
            + ctl_unix.len()) as u64,
    };
    let opened = opened.and_then(|()| startup::check_descriptors(&descriptors, nofile));
    if let Err(e) = opened {
        remove_files(&created);
        return Err(e);
    }
    if sources.is_empty() && tcp_ingest.is_empty() {
        eprintln!("circologd: warning: no syslog input socket: nothing will be stored");
    }

    let epoch_us = now_us();
    let state = State::new(ring, epoch_us, ParseContext { tz })
        .with_max_age(args.max_age)
        .with_snapshots(snapshots)
        .with_triggers(triggers);
    let mut state = match args.rate_limit {
        Some(rate) => state.with_limiter(Limiter::new(rate, args.rate_limit_keep, limit::SENDERS)),
        None => state,
    };
    let export_to = match &args.export_otlp {
        Some(endpoint) => {
            let (exporter, filter, addr) = exporter(&args, endpoint, epoch_us)?;
            state = state.with_export(exporter, filter, args.export_snapshots);
            Some(addr)
        }
        None => None,
    };
    let settings = serve::Settings {
        conn: circolog::conn::Config {
            max_head: args.max_head_bytes,
            head_timeout: args.head_timeout,
            idle_timeout: args.idle_timeout,
            write_timeout: args.write_timeout,
            max_clients: args.max_clients,
            max_ws_frame: args.max_ws_frame,
        },
        max_message,
        max_senders: args.max_senders,
        socket_gid,
        export_to,
    };
    let ingest = dgram::DgramIngest::new(sources, max_message)
        .map_err(|e| format!("cannot set up io_uring for the syslog sockets: {e}"))
        .and_then(|i| match args.lock_memory {
            Some(true) => i.lock().map(|()| i).map_err(|e| {
                format!("cannot lock the receive buffers in RAM: {e} (raise RLIMIT_MEMLOCK, or run without -lock-memory)")
            }),
            _ => Ok(i),
        })?;

    if args.lock_memory == Some(true) {
        lock_everything();
    }

    // A closed standard output (the reader of these lines went away) is
    // no reason to stop: nothing else is ever written there.
    let mut stdout = std::io::stdout();
    for l in &listening {
        let _ = writeln!(stdout, "circologd: listening: {l}");
    }
    if ctl_unix.is_empty() {
        let _ = writeln!(
            stdout,
            "{}",
            config::no_control_socket_notice(std::process::id())
        );
    }
    let result = tokio_uring::start(serve::run(
        state,
        signals,
        ingest,
        serve::Listeners {
            tcp_ingest,
            query_unix,
            query_tcp,
            ctl_unix,
        },
        settings,
        notify::Notifier::from_env(),
    ));
    remove_files(&created);
    result
}

fn remove_files(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Fails with the reason when this process cannot use io_uring.
fn check_io_uring() -> Result<(), String> {
    let err = match io_uring::IoUring::new(2) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => {
            "the kernel has no io_uring (it needs Linux 6.0 or later, built with CONFIG_IO_URING)"
                .to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) if disabled == 2 => {
            "io_uring is disabled on this host (sysctl kernel.io_uring_disabled=2)".to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) if disabled == 1 => {
            "io_uring is restricted on this host (sysctl kernel.io_uring_disabled=1): run as \
             root or as a member of kernel.io_uring_group"
                .to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "io_uring is blocked for this process, probably by a seccomp profile (a container's \
             default profile blocks it)"
                .to_string()
        }
        Some(libc::ENOMEM) => {
            "the kernel could not allocate an io_uring (RLIMIT_MEMLOCK too low?)".to_string()
        }
        _ => err.to_string(),
    };
    Err(format!("io_uring is not available: {why}"))
}

/// The exporter `-export-otlp` asks for, the filter of `-export-query`, and
/// the endpoint's address (resolved once, at start-up).
fn exporter(
    args: &Args,
    endpoint: &circolog::export::Endpoint,
    epoch_us: i64,
) -> Result<
    (
        circolog::export::Exporter,
        Option<circolog::query::Filter>,
        std::net::SocketAddr,
    ),
    String,
> {
    use std::net::ToSocketAddrs;
    let addr = (endpoint.host(), endpoint.port())
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve the -export-otlp host {:?}", endpoint.host()))?;
    let filter = args
        .export_query
        .as_deref()
        .map(|q| {
            circolog::query::Query::parse(q.strip_prefix('?').unwrap_or(q), epoch_us)
                .map(|q| q.filter)
                .map_err(|e| format!("bad -export-query {q:?}: {e}"))
        })
        .transpose()?;
    let host_name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let exporter = circolog::export::Exporter::new(circolog::export::Config {
        endpoint: endpoint.clone(),
        buffer_bytes: args.export_buffer,
        host_name,
        epoch_us,
    })
    .map_err(|e| {
        format!(
            "-export-buffer {}: {e}",
            config::format_size(args.export_buffer as u64)
        )
    })?;
    Ok((exporter, filter, addr))
}

/// With `-lock-memory`, every copy of a message must stay out of swap, not
/// only the arenas and receive buffers locked above: the heap's too (dump
/// and frame buffers, TCP framing, the export queue). All pages, now and
/// later, are locked when the process may lock without bound (root, or an
/// unlimited RLIMIT_MEMLOCK, as the shipped unit sets); else a later
/// allocation could fail, and the heap stays unlocked, which is said.
fn lock_everything() {
    use rustix::process::{Resource, getrlimit};
    let unlimited = getrlimit(Resource::Memlock).current.is_none();
    let root = rustix::process::geteuid().is_root();
    let locked = (unlimited || root)
        && rustix::mm::mlockall(
            rustix::mm::MlockAllFlags::CURRENT | rustix::mm::MlockAllFlags::FUTURE,
        )
        .is_ok();
    if !locked {
        eprintln!(
            "circologd: warning: the arenas and receive buffers are locked in RAM, but not the \
             heap's buffers (RLIMIT_MEMLOCK is limited: set it to unlimited, e.g. \
             LimitMEMLOCK=infinity, to lock every copy of a message)"
        );
    }
}

/// A ring that cannot be made, in the flags' own terms.
fn ring_error(e: ring::ConfigError, args: &Args) -> String {
    match e {
        ring::ConfigError::ArenaTooSmall { needed } => format!(
            "the arena (-buffer-bytes {}) must be at least {} to hold one message of the \
             maximum size (-max-message-size {})",
            config::format_size(args.buffer_bytes as u64),
            config::format_size(needed as u64),
            config::format_size(args.max_message_size.max(MIN_MESSAGE) as u64)
        ),
        e => e.to_string(),
    }
}

/// Refuses tables sized by flags that together are larger than the memory
/// this process may use, before any is allocated.
fn check_memory(args: &Args, ring: &ring::Config) -> Result<(), String> {
    let footprint = Ring::footprint(ring).map_err(|e| ring_error(e, args))?;
    let receive = sys::VLEN.saturating_mul(ring.max_message_bytes.saturating_add(1));
    let tables = [
        startup::Table {
            what: "the arena",
            flags: format!("-buffer-bytes {}", size_flag(args.buffer_bytes as u64)),
            bytes: footprint.arena_bytes as u64,
        },
        startup::Table {
            what: "the seq table",
            flags: format!("-buffer-size {}", args.buffer_size),
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
            flags: format!("-snapshot-bytes {}", size_flag(args.snapshot_bytes as u64)),
            bytes: args.snapshot_bytes as u64,
        },
    ];
    let read = |path: &std::path::Path| std::fs::read_to_string(path).ok();
    let host = read("/proc/meminfo".as_ref()).and_then(|t| startup::parse_meminfo(&t));
    let cgroup = read("/proc/self/cgroup".as_ref())
        .map(|t| startup::cgroup_dirs(&t))
        .unwrap_or_default()
        .iter()
        .filter_map(|dir| read(&dir.join("memory.max")))
        .filter_map(|t| startup::parse_memory_max(&t))
        .min();
    startup::check_memory(&tables, startup::Memory { host, cgroup })
}

/// Raises the soft descriptor limit to the hard one (systemd starts services
/// at 1024) and returns the limit in force (`None`: unlimited).
fn raise_nofile() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if let Some(raised) = startup::raised_nofile(limit.current, limit.maximum, nr_open) {
        let old = limit.current;
        limit.current = Some(raised);
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit.current = old;
        }
    }
    limit.current
}

/// A group's id from its name or number.
fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group")
        .map_err(|e| format!("cannot read /etc/group to find group {name:?}: {e}"))?;
    groups
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(name))
                .then(|| f.nth(1).and_then(|g| g.parse().ok()))
                .flatten()
        })
        .ok_or_else(|| format!("unknown group {name:?} for -socket-group"))
}
