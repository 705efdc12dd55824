//! A [`Conn`] driven as `circologd` drives it, bytes in and bytes out, with
//! a clock that moves only when a test says so: every limit, answer and
//! close of the contract, checked on the bytes a client would read.

// All of this file is test code: its module is declared `#[cfg(test)]`.
#[cfg(test)]
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::daemon::Clients;
use crate::ingest::syslog::ParseContext;
use crate::store::ring::Seq;
use crate::store::ring::{Config as RingConfig, Incoming, Ring, Transport};

/// The daemon's epoch, and the wall clock at the start of every test.
const EPOCH_US: i64 = 1_700_000_000_000_000;

/// The daemon's defaults (docs/reference.md, "Errors, always").
const CFG: Config = Config {
    max_head: 16 * 1024,
    head_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(60),
    write_timeout: Duration::from_secs(60),
    max_clients: 1024,
    max_ws_frame: 64 * 1024,
};

const UNIX: Peer = Peer {
    tcp: false,
    loopback: false,
    allowed: true,
};

const LOOPBACK_TCP: Peer = Peer {
    tcp: true,
    loopback: true,
    allowed: true,
};

/// RFC 6455 §1.3's example key, and the accept value it must get.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The daemon's side: its state, its fan-out and a fake clock.
struct World {
    st: State,
    fanout: Fanout,
    base: Instant,
    elapsed: Duration,
}

impl World {
    fn new(max_messages: usize) -> World {
        let ring = Ring::new(RingConfig {
            max_messages,
            arena_bytes: 4 << 20,
            max_message_bytes: 1024,
        })
        .unwrap();
        let parse = ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        };
        World {
            st: State::new(ring, EPOCH_US, parse),
            fanout: Fanout::new(),
            base: Instant::now(),
            elapsed: Duration::ZERO,
        }
    }

    fn now(&self) -> Now {
        Now {
            at: self.base + self.elapsed,
            unix_us: EPOCH_US + self.elapsed.as_micros() as i64,
        }
    }

    fn at(&self, after_start: Duration) -> Instant {
        self.base + after_start
    }

    fn advance(&mut self, d: Duration) {
        self.elapsed += d;
    }

    fn store(&mut self, text: &str) -> Seq {
        self.store_bytes(text.as_bytes())
    }

    fn store_bytes(&mut self, bytes: &[u8]) -> Seq {
        self.st
            .ingest(Incoming {
                received_us: EPOCH_US + 1,
                transport: Transport::Unix,
                cred: None,
                truncated: false,
                bytes,
            })
            .unwrap()
    }

    /// Stores `n` messages `m0`, `m1`, ... (`m` and their seq, from 0).
    fn store_many(&mut self, n: usize) {
        for _ in 0..n {
            let seq = self.st.ring().next_seq();
            self.store(&format!("m{seq}"));
        }
    }

    fn accept(&mut self, role: Role, peer: Peer) -> Client {
        self.accept_with(role, peer, CFG)
    }

    fn accept_with(&mut self, role: Role, peer: Peer, cfg: Config) -> Client {
        let mut out = Out::default();
        let conn = Conn::accept(self.now(), role, peer, cfg, &mut self.st, &mut out);
        let mut c = Client {
            conn: Some(conn),
            out,
            wire: Vec::new(),
            shared: Vec::new(),
            shut: false,
            yields: 0,
            cfg,
        };
        c.drive(self);
        c
    }
}

/// One client's connection, and what it was sent.
struct Client {
    conn: Option<Conn>,
    out: Out,
    /// Bytes written to the client and not yet taken by the test.
    wire: Vec<u8>,
    /// Every shared slice written, to see who shared frames with whom.
    shared: Vec<Bytes>,
    /// The write side was shut (`Want::ShutdownWrite`).
    shut: bool,
    /// `Want::Yield`s so far.
    yields: usize,
    cfg: Config,
}

/// Polls a drive makes at most: a connection that needs more is stuck.
const MAX_POLLS: usize = 100_000;

impl Client {
    fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("not finished")
    }

    /// Polls as the driver does until the connection waits for input or
    /// wants to close, and returns that want.
    fn drive(&mut self, w: &mut World) -> Want {
        self.drive_with(w, |_| {})
    }

    /// [`Client::drive`], calling `on_yield` where the driver lets
    /// ingestion run.
    fn drive_with(&mut self, w: &mut World, mut on_yield: impl FnMut(&mut World)) -> Want {
        for _ in 0..MAX_POLLS {
            let now = w.now();
            let conn = self.conn.as_mut().expect("not finished");
            let want = conn.poll_output(now, &mut w.st, &mut w.fanout, &mut self.out);
            match want {
                Want::Write { deadline } => {
                    assert_eq!(deadline, now.at + self.cfg.write_timeout);
                    assert!(!self.shut, "written after the write side was shut");
                    self.wire.extend_from_slice(&self.out.bytes);
                    for s in &self.out.shared {
                        self.wire.extend_from_slice(s);
                    }
                    self.shared.append(&mut self.out.shared);
                    self.out.clear();
                }
                Want::Yield => {
                    self.yields += 1;
                    on_yield(w);
                }
                Want::ShutdownWrite => {
                    assert!(!self.shut, "shut twice");
                    assert!(self.out.is_empty(), "shut with an answer unwritten");
                    self.shut = true;
                }
                Want::Read { .. } | Want::Wait => {
                    assert!(self.out.is_empty(), "waits with an answer unwritten");
                    return want;
                }
                Want::Close => return want,
                Want::HandOver => {
                    assert!(self.out.is_empty(), "handed over with an answer unwritten");
                    return want;
                }
            }
        }
        panic!("{MAX_POLLS} polls without waiting for anything");
    }

    fn send(&mut self, w: &mut World, data: &[u8]) -> Want {
        let now = w.now();
        self.conn().handle_input(now, data);
        self.drive(w)
    }

    fn eof(&mut self, w: &mut World) -> Want {
        let now = w.now();
        self.conn().handle_eof(now);
        self.drive(w)
    }

    fn timeout(&mut self, w: &mut World) -> Want {
        let now = w.now();
        self.conn().handle_timeout(now);
        self.drive(w)
    }

    fn shutdown(&mut self, w: &mut World) -> Want {
        let now = w.now();
        let conn = self.conn.as_mut().expect("not finished");
        conn.shutdown(now, &mut w.fanout, &mut self.out);
        self.drive(w)
    }

    fn restart(&mut self, w: &mut World) -> Want {
        let now = w.now();
        let conn = self.conn.as_mut().expect("not finished");
        conn.restart(now, &mut w.fanout, &mut self.out);
        self.drive(w)
    }

    /// What the client has read since the last call.
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.wire)
    }

    fn finish(mut self, w: &mut World) {
        let conn = self.conn.take().expect("not finished");
        conn.finish(&mut w.st, &mut w.fanout);
    }
}

// ---- requests ----

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

fn request(method: &str, target: &str, headers: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n")
}

fn upgrade(target: &str, headers: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n{headers}\r\n"
    )
}

// ---- responses ----

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "{name} repeated");
        first
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The lines of a `fmt=raw` body.
    fn lines(&self) -> Vec<&str> {
        self.text().lines().collect()
    }
}

/// The responses in `wire`, which must hold whole ones only; the bodies of
/// those answering a `HEAD` (their indexes in `heads`) are empty, and a
/// body with neither length nor chunks runs to the end.
fn parse_responses(wire: &[u8], heads: &[usize]) -> Vec<Response> {
    let mut rest = wire;
    let mut all = Vec::new();
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        let len = match r.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!("not a whole response head: {other:?} in {rest:?}"),
        };
        assert_eq!(r.version, Some(1), "HTTP/1.1");
        let status = r.code.unwrap();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                let value = std::str::from_utf8(h.value).unwrap();
                (h.name.to_string(), value.to_string())
            })
            .collect();
        rest = &rest[len..];
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let chunked = resp.header("Transfer-Encoding") == Some("chunked");
        let length = resp.header("Content-Length").map(|v| v.parse().unwrap());
        assert!(!(chunked && length.is_some()), "both framings");
        if heads.contains(&all.len()) || status == 101 {
            // No body.
        } else if chunked {
            let (body, used) = dechunk(rest);
            resp.body = body;
            rest = &rest[used..];
        } else if let Some(n) = length {
            resp.body = rest[..n].to_vec();
            rest = &rest[n..];
        } else {
            assert_eq!(
                resp.header("Connection"),
                Some("close"),
                "ends with the connection"
            );
            resp.body = rest.to_vec();
            rest = &[];
        }
        let upgraded = status == 101;
        all.push(resp);
        if upgraded {
            assert!(rest.is_empty(), "frames after a 101: use `upgraded`");
            break;
        }
    }
    all
}

fn responses(wire: &[u8]) -> Vec<Response> {
    parse_responses(wire, &[])
}

fn response(wire: &[u8]) -> Response {
    let mut all = responses(wire);
    assert_eq!(all.len(), 1, "one response");
    all.remove(0)
}

/// A whole chunked body at the start of `data`: the body, and the bytes
/// it took. Every chunk must be well formed and non-empty but the last.
fn dechunk(data: &[u8]) -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut p = 0;
    loop {
        let eol = data[p..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&data[p..p + eol]).unwrap();
        assert!(!size.is_empty() && size.bytes().all(|b| b.is_ascii_hexdigit()));
        let n = usize::from_str_radix(size, 16).unwrap();
        p += eol + 2;
        if n == 0 {
            assert_eq!(&data[p..p + 2], b"\r\n", "no trailers");
            return (body, p + 2);
        }
        body.extend_from_slice(&data[p..p + n]);
        p += n;
        assert_eq!(&data[p..p + 2], b"\r\n", "a chunk ends with CRLF");
        p += 2;
    }
}

