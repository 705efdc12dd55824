//! Bare receivers, the practical limit that circologd is measured against:
//! each only takes the messages off its socket (`recvmmsg`, 64 at a time,
//! or `read` for TCP) and copies them into a preallocated buffer.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use circolog::store::ring::Incoming;

use crate::harness::{self, Sink};
use crate::multishot::{Multishot, TaskRun};
use circolog::sys::dgram;

/// Datagrams per `recvmmsg`.
const VLEN: usize = 64;
/// Room for one datagram (the largest sent here is ~1800 bytes).
const BUF: usize = 4096;
/// `CMSG_SPACE(sizeof(struct ucred))` on 64-bit Linux.
const CRED_SPACE: usize = 32;
/// Where the received bytes are copied, round and round.
const ARENA: usize = 64 << 20;
/// The receive buffer circologd asks for on its input sockets.
const RCVBUF: usize = 8 << 20;

/// What the receiving threads share with the benchmark.
#[derive(Default)]
struct Shared {
    count: AtomicU64,
    stop: AtomicBool,
    tid: AtomicI32,
}

/// A receiving thread: counts what it took in, stops when dropped.
struct Worker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Runs `body` on a thread named `name`, once that thread's id is known.
    fn spawn(name: &str, body: impl FnOnce(&Shared) + Send + 'static) -> Result<Worker, String> {
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                sh.tid.store(harness::gettid(), Ordering::Release);
                body(&sh);
            })
            .map_err(|e| e.to_string())?;
        while shared.tid.load(Ordering::Acquire) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(Worker {
            shared,
            thread: Some(thread),
        })
    }

    fn count(&self) -> Result<Option<u64>, String> {
        Ok(Some(self.shared.count.load(Ordering::Acquire)))
    }

    fn cpu(&self) -> Option<f64> {
        harness::cpu_secs(&format!(
            "self/task/{}",
            self.shared.tid.load(Ordering::Acquire)
        ))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A `recvmmsg` loop on a unix datagram or UDP socket.
pub struct DgramDrain {
    worker: Worker,
    pub path: Option<PathBuf>,
    pub addr: Option<SocketAddr>,
}

impl DgramDrain {
    /// Binds a unix datagram socket at `path`, with `SO_PASSCRED` when
    /// `credentials` (as circologd always does).
    pub fn unix(path: &Path, credentials: bool) -> Result<DgramDrain, String> {
        let s = UnixDatagram::bind(path).map_err(|e| format!("bind {}: {e}", path.display()))?;
        if credentials {
            rustix::net::sockopt::set_socket_passcred(&s, true).map_err(|e| e.to_string())?;
        }
        let mut d = DgramDrain::start(OwnedFd::from(s), credentials)?;
        d.path = Some(path.to_owned());
        Ok(d)
    }

    pub fn udp() -> Result<DgramDrain, String> {
        let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = s.local_addr().map_err(|e| e.to_string())?;
        let mut d = DgramDrain::start(OwnedFd::from(s), false)?;
        d.addr = Some(addr);
        Ok(d)
    }

    fn start(fd: OwnedFd, credentials: bool) -> Result<DgramDrain, String> {
        use rustix::net::sockopt;
        if sockopt::set_socket_recv_buffer_size_force(&fd, RCVBUF).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(&fd, RCVBUF);
        }
        sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_millis(100)),
        )
        .map_err(|e| e.to_string())?;
        let worker = Worker::spawn("drain", move |sh| recv_loop(&fd, credentials, sh))?;
        Ok(DgramDrain {
            worker,
            path: None,
            addr: None,
        })
    }
}

impl Sink for DgramDrain {
    fn label(&self) -> String {
        "the bare drain".into()
    }
    fn count(&mut self) -> Result<Option<u64>, String> {
        self.worker.count()
    }
    fn cpu(&self) -> Option<f64> {
        self.worker.cpu()
    }
}

