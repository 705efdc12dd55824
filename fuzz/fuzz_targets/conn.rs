//! Client connections against a real state, driven as circologd drives
//! them: a connection is read from only when it wants to read, everything
//! it wants written is written (unless its client stalls), and between the
//! client's bytes come time steps, EOFs, timeouts, a shutdown, stores,
//! clears and pauses. Query and control clients, over TCP or unix sockets,
//! up to four at once.
//!
//! Checked: no panic; no turn that polls without end; what waits to be
//! written and the heap stay bounded; client counts add up, and go back to
//! zero with every frame log once all are gone; and what each client reads
//! is valid: HTTP/1.1 responses, one per request in order (as the library
//! parses the requests), framed as their heads say (chunked bodies decode;
//! no body for `HEAD`), `Connection: close` where the request or the error
//! asks it and nothing after it; after a `101`, final unmasked server
//! frames (UTF-8 text, pongs, one close, nothing after it); nothing after
//! the write side is shut, which happens only after a last answer; and a
//! connection that closes on every EOF.
//!
//! Input: three setup bytes, then operations, one control byte each (`op %
//! 16` the operation, `op >> 4` the client):
//!
//! * setup 0: bit 0 control (else query), bit 1 TCP, bit 2 loopback
//!   listener, bits 3 and 4 both set: a peer that may not connect; bits
//!   5-6: `max_clients` - 1.
//! * setup 1: ring size (4 to 67 messages).
//! * setup 2: bits 0-1 `max_head` (16 KiB, 1 KiB, 256, 64), bits 2-3
//!   `max_ws_frame` (64 KiB, 1 KiB, 125, 16).
//! * 0, 1: bytes (a length byte, then the bytes); 2, 3: a request from
//!   [`REQUESTS`] (an index byte); 4: a client websocket frame (a flags
//!   byte, a length byte, the payload); 5: a time step of a byte × 50 ms;
//!   6: of a byte × 4 s; 7: EOF; 8: a timeout whether due or not; 9: the
//!   daemon shuts down; 10: store a byte % 32 + 1 messages (severities and
//!   padding from two bytes); 11: store a message of any bytes (a length
//!   byte, then the bytes); 12: clear (even byte) or toggle the pause; 13:
//!   the client stops or starts reading; 14: accept another client (a
//!   byte: even query, odd control); 15: the client's next write fails.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use circolog::serve::conn::{Config, Conn, MAX_BODY, Now, Out, Peer, Role, Want};
use circolog::daemon::{Clients, State};
use circolog::serve::fanout::Fanout;
use circolog::http::{self, HeadError, Method, Request};
use circolog::store::ring::{self, Incoming, Ring, Transport};
use circolog::ingest::syslog::ParseContext;
use circolog::serve::ws;
use circolog_fuzz::Input;
use libfuzzer_sys::fuzz_target;

struct Counting;

/// Heap bytes held now, by the Rust side (libFuzzer's own are not seen).
static HELD: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on unchanged to the system allocator; the
// counter is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            HELD.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            HELD.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HELD.fetch_add(new_size, Ordering::Relaxed);
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const EPOCH_US: i64 = 1_700_000_000_000_000;

/// Requests a client may send whole, so that the fuzzer reaches deep
/// states soon; op 0 sends anything else.
const REQUESTS: [&str; 27] = [
    "GET /?fmt=raw HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /?fmt=json&l=3 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /?sev=err&l=2&fmt=raw HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /?since=5&grep=m1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "HEAD /?fmt=raw HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /?fmt=raw HTTP/1.0\r\n\r\n",
    "GET /ws?fmt=raw HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
     Sec-WebSocket-Version: 13\r\n\r\n",
    "GET /ws?fmt=json&sev=warning&l=4 HTTP/1.1\r\nHost: localhost\r\n\
     Upgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://evil.example\r\n\
     Upgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET /ws?fmt=raw HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "POST /pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    "POST /resume HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "POST /pause/toggle HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "POST /logs/clear HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /ui HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /?l=x HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    "POST /pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n",
    "POST /pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n",
    "POST /pause HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET /?fmt=raw HTTP/1.1\r\nHost: localhost\r\n",
    "GET /histogram?buckets=7&sev=warning HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /histogram?buckets=0 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "HEAD /histogram?l=3&grep=m1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
];

