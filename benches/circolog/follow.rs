//! Readers of the query API: whole dumps (`GET /`), a loop of them, and
//! many websocket followers (`GET /ws`) driven by one epoll thread.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::epoll;

use crate::harness;
use crate::send::{SENT_MARK, parse_digits};

/// One dump's size and duration.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dump {
    pub bytes: u64,
    pub lines: u64,
    pub secs: f64,
}

/// `GET /?fmt=FMT` over HTTP/1.0 (the body ends when the connection does),
/// read in 1 MiB pieces and thrown away.
pub fn dump(query: &Path, fmt: &str, buf: &mut [u8]) -> io::Result<Dump> {
    let t0 = Instant::now();
    let mut s = UnixStream::connect(query)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(s, "GET /?fmt={fmt} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut d = Dump::default();
    let mut head = true;
    loop {
        let n = s.read(buf)?;
        if n == 0 {
            break;
        }
        let mut body = &buf[..n];
        if head {
            // The head is small and arrives first: it is in this piece.
            if let Some(at) = memchr::memmem::find(body, b"\r\n\r\n") {
                if !body.starts_with(b"HTTP/1.1 200") && !body.starts_with(b"HTTP/1.0 200") {
                    return Err(io::Error::other(format!(
                        "dump: {}",
                        String::from_utf8_lossy(&body[..at])
                    )));
                }
                body = &body[at + 4..];
                head = false;
            }
        }
        d.bytes += body.len() as u64;
        d.lines += memchr::memchr_iter(b'\n', body).count() as u64;
    }
    d.secs = t0.elapsed().as_secs_f64();
    Ok(d)
}

/// Dumps one after the other on a thread until stopped.
pub struct DumpLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<(u64, u64)>>>,
}

impl DumpLoop {
    pub fn start(query: &Path, fmt: &str) -> DumpLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let (q, f, st) = (query.to_owned(), fmt.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let (mut dumps, mut bytes) = (0, 0);
            let t0 = Instant::now();
            while !st.load(Ordering::Acquire) && t0.elapsed() < Duration::from_secs(600) {
                let d = dump(&q, &f, &mut buf)?;
                dumps += 1;
                bytes += d.bytes;
            }
            Ok((dumps, bytes))
        });
        DumpLoop {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops after the dump in progress; returns dumps completed and bytes.
    pub fn stop(mut self) -> Result<(u64, u64), String> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r.map_err(|e| e.to_string()),
            _ => Err("dump thread panicked".into()),
        }
    }
}

impl Drop for DumpLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Only every SAMPLE-th frame of a follower is timed, to keep the reader
/// cheap.
const SAMPLE: u64 = 8;
/// Latency samples kept at most.
const MAX_SAMPLES: usize = 20_000_000;

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    record: AtomicBool,
    /// Text frames that carried a message.
    messages: AtomicU64,
    /// Messages the daemon said a follower skipped.
    skipped: AtomicU64,
    /// Followers whose connection ended.
    closed: AtomicU64,
    samples: Mutex<Vec<u32>>,
    /// When `messages` reaches this (0: never), the reader sleeps once for
    /// `stall_ms`, as a reader the scheduler kept off its core would.
    stall_at: AtomicU64,
    stall_ms: AtomicU64,
    /// The reading thread's id, once it runs.
    tid: std::sync::atomic::AtomicI32,
    /// While recording: the most bytes seen waiting, unread, in all the
    /// followers' sockets at once (sampled every 10 ms). Large when the
    /// reader is behind; small while latency is high when the daemon is.
    backlog_max: AtomicU64,
}

/// `n` websocket followers of one daemon, read by one thread.
pub struct Followers {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    filled: usize,
    frames: u64,
    open: bool,
}

