//! The event loop's connections: syslog over TCP, the query API (dumps and
//! websocket followers), the control API and signals. Each connection is a
//! task on the one tokio-uring thread; all of them share one [`Ctx`].

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;
use circolog::daemon::{Clients, State};
use circolog::fanout::{FrameLog, push_message, push_text};
use circolog::format::{self, Notice};
use circolog::http::{self, BodyLen, HeadError, Method, Request};
use circolog::query::Query;
use circolog::ring::{Incoming, Read, Transport};
use circolog::syslog::framing::Framer;
use circolog::ws;
use tokio::sync::{Notify, mpsc, watch};

use crate::dgram::DgramIngest;
use crate::now_us;

/// Limits on clients (SPEC "Errors, always").
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_head: usize,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_clients: u64,
    pub max_ws_frame: usize,
}

pub struct Listeners {
    pub tcp_ingest: Vec<std::net::TcpListener>,
    pub query_unix: Vec<std::os::unix::net::UnixListener>,
    pub query_tcp: Vec<std::net::TcpListener>,
    pub ctl_unix: Vec<std::os::unix::net::UnixListener>,
}

/// What every task shares. Only the event loop's thread touches it.
struct Ctx {
    state: Rc<RefCell<State>>,
    /// The datagram hot path. Borrowed only inside `take_ingest`.
    ingest: RefCell<DgramIngest>,
    /// Woken after every batch of stored messages, and on clear.
    stored: Notify,
    /// Told when a turn of ingestion stopped with work left.
    ingest_left: Notify,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
    max_message: usize,
    socket_gid: Option<u32>,
    clients: Cell<Clients>,
    /// Frames rendered once for the followers of each query (format and
    /// filter), while any follows it.
    logs: RefCell<Vec<FollowedQuery>>,
}

/// A followed query (see [`share_key`]) and its frame logs, which live as
/// long as a follower holds them.
type FollowedQuery = (Rc<str>, Weak<RefCell<QueryLogs>>);

/// The frame logs of one followed query: `live` for the followers at the
/// newest messages, and `behind` for those that fell behind it (a reader
/// that stalled, a backlog older than `live`), so that they too render
/// each message once between them rather than once each.
struct QueryLogs {
    live: FrameLog,
    behind: FrameLog,
}

/// Distinct follower queries with a shared frame log; followers of any
/// other query render their own frames.
const MAX_LOGS: usize = 16;
/// Frames a log keeps at most, for followers that fall behind.
const LOG_BYTES: usize = 4 << 20;
/// Messages rendered per slice; ingestion goes first between slices.
const RENDER_SLICE: u64 = 32;

/// Bytes read from a client per read.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes read per read while a request head comes in: heads are small, and
/// every connected client holds this much.
const HEAD_READ_CHUNK: usize = 4 * 1024;
/// A dump or follower writes in pieces of about this size.
const WRITE_CHUNK: usize = 64 * 1024;
/// How many messages a `l=N` filtered search looks at before letting the
/// loop run other work.
const SCAN_SLICE: u64 = 4096;
/// The longest request body accepted (control requests need none).
const MAX_BODY: u64 = 64 * 1024;

pub async fn run(
    state: Rc<RefCell<State>>,
    signals: Signals,
    ingest: DgramIngest,
    listeners: Listeners,
    limits: Limits,
    max_message: usize,
    socket_gid: Option<u32>,
) -> Result<(), String> {
    let (shutdown_tx, shutdown) = watch::channel(false);
    let ctx = Rc::new(Ctx {
        state: state.clone(),
        ingest: RefCell::new(ingest),
        stored: Notify::new(),
        ingest_left: Notify::new(),
        shutdown,
        limits,
        max_message,
        socket_gid,
        clients: Cell::new(Clients::default()),
        logs: RefCell::new(Vec::new()),
    });

    let efd = {
        let mut ingest = ctx.ingest.borrow_mut();
        ingest.start().and_then(|()| ingest.eventfd())
    }
    .map_err(|e| format!("cannot start receiving syslog datagrams: {e}"))?;
    tokio_uring::spawn(ingest_loop(ctx.clone(), efd));
    for l in listeners.tcp_ingest {
        let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        tokio_uring::spawn(accept_tcp(l, ctx.clone(), Role::Ingest));
    }
    for l in listeners.query_tcp {
        let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        tokio_uring::spawn(accept_tcp(l, ctx.clone(), Role::Query));
    }
    for l in listeners.query_unix {
        let l = tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string())?;
        tokio_uring::spawn(accept_unix(l, ctx.clone(), Role::Query));
    }
    for l in listeners.ctl_unix {
        let l = tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string())?;
        tokio_uring::spawn(accept_unix(l, ctx.clone(), Role::Ctl));
    }

    signals.run(&ctx).await;
    let _ = shutdown_tx.send(true);
    // Followers send their close frames; give them a moment to go out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while ctx.clients.get().followers > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The ingest loop enters the datagram ring and looks for sockets with
/// datagrams waiting but no word from the kernel this often while datagrams
/// come (a multishot receive was seen to stop under load, its senders
/// waiting until it restarted; this net stays under every receive path),
const INGEST_CHECK: Duration = Duration::from_millis(10);
/// and this often when none came since the last look: an idle daemon wakes
/// four times a second. A socket gone quiet while datagrams come is still
/// found within two checks of `INGEST_CHECK`, since the check that finds
/// nothing new still looks.
const INGEST_CHECK_IDLE: Duration = Duration::from_millis(250);
/// Messages stored per turn of the ingest loop before other tasks get one.
const INGEST_BUDGET: usize = 4096;

