//! circologd: the in-memory syslog daemon. A thin io_uring driver around the
//! `circolog` library: it opens the sockets, runs one single-threaded event
//! loop, and moves bytes between the sockets and the library's state.

mod export;
mod serve;

#[global_allocator]
static ALLOC: sys::Zeroing = sys::Zeroing;

use std::io::Write as _;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

use circolog::cli::config;
use circolog::cli::manual;
use circolog::daemon::State;
use circolog::daemon::args::Args;
use circolog::daemon::driver::now_us;
use circolog::daemon::listen;
use circolog::daemon::restart;
use circolog::daemon::startup;
use circolog::ingest::limit::{self, Limiter};
use circolog::ingest::syslog::ParseContext;
use circolog::store::ring::Transport;
use circolog::sys::{self, dgram, kmsg, memfile};
use clap::CommandFactory;

fn main() -> ExitCode {
    let args: Args = config::parse();
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
    // Before anything could change the working directory: the file a
    // restart executes again.
    let program = sys::this_program();
    let tz = args.time_zone()?;
    let max_message = args.max_message();
    startup::check_limits(&args.limits())?;
    let triggers = args.triggers(now_us())?;
    // No core dump, and no same-user process reading this one's memory.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| format!("cannot make the process non-dumpable: {e}"))?;
    let nofile = startup::raise_nofile();
    startup::check_io_uring()?;

    startup::check_memory(&args.tables(sys::VLEN)?, startup::memory())?;
    // The memory file before any socket: an inherited one is adopted.
    let mut inherited = listen::inherited_from_env();
    // A restart's control connection, answered once this process serves.
    let reply = inherited.take_reply();
    if reply.is_some() {
        inherited.from_restart();
    }
    let memfile::Made {
        mut ring,
        buffers,
        snapshots,
        file: memory_file,
        said: memory_said,
        replaced,
    } = memfile::open(&args, max_message, inherited.take_ring())?;
    let started_us = now_us();
    // An adopted ring keeps its epoch: its seqs go on.
    let epoch_us = ring.epoch_us().unwrap_or(started_us);
    ring.begin_process(epoch_us, std::process::id(), started_us);
    if args.lock_memory == Some(true) {
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

    let plan = listen::Plan::new(&args, !inherited.is_empty(), config::default_paths);
    if let Some(dir) = &plan.private_dir {
        listen::ensure_private_dir(dir)?;
    }

    // Before any socket exists: a SIGTERM sent as soon as one appears (by a
    // supervisor, a script) is then a clean shutdown, not a kill that leaves
    // socket files behind.
    let signals = circolog::daemon::signals::Signals::register()
        .map_err(|e| format!("cannot handle signals: {e}"))?;
    // The socket files a process that restarted into this one had
    // created are this one's to remove, with its own, whenever it returns.
    let mut created = SocketFiles(match reply {
        Some(_) => restart::socket_files(std::env::var_os(restart::SOCKET_FILES).as_deref()),
        None => Vec::new(),
    });
    let warn = |w| eprintln!("circologd: warning: {w}");
    let opened = listen::open(&plan, &mut inherited, access, &mut created.0, warn);
    let listeners = opened
        .as_ref()
        .map_or_else(|_| Default::default(), listen::Listeners::opened);
    let descriptors = args.descriptors(&listeners);
    let mut l =
        opened.and_then(|l| startup::check_descriptors(&descriptors, nofile).map(|()| l))?;
    let kmsg = match args.kmsg {
        true => {
            let fd = kmsg::open()?;
            l.listening
                .push(format!("kernel log buffer {}", kmsg::PATH));
            Some((fd, kmsg::Reader::new(&sys::host_name())))
        }
        false => None,
    };
    let handover = l.handover(memory_file.as_fd())?;
    if l.datagrams.is_empty() && l.tcp_ingest.is_empty() && kmsg.is_none() {
        eprintln!("circologd: warning: no syslog input socket: nothing will be stored");
    }

    let state = State::new(ring, epoch_us, ParseContext { tz })
        .with_max_age(args.max_age)
        .with_snapshots(snapshots)
        .with_triggers(triggers)
        .with_max_senders(args.max_senders)
        .with_local_host(Box::leak(sys::host_name().into_bytes().into_boxed_slice()))
        .with_units(sys::read_cgroup);
    let mut state = match args.rate_limit {
        Some(rate) => {
            // By unit, the state's look-up of each sender's unit serves.
            state.with_limiter(
                Limiter::new(rate, args.rate_limit_keep, limit::SENDERS)
                    .by(args.rate_limit_by, &sys::host_name()),
            )
        }
        None => state,
    };
    state.resume_restored_pause(started_us);
    // An adopted ring holds the kernel's records up to where the previous
    // process read: none is stored twice.
    let kmsg = kmsg.map(|(fd, reader)| (fd, reader.resume_after(state.kernel_records_read())));
    let (state, export_to) = startup::attach_export(&args, state, epoch_us, sys::host_name())?;
    let settings = serve::Settings {
        conn: args.conn_config(),
        max_message,
        socket_gid,
        export_to,
    };
    // Per network namespace: the one the sockets live in, this one's.
    let unix_dgram = l.datagrams.iter().any(|s| s.transport == Transport::Unix);
    let qlen_warning = startup::dgram_qlen_warning(startup::dgram_qlen(), unix_dgram);
    let datagrams = std::mem::take(&mut l.datagrams);
    let ingest = dgram::DgramIngest::new(datagrams, max_message, Some(buffers))
        .map_err(|e| format!("cannot set up io_uring for the syslog sockets: {e}"))
        .and_then(|i| match args.lock_memory {
            Some(true) => i
                .lock()
                .map(|()| i)
                .map_err(|e| startup::lock_receive_error(&e)),
            _ => Ok(i),
        })?;

    if args.lock_memory == Some(true) && !startup::lock_heap() {
        eprintln!(
            "circologd: warning: the arenas and receive buffers are locked in RAM, but not the \
             heap's buffers (RLIMIT_MEMLOCK is limited: set it to unlimited, e.g. \
             LimitMEMLOCK=infinity, to lock every copy of a message)"
        );
    }

    if let Some(w) = qlen_warning {
        eprintln!("circologd: {w}");
    }
    // A closed standard output (the reader of these lines went away) is
    // no reason to stop: nothing else is ever written there.
    let mut stdout = std::io::stdout();
    if let Some(line) = &memory_said {
        let _ = writeln!(stdout, "{line}");
    }
    for line in &l.listening {
        let _ = writeln!(stdout, "circologd: listening: {line}");
    }
    if l.ctl_unix.is_empty() {
        let _ = writeln!(
            stdout,
            "{}",
            config::no_control_socket_notice(std::process::id())
        );
    }
    let notifier = circolog::daemon::notify::Notifier::from_env();
    if let Some(n) = &notifier {
        if replaced.is_some() {
            n.unstore(listen::RING);
        }
        if let Err(e) = n.store(memory_file.as_fd(), listen::RING) {
            eprintln!("circologd: warning: cannot hand the ring to the service manager: {e}");
        }
    }
    drop(replaced);
    let restart = restart::Handover {
        program,
        args: std::env::args_os().skip(1).collect(),
        handover,
        socket_files: created.0.clone(),
        under_service_manager: notifier.is_some(),
        reply,
    };
    let result = tokio_uring::start(serve::run(
        state, signals, ingest, l, kmsg, settings, notifier, restart,
    ));
    drop(memory_file);
    result
}

/// The socket files this process removes when `run` returns, however it
/// does (an error after they were made included).
struct SocketFiles(Vec<PathBuf>);

impl Drop for SocketFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