// ---- websocket frames ----

/// A frame from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Frame {
    Text(String),
    Pong(Vec<u8>),
    Close(u16, String),
}

/// The frames in `wire`, which must be whole, final, unmasked server
/// frames with valid payloads.
fn frames(wire: &[u8]) -> Vec<Frame> {
    let mut all = Vec::new();
    let mut p = 0;
    while p < wire.len() {
        let (b0, b1) = (wire[p], wire[p + 1]);
        assert_eq!(b0 & 0xf0, 0x80, "final, no RSV bits");
        assert_eq!(b1 & 0x80, 0, "a server frame is not masked");
        let (hdr, len) = match b1 & 0x7f {
            126 => (4, u16::from_be_bytes([wire[p + 2], wire[p + 3]]) as usize),
            127 => {
                let n = u64::from_be_bytes(wire[p + 2..p + 10].try_into().unwrap());
                (10, n as usize)
            }
            n => (2, usize::from(n)),
        };
        let payload = &wire[p + hdr..p + hdr + len];
        all.push(match b0 & 0x0f {
            1 => Frame::Text(
                String::from_utf8(payload.to_vec()).expect("a text frame is UTF-8 (RFC 6455 §5.6)"),
            ),
            0xa => Frame::Pong(payload.to_vec()),
            8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                Frame::Close(code, String::from_utf8(payload[2..].to_vec()).unwrap())
            }
            op => panic!("unexpected opcode {op}"),
        });
        p += hdr + len;
    }
    all
}

fn texts(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Text(t) => t.clone(),
            other => panic!("not a text frame: {other:?}"),
        })
        .collect()
}

/// A final frame from the client, masked as RFC 6455 §5.3 requires.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A follower of `target` on a unix socket: the `101` and the frames sent
/// with it (the backlog).
fn follow(w: &mut World, target: &str) -> (Client, Response, Vec<Frame>) {
    let mut c = w.accept(Role::Query, UNIX);
    assert_eq!(c.send(w, upgrade(target, "").as_bytes()), Want::Wait);
    let wire = c.take();
    let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let resp = response(&wire[..head_end]);
    assert_eq!(resp.status, 101);
    (c, resp, frames(&wire[head_end..]))
}

// ---- HTTP ----

#[test]
fn pipelined_requests_are_answered_in_order_however_the_reads_split_them() {
    let mut w = World::new(100);
    w.store_many(3);
    let input = [
        get("/?fmt=raw"),
        get("/nope"),
        request("HEAD", "/?fmt=raw&l=1", ""),
        get("/?fmt=raw&l=1"),
    ]
    .concat();

    let mut c = w.accept(Role::Query, UNIX);
    assert!(matches!(
        c.send(&mut w, input.as_bytes()),
        Want::Read { .. }
    ));
    let whole = c.take();
    let all = parse_responses(&whole, &[2]);
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 200, 200]);
    assert_eq!(all[0].lines(), ["m0", "m1", "m2"]);
    assert_eq!(all[1].text(), "not found\n");
    assert_eq!(all[2].header("Transfer-Encoding"), Some("chunked"));
    assert!(all[2].body.is_empty());
    assert_eq!(all[3].lines(), ["m2"]);
    c.finish(&mut w);

    // Cut in two at every byte, and a byte at a time: the same bytes out.
    let input = input.as_bytes();
    for cut in 0..=input.len() {
        let mut c = w.accept(Role::Query, UNIX);
        c.send(&mut w, &input[..cut]);
        c.send(&mut w, &input[cut..]);
        assert_eq!(c.take(), whole, "cut at {cut}");
        c.finish(&mut w);
    }
    let mut c = w.accept(Role::Query, UNIX);
    for b in input {
        c.send(&mut w, std::slice::from_ref(b));
    }
    assert_eq!(c.take(), whole, "a byte at a time");
    c.finish(&mut w);
    assert_eq!(*w.st.clients(), Clients::default());
}

#[test]
fn keep_alive_waits_for_the_next_request_and_connection_close_ends_it() {
    let mut w = World::new(100);
    let mut c = w.accept(Role::Query, UNIX);
    assert_eq!(
        c.send(&mut w, get("/nope").as_bytes()),
        Want::Read {
            deadline: w.at(CFG.idle_timeout)
        }
    );
    let r = response(&c.take());
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert!(!c.shut);

    w.advance(Duration::from_secs(1));
    let want = c.send(
        &mut w,
        request("GET", "/nope", "Connection: close\r\n").as_bytes(),
    );
    // The answer, then the write side shut, then a short linger.
    assert_eq!(
        want,
        Want::Read {
            deadline: w.now().at + LINGER
        }
    );
    let r = response(&c.take());
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.shut);
    assert_eq!(c.eof(&mut w), Want::Close);
    assert!(c.take().is_empty());
    c.finish(&mut w);
}

#[test]
fn an_http10_dump_is_delimited_by_the_close() {
    let mut w = World::new(100);
    w.store_many(3);
    let mut c = w.accept(Role::Query, UNIX);
    let want = c.send(&mut w, b"GET /?fmt=raw HTTP/1.0\r\n\r\n");
    assert!(matches!(want, Want::Read { .. }));
    assert!(c.shut, "the close ends the body");
    let r = response(&c.take());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Transfer-Encoding"), None);
    assert_eq!(r.header("Content-Length"), None);
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(r.lines(), ["m0", "m1", "m2"]);

    // Even asked to keep the connection, a body without a length ends it.
    let mut c = w.accept(Role::Query, UNIX);
    c.send(
        &mut w,
        b"GET /?fmt=raw HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert!(c.shut);
    assert_eq!(response(&c.take()).lines(), ["m0", "m1", "m2"]);
    // A 1.0 client asking for keep-alive keeps it on a sized answer.
    let mut c = w.accept(Role::Query, UNIX);
    let want = c.send(&mut w, b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(matches!(want, Want::Read { .. }));
    assert!(!c.shut);
    assert_eq!(response(&c.take()).header("Connection"), Some("keep-alive"));
}

#[test]
fn head_gets_the_head_of_get_without_the_body() {
    let mut w = World::new(100);
    w.store_many(2);
    let mut c = w.accept(Role::Query, UNIX);
    let input = [
        request("HEAD", "/?fmt=raw", ""),
        get("/?fmt=raw"),
        request("HEAD", "/ui", ""),
        get("/ui"),
    ]
    .concat();
    c.send(&mut w, input.as_bytes());
    let all = parse_responses(&c.take(), &[0, 2]);
    assert_eq!(all.len(), 4);
    assert!(all[0].body.is_empty());
    assert_eq!(all[1].lines(), ["m0", "m1"]);
    for (head, full) in [(&all[0], &all[1]), (&all[2], &all[3])] {
        assert_eq!(head.status, 200);
        assert_eq!(head.headers, full.headers);
    }
    assert!(all[2].body.is_empty());
    assert_eq!(
        all[3].header("Content-Length"),
        Some(all[3].body.len().to_string().as_str())
    );
    assert!(all[3].text().contains("<html"));

    let mut ctl = w.accept(Role::Control, UNIX);
    ctl.send(&mut w, request("HEAD", "/status", "").as_bytes());
    let r = parse_responses(&ctl.take(), &[0]).remove(0);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(
        r.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
}

#[test]
fn bad_queries_unknown_paths_and_wrong_methods_are_answered_and_kept_alive() {
    let mut w = World::new(100);
    let mut c = w.accept(Role::Query, UNIX);
    let input = [
        get("/?l=abc"),
        get("/ws?fmt=yaml"),
        get("/ws"),
        get("/nope"),
        request("POST", "/", "Content-Length: 0\r\n"),
        request("DELETE", "/ws", ""),
        get("/?l=1"),
    ]
    .concat();
    let want = c.send(&mut w, input.as_bytes());
    assert!(matches!(want, Want::Read { .. }), "still open");
    let all = responses(&c.take());
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 400, 400, 404, 405, 405, 200]);
    for r in &all[..6] {
        assert_eq!(r.header("Connection"), Some("keep-alive"));
        assert_eq!(r.text().lines().count(), 1, "a one-line reason");
    }
    assert!(all[0].text().contains("\"abc\""), "{}", all[0].text());
    assert!(all[1].text().contains("yaml"), "{}", all[1].text());
    assert!(all[2].text().contains("Upgrade: websocket"));
    assert_eq!(all[4].header("Allow"), Some("GET, HEAD"));
    assert_eq!(all[5].header("Allow"), Some("GET, HEAD"));

    let mut ctl = w.accept(Role::Control, UNIX);
    let input = [
        get("/pause"),
        request("POST", "/status", ""),
        get("/"),
        request("POST", "/pause", "").replace("/pause", "/pause?for=x"),
    ]
    .concat();
    ctl.send(&mut w, input.as_bytes());
    let all = responses(&ctl.take());
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [405, 405, 404, 400]);
    assert_eq!(all[0].header("Allow"), Some("POST"));
    assert_eq!(all[1].header("Allow"), Some("GET, HEAD"));
    assert!(!w.st.paused());
}

