//! The first design of circologd's datagram receive, kept here to be
//! measured beside the one circologd uses (`src/sys/dgram.rs`):
//! a multishot `RecvMsgMulti` on the socket, into a ring of provided
//! buffers, with `SCM_CREDENTIALS`. Over ten ingest sections it took about
//! 0.86 × a bare `recvmmsg` drain where the poll-then-`recvmmsg` path
//! takes about 1.0 × (`benches/README.md`, "Why the receive path
//! changed"); it also stopped taking datagrams about once in ten million
//! under load, which [`Multishot::unstick`] repairs as circologd's check
//! does.
//!
//! The kernel reads the provided-buffer ring and writes the buffers, and
//! reads the `msghdr` template for as long as the receive is armed: those
//! are the `unsafe` blocks here.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use circolog::store::ring::{Incoming, Transport};
use io_uring::types::{BufRingEntry, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode};
use memmap2::MmapMut;

use circolog::sys::{self, CRED_CMSG_SPACE};

/// Buffer group id of the provided buffers.
const BGID: u16 = 0;
/// `sizeof(struct io_uring_recvmsg_out)`: what precedes name, control and
/// payload in a `RecvMsgMulti` buffer.
const RECVMSG_OUT_LEN: usize = 16;
/// `user_data` of the receive, and of the cancellations `unstick` submits.
const RECEIVE: u64 = 0;
const CANCEL: u64 = u64::MAX;
/// Completion queue entries: a drain pass takes at most this many.
const CQ_ENTRIES: u32 = 4096;
/// Provided buffers: with 512 the receive was re-armed about once per
/// 1 900 datagrams, so more would not change anything measurable.
pub const BUFFERS: u16 = 512;

/// How the kernel runs the ring's completion work (see `io_uring_setup(2)`).
/// circologd uses `COOP_TASKRUN`; with this receive `DEFER_TASKRUN` cost
/// more (the loop entered the ring five times as often for the same
/// datagrams).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskRun {
    /// `DEFER_TASKRUN`: only when this thread enters the ring.
    Defer,
    /// `COOP_TASKRUN`: at this thread's next system call.
    Coop,
    /// Neither: the kernel interrupts this thread to run them at once.
    Signal,
}

impl TaskRun {
    /// `CIRCOLOG_BENCH_TASKRUN=coop|defer|signal`, `Coop` by default.
    pub fn from_env() -> TaskRun {
        match std::env::var("CIRCOLOG_BENCH_TASKRUN").as_deref() {
            Ok("defer") => TaskRun::Defer,
            Ok("signal") => TaskRun::Signal,
            _ => TaskRun::Coop,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TaskRun::Defer => "DEFER_TASKRUN",
            TaskRun::Coop => "COOP_TASKRUN",
            TaskRun::Signal => "no TASKRUN flag",
        }
    }
}

/// A multishot receive with credentials on one unix datagram socket.
pub struct Multishot {
    /// Declared first, so dropped first: the receive ends before the
    /// buffers, the socket and the msghdr it uses go.
    uring: IoUring,
    bufs: ProvidedBuffers,
    socket: OwnedFd,
    /// The template the kernel reads while the receive is armed.
    /// INVARIANT: boxed, and never moved or dropped while the receive is
    /// armed (it lives as long as the ring).
    msghdr: Box<libc::msghdr>,
    /// The receive ended and must be armed again.
    rearm: bool,
    /// A completion came since `unstick` last looked.
    heard: bool,
}

