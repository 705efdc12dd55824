//! The sender: a separate process (this same executable, started with
//! [`ROLE`] as its first argument) that sends syslog messages as fast as it
//! can, or at a fixed rate, over a unix datagram socket, UDP or TCP.
//!
//! Protocol with the benchmark: the sender sets up its sockets and prints
//! `ready`; it starts when a line arrives on its stdin; when it has sent
//! everything it prints `done SENT ELAPSED_NS` and exits.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{self, Guard};

/// First argument that makes this executable a sender.
pub const ROLE: &str = "__circolog_bench_sender";

/// Messages per `sendmmsg` call.
const BATCH: usize = 64;

#[derive(Clone, Debug)]
pub enum Dest {
    Unix(PathBuf),
    Udp(SocketAddr),
    /// Newline-framed messages over this many connections.
    Tcp(SocketAddr, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One `send` per message, as glibc `syslog()` does.
    Send,
    /// `sendmmsg` with [`BATCH`] messages per call.
    Mmsg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    Fixed(usize),
    /// The realistic mix of [`mix_size`].
    Mix,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub dest: Dest,
    pub mode: Mode,
    pub size: Size,
    pub count: u64,
    /// Messages per second; `None` is as fast as possible.
    pub rate: Option<u64>,
    /// Index of the first message (the `n=` field, and the mix's sizes).
    pub first: u64,
    /// The sender stops after this long, whatever its count.
    pub limit: Duration,
}

impl Spec {
    fn to_args(&self) -> Vec<String> {
        let dest = match &self.dest {
            Dest::Unix(p) => format!("unix:{}", p.display()),
            Dest::Udp(a) => format!("udp:{a}"),
            Dest::Tcp(a, n) => format!("tcp:{n}:{a}"),
        };
        let mode = match self.mode {
            Mode::Send => "send".to_string(),
            Mode::Mmsg => "mmsg".to_string(),
        };
        let size = match self.size {
            Size::Fixed(n) => n.to_string(),
            Size::Mix => "mix".to_string(),
        };
        vec![
            dest,
            mode,
            size,
            self.count.to_string(),
            self.rate.map_or("max".into(), |r| r.to_string()),
            self.first.to_string(),
            self.limit.as_millis().to_string(),
        ]
    }

    fn from_args(args: &[String]) -> Result<Spec, String> {
        let [dest, mode, size, count, rate, first, limit] = args else {
            return Err(format!("bad sender arguments {args:?}"));
        };
        let num = |s: &str| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
        let addr = |s: &str| s.parse::<SocketAddr>().map_err(|e| format!("{s:?}: {e}"));
        let dest = if let Some(p) = dest.strip_prefix("unix:") {
            Dest::Unix(PathBuf::from(p))
        } else if let Some(a) = dest.strip_prefix("udp:") {
            Dest::Udp(addr(a)?)
        } else if let Some(rest) = dest.strip_prefix("tcp:") {
            let (n, a) = rest.split_once(':').ok_or("tcp:N:ADDR")?;
            Dest::Tcp(addr(a)?, num(n)? as usize)
        } else {
            return Err(format!("bad destination {dest:?}"));
        };
        Ok(Spec {
            dest,
            mode: if mode == "mmsg" {
                Mode::Mmsg
            } else {
                Mode::Send
            },
            size: if size == "mix" {
                Size::Mix
            } else {
                Size::Fixed(num(size)? as usize)
            },
            count: num(count)?,
            rate: if rate == "max" {
                None
            } else {
                Some(num(rate)?)
            },
            first: num(first)?,
            limit: Duration::from_millis(num(limit)?),
        })
    }
}

/// Size of message `i` in the realistic mix: 30 % around 60 bytes, 50 %
/// around 150, 15 % around 400, 5 % around 1500 (each ±20 %). Deterministic,
/// so that the benchmark knows the sizes of what it sent.
pub fn mix_size(i: u64) -> usize {
    let h = splitmix(i);
    let (base, r) = (h % 100, (h >> 32) % 41);
    let centre = match base {
        0..30 => 60,
        30..80 => 150,
        80..95 => 400,
        _ => 1500,
    };
    // centre × (0.8 ..= 1.2)
    (centre * (80 + r as usize) / 100).max(MIX_HEADER.len() + 12)
}

fn splitmix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// RFC 5424 header of the fixed-size messages; the text follows.
const HEADER: &[u8] = b"<134>1 2025-01-01T12:00:00.000000Z bench.example.org benchapp 4242 ID47 - ";
/// A shorter header for the mix, whose smallest messages are ~50 bytes.
const MIX_HEADER: &[u8] = b"<134>1 2025-01-01T12:00:00Z web01 nginx 812 - - ";
const FILLER: &[u8] = b"GET /index.html 200 lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ";
/// Marker before the send time, in µs since the epoch (16 digits).
pub const SENT_MARK: &[u8] = b"sent_us=";

/// One message buffer whose counter (and send time) are rewritten in place.
struct Template {
    bytes: Vec<u8>,
    n_at: usize,
    /// Where the 16 digits of the send time go, if the message has room.
    t_at: Option<usize>,
}

impl Template {
    fn new(size: usize, header: &[u8], stamp: bool) -> Template {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(b"n=");
        let n_at = bytes.len();
        bytes.extend_from_slice(b"0000000000 ");
        let mut t_at = None;
        if stamp {
            bytes.extend_from_slice(SENT_MARK);
            t_at = Some(bytes.len());
            bytes.extend_from_slice(b"0000000000000000 ");
        }
        while bytes.len() < size {
            let need = size - bytes.len();
            bytes.extend_from_slice(&FILLER[..need.min(FILLER.len())]);
        }
        Template { bytes, n_at, t_at }
    }

