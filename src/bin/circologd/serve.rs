//! The event loop's tasks: the datagram ingest loop, TCP syslog senders,
//! the query and control clients, and signals. Each is a task on the one
//! tokio-uring thread. The protocol work is the library's
//! ([`circolog::serve::conn::Conn`], [`circolog::ingest::syslog::framing::Framer`]); these
//! tasks move bytes between sockets and it, and decide when to ingest.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use circolog::daemon::diag::{Held, Throttle};
use circolog::daemon::driver::{self, now_us};
use circolog::daemon::listen;
use circolog::daemon::notify::{self, Notifier};
use circolog::daemon::restart::Handover;
use circolog::daemon::signals::{self, Signals};
use circolog::daemon::{Admitted, Event, State};
use circolog::ingest::syslog::framing::Framer;
use circolog::serve::conn::{self, Conn, Now, Out, Peer, Role, Want};
use circolog::serve::fanout::Fanout;
use tokio::sync::{Notify, watch};

use circolog::sys::dgram::DgramIngest;
use circolog::sys::{
    self,
    stream::Stream,
    task::{sleep_until_opt, yield_to_io},
};

/// What the daemon's own settings add to the clients' limits.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub conn: conn::Config,
    pub max_message: usize,
    pub socket_gid: Option<u32>,
    /// `-export-otlp`'s address, when the state has an exporter.
    pub export_to: Option<std::net::SocketAddr>,
}

/// Where the daemon is in its life, as every connection and accept loop
/// sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Serving,
    /// Followers are told 1012 and nothing new is accepted: connecting
    /// clients wait in the listen backlog for the next process. Back to
    /// `Serving` if executing the daemon fails.
    Restarting,
    /// SIGTERM or SIGINT.
    ShuttingDown,
}

/// The state every task works on, with one way in: [`Ctx::with`] lends it
/// to a closure, which cannot hold it across an `.await`.
pub(crate) struct Core {
    pub(crate) state: State,
    fanout: Fanout,
    ingest: DgramIngest,
    said: Diags,
}

/// The daemon's own diagnostics that can repeat, each at most once a second.
struct Diags {
    receive: Throttle,
    unstick: Throttle,
    accept: Throttle,
}

/// What every task shares. Only the event loop's thread touches it.
pub(crate) struct Ctx {
    core: RefCell<Core>,
    /// Woken when the state reports messages stored, a pause or resume, a
    /// clear or a snapshot taken: followers and the exporter look again.
    pub(crate) stored: Notify,
    /// Told when a turn of ingestion stopped with work left.
    ingest_left: Notify,
    /// Told when housekeeping has work: a clear to wipe, a snapshot to copy.
    chores: Notify,
    stop: watch::Sender<Stop>,
    settings: Settings,
    restart: Handover,
}

impl Ctx {
    /// Lends the core to `f`, then acts on what the state reports changed.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        let mut core = self.core.borrow_mut();
        let r = f(&mut core);
        while let Some(event) = core.state.poll_event() {
            match event {
                Event::Stored | Event::Paused(_) | Event::SnapshotTaken(_) => {
                    self.stored.notify_waiters();
                }
                Event::Cleared => {
                    self.stored.notify_waiters();
                    self.chores.notify_one();
                }
                Event::SnapshotWork => self.chores.notify_one(),
            }
        }
        r
    }

    /// Writes a diagnostic line that can repeat, once a second at most,
    /// with the count of those held back.
    fn say(&self, which: fn(&mut Diags) -> &mut Throttle, line: impl FnOnce(Held) -> String) {
        let held = self.with(|c| which(&mut c.said).admit(Instant::now()));
        if let Some(held) = held {
            eprintln!("circologd: {}", line(held));
        }
    }

    /// Stores every datagram that has arrived (up to a budget) and wakes
    /// the followers. Returns whether work was left for another turn (the
    /// ingest loop is told, too).
    fn take_ingest(&self) -> bool {
        let drained = self.with(|c| {
            let st = &mut c.state;
            c.ingest
                .drain_all_from(INGEST_BUDGET, |m, peer| st.ingest_from(m, peer).is_some())
        });
        match drained {
            Ok((_, more)) => {
                if more {
                    self.ingest_left.notify_one();
                }
                more
            }
            Err(e) => {
                self.say(
                    |d| &mut d.receive,
                    |n| format!("receiving syslog datagrams failed: {e}{n}"),
                );
                false
            }
        }
    }

    /// Between slices of a client's long work: datagrams go first. Costs a
    /// read of the ring's memory when nothing waits.
    fn ingest_if_pending(&self) {
        if self.with(|c| c.ingest.pending()) {
            self.take_ingest();
        }
    }
}

