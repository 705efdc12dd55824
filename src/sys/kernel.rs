//! All of circolog's `unsafe`, behind a safe API: the heap allocator that
//! zeroes what it frees, the `recvmmsg` batch
//! (headers that point into buffers the kernel writes, and the source
//! addresses it writes), the two io_uring
//! calls of the datagram ring, the eventfd's registration with tokio, the
//! descriptors systemd hands over, and the memory file (`memfd_secret`,
//! and mapping it). Every other module of the crate forbids `unsafe`.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::mem::size_of;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::store::ring::Cred;
use io_uring::squeue::PushError;
use io_uring::types::Fd;
use io_uring::{SubmissionQueue, Submitter, opcode};
use memmap2::MmapMut;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Datagrams per `recvmmsg`, as the benchmark's bare drain.
pub const VLEN: usize = 64;

/// Room for one `SCM_CREDENTIALS` control message.
// SAFETY: CMSG_SPACE is arithmetic on its argument; it reads no memory.
pub const CRED_CMSG_SPACE: usize =
    unsafe { libc::CMSG_SPACE(size_of::<libc::ucred>() as u32) } as usize;

/// `IORING_ENTER_GETEVENTS`: also run pending completion work.
const ENTER_GETEVENTS: u32 = 1;

/// Room for one `recvmmsg` of [`VLEN`] datagrams with their credentials.
///
/// Datagrams pass through here on their way to the arena: the memory is
/// one mapping, faulted in at start-up (resident memory is fixed from the
/// start), never in a core dump, locked in RAM on request and zeroed by
/// [`RecvBatch::forget`] once they are stored. The headers and iovecs hold only addresses.
pub struct RecvBatch {
    /// `VLEN` control buffers of `CRED_CMSG_SPACE` bytes (8-aligned, as a
    /// `cmsghdr` must be), then `VLEN` datagram buffers of `len` bytes.
    mem: MmapMut,
    len: usize,
    /// `VLEN` of each; `recv` points them at the buffers before each call.
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    /// `VLEN` source addresses, for the sockets whose senders are known by
    /// them (UDP, for `-rate-limit`).
    names: Box<[libc::sockaddr_storage]>,
    /// Datagrams the last `recv` read (0 after `forget`).
    filled: usize,
}

/// One datagram of a batch.
pub struct Datagram<'a> {
    /// Cut to the buffer's length when the datagram was longer.
    pub bytes: &'a [u8],
    pub truncated: bool,
    pub cred: Option<Cred>,
    /// The source address, when asked for.
    pub peer: Option<IpAddr>,
}

impl RecvBatch {
    /// Bytes of the buffers for `len` bytes per datagram.
    pub fn bytes_for(len: usize) -> io::Result<usize> {
        VLEN.checked_mul(len)
            .and_then(|d| d.checked_add(VLEN * CRED_CMSG_SPACE))
            .ok_or_else(|| io::Error::other("receive buffers too large"))
    }

    /// `len` bytes per datagram: a longer one is cut, and flagged. The
    /// buffers are `mem` when given (a part of the memory file, at least
    /// [`RecvBatch::bytes_for`] long and zero), else a mapping of their own.
    pub fn new(len: usize, mem: Option<MmapMut>) -> io::Result<RecvBatch> {
        let size = RecvBatch::bytes_for(len)?;
        let mem = match mem {
            Some(mem) if mem.len() >= size => mem,
            Some(_) => return Err(io::Error::other("receive buffers too small")),
            None => memmap2::MmapOptions::new()
                .len(size)
                .populate()
                .map_anon()?,
        };
        let _ = mem.advise(memmap2::Advice::DontDump);
        let iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let hdr = unsafe { std::mem::zeroed::<libc::mmsghdr>() };
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let name = unsafe { std::mem::zeroed::<libc::sockaddr_storage>() };
        Ok(RecvBatch {
            mem,
            len,
            iovs: vec![iov; VLEN].into(),
            hdrs: vec![hdr; VLEN].into(),
            names: vec![name; VLEN].into(),
            filled: 0,
        })
    }

