//! The soak test: full-rate senders on unix, UDP and TCP while clients dump,
//! follow, connect and vanish, and the control socket pauses, resumes and
//! clears. Under them run the attacks of issue 13 as background load: heads
//! trickled a byte at a time, bodies that never come, followers and dumps
//! nobody reads, TCP senders at `-max-senders` and past it, and concurrent
//! scans that match nothing; a control client asks `/status` throughout. At
//! the end every message is accounted for, every attack was closed the way
//! its limit says, the client counts are back to zero and RSS is flat.
//!
//! Not part of the default run (it is long on purpose):
//!
//!     SOAK_SECONDS=60 cargo test --release --test integration soak -- --ignored --nocapture

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::daemon;

/// The daemon's limits, short so that the soak sees each of them close
/// many attackers.
const HEAD_TIMEOUT: &str = "2s";
const IDLE_TIMEOUT: &str = "3s";
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_SENDERS: usize = 500;
/// How long an attacker may stay connected past the limit that closes it
/// before it counts as a failure: generous, the machine is loaded, and
/// speed is not what the soak asserts.
const CLOSE_BOUND: Duration = Duration::from_secs(15);
/// How long `/status` may take before it counts as not answering.
const STATUS_BOUND: Duration = Duration::from_secs(5);

fn seconds() -> u64 {
    std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// Drops reported by the kernel for the UDP socket bound to `port`.
fn udp_kernel_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let port_hex = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&port_hex))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// Either kind of stream socket an attacker uses.
trait Conn: Read + Write + Send {
    fn set_timeout(&self, t: Duration) -> io::Result<()>;

    /// Bytes received and not read.
    fn unread(&self) -> u64;

    /// Whether the daemon has closed its end, seen without reading (what
    /// it sent stays unread).
    fn closed_by_daemon(&self) -> bool;
}

impl Conn for UnixStream {
    fn set_timeout(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))
    }

    fn unread(&self) -> u64 {
        rustix::io::ioctl_fionread(self).unwrap_or(0)
    }

    fn closed_by_daemon(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(self, PollFlags::RDHUP)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&now)).is_ok()
            && fds[0]
                .revents()
                .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR)
    }
}

impl Conn for TcpStream {
    fn set_timeout(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))
    }

    fn unread(&self) -> u64 {
        rustix::io::ioctl_fionread(self).unwrap_or(0)
    }

    /// The daemon's end as the kernel lists it: its FIN waits behind the
    /// unread bytes, so this side cannot see it, but the state has left
    /// ESTABLISHED (or the socket is gone).
    fn closed_by_daemon(&self) -> bool {
        let (Ok(SocketAddr::V4(ours)), Ok(SocketAddr::V4(theirs))) =
            (self.local_addr(), self.peer_addr())
        else {
            return false;
        };
        let hex = |a: std::net::SocketAddrV4| {
            format!(
                "{:08X}:{:04X}",
                u32::from_ne_bytes(a.ip().octets()),
                a.port()
            )
        };
        let (local, remote) = (hex(theirs), hex(ours));
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let state = table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()))
                .then(|| f.get(3).map(|s| s.to_string()))
                .flatten()
        });
        state.is_none_or(|s| s != "01")
    }
}

/// Where an attacker connects: a unix socket or a loopback TCP listener.
#[derive(Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Target {
    fn connect(&self) -> io::Result<Box<dyn Conn>> {
        Ok(match self {
            Target::Unix(p) => Box::new(UnixStream::connect(p)?),
            Target::Tcp(a) => Box::new(TcpStream::connect_timeout(a, Duration::from_secs(5))?),
        })
    }

    fn name(&self) -> String {
        match self {
            Target::Unix(p) => p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            Target::Tcp(a) => a.to_string(),
        }
    }
}

/// What the attackers saw: per kind of outcome, how many and the longest
/// it took; and what went wrong, reported together at the end.
#[derive(Default)]
struct Tally {
    figures: BTreeMap<&'static str, (u64, Duration)>,
    failures: Vec<String>,
    failed: u64,
}