#[test]
fn a_body_is_read_and_skipped_and_one_over_64_kib_is_413() {
    let mut w = World::new(100);
    let mut ctl = w.accept(Role::Control, UNIX);
    // A body in pieces, then the next request in the same read as its end.
    let head = request("POST", "/pause", &format!("Content-Length: {MAX_BODY}\r\n"));
    let body = vec![b'x'; MAX_BODY as usize];
    assert!(matches!(
        ctl.send(&mut w, head.as_bytes()),
        Want::Read { .. }
    ));
    ctl.send(&mut w, &body[..1000]);
    ctl.send(&mut w, &body[1000..40_000]);
    assert!(ctl.take().is_empty(), "answered after its body");
    assert!(!w.st.paused());
    let mut last = body[40_000..].to_vec();
    last.extend_from_slice(get("/status").as_bytes());
    ctl.send(&mut w, &last);
    let all = responses(&ctl.take());
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].json()["paused"], true);
    assert_eq!(all[1].json()["paused"], true);
    assert!(w.st.paused());

    let over = request(
        "POST",
        "/resume",
        &format!("Content-Length: {}\r\n", MAX_BODY + 1),
    );
    let want = ctl.send(&mut w, over.as_bytes());
    assert!(matches!(want, Want::Read { .. }));
    assert!(ctl.shut, "closed: the body is not read");
    let r = response(&ctl.take());
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(w.st.paused(), "not resumed");
}

#[test]
fn a_head_request_with_a_body_over_64_kib_gets_a_413_without_a_body() {
    let mut w = World::new(100);
    let mut c = w.accept(Role::Query, UNIX);
    let over = request(
        "HEAD",
        "/",
        &format!("Content-Length: {}\r\n", MAX_BODY + 1),
    );
    c.send(&mut w, over.as_bytes());
    assert!(c.shut, "closed: the body is not read");
    let wire = c.take();
    let all = parse_responses(&wire, &[0]);
    assert_eq!(all.len(), 1, "one head and nothing after it: {wire:?}");
    assert_eq!(all[0].status, 413);
    assert_eq!(all[0].header("Connection"), Some("close"));
}

#[test]
fn a_head_over_max_head_is_431_without_waiting_for_its_end() {
    let mut w = World::new(100);
    let mut c = w.accept(Role::Query, UNIX);
    let head = format!("GET / HTTP/1.1\r\nX-Long: {}", "a".repeat(CFG.max_head));
    let mut want = Want::Close;
    for piece in head.as_bytes().chunks(1000) {
        assert!(c.take().is_empty() || c.shut);
        want = c.send(&mut w, piece);
        if c.shut {
            break;
        }
    }
    assert!(matches!(want, Want::Read { .. }));
    assert!(c.shut);
    let r = response(&c.take());
    assert_eq!(r.status, 431);
    assert_eq!(r.header("Connection"), Some("close"));

    // Just under the limit is fine.
    let mut c = w.accept(Role::Query, UNIX);
    let filler = "a".repeat(CFG.max_head - 100);
    let head = format!("GET /nope HTTP/1.1\r\nX-Long: {filler}\r\n\r\n");
    assert!(head.len() < CFG.max_head);
    c.send(&mut w, head.as_bytes());
    assert_eq!(response(&c.take()).status, 404);
}

#[test]
fn a_transfer_coded_body_is_501_and_closes() {
    let mut w = World::new(100);
    let mut ctl = w.accept(Role::Control, UNIX);
    let req = request("POST", "/pause", "Transfer-Encoding: chunked\r\n");
    ctl.send(&mut w, format!("{req}5\r\nhello\r\n0\r\n\r\n").as_bytes());
    assert!(ctl.shut);
    let r = response(&ctl.take());
    assert_eq!(r.status, 501);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(!w.st.paused());
}

#[test]
fn past_max_clients_a_new_client_gets_503_and_is_never_counted() {
    let mut w = World::new(100);
    let cfg = Config {
        max_clients: 2,
        ..CFG
    };
    let a = w.accept_with(Role::Query, UNIX, cfg);
    let (mut b, _, _) = follow(&mut w, "/ws");
    b.cfg = cfg;
    assert_eq!(w.st.clients().query, 1);
    assert_eq!(w.st.clients().followers, 1);

    // Readers and followers count together.
    let mut c = w.accept_with(Role::Query, UNIX, cfg);
    assert!(c.shut);
    let r = response(&c.take());
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "too many clients\n");
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(w.st.clients().query, 1, "not counted");
    assert_eq!(c.eof(&mut w), Want::Close);
    c.finish(&mut w);
    assert_eq!(w.st.clients().query, 1, "nor uncounted");

    // Control clients are limited apart.
    let ctl = w.accept_with(Role::Control, UNIX, cfg);
    assert!(!ctl.shut);
    assert_eq!(w.st.clients().ctl, 1);

    a.finish(&mut w);
    let mut d = w.accept_with(Role::Query, UNIX, cfg);
    assert!(!d.shut);
    assert!(d.take().is_empty());
    d.finish(&mut w);
    b.finish(&mut w);
    ctl.finish(&mut w);
    assert_eq!(*w.st.clients(), Clients::default());
}

#[test]
fn peers_hosts_and_origins_that_may_not_read_get_403() {
    let mut w = World::new(100);
    let refused = Peer {
        allowed: false,
        ..UNIX
    };
    let mut c = w.accept(Role::Control, refused);
    assert!(c.shut);
    let r = response(&c.take());
    assert_eq!(r.status, 403);
    assert!(r.text().contains("may not use this socket"));
    assert_eq!(*w.st.clients(), Clients::default(), "never counted");
    c.finish(&mut w);

    // A loopback listener answers loopback hosts only.
    let mut c = w.accept(Role::Query, LOOPBACK_TCP);
    let host = |h: &str| format!("GET /nope HTTP/1.1\r\nHost: {h}\r\n\r\n");
    let input = [
        host("evil.example"),
        host("localhost:8080"),
        host("127.0.0.2"),
        host("[::1]:80"),
        host("127.0.0.1.evil.example"),
    ]
    .concat();
    assert!(matches!(
        c.send(&mut w, input.as_bytes()),
        Want::Read { .. }
    ));
    let statuses: Vec<u16> = responses(&c.take()).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [403, 404, 404, 404, 403]);

    // Over TCP, /ws and /ui refuse a page from another origin.
    let tcp = Peer {
        loopback: false,
        ..LOOPBACK_TCP
    };
    let foreign = "Host: 10.0.0.1:9000\r\nOrigin: http://evil.example\r\n";
    let mut c = w.accept(Role::Query, tcp);
    let req = upgrade("/ws", "").replace("Host: localhost\r\n", foreign);
    let input = [
        req,
        request("GET", "/ui", "").replace("Host: localhost\r\n", foreign),
    ]
    .concat();
    c.send(&mut w, input.as_bytes());
    let all = responses(&c.take());
    assert_eq!(all[0].status, 403);
    assert_eq!(all[0].text(), "cross-origin request refused\n");
    assert_eq!(all[1].status, 403);
    assert_eq!(w.st.clients().followers, 0);
    // The same origin, or a unix socket whatever the origin, may follow.
    let mut c = w.accept(Role::Query, tcp);
    let same = "Host: 10.0.0.1:9000\r\nOrigin: http://10.0.0.1:9000\r\n";
    c.send(
        &mut w,
        upgrade("/ws", "")
            .replace("Host: localhost\r\n", same)
            .as_bytes(),
    );
    assert_eq!(response(&c.take()).status, 101);
    let mut c = w.accept(Role::Query, UNIX);
    c.send(
        &mut w,
        upgrade("/ws", "")
            .replace("Host: localhost\r\n", foreign)
            .as_bytes(),
    );
    assert_eq!(response(&c.take()).status, 101);
    assert_eq!(w.st.clients().followers, 2);
}

/// Issue 22: every row of the query routes, whatever it serves, answers a
/// method it does not take with `405` and its `Allow`, and over TCP
/// refuses a foreign `Origin` exactly when the row says so; a route added
/// to the table is checked here without a line more.
#[test]
fn every_query_route_answers_405_to_a_wrong_method_and_applies_the_origin_rule() {
    let mut w = World::new(100);
    w.store("m0");
    let tcp = Peer {
        loopback: false,
        ..LOOPBACK_TCP
    };
    let foreign = "Host: 10.0.0.1:9000\r\nOrigin: http://evil.example\r\n";
    let same = "Host: 10.0.0.1:9000\r\nOrigin: http://10.0.0.1:9000\r\n";
    for route in routes::ROUTES {
        let path = route.path.replace(routes::ID, "1");
        let allow = match route.method {
            Method::Get => "GET, HEAD",
            Method::Delete => "DELETE",
            _ => "POST",
        };
        for method in ["GET", "HEAD", "POST", "DELETE", "PUT"] {
            let taken = allow.split(", ").any(|m| m == method);
            let mut c = w.accept(Role::Query, UNIX);
            let req =
                format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            c.send(&mut w, req.as_bytes());
            let wire = c.take();
            let head = String::from_utf8_lossy(&wire);
            if taken {
                assert!(!head.starts_with("HTTP/1.1 405"), "{method} {path}: {head}");
            } else {
                let r = response(&wire);
                assert_eq!(r.status, 405, "{method} {path}");
                assert_eq!(r.header("Allow"), Some(allow), "{method} {path}");
            }
            c.eof(&mut w);
            c.finish(&mut w);
        }
        let method = if allow == "GET, HEAD" { "GET" } else { allow };
        for (peer, origin, refused) in [
            (tcp, foreign, route.same_origin),
            (tcp, same, false),
            (UNIX, foreign, false),
        ] {
            let mut c = w.accept(Role::Query, peer);
            let req = format!("{method} {path} HTTP/1.1\r\n{origin}Connection: close\r\n\r\n");
            c.send(&mut w, req.as_bytes());
            let wire = c.take();
            let head = String::from_utf8_lossy(&wire);
            assert_eq!(
                head.starts_with("HTTP/1.1 403 "),
                refused,
                "{method} {path} over {peer:?} from {origin:?}: {head}"
            );
            if refused {
                assert!(head.ends_with("cross-origin request refused\n"), "{head}");
            }
            c.eof(&mut w);
            c.finish(&mut w);
        }
    }
    assert_eq!(*w.st.clients(), Clients::default(), "all gone");
}

