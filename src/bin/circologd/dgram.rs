//! The datagram hot path: unix datagram and UDP sockets, watched by an
//! io_uring of their own and read in batches of [`VLEN`] with `recvmmsg`.
//!
//! Each socket has a one-shot poll armed on the ring. When it fires, the
//! socket is read with non-blocking `recvmmsg` until it is empty (or the
//! turn's budget is spent), and only then is the poll armed again: one
//! wake-up, one completion and one `recvmmsg` serve up to 64 datagrams, and
//! a busy socket costs no ring work at all between batches. The ring is
//! created with `SINGLE_ISSUER | COOP_TASKRUN`, and a registered eventfd
//! tells the tokio-uring event loop that completions are posted. Everything
//! stays on the event loop's one thread.
//!
//! The first design read each socket with a multishot `RecvMsgMulti` into
//! provided buffers. It is kept as [`Receive::Multishot`]
//! (`CIRCOLOGD_RECEIVE=multishot`) for the benchmark, which measures both
//! side by side: with credentials on, the multishot receive took about
//! 0.86 × a bare `recvmmsg` drain of the same socket, the readiness path
//! about 1.0 × (`benches/README.md`).
//!
//! All of the daemon's `unsafe` is in this file: the `recvmmsg` headers
//! point into buffers the kernel writes, the kernel reads the
//! provided-buffer ring and writes the buffers, and the `msghdr` of a
//! `RecvMsgMulti` must stay put while the receive is armed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};

use circolog::ring::{Cred, Incoming, Transport};
use io_uring::types::{BufRingEntry, Fd, RecvMsgOut};
use io_uring::{IoUring, cqueue, opcode};
use memmap2::MmapMut;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Buffer group id of the provided buffers.
const BGID: u16 = 0;
/// `CMSG_SPACE(sizeof(struct ucred))` on 64-bit Linux.
const CRED_CMSG_SPACE: usize = 32;
/// `sizeof(struct io_uring_recvmsg_out)`: what precedes name, control and
/// payload in a `RecvMsgMulti` buffer.
const RECVMSG_OUT_LEN: usize = 16;
/// `IORING_ENTER_GETEVENTS`: also run pending completion work.
const ENTER_GETEVENTS: u32 = 1;
/// `user_data` of the cancellations `unstick` submits (sockets are numbered
/// from 0).
const CANCEL: u64 = u64::MAX;
/// Completion queue entries: a drain pass takes at most this many.
const CQ_ENTRIES: u32 = 4096;
/// Datagrams per `recvmmsg`, as the benchmark's bare drain.
pub const VLEN: usize = 64;

/// How the sockets are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receive {
    /// A one-shot poll on the ring, then `recvmmsg` until the socket is empty.
    Readiness,
    /// A multishot `RecvMsgMulti` (or `RecvMulti`) into provided buffers.
    Multishot,
}

/// How the kernel runs the ring's completion work (see `io_uring_setup(2)`).
///
/// `COOP_TASKRUN` by default. `DEFER_TASKRUN` gave nothing here: with the
/// readiness path the bare receiver of the benchmark took 0.99 × the
/// `recvmmsg` drain with it against 1.01 without, and with the multishot
/// receive it cost more (the loop entered the ring five times as often for
/// the same datagrams, a few completions per enter; `benches/README.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskRun {
    /// `DEFER_TASKRUN`: only when this thread enters the ring.
    Defer,
    /// `COOP_TASKRUN`: at this thread's next system call.
    Coop,
    /// Neither: the kernel interrupts this thread to run them at once.
    Signal,
}

/// Tuning of the receive path (benchmarks try alternatives).
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    pub receive: Receive,
    /// Number of provided buffers for [`Receive::Multishot`] (a power of
    /// two, at most 32768).
    pub buffers: u16,
    pub taskrun: TaskRun,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            receive: Receive::Readiness,
            buffers: 512,
            taskrun: TaskRun::Coop,
        }
    }
}

