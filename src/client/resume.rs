//! Following: where a (re)connection starts, so that nothing is printed
//! twice and nothing still in the ring is missed.

use std::time::Duration;

use super::Start;
use crate::store::ring::Seq;

/// What a follower knows of its position in one daemon's ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The daemon process the seqs below belong to.
    pub epoch: i64,
    /// The seq of the last message printed from this daemon.
    pub printed: Option<Seq>,
    /// When nothing has been printed yet: the newest seq in the ring when
    /// following started with `-n`, or the seq following started after
    /// (`--after-seq`), so that a resume asks for what came after it rather
    /// than the whole ring.
    pub floor: Option<Seq>,
}

/// Decides where a (re)connection to the daemon with `epoch` starts, and
/// the cursor to keep for it.
///
/// * First connection: `initial` (what `-n` asked for).
/// * Same daemon (same epoch): after the last message printed, so that
///   nothing is printed twice and nothing still in the ring is missed; if
///   nothing was printed yet, after the floor, or the whole ring when there
///   is none.
/// * Another daemon (new epoch): its seqs started again, so its whole
///   buffer is new to us.
///
/// `newest` is the newest seq in the ring now (`None` when it is empty).
pub fn plan(
    prev: Option<&Cursor>,
    initial: Start,
    epoch: i64,
    newest: Option<Seq>,
) -> (Start, Cursor) {
    let fresh = Cursor {
        epoch,
        printed: None,
        floor: None,
    };
    match prev {
        None => {
            let floor = match initial {
                Start::Last(_) => newest,
                // `-n N --after-seq SEQ`: as `-n`, never before SEQ.
                Start::LastAfter(_, s) => newest.max(Some(s)),
                // `--after-seq`: a reconnection before anything was
                // printed still starts after that seq.
                Start::Since(s) => Some(s),
                Start::All => None,
            };
            (initial, Cursor { floor, ..fresh })
        }
        Some(c) if c.epoch != epoch => (Start::All, fresh),
        Some(c) => (c.printed.or(c.floor).map_or(Start::All, Start::Since), *c),
    }
}

/// Reconnection backoff: the first wait, doubled after each failure up to
/// the last.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why an attempt to (re)open a follow failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    /// Nothing there (yet): no socket file, nobody listening.
    Absent,
    /// There, but not answering, or gone while connecting.
    Unreachable,
    /// There, and not circologd's query API (another API, not HTTP, not
    /// ours to use): the user's to look at, unless another daemon takes
    /// its place.
    Wrong,
}

/// What to do after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Say this once on standard error, and try again.
    Tell(String),
    /// Try again without a word: it was said already.
    Quietly,
    /// Give up with this line.
    Stop(String),
}

/// The reconnection state of a follower of one daemon: what it has said,
/// and how long it waits before the next attempt. Each state is said once
/// on standard error, never once per attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconnect {
    state: Link,
    delay: Duration,
    /// One of several sources: a source that fails is said and retried,
    /// whatever the failure, while the others go on. Alone, a daemon that
    /// is there but does not answer properly at the first attempt is the
    /// user's to look at.
    one_of_many: bool,
    /// Why the last connection was lost, as said.
    lost_because: Option<String>,
    /// The last loss was not said (the same as the one before, on a
    /// connection that gave nothing): neither is the reconnection.
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Never connected, nothing said yet.
    Starting,
    /// Never connected, and said so.
    Waiting,
    Connected,
    /// Had a connection and lost it (said).
    Lost,
}

impl Reconnect {
    pub fn new(one_of_many: bool) -> Reconnect {
        Reconnect {
            state: Link::Starting,
            delay: BACKOFF_FIRST,
            one_of_many,
            lost_because: None,
            quiet: false,
        }
    }

    /// How long to wait before the next attempt: nothing before the first.
    pub fn wait(&self) -> Option<Duration> {
        (self.state != Link::Starting).then_some(self.delay)
    }

