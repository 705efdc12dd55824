//! One client connection of the query or control API, as a state machine
//! without I/O, in the manner of quinn-proto and rustls: the driver feeds it
//! what the socket gave ([`Conn::handle_input`], [`Conn::handle_eof`]) and
//! the time ([`Conn::handle_timeout`]), and asks it what to do next
//! ([`Conn::poll_output`]), which appends the bytes to send to an [`Out`]
//! the driver owns and says what the connection wants ([`Want`]).
//!
//! ```text
//!                 head (no body)          response written, keep-alive
//!  ExpectHead ─────────────────► Respond ─────────────────────────► ExpectHead
//!      │   │                      ▲  ├─ GET /    ──► Dump ──(done)──► ExpectHead | Closing
//!      │   │ head + body   (read) │  │               └─(cut short)──► Closing
//!      │   └──────► ReadBody ─────┘  └─ GET /ws  ──► Follow ──(close)─► Closing
//!      │ bad head, 413, 503, 403                                       │
//!      └──────────────────────────────────────────► Closing ──────────► Closed
//! ```
//!
//! A head, body or idle timeout, or the peer's end of input, goes straight
//! to `Closed` from `ExpectHead` or `ReadBody`.
//!
//! `Respond` is not a state of its own: a request is answered the moment its
//! head (and body, read and discarded in `ReadBody`, within the head's
//! time) are in, and the answer waits in [`Out`] to be written.
//! Long work (a dump, a follower's backlog, a filtered scan back for `l=N`)
//! is done a bounded slice per [`Conn::poll_output`], which then answers
//! [`Want::Yield`]: the driver lets ingestion and the other clients run and
//! calls again. Nothing here holds a borrow of the state between calls.
//!
//! Every limit of the contract is here: head size and time, idle time,
//! body size and time, the write time a client may take, client counts,
//! websocket frame sizes, the peer and Origin/Host checks.

mod dump;
mod follow;
mod histogram;
mod list;
mod routes;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::daemon::{ClientKind, State};
use crate::http::{self, HeadError, Method, Request};
use crate::query::{Query, QueryError};
use crate::serve::control::{self, Answer, Command, RouteError};
use crate::serve::fanout::Fanout;
use crate::serve::ws::CloseCode;

use dump::{Dump, Source};
use follow::Follow;
use histogram::Histo;
use list::List;
use routes::Endpoint;

/// Limits on clients (docs/reference.md, "Errors, always").
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Largest request head; `431` past it.
    pub max_head: usize,
    /// A request head, and then its body, must arrive within this time.
    pub head_timeout: Duration,
    /// An idle keep-alive connection is closed after this time.
    pub idle_timeout: Duration,
    /// A client that takes none of a response for this long is closed.
    pub write_timeout: Duration,
    /// Past this many query (or control) clients, new ones get `503`.
    pub max_clients: u64,
    /// Largest websocket frame or message a client may send.
    pub max_ws_frame: usize,
}

/// The longest request body accepted (control requests need none); it is
/// read and discarded.
pub const MAX_BODY: u64 = 64 * 1024;
/// How long a closing connection waits for the client to take the last
/// answer and go, reading (and discarding) what it still sends: closing a
/// socket with unread input resets it, and the client would see an error
/// instead of the answer.
const LINGER: Duration = Duration::from_secs(2);
/// Reads a closing connection makes at most while it lingers.
const LINGER_READS: u32 = 8;
/// A dump or follower writes in pieces of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

/// Which API a connection serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Query,
    Control,
}

/// What the driver knows of the peer when it accepts it.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// Over TCP (the `Origin` of `/ws` and `/ui` is checked), else a unix
    /// socket.
    pub tcp: bool,
    /// The listener is on a loopback address: every request must name a
    /// loopback `Host`, or a page on a domain that rebinds to 127.0.0.1
    /// could read the logs.
    pub loopback: bool,
    /// The peer may use this socket (`SO_PEERCRED` on unix sockets).
    pub allowed: bool,
}

/// The time, as the driver read it once for a turn.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// For deadlines.
    pub at: Instant,
    /// µs since 1970, for what is shown to people (notices, uptime).
    pub unix_us: i64,
}

/// Bytes to send, in order: `bytes`, then the `shared` slices (frames
/// rendered once for many followers, written without a copy).
#[derive(Debug, Default)]
pub struct Out {
    pub bytes: Vec<u8>,
    pub shared: Vec<Bytes>,
}