#[allow(clippy::too_many_arguments)] // each is a different thing the loop is given
pub async fn run(
    state: State,
    signals: Signals,
    ingest: DgramIngest,
    listeners: listen::Listeners,
    kmsg: Option<(std::os::fd::OwnedFd, sys::kmsg::Reader)>,
    settings: Settings,
    notifier: Option<Notifier>,
    mut restart: Handover,
) -> Result<(), String> {
    let (stop, _) = watch::channel(Stop::Serving);
    let reply = restart.reply.take();
    let ctx = Rc::new(Ctx {
        core: RefCell::new(Core {
            state,
            fanout: Fanout::new(),
            ingest,
            said: Diags {
                receive: Throttle::per_second(),
                unstick: Throttle::per_second(),
                accept: Throttle::per_second(),
            },
        }),
        stored: Notify::new(),
        ingest_left: Notify::new(),
        chores: Notify::new(),
        stop,
        settings,
        restart,
    });

    let efd = ctx
        .with(|c| c.ingest.start().and_then(|()| c.ingest.eventfd()))
        .map_err(|e| format!("cannot start receiving syslog datagrams: {e}"))?;
    tokio_uring::spawn(ingest_loop(ctx.clone(), efd));
    tokio_uring::spawn(housekeeping(ctx.clone()));
    if let Some(addr) = ctx.settings.export_to {
        tokio_uring::spawn(crate::export::run(ctx.clone(), addr));
    }
    if let Some((fd, reader)) = kmsg {
        let fd = sys::watch(fd).map_err(|e| format!("cannot watch {}: {e}", sys::kmsg::PATH))?;
        tokio_uring::spawn(kmsg_loop(ctx.clone(), fd, reader));
    }
    let tcp = |l: std::net::TcpListener| tokio::net::TcpListener::from_std(l);
    let unix = |l: std::os::unix::net::UnixListener| tokio::net::UnixListener::from_std(l);
    for l in listeners.tcp_ingest {
        tokio_uring::spawn(accept_senders(
            tcp(l).map_err(|e| e.to_string())?,
            ctx.clone(),
        ));
    }
    for l in listeners.query_tcp {
        let listener = tcp(l).map_err(|e| e.to_string())?;
        tokio_uring::spawn(accept_tcp(listener, ctx.clone()));
    }
    for (l, role) in listeners
        .query_unix
        .into_iter()
        .map(|l| (l, Role::Query))
        .chain(listeners.ctl_unix.into_iter().map(|l| (l, Role::Control)))
    {
        let listener = unix(l).map_err(|e| e.to_string())?;
        tokio_uring::spawn(accept_unix(listener, ctx.clone(), role));
    }

    // Every listener is taken: the restart that started this process is
    // answered from here.
    if let Some(fd) = reply {
        tokio_uring::spawn(answer_restart(ctx.clone(), fd));
    }

    // systemd hears that the daemon serves once every listener is taken by
    // the loop, and the watchdog is petted by the loop itself: a loop that
    // stalls stops petting it.
    let notifier = notifier.map(Rc::new);
    if let Some(n) = &notifier {
        n.ready();
        if let Some(period) = notify::watchdog_period() {
            let n = n.clone();
            tokio_uring::spawn(async move {
                loop {
                    n.watchdog();
                    tokio::time::sleep(period).await;
                }
            });
        }
    }
    handle_signals(signals, &ctx).await;
    if let Some(n) = &notifier {
        n.stopping();
    }
    ctx.stop.send_replace(Stop::ShuttingDown);
    // Followers send their close frames; give them a moment to go out.
    followers_gone(&ctx).await;
    // A service manager may start the next process with the file.
    ctx.with(|c| c.state.hand_over());
    Ok(())
}

/// Messages stored per turn of the ingest loop before other tasks get one.
const INGEST_BUDGET: usize = 4096;