/// Polls one turn of one connection may take.
const MAX_POLLS: usize = 10_000;
/// Turns the final drain may take before every connection is waiting.
const MAX_DRAIN: usize = 10_000;
/// What one poll may leave to write: a response or a dump's piece, pongs,
/// a follower's own frames; and slices of a frame log.
const MAX_OUT: usize = 256 * 1024;
const MAX_SHARED: usize = 768 * 1024;
/// Heap the whole run may hold beyond its start, plus this much for each
/// followed query's two frame logs (4 MiB each at most, and a chunk).
const MAX_HEAP: usize = 8 << 20;
const MAX_HEAP_PER_QUERY: usize = 2 * (4 << 20) + (1 << 20);
/// Clients at once.
const MAX_CONNS: usize = 4;

fuzz_target!(|data: &[u8]| {
    let held = HELD.load(Ordering::Relaxed);
    let mut input = Input::new(data);
    let mut world = World::new(&mut input);
    world.accept(world.role);
    world.settle_all();
    while !input.is_empty() {
        world.step(&mut input);
        world.settle_all();
        world.check(held);
    }
    world.end();
    drop(world);
});

enum Event {
    Data(Vec<u8>),
    Eof,
}

struct World {
    st: State,
    fanout: Fanout,
    base: Instant,
    elapsed: Duration,
    cfg: Config,
    peer: Peer,
    role: Role,
    clients: Vec<Client>,
    shutting_down: bool,
}

struct Client {
    conn: Option<Conn>,
    out: Out,
    /// What it last wanted; `None`: poll it.
    want: Option<Want>,
    /// What its client sent and it has not read yet, in order.
    pending: VecDeque<Event>,
    /// The client takes nothing: writes wait.
    stalled: bool,
    /// The next write fails.
    broken: bool,
    told_shutdown: bool,
    check: Check,
}