impl Multishot {
    /// Sets up the ring and `BUFFERS` provided buffers of room for
    /// `max_message` bytes, and arms the receive; call it on the thread
    /// that reads (the ring is single-issuer).
    pub fn new(socket: OwnedFd, max_message: usize, taskrun: TaskRun) -> io::Result<Multishot> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(CQ_ENTRIES).setup_single_issuer();
        match taskrun {
            TaskRun::Defer => {
                builder.setup_defer_taskrun().setup_taskrun_flag();
            }
            TaskRun::Coop => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            TaskRun::Signal => {}
        }
        let uring = builder.build(64)?;
        let buf_len = RECVMSG_OUT_LEN + CRED_CMSG_SPACE + max_message + 1;
        let bufs = ProvidedBuffers::new(&uring, BUFFERS, buf_len)?;
        // SAFETY: msghdr is plain data; all-zero is a valid value.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_controllen = CRED_CMSG_SPACE as _;
        let mut m = Multishot {
            uring,
            bufs,
            socket,
            msghdr,
            rearm: true,
            heard: false,
        };
        m.arm()?;
        Ok(m)
    }

    /// Whether completions wait: a read of the ring's flags and tail.
    pub fn pending(&mut self) -> bool {
        let sq = self.uring.submission();
        let flagged = sq.taskrun() || sq.cq_overflow();
        drop(sq);
        flagged || !self.uring.completion().is_empty()
    }

    /// Blocks until a completion is posted or `timeout` passes.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let ts = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&ts);
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

    /// Hands what has arrived to `store`, pass after pass while more keeps
    /// coming, up to about `budget` messages; as `DgramIngest::drain_all`.
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

    /// One pass: run pending completion work, hand the completions to
    /// `store`, recycle their buffers, re-arm the receive if it ended.
    fn drain(
        &mut self,
        store: &mut impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<(usize, usize)> {
        let sq = self.uring.submission();
        let flagged = sq.taskrun() || sq.cq_overflow();
        let queued = sq.len() as u32;
        drop(sq);
        if flagged || queued > 0 {
            self.enter(queued)?;
        }
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let mut stored = 0;
        let mut taken = 0;
        let Multishot {
            uring,
            bufs,
            msghdr,
            rearm,
            heard,
            ..
        } = self;
        for cqe in uring.completion() {
            taken += 1;
            if cqe.user_data() == CANCEL {
                continue;
            }
            let flags = cqe.flags();
            if !cqueue::more(flags) {
                *rearm = true;
            }
            *heard = true;
            let res = cqe.result();
            if res < 0 {
                // ENOBUFS ends the receive until buffers come back, and
                // ECANCELED is `unstick` at work (both re-armed below).
                if res != -libc::ENOBUFS && res != -libc::ECANCELED {
                    eprintln!("multishot receiver: {}", io::Error::from_raw_os_error(-res));
                }
                continue;
            }
            let Some(bid) = cqueue::buffer_select(flags) else {
                continue;
            };
            if let Ok(out) = RecvMsgOut::parse(bufs.filled(bid, res as usize), msghdr) {
                let msg = Incoming {
                    received_us: now_us,
                    transport: Transport::Unix,
                    cred: sys::parse_cred(out.control_data()),
                    truncated: out.is_payload_truncated(),
                    bytes: out.payload_data(),
                };
                if store(msg) {
                    stored += 1;
                }
            }
            bufs.recycle(bid);
        }
        bufs.publish();
        self.arm()?;
        Ok((stored, taken))
    }

    /// Cancels the receive when a datagram waits although no completion
    /// came since the last call (the receive has stopped); the new receive
    /// armed in its place reads what is queued at once. Returns 1 when it
    /// did, 0 otherwise.
    pub fn unstick(&mut self) -> io::Result<usize> {
        use rustix::event::{PollFd, PollFlags};
        let heard = std::mem::take(&mut self.heard);
        if heard || self.rearm {
            return Ok(0);
        }
        let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&zero))?;
        if !fds[0].revents().contains(PollFlags::IN) {
            return Ok(0);
        }
        let entry = opcode::AsyncCancel::new(RECEIVE).build().user_data(CANCEL);
        let mut sq = self.uring.submission();
        // SAFETY: a cancellation refers to no memory of ours.
        let pushed = unsafe { sq.push(&entry) }.is_ok();
        drop(sq);
        if pushed {
            self.enter(1)?;
        }
        Ok(1)
    }

    /// Arms the receive if it ended.
    fn arm(&mut self) -> io::Result<()> {
        if !std::mem::take(&mut self.rearm) {
            return Ok(());
        }
        let entry = opcode::RecvMsgMulti::new(Fd(self.socket.as_raw_fd()), &*self.msghdr, BGID)
            .build()
            .user_data(RECEIVE);
        let mut sq = self.uring.submission();
        // SAFETY: the socket, the boxed msghdr and the provided buffers live
        // in `self` as long as the ring (the invariant of `msghdr`); the
        // submission queue has 64 entries and holds at most this one and a
        // cancellation.
        let pushed = unsafe { sq.push(&entry) }.is_ok();
        drop(sq);
        if !pushed {
            return Err(io::Error::other("io_uring submission queue full"));
        }
        self.enter(1)
    }

    fn enter(&self, to_submit: u32) -> io::Result<()> {
        match sys::enter(&self.uring.submitter(), to_submit) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
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
        let mut ring_mem = MmapMut::map_anon(count as usize * size_of::<BufRingEntry>())?;
        // Faulted in now, as circologd's buffers are.
        let mut data_mem = memmap2::MmapOptions::new()
            .len(count as usize * len)
            .populate()
            .map_anon()?;
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
        // mapping owned by `bufs`, which `Multishot` drops no sooner than
        // the ring it is registered with.
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
