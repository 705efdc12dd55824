//! `-kmsg`: the kernel's log buffer, `/dev/kmsg`, read on the event loop.
//!
//! The device is opened non-blocking and watched by the loop's reactor like
//! the other descriptors; when it is readable, records are read one
//! `read(2)` each until it has none left (or the turn's budget is spent),
//! turned into lines by the library ([`crate::ingest::kmsg`]) and stored
//! like received messages. The two buffers are allocated once, here: a
//! record costs no allocation.
//!
//! Reading starts at the oldest record the kernel still holds, as klogd's
//! does, so the boot's messages are there too; a process that adopted a
//! ring goes on after the last record the previous one read (the ring's
//! file says which), so a restart stores none twice. A reader the kernel
//! laps gets `EPIPE` once and then the oldest record left: what was lost
//! is counted from the gap in the records' numbers and said in one line.

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use crate::daemon::diag::Throttle;
use crate::ingest::kmsg::{self, Sequence};
use crate::store::ring::{Incoming, Transport};
use crate::store::secure::Zeroize;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// The device.
pub const PATH: &str = "/dev/kmsg";

/// Opens the device for reading, non-blocking: a start-up error names it.
pub fn open() -> Result<OwnedFd, String> {
    rustix::fs::open(
        PATH,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("cannot read the kernel's log buffer {PATH} for -kmsg: {e}"))
}

/// What reading the device keeps between turns.
pub struct Reader {
    /// One record as read. Length [`kmsg::RECORD_MAX`].
    record: Box<[u8]>,
    /// The line stored for it. INVARIANT: capacity [`kmsg::LINE_MAX`],
    /// which a record read whole never outgrows.
    line: Vec<u8>,
    /// This host's name, as every kernel line carries it.
    host: Box<[u8]>,
    sequence: Sequence,
    /// Records up to this SEQ were read by the previous process: skipped,
    /// until the records there were at start are read.
    read_before: Option<u64>,
    /// Records that were not in the kernel's format, and failed reads:
    /// said at most once a second each.
    unreadable: Throttle,
}

impl Reader {
    pub fn new(host: &str) -> Reader {
        Reader {
            record: vec![0; kmsg::RECORD_MAX].into_boxed_slice(),
            line: Vec::with_capacity(kmsg::LINE_MAX),
            host: host.as_bytes().into(),
            sequence: Sequence::default(),
            read_before: None,
            unreadable: Throttle::per_second(),
        }
    }

    /// Reads on after the record `seq`, the last one a previous process
    /// read ([`crate::daemon::State::kernel_records_read`]).
    pub fn resume_after(mut self, seq: Option<u64>) -> Reader {
        if let Some(seq) = seq {
            self.read_before = Some(seq);
            self.sequence.resume_after(seq);
        }
        self
    }

    /// Reads and hands to `store` the records waiting on `fd`, `budget` at
    /// most, each with its SEQ; `now_us` is their receive time. Returns
    /// how many `store` kept and whether records may be left (the budget
    /// ran out).
    pub fn read(
        &mut self,
        fd: impl AsFd,
        budget: usize,
        now_us: i64,
        mut store: impl FnMut(Incoming<'_>, u64) -> bool,
    ) -> io::Result<(usize, bool)> {
        let boot_us = boot_us();
        let mut stored = 0;
        for _ in 0..budget {
            let n = match rustix::io::read(fd.as_fd(), &mut self.record[..]) {
                Ok(0) | Err(Errno::AGAIN) => {
                    // Whatever comes from now on is new, whatever the file
                    // said was read before (were it wrong, no record would
                    // be skipped for long).
                    self.read_before = None;
                    return Ok((stored, false));
                }
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                // Lapped: the next read gives the oldest record left, and
                // the gap in SEQ says how many went.
                Err(Errno::PIPE) => continue,
                Err(e) => return Err(e.into()),
            };
            let record = &self.record[..n];
            match kmsg::parse(record) {
                // Stored by the process before.
                Some(r) if self.read_before.is_some_and(|seen| r.seq <= seen) => {}
                Some(r) => {
                    // After an EPIPE, the gap. One before the first record
                    // read loses nothing: reading starts at the oldest
                    // record there is, wherever that is (the kernel says
                    // EPIPE too when the oldest it named at open went).
                    let lost = self.sequence.record(r.seq);
                    if lost > 0 {
                        eprintln!(
                            "circologd: {PATH}: the kernel overwrote {lost} message(s) before \
                             they were read ({} since start); reading on",
                            self.sequence.lost()
                        );
                    }
                    self.line.clear();
                    kmsg::write_line(&mut self.line, &r, boot_us, &self.host);
                    let kept = store(
                        Incoming {
                            received_us: now_us,
                            transport: Transport::Kmsg,
                            cred: None,
                            truncated: false,
                            bytes: &self.line,
                        },
                        r.seq,
                    );
                    stored += usize::from(kept);
                }
                None => {
                    if let Some(held) = self.unreadable.admit(Instant::now()) {
                        eprintln!(
                            "circologd: {PATH}: a record not in the kernel's format, \
                             skipped{held}"
                        );
                    }
                }
            }
            // No copy of a message outlives its turn here: a clear must
            // find none.
            self.record[..n].zeroize();
            self.line.as_mut_slice().zeroize();
        }
        Ok((stored, true))
    }
}

/// When the machine booted, µs since 1970: the wall clock less the
/// monotonic one, which the kernel's stamps count.
fn boot_us() -> i64 {
    use rustix::time::{ClockId, clock_gettime};
    let us = |t: rustix::time::Timespec| t.tv_sec * 1_000_000 + t.tv_nsec / 1000;
    us(clock_gettime(ClockId::Realtime)) - us(clock_gettime(ClockId::Monotonic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

    /// A descriptor that gives one record per read, as `/dev/kmsg` does,
    /// and the end it is written from.
    fn device() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .expect("socketpair")
    }

    fn write(to: &OwnedFd, seqs: &[u64]) {
        for seq in seqs {
            let record = format!("6,{seq},1000,-;record {seq}\n");
            rustix::io::write(to, record.as_bytes()).expect("write");
        }
    }

    /// The SEQs `reader` hands on of what waits on `fd`.
    fn read(reader: &mut Reader, fd: &OwnedFd) -> Vec<u64> {
        let mut seqs = Vec::new();
        let (_, more) = reader
            .read(fd, 100, 0, |_, seq| {
                seqs.push(seq);
                true
            })
            .expect("read");
        assert!(!more);
        seqs
    }

    #[test]
    fn reading_goes_on_after_the_record_read_before() {
        let (fd, to) = device();
        let mut reader = Reader::new("h").resume_after(Some(5));
        write(&to, &[3, 4, 5, 6, 7]);
        assert_eq!(read(&mut reader, &fd), [6, 7]);
        write(&to, &[8]);
        assert_eq!(read(&mut reader, &fd), [8]);
        assert_eq!(reader.sequence.lost(), 0);
    }

    /// Were the file's word wrong, only the records there at start are
    /// skipped: those that come later are new.
    #[test]
    fn a_record_read_before_that_never_was_skips_no_new_one() {
        let (fd, to) = device();
        let mut reader = Reader::new("h").resume_after(Some(u64::MAX - 1));
        write(&to, &[3, 4]);
        assert_eq!(read(&mut reader, &fd), Vec::<u64>::new());
        write(&to, &[5]);
        assert_eq!(read(&mut reader, &fd), [5]);
        assert_eq!(reader.sequence.lost(), 0);
    }
}