fn recv_loop(fd: &OwnedFd, credentials: bool, shared: &Shared) {
    let mut bufs = vec![0u8; VLEN * BUF];
    let mut control = vec![0u8; VLEN * CRED_SPACE];
    // Touched now, so that page faults are not part of the measure.
    let mut arena = vec![1u8; ARENA];
    let mut at = 0;
    // SAFETY: iovec and mmsghdr are plain data; all-zero is a valid value.
    let mut iovs: Vec<libc::iovec> = (0..VLEN).map(|_| unsafe { std::mem::zeroed() }).collect();
    // SAFETY: as above.
    let mut hdrs: Vec<libc::mmsghdr> = (0..VLEN).map(|_| unsafe { std::mem::zeroed() }).collect();
    let mut pids = 0u64;
    while !shared.stop.load(Ordering::Acquire) {
        for (i, (h, iov)) in hdrs.iter_mut().zip(iovs.iter_mut()).enumerate() {
            iov.iov_base = bufs[i * BUF..].as_mut_ptr().cast();
            iov.iov_len = BUF;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            if credentials {
                h.msg_hdr.msg_control = control[i * CRED_SPACE..].as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = CRED_SPACE as _;
            }
        }
        // SAFETY: every header points at its own iovec, buffer and control
        // space, all alive and untouched for the duration of the call.
        let r = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                VLEN as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r <= 0 {
            // The receive timeout: look at the stop flag again.
            continue;
        }
        let n = r as usize;
        for (i, h) in hdrs.iter().enumerate().take(n) {
            let len = (h.msg_len as usize).min(BUF);
            if at + len > ARENA {
                at = 0;
            }
            arena[at..at + len].copy_from_slice(&bufs[i * BUF..i * BUF + len]);
            at += len;
            if credentials && h.msg_hdr.msg_controllen >= 28 {
                // struct cmsghdr (16 bytes), then struct ucred { pid, uid, gid }.
                let c = &control[i * CRED_SPACE + 16..i * CRED_SPACE + 20];
                pids = pids.wrapping_add(u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])));
            }
        }
        shared.count.fetch_add(n as u64, Ordering::Release);
    }
    std::hint::black_box((pids, &arena));
}

/// A receiver built from io_uring, in a blocking loop that only copies
/// each datagram into a preallocated buffer, like the drains: what the
/// receive with credentials costs, without circologd's event loop, parsing
/// or ring.
#[derive(Clone, Copy, Debug)]
pub enum Bare {
    /// circologd's own receive path (`circolog::sys::dgram`, the
    /// same code the daemon runs): io_uring poll, then `recvmmsg`.
    Circologd,
    /// The first design (`multishot.rs`): multishot `RecvMsgMulti` into
    /// provided buffers.
    Multishot(TaskRun),
}