impl Out {
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.shared.is_empty()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.shared.clear();
    }
}

/// What a connection wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Write all of [`Out`], then poll again. A client that takes none of
    /// it by `deadline` is closed.
    Write { deadline: Instant },
    /// Read, and [`Conn::handle_timeout`] at `deadline` if nothing came.
    Read { deadline: Instant },
    /// A follower with nothing to send: poll again when messages are
    /// stored (or the ring cleared, or the pause changed), and read
    /// meanwhile (pings, close).
    Wait,
    /// More work is left: let ingestion and the other clients run, then
    /// poll again.
    Yield,
    /// Shut down the write side (the last answer is out), then poll again.
    ShutdownWrite,
    /// Close the connection and give it back with [`Conn::finish`].
    Close,
    /// `POST /restart` was asked on this control connection, and every
    /// answer before it is written: the driver executes the daemon again
    /// and hands this socket over, for the new process to answer
    /// ([`crate::serve::control::restarted`]); if it cannot, it says why
    /// with [`Conn::restart_failed`].
    HandOver,
}

/// One client connection.
pub struct Conn {
    role: Role,
    peer: Peer,
    cfg: Config,
    /// How the connection is counted in [`crate::daemon::Clients`], `None` when it was
    /// refused and never counted.
    counted: Option<Counted>,
    /// Bytes read and not consumed yet.
    /// INVARIANT: while a head is expected, `inbox.len()` stays under
    /// `max_head` plus one read.
    inbox: Vec<u8>,
    phase: Phase,
    /// The peer has gone: a follower leaves its frame logs at the next
    /// poll (which has the fan-out), and the connection closes.
    peer_gone: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counted {
    Query,
    Follower,
    Control,
}

enum Phase {
    /// Waiting for a request head. `head_since`: when its first byte came.
    ExpectHead {
        idle_since: Instant,
        head_since: Option<Instant>,
    },
    /// Reading and discarding `left` bytes of body, then answering `request`.
    ReadBody {
        left: u64,
        deadline: Instant,
        request: Box<Request>,
    },
    /// Streaming `GET /`.
    Dump(Box<Dump>),
    /// Streaming the list of snapshots.
    List(Box<List>),
    /// Counting `GET /histogram`.
    Histogram(Box<Histo>),
    /// A websocket follower.
    Follow(Box<Follow>),
    /// `POST /restart`: the socket goes to the new process, which answers.
    HandOver,
    /// The last bytes are being written; then the write side is shut, and
    /// what the client still sends is read and dropped until it goes.
    Closing {
        deadline: Instant,
        half_closed: bool,
        reads_left: u32,
    },
    Closed,
}

impl Conn {
    /// A client just accepted. One refused (not allowed, or too many
    /// clients) is answered (in `out`) and closed, and never counted.
    pub fn accept(
        now: Now,
        role: Role,
        peer: Peer,
        cfg: Config,
        st: &mut State,
        out: &mut Out,
    ) -> Conn {
        let mut conn = Conn {
            role,
            peer,
            cfg,
            counted: None,
            inbox: Vec::new(),
            phase: Phase::Closed,
            peer_gone: false,
        };
        let c = st.clients();
        // Readers and control clients are limited apart, so that a flood
        // of readers never locks the owner out of /status and /pause.
        let connected = match role {
            Role::Control => c.ctl,
            Role::Query => c.query + c.followers,
        };
        if !peer.allowed {
            conn.fail(
                now,
                403,
                "forbidden: this user may not use this socket",
                out,
            );
        } else if connected >= cfg.max_clients {
            conn.fail(now, 503, "too many clients", out);
        } else {
            let counted = match role {
                Role::Control => Counted::Control,
                Role::Query => Counted::Query,
            };
            conn.count(st, Some(counted));
            conn.expect_head(now);
        }
        conn
    }