/// Waits for the kernel's word that datagrams arrived, or for work left
/// over by an earlier turn, and stores them.
async fn ingest_loop(ctx: Rc<Ctx>, efd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>) {
    // Due whatever else happens: one socket's datagrams must not hide
    // another socket gone quiet.
    let mut next_check = tokio::time::Instant::now() + INGEST_CHECK_IDLE;
    let mut received_then = 0;
    loop {
        let mut checking = false;
        tokio::select! {
            biased;
            // Completions left behind by a turn that reached its budget
            // (here or between the slices of a dump) announce nothing more.
            () = ctx.ingest_left.notified() => {}
            // A safety net under the eventfd: every `INGEST_CHECK` (less
            // often when nothing came) the ring is entered whatever its
            // flags say, and once everything is stored, a socket that gave
            // nothing since the last check while datagrams wait is read
            // again (`DgramIngest::unstick`).
            () = tokio::time::sleep_until(next_check) => {
                checking = true;
                let received = ctx
                    .state
                    .try_borrow()
                    .map_or(received_then, |st| st.counters.received_total());
                let busy = received != received_then;
                received_then = received;
                next_check = tokio::time::Instant::now()
                    + if busy { INGEST_CHECK } else { INGEST_CHECK_IDLE };
                if let Ok(mut ingest) = ctx.ingest.try_borrow_mut()
                    && let Err(e) = ingest.kick()
                {
                    eprintln!("circologd: receiving syslog datagrams failed: {e}");
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
            tokio::task::yield_now().await;
        } else if checking {
            ctx.unstick_ingest();
        }
    }
}

impl Ctx {
    /// Stores every datagram that has arrived (up to a budget) and wakes the
    /// followers. Returns whether work was left for another turn (the
    /// ingest loop is told, too).
    fn take_ingest(&self) -> bool {
        let Ok(mut ingest) = self.ingest.try_borrow_mut() else {
            return false;
        };
        let mut st = self.state.borrow_mut();
        let drained = ingest.drain_all(INGEST_BUDGET, |m| st.ingest(m).is_some());
        drop(st);
        match drained {
            Ok((stored, more)) => {
                drop(ingest);
                if stored > 0 {
                    self.stored.notify_waiters();
                }
                if more {
                    self.ingest_left.notify_one();
                }
                more
            }
            Err(e) => {
                eprintln!("circologd: receiving syslog datagrams failed: {e}");
                false
            }
        }
    }

    /// Reads again the datagram sockets that had datagrams waiting but no
    /// word from the kernel (see `DgramIngest::unstick`); call it when
    /// everything has been stored.
    fn unstick_ingest(&self) {
        let Ok(mut ingest) = self.ingest.try_borrow_mut() else {
            return;
        };
        match ingest.unstick() {
            Ok(0) => {}
            Ok(n) => {
                eprintln!(
                    "circologd: {n} datagram socket{} had datagrams waiting but no word \
                     from the kernel; reading {} again",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" },
                );
                self.ingest_left.notify_one();
            }
            Err(e) => eprintln!("circologd: receiving syslog datagrams failed: {e}"),
        }
    }

    /// Registers a follower of `key` now at `cursor` with that query's
    /// frame log, creating it if need be; `None` when there are already
    /// [`MAX_LOGS`] other queries followed.
    fn join_log(&self, key: &Rc<str>, cursor: u64) -> Option<LogSlot> {
        let mut logs = self.logs.borrow_mut();
        logs.retain(|(_, log)| log.strong_count() > 0);
        let found = logs
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, log)| log.upgrade());
        let log = match found {
            Some(log) => log,
            None if logs.len() < MAX_LOGS => {
                let log = Rc::new(RefCell::new(QueryLogs {
                    live: FrameLog::new(LOG_BYTES),
                    behind: FrameLog::new(LOG_BYTES),
                }));
                logs.push((key.clone(), Rc::downgrade(&log)));
                log
            }
            None => return None,
        };
        let mut lg = log.borrow_mut();
        let live = lg.live.register(cursor);
        // Not behind until it finds itself before the live log.
        let behind = lg.behind.register(u64::MAX);
        drop(lg);
        Some(LogSlot {
            log,
            live,
            behind,
            is_behind: Cell::new(false),
        })
    }

    /// Called between slices of long work (dumps, followers): ingestion
    /// goes first. Costs a read of the ring's memory when nothing waits.
    /// Must not be called while the state is borrowed.
    fn poll_ingest(&self) {
        let pending = self
            .ingest
            .try_borrow_mut()
            .is_ok_and(|mut ingest| ingest.pending());
        if pending {
            self.take_ingest();
        }
    }
}

/// Signals, delivered into the loop through signal-hook's self-pipe: the
/// handlers only write a byte; the work happens here.
/// Registered before the daemon says it listens, so that no signal finds
/// the default action (death) in place.
pub struct Signals {
    usr1: std::os::unix::net::UnixStream,
    term: std::os::unix::net::UnixStream,
}