#[test]
fn a_head_not_complete_within_10_s_is_closed_without_an_answer() {
    let mut w = World::new(100);
    let mut c = w.accept(Role::Query, UNIX);
    w.advance(Duration::from_secs(5));
    // The head's time runs from its first byte, not from the connection.
    let want = c.send(&mut w, b"GET / HTTP/1.1\r\nHo");
    let deadline = w.at(Duration::from_secs(15));
    assert_eq!(want, Want::Read { deadline });
    w.advance(Duration::from_millis(9_999));
    assert_eq!(
        c.send(&mut w, b"st: x"),
        Want::Read { deadline },
        "no reset"
    );
    assert_eq!(c.timeout(&mut w), Want::Read { deadline }, "not yet");
    w.advance(Duration::from_millis(1));
    assert_eq!(c.timeout(&mut w), Want::Close);
    assert!(c.take().is_empty());
    assert!(!c.shut);
    c.finish(&mut w);
    assert_eq!(*w.st.clients(), Clients::default());
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_60_s() {
    let mut w = World::new(100);
    let mut c = w.accept(Role::Query, UNIX);
    let deadline = w.at(Duration::from_secs(60));
    w.advance(Duration::from_secs(59));
    assert_eq!(c.timeout(&mut w), Want::Read { deadline });
    // A request restarts the idle time from its answer.
    c.send(&mut w, get("/nope").as_bytes());
    assert_eq!(response(&c.take()).status, 404);
    let deadline = w.at(Duration::from_secs(59 + 60));
    w.advance(Duration::from_secs(59));
    assert_eq!(c.timeout(&mut w), Want::Read { deadline });
    w.advance(Duration::from_secs(1));
    assert_eq!(c.timeout(&mut w), Want::Close);
    assert!(c.take().is_empty());
}

#[test]
fn a_body_not_complete_within_10_s_is_closed_without_an_answer() {
    let mut w = World::new(100);
    let mut ctl = w.accept(Role::Control, UNIX);
    let req = request("POST", "/pause", "Content-Length: 10\r\n");
    let want = ctl.send(&mut w, format!("{req}abc").as_bytes());
    let deadline = w.at(Duration::from_secs(10));
    assert_eq!(want, Want::Read { deadline });
    w.advance(Duration::from_secs(10));
    assert_eq!(ctl.timeout(&mut w), Want::Close);
    assert!(ctl.take().is_empty());
    assert!(!w.st.paused(), "never carried out");
}

#[test]
fn a_closing_connection_lingers_reading_until_the_client_goes() {
    let mut w = World::new(100);
    let mut c = w.accept(Role::Query, UNIX);
    let req = request("GET", "/nope", "Connection: close\r\n");
    let linger = Want::Read {
        deadline: w.now().at + LINGER,
    };
    assert_eq!(c.send(&mut w, req.as_bytes()), linger);
    assert!(c.shut);
    assert_eq!(response(&c.take()).status, 404);
    // What the client still sends is read and dropped, unanswered.
    assert_eq!(c.send(&mut w, get("/").as_bytes()), linger);
    assert_eq!(c.send(&mut w, b"more"), linger);
    assert!(c.take().is_empty());
    assert_eq!(c.eof(&mut w), Want::Close);

    // A client that keeps sending is closed after a few reads,
    let mut c = w.accept(Role::Query, UNIX);
    c.send(&mut w, req.as_bytes());
    let mut reads = 0;
    while c.send(&mut w, b"x") != Want::Close {
        reads += 1;
        assert!(reads < 100, "lingers for ever");
    }
    assert_eq!(reads, LINGER_READS as usize - 1);
    // and one that never goes after the linger time.
    let mut c = w.accept(Role::Query, UNIX);
    c.send(&mut w, req.as_bytes());
    assert_eq!(response(&c.take()).status, 404);
    w.advance(LINGER - Duration::from_millis(1));
    assert!(matches!(c.timeout(&mut w), Want::Read { .. }));
    w.advance(Duration::from_millis(1));
    assert_eq!(c.timeout(&mut w), Want::Close);
    assert!(c.take().is_empty());
}

#[test]
fn control_commands_change_the_state_and_answer_it() {
    let mut w = World::new(100);
    w.store_many(3);
    let mut ctl = w.accept(Role::Control, UNIX);
    let mut ask = |w: &mut World, method: &str, path: &str| {
        ctl.send(w, request(method, path, "").as_bytes());
        response(&ctl.take())
    };

    let r = ask(&mut w, "POST", "/pause");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.json()["paused"], true);
    assert_eq!(r.json()["paused_by"], "api");
    assert!(w.st.paused());
    assert_eq!(
        ask(&mut w, "POST", "/pause").json()["paused"],
        true,
        "idempotent"
    );
    let r = ask(&mut w, "POST", "/resume");
    assert_eq!(r.json()["paused"], false);
    assert_eq!(r.json()["paused_by"], serde_json::Value::Null);
    assert!(!w.st.paused());
    assert_eq!(ask(&mut w, "POST", "/pause/toggle").json()["paused"], true);
    assert!(w.st.paused());
    assert_eq!(ask(&mut w, "POST", "/pause/toggle").json()["paused"], false);
    assert!(!w.st.paused());

    let r = ask(&mut w, "POST", "/logs/clear");
    let status = r.json();
    assert_eq!(status["used"]["messages"], 0);
    assert_eq!(status["counters"]["clears"], 1);
    assert!(w.st.ring().is_empty());
    assert_eq!(w.st.ring().next_seq(), Seq::new(3), "seqs go on");

    w.advance(Duration::from_secs(90));
    let r = ask(&mut w, "GET", "/status");
    let status = r.json();
    assert_eq!(
        r.header("X-Circolog-Epoch"),
        Some(EPOCH_US.to_string().as_str())
    );
    assert_eq!(status["epoch"], EPOCH_US);
    assert_eq!(status["uptime_seconds"], 90.0);
    assert_eq!(status["clients"]["ctl"], 1);
    assert_eq!(status["counters"]["received_total"], 3);

    let r = ask(&mut w, "GET", "/metrics");
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        r.text().contains("\ncircolog_clears_total 1\n"),
        "{}",
        r.text()
    );
}

/// `GET /` of `n` messages: their texts, checked to be each once and in
/// order, and the yields it took.
#[test]
fn a_large_dump_comes_in_slices_each_message_once_in_order() {
    let mut w = World::new(10_000);
    let text = |i: usize| format!("m{i} {}", "x".repeat(40));
    for i in 0..5000 {
        w.store(&text(i));
    }
    let mut c = w.accept(Role::Query, UNIX);
    let now = w.now();
    c.conn().handle_input(now, get("/?fmt=raw").as_bytes());
    // Messages stored while it runs are not part of it.
    let want = c.drive_with(&mut w, |w| {
        w.store("later");
    });
    assert!(matches!(want, Want::Read { .. }));
    // The loop got control back between slices.
    assert!(c.yields >= 2, "{} yields", c.yields);
    let wire = c.take();
    let r = response(&wire);
    assert_eq!(r.header("X-Circolog-Last-Seq"), Some("4999"));
    let want: Vec<String> = (0..5000).map(text).collect();
    assert_eq!(r.lines(), want);
    // Written in pieces of about the write size, never all at once.
    let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let sizes = chunk_sizes(&wire[head_end..]);
    assert!(sizes.len() >= 3, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n <= WRITE_CHUNK + 1024), "{sizes:?}");
}

/// The sizes of the chunks of a chunked body.
fn chunk_sizes(mut body: &[u8]) -> Vec<usize> {
    let mut sizes = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16).unwrap();
        if n == 0 {
            return sizes;
        }
        sizes.push(n);
        body = &body[eol + 2 + n + 2..];
    }
}

/// A chunked body cut short: whole chunks, each well formed, and no last
/// chunk after them. Returns what they hold.
fn cut_short_body(wire: &[u8]) -> Vec<u8> {
    let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut rest = &wire[head_end..];
    let mut body = Vec::new();
    while !rest.is_empty() {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        assert_ne!(n, 0, "a last chunk: the body looks complete");
        body.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
        assert_eq!(&rest[eol + 2 + n..eol + 4 + n], b"\r\n");
        rest = &rest[eol + 4 + n..];
    }
    body
}

/// Issue 23, item 9: a dump whose ring is cleared under it must not end
/// like a complete one: no last chunk, the write side shut, then closed.
#[test]
fn a_dump_of_a_ring_cleared_while_it_is_read_is_cut_short() {
    let mut w = World::new(10_000);
    let text = |i: usize| format!("m{i} {}", "x".repeat(40));
    for i in 0..5000 {
        w.store(&text(i));
    }
    let mut c = w.accept(Role::Query, UNIX);
    let now = w.now();
    c.conn().handle_input(now, get("/?fmt=raw").as_bytes());
    let mut cleared = false;
    let want = c.drive_with(&mut w, |w| {
        if !cleared {
            cleared = true;
            w.st.clear();
        }
    });
    assert!(cleared, "it yielded");
    assert!(c.shut, "the write side is shut");
    assert!(matches!(want, Want::Read { .. }), "lingers, then closes");
    let body = cut_short_body(&c.take());
    assert!(body.len() < 5000 * 44, "not all of it: {}", body.len());
    // Only whole lines from before the clear.
    for (i, line) in String::from_utf8(body).unwrap().lines().enumerate() {
        assert_eq!(line, text(i));
    }
    assert_eq!(c.eof(&mut w), Want::Close);
    c.finish(&mut w);
    assert_eq!(w.st.clients().query, 0);

    // A ring cleared before a dump starts is just empty: a complete answer.
    let mut c = w.accept(Role::Query, UNIX);
    c.send(&mut w, get("/").as_bytes());
    let r = response(&c.take());
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert!(!c.shut);
}

