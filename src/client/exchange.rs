//! One request and its response on a stream the caller opened: the only
//! function of the client that reads and writes a connection.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::{Head, HttpError, ResponseDecoder};

/// A request without a body, closing the connection after the response.
pub fn request(method: &str, target: &str, host: &str) -> Vec<u8> {
    let mut out = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: circolog/{}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if method == "POST" {
        out.push_str("Content-Length: 0\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Why an [`exchange`] failed.
#[derive(Debug)]
pub enum ExchangeError {
    /// Reading from or writing to the connection failed.
    Io(io::Error),
    /// The peer's response is not valid HTTP.
    Http(HttpError),
    /// The body's consumer failed (e.g. standard output was closed).
    Sink(io::Error),
    /// No response head within [`Pace::head`].
    NoAnswer(Duration),
    /// The body did not advance by a whole line within [`Pace::line`].
    Stalled(Duration),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Io(e) | ExchangeError::Sink(e) => f.write_str(&io_reason(e)),
            ExchangeError::Http(e) => e.fmt(f),
            ExchangeError::NoAnswer(d) => write!(f, "no answer within {} s", d.as_secs()),
            ExchangeError::Stalled(d) => {
                write!(
                    f,
                    "its answer stalled: no whole line within {} s",
                    d.as_secs()
                )
            }
        }
    }
}

impl std::error::Error for ExchangeError {}

/// How long a peer may take: to send the head of its response, and then
/// each whole line of the body (a peer that drips a byte now and then
/// holds no one up for longer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    pub head: Duration,
    pub line: Duration,
}

/// Writes `request` on `stream` and reads the response, handing the body to
/// `sink` piece by piece as it arrives (with the head, so that it can tell
/// an error body from a good one). Returns the head. The stream's own
/// read timeout, if any, bounds each read.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
    request: &[u8],
    sink: impl FnMut(&Head, &[u8]) -> io::Result<()>,
) -> Result<Head, ExchangeError> {
    exchange_paced(stream, |_, _| Ok(()), None, request, sink)
}

/// [`exchange`] within `pace`: `set_timeout` sets the stream's read
/// timeout before each read to the time left.
pub fn exchange_paced<S: Read + Write>(
    stream: &mut S,
    set_timeout: impl Fn(&S, Duration) -> io::Result<()>,
    pace: Option<Pace>,
    request: &[u8],
    mut sink: impl FnMut(&Head, &[u8]) -> io::Result<()>,
) -> Result<Head, ExchangeError> {
    // A daemon that refuses the peer (403) may answer and close before
    // reading the request: its answer is still worth reading.
    let write_failed = stream
        .write_all(request)
        .and_then(|()| stream.flush())
        .err();
    let mut decoder = ResponseDecoder::new();
    let mut buf = vec![0; 64 * 1024];
    let mut body = Vec::new();
    // The time of the last progress: the request, the head, a line.
    let mut progress = Instant::now();
    loop {
        if let Some(pace) = pace {
            let (limit, error): (_, fn(Duration) -> ExchangeError) = match decoder.head() {
                None => (pace.head, ExchangeError::NoAnswer),
                Some(_) => (pace.line, ExchangeError::Stalled),
            };
            let left = limit.saturating_sub(progress.elapsed());
            if left.is_zero() {
                return Err(error(limit));
            }
            set_timeout(stream, left).map_err(ExchangeError::Io)?;
        }
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The time left ran out: said at the top of the loop.
            Err(e) if pace.is_some() && is_timeout(&e) => continue,
            Err(e) => return Err(ExchangeError::Io(write_failed.unwrap_or(e))),
        };
        let had_head = decoder.head().is_some();
        let decoded = if n == 0 {
            decoder.finish()
        } else {
            decoder.feed(&buf[..n], &mut body)
        };
        if let Err(e) = decoded {
            return Err(match write_failed {
                Some(w) if decoder.head().is_none() => ExchangeError::Io(w),
                _ => ExchangeError::Http(e),
            });
        }
        if !had_head && decoder.head().is_some() || memchr::memchr(b'\n', &body).is_some() {
            progress = Instant::now();
        }
        if let Some(head) = decoder.head()
            && !body.is_empty()
        {
            sink(head, &body).map_err(ExchangeError::Sink)?;
            body.clear();
        }
        if decoder.is_done() {
            return decoder
                .take_head()
                .ok_or(ExchangeError::Http(HttpError::Truncated));
        }
    }
}

/// Whether a read failed because its timeout passed.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// An I/O error's description without the `(os error N)` suffix.
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A stream that replays a canned response and records what was written.
    struct Canned {
        input: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // One byte at a time: the worst case for the decoder.
            let n = buf.len().min(1);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A peer that answers `sent`, then nothing: every read times out.
    struct Silent {
        sent: io::Cursor<Vec<u8>>,
    }

    impl Read for Silent {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.sent.read(buf)? {
                0 => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }
    }

    impl Write for Silent {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_silent_peer_or_a_stalled_body_is_said() {
        let pace = Pace {
            head: Duration::from_millis(30),
            line: Duration::from_millis(30),
        };
        let run = |sent: &[u8]| {
            let mut s = Silent {
                sent: io::Cursor::new(sent.to_vec()),
            };
            let mut got = Vec::new();
            let r = exchange_paced(
                &mut s,
                |_, _| Ok(()),
                Some(pace),
                b"GET / HTTP/1.1\r\n\r\n",
                |_, b| {
                    got.extend_from_slice(b);
                    Ok(())
                },
            );
            (r, got)
        };
        let (r, _) = run(b"");
        assert!(matches!(r, Err(ExchangeError::NoAnswer(_))), "{r:?}");
        let (r, _) = run(b"HTTP/1.1 200 OK\r\nContent-Le");
        assert!(matches!(r, Err(ExchangeError::NoAnswer(_))), "{r:?}");
        let (r, got) = run(b"HTTP/1.1 200 OK\r\n\r\none\ntw");
        assert!(matches!(r, Err(ExchangeError::Stalled(_))), "{r:?}");
        assert_eq!(got, b"one\ntw");
        assert_eq!(
            ExchangeError::Stalled(Duration::from_secs(30)).to_string(),
            "its answer stalled: no whole line within 30 s"
        );
    }

    #[test]
    fn exchange_streams_the_body_to_the_sink() {
        let mut s = Canned {
            input: io::Cursor::new(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n0\r\n\r\n"
                    .to_vec(),
            ),
            written: Vec::new(),
        };
        let req = request("GET", "/?l=1", "localhost");
        let mut got = Vec::new();
        let head = exchange(&mut s, &req, |h, b| {
            assert_eq!(h.status, 200);
            got.extend_from_slice(b);
            Ok(())
        })
        .expect("exchange");
        assert_eq!(head.status, 200);
        assert_eq!(got, b"ab\n");
        let written = String::from_utf8(s.written).expect("ascii");
        assert!(written.starts_with("GET /?l=1 HTTP/1.1\r\nHost: localhost\r\n"));
        assert!(written.ends_with("\r\n\r\n"));
        assert!(
            String::from_utf8(request("POST", "/pause", "localhost"))
                .expect("ascii")
                .contains("Content-Length: 0\r\n")
        );
    }
}