/// Waits for the kernel's word that datagrams arrived, or for work left
/// over by an earlier turn, and stores them.
async fn ingest_loop(ctx: Rc<Ctx>, efd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>) {
    // Due whatever else happens: one socket's datagrams must not hide
    // another socket gone quiet.
    let mut cadence = driver::CheckCadence::default();
    let mut next_check = tokio::time::Instant::now() + driver::INGEST_CHECK_IDLE;
    loop {
        let mut checking = false;
        tokio::select! {
            biased;
            // Completions left behind by a turn that reached its budget.
            () = ctx.ingest_left.notified() => {}
            // A safety net under the eventfd: every little while
            // (`CheckCadence`) the ring is entered whatever its flags say,
            // and once everything is stored, a socket that gave nothing
            // since the last check while datagrams wait is read again
            // (`DgramIngest::unstick`).
            () = tokio::time::sleep_until(next_check) => {
                checking = true;
                let received = ctx.with(|c| c.state.counters().received_total());
                next_check = tokio::time::Instant::now() + cadence.next(received);
                if let Err(e) = ctx.with(|c| c.ingest.kick()) {
                    ctx.say(|d| &mut d.receive, |n| format!("receiving syslog datagrams failed: {e}{n}"));
                }
            }
            ready = efd.readable() => match ready {
                // Cleared before draining: a signal from now on wakes us
                // again. (The eventfd's counter is never read: its readiness
                // is enough.)
                Ok(mut guard) => guard.clear_ready(),
                Err(e) => {
                    eprintln!("circologd: the datagram receive loop stopped: {e}");
                    return;
                }
            },
        }
        if ctx.take_ingest() {
            // The other tasks get a turn, and their queued I/O goes in:
            // under a flood the loop must still park now and then.
            yield_to_io().await;
        } else if checking {
            match ctx.with(|c| c.ingest.unstick()) {
                Ok(0) => {}
                Ok(n) => {
                    ctx.say(
                        |d| &mut d.unstick,
                        |held| {
                            format!(
                                "{n} datagram socket(s) had datagrams waiting but no word from \
                             the kernel; reading again{held}"
                            )
                        },
                    );
                    ctx.ingest_left.notify_one();
                }
                Err(e) => ctx.say(
                    |d| &mut d.receive,
                    |n| format!("receiving syslog datagrams failed: {e}{n}"),
                ),
            }
        }
    }
}

/// `-kmsg`: stores the kernel's records as they come, [`INGEST_BUDGET`]
/// per turn at most.
async fn kmsg_loop(
    ctx: Rc<Ctx>,
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    mut reader: sys::kmsg::Reader,
) {
    loop {
        match fd.readable().await {
            // Cleared before reading: a record from now on wakes us again.
            Ok(mut guard) => guard.clear_ready(),
            Err(e) => {
                eprintln!("circologd: reading {} stopped: {e}", sys::kmsg::PATH);
                return;
            }
        }
        loop {
            let read = ctx.with(|c| {
                let st = &mut c.state;
                reader.read(fd.get_ref(), INGEST_BUDGET, now_us(), |m, seq| {
                    let kept = st.ingest_from(m, None).is_some();
                    st.kernel_record_read(seq);
                    kept
                })
            });
            let more = match read {
                // The state reports what it stored: `Ctx::with` woke readers.
                Ok((_, more)) => more,
                Err(e) => {
                    ctx.say(
                        |d| &mut d.receive,
                        |n| format!("reading {} failed: {e}{n}", sys::kmsg::PATH),
                    );
                    false
                }
            };
            if !more {
                break;
            }
            yield_to_io().await;
        }
    }
}

/// Ends a timed pause, takes snapshots, wipes the arena after a clear and evicts what
/// `-max-age` says is too old, a slice per turn, ingestion and clients going on between slices.
async fn housekeeping(ctx: Rc<Ctx>) {
    let mut busy = false;
    loop {
        // What changed (a timed pause ended, a snapshot is complete) is
        // reported by the state, and `Ctx::with` wakes who must know.
        let more = ctx.with(|c| c.state.housekeep(now_us()));
        if more {
            busy = true;
            yield_to_io().await;
            continue;
        }
        if std::mem::take(&mut busy) {
            // A wipe or an eviction just ended: what deeper calls left on
            // the stack goes too.
            sys::scrub_stack();
        }
        // Once a second, or sooner when a timed pause or a post-roll ends.
        let next = ctx.with(|c| c.state.next_deadline_us());
        let wait = driver::housekeeping_wait(next, now_us());
        let _ = tokio::time::timeout(wait, ctx.chores.notified()).await;
    }
}