/// Issue 23, item 9: the same for a snapshot deleted while it is read.
#[test]
fn a_dump_of_a_snapshot_deleted_while_it_is_read_is_cut_short() {
    let mut w = World::new(10_000);
    let snaps = crate::store::snapshot::Snapshots::new(crate::store::snapshot::Config {
        arena_bytes: 4 << 20,
        max_snapshots: 2,
    })
    .unwrap();
    replace_state(&mut w, |st| st.with_snapshots(snaps));
    for i in 0..5000 {
        w.store(&format!("m{i} {}", "x".repeat(40)));
    }
    let now_us = w.now().unix_us;
    let id =
        w.st.take_snapshot(crate::store::snapshot::Why::Api, None, now_us)
            .unwrap();
    while w.st.housekeep(now_us) {}
    let mut c = w.accept(Role::Query, UNIX);
    let now = w.now();
    c.conn()
        .handle_input(now, get(&format!("/snapshots/{id}/?fmt=raw")).as_bytes());
    let mut deleted = false;
    c.drive_with(&mut w, |w| {
        if !deleted {
            deleted = true;
            w.st.delete_snapshot(id).unwrap();
        }
    });
    assert!(deleted && c.shut);
    let body = cut_short_body(&c.take());
    assert!(body.len() < 5000 * 44, "not all of it: {}", body.len());
}

/// Issue 23, item 7: the list of snapshots, on either socket, is the
/// store's JSON byte for byte, written in slices with the loop given back
/// between them, and framed as a dump is (HEAD, HTTP/1.0).
#[test]
fn the_list_of_snapshots_is_streamed_in_slices_on_both_sockets() {
    let mut w = World::new(100);
    let snaps = crate::store::snapshot::Snapshots::new(crate::store::snapshot::Config {
        arena_bytes: 4 << 20,
        max_snapshots: 1024,
    })
    .unwrap();
    replace_state(&mut w, |st| st.with_snapshots(snaps));
    w.store("m0");
    let now_us = w.now().unix_us;
    for i in 0..300 {
        let note = crate::store::snapshot::Note::new(&format!("incident {i}")).unwrap();
        let why = crate::store::snapshot::Why::Api;
        w.st.take_snapshot(why, Some(note), now_us).unwrap();
    }
    let whole = w.st.snapshots().list().to_string() + "\n";
    for role in [Role::Query, Role::Control] {
        let mut c = w.accept(role, UNIX);
        let now = w.now();
        c.conn().handle_input(now, get("/snapshots").as_bytes());
        c.drive(&mut w);
        let wire = c.take();
        let r = response(&wire);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
        assert_eq!(r.text(), whole, "{role:?}");
        let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let sizes = chunk_sizes(&wire[head_end..]);
        assert!(sizes.len() >= 300 / 64, "{role:?}: {sizes:?}");
        // Kept alive: the next request is answered.
        c.send(&mut w, request("HEAD", "/snapshots", "").as_bytes());
        let r = parse_responses(&c.take(), &[0]).remove(0);
        assert_eq!((r.status, r.body.len()), (200, 0));
        c.finish(&mut w);
    }
    // Deleting answers the list too, streamed the same way.
    let mut c = w.accept(Role::Control, UNIX);
    c.send(&mut w, request("DELETE", "/snapshots/1", "").as_bytes());
    let r = response(&c.take());
    assert_eq!(r.text(), w.st.snapshots().list().to_string() + "\n");
    assert_eq!(r.json()["snapshots"].as_array().unwrap().len(), 299);
    c.finish(&mut w);
    // HTTP/1.0: the body ends with the connection.
    let mut c = w.accept(Role::Query, UNIX);
    c.send(&mut w, b"GET /snapshots HTTP/1.0\r\n\r\n");
    let r = response(&c.take());
    assert_eq!(r.text(), w.st.snapshots().list().to_string() + "\n");
    assert!(c.shut);
}

/// Rebuilds the world's state with `f` (the `with_*` builders take it by
/// value).
fn replace_state(w: &mut World, f: impl FnOnce(State) -> State) {
    let ring = Ring::new(RingConfig {
        max_messages: 1,
        arena_bytes: 1 << 16,
        max_message_bytes: 1024,
    })
    .unwrap();
    let parse = ParseContext {
        tz: jiff::tz::TimeZone::UTC,
    };
    let old = std::mem::replace(&mut w.st, State::new(ring, EPOCH_US, parse));
    w.st = f(old);
}

#[test]
fn a_dump_overtaken_by_the_ring_goes_on_from_the_oldest_without_repeats() {
    let mut w = World::new(1000);
    w.store_many(1000);
    let mut c = w.accept(Role::Query, UNIX);
    let now = w.now();
    c.conn().handle_input(now, get("/?fmt=raw").as_bytes());
    c.drive_with(&mut w, |w| w.store_many(600));
    let r = response(&c.take());
    let seqs: Vec<u64> = r
        .lines()
        .iter()
        .map(|l| l.strip_prefix('m').unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs[0], 0);
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "in order, each once");
    assert!(*seqs.last().unwrap() <= 999, "ends at its start's newest");
    assert!(seqs.len() < 1000, "some were overwritten");
}

#[test]
fn l_with_a_filter_scans_back_for_the_last_matches_and_since_resumes() {
    let mut w = World::new(5000);
    // An error every 700 messages, notices in between.
    for i in 0..3000 {
        let pri = if i % 700 == 0 { 11 } else { 13 };
        w.store(&format!("<{pri}>1 - h app - - - m{i}"));
    }
    let cases: [(&str, &[&str]); 7] = [
        ("sev=err&l=3", &["m1400", "m2100", "m2800"]),
        ("sev=err&l=10", &["m0", "m700", "m1400", "m2100", "m2800"]),
        ("sev=err&l=0", &[]),
        ("sev=err&since=2100", &["m2800"]),
        ("sev=err&since=700&l=1", &["m2800"]),
        ("since=2995", &["m2996", "m2997", "m2998", "m2999"]),
        ("since=2996&l=2", &["m2998", "m2999"]),
    ];
    for (q, want) in cases {
        let mut c = w.accept(Role::Query, UNIX);
        c.send(&mut w, get(&format!("/?fmt=raw&{q}")).as_bytes());
        let r = response(&c.take());
        let got: Vec<&str> = r
            .lines()
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(got, want, "{q}");
        c.finish(&mut w);
    }
    // A follower's backlog is found the same way.
    let (f, _, backlog) = follow(&mut w, "/ws?fmt=raw&sev=err&l=2");
    let got: Vec<String> = texts(&backlog)
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(got, ["m2100", "m2800"]);
    f.finish(&mut w);
}

/// `from=` and `until=` bound a dump by binary search on receive times;
/// every combination with `l=`, `since=` and a field filter selects what a
/// scan of every message would.
#[test]
fn time_ranges_select_what_a_scan_of_every_message_would() {
    let mut w = World::new(30_000);
    let t0 = EPOCH_US - 1_000_000_000;
    // 20,000 messages, one every 1 ms; every 7th an error.
    for i in 0..20_000i64 {
        let pri = if i % 7 == 0 { 11 } else { 14 };
        let text = format!("<{pri}>1 - h app - - - m{i}");
        w.st.ingest(Incoming {
            received_us: t0 + i * 1000,
            transport: Transport::Unix,
            cred: None,
            truncated: false,
            bytes: text.as_bytes(),
        });
    }
    let at = |i: i64| jiff::Timestamp::from_microsecond(t0 + i * 1000).unwrap();
    let cases: [(i64, i64, &str); 6] = [
        (5000, 5010, ""),
        (5000, 5010, "&l=3"),
        (0, 20_000, "&sev=err&l=4"),
        (19_990, 30_000, "&sev=err"),
        (12_345, 12_345, ""),
        (100, 7000, "&since=6990&sev=err"),
    ];
    for (from, until, rest) in cases {
        let q = format!(
            "fmt=raw&from={}&until={}{rest}",
            at(from).to_string().replace(':', "%3A"),
            at(until).to_string().replace(':', "%3A")
        );
        let mut c = w.accept(Role::Query, UNIX);
        c.send(&mut w, get(&format!("/?{q}")).as_bytes());
        let r = response(&c.take());
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        let got: Vec<i64> = r
            .lines()
            .iter()
            .map(|l| l.rsplit(" m").next().unwrap().parse().unwrap())
            .collect();
        let since = rest
            .split("since=")
            .nth(1)
            .map(|s| s.split('&').next().unwrap().parse::<i64>().unwrap());
        let mut want: Vec<i64> = (from.max(0)..until.min(20_000))
            .filter(|i| !rest.contains("sev=err") || i % 7 == 0)
            .filter(|i| since.is_none_or(|s| *i > s))
            .collect();
        if let Some(l) = rest.split("l=").nth(1) {
            let l: usize = l.split('&').next().unwrap().parse().unwrap();
            want = want.split_off(want.len().saturating_sub(l));
        }
        assert_eq!(got, want, "{q}");
        c.finish(&mut w);
    }
    // A filter that matches nothing scans the whole ring back, a slice at
    // a time: fewer slices when the index's PRI alone says no.
    let mut yields = Vec::new();
    for q in ["re=never&l=1", "sev=emerg&l=1"] {
        let mut c = w.accept(Role::Query, UNIX);
        c.send(&mut w, get(&format!("/?fmt=raw&{q}")).as_bytes());
        assert!(response(&c.take()).body.is_empty());
        yields.push(c.yields);
        c.finish(&mut w);
    }
    assert!(yields[0] >= 4, "{yields:?} yields");
    assert!(yields[1] < yields[0], "{yields:?} yields");
}

