//! The datagram hot path: unix datagram and UDP sockets, watched by an
//! io_uring of their own and read in batches of [`sys::VLEN`] with `recvmmsg`.
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
//! provided buffers; the benchmark still measures it beside this path
//! (`benches/circolog/multishot.rs`): with credentials on, it took about
//! 0.86 × a bare `recvmmsg` drain of the same socket, this path about 1.0 ×
//! (`benches/README.md`).
//!
//! The `recvmmsg` batch and the ring's two unsafe calls are in
//! [`crate::sys`]; this module is safe code.

#![forbid(unsafe_code)]

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use crate::daemon::diag::Throttle;
use crate::daemon::driver::now_us;
use crate::daemon::readiness::{Read, Readiness};
use crate::store::ring::{Incoming, Transport};
use io_uring::IoUring;
use tokio::io::unix::AsyncFd;

use crate::sys::{self, RecvBatch};

/// Completion queue entries: a drain pass takes at most this many.
const CQ_ENTRIES: u32 = 4096;

/// A socket the hot path reads.
pub use crate::daemon::listen::DgramSource as Source;

struct Socket {
    source: Source,
    /// Whether it is to be read, or polled ([`Readiness`]'s states).
    readiness: Readiness,
    /// Failed polls and receives, each written to stderr at most once a second.
    poll_errors: Throttle,
    recv_errors: Throttle,
}

pub struct DgramIngest {
    uring: IoUring,
    /// Where `recvmmsg` writes.
    batch: RecvBatch,
    sockets: Vec<Socket>,
    eventfd: OwnedFd,
}

