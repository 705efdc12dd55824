//! Signals: what each does to the [`State`], and the pipes they arrive
//! through. The handlers (signal-hook's self-pipe) only write a byte; the
//! event loop reads the pipes and calls [`usr1`] or [`usr2`] with what
//! came. Registered before the daemon says it listens, so that no signal
//! finds the default action (death) in place.

use std::io;
use std::os::unix::net::UnixStream;

use crate::daemon::State;
use crate::store::snapshot::Why;

/// The read ends of the signals' pipes.
pub struct Signals {
    /// `SIGUSR1`: toggle pause.
    pub usr1: UnixStream,
    /// `SIGUSR2`: take a snapshot.
    pub usr2: UnixStream,
    /// `SIGHUP`: ignored, and said.
    pub hup: UnixStream,
    /// `SIGTERM` and `SIGINT`: stop.
    pub term: UnixStream,
}

impl Signals {
    pub fn register() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
        use signal_hook::low_level::pipe;
        let (usr1, usr1_w) = UnixStream::pair()?;
        let (usr2, usr2_w) = UnixStream::pair()?;
        let (hup, hup_w) = UnixStream::pair()?;
        let (term, term_w) = UnixStream::pair()?;
        pipe::register(SIGUSR1, usr1_w)?;
        pipe::register(SIGUSR2, usr2_w)?;
        // logrotate and admins send HUP to syslog daemons routinely: it
        // must not kill this one (and its ring).
        pipe::register(SIGHUP, hup_w)?;
        pipe::register(SIGTERM, term_w.try_clone()?)?;
        pipe::register(SIGINT, term_w)?;
        Ok(Signals {
            usr1,
            usr2,
            hup,
            term,
        })
    }
}

/// `n` SIGUSR1 arrived: each toggles the pause. Returns the line to print.
pub fn usr1(st: &mut State, n: usize) -> String {
    for _ in 0..n {
        st.toggle_pause(crate::daemon::PausedBy::Signal);
    }
    let now = if st.paused() { "paused" } else { "resumed" };
    format!("circologd: SIGUSR1: {now}")
}

/// SIGUSR2 arrived (once or more: signals that arrive together take one
/// snapshot, the ring being the same for all of them). Returns the line to
/// print.
pub fn usr2(st: &mut State, now_us: i64) -> String {
    match st.take_snapshot(Why::Signal, None, now_us) {
        Ok(id) => format!("circologd: SIGUSR2: taking snapshot {id}"),
        Err(e) => format!("circologd: SIGUSR2: no snapshot taken: {e}"),
    }
}

/// What SIGHUP says.
pub const HUP: &str = "circologd: SIGHUP ignored (circologd keeps no files to reopen)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::syslog::ParseContext;
    use crate::store::ring::{Config, Ring};
    use crate::store::snapshot::{self, Snapshots};

    fn state(snapshot_bytes: usize) -> State {
        let ring = Ring::new(Config {
            max_messages: 10,
            arena_bytes: 1 << 12,
            max_message_bytes: 64,
        })
        .expect("ring");
        let snaps = Snapshots::new(snapshot::Config {
            arena_bytes: snapshot_bytes,
            max_snapshots: 2,
        })
        .expect("snapshots");
        State::new(
            ring,
            0,
            ParseContext {
                tz: jiff::tz::TimeZone::UTC,
            },
        )
        .with_snapshots(snaps)
    }

    #[test]
    fn usr1_toggles_once_per_signal_and_says_where_it_ends() {
        let mut st = state(0);
        assert_eq!(usr1(&mut st, 1), "circologd: SIGUSR1: paused");
        assert_eq!(usr1(&mut st, 2), "circologd: SIGUSR1: paused");
        assert_eq!(usr1(&mut st, 3), "circologd: SIGUSR1: resumed");
        assert!(!st.paused());
    }

    #[test]
    fn usr2_takes_a_snapshot_or_says_why_not() {
        assert_eq!(
            usr2(&mut state(1 << 12), 5),
            "circologd: SIGUSR2: taking snapshot 1"
        );
        assert_eq!(
            usr2(&mut state(0), 5),
            "circologd: SIGUSR2: no snapshot taken: snapshots are disabled (-snapshot-bytes 0)"
        );
    }
}