// ---- followers ----

#[test]
fn the_upgrade_answers_101_with_the_accept_key_and_counts_a_follower() {
    let mut w = World::new(100);
    w.store_many(2);
    let mut c = w.accept(Role::Query, UNIX);
    assert_eq!(w.st.clients().query, 1);
    assert_eq!(
        c.send(&mut w, upgrade("/ws?fmt=raw", "").as_bytes()),
        Want::Wait
    );
    assert!(c.conn().is_follower());
    let wire = c.take();
    let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let r = response(&wire[..head_end]);
    assert_eq!(r.status, 101);
    assert_eq!(r.header("Upgrade"), Some("websocket"));
    assert_eq!(r.header("Connection"), Some("Upgrade"));
    assert_eq!(r.header("Sec-WebSocket-Accept"), Some(WS_ACCEPT));
    assert_eq!(r.header("X-Circolog-Last-Seq"), Some("1"));
    assert_eq!(
        r.header("X-Circolog-Epoch"),
        Some(EPOCH_US.to_string().as_str())
    );
    assert_eq!(texts(&frames(&wire[head_end..])), ["m0", "m1"]);
    assert_eq!(w.st.clients().query, 0);
    assert_eq!(w.st.clients().followers, 1);
    assert_eq!(w.fanout.queries(), 1);
    c.finish(&mut w);
    assert_eq!(*w.st.clients(), Clients::default());
    assert_eq!(w.fanout.queries(), 0, "its logs went with it");
}

#[test]
fn a_follower_gets_its_backlog_then_each_new_match_as_it_is_stored() {
    let mut w = World::new(100);
    w.store("<11>1 - h app - - - e0");
    w.store("<14>1 - h app - - - i1");
    let (mut c, r, backlog) = follow(&mut w, "/ws?fmt=raw&sev=err");
    assert_eq!(r.header("X-Circolog-Last-Seq"), Some("1"));
    assert_eq!(texts(&backlog), ["<11>1 - h app - - - e0"]);
    // Nothing new: it waits.
    assert_eq!(c.drive(&mut w), Want::Wait);
    assert!(c.take().is_empty());
    w.store("<11>1 - h app - - - e2");
    w.store("<14>1 - h app - - - i3");
    w.store("<10>1 - h app - - - c4");
    assert_eq!(c.drive(&mut w), Want::Wait);
    assert_eq!(
        texts(&frames(&c.take())),
        ["<11>1 - h app - - - e2", "<10>1 - h app - - - c4"]
    );
    // Only non-matching ones: nothing is sent.
    w.store("<14>1 - h app - - - i5");
    assert_eq!(c.drive(&mut w), Want::Wait);
    assert!(c.take().is_empty());
}

#[test]
fn a_ping_is_answered_with_a_pong_before_any_new_frame() {
    let mut w = World::new(100);
    let (mut c, _, backlog) = follow(&mut w, "/ws?fmt=raw");
    assert!(backlog.is_empty());
    w.store_many(2);
    assert_eq!(
        c.send(&mut w, &client_frame(0x9, b"are you there")),
        Want::Wait
    );
    assert_eq!(
        frames(&c.take()),
        [
            Frame::Pong(b"are you there".to_vec()),
            Frame::Text("m0".into()),
            Frame::Text("m1".into()),
        ]
    );
    // Data and pongs from the peer are read and ignored.
    let input = [client_frame(0x1, b"hello"), client_frame(0xa, b"")].concat();
    assert_eq!(c.send(&mut w, &input), Want::Wait);
    assert!(c.take().is_empty());
}

#[test]
fn a_peer_close_is_answered_with_its_code_and_the_follower_ends() {
    let mut w = World::new(100);
    let (mut c, _, _) = follow(&mut w, "/ws");
    w.store_many(1);
    let want = c.send(&mut w, &client_frame(0x8, &close_payload(4000, "bye")));
    assert_eq!(
        want,
        Want::Read {
            deadline: w.now().at + LINGER
        }
    );
    // The close answers at once: no message frame before or after it.
    assert_eq!(frames(&c.take()), [Frame::Close(4000, String::new())]);
    assert!(c.shut);
    assert_eq!(w.fanout.queries(), 0, "left the frame logs");
    assert_eq!(w.st.clients().followers, 1, "counted until it is gone");
    assert_eq!(c.eof(&mut w), Want::Close);
    c.finish(&mut w);
    assert_eq!(*w.st.clients(), Clients::default());

    // A close without a code gets 1000.
    let (mut c, _, _) = follow(&mut w, "/ws");
    c.send(&mut w, &client_frame(0x8, b""));
    assert_eq!(frames(&c.take()), [Frame::Close(1000, String::new())]);
}

