//! One request and its response on a stream the caller opened: the only
//! function of the client that reads and writes a connection.

use std::fmt;
use std::io::{self, Read, Write};

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
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Io(e) | ExchangeError::Sink(e) => f.write_str(&io_reason(e)),
            ExchangeError::Http(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExchangeError {}

/// Writes `request` on `stream` and reads the response, handing the body to
/// `sink` piece by piece as it arrives (with the head, so that it can tell
/// an error body from a good one). Returns the head.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
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
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ExchangeError::Io(write_failed.unwrap_or(e))),
        };
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