    /// Connected to `name`; `restarted` when it is another daemon than the
    /// one the cursor was for. Returns what to say, if anything.
    pub fn connected(&mut self, name: &str, restarted: bool) -> Option<String> {
        let said = match self.state {
            Link::Lost if self.quiet => None,
            Link::Lost => {
                let note = if restarted {
                    " (circologd restarted: showing its buffer from the start)"
                } else {
                    ""
                };
                Some(format!("reconnected to {name}{note}"))
            }
            Link::Waiting => Some(format!("connected to {name}")),
            Link::Starting | Link::Connected => None,
        };
        self.state = Link::Connected;
        said
    }

    /// The connection to `name` was lost because of `reason`; it had
    /// `progressed` (given something, or lasted) or not. Returns what to
    /// say: nothing when a connection that gave nothing is lost as the one
    /// before was, so that a source that fails right after every
    /// connection (a frame too large, say) is said once, and waited for
    /// longer each time.
    pub fn lost(&mut self, name: &str, reason: &str, progressed: bool) -> Option<String> {
        self.state = Link::Lost;
        self.quiet = !progressed && self.lost_because.as_deref() == Some(reason);
        if progressed {
            self.delay = BACKOFF_FIRST;
        } else {
            self.delay = (self.delay * 2).min(BACKOFF_MAX);
        }
        if self.quiet {
            return None;
        }
        self.lost_because = Some(reason.to_string());
        Some(format!("lost connection to {name}: {reason}; reconnecting"))
    }

