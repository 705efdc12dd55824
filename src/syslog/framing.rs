//! STUB: replaced by the real RFC 6587 framer.

/// One message cut from a TCP stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub bytes: &'a [u8],
    /// The frame was longer than the limit and was cut.
    pub truncated: bool,
}

pub struct Framer {
    max_frame: usize,
    buf: Vec<u8>,
}

impl Framer {
    pub fn new(max_frame: usize) -> Framer {
        Framer {
            max_frame,
            buf: Vec::with_capacity(max_frame),
        }
    }

    pub fn feed(&mut self, data: &[u8], mut emit: impl FnMut(Frame<'_>)) {
        for &b in data {
            if b == b'\n' {
                emit(Frame {
                    bytes: &self.buf,
                    truncated: false,
                });
                self.buf.clear();
            } else if self.buf.len() < self.max_frame {
                self.buf.push(b);
            }
        }
    }

    pub fn finish(&mut self, mut emit: impl FnMut(Frame<'_>)) {
        if !self.buf.is_empty() {
            emit(Frame {
                bytes: &self.buf,
                truncated: false,
            });
            self.buf.clear();
        }
    }
}