    fn set(&mut self, n: u64, sent_us: Option<u64>) {
        write_digits(&mut self.bytes[self.n_at..self.n_at + 10], n);
        if let (Some(at), Some(t)) = (self.t_at, sent_us) {
            write_digits(&mut self.bytes[at..at + 16], t);
        }
    }
}

fn write_digits(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Parses the 16 digits after [`SENT_MARK`].
pub fn parse_digits(b: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in b.get(..16)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

/// Builds messages for a spec: fixed-size ones from one template, the mix
/// from a template per size.
struct Maker {
    size: Size,
    stamp: bool,
    fixed: Option<Template>,
}

impl Maker {
    fn new(size: Size, stamp: bool) -> Maker {
        let fixed = match size {
            Size::Fixed(n) => Some(Template::new(n, HEADER, stamp)),
            Size::Mix => None,
        };
        Maker { size, stamp, fixed }
    }

    /// Writes message `i` into `out` (replacing its contents).
    fn make(&mut self, i: u64, out: &mut Vec<u8>) {
        let t = self.stamp.then(harness::now_us);
        match (&mut self.fixed, self.size) {
            (Some(tpl), _) => {
                tpl.set(i, t);
                out.clear();
                out.extend_from_slice(&tpl.bytes);
            }
            (None, _) => {
                let size = mix_size(i);
                out.clear();
                out.extend_from_slice(MIX_HEADER);
                out.extend_from_slice(b"n=0000000000 ");
                let at = MIX_HEADER.len() + 2;
                write_digits(&mut out[at..at + 10], i);
                while out.len() < size {
                    let need = size - out.len();
                    out.extend_from_slice(&FILLER[..need.min(FILLER.len())]);
                }
                out.truncate(size);
            }
        }
    }
}

/// A running sender process.
pub struct Sender {
    guard: Guard,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub sent: u64,
    /// When the parent saw the `done` line.
    pub at: Instant,
}

impl Sender {
    /// Starts a sender and waits until its sockets are ready.
    pub fn start(spec: &Spec) -> Result<Sender, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg(ROLE)
            .args(spec.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = harness::spawn(cmd, "sender")?;
        let stdin = guard.child.stdin.take();
        let stdout = guard.child.stdout.take().ok_or("sender stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut s = Sender {
            guard,
            stdin,
            lines,
        };
        match s.lines.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l == "ready" => Ok(s),
            Ok(l) => Err(format!("sender: {l}")),
            Err(_) => Err(format!(
                "sender did not get ready ({})",
                s.guard.exit_note()
            )),
        }
    }

    /// Tells it to start; returns the start time.
    pub fn go(&mut self) -> Result<Instant, String> {
        let mut stdin = self.stdin.take().ok_or("sender already started")?;
        let t0 = Instant::now();
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("starting the sender: {e}"))?;
        Ok(t0)
    }

    /// `Some` once the sender has said it is done.
    pub fn poll_done(&mut self) -> Result<Option<Sent>, String> {
        match self.lines.try_recv() {
            Ok(l) => parse_done(&l).map(Some),
            Err(mpsc::TryRecvError::Empty) => Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => {
                Err(format!("sender died ({})", self.guard.exit_note()))
            }
        }
    }

    /// Waits for the sender to finish.
    pub fn wait_done(&mut self, limit: Duration) -> Result<Sent, String> {
        match self.lines.recv_timeout(limit) {
            Ok(l) => parse_done(&l),
            Err(_) => Err(format!(
                "sender did not finish within {limit:?} ({})",
                self.guard.exit_note()
            )),
        }
    }
}

fn parse_done(l: &str) -> Result<Sent, String> {
    let at = Instant::now();
    let mut f = l.split(' ');
    match (f.next(), f.next().and_then(|n| n.parse().ok())) {
        (Some("done"), Some(sent)) => Ok(Sent { sent, at }),
        _ => Err(format!("sender: {l}")),
    }
}

/// Entry point of the sender process. Returns the exit code.
pub fn child_main(args: &[String]) -> i32 {
    let spec = match Spec::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            println!("error {e}");
            return 2;
        }
    };
    match run(&spec) {
        Ok((sent, elapsed)) => {
            println!("done {sent} {}", elapsed.as_nanos());
            0
        }
        Err(e) => {
            println!("error {e}");
            1
        }
    }
}

fn wait_go() -> io::Result<()> {
    println!("ready");
    io::stdout().flush()?;
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    Ok(())
}

