//! Cutting a TCP byte stream into syslog messages (RFC 6587).
//!
//! Both framings are accepted on one stream, decided frame by frame:
//!
//! - octet counting, `LEN SP MSG`: a frame that starts with a digit `1`-`9`,
//!   at most [`MAX_COUNT_DIGITS`] digits in all, then a space;
//! - newline framing, `MSG LF`: anything else, up to the next `\n` or NUL
//!   (Python's `SysLogHandler` over TCP, and other senders, end each
//!   message with a NUL; a NUL cannot be part of a line of text anyway).
//!
//! A frame longer than the limit is emitted cut to the limit and marked
//! truncated; the rest of it is skipped as it arrives, never buffered. A run
//! of more than [`MAX_COUNT_DIGITS`] digits is not a length: the frame is
//! newline-framed and the digits are its first bytes. So memory is one
//! buffer of the limit's size, whatever the sender does.
//!
//! Every whole frame loses its trailing `\n`, `\r` and NUL bytes (the rule
//! datagrams follow too); frames that are empty after that (blank lines,
//! `1 \n`) are not emitted.

use memchr::memchr2;

/// Whether `byte` ends a newline-framed frame.
fn ends_line(byte: u8) -> bool {
    byte == b'\n' || byte == 0
}

/// Where the first byte that ends a newline-framed frame is in `data`.
fn line_end(data: &[u8]) -> Option<usize> {
    memchr2(b'\n', 0, data)
}

use super::trim_trailer;

/// Digits a length may have: up to 999 999 999 bytes, which no limit
/// reaches and no arithmetic overflows.
pub const MAX_COUNT_DIGITS: usize = 9;

/// One message cut from a TCP stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub bytes: &'a [u8],
    /// The frame was longer than the limit and was cut, or the stream ended
    /// in the middle of an octet-counted frame.
    pub truncated: bool,
}

/// The framing state of one TCP stream.
pub struct Framer {
    /// Longest frame emitted whole; longer ones are cut to it. It counts
    /// every byte of the message, including a `\r` or NULs before the `\n`.
    max_frame: usize,
    /// The start of the current frame, when it began in an earlier `feed`.
    /// INVARIANT: `buf.len() <= max_frame`, and `max_frame <= buf.capacity()`
    /// while it holds anything, so it never reallocates. An idle stream
    /// holds no buffer: it is allocated when a frame spans two feeds, and
    /// wiped and given back once that frame is out.
    buf: Vec<u8>,
    /// The digits of a possible length, when they began in an earlier
    /// `feed`; only the first `held` of `State::Count` are meaningful.
    digits: [u8; MAX_COUNT_DIGITS],
    state: State,
}

impl Drop for Framer {
    /// A stream that closes mid-frame leaves no message bytes behind.
    fn drop(&mut self) {
        self.release();
    }
}

/// What the stream is in the middle of.
///
/// ```text
///  FrameStart ─1-9─► Count ─SP─► Counted ─LEN bytes─────────► FrameStart
///     │  ▲             │            └─ LEN > max: max bytes ─► Discarding(rest) ─► FrameStart
///     │  └─ LF, NUL    └─ other byte, or a 10th digit ─┐
///     └─ other byte ─────────────────────────────────► Line ─LF, NUL─► FrameStart
///                                                        └─ more than max ─► DiscardingToEol ─LF, NUL─► FrameStart
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The next byte starts a frame.
    FrameStart,
    /// Reading what may be a length: `held` digits so far, in `digits`,
    /// worth `len`.
    Count { held: usize, len: usize },
    /// Inside an octet-counted frame: `want` more bytes to keep (the kept
    /// ones so far are in `buf`), then `discard` more to skip.
    Counted { want: usize, discard: usize },
    /// Inside a newline-framed frame; the bytes so far are in `buf`.
    Line,
    /// Skipping the rest of an oversize octet-counted frame: this many bytes.
    Discarding(usize),
    /// Skipping the rest of an oversize newline-framed frame, up to its
    /// `\n` or NUL.
    DiscardingToEol,
}