#[derive(Clone, Default)]
struct Attacks(Arc<Mutex<Tally>>);

impl Attacks {
    fn note(&self, what: &'static str, took: Duration) {
        let mut t = self.0.lock().unwrap();
        let f = t.figures.entry(what).or_default();
        f.0 += 1;
        f.1 = f.1.max(took);
    }

    fn fail(&self, why: String) {
        let mut t = self.0.lock().unwrap();
        t.failed += 1;
        // The first few say what happened; the count says how often.
        if t.failures.len() < 20 {
            t.failures.push(why);
        }
    }

    fn count(&self, what: &str) -> u64 {
        self.0.lock().unwrap().figures.get(what).map_or(0, |f| f.0)
    }
}

/// Runs `attack` over and over on its own thread until `stop`.
fn repeat(
    threads: &mut Vec<thread::JoinHandle<()>>,
    stop: &Arc<AtomicBool>,
    mut attack: impl FnMut() + Send + 'static,
) {
    let stop = stop.clone();
    threads.push(thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            attack();
        }
    }));
}

/// Whether a read error means the peer closed.
fn closed_by_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// Reads (with the socket's read timeout as the poll interval) until the
/// peer closes or `limit` passes; returns what came and whether it closed.
fn drain_until_closed(s: &mut dyn Conn, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if closed_by_peer(&e) => return (out, true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

/// A slow client: trickles a request head a byte every 300 ms. The head
/// timeout closes it long before the head is whole (it would take two
/// minutes), and it is never answered.
fn trickle_head(target: &Target, a: &Attacks) {
    let head = format!(
        "GET /?fmt=json HTTP/1.1\r\nHost: localhost\r\nX-Slow: {}\r\n\r\n",
        "s".repeat(400)
    );
    let Ok(mut s) = target.connect() else {
        return a.note("connect failed", Duration::ZERO);
    };
    let _ = s.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    for b in head.bytes() {
        if s.write_all(&[b]).is_err() {
            return a.note("slow head closed", started.elapsed());
        }
        match s.read(&mut buf) {
            Ok(0) => return a.note("slow head closed", started.elapsed()),
            Ok(n) => {
                let got = String::from_utf8_lossy(&buf[..n]).into_owned();
                return a.fail(format!(
                    "{}: a head never sent whole was answered: {got:?}",
                    target.name()
                ));
            }
            Err(e) if closed_by_peer(&e) => {
                return a.note("slow head closed", started.elapsed());
            }
            Err(_) => {}
        }
        if started.elapsed() > CLOSE_BOUND {
            return a.fail(format!(
                "{}: a head trickled for {:?} is still open (-head-timeout {HEAD_TIMEOUT})",
                target.name(),
                started.elapsed()
            ));
        }
    }
    a.fail(format!("{}: a whole trickled head went in", target.name()));
}

/// A body that never comes: a whole head with `Content-Length` and nothing
/// after it. The head timeout applies to the body too.
fn body_never_comes(target: &Target, request: &str, a: &Attacks) {
    let Ok(mut s) = target.connect() else {
        return a.note("connect failed", Duration::ZERO);
    };
    let _ = s.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let head = format!("{request} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 65536\r\n\r\n");
    if s.write_all(head.as_bytes()).is_err() {
        return a.note("connect failed", Duration::ZERO);
    }
    let (got, closed) = drain_until_closed(&mut *s, CLOSE_BOUND);
    if !closed {
        a.fail(format!(
            "{}: {request} whose body never came is open after {:?} (-head-timeout {HEAD_TIMEOUT})",
            target.name(),
            started.elapsed()
        ));
    } else if !got.is_empty() {
        a.fail(format!(
            "{}: {request} was answered before its body came: {:?}",
            target.name(),
            String::from_utf8_lossy(&got[..got.len().min(200)])
        ));
    } else {
        a.note("body never came, closed", started.elapsed());
    }
}

/// A client that asks and never reads: a follower, or a dump of the whole
/// ring (far more than the sockets buffer). The write timeout closes it
/// (seen without reading); when it then reads, what was buffered comes and
/// then the end of the stream, and a dump is cut short.
fn never_reads(target: &Target, request: &str, follower: bool, a: &Attacks) {
    let Ok(mut s) = target.connect() else {
        return a.note("connect failed", Duration::ZERO);
    };
    let started = Instant::now();
    if s.write_all(request.as_bytes()).is_err() {
        return a.note("connect failed", Duration::ZERO);
    }
    let what = if follower { "follower" } else { "dump" };
    while !s.closed_by_daemon() {
        if started.elapsed() > WRITE_TIMEOUT + CLOSE_BOUND {
            // How long it stays open past the bound, and whether the
            // daemon had written at all, say what kind of failure it is.
            let unread = s.unread();
            let failed_at = started.elapsed();
            while !s.closed_by_daemon() && started.elapsed() < failed_at + Duration::from_secs(30) {
                thread::sleep(Duration::from_millis(100));
            }
            return a.fail(format!(
                "{}: a {what} that read nothing for {failed_at:?} is still open \
                 (-write-timeout {WRITE_TIMEOUT:?}) with {unread} bytes waiting unread; \
                 closed by the daemon: {} after {:?}",
                target.name(),
                s.closed_by_daemon(),
                started.elapsed(),
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    let _ = s.set_timeout(Duration::from_millis(200));
    let (got, closed) = drain_until_closed(&mut *s, CLOSE_BOUND);
    if !closed {
        return a.fail(format!(
            "{}: a {what} closed by the daemon still reads more after {CLOSE_BOUND:?} ({} bytes)",
            target.name(),
            got.len()
        ));
    }
    if follower {
        a.note("non-reading follower closed", took);
    } else if got.ends_with(b"0\r\n\r\n") {
        // The ring had just been cleared: the dump fit in the buffers.
        a.note("non-reading dump came whole", took);
    } else {
        a.note("non-reading dump cut short", took);
    }
}

/// A dump over the whole ring that matches nothing.
fn scan(target: &Target, a: &Attacks) {
    let Ok(mut s) = target.connect() else {
        return a.note("connect failed", Duration::ZERO);
    };
    let _ = s.set_timeout(Duration::from_secs(30));
    let started = Instant::now();
    let request =
        "GET /?fmt=raw&grep=NO-SUCH-TEXT HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if s.write_all(request.as_bytes()).is_err() {
        return a.note("connect failed", Duration::ZERO);
    }
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) if out.starts_with(b"HTTP/1.1 200") && !out.windows(4).any(|w| w == b"soak") => {
            a.note("scan matching nothing", started.elapsed());
        }
        Ok(_) => a.fail(format!(
            "{}: a scan for NO-SUCH-TEXT answered {:?}",
            target.name(),
            String::from_utf8_lossy(&out[..out.len().min(300)])
        )),
        Err(e) => a.fail(format!(
            "{}: a scan for NO-SUCH-TEXT failed after {:?}: {e}",
            target.name(),
            started.elapsed()
        )),
    }
}

/// A TCP sender past `-max-senders`: closed at once, before it sends.
fn sender_past_the_cap(addr: SocketAddr, a: &Attacks) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return a.note("connect failed", Duration::ZERO);
    };
    let _ = s.set_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let (_, closed) = drain_until_closed(&mut s, Duration::from_secs(5));
    if closed {
        a.note("sender past the cap closed", started.elapsed());
    } else {
        a.fail(format!(
            "a TCP sender past -max-senders {MAX_SENDERS} is still open after {:?}",
            started.elapsed()
        ));
    }
    thread::sleep(Duration::from_millis(200));
}

/// `GET /status` on the control socket, raw: the parsed answer, or why not.
fn status_raw(ctl: &std::path::Path) -> Result<serde_json::Value, String> {
    let mut s = UnixStream::connect(ctl).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(STATUS_BOUND))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /status HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(format!("{text:?}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(head.to_string());
    }
    serde_json::from_str(body).map_err(|e| format!("{e}: {body:?}"))
}

/// Lets this test process hold `n` sockets.
fn allow_open_files(n: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current.is_some_and(|c| c < n) {
        l.current = l.maximum.map(|m| m.min(n)).or(Some(n));
        setrlimit(Resource::Nofile, l).expect("raise this test's RLIMIT_NOFILE");
    }
}

#[test]
#[ignore = "long: run it with --ignored (see the module doc)"]
fn soak() {
    let d = daemon()
        .net()
        .query_net()
        .args(&["-buffer-size", "50000", "-buffer-bytes", "16M"])
        .args(&["-head-timeout", HEAD_TIMEOUT, "-idle-timeout", IDLE_TIMEOUT])
        .args(&["-write-timeout", &format!("{}s", WRITE_TIMEOUT.as_secs())])
        .args(&["-max-senders", &MAX_SENDERS.to_string()])
        .start();
    allow_open_files(MAX_SENDERS as u64 + 1024);
    let run_for = Duration::from_secs(seconds());
    let stop = Arc::new(AtomicBool::new(false));
    let sent_unix = Arc::new(AtomicU64::new(0));
    let sent_udp = Arc::new(AtomicU64::new(0));
    let sent_tcp = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();

    // Senders, as fast as they can.
    {
        let (stop, sent, path) = (stop.clone(), sent_unix.clone(), d.syslog.clone());
        threads.push(thread::spawn(move || {
            let s = UnixDatagram::unbound().expect("socket");
            s.connect(&path).expect("connect");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let m = format!("<13>1 - soak unix - - - unix message {i}");
                s.send(m.as_bytes())
                    .expect("unix send never fails on a live daemon");
                i += 1;
            }
            sent.store(i, Ordering::Relaxed);
        }));
    }
    {
        let (stop, sent, addr) = (stop.clone(), sent_udp.clone(), d.addr.expect("addr"));
        threads.push(thread::spawn(move || {
            let s = UdpSocket::bind("127.0.0.1:0").expect("udp");
            s.connect(addr).expect("connect");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let m = format!("<14>Nov 24 10:00:00 soak udp: udp message {i}");
                if s.send(m.as_bytes()).is_ok() {
                    i += 1;
                }
            }
            sent.store(i, Ordering::Relaxed);
        }));
    }
    // Connected here, before the idle senders fill the cap.
    let full_rate: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(d.addr.expect("addr")).expect("tcp"))
        .collect();
    for (conn, mut s) in full_rate.into_iter().enumerate() {
        let (stop, sent) = (stop.clone(), sent_tcp.clone());
        threads.push(thread::spawn(move || {
            let mut i = 0u64;
            let mut batch = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                batch.clear();
                for _ in 0..64 {
                    let m = format!("<15>1 - soak tcp{conn} - - - tcp message {i}");
                    if i.is_multiple_of(2) {
                        batch.extend_from_slice(format!("{} ", m.len()).as_bytes());
                        batch.extend_from_slice(m.as_bytes());
                    } else {
                        batch.extend_from_slice(m.as_bytes());
                        batch.push(b'\n');
                    }
                    i += 1;
                }
                s.write_all(&batch).expect("tcp write");
            }
            sent.fetch_add(i, Ordering::Relaxed);
        }));
    }

    // Dumps, some read whole, some abandoned halfway.
    {
        let (stop, q) = (stop.clone(), d.query.clone());
        threads.push(thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = UnixStream::connect(&q) else {
                    continue;
                };
                let fmt = ["syslog", "json", "raw"][n as usize % 3];
                let _ = write!(s, "GET /?fmt={fmt} HTTP/1.0\r\n\r\n");
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = 0;
                while let Ok(k) = s.read(&mut buf) {
                    if k == 0 || (n % 4 == 3 && got > 100_000) {
                        break;
                    }
                    got += k;
                }
                n += 1;
            }
        }));
    }
    // Followers that read a while and vanish, and one that never reads.
    let stalled = UnixStream::connect(&d.query).expect("connect");
    {
        let mut s = &stalled;
        s.write_all(b"GET /ws?fmt=json HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .expect("upgrade");
    }
    for _ in 0..3 {
        let (stop, q) = (stop.clone(), d.query.clone());
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok(s) = UnixStream::connect(&q) else {
                    continue;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok((mut ws, _)) =
                    tungstenite::client::client("ws://localhost/ws?fmt=json&sev=notice", s)
                else {
                    continue;
                };
                for _ in 0..2000 {
                    if ws.read().is_err() {
                        break;
                    }
                }
                // Gone without a close frame.
                drop(ws);
            }
        }));
    }
    // Clients that connect and disconnect abruptly, mid-head or mid-frame.
    {
        let (stop, q, ctl) = (stop.clone(), d.query.clone(), d.ctl.clone());
        threads.push(thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let path = if n.is_multiple_of(5) { &ctl } else { &q };
                if let Ok(mut s) = UnixStream::connect(path) {
                    let _ = s.write_all(
                        &b"GET /?fmt=json HTTP/1.1\r\nHost: x\r\nX-Half: "[..(n as usize % 40)],
                    );
                }
                n += 1;
                thread::sleep(Duration::from_millis(2));
            }
        }));
    }
    // The control socket: pause, resume, clear.
    {
        let (stop, ctl) = (stop.clone(), d.ctl.clone());
        threads.push(thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let path = [
                    "/pause",
                    "/resume",
                    "/logs/clear",
                    "/resume",
                    "/pause/toggle",
                    "/resume",
                ][n as usize % 6];
                if let Ok(mut s) = UnixStream::connect(&ctl) {
                    let _ = write!(s, "POST {path} HTTP/1.0\r\n\r\n");
                    let mut sink = Vec::new();
                    let _ = s.read_to_end(&mut sink);
                }
                n += 1;
                thread::sleep(Duration::from_millis(300));
            }
        }));
    }

    // The attacks, as background load.
    let attacks = Attacks::default();
    // Attacks stop before the load does: a full-rate sender that leaves
    // would make room under the cap for one that must be closed.
    let attacks_stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    let query = Target::Unix(d.query.clone());
    let query_tcp = Target::Tcp(d.query_addr.expect("query address"));
    let ctl = Target::Unix(d.ctl.clone());
    // TCP senders at the cap: idle ones up to it (with the two full-rate
    // ones), then more, each closed at once.
    let addr = d.addr.expect("addr");
    let idle_senders: Vec<TcpStream> = (2..MAX_SENDERS)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("idle sender"))
        .collect();
    let at_cap = Instant::now() + Duration::from_secs(30);
    while d.status()["clients"]["tcp_senders"] != MAX_SENDERS {
        assert!(Instant::now() < at_cap, "the idle senders are not all in");
        thread::sleep(Duration::from_millis(100));
    }
    {
        let a = attacks.clone();
        repeat(&mut attackers, &attacks_stop, move || {
            sender_past_the_cap(addr, &a)
        });
    }
    // Slow clients: heads trickled a byte at a time, bodies that never come.
    for target in [&query, &query, &query_tcp, &ctl] {
        let (a, t) = (attacks.clone(), target.clone());
        repeat(&mut attackers, &attacks_stop, move || trickle_head(&t, &a));
    }
    for (target, request) in [
        (&query, "GET /?l=1"),
        (&query_tcp, "GET /?l=1"),
        (&ctl, "GET /status"),
    ] {
        let (a, t) = (attacks.clone(), target.clone());
        repeat(&mut attackers, &attacks_stop, move || {
            body_never_comes(&t, request, &a)
        });
    }
    // Non-readers: followers and dumps whose client never reads.
    let follow = "GET /ws?fmt=json HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n";
    let dump = "GET /?fmt=json HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for target in [&query, &query_tcp] {
        for (request, follower) in [(follow, true), (dump, false)] {
            let (a, t) = (attacks.clone(), target.clone());
            repeat(&mut attackers, &attacks_stop, move || {
                never_reads(&t, request, follower, &a)
            });
        }
    }
    // Scans over the whole ring that match nothing, four at a time.
    for target in [&query, &query, &query, &query_tcp] {
        let (a, t) = (attacks.clone(), target.clone());
        repeat(&mut attackers, &attacks_stop, move || scan(&t, &a));
    }
    // The owner asks /status throughout: it always answers.
    let latencies = Arc::new(Mutex::new(Vec::new()));
    {
        let (a, path, lat) = (attacks.clone(), d.ctl.clone(), latencies.clone());
        repeat(&mut attackers, &attacks_stop, move || {
            let asked = Instant::now();
            let answer = status_raw(&path);
            let took = asked.elapsed();
            match answer {
                Ok(st) if took <= STATUS_BOUND => {
                    lat.lock().unwrap().push(took);
                    let senders = st["clients"]["tcp_senders"].as_u64().unwrap_or(0);
                    if senders > MAX_SENDERS as u64 {
                        a.fail(format!(
                            "{senders} TCP senders past -max-senders {MAX_SENDERS}"
                        ));
                    }
                }
                Ok(_) => a.fail(format!("/status took {took:?}")),
                Err(e) => a.fail(format!("/status did not answer in {took:?}: {e}")),
            }
            thread::sleep(Duration::from_millis(50));
        });
    }

    let started = Instant::now();
    // Memory held by clients is bounded by the client limits and the
    // timeouts, but with the attacks it comes and goes (several MiB while
    // dumps nobody reads hold their output): what must stay flat is the
    // floor, the RSS between those peaks. The early floor is the lowest
    // sample of the second half of the warm-up.
    let warm_up = Duration::from_secs(15).min(run_for * 3 / 4);
    thread::sleep(warm_up / 2);
    let mut rss_early = d.rss_kib();
    let mut rss_early_floor = rss_early;
    while started.elapsed() < warm_up {
        thread::sleep(Duration::from_secs(1));
        let rss = d.rss_kib();
        rss_early = rss_early.max(rss);
        rss_early_floor = rss_early_floor.min(rss);
    }
    let mut rss_max = rss_early;
    let mut rss_series = vec![rss_early];
    while started.elapsed() < run_for {
        thread::sleep(Duration::from_secs(1));
        let rss = d.rss_kib();
        rss_max = rss_max.max(rss);
        rss_series.push(rss);
    }
    attacks_stop.store(true, Ordering::Relaxed);
    for t in attackers {
        t.join().expect("an attack thread panicked");
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("a soak thread panicked");
    }
    drop(stalled);
    // The idle senders at the cap were never closed: each still reads
    // nothing, rather than the end of the stream.
    let idle_closed = idle_senders
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).expect("nonblocking");
            let mut b = [0u8; 1];
            !matches!((&**s).read(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock)
        })
        .count();
    drop(idle_senders);
    d.ctl("POST", "/resume");

    // Let the daemon drain what is still queued, then account for everything.
    let (unix, udp, tcp) = (
        sent_unix.load(Ordering::Relaxed),
        sent_udp.load(Ordering::Relaxed),
        sent_tcp.load(Ordering::Relaxed),
    );
    let udp_port = d.addr.expect("addr").port();
    let deadline = Instant::now() + Duration::from_secs(30);
    let st = loop {
        let st = d.status();
        let r = &st["counters"]["received"];
        let udp_seen = r["udp"].as_u64().unwrap_or(0) + udp_kernel_drops(udp_port);
        if r["unix"] == unix && r["tcp"] == tcp && udp_seen >= udp {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "not drained: sent {unix}/{udp}/{tcp}: {st}"
        );
        thread::sleep(Duration::from_millis(100));
    };
    let c = &st["counters"];
    let received = c["received_total"].as_u64().expect("received");
    let dropped_paused = c["dropped_paused"].as_u64().expect("dropped");
    let stored = st["last_seq"].as_u64().map_or(0, |s| s + 1);
    let in_ring = st["used"]["messages"].as_u64().expect("used");
    let udp_drops = udp_kernel_drops(udp_port);
    // The attacks stopped: every client they held is gone (the one asking
    // is the only control client).
    let gone_by = Instant::now() + Duration::from_secs(20);
    let clients = loop {
        let clients = d.status()["clients"].clone();
        let zero = ["query", "followers", "tcp_senders"]
            .iter()
            .all(|k| clients[*k] == 0)
            && clients["ctl"] == 1;
        if zero || Instant::now() > gone_by {
            break clients;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let rss_end = d.rss_kib();
    // The floor of the last quarter of the run.
    let late = &rss_series[rss_series.len() * 3 / 4..];
    let rss_late_floor = late.iter().copied().min().unwrap_or(rss_end);
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d.child.id()))
        .map(|r| r.count())
        .unwrap_or(0);
    eprintln!("soak: {fds} open fds at the end; clients {clients} once the attacks stopped");
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1)));
    eprintln!(
        "soak: /status answered {} times under the attacks: median {:?}, p99 {:?}, max {:?}",
        lat.len(),
        pct(50).copied().unwrap_or_default(),
        pct(99).copied().unwrap_or_default(),
        lat.last().copied().unwrap_or_default(),
    );
    let tally = attacks.0.lock().unwrap();
    for (what, (n, longest)) in &tally.figures {
        eprintln!("soak: {what}: {n}, the longest {longest:?}");
    }
    let series: Vec<String> = rss_series
        .iter()
        .step_by(5)
        .map(|k| (k / 1024).to_string())
        .collect();
    eprintln!(
        "soak: RSS every 5 s after the warm-up, MiB: {}",
        series.join(" ")
    );
    eprintln!("soak: {idle_closed} of the idle senders at the cap were closed");
    eprintln!(
        "soak {}s: sent unix {unix} udp {udp} tcp {tcp}; received {received} = stored {stored} + \
         discarded while paused {dropped_paused}; {in_ring} in the ring; UDP dropped by the kernel \
         {udp_drops}; clears {}; skipped for followers {}; RSS {rss_early_floor} KiB at least and \
         {rss_early} at most early, {rss_late_floor} at least late, {rss_max} at most after, \
         {rss_end} at the end",
        run_for.as_secs(),
        c["clears"],
        c["skipped_followers"],
    );
    // Every message read was stored or discarded while paused; nothing sent
    // over unix or TCP was lost; UDP losses are the kernel's, counted.
    assert_eq!(received, stored + dropped_paused);
    assert_eq!(c["received"]["unix"], unix);
    assert_eq!(c["received"]["tcp"], tcp);
    assert_eq!(c["received"]["udp"].as_u64().expect("udp") + udp_drops, udp);
    assert!(in_ring <= 50_000);
    // Every attacker was closed by the limit that applies to it, and the
    // owner was always answered.
    assert!(
        tally.failures.is_empty(),
        "{} attacks went wrong, the first:\n{}",
        tally.failed,
        tally.failures.join("\n")
    );
    drop(tally);
    for what in [
        "slow head closed",
        "body never came, closed",
        "non-reading follower closed",
        "non-reading dump cut short",
        "scan matching nothing",
        "sender past the cap closed",
    ] {
        assert!(attacks.count(what) > 0, "no {what:?} in the whole run");
    }
    assert!(!lat.is_empty(), "/status was never answered");
    assert_eq!(
        idle_closed, 0,
        "idle senders under -max-senders were closed"
    );
    for k in ["query", "followers", "tcp_senders"] {
        assert_eq!(clients[k], 0, "{k} still counted: {clients}");
    }
    assert_eq!(clients["ctl"], 1, "{clients}");
    // Alive and serving.
    assert!(d.json("l=1").len() <= 1);
    assert!(
        rss_late_floor <= rss_early_floor + 4 * 1024 && rss_end <= rss_early_floor + 4 * 1024,
        "RSS grew: its floor from {rss_early_floor} KiB to {rss_late_floor} KiB, \
         {rss_end} KiB once the attacks stopped"
    );
}
