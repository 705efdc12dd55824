//! The arithmetic of circologd's event loop, apart from its I/O: what a
//! short vectored write leaves to send, how long housekeeping sleeps, and
//! the one clock read.

use std::time::Duration;

use bytes::Bytes;

/// Drops from `bufs` the `n` bytes a vectored write took: the buffers it
/// wrote whole, and the start of the one it stopped in. What is left is
/// what the next write sends, in order.
pub fn consume(bufs: &mut Vec<Bytes>, mut n: usize) {
    let done = bufs
        .iter()
        .take_while(|b| {
            let whole = b.len() <= n;
            if whole {
                n -= b.len();
            }
            whole
        })
        .count();
    bufs.drain(..done);
    if let Some(first) = bufs.first_mut() {
        *first = first.slice(n..);
    }
}

/// The wall clock, µs since 1970 (0 before it): the one place circologd
/// reads it. Everything else in the library is handed its `now_us`.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The ingest loop enters the datagram ring and looks for sockets with
/// datagrams waiting but no word from the kernel this often while datagrams
/// come (a lost wake-up must not stall a socket whose senders then block),
pub const INGEST_CHECK: Duration = Duration::from_millis(10);
/// and this often when none came since the last look: an idle daemon wakes
/// four times a second.
pub const INGEST_CHECK_IDLE: Duration = Duration::from_millis(250);

/// How soon the ingest loop's next safety check is due.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckCadence {
    /// Messages received at the last check.
    received: u64,
}

impl CheckCadence {
    /// At a check, with `received_total` messages received so far: the
    /// wait until the next one ([`INGEST_CHECK`] while messages come, else
    /// [`INGEST_CHECK_IDLE`]).
    pub fn next(&mut self, received_total: u64) -> Duration {
        let busy = received_total != std::mem::replace(&mut self.received, received_total);
        if busy {
            INGEST_CHECK
        } else {
            INGEST_CHECK_IDLE
        }
    }
}

/// Housekeeping runs at least once a second.
pub const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(1);

/// How long housekeeping may sleep at `now_us`: until the next deadline
/// (a timed pause, a post-roll; none past), at most
/// [`HOUSEKEEPING_PERIOD`].
pub fn housekeeping_wait(next_deadline_us: Option<i64>, now_us: i64) -> Duration {
    next_deadline_us.map_or(HOUSEKEEPING_PERIOD, |at| {
        let left = u64::try_from(at.saturating_sub(now_us)).unwrap_or(0);
        Duration::from_micros(left).min(HOUSEKEEPING_PERIOD)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_often_while_messages_come_and_seldom_when_idle() {
        let mut c = CheckCadence::default();
        assert_eq!(c.next(0), INGEST_CHECK_IDLE);
        assert_eq!(c.next(5), INGEST_CHECK);
        assert_eq!(c.next(9), INGEST_CHECK);
        assert_eq!(c.next(9), INGEST_CHECK_IDLE, "nothing since the last check");
        assert_eq!(c.next(10), INGEST_CHECK);
    }

    fn bufs(parts: &[&'static str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::from_static(p.as_bytes()))
            .collect()
    }

    fn left(b: &[Bytes]) -> Vec<&[u8]> {
        b.iter().map(|b| &b[..]).collect()
    }

    #[test]
    fn a_short_write_leaves_the_rest_in_order() {
        let mut b = bufs(&["head", "body1", "body2"]);
        consume(&mut b, 0);
        assert_eq!(left(&b), [&b"head"[..], b"body1", b"body2"]);
        consume(&mut b, 2);
        assert_eq!(left(&b), [&b"ad"[..], b"body1", b"body2"]);
        // Ending exactly at a buffer's end drops it whole.
        consume(&mut b, 2);
        assert_eq!(left(&b), [&b"body1"[..], b"body2"]);
        // Across a boundary.
        consume(&mut b, 7);
        assert_eq!(left(&b), [&b"dy2"[..]]);
        consume(&mut b, 3);
        assert!(b.is_empty());
        // Empty buffers in between are passed over.
        let mut b = bufs(&["ab", "", "cd"]);
        consume(&mut b, 2);
        assert_eq!(left(&b), [&b"cd"[..]]);
    }

    #[test]
    fn housekeeping_sleeps_until_the_next_deadline_a_second_at_most() {
        assert_eq!(housekeeping_wait(None, 5_000_000), Duration::from_secs(1));
        assert_eq!(
            housekeeping_wait(Some(5_250_000), 5_000_000),
            Duration::from_millis(250)
        );
        assert_eq!(
            housekeeping_wait(Some(60_000_000), 5_000_000),
            Duration::from_secs(1)
        );
        // A deadline already past: at once.
        assert_eq!(
            housekeeping_wait(Some(4_000_000), 5_000_000),
            Duration::ZERO
        );
        assert_eq!(housekeeping_wait(Some(i64::MIN), i64::MAX), Duration::ZERO);
    }
}