fn run(spec: &Spec) -> io::Result<(u64, Duration)> {
    let stamp = spec.rate.is_some();
    match &spec.dest {
        Dest::Unix(path) => {
            let s = UnixDatagram::unbound()?;
            s.connect(path)?;
            s.set_write_timeout(Some(Duration::from_secs(10)))?;
            let fd = s.as_raw_fd();
            wait_go()?;
            datagrams(spec, stamp, |m| s.send(m).map(|_| ()), fd)
        }
        Dest::Udp(addr) => {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.connect(addr)?;
            let fd = s.as_raw_fd();
            wait_go()?;
            // A refused or full send is a lost message, as for any UDP sender.
            datagrams(spec, stamp, |m| s.send(m).map(|_| ()).or(Ok(())), fd)
        }
        Dest::Tcp(addr, conns) => {
            let conns = (*conns).max(1);
            let streams = (0..conns)
                .map(|_| TcpStream::connect(addr))
                .collect::<io::Result<Vec<_>>>()?;
            wait_go()?;
            let t0 = Instant::now();
            let per = spec.count / conns as u64;
            let handles: Vec<_> = streams
                .into_iter()
                .enumerate()
                .map(|(k, s)| {
                    let extra = if k == 0 { spec.count % conns as u64 } else { 0 };
                    let first = spec.first + k as u64 * per + if k == 0 { 0 } else { extra };
                    let n = per + extra;
                    let (size, limit) = (spec.size, spec.limit);
                    std::thread::spawn(move || tcp_stream(s, size, first, n, limit))
                })
                .collect();
            let mut sent = 0;
            for h in handles {
                sent += h.join().map_err(|_| io::Error::other("sender thread"))??;
            }
            Ok((sent, t0.elapsed()))
        }
    }
}

/// Sends `spec.count` datagrams with `send` (one at a time, or paced) or in
/// `sendmmsg` batches.
fn datagrams(
    spec: &Spec,
    stamp: bool,
    mut send: impl FnMut(&[u8]) -> io::Result<()>,
    fd: i32,
) -> io::Result<(u64, Duration)> {
    let mut maker = Maker::new(spec.size, stamp);
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut buf = Vec::with_capacity(4096);
    if spec.mode == Mode::Mmsg && spec.rate.is_none() {
        sent = sendmmsg_loop(spec, &mut maker, fd, t0)?;
        return Ok((sent, t0.elapsed()));
    }
    while sent < spec.count {
        if let Some(rate) = spec.rate {
            // Paced: send what is due, then sleep a little.
            let due = ((t0.elapsed().as_secs_f64() * rate as f64) as u64).min(spec.count);
            if sent >= due {
                std::thread::sleep(Duration::from_micros(100));
                if t0.elapsed() > spec.limit {
                    break;
                }
                continue;
            }
        }
        maker.make(spec.first + sent, &mut buf);
        send(&buf)?;
        sent += 1;
        if sent.is_multiple_of(4096) && t0.elapsed() > spec.limit {
            break;
        }
    }
    Ok((sent, t0.elapsed()))
}

fn sendmmsg_loop(spec: &Spec, maker: &mut Maker, fd: i32, t0: Instant) -> io::Result<u64> {
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(4096)).collect();
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    // SAFETY: mmsghdr is plain data; all-zero is a valid value.
    let mut hdrs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    let mut sent = 0u64;
    while sent < spec.count {
        let n = (spec.count - sent).min(BATCH as u64) as usize;
        iovs.clear();
        for (k, b) in bufs.iter_mut().enumerate().take(n) {
            maker.make(spec.first + sent + k as u64, b);
            iovs.push(libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            });
        }
        for (h, iov) in hdrs.iter_mut().zip(iovs.iter_mut()) {
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
        }
        let mut done = 0;
        while done < n {
            // SAFETY: `hdrs[done..n]` point at `iovs`, which point at `bufs`;
            // all outlive the call and are not touched during it.
            let r =
                unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr().add(done), (n - done) as u32, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if matches!(spec.dest, Dest::Udp(_)) {
                    // Lost, as UDP may lose.
                    done += 1;
                    continue;
                }
                return Err(e);
            }
            done += r as usize;
        }
        sent += n as u64;
        if sent % 4096 < BATCH as u64 && t0.elapsed() > spec.limit {
            break;
        }
    }
    Ok(sent)
}

/// One TCP connection: newline-framed messages in 64 KiB writes.
fn tcp_stream(
    mut s: TcpStream,
    size: Size,
    first: u64,
    count: u64,
    limit: Duration,
) -> io::Result<u64> {
    let mut maker = Maker::new(size, false);
    let mut out = Vec::with_capacity(70_000);
    let mut msg = Vec::with_capacity(4096);
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < count {
        out.clear();
        while out.len() < 64 * 1024 && sent < count {
            maker.make(first + sent, &mut msg);
            out.extend_from_slice(&msg);
            out.push(b'\n');
            sent += 1;
        }
        s.write_all(&out)?;
        if t0.elapsed() > limit {
            break;
        }
    }
    s.flush()?;
    Ok(sent)
}