    /// Bytes the client sent.
    pub fn handle_input(&mut self, now: Now, data: &[u8]) {
        match &mut self.phase {
            Phase::ExpectHead { head_since, .. } => {
                if head_since.is_none() && !data.is_empty() {
                    *head_since = Some(now.at);
                }
                self.inbox.extend_from_slice(data);
            }
            Phase::ReadBody { left, .. } => {
                let body = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= body as u64;
                // Whatever follows the body is the next (pipelined) request.
                self.inbox.extend_from_slice(&data[body..]);
            }
            Phase::Follow(f) => f.handle_input(data),
            Phase::Closing { reads_left, .. } => *reads_left = reads_left.saturating_sub(1),
            // Not read from in these phases; kept for the next request.
            Phase::Dump(_) | Phase::List(_) | Phase::Histogram(_) | Phase::HandOver => {
                self.inbox.extend_from_slice(data)
            }
            Phase::Closed => {}
        }
    }

    /// The client closed its side (or the read failed).
    pub fn handle_eof(&mut self, _now: Now) {
        match self.phase {
            // Its handle must go back to the fan-out, which only
            // poll_output and finish are given.
            Phase::Follow(_) => self.peer_gone = true,
            _ => self.phase = Phase::Closed,
        }
    }

    /// A deadline [`Want::Read`] named may have passed.
    pub fn handle_timeout(&mut self, now: Now) {
        let expired = match &self.phase {
            Phase::ExpectHead { .. } => self.head_deadline().is_some_and(|d| now.at >= d),
            Phase::ReadBody { deadline, .. } | Phase::Closing { deadline, .. } => {
                now.at >= *deadline
            }
            _ => false,
        };
        if expired {
            self.phase = Phase::Closed;
        }
    }

    /// The daemon is stopping: a follower sends its close frame (1001) and
    /// waits a moment for the peer's; every other connection closes.
    pub fn shutdown(&mut self, now: Now, fanout: &mut Fanout, out: &mut Out) {
        self.stop(now, CloseCode::GoingAway, fanout, out);
    }

    /// The daemon is about to execute itself again (`POST /restart`): as
    /// [`Conn::shutdown`], but followers are told 1012 (service restart),
    /// so that they come back and resume.
    pub fn restart(&mut self, now: Now, fanout: &mut Fanout, out: &mut Out) {
        self.stop(now, CloseCode::ServiceRestart, fanout, out);
    }

    fn stop(&mut self, now: Now, code: CloseCode, fanout: &mut Fanout, out: &mut Out) {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            // The connection that asked for the restart is handed over.
            hand_over @ Phase::HandOver => self.phase = hand_over,
            Phase::Follow(mut f) => {
                f.close_for(code, out);
                f.leave(fanout);
                self.closing(now);
            }
            closing @ Phase::Closing { .. } => self.phase = closing,
            _ => {}
        }
    }

    /// Whether this connection is a websocket follower.
    pub fn is_follower(&self) -> bool {
        matches!(self.phase, Phase::Follow(_))
    }

    /// What to do next; the bytes to send are appended to `out`, which the
    /// driver writes when told [`Want::Write`] and clears.
    pub fn poll_output(
        &mut self,
        now: Now,
        st: &mut State,
        fanout: &mut Fanout,
        out: &mut Out,
    ) -> Want {
        if self.peer_gone
            && let Phase::Follow(f) = std::mem::replace(&mut self.phase, Phase::Closed)
        {
            f.leave(fanout);
        }
        loop {
            match &mut self.phase {
                Phase::ExpectHead { .. } => {
                    // Answers go out before the next request is read.
                    if !out.is_empty() {
                        return self.write(now);
                    }
                    match http::parse_head(&self.inbox, self.cfg.max_head) {
                        Ok(Some((req, len))) => {
                            self.inbox.drain(..len);
                            self.begin_request(now, req, st, out);
                        }
                        Ok(None) => {
                            let deadline = self.head_deadline().unwrap_or(now.at);
                            return Want::Read { deadline };
                        }
                        Err(e) => self.head_error(now, &e, out),
                    }
                }
                Phase::ReadBody { left, deadline, .. } => {
                    if *left > 0 {
                        return Want::Read {
                            deadline: *deadline,
                        };
                    }
                    let Phase::ReadBody { request, .. } =
                        std::mem::replace(&mut self.phase, Phase::Closed)
                    else {
                        unreachable!("matched just above")
                    };
                    self.expect_head(now);
                    self.respond(now, *request, st, out);
                }
                Phase::Dump(d) => {
                    let step = d.poll(st, out);
                    if let Some(want) = self.streamed(now, step) {
                        return want;
                    }
                }
                Phase::List(l) => {
                    let step = l.poll(st, out);
                    if let Some(want) = self.streamed(now, step) {
                        return want;
                    }
                }
                Phase::Histogram(h) => match h.poll(st, out) {
                    histogram::Step::More => return Want::Yield,
                    histogram::Step::Done { keep_alive: true } => self.expect_head(now),
                    histogram::Step::Done { keep_alive: false } => self.closing(now),
                },
                Phase::Follow(f) => {
                    let want = f.poll(now, st, fanout, out);
                    match want {
                        follow::Step::Write => return self.write(now),
                        follow::Step::Yield => return Want::Yield,
                        follow::Step::Wait => return Want::Wait,
                        follow::Step::Close => {
                            let Phase::Follow(f) =
                                std::mem::replace(&mut self.phase, Phase::Closed)
                            else {
                                unreachable!("matched just above")
                            };
                            // Still counted as a follower until it is
                            // gone: the daemon waits for its close frame.
                            f.leave(fanout);
                            self.closing(now);
                        }
                    }
                }
                Phase::Closing {
                    half_closed,
                    reads_left,
                    deadline,
                } => {
                    if !out.is_empty() {
                        return self.write(now);
                    }
                    if !*half_closed {
                        *half_closed = true;
                        return Want::ShutdownWrite;
                    }
                    if *reads_left == 0 || now.at >= *deadline {
                        self.phase = Phase::Closed;
                        continue;
                    }
                    return Want::Read {
                        deadline: *deadline,
                    };
                }
                Phase::HandOver => {
                    if !out.is_empty() {
                        return self.write(now);
                    }
                    return Want::HandOver;
                }
                Phase::Closed => return Want::Close,
            }
        }
    }