    /// Reads up to [`VLEN`] datagrams from `fd` without waiting, with their
    /// senders' credentials when `credentials` and source addresses when
    /// `addresses`. Returns how many were read (0 when none waits);
    /// [`RecvBatch::datagrams`] gives them.
    pub fn recv(
        &mut self,
        fd: BorrowedFd<'_>,
        credentials: bool,
        addresses: bool,
    ) -> io::Result<usize> {
        self.filled = 0;
        let names = self.names.as_mut_ptr();
        // Taken afresh for each call, from one borrow of the mapping.
        let control = self.mem.as_mut_ptr();
        let data = control.wrapping_add(VLEN * CRED_CMSG_SPACE);
        for (i, (h, iov)) in self.hdrs.iter_mut().zip(self.iovs.iter_mut()).enumerate() {
            iov.iov_base = data.wrapping_add(i * self.len).cast();
            iov.iov_len = self.len;
            h.msg_len = 0;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            if addresses {
                h.msg_hdr.msg_name = names.wrapping_add(i).cast();
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as _;
            } else {
                h.msg_hdr.msg_name = std::ptr::null_mut();
                h.msg_hdr.msg_namelen = 0;
            }
            h.msg_hdr.msg_flags = 0;
            if credentials {
                h.msg_hdr.msg_control = control.wrapping_add(i * CRED_CMSG_SPACE).cast();
                h.msg_hdr.msg_controllen = CRED_CMSG_SPACE as _;
            } else {
                h.msg_hdr.msg_control = std::ptr::null_mut();
                h.msg_hdr.msg_controllen = 0;
            }
        }
        // SAFETY: `VLEN` headers (`new` made `VLEN`), each pointing at its
        // own iovec, control space (or none) and name (or none: one
        // `sockaddr_storage` of `names`, which has `VLEN`), each iovec at its
        // own buffer, control and data inside the mapping (`VLEN *
        // CRED_CMSG_SPACE` bytes of control, then `VLEN * len` of data), all
        // owned by `self`,
        // which `&mut self` keeps alive and untouched while the call runs;
        // the kernel writes no further than the lengths given.
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
            self.filled = (r as usize).min(VLEN);
            return Ok(self.filled);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
            _ => Err(e),
        }
    }

    /// The datagrams the last [`RecvBatch::recv`] read, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = Datagram<'_>> {
        let (control, data) = self.mem.split_at(VLEN * CRED_CMSG_SPACE);
        self.hdrs[..self.filled]
            .iter()
            .enumerate()
            .map(move |(i, h)| {
                let n = (h.msg_len as usize).min(self.len);
                // `size_t` with glibc, `socklen_t` with musl.
                #[allow(clippy::unnecessary_cast)]
                let controllen = (h.msg_hdr.msg_controllen as usize).min(CRED_CMSG_SPACE);
                let at = i * CRED_CMSG_SPACE;
                Datagram {
                    bytes: &data[i * self.len..i * self.len + n],
                    truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                    cred: if h.msg_hdr.msg_control.is_null() {
                        None
                    } else {
                        parse_cred(&control[at..at + controllen])
                    },
                    peer: if h.msg_hdr.msg_name.is_null() {
                        None
                    } else {
                        parse_addr(&self.names[i], h.msg_hdr.msg_namelen as usize)
                    },
                }
            })
    }

    /// Locks the buffers in RAM, so that no datagram is ever swapped out.
    pub fn lock(&self) -> io::Result<()> {
        self.mem.lock()
    }

    /// Zeroes the bytes of the datagrams the last [`RecvBatch::recv`] read,
    /// once they are stored: the arena is then their only copy, and a clear
    /// or an eviction by age leaves none here. Costs a `memset` of what was
    /// read. The credentials and source addresses stay until the next
    /// `recv` overwrites them: they are the kernel's word on the sender,
    /// not message bytes.
    pub fn forget(&mut self) {
        let data = VLEN * CRED_CMSG_SPACE;
        for (i, h) in self.hdrs[..self.filled].iter().enumerate() {
            let n = (h.msg_len as usize).min(self.len);
            let at = data + i * self.len;
            self.mem[at..at + n].fill(0);
        }
        self.filled = 0;
    }

    /// The whole mapping, for tests that look at what it holds and at its
    /// flags in `/proc/self/smaps`.
    #[cfg(test)]
    pub fn memory(&self) -> &[u8] {
        &self.mem
    }
}

