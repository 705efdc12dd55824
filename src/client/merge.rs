//! The merge of several daemons' lines by receive time, as plain code: the
//! caller says when each line arrived and what time it is; the window says
//! which lines are due.
//!
//! Held lines are kept in receive order, and the first is printed once it
//! has been held for `window`: a line is never printed before one that
//! arrived within the window after it and was received earlier, so lines
//! whose arrivals are within the window of each other come out in receive
//! order. A line waits the window, and longer only behind one received
//! earlier that arrived after it. The window holds at
//! most `max_lines` lines and `max_bytes` bytes: past either, the oldest
//! received go out early (order within the window is then given up before
//! memory is), and [`MergeWindow::is_full`] tells the caller to stop taking
//! more until some are printed.

use std::time::{Duration, Instant};

use jiff::Timestamp;

/// Lines held for the merge, in receive order once due.
#[derive(Debug)]
pub struct MergeWindow<T> {
    window: Duration,
    max_lines: usize,
    max_bytes: usize,
    /// INVARIANT: sorted by `(received, order)`; `bytes` is the sum of the
    /// weights in `held`.
    held: Vec<Held<T>>,
    bytes: usize,
    arrived: u64,
}

#[derive(Debug)]
struct Held<T> {
    due: Instant,
    received: Timestamp,
    /// Arrival order: the tie-break, so that one source's lines with the
    /// same receive time keep their order.
    order: u64,
    weight: usize,
    item: T,
}

impl<T> MergeWindow<T> {
    /// A window of `window`, holding at most `max_lines` lines (at least
    /// one) and about `max_bytes` bytes.
    pub fn new(window: Duration, max_lines: usize, max_bytes: usize) -> MergeWindow<T> {
        MergeWindow {
            window,
            max_lines: max_lines.max(1),
            max_bytes,
            held: Vec::new(),
            bytes: 0,
            arrived: 0,
        }
    }

    /// Holds `item`, a line of `weight` bytes received (by its daemon) at
    /// `received`, arrived `now`.
    pub fn push(&mut self, now: Instant, received: Timestamp, weight: usize, item: T) {
        self.arrived += 1;
        self.bytes += weight;
        let order = self.arrived;
        let at = self
            .held
            .partition_point(|h| (h.received, h.order) <= (received, order));
        self.held.insert(
            at,
            Held {
                due: now + self.window,
                received,
                order,
                weight,
                item,
            },
        );
    }

    /// Whether the window holds as much as it may: take no more lines
    /// until [`MergeWindow::pop_due`] has given some out.
    pub fn is_full(&self) -> bool {
        self.held.len() >= self.max_lines || self.bytes >= self.max_bytes
    }

    /// When the line received first is due: nothing is printed before.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.first().map(|h| h.due)
    }

    /// Appends to `out`, in receive order, the lines to print at `now`:
    /// while the line received first has been held for the window, it;
    /// then, while the window is over its bounds, the oldest received.
    pub fn pop_due(&mut self, now: Instant, out: &mut Vec<T>) {
        let mut n = 0;
        let (mut lines, mut bytes) = (self.held.len(), self.bytes);
        while let Some(h) = self.held.get(n) {
            let over = lines > self.max_lines || bytes > self.max_bytes;
            if h.due > now && !over {
                break;
            }
            lines -= 1;
            bytes -= h.weight;
            n += 1;
        }
        self.bytes = bytes;
        out.extend(self.held.drain(..n).map(|h| h.item));
    }

    /// Every held line, in receive order: the end of the merge.
    pub fn drain(&mut self, out: &mut Vec<T>) {
        self.bytes = 0;
        out.extend(self.held.drain(..).map(|h| h.item));
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A line as the tests see it: (arrival in ms, receive time in ms, id).
    type Line = (u64, i64, usize);

    /// Feeds `lines` (sorted by arrival) through a window of `window_ms`,
    /// popping at every due time before each arrival, as the follower's
    /// loop does (t0 is a second in, so that a microsecond before any
    /// arrival is an instant); returns the ids in the order printed, and the largest
    /// number of lines held at once.
    fn run(lines: &[Line], window_ms: u64, max_lines: usize) -> (Vec<usize>, usize) {
        let t0 = Instant::now() + Duration::from_secs(1);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut w = MergeWindow::new(Duration::from_millis(window_ms), max_lines, usize::MAX);
        let mut out = Vec::new();
        let mut most = 0;
        for &(arrival, received, id) in lines {
            while let Some(due) = w.next_due().filter(|d| *d < at(arrival)) {
                w.pop_due(due, &mut out);
            }
            let received = Timestamp::from_millisecond(received).expect("in range");
            w.push(at(arrival), received, 1, id);
            // Sheds what is over the bounds, nothing due: what was due
            // before this arrival went out above, and lines arriving at
            // the same instant are all taken before any is printed.
            w.pop_due(at(arrival) - Duration::from_micros(1), &mut out);
            most = most.max(w.held.len());
        }
        w.drain(&mut out);
        (out, most)
    }

    #[test]
    fn a_line_from_another_source_received_earlier_goes_first() {
        // b's line arrives 50 ms after a's, but was received earlier.
        let lines = [(0, 1_000, 0), (50, 900, 1), (500, 950, 2)];
        let (out, _) = run(&lines, 200, 100);
        // 2 arrived after 0 and 1 were printed: the window is past.
        assert_eq!(out, [1, 0, 2]);
    }

    #[test]
    fn a_full_window_lets_the_oldest_go() {
        let lines: Vec<Line> = (0..10).map(|i| (0, i, i as usize)).collect();
        let (out, most) = run(&lines, 1_000, 3);
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert!(most <= 3, "{most}");
    }

    fn lines() -> impl Strategy<Value = Vec<Line>> {
        proptest::collection::vec((0u64..50, 0i64..2_000), 0..60).prop_map(|v| {
            let mut t = 0;
            v.into_iter()
                .enumerate()
                .map(|(id, (gap, received))| {
                    t += gap;
                    (t, received, id)
                })
                .collect()
        })
    }

    proptest! {
        /// Every line comes out once; lines that arrived within the window
        /// of each other come out in receive order.
        #[test]
        fn sorted_within_the_window_and_nothing_lost(lines in lines(), window in 0u64..300) {
            let (out, _) = run(&lines, window, usize::MAX);
            let mut ids = out.clone();
            ids.sort_unstable();
            prop_assert_eq!(ids, (0..lines.len()).collect::<Vec<_>>());
            let pos = |id: usize| out.iter().position(|&o| o == id).expect("printed");
            for a in &lines {
                for b in &lines {
                    if a.0.abs_diff(b.0) <= window && a.1 < b.1 {
                        prop_assert!(pos(a.2) < pos(b.2), "{:?} before {:?}: {:?}", a, b, out);
                    }
                }
            }
        }

        /// With any bound, nothing is lost and the bound holds.
        #[test]
        fn bounded_and_nothing_lost(lines in lines(), window in 0u64..300, max in 1usize..8) {
            let (out, most) = run(&lines, window, max);
            let mut ids = out;
            ids.sort_unstable();
            prop_assert_eq!(ids, (0..lines.len()).collect::<Vec<_>>());
            prop_assert!(most <= max);
        }
    }
}