/// Handles SIGUSR1, SIGUSR2 and SIGHUP until SIGTERM or SIGINT arrives
/// (what each does is [`signals`]'s).
async fn handle_signals(sig: Signals, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    let usr1 = tokio_uring::spawn(on_signal(sig.usr1, move |n| {
        eprintln!("{}", c.with(|c| signals::usr1(&mut c.state, n)));
    }));
    let c = ctx.clone();
    let usr2 = tokio_uring::spawn(on_signal(sig.usr2, move |_| {
        eprintln!("{}", c.with(|c| signals::usr2(&mut c.state, now_us())));
    }));
    let hup = tokio_uring::spawn(on_signal(sig.hup, |_| eprintln!("{}", signals::HUP)));
    let term = tokio_uring::net::UnixStream::from_std(sig.term);
    let _ = term.read(vec![0u8; 64]).await;
    usr1.abort();
    usr2.abort();
    hup.abort();
}

/// Calls `handle` with the number of signals each time some arrive. The
/// reader owns its read for as long as it runs; it is never raced against
/// anything, so no signal byte is lost.
async fn on_signal(pipe: std::os::unix::net::UnixStream, handle: impl Fn(usize)) {
    let pipe = tokio_uring::net::UnixStream::from_std(pipe);
    let mut buf = vec![0u8; 64];
    loop {
        let (r, b) = pipe.read(buf).await;
        buf = b;
        match r {
            Ok(0) | Err(_) => return,
            Ok(n) => handle(n),
        }
    }
}

async fn accept_tcp(listener: tokio::net::TcpListener, ctx: Rc<Ctx>) {
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    let mut stop = ctx.stop.subscribe();
    loop {
        let accepted = when_serving(&mut stop, || listener.accept())
            .await
            .and_then(|(s, _)| s.into_std());
        let Some(std) = blocking(&ctx, accepted).await else {
            continue;
        };
        let _ = std.set_nodelay(true);
        let stream = Stream::Tcp(tokio_uring::net::TcpStream::from_std(std));
        let peer = Peer {
            tcp: true,
            loopback,
            allowed: true,
        };
        tokio_uring::spawn(serve_client(stream, ctx.clone(), Role::Query, peer));
    }
}

async fn accept_unix(listener: tokio::net::UnixListener, ctx: Rc<Ctx>, role: Role) {
    // A descriptor kept in reserve for the control socket: when the process
    // runs out of them, it is given up to take the owner's connection, so
    // that /status and /pause still answer.
    let mut spare = None;
    let mut stop = ctx.stop.subscribe();
    loop {
        if role == Role::Control && spare.is_none() {
            spare = std::fs::File::open("/dev/null").ok();
        }
        let mut accepted = when_serving(&mut stop, || listener.accept())
            .await
            .and_then(|(s, _)| s.into_std());
        if let Err(e) = &accepted
            && sys::out_of_descriptors(e)
            && spare.take().is_some()
        {
            accepted = listener.accept().await.and_then(|(s, _)| s.into_std());
        }
        let Some(std) = blocking(&ctx, accepted).await else {
            continue;
        };
        let peer = Peer {
            tcp: false,
            loopback: false,
            allowed: sys::peer_allowed(&std, ctx.settings.socket_gid),
        };
        let stream = Stream::Unix(tokio_uring::net::UnixStream::from_std(std));
        tokio_uring::spawn(serve_client(stream, ctx.clone(), role, peer));
    }
}

