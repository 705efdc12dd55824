//! circologd: the in-memory syslog daemon. A thin io_uring driver around the
//! `circolog` library: it opens the sockets, runs one single-threaded event
//! loop, and moves bytes between the sockets and the library's state.

mod dgram;
mod listen;
mod notify;
mod serve;

use std::cell::RefCell;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use circolog::config::{self, parse_duration, parse_mode, parse_size};
use circolog::daemon::State;
use circolog::manual;
use circolog::ring::{self, Ring, Transport};
use circolog::syslog::ParseContext;
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
    /// Largest websocket frame or message a client may send (1009 past it).
    #[arg(long = "max-ws-frame", value_name = "SIZE", default_value = "64K", value_parser = parse_size)]
    max_ws_frame: usize,
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
    check_io_uring()?;
    check_memory(args.buffer_bytes)?;

    let ring = Ring::new(ring::Config {
        max_messages: args.buffer_size,
        arena_bytes: args.buffer_bytes,
        max_message_bytes: max_message,
    })
    .map_err(|e| match e {
        ring::ConfigError::ArenaTooSmall { needed } => format!(
            "the arena (-buffer-bytes {}) must be at least {} to hold one message of the \
             maximum size (-max-message-size {})",
            config::format_size(args.buffer_bytes as u64),
            config::format_size(needed as u64),
            config::format_size(max_message as u64)
        ),
        e => e.to_string(),
    })?;
    if args.lock_memory == Some(true) {
        ring.lock_memory().map_err(|e| {
            format!(
                "cannot lock the {} arena in RAM: {e} (raise RLIMIT_MEMLOCK, e.g. \
                 LimitMEMLOCK=infinity in the unit, or run without -lock-memory)",
                config::format_size(ring.arena_bytes() as u64)
            )
        })?;
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
        for (fd, kind, _) in inherited.take_named("syslog") {
            sources.push(dgram::Source {
                credentials: true,
                fd,
                transport: Transport::Unix,
            });
            let _ = kind;
        }
        for fd in inherited.take_rest()? {
            let _ = dgram::pass_credentials(&fd);
            sources.push(dgram::Source {
                fd,
                transport: Transport::Unix,
                credentials: true,
            });
            listening.push("syslog datagram socket from systemd".into());
        }
        Ok(())
    })();
    if let Err(e) = opened {
        remove_files(&created);
        return Err(e);
    }
    if sources.is_empty() && tcp_ingest.is_empty() {
        eprintln!("circologd: warning: no syslog input socket: nothing will be stored");
    }

    let epoch_us = now_us();
    let state = Rc::new(RefCell::new(State::new(
        ring,
        epoch_us,
        ParseContext { tz },
    )));
    let limits = serve::Limits {
        max_head: args.max_head_bytes,
        head_timeout: args.head_timeout,
        idle_timeout: args.idle_timeout,
        max_clients: args.max_clients,
        max_ws_frame: args.max_ws_frame,
    };
    let ingest = dgram::DgramIngest::new(sources, max_message, dgram::Tuning::from_env())
        .map_err(|e| format!("cannot set up io_uring for the syslog sockets: {e}"))?;

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
    // Until the event loop says these itself: ready once the sockets are
    // open and the loop is about to run, stopping once it has stopped.
    let notifier = notify::Notifier::from_env();
    if let Some(n) = &notifier {
        n.ready();
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
        limits,
        max_message,
        socket_gid,
    ));
    if let Some(n) = &notifier {
        n.stopping();
    }
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

/// Refuses an arena larger than the host's memory.
fn check_memory(arena: usize) -> Result<(), String> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    match total {
        Some(total) if arena as u64 >= total => Err(format!(
            "the arena (-buffer-bytes {}) is larger than this host's memory ({})",
            config::format_size(arena as u64),
            config::format_size(total)
        )),
        _ => Ok(()),
    }
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
