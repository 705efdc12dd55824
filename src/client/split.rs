//! Cutting a response body into lines, across the pieces it arrives in,
//! with a bound on how long a line may grow: a peer that sends one endless
//! line costs at most [`MAX_LINE`] bytes, then an error.

use std::io;

/// The longest line a client takes from a daemon: a message's JSON is a
/// few times its text at most, and circologd keeps messages of 16 KiB by
/// default; a longer line is a peer that is not circologd, or broken.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// Cuts a body into lines. INVARIANT: `partial` holds at most `max` bytes
/// and no line feed.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max: usize,
    too_long: bool,
}

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter::new(MAX_LINE)
    }
}

impl LineSplitter {
    /// A splitter that refuses lines longer than `max` bytes.
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            partial: Vec::new(),
            max,
            too_long: false,
        }
    }

    /// Hands every whole line in `data` (after what earlier pieces left)
    /// to `each`, without its line feed. A line longer than the bound is an
    /// `InvalidData` error, and [`LineSplitter::too_long`] says so.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        while let Some(nl) = memchr::memchr(b'\n', data) {
            if self.partial.is_empty() {
                self.check(nl)?;
                each(&data[..nl])?;
            } else {
                self.check(self.partial.len() + nl)?;
                self.partial.extend_from_slice(&data[..nl]);
                let line = std::mem::take(&mut self.partial);
                each(&line)?;
            }
            data = &data[nl + 1..];
        }
        self.check(self.partial.len() + data.len())?;
        self.partial.extend_from_slice(data);
        Ok(())
    }

    /// [`LineSplitter::feed`], the lines handed to `each` in runs of whole
    /// lines, each with its line feed (a run is at most what `data` holds,
    /// or one line completed from earlier pieces): the same lines, the same
    /// bound, the same error after the same lines.
    pub fn feed_runs(
        &mut self,
        mut data: &[u8],
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if !self.partial.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', data) else {
                self.check(self.partial.len() + data.len())?;
                self.partial.extend_from_slice(data);
                return Ok(());
            };
            self.check(self.partial.len() + nl)?;
            self.partial.extend_from_slice(&data[..=nl]);
            let line = std::mem::take(&mut self.partial);
            each(&line)?;
            data = &data[nl + 1..];
        }
        if let Some(last) = memchr::memrchr(b'\n', data) {
            let run = &data[..=last];
            // A run no longer than the bound holds no line longer than it.
            if run.len() > self.max {
                let mut start = 0;
                for nl in memchr::memchr_iter(b'\n', run) {
                    if nl - start > self.max {
                        if start > 0 {
                            each(&run[..start])?;
                        }
                        return self.check(nl - start);
                    }
                    start = nl + 1;
                }
            }
            each(run)?;
            data = &data[last + 1..];
        }
        self.check(data.len())?;
        self.partial.extend_from_slice(data);
        Ok(())
    }

    /// [`LineSplitter::finish`] for [`LineSplitter::feed_runs`]: the last
    /// line, with a line feed, when the body did not end with one.
    pub fn finish_runs(&mut self, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let mut line = std::mem::take(&mut self.partial);
        line.push(b'\n');
        each(&line)
    }

    /// The last line, when the body did not end with a line feed.
    pub fn finish(&mut self, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.partial);
        each(&line)
    }

    /// Whether a line went past the bound (the error `feed` returned).
    pub fn too_long(&self) -> bool {
        self.too_long
    }

    /// The bound, for the error line.
    pub fn max(&self) -> usize {
        self.max
    }

    fn check(&mut self, len: usize) -> io::Result<()> {
        if len <= self.max {
            return Ok(());
        }
        self.too_long = true;
        self.partial = Vec::new();
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a line longer than {} bytes", self.max),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(pieces: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, bool) {
        let mut s = LineSplitter::new(max);
        let mut got = Vec::new();
        for p in pieces {
            if s.feed(p, |l| {
                got.push(l.to_vec());
                Ok(())
            })
            .is_err()
            {
                return (got, s.too_long());
            }
        }
        s.finish(|l| {
            got.push(l.to_vec());
            Ok(())
        })
        .expect("finish");
        (got, s.too_long())
    }

    /// What [`LineSplitter::feed_runs`] hands out, joined, and whether a
    /// line went past the bound.
    fn split_runs(pieces: &[&[u8]], max: usize) -> (Vec<u8>, bool) {
        let mut s = LineSplitter::new(max);
        let mut got = Vec::new();
        for p in pieces {
            let fed = s.feed_runs(p, |run| {
                assert!(run.ends_with(b"\n"), "{run:?}");
                got.extend_from_slice(run);
                Ok(())
            });
            if fed.is_err() {
                return (got, s.too_long());
            }
        }
        s.finish_runs(|run| {
            got.extend_from_slice(run);
            Ok(())
        })
        .expect("finish");
        (got, s.too_long())
    }

    /// The lines [`split`] hands out, each with a line feed.
    fn joined(lines: &[Vec<u8>]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect()
    }

    #[test]
    fn lines_across_pieces_and_a_last_line_without_feed() {
        let (got, long) = split(&[b"ab", b"c\nd", b"\n\nef"], 10);
        assert_eq!(got, [&b"abc"[..], b"d", b"", b"ef"]);
        assert!(!long);
    }

    #[test]
    fn an_endless_line_is_an_error_not_memory() {
        let mut s = LineSplitter::new(8);
        let mut n = 0;
        let chunk = [b'x'; 3];
        let err = loop {
            if let Err(e) = s.feed(&chunk, |_| Ok(())) {
                break e;
            }
            n += 1;
            assert!(n < 10, "never refused");
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(s.too_long());
        assert!(s.partial.capacity() <= 8);
        // A whole line over the bound in one piece, too.
        let (got, long) = split(&[b"ok\n0123456789\nnext\n"], 8);
        assert_eq!(got, [&b"ok"[..]]);
        assert!(long);
    }

    proptest! {
        /// Lines handed out in runs are the lines handed out one by one,
        /// and a line past the bound is refused after the same lines,
        /// however the body is cut.
        #[test]
        fn runs_are_the_same_lines(
            body in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'a'), Just(b'b')], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..10),
            max in 0usize..12,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&body[at..c]);
                at = c;
            }
            pieces.push(&body[at..]);
            let (lines, long) = split(&pieces, max);
            prop_assert_eq!(split_runs(&pieces, max), (joined(&lines), long));
        }

        /// However the body is cut, the lines are the same.
        #[test]
        fn pieces_do_not_matter(body in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'a'), Just(b'b')], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..10)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&body[at..c]);
                at = c;
            }
            pieces.push(&body[at..]);
            let (got, long) = split(&pieces, 1000);
            prop_assert!(!long);
            let mut want: Vec<Vec<u8>> = body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            if want.last().is_some_and(Vec::is_empty) {
                want.pop();
            }
            prop_assert_eq!(got, want);
        }
    }
}