/// A new memory file: `memfd_secret(2)` when `secret`, else an ordinary
/// `memfd`; closed on exec (a restart hands it over on purpose).
pub fn memory_file(secret: bool) -> io::Result<OwnedFd> {
    if !secret {
        return rustix::fs::memfd_create("circolog", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(Into::into);
    }
    // SAFETY: memfd_secret takes one flags word and passes no memory; it
    // returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_memfd_secret, libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just made this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Maps `len` bytes of the memory file `fd` from `offset` (a multiple of
/// the page size), shared and faulted in now.
pub fn map_file(fd: &OwnedFd, offset: u64, len: usize) -> io::Result<MmapMut> {
    // SAFETY: a mapping of a file is unsound only if the file changes or
    // shrinks under it from elsewhere. This file is a memfd, never a path on
    // a file system: only this process maps it, it is never truncated after
    // it is sized, and whoever else holds it (the service manager's fd
    // store, or the process that handed it over and is gone) never writes.
    unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .populate()
            .map_mut(fd.as_raw_fd())
    }
}

/// The IP address of a source address the kernel wrote (`len` bytes of it).
pub fn parse_addr(name: &libc::sockaddr_storage, len: usize) -> Option<IpAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is as large and as aligned as every
            // sockaddr, and the family says the kernel wrote a sockaddr_in.
            let sin =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            // In network order in memory: its bytes are the octets.
            Some(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let sin6 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::from(sin6.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

/// Reads `SCM_CREDENTIALS` from a control message buffer
/// ([`crate::daemon::cred::parse`]).
pub use crate::daemon::cred::parse as parse_cred;

/// Queues a one-shot poll for input on `fd`, its completion tagged
/// `user_data`. Fails when the submission queue is full.
pub fn push_poll(
    sq: &mut SubmissionQueue<'_>,
    fd: BorrowedFd<'_>,
    user_data: u64,
) -> Result<(), PushError> {
    let entry = opcode::PollAdd::new(Fd(fd.as_raw_fd()), libc::POLLIN as u32)
        .build()
        .user_data(user_data);
    // SAFETY: a poll refers to no memory of ours, and the kernel takes its
    // own reference to the file: closing `fd` while the poll is armed ends
    // or orphans the poll, it corrupts nothing.
    unsafe { sq.push(&entry) }
}

/// Submits `to_submit` queued entries and runs pending completion work,
/// without waiting for any.
pub fn enter(submitter: &Submitter<'_>, to_submit: u32) -> io::Result<usize> {
    // SAFETY: no argument pointer is passed (no signal mask); flags only.
    unsafe { submitter.enter::<libc::sigset_t>(to_submit, 0, ENTER_GETEVENTS, None) }
}

/// Registers `fd` with the event loop, for readiness.
pub fn watch(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open,
    // and is the same file, for as long as it is registered.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// Reads `/proc/PID/cgroup` of `pid` into `buf` (as much as fits), for
/// `-rate-limit-by unit`: its length, `None` when the process is gone. The
/// path is built on the stack, and rustix opens a path this short without
/// a heap allocation: a look-up allocates nothing.
pub fn read_cgroup(pid: u32, buf: &mut [u8]) -> Option<usize> {
    use rustix::fs::{Mode, OFlags};
    let mut digits = itoa::Buffer::new();
    let mut path = [0u8; 32];
    let mut len = 0;
    for part in [&b"/proc/"[..], digits.format(pid).as_bytes(), b"/cgroup"] {
        path[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    let path = std::str::from_utf8(&path[..len]).ok()?;
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::io::read(&fd, &mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    Some(filled)
}

/// Reads what already waits on the socket `fd`, without waiting
/// (`MSG_DONTWAIT`): `Ok(None)` when nothing does. A request is most often
/// in by the time its connection is accepted, and reading it here saves a
/// trip through the ring, which under load is a turn of every busy client.
pub fn recv_ready(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: the caller's stream owns `fd` and outlives this call, which
    // only borrows it for one recv.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    match rustix::net::recv(fd, buf, rustix::net::RecvFlags::DONTWAIT) {
        Ok((n, _)) => Ok(Some(n)),
        Err(rustix::io::Errno::AGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes what the socket `fd` takes now, without waiting; 0 when it takes
/// nothing. For small answers, as [`recv_ready`] for requests.
pub fn send_ready(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: as in `recv_ready`.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL;
    match rustix::net::send(fd, buf, flags) {
        Ok(n) => Ok(n),
        Err(rustix::io::Errno::AGAIN) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// The descriptors systemd passed to this process (`LISTEN_FDS`, after the
/// caller has checked that `LISTEN_PID` names this process), each with its
/// index in `LISTEN_FDNAMES`. Only the first call takes them; a number that
/// is not open is left out.
pub fn take_listen_fds(count: i32) -> Vec<(usize, OwnedFd)> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Vec::new();
    }
    let mut fds = Vec::new();
    for i in 0..count.clamp(0, 65536) {
        let raw = 3 + i;
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
            continue;
        }
        // SAFETY: systemd's socket activation protocol hands this process
        // the open descriptors 3..3+LISTEN_FDS as its own; nothing else in
        // circologd uses a descriptor by number, and `TAKEN` makes sure
        // they are wrapped once.
        fds.push((i as usize, unsafe { OwnedFd::from_raw_fd(raw) }));
    }
    fds
}

/// The daemon's heap allocator: the system's, except that every block is
/// zeroed before it is given back. Message bytes pass through many heap
/// buffers (reads, TCP framing, rendered dumps and frames, the clients'
/// queues) and a buffer that grows is moved by `realloc`, which frees the
/// old copy as it was; with this allocator no freed block keeps a message
/// (docs/reference.md, "Storage": once its readers have gone, no byte of a cleared
/// message remains in the process's memory). The cost is a `memset` of
/// what is freed; ingestion allocates nothing, so it pays nothing.
pub struct Zeroing;

// SAFETY: every method forwards to `System` with the caller's layout, and
// only writes to the block the caller gives back (which it owns until then).
unsafe impl GlobalAlloc for Zeroing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes from this
        // allocator, the caller's until this call. `explicit_bzero` is the
        // C library's zeroing that the compiler may not drop as dead.
        unsafe {
            libc::explicit_bzero(ptr.cast(), layout.size());
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A new block, the bytes copied, the old one wiped and freed:
        // `System.realloc` could move the bytes and free the old block as
        // it was.
        // SAFETY: `layout` with `new_size` is valid (the caller's contract);
        // `ptr` holds `layout.size()` initialized-or-not bytes we may copy.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Overwrites a stretch of the stack below the caller: buffers that held
/// message bytes in deeper calls (a parse, a read) leave them in stack
/// memory nothing reuses until the next deep call.
#[inline(never)]
pub fn scrub_stack() {
    let mut area = [0u8; 256 * 1024];
    std::hint::black_box(&mut area);
}

/// Puts `fds` at descriptors 3, 4, … without close-on-exec, as
/// `LISTEN_FDS` wants them, and calls `exec`. When `exec` returns (it
/// failed), every descriptor is put back as it was, flags included, and
/// its error is returned: the process goes on as before. Every other
/// descriptor keeps its close-on-exec flag, so exactly `fds` are handed
/// over.
///
/// Each of `fds` must be open for the whole call. Only the event loop's
/// one thread may run while this does: for a moment the numbers 3… name
/// other files.
pub fn exec_with_fds(fds: &[RawFd], exec: impl FnOnce() -> io::Error) -> io::Error {
    let n = fds.len() as RawFd;
    let above = 3 + n;
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // Copies of what is handed over, above the slots, so that filling a
    // slot never closes a descriptor still to be copied.
    let mut copies = Vec::with_capacity(fds.len());
    // What each slot held (a copy, and its descriptor flags), to put back.
    let mut saved: Vec<Option<(RawFd, libc::c_int)>> = Vec::with_capacity(fds.len());
    let mut placed = 0;
    let result = (|| -> io::Result<()> {
        for fd in fds {
            // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor from an open one
            // (or fails); the copy is closed below.
            copies.push(check(unsafe {
                libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, above)
            })?);
        }
        for slot in 3..above {
            // SAFETY: F_GETFD only reads a descriptor's flags.
            let flags = unsafe { libc::fcntl(slot, libc::F_GETFD) };
            if flags < 0 {
                saved.push(None);
                continue;
            }
            // SAFETY: as above; the copy is closed or put back below.
            let copy = check(unsafe { libc::fcntl(slot, libc::F_DUPFD_CLOEXEC, above) })?;
            saved.push(Some((copy, flags)));
        }
        for (i, copy) in copies.iter().enumerate() {
            // SAFETY: the slot's own file was copied just above and is put
            // back below; dup2 leaves the new descriptor inheritable.
            check(unsafe { libc::dup2(*copy, 3 + i as RawFd) })?;
            placed += 1;
        }
        Ok(())
    })();
    let error = match result {
        Ok(()) => exec(),
        Err(e) => e,
    };
    for (i, slot) in saved.iter().enumerate() {
        let at = 3 + i as RawFd;
        match slot {
            // SAFETY: `copy` is the slot's own file, copied above; the
            // slot gets it back with its close-on-exec flag as it was.
            Some((copy, flags)) => unsafe {
                let cloexec = match flags & libc::FD_CLOEXEC {
                    0 => 0,
                    _ => libc::O_CLOEXEC,
                };
                libc::dup3(*copy, at, cloexec);
                libc::close(*copy);
            },
            // SAFETY: the slot was free; what it holds now was placed
            // here above.
            None if i < placed => unsafe {
                libc::close(at);
            },
            None => {}
        }
    }
    for copy in copies {
        // SAFETY: a copy made above, used by nothing else.
        unsafe { libc::close(copy) };
    }
    // `Command::exec` sets SIGPIPE back to its default before it tries;
    // a daemon that writes to clients that may have gone must ignore it,
    // as the Rust runtime set it at start.
    // SAFETY: setting a signal's disposition to SIG_IGN runs no code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    error
}

/// This host's name, as the kernel has it.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reads_and_writes_never_wait() {
        use std::os::fd::AsRawFd;
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(recv_ready(b.as_raw_fd(), &mut buf).unwrap(), None);
        assert_eq!(send_ready(a.as_raw_fd(), b"hello").unwrap(), 5);
        assert_eq!(recv_ready(b.as_raw_fd(), &mut buf).unwrap(), Some(5));
        assert_eq!(&buf[..5], b"hello");
        // A full socket takes nothing more, and says so without waiting.
        let big = vec![0u8; 1 << 16];
        while send_ready(a.as_raw_fd(), &big).unwrap() > 0 {}
        assert_eq!(send_ready(a.as_raw_fd(), b"x").unwrap(), 0);
        drop(a);
        while recv_ready(b.as_raw_fd(), &mut buf).unwrap() != Some(0) {}
    }

    #[test]
    fn room_for_one_credentials_message() {
        assert_eq!(CRED_CMSG_SPACE, 32, "64-bit Linux");
    }
}
