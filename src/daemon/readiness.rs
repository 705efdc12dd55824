//! Whether a datagram socket is to be read, as the ingest path keeps it:
//! a one-shot poll armed on the ring says when datagrams arrive, and the
//! socket is then read until a read finds it empty. Two things go wrong
//! in practice and are written into the states: a poll whose wake-up is
//! lost (the safety check finds datagrams waiting with nothing heard, and
//! reads them while the poll stays armed), and a socket whose reads fail
//! (it stays readable: polled, it would fail at every turn of the loop, so
//! it is read again at each check instead).
//!
//! ```text
//!            armed                completion
//!   ToArm ──────────► Armed ────────────────────► Ready { armed: false }
//!     ▲                 │ check: data waiting,        │ read: some ──┐
//!     │                 │ nothing heard (lost         │ ◄────────────┘
//!     │                 ▼ wake-up)                    │ read: empty, no poll armed
//!     │         Ready { armed: true } ── empty ──► Armed
//!     └────────────────────────────────────────────── ┘
//!   Ready { armed } ── read failed ──► Failing { armed } ── check ──► Ready { armed }
//! ```
//!
//! A completion makes any state `Ready { armed: false }`: whatever the
//! poll says, the read tells the rest. `heard` is beside the states: a
//! completion or a datagram since the last check, which then does not
//! look at the socket.

/// Where one socket is. See the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Found empty with no poll armed: a poll is to be armed.
    ToArm,
    /// A poll is armed; nothing to read until it fires or a check finds
    /// datagrams waiting.
    Armed,
    /// To be read until a read finds it empty; `armed`: its poll is still
    /// armed (a check found datagrams the poll did not say).
    Ready { armed: bool },
    /// The last read failed: not polled again, read again at each check.
    Failing { armed: bool },
}

/// One datagram socket's readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    phase: Phase,
    /// A completion came, or a datagram was read, since the last check.
    heard: bool,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::new()
    }
}

/// What a read of a socket gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// This many datagrams (0: it was empty).
    Datagrams(usize),
    Failed,
}

impl Readiness {
    /// A socket just opened: its poll is to be armed.
    pub fn new() -> Readiness {
        Readiness {
            phase: Phase::ToArm,
            heard: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a poll is to be armed on it now.
    pub fn wants_poll(&self) -> bool {
        self.phase == Phase::ToArm
    }

    /// Its poll was armed.
    pub fn armed(&mut self) {
        if self.phase == Phase::ToArm {
            self.phase = Phase::Armed;
        }
    }

    /// Its poll completed (fired, or failed).
    pub fn completed(&mut self) {
        self.heard = true;
        self.phase = Phase::Ready { armed: false };
    }

    /// Whether it is to be read now.
    pub fn wants_read(&self) -> bool {
        matches!(self.phase, Phase::Ready { .. })
    }

    /// What a read gave.
    pub fn read(&mut self, got: Read) {
        let Phase::Ready { armed } = self.phase else {
            return;
        };
        self.phase = match got {
            Read::Datagrams(0) if armed => Phase::Armed,
            Read::Datagrams(0) => Phase::ToArm,
            Read::Datagrams(_) => {
                self.heard = true;
                Phase::Ready { armed }
            }
            Read::Failed => Phase::Failing { armed },
        };
    }

    pub fn failing(&self) -> bool {
        matches!(self.phase, Phase::Failing { .. })
    }

    /// The safety check, every little while: a failing socket is to be
    /// read again; an armed one that was not heard from since the last
    /// check is looked at with `waiting` (whether datagrams wait on it),
    /// and read when they do. Returns true when it found a lost wake-up.
    pub fn check(&mut self, waiting: impl FnOnce() -> bool) -> bool {
        let heard = std::mem::take(&mut self.heard);
        match self.phase {
            Phase::Failing { armed } => {
                self.phase = Phase::Ready { armed };
                false
            }
            Phase::Armed if !heard && waiting() => {
                self.phase = Phase::Ready { armed: true };
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(phase: Phase, heard: bool) -> Readiness {
        Readiness { phase, heard }
    }

    #[test]
    fn a_socket_is_armed_fired_read_until_empty_and_armed_again() {
        let mut r = Readiness::new();
        assert!(r.wants_poll() && !r.wants_read());
        r.armed();
        assert_eq!(r, at(Phase::Armed, false));
        assert!(!r.wants_poll() && !r.wants_read());
        r.completed();
        assert_eq!(r, at(Phase::Ready { armed: false }, true));
        r.read(Read::Datagrams(64));
        assert!(r.wants_read(), "read until empty");
        r.read(Read::Datagrams(0));
        assert_eq!(r.phase(), Phase::ToArm);
        assert!(r.wants_poll());
    }

    #[test]
    fn a_check_reads_a_quiet_armed_socket_with_datagrams_waiting() {
        let mut r = at(Phase::Armed, false);
        assert!(!r.check(|| false), "nothing waits");
        assert!(r.check(|| true), "a lost wake-up");
        assert_eq!(r.phase(), Phase::Ready { armed: true });
        r.read(Read::Datagrams(3));
        r.read(Read::Datagrams(0));
        assert_eq!(r.phase(), Phase::Armed, "its poll is still armed");
        // The late completion then costs one empty read.
        r.completed();
        r.read(Read::Datagrams(0));
        assert!(r.wants_poll());
    }

    #[test]
    fn a_socket_heard_from_since_the_last_check_is_not_looked_at() {
        let mut r = at(Phase::Armed, true);
        assert!(!r.check(|| panic!("looked at")));
        assert!(r.check(|| true), "heard is per check");
        for phase in [Phase::ToArm, Phase::Ready { armed: false }] {
            let mut r = at(phase, false);
            assert!(!r.check(|| panic!("looked at")), "{phase:?}");
            assert_eq!(r.phase(), phase);
        }
    }

    #[test]
    fn a_failing_socket_is_not_polled_but_read_again_at_each_check() {
        for armed in [false, true] {
            let mut r = at(Phase::Ready { armed }, false);
            r.read(Read::Failed);
            assert!(r.failing());
            assert!(!r.wants_read() && !r.wants_poll(), "not read at every turn");
            assert!(
                !r.check(|| panic!("looked at")),
                "a retry is no lost wake-up"
            );
            assert_eq!(r.phase(), Phase::Ready { armed });
            r.read(Read::Failed);
            assert!(r.failing());
            r.check(|| false);
            r.read(Read::Datagrams(1));
            assert_eq!(r.phase(), Phase::Ready { armed }, "recovered");
        }
    }

    #[test]
    fn a_completion_makes_any_state_ready_and_reads_outside_ready_do_nothing() {
        for phase in [
            Phase::ToArm,
            Phase::Armed,
            Phase::Ready { armed: true },
            Phase::Failing { armed: true },
        ] {
            let mut r = at(phase, false);
            r.completed();
            assert_eq!(r, at(Phase::Ready { armed: false }, true), "{phase:?}");
        }
        for phase in [Phase::ToArm, Phase::Armed, Phase::Failing { armed: false }] {
            let mut r = at(phase, false);
            r.read(Read::Datagrams(0));
            r.read(Read::Failed);
            assert_eq!(r.phase(), phase);
        }
    }
}