/// What the loop needs of a bare receiver.
trait Receiver {
    fn unstick(&mut self) -> io::Result<usize>;
    fn pending(&mut self) -> bool;
    fn wait(&mut self, timeout: Duration) -> io::Result<()>;
    fn drain_all(
        &mut self,
        budget: usize,
        store: impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<(usize, bool)>;
}

impl Receiver for dgram::DgramIngest {
    fn unstick(&mut self) -> io::Result<usize> {
        dgram::DgramIngest::unstick(self)
    }
    fn pending(&mut self) -> bool {
        dgram::DgramIngest::pending(self)
    }
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        dgram::DgramIngest::wait(self, timeout)
    }
    fn drain_all(
        &mut self,
        budget: usize,
        store: impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<(usize, bool)> {
        dgram::DgramIngest::drain_all(self, budget, store)
    }
}

impl Receiver for Multishot {
    fn unstick(&mut self) -> io::Result<usize> {
        Multishot::unstick(self)
    }
    fn pending(&mut self) -> bool {
        Multishot::pending(self)
    }
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        Multishot::wait(self, timeout)
    }
    fn drain_all(
        &mut self,
        budget: usize,
        store: impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<(usize, bool)> {
        Multishot::drain_all(self, budget, store)
    }
}

/// A [`Bare`] receiver on a unix datagram socket.
pub struct UringDrain {
    worker: Worker,
    pub path: PathBuf,
    what: &'static str,
}

impl UringDrain {
    /// Binds a unix datagram socket at `path` with `SO_PASSCRED`, read by
    /// `bare`.
    pub fn unix(path: &Path, bare: Bare) -> Result<UringDrain, String> {
        let s = UnixDatagram::bind(path).map_err(|e| format!("bind {}: {e}", path.display()))?;
        circolog::daemon::listen::pass_credentials(&s).map_err(|e| e.to_string())?;
        let fd = OwnedFd::from(s);
        use rustix::net::sockopt;
        if sockopt::set_socket_recv_buffer_size_force(&fd, RCVBUF).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(&fd, RCVBUF);
        }
        let what = match bare {
            Bare::Circologd => "the bare io_uring receiver",
            Bare::Multishot(_) => "the bare multishot receiver",
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = Worker::spawn("uring-drain", move |sh| {
            // Created on this thread: the ring is single-issuer.
            let failed = match bare {
                Bare::Circologd => {
                    let source = dgram::Source {
                        fd,
                        transport: circolog::store::ring::Transport::Unix,
                        credentials: true,
                    };
                    dgram::DgramIngest::new(vec![source], MAX_MESSAGE, None)
                        .and_then(|mut i| i.start().map(|()| i))
                        .map(|i| {
                            let _ = tx.send(Ok(()));
                            uring_loop(i, sh, what);
                        })
                }
                Bare::Multishot(taskrun) => Multishot::new(fd, MAX_MESSAGE, taskrun).map(|m| {
                    let _ = tx.send(Ok(()));
                    uring_loop(m, sh, what);
                }),
            };
            if let Err(e) = failed {
                let _ = tx.send(Err(format!("{what}: {e}")));
            }
        })?;
        rx.recv().map_err(|e| e.to_string())??;
        Ok(UringDrain {
            worker,
            path: path.to_owned(),
            what,
        })
    }
}

/// A wait this long with no completion is quiet, as circologd's `INGEST_CHECK`.
const QUIET: Duration = Duration::from_millis(50);
/// circologd's default longest message: the receive buffers are as large.
const MAX_MESSAGE: usize = 16384;

fn uring_loop(mut ingest: impl Receiver, shared: &Shared, what: &str) {
    let mut arena = vec![1u8; ARENA];
    let mut at = 0;
    let mut pids = 0u64;
    let mut quiet = false;
    while !shared.stop.load(Ordering::Acquire) {
        // As circologd does after a quiet `INGEST_CHECK` (see
        // `DgramIngest::unstick`).
        if quiet {
            match ingest.unstick() {
                Ok(0) => {}
                Ok(_) => eprintln!("   {what}: read a socket gone quiet"),
                Err(e) => {
                    eprintln!("{what}: {e}");
                    return;
                }
            }
        }
        let waited = std::time::Instant::now();
        // A socket `unstick` found is drained before any wait.
        if !ingest.pending()
            && let Err(e) = ingest.wait(QUIET)
        {
            eprintln!("{what}: {e}");
            return;
        }
        let drained = ingest.drain_all(usize::MAX, |m| {
            let len = m.bytes.len();
            if at + len > ARENA {
                at = 0;
            }
            arena[at..at + len].copy_from_slice(m.bytes);
            at += len;
            pids = pids.wrapping_add(u64::from(m.cred.map_or(0, |c| c.pid)));
            true
        });
        match drained {
            Ok((n, _)) => {
                quiet = n == 0 && waited.elapsed() >= QUIET;
                shared.count.fetch_add(n as u64, Ordering::Release);
            }
            Err(e) => {
                eprintln!("{what}: {e}");
                return;
            }
        }
    }
    std::hint::black_box((pids, &arena));
}

impl Sink for UringDrain {
    fn label(&self) -> String {
        self.what.into()
    }
    fn count(&mut self) -> Result<Option<u64>, String> {
        self.worker.count()
    }
    fn cpu(&self) -> Option<f64> {
        self.worker.cpu()
    }
}

/// A TCP listener; each connection is read by its own thread, which counts
/// the newlines of what it reads.
pub struct TcpDrain {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl TcpDrain {
    pub fn start() -> Result<TcpDrain, String> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            let mut readers = Vec::new();
            while !sh.stop.load(Ordering::Acquire) {
                match l.accept() {
                    Ok((s, _)) => {
                        let sh = sh.clone();
                        readers.push(std::thread::spawn(move || read_loop(s, &sh)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for r in readers {
                let _ = r.join();
            }
        });
        Ok(TcpDrain {
            shared,
            thread: Some(thread),
            addr,
        })
    }
}

fn read_loop(mut s: std::net::TcpStream, shared: &Shared) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 256 * 1024];
    while !shared.stop.load(Ordering::Acquire) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let lines = memchr::memchr_iter(b'\n', &buf[..n]).count();
                shared.count.fetch_add(lines as u64, Ordering::Release);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
}

impl Sink for TcpDrain {
    fn label(&self) -> String {
        "the bare TCP drain".into()
    }
    fn count(&mut self) -> Result<Option<u64>, String> {
        Ok(Some(self.shared.count.load(Ordering::Acquire)))
    }
    fn cpu(&self) -> Option<f64> {
        None
    }
}

impl Drop for TcpDrain {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