impl Followers {
    /// Connects `n` followers to `GET /ws?PARAMS` and starts reading.
    pub fn connect(query: &Path, n: usize, params: &str) -> Result<Followers, String> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(handshake(query, params).map_err(|e| format!("websocket: {e}"))?);
        }
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("followers".into())
            .spawn(move || {
                sh.tid.store(harness::gettid(), Ordering::Release);
                if let Err(e) = read_all(conns, &sh) {
                    eprintln!("followers: {e}");
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Followers {
            shared,
            thread: Some(thread),
        })
    }

    pub fn messages(&self) -> u64 {
        self.shared.messages.load(Ordering::Acquire)
    }

    pub fn skipped(&self) -> u64 {
        self.shared.skipped.load(Ordering::Acquire)
    }

    pub fn closed(&self) -> u64 {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Starts keeping latency samples (µs, send to receipt).
    pub fn record(&self, on: bool) {
        self.shared.record.store(on, Ordering::Release);
    }

    /// Makes the reader stop reading for `ms` once, when the followers
    /// have received `at` messages in all.
    pub fn stall_once(&self, at: u64, ms: u64) {
        self.shared.stall_ms.store(ms, Ordering::Release);
        self.shared.stall_at.store(at, Ordering::Release);
    }

    /// Sets the reading thread's nice value (below 0 needs `CAP_SYS_NICE`):
    /// the scheduler then gives it a core before the daemon and the sender.
    pub fn nice(&self, nice: i32) -> Result<(), String> {
        let tid = self.shared.tid.load(Ordering::Acquire);
        let pid = rustix::process::Pid::from_raw(tid).ok_or("the reader has not started")?;
        rustix::process::setpriority_process(Some(pid), nice)
            .map_err(|e| format!("setpriority({nice}) on the reader: {e}"))
    }

    /// The largest socket backlog seen since the last call (see
    /// `Shared::backlog_max`), in bytes.
    pub fn take_backlog_max(&self) -> u64 {
        self.shared.backlog_max.swap(0, Ordering::AcqRel)
    }

    pub fn take_samples(&self) -> Vec<u32> {
        self.shared
            .samples
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

impl Drop for Followers {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn handshake(query: &Path, params: &str) -> io::Result<Conn> {
    let mut s = UnixStream::connect(query)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /ws?{params} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let end = loop {
        let n = s.read(&mut buf[filled..])?;
        if n == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        filled += n;
        if let Some(at) = memchr::memmem::find(&buf[..filled], b"\r\n\r\n") {
            break at + 4;
        }
        if filled == buf.len() {
            return Err(io::Error::other("handshake answer too long"));
        }
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(
            String::from_utf8_lossy(&buf[..end]).into_owned(),
        ));
    }
    buf.copy_within(end..filled, 0);
    s.set_nonblocking(true)?;
    Ok(Conn {
        stream: s,
        buf,
        filled: filled - end,
        frames: 0,
        open: true,
    })
}

fn read_all(mut conns: Vec<Conn>, shared: &Shared) -> io::Result<()> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    for (i, c) in conns.iter().enumerate() {
        epoll::add(
            &ep,
            c.stream.as_fd(),
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )?;
    }
    let finder = memchr::memmem::Finder::new(SENT_MARK);
    let mut events: Vec<epoll::Event> = Vec::with_capacity(1024);
    let mut samples: Vec<u32> = Vec::new();
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 10_000_000,
    };
    let mut last_backlog = Instant::now();
    // The pending frames of each connection (already counted) are parsed
    // again from the buffer start; `Conn::filled` is what is unparsed.
    while !shared.stop.load(Ordering::Acquire) {
        events.clear();
        match epoll::wait(
            &ep,
            rustix::buffer::spare_capacity(&mut events),
            Some(&timeout),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let record = shared.record.load(Ordering::Acquire);
        if record && last_backlog.elapsed() >= Duration::from_millis(10) {
            last_backlog = Instant::now();
            let waiting: u64 = conns
                .iter()
                .filter(|c| c.open)
                .filter_map(|c| rustix::io::ioctl_fionread(&c.stream).ok())
                .sum();
            shared.backlog_max.fetch_max(waiting, Ordering::AcqRel);
        }
        let at = shared.stall_at.load(Ordering::Acquire);
        if at != 0 && shared.messages.load(Ordering::Acquire) >= at {
            shared.stall_at.store(0, Ordering::Release);
            let ms = shared.stall_ms.swap(0, Ordering::AcqRel);
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let (mut messages, mut skipped) = (0u64, 0u64);
        for ev in &events {
            let data = ev.data;
            let Some(c) = conns.get_mut(data.u64() as usize) else {
                continue;
            };
            if !c.open {
                continue;
            }
            // Read what is there (bounded, so that one busy follower
            // cannot starve the others).
            for _ in 0..4 {
                if c.filled == c.buf.len() {
                    let len = c.buf.len();
                    c.buf.resize(len * 2, 0);
                }
                match c.stream.read(&mut c.buf[c.filled..]) {
                    Ok(0) => {
                        c.open = false;
                        break;
                    }
                    Ok(n) => {
                        c.filled += n;
                        let now = harness::now_us();
                        let short = c.filled < c.buf.len();
                        let (m, s) = parse_frames(c, now, record, &finder, &mut samples);
                        messages += m;
                        skipped += s;
                        // A short read took all there was: spare the read
                        // that would say so (epoll reports what comes next).
                        if short {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        c.open = false;
                        break;
                    }
                }
            }
            if !c.open {
                let _ = epoll::delete(&ep, c.stream.as_fd());
                shared.closed.fetch_add(1, Ordering::AcqRel);
            }
        }
        shared.messages.fetch_add(messages, Ordering::AcqRel);
        shared.skipped.fetch_add(skipped, Ordering::AcqRel);
        if !samples.is_empty() {
            if let Ok(mut all) = shared.samples.lock()
                && all.len() < MAX_SAMPLES
            {
                all.append(&mut samples);
            }
            samples.clear();
        }
    }
    Ok(())
}

/// Takes the complete frames off the front of `c.buf`: returns the
/// messages and the skipped count they carried.
fn parse_frames(
    c: &mut Conn,
    now_us: u64,
    record: bool,
    finder: &memchr::memmem::Finder<'_>,
    samples: &mut Vec<u32>,
) -> (u64, u64) {
    let (mut messages, mut skipped) = (0, 0);
    let mut p = 0;
    let buf = &c.buf[..c.filled];
    while buf.len() - p >= 2 {
        let opcode = buf[p] & 0x0f;
        let len7 = (buf[p + 1] & 0x7f) as usize;
        let masked = buf[p + 1] & 0x80 != 0;
        let (mut hdr, len) = match len7 {
            126 if buf.len() - p >= 4 => (4, u16::from_be_bytes([buf[p + 2], buf[p + 3]]) as usize),
            127 if buf.len() - p >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[p + 2..p + 10]);
                (10, u64::from_be_bytes(b) as usize)
            }
            126 | 127 => break,
            n => (2, n),
        };
        if masked {
            hdr += 4;
        }
        if buf.len() - p < hdr + len {
            break;
        }
        let payload = &buf[p + hdr..p + hdr + len];
        p += hdr + len;
        match opcode {
            1 => {
                if payload.starts_with(b"{\"skipped\"") {
                    let digits: Vec<u8> = payload
                        .iter()
                        .copied()
                        .skip_while(|b| !b.is_ascii_digit())
                        .take_while(u8::is_ascii_digit)
                        .collect();
                    skipped += std::str::from_utf8(&digits)
                        .ok()
                        .and_then(|d| d.parse::<u64>().ok())
                        .unwrap_or(0);
                    continue;
                }
                messages += 1;
                c.frames += 1;
                if record
                    && c.frames.is_multiple_of(SAMPLE)
                    && let Some(at) = finder.find(payload)
                    && let Some(sent) = parse_digits(&payload[at + SENT_MARK.len()..])
                {
                    let lat = now_us.saturating_sub(sent).min(u64::from(u32::MAX));
                    samples.push(lat as u32);
                }
            }
            8 => c.open = false,
            _ => {}
        }
    }
    c.buf.copy_within(p..c.filled, 0);
    c.filled -= p;
    (messages, skipped)
}

/// Percentile (0..=100) of µs samples.
pub fn percentile(sorted: &[u32], pct: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * pct / 100.0).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)])
}