    /// The restart [`Want::HandOver`] asked for did not happen: answers
    /// `status` with `reason`, and closes.
    pub fn restart_failed(&mut self, now: Now, status: u16, reason: &str, out: &mut Out) {
        if matches!(self.phase, Phase::HandOver) {
            self.fail(now, status, reason, out);
        }
    }

    /// Gives the connection back: it is no longer counted, and a follower
    /// leaves its query's frame logs. Call once, when [`Want::Close`] was
    /// answered or the socket failed.
    pub fn finish(mut self, st: &mut State, fanout: &mut Fanout) {
        if let Phase::Follow(f) = std::mem::replace(&mut self.phase, Phase::Closed) {
            f.leave(fanout);
        }
        self.count(st, None);
    }

    /// What a streamed answer's step asks for; `None` when it is over and
    /// the next phase is set.
    fn streamed(&mut self, now: Now, step: dump::Step) -> Option<Want> {
        match step {
            dump::Step::More => Some(Want::Yield),
            dump::Step::Write => Some(self.write(now)),
            dump::Step::Done { keep_alive } => {
                if keep_alive {
                    self.expect_head(now);
                } else {
                    self.closing(now);
                }
                None
            }
            // Without the last chunk, then the end of the connection: an
            // error to every client.
            dump::Step::CutShort => {
                self.closing(now);
                None
            }
        }
    }

    fn write(&self, now: Now) -> Want {
        Want::Write {
            deadline: now.at + self.cfg.write_timeout,
        }
    }

    /// Moves the connection from one count to another.
    fn count(&mut self, st: &mut State, to: Option<Counted>) {
        let kind = |k: Counted| match k {
            Counted::Query => ClientKind::Query,
            Counted::Follower => ClientKind::Follower,
            Counted::Control => ClientKind::Control,
        };
        st.count_client(self.counted.map(kind), to.map(kind));
        self.counted = to;
    }

    fn expect_head(&mut self, now: Now) {
        self.phase = Phase::ExpectHead {
            idle_since: now.at,
            head_since: (!self.inbox.is_empty()).then_some(now.at),
        };
    }