impl Signals {
    pub fn register() -> io::Result<Signals> {
        let (usr1_r, usr1_w) = std::os::unix::net::UnixStream::pair()?;
        let (term_r, term_w) = std::os::unix::net::UnixStream::pair()?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGUSR1, usr1_w)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, term_w.try_clone()?)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, term_w)?;
        Ok(Signals {
            usr1: usr1_r,
            term: term_r,
        })
    }

    /// Handles SIGUSR1 until SIGTERM or SIGINT arrives.
    async fn run(self, ctx: &Rc<Ctx>) {
        let usr1 = tokio_uring::net::UnixStream::from_std(self.usr1);
        let term = tokio_uring::net::UnixStream::from_std(self.term);
        let c = ctx.clone();
        // The SIGUSR1 reader owns its read for as long as it runs; it is
        // never raced against anything, so no signal byte is lost.
        let toggler = tokio_uring::spawn(async move {
            let mut buf = vec![0u8; 64];
            loop {
                let (r, b) = usr1.read(buf).await;
                buf = b;
                match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let mut st = c.state.borrow_mut();
                        for _ in 0..n {
                            st.toggle_pause();
                        }
                        eprintln!(
                            "circologd: SIGUSR1: {}",
                            if st.paused() { "paused" } else { "resumed" }
                        );
                    }
                }
            }
        });
        let _ = term.read(vec![0u8; 64]).await;
        toggler.abort();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Ingest,
    Query,
    Ctl,
}

/// A connected client, over TCP or a unix socket.
enum Stream {
    Tcp(tokio_uring::net::TcpStream),
    Unix(tokio_uring::net::UnixStream),
}

impl Stream {
    async fn read(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
        }
    }

    async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
        }
    }

    /// Writes every byte of `bufs`, in order, a vectored write at a time.
    async fn writev_all(&self, mut bufs: Vec<Bytes>) -> io::Result<()> {
        while !bufs.is_empty() {
            let (r, mut back) = match self {
                Stream::Tcp(s) => s.writev(bufs).await,
                Stream::Unix(s) => s.writev(bufs).await,
            };
            let mut n = r?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let done = back.iter().take_while(|b| {
                let whole = b.len() <= n;
                if whole {
                    n -= b.len();
                }
                whole
            });
            let done = done.count();
            back.drain(..done);
            if let Some(first) = back.first_mut() {
                *first = first.slice(n..);
            }
            bufs = back;
        }
        Ok(())
    }

    fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }

    fn is_tcp(&self) -> bool {
        matches!(self, Stream::Tcp(_))
    }
}

