//! Following: where a (re)connection starts, so that nothing is printed
//! twice and nothing still in the ring is missed.

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

#[cfg(test)]
mod tests {
    use super::*;

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
