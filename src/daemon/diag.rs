//! Rate limits for the daemon's own diagnostics. A failure that repeats (a
//! socket in error, descriptors run out) must not write a line to stderr
//! each time it happens: the journal would fill with one piece of news,
//! and the writing itself would cost the loop that fails.
//!
//! No clock is read here: the caller passes `now`, so that the tests drive
//! the limit with a clock of their own.

use std::fmt;
use std::time::{Duration, Instant};

/// At most one line per `every` for one kind of event. The events in
/// between are counted, and the count goes out with the next line, or with
/// [`Throttle::lull`] once the events stop.
#[derive(Clone, Debug)]
pub struct Throttle {
    every: Duration,
    /// When the last line went out; `None` before the first.
    last: Option<Instant>,
    /// Events since `last` that got no line.
    held: u64,
    /// Events and lines so far.
    events: u64,
    lines: u64,
}

/// How many events like the one of this line went without a line of their
/// own since the previous one: shown as ` (N more since the last report)`,
/// or as nothing when there were none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held(pub u64);

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} more since the last report)"),
        }
    }
}

impl Throttle {
    pub const fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            held: 0,
            events: 0,
            lines: 0,
        }
    }

    /// One line a second.
    pub const fn per_second() -> Throttle {
        Throttle::new(Duration::from_secs(1))
    }

    /// Counts one event at `now`. `Some` when its line is to be written,
    /// with the count of the events that got none since the previous line
    /// (to be written on it); `None` when it is only counted.
    pub fn admit(&mut self, now: Instant) -> Option<Held> {
        self.events += 1;
        if self.due(now) {
            Some(Held(self.let_out(now)))
        } else {
            self.held += 1;
            None
        }
    }

    /// The count of the events that got no line, once `every` has passed
    /// since the last line: the caller writes one line saying how many, so
    /// that the end of a burst is not kept silent until the next failure.
    /// Call it every now and then; `None` when there is nothing to say.
    pub fn lull(&mut self, now: Instant) -> Option<u64> {
        (self.held > 0 && self.due(now)).then(|| self.let_out(now))
    }

    /// Events counted so far, with a line or without.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Lines let out so far, by [`Throttle::admit`] and [`Throttle::lull`].
    pub fn lines(&self) -> u64 {
        self.lines
    }

    fn due(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every)
    }

    /// Starts a new interval at `now`; returns the count held until then.
    fn let_out(&mut self, now: Instant) -> u64 {
        self.last = Some(now);
        self.lines += 1;
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_gets_one_line_a_second_with_the_count_of_the_rest() {
        let t0 = Instant::now();
        let mut t = Throttle::per_second();
        // A failure every millisecond for 2.5 s: three lines.
        let lines: Vec<(u64, Held)> = (0..2500)
            .filter_map(|i| t.admit(t0 + ms(i)).map(|h| (i, h)))
            .collect();
        assert_eq!(
            lines,
            vec![(0, Held(0)), (1000, Held(999)), (2000, Held(999))]
        );
        assert_eq!((t.events(), t.lines()), (2500, 3));
        assert_eq!(t.lull(t0 + ms(3000)), Some(499));
        assert_eq!(Held(0).to_string(), "");
        assert_eq!(Held(999).to_string(), " (999 more since the last report)");
    }

    #[test]
    fn the_end_of_a_burst_is_told_once_the_interval_has_passed() {
        let t0 = Instant::now();
        let mut t = Throttle::per_second();
        assert_eq!(t.lull(t0), None, "nothing happened");
        assert_eq!(t.admit(t0), Some(Held(0)));
        assert_eq!(t.admit(t0 + ms(10)), None);
        assert_eq!(t.admit(t0 + ms(20)), None);
        assert_eq!(t.lull(t0 + ms(999)), None, "too soon");
        assert_eq!(t.lull(t0 + ms(1000)), Some(2));
        assert_eq!(t.lull(t0 + ms(5000)), None, "told already");
        // The lull's line counts as one: the next failure within the
        // interval after it waits.
        let mut t = Throttle::per_second();
        t.admit(t0);
        t.admit(t0 + ms(1));
        assert_eq!(t.lull(t0 + ms(1500)), Some(1));
        assert_eq!(t.admit(t0 + ms(1600)), None);
        assert_eq!(t.admit(t0 + ms(2500)), Some(Held(1)));
    }

    #[test]
    fn rare_events_each_get_their_line() {
        let t0 = Instant::now();
        let mut t = Throttle::new(ms(100));
        for i in 0..5 {
            assert_eq!(t.admit(t0 + ms(100 * i)), Some(Held(0)));
        }
        assert_eq!(t.lines(), 5);
        // A `now` before the last line's (instants taken out of order)
        // holds the line back rather than letting it out.
        assert_eq!(t.admit(t0), None);
    }
}