impl Drop for Stream {
    /// A read abandoned on a timeout stays in the kernel, and tokio-uring
    /// closes the fd only when it completes: shutting the socket down ends
    /// that read, so a client we give up on is really disconnected.
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_tcp(listener: tokio::net::TcpListener, ctx: Rc<Ctx>, role: Role) {
    loop {
        let accepted = listener.accept().await.and_then(|(s, _)| s.into_std());
        let Some(std) = blocking(accepted).await else {
            continue;
        };
        let _ = std.set_nodelay(true);
        let stream = Stream::Tcp(tokio_uring::net::TcpStream::from_std(std));
        let ctx = ctx.clone();
        tokio_uring::spawn(async move {
            match role {
                Role::Ingest => tcp_ingest(stream, ctx).await,
                _ => serve_client(stream, ctx, role).await,
            }
        });
    }
}

async fn accept_unix(listener: tokio::net::UnixListener, ctx: Rc<Ctx>, role: Role) {
    loop {
        let accepted = listener.accept().await.and_then(|(s, _)| s.into_std());
        let Some(std) = blocking(accepted).await else {
            continue;
        };
        let allowed = peer_allowed(&std, ctx.socket_gid);
        let stream = Stream::Unix(tokio_uring::net::UnixStream::from_std(std));
        let ctx = ctx.clone();
        tokio_uring::spawn(async move {
            if allowed {
                serve_client(stream, ctx, role).await;
            } else {
                refuse(&stream, 403, "forbidden: this user may not use this socket").await;
            }
        });
    }
}

/// An accepted connection in blocking mode, as tokio-uring wants it. When
/// accepting fails (out of file descriptors, say), says so and waits a
/// little rather than spin on the error.
async fn blocking<S: std::os::fd::AsFd>(accepted: io::Result<S>) -> Option<S> {
    match accepted {
        Ok(s) => rustix::io::ioctl_fionbio(&s, false).is_ok().then_some(s),
        Err(e) => {
            eprintln!("circologd: accept failed: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Answers a client we will not serve, without reading its request: the
/// answer, a half-close, then what it sent is drained for a moment, since
/// closing a socket with unread data resets it and the client would see
/// an error instead of our answer.
async fn refuse(stream: &Stream, status: u16, reason: &str) {
    let mut out = Vec::new();
    error_response(&mut out, status, reason, false, false);
    answer_and_close(stream, out).await;
}

/// Writes a last answer, half-closes, and drains what the client still
/// sends for a moment (see [`refuse`]).
async fn answer_and_close(stream: &Stream, out: Vec<u8>) {
    if stream.write_all(out).await.0.is_err() {
        return;
    }
    stream.shutdown_write();
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..8 {
        buf.clear();
        match tokio::time::timeout_at(deadline, stream.read(buf)).await {
            Ok((Ok(n), b)) if n > 0 => buf = b,
            _ => return,
        }
    }
}

/// SO_PEERCRED: root, the daemon's own user, and members of -socket-group.
fn peer_allowed(stream: &std::os::unix::net::UnixStream, gid: Option<u32>) -> bool {
    let Ok(cred) = rustix::net::sockopt::socket_peercred(stream) else {
        return false;
    };
    let uid = cred.uid.as_raw();
    if uid == 0 || uid == rustix::process::geteuid().as_raw() {
        return true;
    }
    let Some(gid) = gid else { return false };
    if cred.gid.as_raw() == gid {
        return true;
    }
    // Supplementary groups of the peer process, as the kernel lists them.
    std::fs::read_to_string(format!("/proc/{}/status", cred.pid.as_raw_nonzero()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Groups:"))
                .map(|g| g.split_whitespace().any(|g| g.parse() == Ok(gid)))
        })
        .unwrap_or(false)
}

/// Counts a client while it is connected.
struct ClientGuard {
    ctx: Rc<Ctx>,
    kind: fn(&mut Clients) -> &mut u64,
}

impl ClientGuard {
    fn new(ctx: &Rc<Ctx>, kind: fn(&mut Clients) -> &mut u64) -> ClientGuard {
        let mut c = ctx.clients.get();
        *kind(&mut c) += 1;
        ctx.clients.set(c);
        ClientGuard {
            ctx: ctx.clone(),
            kind,
        }
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let mut c = self.ctx.clients.get();
        *(self.kind)(&mut c) -= 1;
        self.ctx.clients.set(c);
    }
}

/// One TCP syslog sender: RFC 6587 frames into the ring. Each sender is its
/// own task, so a slow or broken one stalls nobody else.
async fn tcp_ingest(stream: Stream, ctx: Rc<Ctx>) {
    let _guard = ClientGuard::new(&ctx, |c| &mut c.tcp_senders);
    let mut framer = Framer::new(ctx.max_message);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (r, b) = stream.read(buf).await;
        buf = b;
        let n = match r {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        store_frames(&ctx, &mut framer, &buf[..n], false);
    }
    store_frames(&ctx, &mut framer, &[], true);
}

fn store_frames(ctx: &Ctx, framer: &mut Framer, data: &[u8], eof: bool) {
    let received_us = now_us();
    let mut stored = false;
    {
        let mut st = ctx.state.borrow_mut();
        let mut store = |f: circolog::syslog::framing::Frame<'_>| {
            stored |= st
                .ingest(Incoming {
                    received_us,
                    transport: Transport::Tcp,
                    cred: None,
                    truncated: f.truncated,
                    bytes: f.bytes,
                })
                .is_some();
        };
        if eof {
            framer.finish(&mut store);
        } else {
            framer.feed(data, &mut store);
        }
    }
    if stored {
        ctx.stored.notify_waiters();
    }
}

/// Bytes read from a client and not yet consumed.
struct Inbox {
    buf: Vec<u8>,
    read: Vec<u8>,
}

enum Next {
    Request(Request, usize),
    /// The client closed, or went quiet for too long.
    Gone,
    /// The head was bad: answer with this status and close.
    Fail(u16, &'static str),
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            buf: Vec::new(),
            read: Vec::with_capacity(HEAD_READ_CHUNK),
        }
    }

    /// Reads until a whole request head is in, within the head timeout (or
    /// the idle timeout while nothing of a new request has arrived).
    async fn next_request(&mut self, stream: &Stream, limits: &Limits) -> Next {
        let started = tokio::time::Instant::now();
        loop {
            match http::parse_head(&self.buf, limits.max_head) {
                Ok(Some((req, len))) => return Next::Request(req, len),
                Ok(None) => {}
                Err(e) => return head_failure(&e),
            }
            let deadline = if self.buf.is_empty() {
                started + limits.idle_timeout
            } else {
                started + limits.head_timeout
            };
            let mut read = std::mem::take(&mut self.read);
            read.clear();
            // On a timeout the read is dropped with the connection: nothing
            // it could still bring matters any more.
            let (r, b) = match tokio::time::timeout_at(deadline, stream.read(read)).await {
                Ok(done) => done,
                Err(_) => return Next::Gone,
            };
            self.read = b;
            match r {
                Ok(0) | Err(_) => return Next::Gone,
                Ok(n) => self.buf.extend_from_slice(&self.read[..n]),
            }
        }
    }

    /// Drops a request head and its body from the front of the buffer,
    /// reading the rest of the body if it has not all arrived.
    async fn consume(&mut self, stream: &Stream, head: usize, body: u64) -> bool {
        let mut want = head as u64 + body;
        loop {
            let have = (self.buf.len() as u64).min(want);
            self.buf.drain(..have as usize);
            want -= have;
            if want == 0 {
                return true;
            }
            let mut read = std::mem::take(&mut self.read);
            read.clear();
            let (r, b) = stream.read(read).await;
            self.read = b;
            match r {
                Ok(0) | Err(_) => return false,
                Ok(n) => self.buf.extend_from_slice(&self.read[..n]),
            }
        }
    }
}

fn head_failure(e: &HeadError) -> Next {
    Next::Fail(e.status(), e.reason())
}

/// Serves HTTP requests on one query or control connection, keep-alive and
/// pipelined, until the client goes or a websocket takes the connection over.
async fn serve_client(stream: Stream, ctx: Rc<Ctx>, role: Role) {
    let kind: fn(&mut Clients) -> &mut u64 = match role {
        Role::Ctl => |c| &mut c.ctl,
        _ => |c| &mut c.query,
    };
    // Readers and control clients are limited separately, so that a flood
    // of readers never locks the owner out of /status and /pause.
    let c = ctx.clients.get();
    let connected = match role {
        Role::Ctl => c.ctl,
        _ => c.query + c.followers,
    };
    if connected >= ctx.limits.max_clients {
        refuse(&stream, 503, "too many clients").await;
        return;
    }
    let guard = ClientGuard::new(&ctx, kind);
    let mut inbox = Inbox::new();
    // Grown only by what is written: an idle or half-open client holds
    // little more than its read buffer.
    let mut out = Vec::new();
    loop {
        let (req, head_len) = match inbox.next_request(&stream, &ctx.limits).await {
            Next::Request(r, n) => (r, n),
            Next::Gone => return,
            Next::Fail(status, reason) => {
                out.clear();
                error_response(&mut out, status, reason, false, false);
                answer_and_close(&stream, out).await;
                return;
            }
        };
        if req.content_length > MAX_BODY {
            out.clear();
            error_response(&mut out, 413, "request body too large", false, false);
            answer_and_close(&stream, out).await;
            return;
        }
        if !inbox.consume(&stream, head_len, req.content_length).await {
            return;
        }
        out.clear();
        let keep_alive = req.keep_alive;
        let outcome = match role {
            Role::Ctl => {
                control(&ctx, &req, &mut out);
                Outcome::Written
            }
            _ => query(&ctx, &stream, &req, &mut out).await,
        };
        match outcome {
            Outcome::Written => {}
            Outcome::Upgrade(q) => {
                drop(guard);
                follow(stream, ctx, req, *q, out).await;
                return;
            }
            Outcome::Streamed(b) => out = b,
            Outcome::Broken => return,
        }
        if !out.is_empty() {
            let (r, b) = stream.write_all(out).await;
            out = b;
            if r.is_err() {
                return;
            }
        }
        if !keep_alive {
            stream.shutdown();
            return;
        }
    }
}

enum Outcome {
    /// The response is in `out`.
    Written,
    /// A dump was written already; here is the buffer back.
    Streamed(Vec<u8>),
    /// A websocket upgrade with these parameters.
    Upgrade(Box<Query>),
    /// The client went away mid-response.
    Broken,
}

fn error_response(out: &mut Vec<u8>, status: u16, reason: &str, keep_alive: bool, head: bool) {
    let body = format!("{reason}\n");
    http::write_simple(
        out,
        status,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        keep_alive,
        head,
        &[],
    );
}

/// Over TCP, a browser page from another origin must not read the logs:
/// `Origin`, when present, must name the host the request was sent to.
fn origin_allowed(req: &Request) -> bool {
    let Some(origin) = req.origin.as_deref() else {
        return true;
    };
    let Some(host) = req.host.as_deref() else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or(origin);
    authority.eq_ignore_ascii_case(host)
}

async fn query(ctx: &Rc<Ctx>, stream: &Stream, req: &Request, out: &mut Vec<u8>) -> Outcome {
    let head = req.method == Method::Head;
    let ka = req.keep_alive;
    let is_get = matches!(req.method, Method::Get | Method::Head);
    match req.path.as_str() {
        "/" | "/ws" | "/ui" if !is_get => {
            http::write_simple(
                out,
                405,
                "text/plain; charset=utf-8",
                b"method not allowed\n",
                ka,
                head,
                &[("Allow", "GET, HEAD")],
            );
            return Outcome::Written;
        }
        "/" | "/ws" | "/ui" => {}
        _ => {
            error_response(out, 404, "not found", ka, head);
            return Outcome::Written;
        }
    }
    if req.path != "/" && stream.is_tcp() && !origin_allowed(req) {
        error_response(out, 403, "cross-origin request refused", ka, head);
        return Outcome::Written;
    }
    if req.path == "/ui" {
        http::write_simple(
            out,
            200,
            "text/html; charset=utf-8",
            UI_PAGE.as_bytes(),
            ka,
            head,
            &[],
        );
        return Outcome::Written;
    }
    let q = match Query::parse(&req.query, now_us()) {
        Ok(q) => q,
        Err(e) => {
            error_response(out, 400, &e.0, ka, head);
            return Outcome::Written;
        }
    };
    if req.path == "/ws" {
        if !req.upgrade_websocket || req.websocket_key.is_none() {
            error_response(
                out,
                400,
                "this is a websocket endpoint: send Upgrade: websocket",
                ka,
                head,
            );
            return Outcome::Written;
        }
        return Outcome::Upgrade(Box::new(q));
    }
    dump(ctx, stream, req, &q, std::mem::take(out)).await
}

/// The seq to start reading from for `since` and `l` (the last N matching).
/// Scans backwards in slices, letting the loop run between them.
async fn start_seq(ctx: &Ctx, q: &Query, end: u64) -> u64 {
    let (first, since) = {
        let st = ctx.state.borrow();
        (st.ring.first_seq(), q.first_seq())
    };
    let lower = first.max(since);
    let Some(limit) = q.limit else { return lower };
    if limit == 0 {
        return end;
    }
    if q.filter.matches_all() {
        return end.saturating_sub(limit).max(lower);
    }
    let mut found = 0;
    let mut seq = end;
    while seq > lower {
        {
            let st = ctx.state.borrow();
            let stop = seq
                .saturating_sub(SCAN_SLICE)
                .max(lower)
                .max(st.ring.first_seq());
            while seq > stop {
                let s = seq - 1;
                if let Some(e) = st.ring.get(s) {
                    let msg = st.message(&e);
                    if q.filter.matches(e.received_us, &msg) {
                        found += 1;
                        if found == limit {
                            return s;
                        }
                    }
                }
                seq = s;
            }
            if seq <= st.ring.first_seq() {
                return st.ring.first_seq().max(lower);
            }
        }
        tokio::task::yield_now().await;
    }
    lower
}

/// `GET /`: streams the matching messages from the ring, a piece at a time,
/// so that neither memory nor the loop's time grows with the ring.
async fn dump(
    ctx: &Rc<Ctx>,
    stream: &Stream,
    req: &Request,
    q: &Query,
    mut out: Vec<u8>,
) -> Outcome {
    let (end, last, epoch) = {
        let st = ctx.state.borrow();
        (st.ring.next_seq(), st.ring.last_seq(), st.epoch_us)
    };
    let last = last.map_or_else(|| "-1".to_string(), |s| s.to_string());
    let epoch = epoch.to_string();
    let extra = [
        ("X-Circolog-Last-Seq", last.as_str()),
        ("X-Circolog-Epoch", epoch.as_str()),
    ];
    let chunked = !req.http10;
    let keep_alive = req.keep_alive && chunked;
    out.clear();
    http::write_head(
        &mut out,
        200,
        Some(format::content_type(q.format)),
        if chunked {
            BodyLen::Chunked
        } else {
            BodyLen::UntilClose
        },
        keep_alive,
        &extra,
    );
    if req.method == Method::Head {
        return Outcome::Streamed(out);
    }
    let mut cursor = start_seq(ctx, q, end).await;
    let mut body = Vec::with_capacity(WRITE_CHUNK);
    loop {
        body.clear();
        while cursor < end && body.len() < WRITE_CHUNK {
            {
                let st = ctx.state.borrow();
                let slice_end = end.min(cursor + RENDER_SLICE);
                while cursor < slice_end {
                    match st.ring.read(cursor) {
                        Read::Entry(e) => {
                            let msg = st.message(&e);
                            if q.filter.matches(e.received_us, &msg) {
                                format::render(q.format, &e, &msg, st.epoch_us, &mut body);
                            }
                            cursor += 1;
                        }
                        // Overwritten while we were writing: go on from the oldest.
                        Read::Skipped(n) => cursor += n,
                        Read::End => cursor = end,
                    }
                }
            }
            ctx.poll_ingest();
        }
        if chunked {
            http::write_chunk(&mut out, &body);
        } else {
            out.extend_from_slice(&body);
        }
        if cursor >= end {
            break;
        }
        let (r, b) = stream.write_all(out).await;
        out = b;
        out.clear();
        if r.is_err() {
            return Outcome::Broken;
        }
    }
    if chunked {
        http::write_last_chunk(&mut out);
    }
    if !keep_alive {
        let (r, _) = stream.write_all(out).await;
        stream.shutdown();
        let _ = r;
        return Outcome::Broken;
    }
    Outcome::Streamed(out)
}

/// The control API: every answer is the state after the change, as JSON.
fn control(ctx: &Ctx, req: &Request, out: &mut Vec<u8>) {
    let ka = req.keep_alive;
    let head = req.method == Method::Head;
    let allow: &str = match req.path.as_str() {
        "/pause/toggle" | "/pause" | "/resume" | "/logs/clear" => "POST",
        "/status" | "/metrics" => "GET, HEAD",
        _ => {
            error_response(out, 404, "not found", ka, head);
            return;
        }
    };
    let method_ok = match req.method {
        Method::Post => allow == "POST",
        Method::Get | Method::Head => allow != "POST",
        Method::Other => false,
    };
    if !method_ok {
        http::write_simple(
            out,
            405,
            "text/plain; charset=utf-8",
            b"method not allowed\n",
            ka,
            head,
            &[("Allow", allow)],
        );
        return;
    }
    let now = now_us();
    let clients = ctx.clients.get();
    if req.path == "/metrics" {
        let text = ctx.state.borrow().metrics(now, &clients);
        http::write_simple(
            out,
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            text.as_bytes(),
            ka,
            head,
            &[],
        );
        return;
    }
    {
        let mut st = ctx.state.borrow_mut();
        match req.path.as_str() {
            "/pause/toggle" => st.toggle_pause(),
            "/pause" => st.set_paused(true),
            "/resume" => st.set_paused(false),
            "/logs/clear" => st.clear(),
            _ => {}
        }
    }
    if req.path == "/logs/clear" {
        // Followers announce it; frame logs drop what they rendered before
        // it when next extended, which comes before anything is taken.
        ctx.stored.notify_waiters();
    }
    let st = ctx.state.borrow();
    let body = st.status(now, &clients).to_string() + "\n";
    let epoch = st.epoch_us.to_string();
    http::write_simple(
        out,
        200,
        "application/json",
        body.as_bytes(),
        ka,
        head,
        &[("X-Circolog-Epoch", epoch.as_str())],
    );
}

/// What the websocket reader task tells the follower.
enum FromPeer {
    Ping(Vec<u8>),
    Close(Option<u16>),
    Violation(u16),
    Gone,
}

/// `GET /ws`: the backlog, then every new matching message. The follower is
/// a cursor into the ring: new messages cost it nothing until its socket
/// takes more; if the ring overwrites what it has not sent, it skips ahead
/// and says how many it missed.
async fn follow(stream: Stream, ctx: Rc<Ctx>, req: Request, q: Query, mut out: Vec<u8>) {
    let _guard = ClientGuard::new(&ctx, |c| &mut c.followers);
    let Some(key) = req.websocket_key.as_deref() else {
        return;
    };
    let (end, last, epoch, clears) = {
        let st = ctx.state.borrow();
        (
            st.ring.next_seq(),
            st.ring.last_seq(),
            st.epoch_us,
            st.counters.clears,
        )
    };
    let epoch_s = epoch.to_string();
    let last_s = last.map_or_else(|| "-1".to_string(), |s| s.to_string());
    out.clear();
    ws::write_handshake_response(
        &mut out,
        key,
        &[
            ("X-Circolog-Epoch", epoch_s.as_str()),
            ("X-Circolog-Last-Seq", last_s.as_str()),
        ],
    );
    let stream = Rc::new(stream);
    let (r, b) = stream.write_all(out).await;
    out = b;
    if r.is_err() {
        return;
    }

    // The reader owns the only read on this socket and is never raced.
    let (tx, mut rx) = mpsc::channel::<FromPeer>(8);
    let reader = {
        let stream = stream.clone();
        let limits = ws::Limits {
            max_frame: ctx.limits.max_ws_frame,
            max_message: ctx.limits.max_ws_frame,
        };
        tokio_uring::spawn(async move { read_frames(&stream, limits, tx).await })
    };

    let mut cursor = start_seq(&ctx, &q, end).await;
    let log = ctx.join_log(&share_key(&req.query), cursor);
    let mut seen_clears = clears;
    let mut shutdown = ctx.shutdown.clone();
    let mut frame = Vec::with_capacity(1024);
    let mut shared = Vec::new();
    let close = loop {
        let notified = ctx.stored.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        out.clear();
        let mut close = None;
        while let Ok(ev) = rx.try_recv() {
            match ev {
                FromPeer::Ping(p) => ws::write_pong(&mut out, &p),
                FromPeer::Close(code) => close = Some(code.unwrap_or(1000)),
                FromPeer::Violation(code) => close = Some(code),
                FromPeer::Gone => close = Some(0),
            }
        }
        if let Some(code) = close {
            break code;
        }
        {
            let st = ctx.state.borrow();
            if st.counters.clears != seen_clears {
                seen_clears = st.counters.clears;
                frame.clear();
                format::render_notice(
                    q.format,
                    &Notice::Cleared,
                    st.epoch_us,
                    now_us(),
                    &mut frame,
                );
                push_text(&mut out, &frame);
                cursor = cursor.max(st.ring.first_seq());
            }
        }
        let before = cursor;
        fill_frames(
            &ctx,
            &q,
            log.as_ref(),
            &mut cursor,
            &mut out,
            &mut shared,
            &mut frame,
        );
        if out.is_empty() && shared.is_empty() && cursor != before {
            // Only messages the filter left out: more may follow.
            tokio::task::yield_now().await;
            continue;
        }
        if !out.is_empty() || !shared.is_empty() {
            // Our own frames first (answers, notices, a backlog the log
            // does not hold), then the log's, copied by nobody.
            if !out.is_empty() {
                shared.insert(0, Bytes::copy_from_slice(&out));
            }
            if stream
                .writev_all(std::mem::take(&mut shared))
                .await
                .is_err()
            {
                break 0;
            }
            continue;
        }
        tokio::select! {
            // No timer gathers wake-ups: while followers write, newer
            // messages gather by themselves, so batches grow with the load
            // and a quiet follower hears of a message at once.
            _ = &mut notified => {}
            ev = rx.recv() => match ev {
                Some(FromPeer::Ping(p)) => {
                    out.clear();
                    ws::write_pong(&mut out, &p);
                    let (r, b) = stream.write_all(out).await;
                    out = b;
                    if r.is_err() { break 0; }
                }
                Some(FromPeer::Close(code)) => break code.unwrap_or(1000),
                Some(FromPeer::Violation(code)) => break code,
                Some(FromPeer::Gone) | None => break 0,
            },
            _ = shutdown.changed() => break 1001,
        }
    };
    if close != 0 {
        out.clear();
        let reason = match close {
            1001 => "circologd is shutting down",
            1002 => "protocol error",
            1007 => "invalid UTF-8",
            1009 => "frame too big",
            _ => "",
        };
        ws::write_close(&mut out, close, reason);
        let _ = stream.write_all(out).await;
        if close == 1001 {
            // Let the peer answer the close before the connection goes.
            let _ = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
        }
    }
    stream.shutdown();
    let _ = reader.await;
}

/// What followers must have in common to share frames: the query without
/// where it starts (`l`, `since`), in a canonical order.
fn share_key(query: &str) -> Rc<str> {
    let mut parts: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("l=") && !p.starts_with("since="))
        .collect();
    parts.sort_unstable();
    parts.join("&").into()
}

/// A follower's places in its query's frame logs.
struct LogSlot {
    log: Rc<RefCell<QueryLogs>>,
    live: usize,
    behind: usize,
    /// Its place in `behind` is where it is (else past everything there).
    is_behind: Cell<bool>,
}

impl LogSlot {
    /// The follower has everything before `cursor`: its places in both logs
    /// say so (in `behind` only while it is there).
    fn advance(&self, logs: &mut QueryLogs, cursor: u64) {
        logs.live.advance(self.live, cursor);
        if self.is_behind.get() {
            logs.behind.advance(self.behind, cursor);
        }
    }
}

impl Drop for LogSlot {
    fn drop(&mut self) {
        if let Ok(mut log) = self.log.try_borrow_mut() {
            log.live.unregister(self.live);
            log.behind.unregister(self.behind);
        }
    }
}

/// Frames one write takes from a log at most, in bytes and in slices.
const LOG_TAKE_BYTES: usize = 256 * 1024;
const LOG_TAKE_SLICES: usize = 64;
/// Messages a follower renders into its log per turn at most.
const LOG_RENDER_MAX: u64 = 1024;

/// Gathers the frames a follower at `cursor` is to be sent next, about a
/// write's worth: slices of its query's live frame log (into `shared`) when
/// that log holds the cursor, after rendering into it what is new; slices
/// of the query's log for followers behind it when the cursor is older,
/// after rendering into that one what comes next; else frames rendered
/// here (into `out`) until the cursor reaches a log: a query without logs,
/// or a follower behind both. Renders a slice at a time, letting ingestion
/// go first between slices, and looks at a bounded number of messages per
/// call: with a filter that matches few of them, a call may move the
/// cursor and find nothing to send, and the caller lets other tasks run
/// before the next one.
fn fill_frames(
    ctx: &Ctx,
    q: &Query,
    log: Option<&LogSlot>,
    cursor: &mut u64,
    out: &mut Vec<u8>,
    shared: &mut Vec<Bytes>,
    frame: &mut Vec<u8>,
) {
    let mut stop = u64::MAX;
    if let Some(l) = log {
        render_into_log(ctx, l, |logs| &mut logs.live, *cursor, u64::MAX, q, frame);
        let mut lg = l.log.borrow_mut();
        let logs = &mut *lg;
        if let Some(next) = logs
            .live
            .take(*cursor, LOG_TAKE_BYTES, LOG_TAKE_SLICES, shared)
        {
            *cursor = next;
            logs.live.advance(l.live, next);
            if l.is_behind.replace(false) {
                logs.behind.advance(l.behind, u64::MAX);
                logs.behind.trim();
            }
            return;
        }
        let first = match logs.live.range() {
            Some((first, _)) if *cursor < first => first,
            // Nothing new.
            _ => return,
        };
        // Behind the live log: the followers there share another.
        l.is_behind.set(true);
        logs.behind.advance(l.behind, *cursor);
        drop(lg);
        render_into_log(ctx, l, |logs| &mut logs.behind, *cursor, first, q, frame);
        let mut lg = l.log.borrow_mut();
        let logs = &mut *lg;
        if let Some(next) = logs
            .behind
            .take(*cursor, LOG_TAKE_BYTES, LOG_TAKE_SLICES, shared)
        {
            *cursor = next;
            l.advance(logs, next);
            return;
        }
        stop = match logs.behind.range() {
            Some((b, _)) if *cursor < b => b.min(first),
            _ => first,
        };
    }
    let start = *cursor;
    while out.len() < WRITE_CHUNK && *cursor < stop && *cursor - start < SCAN_SLICE {
        let from = *cursor;
        {
            let mut st = ctx.state.borrow_mut();
            let epoch = st.epoch_us;
            if let Read::Skipped(n) = st.ring.read(from) {
                *cursor += n;
                st.counters.skipped_followers += n;
                frame.clear();
                format::render_notice(q.format, &Notice::Skipped(n), epoch, now_us(), frame);
                push_text(out, frame);
                continue;
            }
            while *cursor < stop.min(from + RENDER_SLICE) {
                let Some(e) = st.ring.get(*cursor) else {
                    break;
                };
                *cursor += 1;
                push_message(&st, q, &e, frame, out);
            }
        }
        if *cursor == from {
            break;
        }
        ctx.poll_ingest();
    }
    if let Some(l) = log
        && let Ok(mut lg) = l.log.try_borrow_mut()
    {
        l.advance(&mut lg, *cursor);
    }
}

/// Renders into the log `which` picks what comes after its end (from
/// `start` when it is empty), up to the seq `until` and to
/// [`LOG_RENDER_MAX`] messages, a slice at a time, letting ingestion go
/// first between slices.
fn render_into_log(
    ctx: &Ctx,
    l: &LogSlot,
    which: impl Fn(&mut QueryLogs) -> &mut FrameLog,
    start: u64,
    until: u64,
    q: &Query,
    frame: &mut Vec<u8>,
) {
    let mut rendered = 0;
    while rendered < LOG_RENDER_MAX {
        let n = {
            let st = ctx.state.borrow();
            let mut lg = l.log.borrow_mut();
            let log = which(&mut lg);
            let from = log.range().map_or(start, |(_, end)| end);
            let max = RENDER_SLICE.min(until.saturating_sub(from));
            if max == 0 {
                break;
            }
            log.extend(&st, q, start, max, frame)
        };
        if n == 0 {
            break;
        }
        rendered += n;
        ctx.poll_ingest();
    }
}

async fn read_frames(stream: &Stream, limits: ws::Limits, tx: mpsc::Sender<FromPeer>) {
    let mut decoder = ws::Decoder::new(limits);
    let mut buf = Vec::with_capacity(READ_CHUNK);
    loop {
        loop {
            let ev = match decoder.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(code) => {
                    let _ = tx.send(FromPeer::Violation(code.code())).await;
                    return;
                }
            };
            let msg = match ev {
                ws::Event::Ping(p) => FromPeer::Ping(p),
                ws::Event::Close { code, .. } => FromPeer::Close(code),
                // Followers have nothing to say; text, binary and pongs are
                // read and ignored.
                _ => continue,
            };
            let closing = matches!(msg, FromPeer::Close(_));
            if tx.send(msg).await.is_err() || closing {
                return;
            }
        }
        buf.clear();
        let (r, b) = stream.read(buf).await;
        buf = b;
        match r {
            Ok(0) | Err(_) => {
                let _ = tx.send(FromPeer::Gone).await;
                return;
            }
            Ok(n) => decoder.feed(&buf[..n]),
        }
    }
}

/// The live viewer page served at `/ui`.
const UI_PAGE: &str = include_str!("ui.html");

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: Option<&str>, origin: Option<&str>) -> Request {
        let mut head = String::from("GET /ws HTTP/1.1\r\n");
        if let Some(h) = host {
            head += &format!("Host: {h}\r\n");
        }
        if let Some(o) = origin {
            head += &format!("Origin: {o}\r\n");
        }
        head += "\r\n";
        http::parse_head(head.as_bytes(), 16384)
            .ok()
            .flatten()
            .expect("a valid head")
            .0
    }

    #[test]
    fn origin_must_match_host() {
        assert!(origin_allowed(&req(Some("127.0.0.1:8080"), None)));
        assert!(origin_allowed(&req(
            Some("127.0.0.1:8080"),
            Some("http://127.0.0.1:8080")
        )));
        assert!(!origin_allowed(&req(
            Some("127.0.0.1:8080"),
            Some("http://evil.example")
        )));
        assert!(!origin_allowed(&req(
            Some("127.0.0.1:8080"),
            Some("http://127.0.0.1:9090")
        )));
        assert!(!origin_allowed(&req(None, Some("http://127.0.0.1:8080"))));
    }
}
