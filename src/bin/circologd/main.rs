//! circologd: the in-memory syslog daemon. A thin io_uring driver around the
//! `circolog` library: it opens the sockets, runs one single-threaded event
//! loop, and moves bytes between the sockets and the library's state.

mod dgram;
mod kmsg;
mod listen;
mod notify;
mod serve;
mod sys;

#[global_allocator]
static ALLOC: sys::Zeroing = sys::Zeroing;

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;

use circolog::cli::config;
use circolog::cli::manual;
use circolog::daemon::State;
use circolog::daemon::args::{Args, Opened};
use circolog::daemon::startup;
use circolog::daemon::systemd::{self, Role};
use circolog::ingest::limit::{self, Limiter};
use circolog::ingest::syslog::ParseContext;
use circolog::store::ring::{Ring, Transport};
use circolog::store::snapshot::Snapshots;
use clap::{CommandFactory, Parser};

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
    let max_message = args.max_message();
    startup::check_limits(&args.limits())?;
    let triggers = args.triggers(now_us())?;
    // No core dump, and no same-user process reading this one's memory.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| format!("cannot make the process non-dumpable: {e}"))?;
    let nofile = raise_nofile();
    check_io_uring()?;

    startup::check_memory(&args.tables(sys::VLEN)?, memory())?;
    let ring = Ring::new(args.ring_config()).map_err(|e| args.ring_error(e))?;
    let snapshots = Snapshots::new(args.snapshot_config()).map_err(|e| e.to_string())?;
    if args.lock_memory == Some(true) {
        ring.lock_memory()
            .map_err(|e| startup::lock_error("arena", ring.arena_bytes(), &e))?;
        snapshots
            .lock_memory()
            .map_err(|e| startup::lock_error("snapshot arena", snapshots.arena_bytes(), &e))?;
    }

    let socket_gid = args
        .socket_group
        .as_deref()
        .map(|g| startup::group_id(g, || std::fs::read_to_string("/etc/group")))
        .transpose()?;
    let access = listen::Access {
        mode: args.socket_mode(socket_gid),
        gid: socket_gid,
    };

    // No listener flag at all: the defaults the clients also look for.
    let mut syslogd_socket = args.syslogd_socket.clone();
    let mut query_socket = args.query_socket.clone();
    let mut ctl_socket = args.ctl_socket.clone();
    let mut inherited = listen::Inherited::from_env();
    let defaults = !args.names_listeners() && inherited.is_empty();
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
        let mut inherited_sockets = Vec::new();
        for name in ["query", "ctl", "syslog", systemd::SYSLOG_SOCKET] {
            for (fd, role) in inherited.take_named(name)? {
                inherited_sockets.push((fd, role, Some(name)));
            }
        }
        for (fd, role) in inherited.take_rest()? {
            inherited_sockets.push((fd, role, None));
        }
        for (fd, role, name) in inherited_sockets {
            let mut line = systemd::listening(name, role);
            // systemd's syslog.socket: the path journald forwards to.
            if name == Some(systemd::SYSLOG_SOCKET)
                && let Some(path) = listen::unix_path(&fd)
            {
                line = format!("{line} at {}", path.display());
            }
            listening.push(line);
            match role {
                Role::Query { tcp: false } => query_unix.push(UnixListener::from(fd)),
                Role::Query { tcp: true } => query_tcp.push(TcpListener::from(fd)),
                Role::Control => ctl_unix.push(UnixListener::from(fd)),
                Role::Senders => tcp_ingest.push(TcpListener::from(fd)),
                Role::Datagrams {
                    transport,
                    credentials,
                } => sources.push(dgram::Source {
                    fd,
                    transport,
                    credentials,
                }),
            }
        }
        Ok(())
    })();
    let descriptors = args.descriptors(&Opened {
        query: query_unix.len() + query_tcp.len(),
        ctl: ctl_unix.len(),
        tcp_ingest: tcp_ingest.len(),
        sockets: sources.len()
            + tcp_ingest.len()
            + query_unix.len()
            + query_tcp.len()
            + ctl_unix.len(),
    });
    let opened = opened.and_then(|()| startup::check_descriptors(&descriptors, nofile));
    if let Err(e) = opened {
        remove_files(&created);
        return Err(e);
    }
    let kmsg = match args.kmsg {
        true => match kmsg::open() {
            Ok(fd) => {
                listening.push(format!("kernel log buffer {}", kmsg::PATH));
                Some((fd, kmsg::Reader::new(&host_name())))
            }
            Err(e) => {
                remove_files(&created);
                return Err(e);
            }
        },
        false => None,
    };
    if sources.is_empty() && tcp_ingest.is_empty() && kmsg.is_none() {
        eprintln!("circologd: warning: no syslog input socket: nothing will be stored");
    }

    let epoch_us = now_us();
    let state = State::new(ring, epoch_us, ParseContext { tz })
        .with_max_age(args.max_age)
        .with_snapshots(snapshots)
        .with_triggers(triggers)
        .with_local_host(Box::leak(host_name().into_bytes().into_boxed_slice()));
    let mut state = match args.rate_limit {
        Some(rate) => {
            let limiter = Limiter::new(rate, args.rate_limit_keep, limit::SENDERS)
                .by(args.rate_limit_by, &host_name());
            state.with_limiter(match args.rate_limit_by {
                limit::By::Unit => limiter.with_units(sys::read_cgroup),
                _ => limiter,
            })
        }
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
        conn: args.conn_config(),
        max_message,
        max_senders: args.max_senders,
        socket_gid,
        export_to,
    };
    // Per network namespace: the one the sockets live in, this one's.
    let unix_dgram = sources.iter().any(|s| s.transport == Transport::Unix);
    let qlen = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|t| startup::parse_sysctl(&t));
    let qlen_warning = startup::dgram_qlen_warning(qlen, unix_dgram);
    let ingest = dgram::DgramIngest::new(sources, max_message)
        .map_err(|e| format!("cannot set up io_uring for the syslog sockets: {e}"))
        .and_then(|i| match args.lock_memory {
            Some(true) => i
                .lock()
                .map(|()| i)
                .map_err(|e| startup::lock_receive_error(&e)),
            _ => Ok(i),
        })?;

    if args.lock_memory == Some(true) {
        lock_everything();
    }

    if let Some(w) = qlen_warning {
        eprintln!("circologd: {w}");
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
            kmsg,
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
    Err(startup::io_uring_unavailable(&err, disabled))
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
    let filter = args.export_filter(epoch_us)?;
    let exporter = args.exporter(endpoint, host_name(), epoch_us)?;
    Ok((exporter, filter, addr))
}

/// This host's name, as the kernel has it.
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
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

/// How much memory this process may use, as `/proc` and its cgroups say.
fn memory() -> startup::Memory {
    let read = |path: &std::path::Path| std::fs::read_to_string(path).ok();
    let host = read("/proc/meminfo".as_ref()).and_then(|t| startup::parse_meminfo(&t));
    let cgroup = read("/proc/self/cgroup".as_ref())
        .map(|t| startup::cgroup_dirs(&t))
        .unwrap_or_default()
        .iter()
        .filter_map(|dir| read(&dir.join("memory.max")))
        .filter_map(|t| startup::parse_memory_max(&t))
        .min();
    startup::Memory { host, cgroup }
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