#[test]
fn protocol_violations_close_with_their_codes() {
    let mut w = World::new(100);
    let unmasked = b"\x81\x02hi".to_vec();
    let mut too_big = vec![0x82, 0x80 | 127];
    too_big.extend_from_slice(&(CFG.max_ws_frame as u64 + 1).to_be_bytes());
    too_big.extend_from_slice(&[1, 2, 3, 4]);
    let cases: [(Vec<u8>, u16); 4] = [
        (unmasked, 1002),
        (client_frame(0x3, b""), 1002),
        (too_big, 1009),
        (client_frame(0x1, b"\xff\xfe"), 1007),
    ];
    for (input, code) in cases {
        let (mut c, _, _) = follow(&mut w, "/ws");
        let want = c.send(&mut w, &input);
        assert!(matches!(want, Want::Read { .. }), "{want:?}");
        match frames(&c.take()).as_slice() {
            [Frame::Close(got, reason)] => {
                assert_eq!(*got, code);
                assert!(!reason.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(c.shut);
        assert_eq!(c.eof(&mut w), Want::Close);
        c.finish(&mut w);
    }
    assert_eq!(*w.st.clients(), Clients::default());
}

#[test]
fn a_follower_lapped_by_the_ring_is_told_how_many_it_missed() {
    let mut w = World::new(8);
    w.store_many(3);
    let (mut c, _, backlog) = follow(&mut w, "/ws?fmt=json");
    assert_eq!(backlog.len(), 3);
    // Its reader stalls while 20 are stored: the ring keeps the last 8.
    w.store_many(20);
    assert_eq!(c.drive(&mut w), Want::Wait);
    let got = texts(&frames(&c.take()));
    assert_eq!(got.len(), 1 + 8);
    let notice: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(
        notice,
        serde_json::json!({"skipped": 12, "epoch": EPOCH_US})
    );
    let seqs: Vec<u64> = got[1..]
        .iter()
        .map(|t| {
            let v: serde_json::Value = serde_json::from_str(t).unwrap();
            v["seq"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(seqs, (15..23).collect::<Vec<u64>>());
    assert_eq!(w.st.counters().skipped_followers, 12);

    // /status says so too.
    let mut ctl = w.accept(Role::Control, UNIX);
    ctl.send(&mut w, get("/status").as_bytes());
    assert_eq!(
        response(&ctl.take()).json()["counters"]["skipped_followers"],
        12
    );
}

#[test]
fn a_clear_is_told_to_followers_who_stay_connected() {
    let mut w = World::new(100);
    w.store_many(3);
    let (mut f, _, backlog) = follow(&mut w, "/ws?fmt=json");
    assert_eq!(backlog.len(), 3);
    w.store_many(2);
    let mut ctl = w.accept(Role::Control, UNIX);
    ctl.send(&mut w, request("POST", "/logs/clear", "").as_bytes());
    assert_eq!(response(&ctl.take()).status, 200);
    // Stored before the clear and not yet sent: gone, never sent.
    assert_eq!(f.drive(&mut w), Want::Wait);
    let got = texts(&frames(&f.take()));
    assert_eq!(got.len(), 1, "{got:?}");
    let notice: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(
        notice,
        serde_json::json!({"cleared": true, "epoch": EPOCH_US})
    );
    assert_eq!(
        w.st.counters().skipped_followers,
        0,
        "cleared is not skipped"
    );
    w.store("after");
    f.drive(&mut w);
    let got = texts(&frames(&f.take()));
    let v: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(v["message"], "after");
    assert_eq!(v["seq"], 5);

    // In syslog format, a circologd notice line.
    let (mut f, _, _) = follow(&mut w, "/ws");
    ctl.send(&mut w, request("POST", "/logs/clear", "").as_bytes());
    f.drive(&mut w);
    let got = texts(&frames(&f.take()));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("<46>1 ") && got[0].contains(" circologd - cleared - "),
        "{}",
        got[0]
    );
}

#[test]
fn shutdown_closes_followers_with_1001_and_others_at_once() {
    let mut w = World::new(100);
    let (mut f, _, _) = follow(&mut w, "/ws");
    let mut idle = w.accept(Role::Query, UNIX);
    w.store_many(1);
    let want = f.shutdown(&mut w);
    assert_eq!(
        want,
        Want::Read {
            deadline: w.now().at + LINGER
        }
    );
    assert_eq!(
        frames(&f.take()),
        [Frame::Close(1001, "circologd is shutting down".into())]
    );
    assert!(f.shut);
    assert_eq!(w.fanout.queries(), 0);
    // Its peer's close is read, and nothing more is sent.
    let want = f.send(&mut w, &client_frame(0x8, &close_payload(1001, "")));
    assert!(matches!(want, Want::Read { .. }));
    assert!(f.take().is_empty());
    assert_eq!(f.eof(&mut w), Want::Close);
    // Shutting down twice changes nothing.
    assert_eq!(idle.shutdown(&mut w), Want::Close);
    assert!(idle.take().is_empty());
    f.finish(&mut w);
    idle.finish(&mut w);
    assert_eq!(*w.st.clients(), Clients::default());
}

#[test]
fn post_restart_hands_the_connection_over_and_followers_are_told_1012() {
    let mut w = World::new(100);
    let (mut f, _, _) = follow(&mut w, "/ws");
    let mut ctl = w.accept(Role::Control, UNIX);
    // An answer asked before it goes out first; then the connection is
    // handed over, unanswered.
    let two = request("GET", "/status", "") + &request("POST", "/restart", "");
    assert_eq!(ctl.send(&mut w, two.as_bytes()), Want::HandOver);
    assert_eq!(response(&ctl.take()).status, 200);
    // The restart begins: followers are told 1012, the asking
    // connection stays as it is.
    f.restart(&mut w);
    assert_eq!(
        frames(&f.take()),
        [Frame::Close(1012, "circologd is restarting".into())]
    );
    assert_eq!(ctl.restart(&mut w), Want::HandOver);
    assert!(ctl.take().is_empty());
    // Executing the daemon failed: the reason, and the connection closes.
    let now = w.now();
    let conn = ctl.conn.as_mut().expect("not finished");
    conn.restart_failed(now, 500, "cannot execute /gone", &mut ctl.out);
    assert!(matches!(ctl.drive(&mut w), Want::Read { .. }));
    let r = response(&ctl.take());
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "cannot execute /gone\n");
}

#[test]
fn followers_of_one_query_share_the_live_log_and_each_gets_every_message_once() {
    let mut w = World::new(1000);
    w.store_many(5);
    let (mut a, _, backlog_a) = follow(&mut w, "/ws?fmt=raw");
    let (mut b, _, backlog_b) = follow(&mut w, "/ws?fmt=raw&l=-1");
    let all = |n: u64| (0..n).map(|i| format!("m{i}")).collect::<Vec<String>>();
    assert_eq!(texts(&backlog_a), all(5));
    assert_eq!(texts(&backlog_b), all(5));
    assert_eq!(w.fanout.queries(), 1, "one key for both");
    let (mut got_a, mut got_b) = (texts(&backlog_a), texts(&backlog_b));
    for round in 0..10 {
        w.store_many(7);
        a.drive(&mut w);
        if round % 3 != 2 {
            b.drive(&mut w);
        }
        got_a.extend(texts(&frames(&a.take())));
        got_b.extend(texts(&frames(&b.take())));
    }
    b.drive(&mut w);
    got_b.extend(texts(&frames(&b.take())));
    assert_eq!(got_a, all(75));
    assert_eq!(got_b, all(75));
    // The same rendered bytes went to both.
    let starts = |c: &Client| {
        c.shared
            .iter()
            .map(|s| s.as_ptr() as usize)
            .collect::<Vec<usize>>()
    };
    let (sa, sb) = (starts(&a), starts(&b));
    assert!(!sa.is_empty());
    assert!(sb.iter().filter(|p| sa.contains(p)).count() >= 10);

    // A third with another format renders its own.
    let (c, _, backlog_c) = follow(&mut w, "/ws?fmt=json");
    assert_eq!(backlog_c.len(), 75);
    assert_eq!(w.fanout.queries(), 2);
    assert_eq!(w.st.clients().followers, 3);
    for f in [a, b, c] {
        f.finish(&mut w);
    }
    assert_eq!(*w.st.clients(), Clients::default());
    assert_eq!(w.fanout.queries(), 0);
}

#[test]
fn messages_stored_after_a_clear_and_overwritten_unread_are_told_as_skipped() {
    let mut w = World::new(8);
    w.store_many(3);
    let (mut f, _, backlog) = follow(&mut w, "/ws?fmt=json");
    assert_eq!(backlog.len(), 3);
    // Cleared at seq 3; then, while its reader stalls, 20 more: the ring
    // keeps 15..23, so 3..15 were stored after the clear and never sent.
    w.st.clear();
    w.store_many(20);
    assert_eq!(f.drive(&mut w), Want::Wait);
    let got: Vec<serde_json::Value> = texts(&frames(&f.take()))
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(
        got[0],
        serde_json::json!({"cleared": true, "epoch": EPOCH_US})
    );
    assert_eq!(
        got[1],
        serde_json::json!({"skipped": 12, "epoch": EPOCH_US}),
        "{got:?}"
    );
    let seqs: Vec<u64> = got[2..]
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (15..23).collect::<Vec<u64>>());
    assert_eq!(w.st.counters().skipped_followers, 12);
}

#[test]
fn text_frames_are_utf8_whatever_the_message_holds() {
    let mut w = World::new(100);
    w.store_bytes(b"<13>1 - h app - - - caf\xe9 \xff\xfe from a broken device");
    for fmt in ["raw", "syslog", "json"] {
        let (c, _, backlog) = follow(&mut w, &format!("/ws?fmt={fmt}"));
        let got = texts(&backlog);
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("caf\u{fffd}"), "{fmt}: {}", got[0]);
        c.finish(&mut w);
    }
}

#[test]
fn a_follower_whose_peer_goes_leaves_its_frame_logs() {
    let mut w = World::new(100);
    w.store_many(2);
    let (mut f, _, _) = follow(&mut w, "/ws?fmt=raw");
    assert_eq!(w.fanout.queries(), 1);
    // The peer goes without a close frame, as most do.
    assert_eq!(f.eof(&mut w), Want::Close);
    f.finish(&mut w);
    assert_eq!(*w.st.clients(), Clients::default());
    assert_eq!(w.fanout.queries(), 0, "its place in the logs outlived it");
    // Nor does it pin what it had not read: a new follower of the query
    // starts the logs afresh.
    let (g, _, backlog) = follow(&mut w, "/ws?fmt=raw");
    assert_eq!(backlog.len(), 2);
    g.finish(&mut w);
    assert_eq!(w.fanout.queries(), 0);
}

// ---- block summaries ----

mod summaries {
    use super::*;
    use crate::query::Query;
    use crate::store::file;
    use crate::store::ring::Cred;
    use proptest::prelude::*;

    /// pid 7 is in nginx.service, 9 in sshd.service, 10 in
    /// session-4.scope; other pids are in no unit.
    fn cgroup(pid: u32, buf: &mut [u8]) -> Option<usize> {
        let text: &[u8] = match pid {
            7 => b"0::/system.slice/nginx.service\n",
            9 => b"0::/system.slice/sshd.service\n",
            10 => b"0::/user.slice/session-4.scope\n",
            _ => b"0::/\n",
        };
        buf[..text.len()].copy_from_slice(text);
        Some(text.len())
    }

    /// Messages received this many µs apart; `-max-age` is 300 of them.
    const TICK_US: i64 = 1000;

    fn world(ring: Ring) -> World {
        let parse = ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        };
        // "db" is this host: a local message without a hostname is db's.
        let st = State::new(ring, EPOCH_US, parse)
            .with_local_host(b"db")
            .with_units(cgroup)
            .with_max_age(Some(Duration::from_micros(300 * TICK_US as u64)));
        World {
            st,
            fanout: Fanout::new(),
            base: Instant::now(),
            elapsed: Duration::ZERO,
        }
    }

    /// The world after a restart: a new process adopts the memory file.
    fn adopted(w: &World) -> World {
        let r = w.st.ring();
        let mut mem = file::anonymous(r.memory().len()).unwrap();
        mem.copy_from_slice(r.memory());
        let config = RingConfig {
            max_messages: r.max_messages(),
            arena_bytes: r.arena_bytes(),
            max_message_bytes: r.max_message_bytes(),
        };
        world(
            Ring::adopt(config, crate::store::file::SnapshotSpace::NONE, mem)
                .unwrap()
                .0,
        )
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// PRI, hostname, app-name, the sender's pid, RFC 3164 or 5424,
        /// on the local socket or by UDP.
        Push(u8, usize, usize, u32, bool, bool),
        Clear,
        /// Housekeeping this many ticks later than the newest message:
        /// the wipe of a clear, and what `-max-age` evicts.
        Housekeep(i64),
        Pause(bool),
    }

    const HOSTS: [&str; 4] = ["web1", "web2", "db", "-"];
    const APPS: [&str; 4] = ["sshd", "nginx", "cron", "-"];

    fn op() -> impl Strategy<Value = Op> {
        let pri = prop_oneof![8 => Just(14u8), 2 => 0u8..192];
        prop_oneof![
            300 => (pri, 0usize..4, 0usize..4, 6u32..12, any::<bool>(), prop::bool::weighted(0.8))
                .prop_map(|(p, h, a, pid, bsd, local)| Op::Push(p, h, a, pid, bsd, local)),
            1 => Just(Op::Clear),
            4 => (0i64..400).prop_map(Op::Housekeep),
            1 => any::<bool>().prop_map(Op::Pause),
        ]
    }

    fn filter() -> impl Strategy<Value = String> {
        let one = prop_oneof![
            (0u8..8).prop_map(|s| format!("sev={s}")),
            (0u8..8).prop_map(|s| format!("sev=!{s}")),
            prop::sample::subsequence(vec!["kern", "user", "mail", "local7"], 1..3)
                .prop_map(|f| format!("fac={}", f.join(","))),
            prop::sample::subsequence(vec!["sshd", "nginx", "other", "-"], 1..3)
                .prop_map(|a| format!("app={}", a.join(","))),
            Just("app=!nginx".to_string()),
            prop::sample::subsequence(vec!["web1", "db", "-"], 1..3)
                .prop_map(|h| format!("host={}", h.join(","))),
            Just("host=db".to_string()),
            Just("host=!db".to_string()),
            prop::sample::subsequence(vec!["nginx", "sshd.service", "session-4.scope", "-"], 1..3)
                .prop_map(|u| format!("unit={}", u.join(","))),
            Just("unit=!sshd".to_string()),
            Just("grep=m1".to_string()),
            Just("not=m2".to_string()),
            Just("pid=7,9".to_string()),
        ];
        proptest::collection::vec(one, 1..4).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .filter(|p| seen.insert(p.split('=').next().unwrap_or("").to_string()))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    /// Applies `op`, the `i`-th; the message it stores ends in `m{i}`.
    fn apply(w: &mut World, i: i64, op: &Op) {
        let at = EPOCH_US + i * TICK_US;
        match *op {
            Op::Push(pri, host, app, pid, bsd, local) => {
                let (host, app) = (HOSTS[host], APPS[app]);
                let line = match (bsd, app) {
                    (true, "-") => format!("<{pri}>Oct 11 22:14:15 {host} m{i}"),
                    (true, _) => format!("<{pri}>Oct 11 22:14:15 {host} {app}[{pid}]: m{i}"),
                    (false, _) => format!("<{pri}>1 - {host} {app} - - - m{i}"),
                };
                w.st.ingest(Incoming {
                    received_us: at,
                    transport: if local {
                        Transport::Unix
                    } else {
                        Transport::Udp
                    },
                    cred: local.then_some(Cred {
                        pid,
                        uid: 0,
                        gid: 0,
                    }),
                    truncated: false,
                    bytes: line.as_bytes(),
                });
            }
            Op::Clear => w.st.clear(),
            Op::Housekeep(later) => while w.st.housekeep(at + later * TICK_US) {},
            Op::Pause(true) => w.st.pause(crate::daemon::PausedBy::Api),
            Op::Pause(false) => w.st.resume(),
        }
    }

    /// The message's own name, `m{i}`, at the end of each line.
    fn names(lines: &[String]) -> Vec<String> {
        let name = |l: &String| l.rsplit(' ').next().unwrap_or("").to_string();
        lines.iter().map(name).collect()
    }

    /// What a scan of every held message selects, with the severity of
    /// each.
    fn scan(w: &World, q: &str) -> Vec<(String, u8)> {
        let q = Query::parse(q, EPOCH_US)
            .unwrap()
            .on_host(w.st.local_host());
        let r = w.st.ring();
        Seq::range(r.first_seq(), r.next_seq())
            .filter_map(|s| r.get(s))
            .filter(|e| q.filter.matches_fields(e.received_us, &e.fields()))
            .map(|e| {
                let raw = String::from_utf8_lossy(e.raw).into_owned();
                (names(&[raw])[0].clone(), e.fields().severity)
            })
            .collect()
    }

    fn dump(w: &mut World, target: &str) -> Vec<String> {
        let mut c = w.accept(Role::Query, UNIX);
        c.send(w, get(target).as_bytes());
        let r = response(&c.take());
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        c.finish(w);
        names(&r.lines().iter().map(|l| l.to_string()).collect::<Vec<_>>())
    }

    /// The messages counted by severity.
    fn histogram(w: &mut World, target: &str) -> [u64; 8] {
        let mut c = w.accept(Role::Query, UNIX);
        c.send(w, get(target).as_bytes());
        let h = response(&c.take()).json();
        c.finish(w);
        let mut by_sev = [0; 8];
        for b in h["buckets"].as_array().unwrap() {
            for (sev, name) in crate::query::histogram::SEVERITIES.iter().enumerate() {
                by_sev[sev] += b["counts"][name].as_u64().unwrap();
            }
        }
        by_sev
    }

    /// Every reader that filters by what summaries hold answers as the
    /// scan does: a dump, its last `l`, the histogram, a follower's
    /// backlog (whole and its last `l`), and what a follower is sent of
    /// the messages `more` stores.
    fn check(
        w: &mut World,
        q: &str,
        l: usize,
        more: &[Op],
        from: i64,
    ) -> Result<(), TestCaseError> {
        let want = scan(w, q);
        let names_of = |v: &[(String, u8)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let all = names_of(&want);
        let last = names_of(&want[want.len().saturating_sub(l)..]);
        prop_assert_eq!(&dump(w, &format!("/?fmt=raw&{q}")), &all, "{}", q);
        prop_assert_eq!(
            &dump(w, &format!("/?fmt=raw&{q}&l={l}")),
            &last,
            "{} l={}",
            q,
            l
        );
        let mut by_sev = [0u64; 8];
        for (_, sev) in &want {
            by_sev[usize::from(*sev)] += 1;
        }
        prop_assert_eq!(histogram(w, &format!("/histogram?{q}")), by_sev, "{}", q);
        let (f, _, backlog) = follow(w, &format!("/ws?fmt=raw&{q}"));
        f.finish(w);
        prop_assert_eq!(names(&texts(&backlog)), all, "{} backlog", q);
        let (mut f, _, backlog) = follow(w, &format!("/ws?fmt=raw&{q}&l={l}"));
        prop_assert_eq!(names(&texts(&backlog)), last, "{} backlog l={}", q, l);
        // Then live: a block that was ruled out may get a match now. The
        // follower reads after each message, so it is sent every match.
        let filter = Query::parse(q, EPOCH_US)
            .unwrap()
            .on_host(w.st.local_host())
            .filter;
        let (mut sent, mut new) = (Vec::new(), Vec::new());
        for (i, op) in more.iter().enumerate() {
            let before = w.st.ring().next_seq();
            apply(w, from + i as i64, op);
            let r = w.st.ring();
            for e in Seq::range(before, r.next_seq()).filter_map(|s| r.get(s)) {
                if filter.matches_fields(e.received_us, &e.fields()) {
                    new.push(names(&[String::from_utf8_lossy(e.raw).into_owned()])[0].clone());
                }
            }
            f.drive(w);
            // Notices (of a clear) are not messages.
            let is_message = |n: &String| {
                n.strip_prefix('m')
                    .is_some_and(|d| d.parse::<u64>().is_ok())
            };
            sent.extend(
                names(&texts(&frames(&f.take())))
                    .into_iter()
                    .filter(is_message),
            );
        }
        f.finish(w);
        prop_assert_eq!(sent, new, "{} live", q);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// For rings that wrapped, evicted (by count, bytes and age), were
        /// cleared, paused and adopted by a new process, and any filter on
        /// what block summaries hold, with others: what every reader sends
        /// is what a scan of every held message selects.
        #[test]
        fn readers_send_what_a_scan_of_every_message_selects(
            ops in proptest::collection::vec(op(), 0..800),
            more in proptest::collection::vec(op(), 0..100),
            max_messages in 1usize..500,
            arena_kib in 8usize..64,
            q in filter(),
            l in 1usize..20,
        ) {
            let mut w = world(Ring::new(RingConfig {
                max_messages,
                arena_bytes: arena_kib << 10,
                max_message_bytes: 1024,
            }).unwrap());
            for (i, op) in ops.iter().enumerate() {
                apply(&mut w, i as i64, op);
            }
            w.st.resume();
            let n = ops.len() as i64;
            check(&mut w, &q, l, &more, n)?;
            let mut w = adopted(&w);
            check(&mut w, &q, l, &more, n + more.len() as i64)?;
        }
    }

    /// A rare severity or unit in a ring of many blocks is answered in one
    /// slice, where a filter no summary tests reads the ring a slice at a
    /// time.
    #[test]
    fn a_rare_match_is_answered_without_reading_the_ring() {
        let mut w = world(
            Ring::new(RingConfig {
                max_messages: 300_000,
                arena_bytes: 64 << 20,
                max_message_bytes: 1024,
            })
            .unwrap(),
        );
        for i in 0..300_000i64 {
            let op = match i % 30_000 == 15_000 {
                true => Op::Push(8, 0, 1, 7, false, true),
                false => Op::Push(14, 0, 0, 9, true, true),
            };
            apply(&mut w, i, &op);
        }
        let mut yields = Vec::new();
        for q in [
            "re=m15000$",
            "sev=emerg",
            "unit=nginx",
            "app=nginx",
            "sev=emerg&l=3",
        ] {
            let mut c = w.accept(Role::Query, UNIX);
            c.send(&mut w, get(&format!("/?fmt=raw&{q}")).as_bytes());
            let r = response(&c.take());
            let want = if q.starts_with("re=") {
                1
            } else if q.ends_with("l=3") {
                3
            } else {
                10
            };
            assert_eq!(r.lines().len(), want, "{q}");
            yields.push(c.yields);
            c.finish(&mut w);
        }
        assert!(yields[0] >= 4, "{yields:?}");
        assert!(yields[1..].iter().all(|&y| y <= 1), "{yields:?}");
    }
}
