//! The client side of HTTP/1.1 as pure code: [`ResponseDecoder`] takes a
//! response's bytes as they arrive and gives its head and its decoded body
//! (`Content-Length`, chunked, or until close). circolog-tail and
//! circolog-ctl read the daemon's answers with it, and the exporter reads an
//! OTLP endpoint's: both are bytes from a peer, so every limit is enforced
//! here and the decoder is fuzzed (`fuzz/fuzz_targets/http_response.rs`).

use std::fmt;
// ---- HTTP/1.1 responses ----

/// A response head larger than this is refused: circologd's are a few
/// hundred bytes.
const MAX_HEAD: usize = 64 * 1024;

/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE: usize = 4096;

/// The head of an HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    /// Header names and values as received (values lossily UTF-8).
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a response could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The head did not end within 64 KiB (`MAX_HEAD`).
    HeadTooLarge,
    /// The head is not HTTP/1.x.
    BadHead(String),
    /// `Content-Length` is not a number.
    BadLength,
    /// A chunk of a chunked body is malformed.
    BadChunk,
    /// The connection ended before the body did.
    Truncated,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::HeadTooLarge => f.write_str("response head too large"),
            HttpError::BadHead(why) => write!(f, "malformed response head: {why}"),
            HttpError::BadLength => f.write_str("malformed Content-Length"),
            HttpError::BadChunk => f.write_str("malformed chunked body"),
            HttpError::Truncated => {
                f.write_str("the connection closed in the middle of a response")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// Decodes one HTTP/1.1 response from the bytes of a connection, fed in
/// pieces of any size.
#[derive(Debug)]
pub struct ResponseDecoder {
    /// Bytes received and not yet decoded. INVARIANT: in the body states it
    /// holds only a partial chunk-size or trailer line (or the CRLF after a
    /// chunk), never body bytes that could have been handed out.
    pending: Vec<u8>,
    head: Option<Head>,
    state: State,
}

/// What the decoder expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    ExpectHead,
    /// `Content-Length`: this many body bytes are still to come.
    ExpectLength(u64),
    /// A chunk-size line.
    ExpectChunkSize,
    /// This many bytes of the current chunk are still to come.
    ExpectChunkData(u64),
    /// The CRLF after a chunk's data.
    ExpectChunkEnd,
    /// Trailer lines, up to an empty line.
    ExpectTrailer,
    /// No length: the body ends when the connection does.
    ExpectClose,
    Done,
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        ResponseDecoder::new()
    }
}

impl ResponseDecoder {
    pub fn new() -> ResponseDecoder {
        ResponseDecoder {
            pending: Vec::new(),
            head: None,
            state: State::ExpectHead,
        }
    }

    /// The head, once it has been received.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// The status of the final response as soon as its status line is in,
    /// before the rest of the head: an endpoint that said `200` has taken
    /// the request, even if what follows never comes. `None` before then
    /// (and for an interim 1xx, which a final status follows).
    pub fn status(&self) -> Option<u16> {
        if let Some(head) = &self.head {
            return Some(head.status);
        }
        let end = memchr::memchr(b'\n', &self.pending)?;
        // The status line alone, ended as a head: the same rules as the
        // whole head's, whatever comes after it (or fails to).
        let mut line = Vec::with_capacity(end + 3);
        line.extend_from_slice(&self.pending[..=end]);
        line.extend_from_slice(b"\r\n");
        let mut no_headers = [];
        let mut resp = httparse::Response::new(&mut no_headers);
        let status = match resp.parse(&line) {
            Ok(httparse::Status::Complete(_)) => resp.code?,
            _ => return None,
        };
        (!(100..200).contains(&status)).then_some(status)
    }

    /// Takes the head out of the decoder.
    pub fn take_head(&mut self) -> Option<Head> {
        self.head.take()
    }