impl Tuning {
    /// `CIRCOLOGD_RECEIVE=readiness|multishot`, `CIRCOLOGD_TASKRUN=coop|defer|signal`
    /// and `CIRCOLOGD_BUFFERS=N` override the defaults, for benchmarks.
    pub fn from_env() -> Tuning {
        let mut t = Tuning::default();
        match std::env::var("CIRCOLOGD_RECEIVE").as_deref() {
            Ok("multishot") => t.receive = Receive::Multishot,
            Ok("readiness") => t.receive = Receive::Readiness,
            _ => {}
        }
        match std::env::var("CIRCOLOGD_TASKRUN").as_deref() {
            Ok("defer") => t.taskrun = TaskRun::Defer,
            Ok("coop") => t.taskrun = TaskRun::Coop,
            Ok("signal") => t.taskrun = TaskRun::Signal,
            _ => {}
        }
        if let Some(n) = std::env::var("CIRCOLOGD_BUFFERS")
            .ok()
            .and_then(|v| v.parse::<u16>().ok())
            .filter(|n| n.is_power_of_two() && *n <= 32768)
        {
            t.buffers = n;
        }
        t
    }
}

/// A socket the hot path reads.
pub struct Source {
    pub fd: OwnedFd,
    pub transport: Transport,
    /// Unix datagram sockets carry `SCM_CREDENTIALS` (SO_PASSCRED is set).
    pub credentials: bool,
}

struct Armed {
    source: Source,
    /// For `RecvMsgMulti`: the template the kernel reads while armed.
    /// INVARIANT: boxed, and never moved or dropped while the receive is armed.
    msghdr: Option<Box<libc::msghdr>>,
    /// A completion came (or, with [`Receive::Readiness`], a datagram was
    /// read) since `unstick` last looked.
    heard: bool,
    /// [`Receive::Readiness`]: the socket is to be read until it is empty.
    ready: bool,
    /// [`Receive::Readiness`]: a poll is armed on the ring.
    polling: bool,
}

pub struct DgramIngest {
    uring: IoUring,
    /// Where datagrams land, which says how the sockets are read.
    buffers: Buffers,
    sockets: Vec<Armed>,
    eventfd: OwnedFd,
    /// Sockets whose receive (or poll) ended and must be armed again.
    rearm: Vec<usize>,
}