impl Framer {
    /// A framer that emits frames of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Framer {
        Framer {
            max_frame,
            buf: Vec::new(),
            digits: [0; MAX_COUNT_DIGITS],
            state: State::FrameStart,
        }
    }

    /// Consumes bytes as they arrive, split anywhere, and emits every frame
    /// they complete. A frame wholly inside `data` is emitted from `data`
    /// without copying.
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(Frame<'_>)) {
        while !data.is_empty() {
            data = self.step(data, &mut emit);
        }
    }

    /// The stream ended: emits the frame in progress, if any. A pending
    /// newline frame (or a lone run of digits) is emitted as it is; an
    /// octet-counted frame cut short is emitted marked truncated.
    pub fn finish(&mut self, mut emit: impl FnMut(Frame<'_>)) {
        match self.state {
            State::Line => deliver(&self.buf, false, &mut emit),
            State::Count { held, .. } => {
                let kept = held.min(self.max_frame);
                deliver(&self.digits[..kept], kept < held, &mut emit);
            }
            State::Counted { .. } => deliver(&self.buf, true, &mut emit),
            State::FrameStart | State::Discarding(_) | State::DiscardingToEol => {}
        }
        self.release();
        self.state = State::FrameStart;
    }

    /// Keeps bytes of a frame that goes on in the next feed.
    fn hold(&mut self, bytes: &[u8]) {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(self.max_frame);
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The held frame is out: its bytes are overwritten, and the buffer
    /// given back.
    fn release(&mut self) {
        if self.buf.capacity() > 0 {
            self.buf.fill(0);
            self.buf = Vec::new();
        }
    }

    /// Handles the start of `data` in the current state and returns what is
    /// left of it. Each call consumes at least one byte or moves to a state
    /// that will.
    fn step<'d>(&mut self, data: &'d [u8], emit: &mut impl FnMut(Frame<'_>)) -> &'d [u8] {
        match self.state {
            State::FrameStart => match data[0] {
                b'1'..=b'9' => self.count(data, 0, 0, emit),
                // An empty frame.
                b if ends_line(b) => &data[1..],
                _ => {
                    self.state = State::Line;
                    data
                }
            },
            State::Count { held, len } => self.count(data, held, len, emit),
            State::Counted { want, discard } => self.counted(data, want, discard, emit),
            State::Line => self.line(data, emit),
            State::Discarding(left) => {
                let skip = left.min(data.len());
                self.state = match left - skip {
                    0 => State::FrameStart,
                    left => State::Discarding(left),
                };
                &data[skip..]
            }
            State::DiscardingToEol => match line_end(data) {
                Some(end) => {
                    self.state = State::FrameStart;
                    &data[end + 1..]
                }
                None => &[],
            },
        }
    }

    /// Reads length digits; `held` of them, worth `len`, came before `data`.
    fn count<'d>(
        &mut self,
        data: &'d [u8],
        held: usize,
        mut len: usize,
        emit: &mut impl FnMut(Frame<'_>),
    ) -> &'d [u8] {
        let mut i = 0;
        loop {
            match data.get(i) {
                Some(&digit @ b'0'..=b'9') if held + i < MAX_COUNT_DIGITS => {
                    len = len * 10 + usize::from(digit - b'0');
                    i += 1;
                }
                Some(b' ') => {
                    let want = len.min(self.max_frame);
                    self.state = State::Counted {
                        want,
                        discard: len - want,
                    };
                    self.release();
                    return &data[i + 1..];
                }
                Some(_) => {
                    // Not a length: a newline-framed message that starts with
                    // digits. Those held from earlier feeds go to `buf`; those
                    // in `data` are read again as the line's first bytes.
                    self.state = State::Line;
                    let digits = self.digits;
                    self.line_part(&digits[..held], emit);
                    return data;
                }
                None => {
                    self.digits[held..held + i].copy_from_slice(data);
                    self.state = State::Count {
                        held: held + i,
                        len,
                    };
                    return &[];
                }
            }
        }
    }

    fn counted<'d>(
        &mut self,
        data: &'d [u8],
        want: usize,
        discard: usize,
        emit: &mut impl FnMut(Frame<'_>),
    ) -> &'d [u8] {
        let after = match discard {
            0 => State::FrameStart,
            n => State::Discarding(n),
        };
        if self.buf.is_empty() && data.len() >= want {
            deliver(&data[..want], discard > 0, emit);
            self.state = after;
            return &data[want..];
        }
        let take = want.min(data.len());
        self.hold(&data[..take]);
        if take == want {
            deliver(&self.buf, discard > 0, emit);
            self.release();
            self.state = after;
        } else {
            self.state = State::Counted {
                want: want - take,
                discard,
            };
        }
        &data[take..]
    }

    fn line<'d>(&mut self, data: &'d [u8], emit: &mut impl FnMut(Frame<'_>)) -> &'d [u8] {
        let Some(end) = line_end(data) else {
            self.line_part(data, emit);
            return &[];
        };
        let rest = &data[..end];
        if self.buf.is_empty() {
            let kept = rest.len().min(self.max_frame);
            deliver(&rest[..kept], kept < rest.len(), emit);
        } else {
            let room = self.max_frame - self.buf.len();
            let kept = rest.len().min(room);
            self.hold(&rest[..kept]);
            deliver(&self.buf, kept < rest.len(), emit);
            self.release();
        }
        self.state = State::FrameStart;
        &data[end + 1..]
    }

    /// Takes `chunk`, which has no `\n` or NUL, as more of the current line.
    fn line_part(&mut self, chunk: &[u8], emit: &mut impl FnMut(Frame<'_>)) {
        let room = self.max_frame - self.buf.len();
        if chunk.len() <= room {
            self.hold(chunk);
            return;
        }
        // Over the limit: emit what fits now, skip the rest as it comes.
        if self.buf.is_empty() {
            deliver(&chunk[..room], true, emit);
        } else {
            self.hold(&chunk[..room]);
            deliver(&self.buf, true, emit);
            self.release();
        }
        self.state = State::DiscardingToEol;
    }
}

/// Emits a frame unless it is empty; a whole frame loses its trailer, a
/// truncated one is emitted as cut.
fn deliver(bytes: &[u8], truncated: bool, emit: &mut impl FnMut(Frame<'_>)) {
    let bytes = if truncated {
        bytes
    } else {
        trim_trailer(bytes)
    };
    if !bytes.is_empty() {
        emit(Frame { bytes, truncated });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Frames as owned `(bytes, truncated)`, fed in pieces cut at `splits`.
    fn frames(max_frame: usize, stream: &[u8], splits: &[usize]) -> Vec<(Vec<u8>, bool)> {
        let mut framer = Framer::new(max_frame);
        let mut out = Vec::new();
        let mut collect = |frame: Frame<'_>| out.push((frame.bytes.to_vec(), frame.truncated));
        let mut start = 0;
        for &split in splits {
            let split = split.clamp(start, stream.len());
            framer.feed(&stream[start..split], &mut collect);
            start = split;
        }
        framer.feed(&stream[start..], &mut collect);
        framer.finish(&mut collect);
        assert!(framer.buf.capacity() <= max_frame.max(1) * 2, "buffer grew");
        out
    }

    fn whole(bytes: &str) -> (Vec<u8>, bool) {
        (bytes.as_bytes().to_vec(), false)
    }

    fn cut(bytes: &str) -> (Vec<u8>, bool) {
        (bytes.as_bytes().to_vec(), true)
    }

    #[test]
    fn several_newline_frames_in_one_feed() {
        let stream = b"<13>one\n<13>two\n<13>three\n";
        assert_eq!(
            frames(64, stream, &[]),
            [whole("<13>one"), whole("<13>two"), whole("<13>three")]
        );
    }

    #[test]
    fn several_octet_counted_frames_in_one_feed() {
        // RFC 6587 section 3.4.1; the second frame holds a newline.
        let stream = b"7 <13>one9 <13>t\nwo\n9 <13>three";
        assert_eq!(
            frames(64, stream, &[]),
            [whole("<13>one"), whole("<13>t\nwo"), whole("<13>three")]
        );
    }

    #[test]
    fn mixed_framings_on_one_stream() {
        let stream = b"7 <13>one<13>two\n9 <13>three<13>four\r\n";
        assert_eq!(
            frames(64, stream, &[]),
            [
                whole("<13>one"),
                whole("<13>two"),
                whole("<13>three"),
                whole("<13>four")
            ]
        );
    }

    /// Every split point, and byte by byte, gives what one feed gives.
    #[test]
    fn splits_anywhere() {
        let stream: &[u8] =
            b"7 <13>one<13>two\r\n\n123abc not a count\n8 <13>x\n\0\0\0\n3 abc<13>tail";
        let expected = frames(64, stream, &[]);
        assert_eq!(
            expected,
            [
                whole("<13>one"),
                whole("<13>two"),
                whole("123abc not a count"),
                whole("<13>x"),
                whole("abc"),
                whole("<13>tail"),
            ]
        );
        for at in 0..=stream.len() {
            assert_eq!(frames(64, stream, &[at]), expected, "split at {at}");
        }
        let every: Vec<usize> = (0..stream.len()).collect();
        assert_eq!(frames(64, stream, &every), expected);
        // And with a limit that cuts some of them.
        let expected = frames(6, stream, &[]);
        for at in 0..=stream.len() {
            assert_eq!(frames(6, stream, &[at]), expected, "split at {at}");
        }
        assert_eq!(frames(6, stream, &every), expected);
    }

    /// Digits and a space are a length even where a newline-framed message
    /// was meant: `12 not a count` is read as a 12-byte frame.
    #[test]
    fn digits_and_space_are_a_count() {
        let stream = b"5 hello12 not a count\n<13>after";
        assert_eq!(
            frames(64, stream, &[]),
            [whole("hello"), whole("not a count"), whole("<13>after")]
        );
    }

    #[test]
    fn newline_frame_that_starts_with_digits() {
        let stream = b"2024-01-08 started\n0 leading zero\n123abc\n";
        assert_eq!(
            frames(64, stream, &[]),
            [
                whole("2024-01-08 started"),
                whole("0 leading zero"),
                whole("123abc")
            ]
        );
    }

    #[test]
    fn crlf_nul_and_blank_lines() {
        let stream = b"\n\r\n<13>a\r\n\n<13>b\0\n\0\n<13>c\r\n";
        assert_eq!(
            frames(64, stream, &[]),
            [whole("<13>a"), whole("<13>b"), whole("<13>c")]
        );
    }

    /// Python's `SysLogHandler` over TCP ends each record with a NUL and no
    /// newline: each is a frame of its own, split anywhere; octet-counted
    /// frames keep their NULs.
    #[test]
    fn a_nul_ends_a_newline_frame() {
        let stream = b"<14>one\0<14>two\0<14>three\0<14>four\x004 a\0b\0<14>five\0\n";
        let expected = [
            whole("<14>one"),
            whole("<14>two"),
            whole("<14>three"),
            whole("<14>four"),
            whole("a\0b"),
            whole("<14>five"),
        ];
        assert_eq!(frames(64, stream, &[]), expected);
        for at in 0..=stream.len() {
            assert_eq!(frames(64, stream, &[at]), expected, "split at {at}");
        }
        // An oversize line is skipped up to its NUL.
        assert_eq!(
            frames(8, b"<14>0123456789\0<14>ok\0", &[]),
            [cut("<14>0123"), whole("<14>ok")]
        );
        // Digits then a NUL: no count, a line.
        assert_eq!(
            frames(64, b"123\0<14>x\0", &[]),
            [whole("123"), whole("<14>x")]
        );
    }

    #[test]
    fn octet_frame_trailer_trimmed_and_empty_skipped() {
        let stream = b"6 <13>a\n1 \n5 <13>b";
        assert_eq!(frames(64, stream, &[]), [whole("<13>a"), whole("<13>b")]);
    }

    #[test]
    fn oversize_newline_frame() {
        let stream = b"<13>0123456789abcdef\n<13>ok\n";
        assert_eq!(frames(8, stream, &[]), [cut("<13>0123"), whole("<13>ok")]);
        for at in 0..=stream.len() {
            assert_eq!(
                frames(8, stream, &[at]),
                [cut("<13>0123"), whole("<13>ok")],
                "split at {at}"
            );
        }
    }

    /// The limit counts every byte before `\n`: exactly `max_frame` fits.
    #[test]
    fn frame_of_exactly_the_limit() {
        assert_eq!(frames(8, b"<13>abcd\n", &[]), [whole("<13>abcd")]);
        assert_eq!(frames(8, b"<13>abcd\r\n", &[]), [cut("<13>abcd")]);
        assert_eq!(frames(8, b"8 <13>abcd", &[]), [whole("<13>abcd")]);
    }

    #[test]
    fn oversize_octet_frame() {
        let stream = b"20 <13>0123456789abcdef7 <13>ok!";
        assert_eq!(frames(8, stream, &[]), [cut("<13>0123"), whole("<13>ok!")]);
        for at in 0..=stream.len() {
            assert_eq!(
                frames(8, stream, &[at]),
                [cut("<13>0123"), whole("<13>ok!")],
                "split at {at}"
            );
        }
    }

    /// Nine digits are a length: what the frame holds past the limit is
    /// skipped as it arrives, without buffering.
    #[test]
    fn huge_count_discards_without_buffering() {
        let mut framer = Framer::new(16);
        let mut out = Vec::new();
        framer.feed(b"999999999 <13>start", |f| {
            out.push((f.bytes.to_vec(), f.truncated))
        });
        for _ in 0..1000 {
            framer.feed(&[b'x'; 4096], |f| out.push((f.bytes.to_vec(), f.truncated)));
        }
        assert_eq!(out, [cut("<13>startxxxxxxx")]);
        assert_eq!(
            framer.state,
            State::Discarding(999_999_999 - 16 - (1000 * 4096 - 7))
        );
        assert!(framer.buf.capacity() < 64);
    }

    /// Ten or more digits are no length: the frame is newline-framed and
    /// the digits are its first bytes.
    #[test]
    fn absurd_count_is_newline_framed() {
        let stream = b"123456789012345678901234567890 <13>x\n<13>next\n";
        assert_eq!(
            frames(64, stream, &[]),
            [
                whole("123456789012345678901234567890 <13>x"),
                whole("<13>next")
            ]
        );
        for at in 0..=stream.len() {
            assert_eq!(
                frames(16, stream, &[at]),
                [cut("1234567890123456"), whole("<13>next")]
            );
        }
    }

    #[test]
    fn eof_with_pending_frames() {
        assert_eq!(
            frames(64, b"<13>one\n<13>partial", &[]),
            [whole("<13>one"), whole("<13>partial")]
        );
        assert_eq!(frames(64, b"<13>partial\r", &[5]), [whole("<13>partial")]);
        assert_eq!(frames(64, b"12", &[1]), [whole("12")]);
        // An octet-counted frame cut short by EOF is kept, marked.
        assert_eq!(frames(64, b"10 <13>abc", &[4]), [cut("<13>abc")]);
        assert_eq!(frames(64, b"10 ", &[]), []);
        assert_eq!(frames(4, b"<13>toolong", &[]), [cut("<13>")]);
    }

    #[test]
    fn a_whole_frame_in_one_feed_is_not_copied() {
        let data = b"<13>one\n7 <13>two";
        let mut framer = Framer::new(64);
        let mut borrowed = Vec::new();
        framer.feed(data, |f| borrowed.push(within(f.bytes, data)));
        assert_eq!(borrowed, [true, true]);
    }

    fn within(part: &[u8], whole: &[u8]) -> bool {
        let start = whole.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        at >= start && at + part.len() <= start + whole.len()
    }

    #[test]
    fn trim_trailer_variants() {
        assert_eq!(trim_trailer(b"a\r\n"), b"a");
        assert_eq!(trim_trailer(b"a\0"), b"a");
        assert_eq!(trim_trailer(b"a\n\0\r\n"), b"a");
        assert_eq!(trim_trailer(b"\r\n\0"), b"");
        assert_eq!(trim_trailer(b"a b"), b"a b");
    }

    /// One frame to encode: octet-counted (any bytes, at least one) or
    /// newline-framed (no `\n` or NUL, starting with `<` as a PRI does).
    fn frame_strategy() -> impl Strategy<Value = (bool, Vec<u8>)> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| (true, bytes)),
            proptest::collection::vec(
                any::<u8>().prop_filter("no LF or NUL", |b| !ends_line(*b)),
                0..40
            )
            .prop_map(|mut bytes| {
                bytes.insert(0, b'<');
                (false, bytes)
            }),
        ]
    }

    proptest! {
        #[test]
        fn any_split_gives_the_frames_sent(
            sent in proptest::collection::vec(frame_strategy(), 0..12),
            mut splits in proptest::collection::vec(any::<usize>(), 0..8),
            max_frame in 1usize..48,
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for (counted, bytes) in &sent {
                if *counted {
                    stream.extend_from_slice(format!("{} ", bytes.len()).as_bytes());
                    stream.extend_from_slice(bytes);
                } else {
                    stream.extend_from_slice(bytes);
                    stream.push(b'\n');
                }
                if bytes.len() > max_frame {
                    expected.push((bytes[..max_frame].to_vec(), true));
                } else if !trim_trailer(bytes).is_empty() {
                    expected.push((trim_trailer(bytes).to_vec(), false));
                }
            }
            for split in &mut splits {
                *split %= stream.len() + 1;
            }
            splits.sort_unstable();
            prop_assert_eq!(frames(max_frame, &stream, &[]), expected.clone());
            prop_assert_eq!(frames(max_frame, &stream, &splits), expected);
        }

        #[test]
        fn arbitrary_bytes_any_split_same_frames(
            stream in proptest::collection::vec(any::<u8>(), 0..300),
            mut splits in proptest::collection::vec(any::<usize>(), 0..8),
            max_frame in 1usize..48,
        ) {
            for split in &mut splits {
                *split %= stream.len() + 1;
            }
            splits.sort_unstable();
            let expected = frames(max_frame, &stream, &[]);
            for (bytes, _) in &expected {
                prop_assert!(!bytes.is_empty() && bytes.len() <= max_frame);
            }
            prop_assert_eq!(frames(max_frame, &stream, &splits), expected);
        }
    }
}