/// An accepted connection in blocking mode, as tokio-uring wants it. When
/// accepting fails (out of file descriptors, say), says so (once a second
/// at most) and waits a little rather than spin on the error.
async fn blocking<S: std::os::fd::AsFd>(ctx: &Ctx, accepted: io::Result<S>) -> Option<S> {
    match accepted {
        Ok(s) => rustix::io::ioctl_fionbio(&s, false).is_ok().then_some(s),
        Err(e) => {
            accept_failed(ctx, &e);
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

fn accept_failed(ctx: &Ctx, e: &io::Error) {
    ctx.say(|d| &mut d.accept, |n| format!("accept failed: {e}{n}"));
}

fn now() -> Now {
    Now {
        at: Instant::now(),
        unix_us: now_us(),
    }
}

/// Bytes read from a client per read.
const READ_CHUNK: usize = 16 * 1024;
/// Reads in a row without waiting on the ring, at most.
const SYNC_READS: u32 = 4;

type PendingRead = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;

/// Drives one query or control connection: feeds it what the socket
/// gives, writes what it wants written, until it wants to close.
async fn serve_client(stream: Stream, ctx: Rc<Ctx>, role: Role, peer: Peer) {
    let stream = Rc::new(stream);
    let mut out = Out::default();
    let mut conn = ctx.with(|c| {
        let cfg = ctx.settings.conn;
        Conn::accept(now(), role, peer, cfg, &mut c.state, &mut out)
    });
    let mut stop = ctx.stop.subscribe();
    let stopping = *stop.borrow_and_update();
    ctx.with(|c| stop_conn(stopping, &mut conn, &mut c.fanout, &mut out));
    let mut buf = Vec::with_capacity(READ_CHUNK);
    // The one read of this socket, kept across turns until it completes:
    // a read dropped unfinished would lose what it read.
    let mut reading: Option<PendingRead> = None;
    let mut sync_reads = 0;
    loop {
        let want = ctx.with(|c| conn.poll_output(now(), &mut c.state, &mut c.fanout, &mut out));
        let (deadline, wait) = match want {
            Want::Write { deadline } => {
                let deadline = tokio::time::Instant::from_std(deadline);
                match tokio::time::timeout_at(deadline, stream.write_out(&mut out)).await {
                    Ok(Ok(())) => continue,
                    _ => break,
                }
            }
            Want::Yield => {
                ctx.ingest_if_pending();
                yield_to_io().await;
                continue;
            }
            Want::ShutdownWrite => {
                stream.shutdown(std::net::Shutdown::Write);
                continue;
            }
            Want::Close => break,
            Want::HandOver => {
                // Returns only when the daemon was not executed again.
                let (status, reason) = restart(&ctx, stream.raw_fd()).await;
                eprintln!("circologd: restart failed: {reason}");
                conn.restart_failed(now(), status, &reason, &mut out);
                continue;
            }
            Want::Read { deadline } => (Some(tokio::time::Instant::from_std(deadline)), false),
            Want::Wait => (None, true),
        };
        // What is there already is read at once (see `sys::recv_ready`),
        // but a few times in a row at most: a client that keeps the socket
        // full must still wait on the ring like everyone else.
        sync_reads += 1;
        if reading.is_none() && !wait && sync_reads <= SYNC_READS {
            buf.resize(READ_CHUNK, 0);
            let ready = sys::recv_ready(stream.raw_fd(), &mut buf);
            let n = ready.as_ref().map_or(0, |n| n.unwrap_or(0));
            match ready {
                Ok(Some(0)) | Err(_) => conn.handle_eof(now()),
                Ok(Some(_)) => conn.handle_input(now(), &buf[..n]),
                Ok(None) => {}
            }
            buf[..n].fill(0);
            buf.clear();
            if !matches!(ready, Ok(None)) {
                continue;
            }
        }
        sync_reads = 0;
        let read = reading.get_or_insert_with(|| {
            let s = stream.clone();
            let mut b = std::mem::take(&mut buf);
            b.clear();
            Box::pin(async move { s.read(b).await })
        });
        let notified = ctx.stored.notified();
        tokio::select! {
            biased;
            (r, b) = read.as_mut() => {
                reading = None;
                buf = b;
                match r {
                    Ok(n) if n > 0 => conn.handle_input(now(), &buf[..n]),
                    _ => conn.handle_eof(now()),
                }
            }
            () = sleep_until_opt(deadline) => conn.handle_timeout(now()),
            () = notified, if wait => {}
            _ = stop.changed() => {
                let stopping = *stop.borrow_and_update();
                ctx.with(|c| stop_conn(stopping, &mut conn, &mut c.fanout, &mut out));
            }
        }
    }
    ctx.with(|c| conn.finish(&mut c.state, &mut c.fanout));
}

/// What a connection does when the daemon begins to stop or restart.
fn stop_conn(stop: Stop, conn: &mut Conn, fanout: &mut Fanout, out: &mut Out) {
    match stop {
        Stop::Serving => {}
        Stop::Restarting => conn.restart(now(), fanout, out),
        Stop::ShuttingDown => conn.shutdown(now(), fanout, out),
    }
}

/// Accepts (`accept`) once the daemon is not restarting; an accept under
/// way when a restart begins is given up, before it took anyone. A client
/// connecting meanwhile waits in the listen backlog, for the next process
/// (or this one again, if executing it failed).
async fn when_serving<T, F: Future<Output = T>>(
    stop: &mut watch::Receiver<Stop>,
    mut accept: impl FnMut() -> F,
) -> T {
    loop {
        let _ = stop.wait_for(|s| *s != Stop::Restarting).await;
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s == Stop::Restarting) => {}
            a = accept() => return a,
        }
    }
}

/// How long followers are given to take their close frame (1001, 1012).
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Waits until every follower has gone, for [`CLOSE_GRACE`] at most.
async fn followers_gone(ctx: &Ctx) {
    let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
    while ctx.with(|c| c.state.clients().followers) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `POST /restart`, asked on the control connection `reply`: executes the
/// daemon's file again with the same arguments, handing over the memory
/// file, every listening socket and `reply`, which the new process
/// answers. No socket is closed meanwhile. Returns only when that did not
/// happen: the status and the reason to answer, the daemon serving on.
async fn restart(ctx: &Ctx, reply: std::os::fd::RawFd) -> (u16, String) {
    let r = &ctx.restart;
    if r.under_service_manager {
        return (409, circolog::daemon::restart::UNDER_SYSTEMD.into());
    }
    let Some(program) = &r.program else {
        return (
            500,
            "cannot tell which file this circologd was started from".into(),
        );
    };
    // Before followers are disturbed: the usual reasons it would fail.
    if let Err(e) = rustix::fs::access(program, rustix::fs::Access::EXEC_OK) {
        return (500, format!("cannot execute {}: {e}", program.display()));
    }
    if *ctx.stop.borrow() != Stop::Serving {
        return (503, "circologd is already stopping or restarting".into());
    }
    ctx.stop.send_replace(Stop::Restarting);
    followers_gone(ctx).await;
    // A SIGTERM while followers were closing: stopping wins.
    if *ctx.stop.borrow() != Stop::Restarting {
        return (503, "circologd is stopping".into());
    }
    // From here on nothing is read: what arrives waits in the sockets for
    // the next process. The state is in the file as of now.
    ctx.with(|c| c.state.hand_over());
    let error = sys::exec_again(program, r, reply);
    ctx.stop.send_replace(Stop::Serving);
    (
        500,
        format!("cannot execute {}: {error}", program.display()),
    )
}

/// Answers the restart that started this process, on the control
/// connection the old one handed over, and closes it.
async fn answer_restart(ctx: Rc<Ctx>, fd: std::os::fd::OwnedFd) {
    let mut out = Vec::new();
    ctx.with(|c| {
        circolog::serve::control::restarted_response(
            &c.state,
            std::process::id(),
            now_us(),
            &mut out,
        )
    });
    let stream = std::os::unix::net::UnixStream::from(fd);
    let _ = rustix::io::ioctl_fionbio(&stream, false);
    let stream = Stream::Unix(tokio_uring::net::UnixStream::from_std(stream));
    let deadline = tokio::time::Instant::now() + ctx.settings.conn.write_timeout;
    let _ = tokio::time::timeout_at(deadline, stream.write_all(out)).await;
    stream.shutdown(std::net::Shutdown::Write);
}

async fn accept_senders(listener: tokio::net::TcpListener, ctx: Rc<Ctx>) {
    let mut stop = ctx.stop.subscribe();
    loop {
        let (s, peer) = match when_serving(&mut stop, || listener.accept()).await {
            Ok(a) => a,
            Err(e) => {
                accept_failed(&ctx, &e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Some(admitted) = ctx.with(|c| c.state.admit_sender(peer)) {
            tokio_uring::spawn(tcp_ingest(s, ctx.clone(), admitted));
        }
        // Else it is dropped: past -max-senders, a sender is closed at once.
    }
}

/// Bytes read from a TCP sender per read.
const SENDER_READ: usize = 64 * 1024;

/// One TCP syslog sender: RFC 6587 frames into the ring. Each sender is its
/// own task, so a slow or broken one stalls nobody else. It waits for
/// readiness and then reads into a buffer of the moment, so an idle sender
/// holds no read buffer.
async fn tcp_ingest(stream: tokio::net::TcpStream, ctx: Rc<Ctx>, sender: Admitted) {
    let mut framer = Framer::new(ctx.settings.max_message);
    let mut buf = Vec::new();
    loop {
        if stream.readable().await.is_err() {
            break;
        }
        buf.resize(SENDER_READ, 0);
        let n = match stream.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                buf = Vec::new();
                continue;
            }
            Err(_) => break,
        };
        ctx.with(|c| {
            c.state
                .ingest_frames(&mut framer, sender.peer(), &buf[..n], now_us())
        });
        if n < SENDER_READ {
            // Drained for now: give the buffer back while the sender is quiet.
            buf.fill(0);
            buf = Vec::new();
        }
    }
    ctx.with(|c| {
        c.state
            .ingest_last_frame(&mut framer, sender.peer(), now_us())
    });
    ctx.with(|c| c.state.sender_left(sender));
}