    /// True when the whole response has been received.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Feeds bytes read from the connection; decoded body bytes are
    /// appended to `body`. Bytes after the end of the response are ignored.
    pub fn feed(&mut self, data: &[u8], body: &mut Vec<u8>) -> Result<(), HttpError> {
        let mut data = data;
        loop {
            match self.state {
                State::Done => return Ok(()),
                State::ExpectHead => {
                    self.pending.extend_from_slice(data);
                    let Some(rest) = self.parse_head()? else {
                        return Ok(());
                    };
                    // What followed the head goes through the body states.
                    let rest = self.pending.split_off(rest);
                    self.pending.clear();
                    return self.feed(&rest, body);
                }
                State::ExpectLength(remaining) => {
                    let n = take(data, remaining);
                    body.extend_from_slice(&data[..n]);
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::Done
                    } else {
                        State::ExpectLength(remaining)
                    };
                    return Ok(());
                }
                State::ExpectClose => {
                    body.extend_from_slice(data);
                    return Ok(());
                }
                State::ExpectChunkData(remaining) => {
                    if data.is_empty() {
                        return Ok(());
                    }
                    let n = take(data, remaining);
                    body.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::ExpectChunkEnd
                    } else {
                        State::ExpectChunkData(remaining)
                    };
                }
                State::ExpectChunkEnd => {
                    let need = 2 - self.pending.len();
                    let n = data.len().min(need);
                    self.pending.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.pending.len() < 2 {
                        return Ok(());
                    }
                    if self.pending != b"\r\n" {
                        return Err(HttpError::BadChunk);
                    }
                    self.pending.clear();
                    self.state = State::ExpectChunkSize;
                }
                State::ExpectChunkSize | State::ExpectTrailer => {
                    let Some(nl) = memchr::memchr(b'\n', data) else {
                        self.pending.extend_from_slice(data);
                        if self.pending.len() > MAX_LINE {
                            return Err(HttpError::BadChunk);
                        }
                        return Ok(());
                    };
                    self.pending.extend_from_slice(&data[..nl]);
                    data = &data[nl + 1..];
                    let line = std::mem::take(&mut self.pending);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = if self.state == State::ExpectTrailer {
                        if line.is_empty() {
                            State::Done
                        } else {
                            State::ExpectTrailer
                        }
                    } else {
                        match chunk_size(line)? {
                            0 => State::ExpectTrailer,
                            n => State::ExpectChunkData(n),
                        }
                    };
                }
            }
        }
    }

    /// The connection reached its end. An error if the response is not
    /// complete (a body without a length ends here and is complete).
    pub fn finish(&mut self) -> Result<(), HttpError> {
        match self.state {
            State::Done => Ok(()),
            State::ExpectClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(HttpError::Truncated),
        }
    }

    /// Parses the head from `pending`; returns where the body starts.
    /// Interim (1xx) responses are skipped: the real one follows them.
    fn parse_head(&mut self) -> Result<Option<usize>, HttpError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            let len = match resp.parse(&self.pending) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) if self.pending.len() > MAX_HEAD => {
                    return Err(HttpError::HeadTooLarge);
                }
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(HttpError::BadHead(e.to_string())),
            };
            let head = Head {
                status: resp.code.unwrap_or(0),
                reason: resp.reason.unwrap_or("").to_string(),
                headers: resp
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).trim().to_string(),
                        )
                    })
                    .collect(),
            };
            if (100..200).contains(&head.status) {
                self.pending.drain(..len);
                continue;
            }
            let chunked = head
                .header("transfer-encoding")
                .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
            self.state = if head.status == 204 || head.status == 304 {
                State::Done
            } else if chunked {
                State::ExpectChunkSize
            } else if let Some(cl) = head.header("content-length") {
                match cl.parse::<u64>() {
                    Ok(0) => State::Done,
                    Ok(n) => State::ExpectLength(n),
                    Err(_) => return Err(HttpError::BadLength),
                }
            } else {
                State::ExpectClose
            };
            self.head = Some(head);
            return Ok(Some(len));
        }
    }
}

/// How many of `data` to take when `remaining` are wanted.
fn take(data: &[u8], remaining: u64) -> usize {
    usize::try_from(remaining).map_or(data.len(), |r| r.min(data.len()))
}