    fn head_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::ExpectHead {
                idle_since,
                head_since,
            } => Some(match head_since {
                Some(t) => t + self.cfg.head_timeout,
                None => idle_since + self.cfg.idle_timeout,
            }),
            _ => None,
        }
    }

    fn closing(&mut self, now: Now) {
        self.inbox = Vec::new();
        self.phase = Phase::Closing {
            deadline: now.at + LINGER,
            half_closed: false,
            reads_left: LINGER_READS,
        };
    }

    /// Answers with `status` and closes: the rest of the input cannot be
    /// trusted to frame a next request.
    fn fail(&mut self, now: Now, status: u16, reason: &str, out: &mut Out) {
        error_response(&mut out.bytes, status, reason, false, false);
        self.closing(now);
    }

    fn head_error(&mut self, now: Now, e: &HeadError, out: &mut Out) {
        self.fail(now, e.status(), e.reason(), out);
    }

    /// A whole head is in: answer it, after its body if it has one.
    fn begin_request(&mut self, now: Now, req: Request, st: &mut State, out: &mut Out) {
        if req.content_length > MAX_BODY {
            // A HEAD answer has no body, even this one.
            let head = req.method == Method::Head;
            error_response(&mut out.bytes, 413, "request body too large", false, head);
            return self.closing(now);
        }
        let have = self.inbox.len().min(req.content_length as usize);
        self.inbox.drain(..have);
        let left = req.content_length - have as u64;
        if left > 0 {
            self.phase = Phase::ReadBody {
                left,
                deadline: now.at + self.cfg.head_timeout,
                request: Box::new(req),
            };
            return;
        }
        self.expect_head(now);
        self.respond(now, req, st, out);
    }

    /// Answers a request; the phase is `ExpectHead` on entry.
    fn respond(&mut self, now: Now, req: Request, st: &mut State, out: &mut Out) {
        let ka = req.keep_alive;
        let head = req.method == Method::Head;
        if self.peer.loopback && !req.host.as_deref().is_none_or(is_loopback_host) {
            let reason = "refused: this listener only answers requests for a loopback host";
            error_response(&mut out.bytes, 403, reason, ka, head);
        } else if self.role == Role::Control {
            match control_response(now, &req, st, &mut out.bytes) {
                Some(Then::List(list)) => {
                    self.phase = Phase::List(Box::new(list));
                    return;
                }
                Some(Then::HandOver) => {
                    self.phase = Phase::HandOver;
                    return;
                }
                None => {}
            }
        } else {
            self.query(now, req, st, out);
            return;
        }
        if !ka {
            self.closing(now);
        }
    }

    fn query(&mut self, now: Now, req: Request, st: &mut State, out: &mut Out) {
        let ka = req.keep_alive;
        let head = req.method == Method::Head;
        let bytes = &mut out.bytes;
        match routes::find(req.method, &req.path) {
            Err(RouteError::MethodNotAllowed(allow)) => {
                method_not_allowed(bytes, allow, ka, head);
            }
            Err(_) => error_response(bytes, 404, "not found", ka, head),
            Ok((route, _)) if route.same_origin && self.peer.tcp && !origin_allowed(&req) => {
                error_response(bytes, 403, "cross-origin request refused", ka, head);
            }
            Ok((route, id)) => match (route.endpoint, id) {
                (Endpoint::Snapshots, _) => {
                    self.phase = Phase::List(Box::new(List::start(&req, st, bytes)));
                    return;
                }
                (Endpoint::Ui, _) => http::write_simple(
                    bytes,
                    200,
                    "text/html; charset=utf-8",
                    UI_PAGE.as_bytes(),
                    ka,
                    head,
                    &[],
                ),
                (Endpoint::Dump, _) => match parse_query(&req.query, now.unix_us, st) {
                    Err(e) => error_response(bytes, 400, &e.0, ka, head),
                    Ok(q) => {
                        let source = Source::ring(st);
                        let dump = Dump::start(&req, q, source, st.ring(), st, bytes);
                        self.phase = Phase::Dump(Box::new(dump));
                        return;
                    }
                },
                (Endpoint::Follow, _) => match parse_query(&req.query, now.unix_us, st) {
                    Err(e) => error_response(bytes, 400, &e.0, ka, head),
                    Ok(_) if req.upgrade_websocket && !req.websocket_version_supported() => {
                        http::write_simple(
                            bytes,
                            426,
                            "text/plain; charset=utf-8",
                            b"this server speaks websocket version 13 (RFC 6455)\n",
                            ka,
                            head,
                            &[("Sec-WebSocket-Version", http::WEBSOCKET_VERSION)],
                        );
                    }
                    Ok(q) => match req.websocket_key.as_deref() {
                        Some(key) if req.upgrade_websocket => {
                            let f = Follow::start(now.unix_us, key, q, &self.cfg, st, bytes);
                            self.phase = Phase::Follow(Box::new(f));
                            self.count(st, Some(Counted::Follower));
                            return;
                        }
                        _ => error_response(
                            bytes,
                            400,
                            "this is a websocket endpoint: send Upgrade: websocket",
                            ka,
                            head,
                        ),
                    },
                },
                (Endpoint::Histogram, _) => {
                    self.histogram(now, &req, Source::ring(st), st, out);
                    return;
                }
                (Endpoint::SnapshotHistogram, id) => {
                    // Every row of this endpoint has an id in its path.
                    let id = id.unwrap_or_default();
                    if st.snapshots().view(id).is_some() {
                        self.histogram(now, &req, Source::Snapshot(id), st, out);
                        return;
                    }
                    let (status, reason) = snapshot_missing(st, id);
                    error_response(bytes, status, &reason, ka, head);
                }
                (Endpoint::SnapshotDump, id) => {
                    // Every row of this endpoint has an id in its path.
                    let id = id.unwrap_or_default();
                    match parse_query(&req.query, now.unix_us, st) {
                        Err(e) => error_response(bytes, 400, &e.0, ka, head),
                        Ok(q) => {
                            let snapshots = st.snapshots();
                            if let Some(view) = snapshots.view(id) {
                                let source = Source::Snapshot(id);
                                let dump = Dump::start(&req, q, source, &view, st, bytes);
                                self.phase = Phase::Dump(Box::new(dump));
                                return;
                            }
                            let (status, reason) = snapshot_missing(st, id);
                            error_response(bytes, status, &reason, ka, head);
                        }
                    }
                }
            },
        }
        if !ka {
            self.closing(now);
        }
    }

    /// `GET /histogram` of `source`, which is there: counted a slice per
    /// poll, or a `400` for a bad parameter.
    fn histogram(&mut self, now: Now, req: &Request, source: Source, st: &State, out: &mut Out) {
        let (ka, head) = (req.keep_alive, req.method == Method::Head);
        let parsed = crate::query::histogram::split_buckets(&req.query)
            .and_then(|(n, rest)| parse_query(&rest, now.unix_us, st).map(|q| (n, q)));
        let (buckets, q) = match parsed {
            Ok(p) => p,
            Err(e) => {
                error_response(&mut out.bytes, 400, &e.0, ka, head);
                if !ka {
                    self.closing(now);
                }
                return;
            }
        };
        let started = source.with(st, |m| Histo::start(req, q, buckets, source, m));
        match started {
            Some(Ok(h)) => self.phase = Phase::Histogram(Box::new(h)),
            // Nothing to count: the answer is ready.
            Some(Err(empty)) => {
                histogram::write_answer(empty, source, st, ka, head, out);
                if !ka {
                    self.closing(now);
                }
            }
            None => unreachable!("the caller found the source"),
        }
    }
}