impl World {
    fn new(input: &mut Input<'_>) -> World {
        let setup = input.byte();
        let ring_size = 4 + usize::from(input.byte() % 64);
        let limits = input.byte();
        let ring = Ring::new(ring::Config {
            max_messages: ring_size,
            arena_bytes: 256 * 1024,
            max_message_bytes: 1024,
        })
        .expect("a ring");
        let parse = ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        };
        World {
            st: State::new(ring, EPOCH_US, parse),
            fanout: Fanout::new(),
            base: Instant::now(),
            elapsed: Duration::ZERO,
            cfg: Config {
                max_head: [16 * 1024, 1024, 256, 64][usize::from(limits & 3)],
                head_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                write_timeout: Duration::from_secs(60),
                max_clients: 1 + u64::from((setup >> 5) & 3),
                max_ws_frame: [64 * 1024, 1024, 125, 16][usize::from((limits >> 2) & 3)],
            },
            peer: Peer {
                tcp: setup & 2 != 0,
                loopback: setup & 4 != 0,
                allowed: setup & 0x18 != 0x18,
            },
            role: if setup & 1 != 0 {
                Role::Control
            } else {
                Role::Query
            },
            clients: Vec::new(),
            shutting_down: false,
        }
    }

    fn now(&self) -> Now {
        Now {
            at: self.base + self.elapsed,
            unix_us: EPOCH_US + self.elapsed.as_micros() as i64,
        }
    }

    fn accept(&mut self, role: Role) {
        if self.clients.len() >= MAX_CONNS {
            return;
        }
        let c = self.st.clients();
        let connected = match role {
            Role::Control => c.ctl,
            Role::Query => c.query + c.followers,
        };
        let refuse = !self.peer.allowed || connected >= self.cfg.max_clients;
        let mut out = Out::default();
        let now = self.now();
        let mut conn = Conn::accept(now, role, self.peer, self.cfg, &mut self.st, &mut out);
        assert_eq!(!out.is_empty(), refuse, "refused at accept, or not");
        let told_shutdown = self.shutting_down;
        if told_shutdown {
            conn.shutdown(now, &mut self.fanout, &mut out);
        }
        self.clients.push(Client {
            conn: Some(conn),
            out,
            want: None,
            pending: VecDeque::new(),
            stalled: false,
            broken: false,
            told_shutdown,
            check: Check::new(role, self.cfg.max_head, refuse),
        });
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.byte();
        let n = self.clients.len();
        let who = usize::from(op >> 4) % n.max(1);
        match op % 16 {
            0 | 1 => {
                let len = usize::from(input.byte());
                let bytes = input.take(len).to_vec();
                self.send(who, Event::Data(bytes));
            }
            2 | 3 => {
                let r = REQUESTS[usize::from(input.byte()) % REQUESTS.len()];
                self.send(who, Event::Data(r.as_bytes().to_vec()));
            }
            4 => {
                let flags = input.byte();
                let len = usize::from(input.byte());
                let frame = client_frame(flags, input.take(len));
                self.send(who, Event::Data(frame));
            }
            5 => self.advance(Duration::from_millis(50 * u64::from(input.byte()))),
            6 => self.advance(Duration::from_secs(4 * u64::from(input.byte()))),
            7 => self.send(who, Event::Eof),
            8 => {
                let now = self.now();
                if let Some(c) = self.clients.get_mut(who)
                    && matches!(c.want, Some(Want::Read { .. } | Want::Wait))
                {
                    c.conn.as_mut().expect("live").handle_timeout(now);
                    c.want = None;
                }
            }
            9 => self.shutting_down = true,
            10 => {
                let count = 1 + input.byte() % 32;
                let sevs = input.byte();
                let pad = usize::from(input.byte() % 64);
                for i in 0..count {
                    let seq = self.st.ring().next_seq();
                    let pri = 8 + (sevs.rotate_left(u32::from(i)) & 7);
                    let text = format!("<{pri}>1 - host app - - - m{seq} {}", "x".repeat(pad));
                    self.store(text.as_bytes());
                }
            }
            11 => {
                let len = usize::from(input.byte());
                let bytes = input.take(len).to_vec();
                self.store(&bytes);
            }
            12 => {
                if input.byte().is_multiple_of(2) {
                    self.st.clear();
                } else {
                    self.st.toggle_pause(circolog::daemon::PausedBy::Signal);
                }
            }
            13 => {
                if let Some(c) = self.clients.get_mut(who) {
                    c.stalled = !c.stalled;
                }
            }
            14 => {
                let role = if input.byte().is_multiple_of(2) {
                    Role::Query
                } else {
                    Role::Control
                };
                self.accept(role);
            }
            _ => {
                if let Some(c) = self.clients.get_mut(who) {
                    c.broken = true;
                }
            }
        }
    }

    fn send(&mut self, who: usize, event: Event) {
        if let Some(c) = self.clients.get_mut(who) {
            c.pending.push_back(event);
        }
    }

    fn store(&mut self, bytes: &[u8]) {
        self.st.ingest(Incoming {
            received_us: self.now().unix_us,
            transport: Transport::Udp,
            cred: None,
            truncated: false,
            bytes,
        });
    }

    /// Time passes: deadlines the driver sleeps on come due.
    fn advance(&mut self, d: Duration) {
        self.elapsed += d;
        let now = self.now();
        let mut i = 0;
        while i < self.clients.len() {
            let c = &mut self.clients[i];
            match c.want {
                Some(Want::Read { deadline }) if now.at >= deadline && c.pending.is_empty() => {
                    c.conn.as_mut().expect("live").handle_timeout(now);
                    c.want = None;
                }
                // A client that took none of a response in time is dropped.
                Some(Want::Write { deadline }) if now.at >= deadline => {
                    self.finish(i, false);
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn settle_all(&mut self) {
        let mut i = 0;
        while i < self.clients.len() {
            if self.settle(i) {
                i += 1;
            }
        }
    }

    /// One turn of client `i`'s driver: feeds it, polls it and writes for
    /// it until it waits for something. Returns whether it is still there.
    fn settle(&mut self, i: usize) -> bool {
        let now = self.now();
        let mut polls = 0;
        let mut woken = false;
        loop {
            let c = &mut self.clients[i];
            let conn = c.conn.as_mut().expect("live");
            match c.want {
                Some(Want::Write { .. }) => {
                    if c.stalled {
                        return true;
                    }
                    if c.broken {
                        self.finish(i, false);
                        return false;
                    }
                    c.check.written(&c.out);
                    c.out.clear();
                }
                Some(want @ (Want::Read { .. } | Want::Wait)) => {
                    let due = matches!(want, Want::Read { deadline } if deadline <= now.at);
                    if let Some(event) = c.pending.pop_front() {
                        match event {
                            Event::Data(d) => {
                                c.check.mirror.sent(&d);
                                conn.handle_input(now, &d);
                            }
                            Event::Eof => conn.handle_eof(now),
                        }
                    } else if due {
                        // Its deadline passed while it was writing.
                        conn.handle_timeout(now);
                    } else if self.shutting_down && !c.told_shutdown {
                        c.told_shutdown = true;
                        conn.shutdown(now, &mut self.fanout, &mut c.out);
                    } else if want == Want::Wait && !woken {
                        // Woken by a store, a clear or a pause (or for
                        // nothing: a wake-up is only a hint).
                        woken = true;
                    } else {
                        return true;
                    }
                }
                Some(Want::Close) => {
                    self.finish(i, true);
                    return false;
                }
                // `POST /restart`: the daemon could not execute itself
                // again, as when its file is gone.
                Some(Want::HandOver) => {
                    conn.restart_failed(now, 500, "cannot execute the daemon", &mut c.out)
                }
                // Other tasks had their turn: go on, once per turn.
                Some(Want::Yield) if polls > 0 => return true,
                None | Some(Want::Yield | Want::ShutdownWrite) => {}
            }
            polls += 1;
            assert!(polls <= MAX_POLLS, "{MAX_POLLS} polls in one turn");
            let want = conn.poll_output(now, &mut self.st, &mut self.fanout, &mut c.out);
            let shared: usize = c.out.shared.iter().map(|b| b.len()).sum();
            assert!(
                c.out.bytes.len() <= MAX_OUT,
                "{} bytes to write",
                c.out.bytes.len()
            );
            assert!(shared <= MAX_SHARED, "{shared} shared bytes to write");
            match want {
                Want::Write { deadline } => assert_eq!(deadline, now.at + self.cfg.write_timeout),
                Want::ShutdownWrite => {
                    assert!(c.out.is_empty(), "shut with an answer unwritten");
                    c.check.shut();
                }
                Want::Read { .. } => assert!(c.out.is_empty(), "reads with an answer unwritten"),
                Want::Wait => assert!(c.out.is_empty(), "waits with an answer unwritten"),
                Want::HandOver => assert!(c.out.is_empty(), "handed over with an answer unwritten"),
                Want::Yield | Want::Close => {}
            }
            c.want = Some(want);
        }
    }

    /// Client `i` is gone: `clean` when its connection asked to close.
    fn finish(&mut self, i: usize, clean: bool) {
        let mut c = self.clients.remove(i);
        if clean {
            c.check.closed();
        }
        let conn = c.conn.take().expect("live");
        conn.finish(&mut self.st, &mut self.fanout);
    }

    fn check(&self, held_at_start: usize) {
        let counted = self.clients.iter().filter(|c| !c.check.refused).count() as u64;
        let c = self.st.clients();
        assert_eq!(c.query + c.followers + c.ctl, counted, "{c:?}");
        assert_eq!(c.tcp_senders, 0);
        let held = HELD.load(Ordering::Relaxed).saturating_sub(held_at_start);
        let bound = MAX_HEAP + self.fanout.queries() * MAX_HEAP_PER_QUERY;
        assert!(held <= bound, "{held} bytes of heap held");
    }

    /// Every client's work runs out, then every client goes: each
    /// connection closes on EOF, and leaves nothing counted or followed.
    fn end(&mut self) {
        for c in &mut self.clients {
            c.stalled = false;
        }
        let mut rounds = 0;
        while self
            .clients
            .iter()
            .any(|c| matches!(c.want, None | Some(Want::Yield)))
        {
            self.settle_all();
            rounds += 1;
            assert!(rounds <= MAX_DRAIN, "yields for ever");
        }
        for c in &mut self.clients {
            c.pending.push_back(Event::Eof);
        }
        let mut rounds = 0;
        while !self.clients.is_empty() {
            self.settle_all();
            rounds += 1;
            assert!(rounds <= MAX_DRAIN, "a connection stayed open after EOF");
        }
        assert_eq!(*self.st.clients(), Clients::default());
        assert_eq!(self.fanout.queries(), 0, "frame logs nobody follows");
    }
}

/// A client frame: `flags` bits 0-2 pick the opcode, bit 3 clears FIN,
/// bit 4 leaves it unmasked, bit 5 sets RSV1, bit 6 uses the 16-bit length
/// whatever the length; a close payload is taken as it comes.
fn client_frame(flags: u8, payload: &[u8]) -> Vec<u8> {
    let opcode = [0x1, 0x2, 0x0, 0x8, 0x9, 0xa, 0x3, 0xb][usize::from(flags & 7)];
    let fin = if flags & 0x08 == 0 { 0x80 } else { 0 };
    let rsv = if flags & 0x20 != 0 { 0x40 } else { 0 };
    let masked = flags & 0x10 == 0;
    let mut f = vec![fin | rsv | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    if payload.len() < 126 && flags & 0x40 == 0 {
        f.push(mask_bit | payload.len() as u8);
    } else {
        f.push(mask_bit | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    let mask = [0x5a, 0x0f, 0xc3, 0x81];
    if masked {
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// The requests a connection was sent, parsed as it parses them, one at a
/// time as their answers come.
struct Mirror {
    bytes: Vec<u8>,
    /// Body bytes of the last request still to pass over.
    skip: u64,
    /// Past an error, a 413 or a `101`: what follows is not requests.
    stopped: bool,
    max_head: usize,
}

impl Mirror {
    fn sent(&mut self, data: &[u8]) {
        if !self.stopped {
            self.bytes.extend_from_slice(data);
        }
    }

    /// The request the next answer is for: `None` when there is none.
    fn next(&mut self) -> Option<Result<Request, HeadError>> {
        if self.stopped {
            return None;
        }
        let body = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        self.bytes.drain(..body);
        self.skip -= body as u64;
        if self.skip > 0 {
            return None;
        }
        match http::parse_head(&self.bytes, self.max_head) {
            Ok(Some((req, len))) => {
                self.bytes.drain(..len);
                if req.content_length > MAX_BODY {
                    self.stopped = true;
                } else {
                    self.skip = req.content_length;
                }
                Some(Ok(req))
            }
            Ok(None) => None,
            Err(e) => {
                self.stopped = true;
                Some(Err(e))
            }
        }
    }
}

/// Where a client is in what it reads.
#[derive(Debug, PartialEq, Eq)]
enum Stage {
    Head,
    /// This many body bytes to come.
    Fixed(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    LastChunkEnd,
    /// The body runs to the end of the connection.
    UntilClose,
    /// Websocket frames, after a `101`.
    Frames,
    /// The last answer, or the close frame, is complete: nothing follows.
    Done,
}

/// What one client reads, checked as it comes.
struct Check {
    role: Role,
    /// Refused at accept: its one answer is to no request.
    refused: bool,
    mirror: Mirror,
    buf: Vec<u8>,
    stage: Stage,
    /// The answer being read ends the connection.
    closes: bool,
    answers: usize,
    shut: bool,
}

impl Check {
    fn new(role: Role, max_head: usize, refused: bool) -> Check {
        Check {
            role,
            refused,
            mirror: Mirror {
                bytes: Vec::new(),
                skip: 0,
                stopped: false,
                max_head,
            },
            buf: Vec::new(),
            stage: Stage::Head,
            closes: false,
            answers: 0,
            shut: false,
        }
    }

    fn written(&mut self, out: &Out) {
        let len = out.bytes.len() + out.shared.iter().map(|b| b.len()).sum::<usize>();
        if len == 0 {
            return;
        }
        assert!(!self.shut, "written after the write side was shut");
        self.buf.extend_from_slice(&out.bytes);
        for s in &out.shared {
            self.buf.extend_from_slice(s);
        }
        self.parse();
    }

    fn shut(&mut self) {
        assert!(!self.shut, "shut twice");
        self.shut = true;
        assert!(
            matches!(self.stage, Stage::Done | Stage::UntilClose) && self.buf.is_empty(),
            "shut before the end of a last answer: {:?}",
            self.stage
        );
    }

    /// The connection closed itself: what was written is whole.
    fn closed(&mut self) {
        assert!(self.buf.is_empty(), "closed within a message");
        assert!(
            matches!(
                self.stage,
                Stage::Head | Stage::Done | Stage::UntilClose | Stage::Frames
            ),
            "closed within a body: {:?}",
            self.stage
        );
    }

    fn end_message(&mut self) {
        self.stage = if self.closes {
            Stage::Done
        } else {
            Stage::Head
        };
    }

    fn parse(&mut self) {
        loop {
            let progressed = match self.stage {
                Stage::Head => self.head(),
                Stage::Fixed(n) => {
                    let take = n.min(self.buf.len());
                    self.buf.drain(..take);
                    if take == n {
                        self.end_message();
                    } else {
                        self.stage = Stage::Fixed(n - take);
                    }
                    take > 0 || n == 0
                }
                Stage::ChunkSize => match self.buf.windows(2).position(|w| w == b"\r\n") {
                    Some(eol) => {
                        let line = std::str::from_utf8(&self.buf[..eol]).expect("a size line");
                        assert!(
                            !line.is_empty() && line.len() <= 8,
                            "chunk size line {line:?}"
                        );
                        let n = usize::from_str_radix(line, 16).expect("a hex chunk size");
                        self.buf.drain(..eol + 2);
                        self.stage = if n == 0 {
                            Stage::LastChunkEnd
                        } else {
                            Stage::ChunkData(n)
                        };
                        true
                    }
                    None => {
                        assert!(self.buf.len() < 10, "chunk size line too long");
                        false
                    }
                },
                Stage::ChunkData(n) => {
                    let take = n.min(self.buf.len());
                    self.buf.drain(..take);
                    self.stage = if take == n {
                        Stage::ChunkEnd
                    } else {
                        Stage::ChunkData(n - take)
                    };
                    take > 0
                }
                Stage::ChunkEnd | Stage::LastChunkEnd => {
                    if self.buf.len() < 2 {
                        false
                    } else {
                        assert_eq!(&self.buf[..2], b"\r\n", "a chunk ends with CRLF");
                        self.buf.drain(..2);
                        if self.stage == Stage::LastChunkEnd {
                            self.end_message();
                        } else {
                            self.stage = Stage::ChunkSize;
                        }
                        true
                    }
                }
                Stage::UntilClose => {
                    self.buf.clear();
                    false
                }
                Stage::Frames => self.frame(),
                Stage::Done => {
                    assert!(self.buf.is_empty(), "bytes after the last answer");
                    false
                }
            };
            if !progressed {
                return;
            }
        }
    }

    /// A response head, checked against the request it answers.
    fn head(&mut self) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        let len = match r.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                assert!(self.buf.len() < 4096, "a response head that never ends");
                return false;
            }
            Err(e) => panic!("not a response head ({e}): {:?}", self.buf),
        };
        assert_eq!(r.version, Some(1), "HTTP/1.1");
        let status = r.code.expect("a status");
        assert_eq!(r.reason, Some(http::status_text(status)));
        let header = |name: &str| -> Option<String> {
            let mut found = r
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name));
            let value = found
                .next()
                .map(|h| String::from_utf8(h.value.to_vec()).expect("a UTF-8 header"));
            assert!(found.next().is_none(), "{name} repeated");
            value
        };
        let connection = header("Connection").expect("a Connection header");
        let chunked = match header("Transfer-Encoding") {
            Some(te) => {
                assert_eq!(te, "chunked");
                true
            }
            None => false,
        };
        let length = header("Content-Length").map(|v| v.parse::<usize>().expect("a length"));
        assert!(!(chunked && length.is_some()), "two framings");

        let first = self.answers == 0;
        self.answers += 1;
        let mut head_only = false;
        let mut must_close;
        if self.refused && first {
            assert!(matches!(status, 403 | 503), "refused with {status}");
            must_close = true;
        } else {
            match self.mirror.next() {
                None => panic!("a {status} answers no request"),
                Some(Err(e)) => {
                    assert_eq!(status, e.status(), "{e}");
                    must_close = true;
                }
                Some(Ok(req)) => {
                    head_only = req.method == Method::Head;
                    must_close = !req.keep_alive;
                    if req.content_length > MAX_BODY {
                        assert_eq!(status, 413);
                        must_close = true;
                    }
                    let allowed: &[u16] = match self.role {
                        // 503: a snapshot still being taken, or the ring
                        // cleared while a histogram was being counted.
                        Role::Query => &[101, 200, 400, 403, 404, 405, 413, 503],
                        Role::Control => &[200, 400, 403, 404, 405, 413, 500],
                    };
                    assert!(allowed.contains(&status), "{status} to {req:?}");
                    if status == 101 {
                        assert_eq!(req.path, "/ws");
                        assert!(req.upgrade_websocket);
                        let key = req.websocket_key.as_deref().expect("a key");
                        let accept = header("Sec-WebSocket-Accept").expect("an accept key");
                        assert_eq!(accept, ws::accept_key(key));
                        must_close = false;
                    }
                }
            }
        }
        if status == 101 {
            assert_eq!(connection, "Upgrade");
            assert_eq!(header("Upgrade").as_deref(), Some("websocket"));
            self.mirror.stopped = true;
            self.buf.drain(..len);
            self.stage = Stage::Frames;
            return true;
        }
        assert!(header("Content-Type").is_some());
        if status == 405 {
            assert!(header("Allow").is_some());
        }
        self.closes = match connection.as_str() {
            "close" => true,
            "keep-alive" => false,
            other => panic!("Connection: {other}"),
        };
        if must_close {
            assert!(
                self.closes,
                "a {status} that should close keeps the connection"
            );
        }
        self.buf.drain(..len);
        if head_only {
            self.end_message();
        } else if chunked {
            self.stage = Stage::ChunkSize;
        } else if let Some(n) = length {
            self.stage = Stage::Fixed(n);
        } else {
            assert_eq!(status, 200, "a body without a length");
            assert!(self.closes, "a body without a length keeps the connection");
            self.stage = Stage::UntilClose;
        }
        true
    }

    /// A server frame: final, unmasked, minimally framed, valid payload.
    fn frame(&mut self) -> bool {
        let b = &self.buf;
        if b.len() < 2 {
            return false;
        }
        assert_eq!(b[0] & 0xf0, 0x80, "final, without RSV bits");
        assert_eq!(b[1] & 0x80, 0, "a server frame is not masked");
        let (hdr, len) = match b[1] & 0x7f {
            126 => {
                if b.len() < 4 {
                    return false;
                }
                let n = usize::from(u16::from_be_bytes([b[2], b[3]]));
                assert!(n >= 126, "length not minimal");
                (4, n)
            }
            127 => {
                if b.len() < 10 {
                    return false;
                }
                let n = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
                assert!(n > 0xffff && n >> 63 == 0, "length {n}");
                (10, usize::try_from(n).expect("a length"))
            }
            n => (2, usize::from(n)),
        };
        if b.len() < hdr + len {
            return false;
        }
        let payload = &b[hdr..hdr + len];
        let close = match b[0] & 0x0f {
            0x1 => {
                assert!(
                    std::str::from_utf8(payload).is_ok(),
                    "a text frame not UTF-8"
                );
                false
            }
            0xa => {
                assert!(len <= 125, "a pong of {len}");
                false
            }
            0x8 => {
                assert!((2..=125).contains(&len), "a close of {len}");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                assert!(
                    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999),
                    "close code {code}"
                );
                assert!(
                    std::str::from_utf8(&payload[2..]).is_ok(),
                    "a close reason not UTF-8"
                );
                true
            }
            op => panic!("a server frame with opcode {op}"),
        };
        self.buf.drain(..hdr + len);
        if close {
            self.stage = Stage::Done;
        }
        true
    }
}