/// A chunk-size line: hex digits, optionally followed by `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or(line);
    let digits = std::str::from_utf8(digits)
        .map_err(|_| HttpError::BadChunk)?
        .trim();
    if digits.is_empty() || digits.len() > 15 {
        return Err(HttpError::BadChunk);
    }
    u64::from_str_radix(digits, 16).map_err(|_| HttpError::BadChunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(response: &[u8], piece: usize) -> Result<(Head, Vec<u8>), HttpError> {
        let mut d = ResponseDecoder::new();
        let mut body = Vec::new();
        for chunk in response.chunks(piece) {
            d.feed(chunk, &mut body)?;
        }
        d.finish()?;
        Ok((d.take_head().ok_or(HttpError::Truncated)?, body))
    }

    #[test]
    fn content_length_in_any_pieces() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Circolog-Epoch: 17\r\n\r\nhello";
        for piece in 1..r.len() {
            let (head, body) = decode_in_pieces(r, piece).expect("decodes");
            assert_eq!(head.status, 200);
            assert_eq!(head.header("x-circolog-epoch"), Some("17"));
            assert_eq!(body, b"hello");
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;x=y\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\nextra";
        for piece in 1..r.len() {
            let (_, body) = decode_in_pieces(r, piece).expect("decodes");
            assert_eq!(body, b"hello 0123456789");
        }
    }

    #[test]
    fn body_until_close_and_truncation() {
        let (_, body) =
            decode_in_pieces(b"HTTP/1.1 200 OK\r\n\r\nall of it", 3).expect("until close");
        assert_eq!(body, b"all of it");
        assert_eq!(
            decode_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 4).err(),
            Some(HttpError::Truncated)
        );
        assert_eq!(
            decode_in_pieces(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                4
            )
            .err(),
            Some(HttpError::Truncated)
        );
        assert_eq!(
            decode_in_pieces(b"HTTP/1.1 200", 4).err(),
            Some(HttpError::Truncated)
        );
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(matches!(
            decode_in_pieces(b"SSH-2.0-OpenSSH\r\n\r\n", 100),
            Err(HttpError::BadHead(_))
        ));
        assert_eq!(
            decode_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 100).err(),
            Some(HttpError::BadLength)
        );
        assert_eq!(
            decode_in_pieces(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                100
            )
            .err(),
            Some(HttpError::BadChunk)
        );
        assert_eq!(
            decode_in_pieces(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
                100
            )
            .err(),
            Some(HttpError::BadChunk)
        );
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(
            decode_in_pieces(&huge, 1000).err(),
            Some(HttpError::HeadTooLarge)
        );
    }

    #[test]
    fn no_body_statuses_and_interim_responses() {
        let (head, body) = decode_in_pieces(b"HTTP/1.1 204 No Content\r\n\r\n", 5).expect("204");
        assert_eq!((head.status, body.len()), (204, 0));
        let (head, body) = decode_in_pieces(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n",
            7,
        )
        .expect("100 then 403");
        assert_eq!((head.status, &body[..]), (403, &b"no\n"[..]));
    }

    #[test]
    fn the_status_is_known_once_its_line_is_in() {
        let mut d = ResponseDecoder::new();
        let mut body = Vec::new();
        for (piece, status) in [
            (&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2"[..], None),
            (b"00 O", None),
            (b"K\r\nContent-Le", Some(200)),
            (b"ngth: 2\r\n\r\nok", Some(200)),
        ] {
            d.feed(piece, &mut body).expect("decodes");
            assert_eq!(d.status(), status);
        }
        assert!(d.is_done());
        for garbage in [&b"HTTP/1.1 2x0 OK\r\n"[..], b"SSH-2.0-OpenSSH\r\n", b"\n"] {
            let mut d = ResponseDecoder::new();
            let _ = d.feed(garbage, &mut body);
            assert_eq!(d.status(), None, "{garbage:?}");
        }
    }
}