impl DgramIngest {
    /// Sets up the ring and the receive buffers. `max_message` is the
    /// longest datagram stored whole; one more byte is read so that longer
    /// ones are seen as truncated.
    /// The buffers are `buffers` when given (see [`RecvBatch::new`]).
    pub fn new(
        sources: Vec<Source>,
        max_message: usize,
        buffers: Option<memmap2::MmapMut>,
    ) -> io::Result<Self> {
        let mut builder = IoUring::builder();
        // TASKRUN_FLAG: the kernel flags pending work in the ring's memory,
        // so that `pending` needs no system call. (`DEFER_TASKRUN` gave
        // nothing here, `benches/README.md`.)
        builder
            .setup_cqsize(CQ_ENTRIES)
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_taskrun_flag();
        let uring = builder.build(64)?;
        let batch = RecvBatch::new(max_message + 1, buffers)?;
        let eventfd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::NONBLOCK | rustix::event::EventfdFlags::CLOEXEC,
        )?;
        uring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        let sockets: Vec<Socket> = sources
            .into_iter()
            .map(|source| Socket {
                source,
                readiness: Readiness::new(),
                poll_errors: Throttle::per_second(),
                recv_errors: Throttle::per_second(),
            })
            .collect();
        Ok(DgramIngest {
            uring,
            batch,
            sockets,
            eventfd,
        })
    }

    /// The eventfd the kernel signals when completions wait to be run, for
    /// the event loop to await.
    pub fn eventfd(&self) -> io::Result<AsyncFd<OwnedFd>> {
        sys::watch(self.eventfd.try_clone()?)
    }

    /// Arms the polls; call once, on the event loop.
    pub fn start(&mut self) -> io::Result<()> {
        self.arm()
    }

    /// Locks the receive buffers in RAM (`-lock-memory`), as the arena.
    pub fn lock(&self) -> io::Result<()> {
        self.batch.lock()
    }

    /// Whether datagrams wait to be stored: a read of the ring's flags and
    /// tail, no system call. Long-running work on the event loop (dumps,
    /// followers) checks it between slices and drains first, so that
    /// ingestion never waits for them.
    pub fn pending(&mut self) -> bool {
        let sq = self.uring.submission();
        let flagged = sq.taskrun() || sq.cq_overflow();
        drop(sq);
        flagged
            || !self.uring.completion().is_empty()
            || self.sockets.iter().any(|s| s.readiness.wants_read())
    }

    /// Hands what has arrived to `store` (which says whether it kept the
    /// message), pass after pass while more keeps coming, up to about
    /// `budget` messages. Returns how many were kept and whether work was
    /// left for later.
    // The daemon takes the source addresses too; the benchmark's receiver
    // and the tests do not.
    pub fn drain_all(
        &mut self,
        budget: usize,
        mut store: impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<(usize, bool)> {
        self.drain_all_from(budget, |m, _| store(m))
    }

    /// [`DgramIngest::drain_all`], with each message's source address on
    /// UDP sockets (`None` on unix sockets), for `-rate-limit`.
    pub fn drain_all_from(
        &mut self,
        budget: usize,
        mut store: impl FnMut(Incoming<'_>, Option<IpAddr>) -> bool,
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

    /// One pass: run pending completion work, note which polls fired, read
    /// one batch from every socket that is ready, arm the polls of those
    /// found empty. Returns how many messages were kept and how many
    /// completions and datagrams were taken.
    fn drain(
        &mut self,
        store: &mut impl FnMut(Incoming<'_>, Option<IpAddr>) -> bool,
    ) -> io::Result<(usize, usize)> {
        let sq = self.uring.submission();
        let flagged = sq.taskrun() || sq.cq_overflow();
        // A re-arm an interrupted enter left unsubmitted goes in now.
        let queued = sq.len() as u32;
        drop(sq);
        if flagged || queued > 0 {
            self.enter(queued)?;
        }
        let done = self.take_ready(now_us(), store);
        self.arm()?;
        Ok(done)
    }

    /// A socket stays ready until a `recvmmsg` finds it empty; its poll is
    /// then armed again (and fires at once if a datagram came in between).
    fn take_ready(
        &mut self,
        now_us: i64,
        store: &mut impl FnMut(Incoming<'_>, Option<IpAddr>) -> bool,
    ) -> (usize, usize) {
        let DgramIngest {
            uring,
            batch,
            sockets,
            ..
        } = self;
        let mut taken = 0;
        for cqe in uring.completion() {
            taken += 1;
            let Some(socket) = sockets.get_mut(cqe.user_data() as usize) else {
                continue;
            };
            socket.readiness.completed();
            let res = cqe.result();
            if res < 0
                && let Some(held) = socket.poll_errors.admit(Instant::now())
            {
                eprintln!(
                    "circologd: waiting on a {} socket failed: {}{held}",
                    socket.source.transport.name(),
                    io::Error::from_raw_os_error(-res)
                );
            }
        }
        let mut stored = 0;
        for socket in sockets.iter_mut() {
            if !socket.readiness.wants_read() {
                continue;
            }
            let source = &socket.source;
            let addresses = source.transport == Transport::Udp;
            let n = match batch.recv(source.fd.as_fd(), source.credentials, addresses) {
                Ok(n) => n,
                Err(e) => {
                    if let Some(held) = socket.recv_errors.admit(Instant::now()) {
                        eprintln!(
                            "circologd: receive on a {} socket failed: {e}{held}",
                            source.transport.name()
                        );
                    }
                    socket.readiness.read(Read::Failed);
                    continue;
                }
            };
            socket.readiness.read(Read::Datagrams(n));
            taken += n;
            for d in batch.datagrams() {
                let msg = Incoming {
                    received_us: now_us,
                    transport: source.transport,
                    cred: d.cred,
                    truncated: d.truncated,
                    bytes: d.bytes,
                };
                if store(msg, d.peer) {
                    stored += 1;
                }
            }
            batch.forget();
        }
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
    /// such sockets were found. Sockets whose last receive failed are read
    /// again too (not counted), and failures held back from stderr are
    /// counted on it once their second has passed.
    ///
    /// The multishot receive of the first design was seen to stop taking
    /// datagrams under load (in the benchmark's runs of 1000-byte datagrams
    /// sent with `sendmmsg`, about once in ten million): no completion,
    /// nothing pending in the ring, the receive parked on the socket's wait
    /// queue and the socket's queue full, so that the blocked sender never
    /// wrote again to wake it. A poll could miss its wake-up the same way:
    /// the socket is then simply marked ready, for the next drain to read;
    /// its poll stays armed, and a late completion costs one empty
    /// `recvmmsg`.
    pub fn unstick(&mut self) -> io::Result<usize> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let now = Instant::now();
        let mut found = 0;
        for socket in &mut self.sockets {
            socket.tell_held(now);
            let mut failed = Ok(());
            let fd = &socket.source.fd;
            let waiting = || {
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                let zero = Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                match rustix::event::poll(&mut fds, Some(&zero)) {
                    Ok(_) => fds[0].revents().contains(PollFlags::IN),
                    Err(e) => {
                        failed = Err(e);
                        false
                    }
                }
            };
            found += usize::from(socket.readiness.check(waiting));
            failed?;
        }
        Ok(found)
    }

    /// Arms a poll on every socket waiting for one.
    fn arm(&mut self) -> io::Result<()> {
        if !self.sockets.iter().any(|s| s.readiness.wants_poll()) {
            return Ok(());
        }
        let mut sq = self.uring.submission();
        let mut queued = 0;
        for (idx, socket) in self.sockets.iter_mut().enumerate() {
            if !socket.readiness.wants_poll() {
                continue;
            }
            // The submission queue has 64 entries, more than sockets.
            if sys::push_poll(&mut sq, socket.source.fd.as_fd(), idx as u64).is_err() {
                return Err(io::Error::other("io_uring submission queue full"));
            }
            socket.readiness.armed();
            queued += 1;
        }
        drop(sq);
        self.enter(queued)
    }

    /// Submits what is queued and runs pending completion work, without waiting.
    fn enter(&self, to_submit: u32) -> io::Result<()> {
        match sys::enter(&self.uring.submitter(), to_submit) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Socket {
    /// Says how many failures went unreported, once their second has passed.
    fn tell_held(&mut self, now: Instant) {
        let name = self.source.transport.name();
        for (what, throttle) in [
            ("waiting on", &mut self.poll_errors),
            ("receive on", &mut self.recv_errors),
        ] {
            if let Some(n) = throttle.lull(now) {
                eprintln!(
                    "circologd: {what} a {name} socket failed {n} more time{} since the last report",
                    if n == 1 { "" } else { "s" }
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::listen::pass_credentials;
    use crate::sys::VLEN;
    use std::os::unix::net::UnixDatagram;

    fn unix_source(rx: UnixDatagram) -> Source {
        pass_credentials(&rx).unwrap();
        Source {
            fd: OwnedFd::from(rx),
            transport: Transport::Unix,
            credentials: true,
        }
    }

    /// A receiver on a unix datagram socket, its polls armed.
    fn receiver() -> (DgramIngest, UnixDatagram) {
        let (rx, tx) = UnixDatagram::pair().unwrap();
        // A full socket fails the test rather than hanging it.
        tx.set_write_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut ingest = DgramIngest::new(vec![unix_source(rx)], 1024, None).unwrap();
        ingest.start().unwrap();
        (ingest, tx)
    }

    type Got = Vec<(Vec<u8>, Option<u32>)>;

    /// Everything the receiver hands over until nothing more comes.
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

    fn send(tx: &UnixDatagram, tag: &str, n: usize) {
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
    /// read twice, even past a `recvmmsg` batch.
    #[test]
    fn a_quiet_socket_with_datagrams_waiting_is_read_again() {
        let (mut ingest, tx) = receiver();
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
    fn a_socket_whose_poll_never_fires_is_read_by_the_check() {
        let (rx, tx) = UnixDatagram::pair().unwrap();
        let mut ingest = DgramIngest::new(vec![unix_source(rx)], 1024, None).unwrap();
        // As if its poll were armed and the kernel's wake-up lost.
        ingest.sockets[0].readiness.armed();
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
    fn a_turn_stops_at_its_budget_and_the_rest_waits_in_order() {
        let (mut ingest, tx) = receiver();
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
        assert!(more, "a turn went past its budget");
        assert!((VLEN..2 * VLEN).contains(&first), "{first}");
        assert!(ingest.pending(), "the rest is not pending");
        while take(&mut ingest, VLEN).1 {}
        got.extend(received(&mut ingest));
        assert_eq!(got, sent(&[("m", 3 * VLEN)]));
    }

    #[test]
    fn long_datagrams_are_cut_and_flagged_and_udp_has_no_credentials() {
        let (unix_rx, unix_tx) = UnixDatagram::pair().unwrap();
        let udp_rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp_tx.connect(udp_rx.local_addr().unwrap()).unwrap();
        let sources = vec![
            unix_source(unix_rx),
            Source {
                fd: OwnedFd::from(udp_rx),
                transport: Transport::Udp,
                credentials: false,
            },
        ];
        let mut ingest = DgramIngest::new(sources, 1024, None).unwrap();
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

    #[test]
    fn udp_datagrams_come_with_their_source_address_and_unix_ones_without() {
        let (unix_rx, unix_tx) = UnixDatagram::pair().unwrap();
        let v4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::UdpSocket::bind("[::1]:0").ok();
        let mut sources = vec![
            unix_source(unix_rx),
            Source {
                fd: OwnedFd::from(v4.try_clone().unwrap()),
                transport: Transport::Udp,
                credentials: false,
            },
        ];
        let mut want = vec![None, Some("127.0.0.1".parse::<std::net::IpAddr>().unwrap())];
        let tx4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx4.send_to(b"<13>v4", v4.local_addr().unwrap()).unwrap();
        unix_tx.send(b"<13>unix").unwrap();
        // IPv6 where the host has it.
        let tx6 = std::net::UdpSocket::bind("[::1]:0").ok();
        if let (Some(rx), Some(tx)) = (&v6, &tx6) {
            sources.push(Source {
                fd: OwnedFd::from(rx.try_clone().unwrap()),
                transport: Transport::Udp,
                credentials: false,
            });
            tx.send_to(b"<13>v6", rx.local_addr().unwrap()).unwrap();
            want.push(Some("::1".parse().unwrap()));
        }
        let mut ingest = DgramIngest::new(sources, 1024, None).unwrap();
        ingest.start().unwrap();
        let mut got = Vec::new();
        for _ in 0..200 {
            ingest.kick().unwrap();
            ingest
                .drain_all_from(usize::MAX, |_, peer| {
                    got.push(peer);
                    true
                })
                .unwrap();
            if got.len() >= want.len() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    /// The flags of the mapping that holds `addr`, from `/proc/self/smaps`.
    fn vm_flags(addr: usize) -> Vec<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((start, end)) = range.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                inside = (start..end).contains(&addr);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.split_whitespace().map(str::to_owned).collect();
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    #[test]
    fn the_receive_buffers_are_never_dumped_and_locked_on_request() {
        let (ingest, _tx) = receiver();
        let mem = ingest.batch.memory();
        let (first, last) = (mem.as_ptr() as usize, mem.as_ptr() as usize + mem.len() - 1);
        for addr in [first, last] {
            let flags = vm_flags(addr);
            assert!(flags.iter().any(|f| f == "dd"), "dumpable: {flags:?}");
            assert!(
                !flags.iter().any(|f| f == "lo"),
                "locked already: {flags:?}"
            );
        }
        ingest.lock().unwrap();
        for addr in [first, last] {
            let flags = vm_flags(addr);
            assert!(flags.iter().any(|f| f == "lo"), "not locked: {flags:?}");
            assert!(flags.iter().any(|f| f == "dd"), "dumpable: {flags:?}");
        }
    }

    #[test]
    fn stored_datagrams_leave_no_copy_in_the_receive_buffers() {
        let (mut ingest, tx) = receiver();
        let marker = b"<13>wipe-marker-4b1f";
        for _ in 0..3 {
            tx.send(marker).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..100 {
            ingest.kick().unwrap();
            ingest
                .drain_all(usize::MAX, |m| {
                    got.push(m.bytes.to_vec());
                    true
                })
                .unwrap();
            if got.len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, vec![marker.to_vec(); 3], "stored as they came");
        let mem = ingest.batch.memory();
        let left = mem.windows(marker.len()).filter(|w| w == marker).count();
        assert_eq!(left, 0, "the arena is their only copy once stored");
        // And the receiver goes on.
        send(&tx, "after", 2);
        assert_eq!(received(&mut ingest), sent(&[("after", 2)]));
    }

    /// A receive that fails every time (here: the descriptor is a pipe,
    /// readable and no socket) writes a line at most once a second, and
    /// is not read at every turn of the loop but at every check.
    #[test]
    fn a_failing_receive_is_reported_once_a_second_and_retried_at_the_checks() {
        let (r, mut w) = std::io::pipe().unwrap();
        std::io::Write::write_all(&mut w, b"x").unwrap();
        let source = Source {
            fd: OwnedFd::from(r),
            transport: Transport::Unix,
            credentials: true,
        };
        let started = Instant::now();
        let mut ingest = DgramIngest::new(vec![source], 1024, None).unwrap();
        ingest.start().unwrap();
        let failures = 50;
        for _ in 0..failures {
            // The poll fires, or the check marks it ready: one receive, failed.
            for _ in 0..10 {
                ingest.kick().unwrap();
                ingest.drain_all(100, |_| true).unwrap();
            }
            assert!(ingest.sockets[0].readiness.failing());
            assert!(!ingest.pending(), "a failing socket is read again at once");
            assert_eq!(ingest.unstick().unwrap(), 0, "a retry is no lost wake-up");
        }
        let errors = &ingest.sockets[0].recv_errors;
        let lines = errors.lines();
        assert_eq!(errors.events(), failures, "a failure not counted");
        let allowed = 1 + started.elapsed().as_secs();
        assert!(lines <= allowed, "{lines} lines in {allowed} s");
    }
}