    /// An attempt failed with `line`.
    pub fn failed(&mut self, why: Failed, line: String) -> Retry {
        match (self.state, why) {
            (Link::Starting, Failed::Absent) => {
                self.state = Link::Waiting;
                Retry::Tell(format!("waiting for circologd: {line}"))
            }
            (Link::Starting, _) if self.one_of_many => {
                self.state = Link::Waiting;
                Retry::Tell(format!("{line}; trying again"))
            }
            (Link::Starting, _) => Retry::Stop(line),
            (_, Failed::Wrong) if !self.one_of_many => Retry::Stop(line),
            _ => {
                self.delay = (self.delay * 2).min(BACKOFF_MAX);
                Retry::Quietly
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_a_daemon_that_answers_badly_at_first_is_an_error() {
        let mut r = Reconnect::new(false);
        assert_eq!(r.wait(), None);
        assert_eq!(
            r.failed(Failed::Unreachable, "x: no answer".into()),
            Retry::Stop("x: no answer".into())
        );
        let mut r = Reconnect::new(false);
        assert_eq!(
            r.failed(Failed::Absent, "cannot connect".into()),
            Retry::Tell("waiting for circologd: cannot connect".into())
        );
        assert_eq!(r.wait(), Some(BACKOFF_FIRST));
        assert_eq!(r.failed(Failed::Absent, "again".into()), Retry::Quietly);
        assert_eq!(r.wait(), Some(BACKOFF_FIRST * 2));
        assert_eq!(r.connected("q", false), Some("connected to q".into()));
        assert_eq!(
            r.lost("q", "closed", true),
            Some("lost connection to q: closed; reconnecting".into())
        );
        assert_eq!(r.wait(), Some(BACKOFF_FIRST));
        assert_eq!(r.failed(Failed::Unreachable, "u".into()), Retry::Quietly);
        // A socket that turned into something else is said and ends it.
        assert_eq!(
            r.failed(Failed::Wrong, "not HTTP".into()),
            Retry::Stop("not HTTP".into())
        );
    }

    #[test]
    fn one_of_many_is_said_once_and_retried_whatever_the_failure() {
        let mut r = Reconnect::new(true);
        assert_eq!(
            r.failed(Failed::Wrong, "b does not speak HTTP".into()),
            Retry::Tell("b does not speak HTTP; trying again".into())
        );
        let mut waits = Vec::new();
        for why in [
            Failed::Wrong,
            Failed::Unreachable,
            Failed::Absent,
            Failed::Wrong,
        ] {
            assert_eq!(r.failed(why, "again".into()), Retry::Quietly);
            waits.push(r.wait().expect("a wait"));
        }
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        for _ in 0..20 {
            r.failed(Failed::Unreachable, "x".into());
        }
        assert_eq!(r.wait(), Some(BACKOFF_MAX));
        assert_eq!(r.connected("b", false), Some("connected to b".into()));
        assert_eq!(r.connected("b", false), None);
        assert!(r.lost("b", "gone", true).is_some());
        assert_eq!(r.failed(Failed::Wrong, "not HTTP".into()), Retry::Quietly);
        assert_eq!(
            r.connected("b", true),
            Some(
                "reconnected to b (circologd restarted: showing its buffer from the start)".into()
            )
        );
    }

    #[test]
    fn a_source_that_fails_after_every_connection_is_said_once() {
        let mut r = Reconnect::new(true);
        assert_eq!(r.connected("b", false), None);
        assert!(r.lost("b", "frame too long", false).is_some());
        assert_eq!(r.connected("b", false), Some("reconnected to b".into()));
        let mut waits = Vec::new();
        for _ in 0..10 {
            assert_eq!(r.lost("b", "frame too long", false), None);
            waits.push(r.wait().expect("a wait"));
            assert_eq!(r.connected("b", false), None);
        }
        assert_eq!(waits.last(), Some(&BACKOFF_MAX));
        // Another reason, or a connection that gave something, is said.
        assert!(r.lost("b", "closed", false).is_some());
        assert!(r.lost("b", "closed", true).is_some());
        assert_eq!(r.wait(), Some(BACKOFF_FIRST));
    }

    #[test]
    fn the_last_n_after_a_seq_resumes_after_both() {
        let (start, c) = plan(
            None,
            Start::LastAfter(2, Seq::new(40)),
            5,
            Some(Seq::new(99)),
        );
        assert_eq!(
            (start, c.floor),
            (Start::LastAfter(2, Seq::new(40)), Some(Seq::new(99)))
        );
        let (_, c) = plan(
            None,
            Start::LastAfter(2, Seq::new(40)),
            5,
            Some(Seq::new(10)),
        );
        assert_eq!(c.floor, Some(Seq::new(40)));
    }

    #[test]
    fn first_connection_uses_what_the_user_asked() {
        let (start, c) = plan(None, Start::Last(10), 5, Some(Seq::new(99)));
        assert_eq!(start, Start::Last(10));
        assert_eq!(
            c,
            Cursor {
                epoch: 5,
                printed: None,
                floor: Some(Seq::new(99))
            }
        );
        let (start, c) = plan(None, Start::All, 5, Some(Seq::new(99)));
        assert_eq!((start, c.floor), (Start::All, None));
        // `--after-seq 40`: lost before printing anything, it resumes after
        // 40 still, not from the start of the ring.
        let (start, c) = plan(None, Start::Since(Seq::new(40)), 5, Some(Seq::new(99)));
        assert_eq!(
            (start, c.floor),
            (Start::Since(Seq::new(40)), Some(Seq::new(40)))
        );
        assert_eq!(
            plan(Some(&c), Start::Since(Seq::new(40)), 5, Some(Seq::new(120))).0,
            Start::Since(Seq::new(40))
        );
    }

    #[test]
    fn same_epoch_resumes_after_the_last_printed() {
        let c = Cursor {
            epoch: 5,
            printed: Some(Seq::new(120)),
            floor: Some(Seq::new(99)),
        };
        assert_eq!(
            plan(Some(&c), Start::Last(10), 5, Some(Seq::new(130))).0,
            Start::Since(Seq::new(120))
        );
        // Nothing printed yet: after what was in the ring when we started.
        let c = Cursor { printed: None, ..c };
        assert_eq!(
            plan(Some(&c), Start::Last(10), 5, Some(Seq::new(130))).0,
            Start::Since(Seq::new(99))
        );
        // Nothing printed and no floor: the ring was empty, all of it is new.
        let c = Cursor { floor: None, ..c };
        assert_eq!(
            plan(Some(&c), Start::Last(10), 5, Some(Seq::new(130))).0,
            Start::All
        );
    }

    #[test]
    fn new_epoch_starts_from_the_start_of_the_new_ring() {
        let c = Cursor {
            epoch: 5,
            printed: Some(Seq::new(120)),
            floor: Some(Seq::new(99)),
        };
        let (start, next) = plan(Some(&c), Start::Last(10), 6, Some(Seq::new(3)));
        assert_eq!(start, Start::All);
        assert_eq!(
            next,
            Cursor {
                epoch: 6,
                printed: None,
                floor: None
            }
        );
    }
}