/// Why snapshot `id` cannot be read: still being taken (`503`), snapshots
/// disabled or no such snapshot (`404`).
fn snapshot_missing(st: &State, id: u64) -> (u16, String) {
    let snapshots = st.snapshots();
    if snapshots.info(id).is_some() {
        (
            503,
            format!("snapshot {id} is still being taken: try again in a moment"),
        )
    } else if !snapshots.enabled() {
        (
            404,
            "snapshots are disabled (-snapshot-bytes 0)".to_string(),
        )
    } else {
        (
            404,
            format!("no snapshot {id} (GET /snapshots on the control socket lists them)"),
        )
    }
}

/// What a control request goes on with, when its answer is not written
/// at once.
enum Then {
    /// The list of snapshots, streamed.
    List(List),
    /// `POST /restart`: answered by the new process.
    HandOver,
}

/// The control API's answer to `req`: the state after the change, as JSON;
/// the list of snapshots to stream, or the restart, when that is the answer.
fn control_response(now: Now, req: &Request, st: &mut State, out: &mut Vec<u8>) -> Option<Then> {
    let ka = req.keep_alive;
    let head = req.method == Method::Head;
    let command = match Command::route(req.method, &req.path, &req.query) {
        Ok(c) => c,
        Err(RouteError::NotFound) => {
            error_response(out, 404, "not found", ka, head);
            return None;
        }
        Err(RouteError::MethodNotAllowed(allow)) => {
            method_not_allowed(out, allow, ka, head);
            return None;
        }
        Err(RouteError::BadQuery(reason)) => {
            error_response(out, 400, &reason, ka, head);
            return None;
        }
    };
    match control::apply(&command, st, now.unix_us) {
        Answer::Metrics(text) => http::write_simple(
            out,
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            text.as_bytes(),
            ka,
            head,
            &[],
        ),
        Answer::List => return Some(Then::List(List::start(req, st, out))),
        Answer::Restart => return Some(Then::HandOver),
        Answer::Error(status, reason) => error_response(out, status, &reason, ka, head),
        Answer::Status(json) | Answer::Json(json) => {
            let body = json.to_string() + "\n";
            let epoch = st.epoch_us().to_string();
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
    }
    None
}

/// `405`, with the methods the path takes.
fn method_not_allowed(out: &mut Vec<u8>, allow: &str, keep_alive: bool, head: bool) {
    let body = b"method not allowed\n";
    let extra = [("Allow", allow)];
    http::write_simple(
        out,
        405,
        "text/plain; charset=utf-8",
        body,
        keep_alive,
        head,
        &extra,
    );
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

/// `localhost`, `127.0.0.1` (any of 127.0.0.0/8) or `[::1]`, with or
/// without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, rest)) if rest.is_empty() || is_port(rest) => {
                return addr
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|a| a.is_loopback());
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The live viewer page served at `/ui`.
const UI_PAGE: &str = include_str!("ui.html");

/// A request's query, on this host ([`Query::on_host`]).
fn parse_query(query: &str, now_us: i64, st: &State) -> Result<Query, QueryError> {
    Query::parse(query, now_us).map(|q| q.on_host(st.local_host()))
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::ingest::syslog::ParseContext;
    use crate::store::ring::{Config as RingConfig, Incoming, Ring, Transport};
    use crate::store::snapshot::{self, Snapshots, Why};

    fn cfg() -> Config {
        Config {
            max_head: 16 * 1024,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            max_clients: 16,
            max_ws_frame: 64 * 1024,
        }
    }

    /// One request on a new query connection: the bytes of the answer.
    fn ask(st: &mut State, request: &[u8]) -> String {
        let now = Now {
            at: Instant::now(),
            unix_us: 1_000_000,
        };
        let peer = Peer {
            tcp: false,
            loopback: false,
            allowed: true,
        };
        let mut fanout = Fanout::new();
        let mut out = Out::default();
        let mut conn = Conn::accept(now, Role::Query, peer, cfg(), st, &mut out);
        conn.handle_input(now, request);
        let mut answer = Vec::new();
        for _ in 0..10_000 {
            let want = conn.poll_output(now, st, &mut fanout, &mut out);
            answer.append(&mut out.bytes);
            out.clear();
            if matches!(want, Want::Close | Want::Read { .. }) {
                break;
            }
        }
        conn.finish(st, &mut fanout);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// A snapshot larger than one slice is not readable until it is done:
    /// `503` with a reason, then the dump once housekeeping has finished it.
    #[test]
    fn a_snapshot_being_taken_is_a_503_then_reads() {
        let ring = Ring::new(RingConfig {
            max_messages: 10_000,
            arena_bytes: 8 << 20,
            max_message_bytes: 2048,
        })
        .expect("ring");
        let snaps = Snapshots::new(snapshot::Config {
            arena_bytes: 8 << 20,
            max_snapshots: 2,
        })
        .expect("snapshots");
        let tz = jiff::tz::TimeZone::UTC;
        let mut st = State::new(ring, 0, ParseContext { tz }).with_snapshots(snaps);
        let line = [b"<13>1 - h app - - - ".as_slice(), &[b'x'; 1000]].concat();
        for i in 0..3000 {
            st.ingest(Incoming {
                received_us: i,
                transport: Transport::Unix,
                cred: None,
                truncated: false,
                bytes: &line,
            });
        }
        let id = st.take_snapshot(Why::Api, None, 0).expect("taken");
        assert!(st.snapshots().is_taking(), "3 MB is more than one slice");
        let get = b"GET /snapshots/1/?l=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let answer = ask(&mut st, get);
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        assert!(
            answer.contains("snapshot 1 is still being taken: try again in a moment\n"),
            "{answer}"
        );
        while st.housekeep(0) {}
        assert_eq!(st.snapshot_done(), id);
        let answer = ask(&mut st, get);
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.contains("X-Circolog-Last-Seq: 2999\r\n"), "{answer}");
        let answer = ask(
            &mut st,
            b"GET /snapshots/2/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    }
}