impl DgramIngest {
    /// Sets up the ring, the provided buffers and one receive per socket.
    /// `max_message` is the longest datagram stored whole; one more byte is
    /// read so that longer ones are seen as truncated.
    pub fn new(sources: Vec<Source>, max_message: usize, tuning: Tuning) -> io::Result<Self> {
        let mut builder = IoUring::builder();
        // TASKRUN_FLAG: the kernel flags pending work in the ring's memory,
        // so that `pending` needs no system call.
        builder.setup_cqsize(CQ_ENTRIES).setup_single_issuer();
        match tuning.taskrun {
            TaskRun::Defer => {
                builder.setup_defer_taskrun().setup_taskrun_flag();
            }
            TaskRun::Coop => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            TaskRun::Signal => {}
        }
        let uring = builder.build(64)?;
        let buffers = match tuning.receive {
            Receive::Readiness => Buffers::Batch(Batch::new(max_message + 1)?),
            Receive::Multishot => {
                let buf_len = RECVMSG_OUT_LEN + CRED_CMSG_SPACE + max_message + 1;
                Buffers::Provided(ProvidedBuffers::new(&uring, tuning.buffers, buf_len)?)
            }
        };
        let eventfd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::NONBLOCK | rustix::event::EventfdFlags::CLOEXEC,
        )?;
        uring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        let sockets = sources
            .into_iter()
            .map(|source| {
                let multishot = tuning.receive == Receive::Multishot;
                let msghdr = (multishot && source.credentials).then(|| {
                    // SAFETY: msghdr is plain data; all-zero is a valid value.
                    let mut h: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
                    h.msg_controllen = CRED_CMSG_SPACE as _;
                    h
                });
                Armed {
                    source,
                    msghdr,
                    heard: false,
                    ready: false,
                    polling: false,
                }
            })
            .collect::<Vec<_>>();
        let rearm = (0..sockets.len()).collect();
        Ok(DgramIngest {
            uring,
            buffers,
            sockets,
            eventfd,
            rearm,
        })
    }

    /// The eventfd the kernel signals when completions wait to be run, for
    /// the event loop to await.
    pub fn eventfd(&self) -> io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: the AsyncFd owns this OwnedFd, so the fd stays open and is
        // not reused for as long as it is registered.
        unsafe { AsyncFd::register_with_interest(self.eventfd.try_clone()?, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// Arms the receives; call once, on the event loop.
    pub fn start(&mut self) -> io::Result<()> {
        self.arm()
    }

    fn receive(&self) -> Receive {
        match self.buffers {
            Buffers::Batch(_) => Receive::Readiness,
            Buffers::Provided(_) => Receive::Multishot,
        }
    }

    /// Whether datagrams wait to be stored: a read of the ring's flags and
    /// tail, no system call. Long-running work on the event loop (dumps,
    /// followers) checks it between slices and drains first, so that
    /// ingestion never waits for them.
    pub fn pending(&mut self) -> bool {
        let sq = self.uring.submission();
        let flagged = sq.taskrun() || sq.cq_overflow();
        drop(sq);
        flagged || !self.uring.completion().is_empty() || self.sockets.iter().any(|a| a.ready)
    }

    /// Hands what has arrived to `store` (which says whether it kept the
    /// message), pass after pass while more keeps coming, up to about
    /// `budget` messages. Returns how many were kept and whether work was
    /// left for later.
    pub fn drain_all(
        &mut self,
        budget: usize,
        mut store: impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<(usize, bool)> {
        let mut stored = 0;
        let mut taken = 0;
        loop {
            let (s, t) = self.drain(&mut store)?;
            stored += s;
            taken += t;
            if t == 0 || !self.pending() {
                return Ok((stored, false));
            }
            if taken >= budget {
                return Ok((stored, true));
            }
        }
    }

    /// Blocks until a completion is posted or `timeout` passes: for a
    /// receiver that has nothing else to wait for (the benchmark's bare
    /// io_uring receiver; the daemon waits on the eventfd instead).
    #[allow(dead_code)]
    pub fn wait(&mut self, timeout: std::time::Duration) -> io::Result<()> {
        let ts = io_uring::types::Timespec::from(timeout);
        let args = io_uring::types::SubmitArgs::new().timespec(&ts);
        match self.uring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// One pass: run pending completion work, hand what was received to
    /// `store`, re-arm what ended. Returns how many messages were kept and
    /// how many completions and datagrams were taken.
    fn drain(
        &mut self,
        store: &mut impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<(usize, usize)> {
        let sq = self.uring.submission();
        let flagged = sq.taskrun() || sq.cq_overflow();
        // A re-arm an interrupted enter left unsubmitted goes in now.
        let queued = sq.len() as u32;
        drop(sq);
        if flagged || queued > 0 {
            self.enter(queued)?;
        }
        let now_us = now_us();
        let done = match self.receive() {
            Receive::Readiness => self.take_ready(now_us, store),
            Receive::Multishot => self.take_multishot(now_us, store),
        };
        self.arm()?;
        Ok(done)
    }

    /// [`Receive::Readiness`]: notes which polls fired, then reads one batch
    /// from every socket that is ready. A socket stays ready until a
    /// `recvmmsg` finds it empty; its poll is then armed again (and fires at
    /// once if a datagram came in between).
    fn take_ready(
        &mut self,
        now_us: i64,
        store: &mut impl FnMut(Incoming<'_>) -> bool,
    ) -> (usize, usize) {
        let DgramIngest {
            uring,
            buffers,
            sockets,
            rearm,
            ..
        } = self;
        let mut taken = 0;
        for cqe in uring.completion() {
            taken += 1;
            let Some(armed) = sockets.get_mut(cqe.user_data() as usize) else {
                continue;
            };
            armed.polling = false;
            armed.heard = true;
            // Whatever the poll says, the read tells (and clears) the rest.
            armed.ready = true;
            let res = cqe.result();
            if res < 0 {
                eprintln!(
                    "circologd: waiting on a {} socket failed: {}",
                    armed.source.transport.name(),
                    io::Error::from_raw_os_error(-res)
                );
            }
        }
        let Buffers::Batch(batch) = buffers else {
            return (0, taken);
        };
        let mut stored = 0;
        for (idx, armed) in sockets.iter_mut().enumerate() {
            if !armed.ready {
                continue;
            }
            let source = &armed.source;
            let n = match batch.recv(source.fd.as_fd(), source.credentials) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!(
                        "circologd: receive on a {} socket failed: {e}",
                        source.transport.name()
                    );
                    0
                }
            };
            taken += n;
            armed.heard |= n > 0;
            for i in 0..n {
                let (bytes, truncated, cred) = batch.get(i);
                let msg = Incoming {
                    received_us: now_us,
                    transport: source.transport,
                    cred,
                    truncated,
                    bytes,
                };
                if store(msg) {
                    stored += 1;
                }
            }
            if n == 0 {
                armed.ready = false;
                if !armed.polling {
                    rearm.push(idx);
                }
            }
        }
        (stored, taken)
    }

    /// [`Receive::Multishot`]: hands the completions to `store`, recycles
    /// their buffers and notes the receives that ended.
    fn take_multishot(
        &mut self,
        now_us: i64,
        store: &mut impl FnMut(Incoming<'_>) -> bool,
    ) -> (usize, usize) {
        let mut stored = 0;
        let mut taken = 0;
        let DgramIngest {
            uring,
            buffers,
            sockets,
            rearm,
            ..
        } = self;
        let Buffers::Provided(bufs) = buffers else {
            return (0, 0);
        };
        for cqe in uring.completion() {
            taken += 1;
            if cqe.user_data() == CANCEL {
                continue;
            }
            let idx = cqe.user_data() as usize;
            let flags = cqe.flags();
            if !cqueue::more(flags) {
                rearm.push(idx);
            }
            let Some(armed) = sockets.get_mut(idx) else {
                continue;
            };
            armed.heard = true;
            let res = cqe.result();
            if res < 0 {
                // ENOBUFS ends the receive until buffers come back, and
                // ECANCELED is `unstick` at work (both re-armed below);
                // anything else is a socket error worth a line.
                if res != -libc::ENOBUFS && res != -libc::ECANCELED {
                    eprintln!(
                        "circologd: receive on a {} socket failed: {}",
                        armed.source.transport.name(),
                        io::Error::from_raw_os_error(-res)
                    );
                }
                continue;
            }
            let Some(bid) = cqueue::buffer_select(flags) else {
                continue;
            };
            let data = bufs.filled(bid, res as usize);
            let mut msg = Incoming {
                received_us: now_us,
                transport: armed.source.transport,
                cred: None,
                truncated: false,
                bytes: data,
            };
            let out;
            if let Some(h) = &armed.msghdr {
                match RecvMsgOut::parse(data, h) {
                    Ok(o) => out = o,
                    Err(()) => {
                        bufs.recycle(bid);
                        continue;
                    }
                }
                msg.bytes = out.payload_data();
                msg.cred = parse_cred(out.control_data());
                msg.truncated = out.is_payload_truncated();
            }
            if store(msg) {
                stored += 1;
            }
            bufs.recycle(bid);
        }
        bufs.publish();
        (stored, taken)
    }

    /// Enters the ring whatever its flags say: submits anything queued and
    /// runs pending completion work. Returns whether completions wait.
    pub fn kick(&mut self) -> io::Result<bool> {
        let queued = self.uring.submission().len() as u32;
        self.enter(queued)?;
        Ok(self.pending())
    }

    /// Reads again every socket that has a datagram waiting although
    /// nothing came from it since the last call: call it every little
    /// while, after `kick` found no completion waiting. Returns how many
    /// such sockets were found.
    ///
    /// An armed multishot receive was seen to stop taking datagrams under
    /// load (in the benchmark's runs of 1000-byte datagrams sent with
    /// `sendmmsg`, about once in ten million): no completion, nothing
    /// pending in the ring, the receive parked on the socket's wait queue
    /// and the socket's queue full, so that the blocked sender never wrote
    /// again to wake it. With [`Receive::Multishot`] the receive is
    /// cancelled (it ends with `ECANCELED`) and the new receive armed in its
    /// place reads what is queued at once. With [`Receive::Readiness`] the
    /// socket is simply marked ready, for the next drain to read; its poll
    /// stays armed, and a late completion costs one empty `recvmmsg`.
    pub fn unstick(&mut self) -> io::Result<usize> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let receive = self.receive();
        let mut sq = self.uring.submission();
        let mut restarted = 0;
        for (idx, armed) in self.sockets.iter_mut().enumerate() {
            let heard = std::mem::take(&mut armed.heard);
            if heard || armed.ready || self.rearm.contains(&idx) {
                continue;
            }
            let mut fds = [PollFd::new(&armed.source.fd, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            rustix::event::poll(&mut fds, Some(&zero))?;
            if !fds[0].revents().contains(PollFlags::IN) {
                continue;
            }
            restarted += 1;
            if receive == Receive::Readiness {
                armed.ready = true;
                continue;
            }
            let entry = opcode::AsyncCancel::new(idx as u64)
                .build()
                .user_data(CANCEL);
            // SAFETY: a cancellation refers to no memory of ours.
            if unsafe { sq.push(&entry) }.is_err() {
                break;
            }
        }
        let queued = sq.len() as u32;
        drop(sq);
        if queued > 0 {
            self.enter(queued)?;
        }
        Ok(restarted)
    }

    /// Arms a poll (or a multishot receive) on every socket waiting for one.
    fn arm(&mut self) -> io::Result<()> {
        if self.rearm.is_empty() {
            return Ok(());
        }
        let receive = self.receive();
        let mut sq = self.uring.submission();
        let mut queued = 0;
        for idx in self.rearm.drain(..) {
            let Some(armed) = self.sockets.get_mut(idx) else {
                continue;
            };
            let fd = Fd(armed.source.fd.as_raw_fd());
            let entry = match (receive, &armed.msghdr) {
                (Receive::Readiness, _) if armed.polling => continue,
                (Receive::Readiness, _) => {
                    armed.polling = true;
                    opcode::PollAdd::new(fd, libc::POLLIN as u32).build()
                }
                (Receive::Multishot, Some(h)) => opcode::RecvMsgMulti::new(fd, &**h, BGID).build(),
                (Receive::Multishot, None) => opcode::RecvMulti::new(fd, BGID).build(),
            }
            .user_data(idx as u64);
            // SAFETY: a poll refers to no memory of ours. For a receive, the
            // socket and the boxed msghdr live in `self.sockets` as long as
            // the ring, and the provided buffers in `self.buffers`.
            // The submission queue has 64 entries, more than sockets.
            unsafe {
                if sq.push(&entry).is_err() {
                    return Err(io::Error::other("io_uring submission queue full"));
                }
            }
            queued += 1;
        }
        drop(sq);
        self.enter(queued)
    }

    /// Submits what is queued and runs pending completion work, without waiting.
    fn enter(&self, to_submit: u32) -> io::Result<()> {
        let submitter = self.uring.submitter();
        // SAFETY: no argument pointer is passed; flags only.
        let r = unsafe { submitter.enter::<libc::sigset_t>(to_submit, 0, ENTER_GETEVENTS, None) };
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Reads `SCM_CREDENTIALS` from a control message buffer.
fn parse_cred(control: &[u8]) -> Option<Cred> {
    // struct cmsghdr { size_t len; int level; int type; } then struct ucred.
    let word = |at: usize| -> Option<[u8; 4]> { control.get(at..at + 4)?.try_into().ok() };
    let level = i32::from_ne_bytes(word(8)?);
    let kind = i32::from_ne_bytes(word(12)?);
    if level != libc::SOL_SOCKET || kind != libc::SCM_CREDENTIALS {
        return None;
    }
    Some(Cred {
        pid: u32::from_ne_bytes(word(16)?),
        uid: u32::from_ne_bytes(word(20)?),
        gid: u32::from_ne_bytes(word(24)?),
    })
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Where datagrams land.
enum Buffers {
    /// [`Receive::Readiness`]: where `recvmmsg` writes.
    Batch(Batch),
    /// [`Receive::Multishot`]: the kernel's buffers.
    Provided(ProvidedBuffers),
}

/// Room for one `recvmmsg` of [`VLEN`] datagrams with their credentials.
struct Batch {
    /// `VLEN` buffers of `len` bytes, faulted in at start-up, never dumped.
    data: MmapMut,
    len: usize,
    /// `VLEN` control buffers of `CRED_CMSG_SPACE` bytes.
    control: Vec<u8>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(len: usize) -> io::Result<Batch> {
        let mut data = memmap2::MmapOptions::new()
            .len(VLEN * len)
            .populate()
            .map_anon()?;
        let _ = data.advise(memmap2::Advice::DontDump);
        let iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: 0,
        };
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        Ok(Batch {
            data,
            len,
            control: vec![0; VLEN * CRED_CMSG_SPACE],
            iovs: vec![iov; VLEN],
            hdrs: vec![hdr; VLEN],
        })
    }

    /// Reads up to `VLEN` datagrams from `fd` without waiting. Returns how
    /// many were read: 0 when none waits.
    fn recv(&mut self, fd: BorrowedFd<'_>, credentials: bool) -> io::Result<usize> {
        let base = self.data.as_mut_ptr();
        for (i, (h, iov)) in self.hdrs.iter_mut().zip(self.iovs.iter_mut()).enumerate() {
            // SAFETY: `i < VLEN`, so the buffer is inside the mapping.
            iov.iov_base = unsafe { base.add(i * self.len) }.cast();
            iov.iov_len = self.len;
            h.msg_len = 0;
            h.msg_hdr.msg_name = std::ptr::null_mut();
            h.msg_hdr.msg_namelen = 0;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_flags = 0;
            if credentials {
                h.msg_hdr.msg_control = self.control[i * CRED_CMSG_SPACE..].as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = CRED_CMSG_SPACE as _;
            } else {
                h.msg_hdr.msg_control = std::ptr::null_mut();
                h.msg_hdr.msg_controllen = 0;
            }
        }
        // SAFETY: `VLEN` headers, each pointing at its own iovec, buffer
        // and control space (or none), all owned by `self` and neither
        // moved nor read while the call runs; the kernel writes no further
        // than the lengths given.
        let r = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                VLEN as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
            _ => Err(e),
        }
    }

    /// Datagram `i` of the last `recv`: its bytes, whether it was longer
    /// than the buffer, and its sender's credentials.
    fn get(&self, i: usize) -> (&[u8], bool, Option<Cred>) {
        let h = &self.hdrs[i];
        let n = (h.msg_len as usize).min(self.len);
        let bytes = &self.data[i * self.len..i * self.len + n];
        let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        // `size_t` with glibc, `socklen_t` with musl.
        #[allow(clippy::unnecessary_cast)]
        let controllen = (h.msg_hdr.msg_controllen as usize).min(CRED_CMSG_SPACE);
        let cred = if h.msg_hdr.msg_control.is_null() {
            None
        } else {
            parse_cred(&self.control[i * CRED_CMSG_SPACE..i * CRED_CMSG_SPACE + controllen])
        };
        (bytes, truncated, cred)
    }
}

/// A ring of buffers the kernel picks from for each received datagram.
struct ProvidedBuffers {
    /// The `io_uring_buf` entries the kernel reads; page aligned.
    _ring_mem: MmapMut,
    ring: *mut BufRingEntry,
    /// The buffers themselves, `count * len` bytes.
    _data_mem: MmapMut,
    data: *mut u8,
    count: u16,
    len: usize,
    /// Our copy of the ring tail; published to the kernel by `publish`.
    tail: u16,
}

impl ProvidedBuffers {
    fn new(uring: &IoUring, count: u16, len: usize) -> io::Result<Self> {
        if !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::other("buffer count must be a power of two"));
        }
        let mut ring_mem = MmapMut::map_anon(count as usize * std::mem::size_of::<BufRingEntry>())?;
        // Faulted in now, like the arena, so that resident memory is fixed
        // from start-up rather than growing as the kernel first uses each
        // buffer. Datagrams pass through them: never in a core dump.
        let mut data_mem = memmap2::MmapOptions::new()
            .len(count as usize * len)
            .populate()
            .map_anon()?;
        let _ = data_mem.advise(memmap2::Advice::DontDump);
        let ring = ring_mem.as_mut_ptr().cast::<BufRingEntry>();
        let data = data_mem.as_mut_ptr();
        let mut bufs = ProvidedBuffers {
            _ring_mem: ring_mem,
            ring,
            _data_mem: data_mem,
            data,
            count,
            len,
            tail: 0,
        };
        // SAFETY: `ring` points to `count` zeroed entries in a page-aligned
        // mapping owned by `bufs`, which the ring's owner keeps alive as long
        // as the io_uring instance.
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring as u64, count, BGID, 0)?;
        }
        for bid in 0..count {
            bufs.recycle(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// The first `n` bytes the kernel wrote into buffer `bid`.
    fn filled(&self, bid: u16, n: usize) -> &[u8] {
        let bid = (bid % self.count) as usize;
        let n = n.min(self.len);
        // SAFETY: the kernel handed `bid` to us in a completion; it does not
        // write that buffer again until `recycle` gives it back, which needs
        // `&mut self` and so ends this borrow first.
        unsafe { std::slice::from_raw_parts(self.data.add(bid * self.len), n) }
    }

    /// Queues buffer `bid` for the kernel (visible after `publish`).
    fn recycle(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        let bid = bid % self.count;
        // SAFETY: `idx < count`. The kernel only reads entries between its
        // head and the published tail; this one is past the tail, and it
        // cannot be lapped because only `count` buffers exist.
        let entry = unsafe { &mut *self.ring.add(idx) };
        // SAFETY: `bid < count`, so the address is inside the data mapping.
        entry.set_addr(unsafe { self.data.add(bid as usize * self.len) } as u64);
        entry.set_len(self.len as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the recycled buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the mapping we
        // own; it is only read by the kernel, and written here with release
        // ordering after the entries, as the io_uring ABI requires.
        unsafe {
            let tail = BufRingEntry::tail(self.ring).cast_mut();
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }
}

/// Turns on `SO_PASSCRED` so that each datagram carries its sender's
/// credentials, as the kernel saw them.
pub fn pass_credentials(fd: impl AsFd) -> io::Result<()> {
    rustix::net::sockopt::set_socket_passcred(fd, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scm_credentials() {
        let mut c = vec![0u8; 32];
        c[0..8].copy_from_slice(&28usize.to_ne_bytes());
        c[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        c[12..16].copy_from_slice(&libc::SCM_CREDENTIALS.to_ne_bytes());
        c[16..20].copy_from_slice(&4242u32.to_ne_bytes());
        c[20..24].copy_from_slice(&1000u32.to_ne_bytes());
        c[24..28].copy_from_slice(&100u32.to_ne_bytes());
        assert_eq!(
            parse_cred(&c),
            Some(Cred {
                pid: 4242,
                uid: 1000,
                gid: 100
            })
        );
        assert_eq!(parse_cred(&c[..20]), None);
        c[12] = 9;
        assert_eq!(parse_cred(&c), None);
    }

    /// A receive on a unix datagram socket, with the ring set up so that
    /// datagrams stay queued in the socket until the ring is entered.
    fn receiver(receive: Receive) -> (DgramIngest, std::os::unix::net::UnixDatagram) {
        let (rx, tx) = std::os::unix::net::UnixDatagram::pair().unwrap();
        // A full socket fails the test rather than hanging it.
        tx.set_write_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        pass_credentials(&rx).unwrap();
        let source = Source {
            fd: OwnedFd::from(rx),
            transport: Transport::Unix,
            credentials: true,
        };
        let tuning = Tuning {
            receive,
            buffers: 8,
            taskrun: TaskRun::Defer,
        };
        let mut ingest = DgramIngest::new(vec![source], 1024, tuning).unwrap();
        ingest.start().unwrap();
        (ingest, tx)
    }

    type Got = Vec<(Vec<u8>, Option<u32>)>;

    /// Everything the receive hands over until nothing more comes.
    fn received(ingest: &mut DgramIngest) -> Got {
        let mut got = Vec::new();
        for _ in 0..10 {
            ingest.kick().unwrap();
            ingest
                .drain_all(usize::MAX, |m| {
                    got.push((m.bytes.to_vec(), m.cred.map(|c| c.pid)));
                    true
                })
                .unwrap();
        }
        got
    }

    fn send(tx: &std::os::unix::net::UnixDatagram, tag: &str, n: usize) {
        for i in 0..n {
            tx.send(format!("<13>{tag} {i}").as_bytes()).unwrap();
        }
    }

    /// `(tag, n)` sent as `send` does, with this process's pid.
    fn sent(tags: &[(&str, usize)]) -> Got {
        let pid = std::process::id();
        tags.iter()
            .flat_map(|&(tag, n)| (0..n).map(move |i| format!("<13>{tag} {i}")))
            .map(|m| (m.into_bytes(), Some(pid)))
            .collect()
    }

    /// Datagrams queued while the socket has given nothing since the last
    /// look are read by `unstick`, and only those: nothing lost, nothing
    /// read twice, even past the provided buffers or a `recvmmsg` batch.
    fn quiet_sockets_are_read_again(receive: Receive) {
        let (mut ingest, tx) = receiver(receive);
        // Queued in the socket while the ring is silent.
        send(&tx, "one", 5);
        assert_eq!(ingest.unstick().unwrap(), 1);
        assert_eq!(received(&mut ingest), sent(&[("one", 5)]));
        // Nothing waits: nothing to do.
        assert_eq!(ingest.unstick().unwrap(), 0);
        // Datagrams wait, but some were taken since the last look.
        send(&tx, "two", 3);
        ingest.kick().unwrap();
        ingest.drain_all(usize::MAX, |_| true).unwrap();
        send(&tx, "three", 4);
        assert_eq!(ingest.unstick().unwrap(), 0);
        assert_eq!(ingest.unstick().unwrap(), 1);
        send(&tx, "four", 3 * VLEN);
        assert_eq!(
            received(&mut ingest),
            sent(&[("three", 4), ("four", 3 * VLEN)]),
            "lost or repeated datagrams"
        );
    }

    #[test]
    fn a_quiet_socket_with_datagrams_waiting_is_read_again() {
        quiet_sockets_are_read_again(Receive::Readiness);
    }

    #[test]
    fn a_socket_whose_poll_never_fires_is_read_by_the_check() {
        let (rx, tx) = std::os::unix::net::UnixDatagram::pair().unwrap();
        pass_credentials(&rx).unwrap();
        let source = Source {
            fd: OwnedFd::from(rx),
            transport: Transport::Unix,
            credentials: true,
        };
        let mut ingest = DgramIngest::new(vec![source], 1024, Tuning::default()).unwrap();
        // As if its poll were armed and the kernel's wake-up lost.
        ingest.rearm.clear();
        ingest.sockets[0].polling = true;
        send(&tx, "lost", 3);
        let mut got = Vec::new();
        let mut take = |ingest: &mut DgramIngest| {
            ingest.kick().unwrap();
            ingest
                .drain_all(usize::MAX, |m| {
                    got.push((m.bytes.to_vec(), m.cred.map(|c| c.pid)));
                    true
                })
                .unwrap()
        };
        assert_eq!(take(&mut ingest), (0, false), "read with no poll fired");
        assert_eq!(ingest.unstick().unwrap(), 1);
        assert_eq!(take(&mut ingest), (3, false));
        assert_eq!(ingest.unstick().unwrap(), 0, "nothing waits any more");
        assert_eq!(got, sent(&[("lost", 3)]));
    }

    #[test]
    fn a_stopped_multishot_receive_is_restarted() {
        quiet_sockets_are_read_again(Receive::Multishot);
    }

    #[test]
    fn a_turn_stops_at_its_budget_and_the_rest_waits_in_order() {
        for receive in [Receive::Readiness, Receive::Multishot] {
            let (mut ingest, tx) = receiver(receive);
            send(&tx, "m", 3 * VLEN);
            ingest.kick().unwrap();
            let mut got = Vec::new();
            let mut take = |ingest: &mut DgramIngest, budget| {
                ingest
                    .drain_all(budget, |m| {
                        got.push((m.bytes.to_vec(), m.cred.map(|c| c.pid)));
                        true
                    })
                    .unwrap()
            };
            let (first, more) = take(&mut ingest, VLEN);
            assert!(more, "{receive:?}: a turn went past its budget");
            assert!((VLEN..2 * VLEN).contains(&first), "{receive:?}: {first}");
            assert!(ingest.pending(), "{receive:?}: the rest is not pending");
            while take(&mut ingest, VLEN).1 {}
            got.extend(received(&mut ingest));
            assert_eq!(got, sent(&[("m", 3 * VLEN)]), "{receive:?}");
        }
    }

    #[test]
    fn long_datagrams_are_cut_and_flagged_and_udp_has_no_credentials() {
        let (unix_rx, unix_tx) = std::os::unix::net::UnixDatagram::pair().unwrap();
        pass_credentials(&unix_rx).unwrap();
        let udp_rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp_tx.connect(udp_rx.local_addr().unwrap()).unwrap();
        let sources = vec![
            Source {
                fd: OwnedFd::from(unix_rx),
                transport: Transport::Unix,
                credentials: true,
            },
            Source {
                fd: OwnedFd::from(udp_rx),
                transport: Transport::Udp,
                credentials: false,
            },
        ];
        let mut ingest = DgramIngest::new(sources, 1024, Tuning::default()).unwrap();
        ingest.start().unwrap();
        unix_tx.send(&[b'x'; 2000]).unwrap();
        unix_tx.send(b"<13>short").unwrap();
        udp_tx.send(b"<13>by udp").unwrap();
        let mut got = Vec::new();
        for _ in 0..200 {
            ingest.kick().unwrap();
            ingest
                .drain_all(usize::MAX, |m| {
                    got.push((
                        m.transport,
                        m.bytes.to_vec(),
                        m.truncated,
                        m.cred.map(|c| c.pid),
                    ));
                    true
                })
                .unwrap();
            if got.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pid = Some(std::process::id());
        assert_eq!(
            got,
            vec![
                (Transport::Unix, vec![b'x'; 1025], true, pid),
                (Transport::Unix, b"<13>short".to_vec(), false, pid),
                (Transport::Udp, b"<13>by udp".to_vec(), false, None),
            ]
        );
    }
}
