//! HTTP/1.1 as pure code, both ways. The server's side is here: request
//! heads are parsed from bytes with httparse, response heads and chunks are
//! written into a buffer the caller owns. The client's side, for
//! circolog-tail, circolog-ctl and the exporter, is [`response`].
//!
//! The caller keeps the bytes it has read and calls [`parse_head`] on them:
//! `Ok(None)` means the head is not complete yet, `Ok(Some((request, len)))`
//! that the head is the first `len` bytes. For pipelining it skips those and
//! the request's `content_length` body bytes, then calls [`parse_head`] again
//! on what follows. After a [`HeadError`] the stream cannot be resynchronised:
//! answer with [`HeadError::status`] and close the connection.
//!
//! Requests circolog serves have no body it reads (the control API's `POST`s
//! carry their meaning in the path); a `Content-Length` body is skipped, a
//! chunked one is refused.

#![forbid(unsafe_code)]

use std::io::Write as _;

pub mod response;

/// Request methods circolog distinguishes; every other one is `Other` (a 405).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Delete,
    Other,
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The target up to `?`, as sent (not percent-decoded). An absolute-form
    /// target (`http://host/p?q`) is reduced to its path (`/p`).
    pub path: String,
    /// The target after the first `?` (empty when there is none), still
    /// percent-encoded: [`crate::query::Query::parse`] decodes it.
    pub query: String,
    /// `HTTP/1.0` rather than `HTTP/1.1`: no chunked responses, no
    /// keep-alive unless asked for.
    pub http10: bool,
    /// Whether the connection may stay open after the response: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// The `Host` header, trimmed.
    pub host: Option<String>,
    /// The `Origin` header, trimmed.
    pub origin: Option<String>,
    /// `Sec-WebSocket-Key`, trimmed.
    pub websocket_key: Option<String>,
    /// `Sec-WebSocket-Version`, trimmed (empty when repeated): an upgrade is
    /// served only when it is [`WEBSOCKET_VERSION`] (see
    /// [`Request::websocket_version_supported`]).
    pub websocket_version: Option<String>,
    /// `Upgrade` lists `websocket` and `Connection` lists `upgrade` (both
    /// token lists, compared case-insensitively).
    pub upgrade_websocket: bool,
    /// Bytes of body that follow the head (`Content-Length`, 0 without).
    pub content_length: u64,
}

/// The one websocket version circolog speaks (RFC 6455). An upgrade that
/// asks for another one, or none, is answered `426` with a
/// `Sec-WebSocket-Version` header naming this one (RFC 6455 §4.4).
pub const WEBSOCKET_VERSION: &str = "13";

impl Request {
    /// The upgrade asks for the websocket version circolog speaks.
    pub fn websocket_version_supported(&self) -> bool {
        self.websocket_version.as_deref() == Some(WEBSOCKET_VERSION)
    }
}

/// Why a request head was refused. The connection is closed after the
/// response, since the rest of the stream cannot be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The head is longer than the limit, or has more headers than
    /// [`MAX_HEADERS`]: `431`.
    TooLarge,
    /// Not a valid HTTP/1.x request head: `400`.
    Bad(&'static str),
    /// Valid, but uses something circolog does not implement (a request
    /// body with a transfer coding): `501`.
    Unsupported(&'static str),
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::Bad(_) => 400,
            HeadError::Unsupported(_) => 501,
        }
    }

    /// A one-line reason, for the response body.
    pub fn reason(&self) -> &'static str {
        match self {
            HeadError::TooLarge => "request head too large",
            HeadError::Bad(reason) | HeadError::Unsupported(reason) => reason,
        }
    }
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for HeadError {}

/// The most header lines a request may have; more is [`HeadError::TooLarge`].
pub const MAX_HEADERS: usize = 64;

/// Parses a request head at the start of `buf`.
///
/// `Ok(None)`: incomplete, read more bytes. Only the first `max_head` bytes
/// are looked at: a head that is not complete within them is
/// [`HeadError::TooLarge`] as soon as `buf` holds `max_head` bytes, so a
/// client cannot make the caller buffer without bound. Empty lines before
/// the request line are skipped (RFC 9112 §2.2) and count in the length.
pub fn parse_head(buf: &[u8], max_head: usize) -> Result<Option<(Request, usize)>, HeadError> {
    let window = &buf[..buf.len().min(max_head)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= max_head => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(head_error(e)),
    };

    // httparse only completes with the method, target and version set.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Bad("incomplete request line"));
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        _ => Method::Other,
    };
    let http10 = version == 0;
    let (path, query) = split_target(target);

    let mut host = None;
    let mut origin = None;
    let mut websocket_key = None;
    let mut websocket_version = None;
    let mut content_length: Option<u64> = None;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut conn_upgrade = false;
    let mut upgrade_websocket = false;
    for header in req.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeadError::Unsupported(
                "request bodies with a transfer coding are not supported",
            ));
        }
        let interesting = [
            "host",
            "origin",
            "sec-websocket-key",
            "sec-websocket-version",
            "content-length",
            "connection",
            "upgrade",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
        if !interesting {
            // Headers circolog does not read may hold any bytes httparse
            // accepts (obs-text included).
            continue;
        }
        let value = std::str::from_utf8(header.value)
            .map_err(|_| HeadError::Bad("header value is not UTF-8"))?
            .trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("host") {
            set_once(&mut host, value, "repeated Host header")?;
        } else if name.eq_ignore_ascii_case("origin") {
            set_once(&mut origin, value, "repeated Origin header")?;
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            set_once(
                &mut websocket_key,
                value,
                "repeated Sec-WebSocket-Key header",
            )?;
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            // A client sends one version (RFC 6455 §4.1); a list or a
            // repeat is a version circolog does not speak, and so a 426.
            if websocket_version.is_some() {
                websocket_version = Some(String::new());
            } else {
                websocket_version = Some(value.to_owned());
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(value)?;
            // Repeated with the same value is tolerated (RFC 9110 §8.6).
            if content_length.is_some_and(|old| old != n) {
                return Err(HeadError::Bad("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in tokens(value) {
                conn_close |= token.eq_ignore_ascii_case("close");
                conn_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                conn_upgrade |= token.eq_ignore_ascii_case("upgrade");
            }
        } else {
            // Upgrade: protocol[/version] list.
            for token in tokens(value) {
                let protocol = token.split('/').next().unwrap_or(token);
                upgrade_websocket |= protocol.eq_ignore_ascii_case("websocket");
            }
        }
    }

    let keep_alive = !conn_close && (!http10 || conn_keep_alive);
    let request = Request {
        method,
        path,
        query,
        http10,
        keep_alive,
        host,
        origin,
        websocket_key,
        websocket_version,
        upgrade_websocket: upgrade_websocket && conn_upgrade,
        content_length: content_length.unwrap_or(0),
    };
    Ok(Some((request, head_len)))
}

fn head_error(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooLarge,
        httparse::Error::HeaderName => HeadError::Bad("invalid header name"),
        httparse::Error::HeaderValue => HeadError::Bad("invalid header value"),
        httparse::Error::NewLine => HeadError::Bad("invalid line ending in request head"),
        httparse::Error::Version => {
            HeadError::Bad("unsupported HTTP version (HTTP/1.0 and HTTP/1.1 are)")
        }
        httparse::Error::Token | httparse::Error::Status => HeadError::Bad("invalid request line"),
    }
}

/// Splits a request target into path and query at the first `?`. An
/// absolute-form target (`http://host:port/path?q`) keeps only its path and
/// query; a fragment, which clients never send, is dropped.
fn split_target(target: &str) -> (String, String) {
    let mut target = target.split('#').next().unwrap_or(target);
    for scheme in ["http://", "https://"] {
        // `get`, not indexing: the target may hold non-ASCII characters
        // (httparse accepts obs-text), and a cut inside one must not panic.
        if target
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            let rest = &target[scheme.len()..];
            target = match rest.find(['/', '?']) {
                Some(i) => &rest[i..],
                None => "",
            };
            break;
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = if path.is_empty() { "/" } else { path };
    (path.to_owned(), query.to_owned())
}

fn set_once(
    slot: &mut Option<String>,
    value: &str,
    repeated: &'static str,
) -> Result<(), HeadError> {
    if slot.is_some() {
        return Err(HeadError::Bad(repeated));
    }
    *slot = Some(value.to_owned());
    Ok(())
}

fn parse_content_length(value: &str) -> Result<u64, HeadError> {
    // Digits only: no sign, no spaces, no list (RFC 9110 §8.6).
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::Bad("invalid Content-Length"));
    }
    value
        .parse()
        .map_err(|_| HeadError::Bad("invalid Content-Length"))
}

/// The non-empty elements of a comma-separated header list, trimmed.
fn tokens(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
}

/// The reason phrase of a status code (empty for codes circolog never sends,
/// which RFC 9112 allows).
pub fn status_text(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// How a response body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLen {
    /// `Content-Length: n`.
    Fixed(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 clients only): write the body
    /// with [`begin_chunk`] and [`finish_chunk`] and end it with [`write_last_chunk`].
    Chunked,
    /// The body ends when the connection closes (for HTTP/1.0 clients of a
    /// streamed response); implies `Connection: close`.
    UntilClose,
}

/// Writes a response head: status line, `Content-Type` when given, the
/// framing headers of `body`, `Connection`, then `extra`, then the empty
/// line.
///
/// A `1xx` or `204` response gets no framing headers (RFC 9110 forbids
/// them). When `extra` has its own `Connection` header (e.g. `Upgrade` for a
/// `101`), it replaces the one `keep_alive` would write. CR and LF are
/// dropped from names and values, so no header can split the head.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: Option<&str>,
    body: BodyLen,
    keep_alive: bool,
    extra: &[(&str, &str)],
) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", status_text(status));
    if let Some(ct) = content_type {
        write_header(out, "Content-Type", ct);
    }
    let bodiless = (100..200).contains(&status) || status == 204;
    if !bodiless {
        match body {
            BodyLen::Fixed(n) => {
                let _ = write!(out, "Content-Length: {n}\r\n");
            }
            BodyLen::Chunked => write_header(out, "Transfer-Encoding", "chunked"),
            BodyLen::UntilClose => {}
        }
    }
    let own_connection = extra
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("connection"));
    if !own_connection {
        let keep_alive = keep_alive && body != BodyLen::UntilClose;
        write_header(
            out,
            "Connection",
            if keep_alive { "keep-alive" } else { "close" },
        );
    }
    for (name, value) in extra {
        write_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    let clean = |s: &str| {
        s.bytes()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect::<Vec<u8>>()
    };
    if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
        out.extend_from_slice(&clean(name));
        out.extend_from_slice(b": ");
        out.extend_from_slice(&clean(value));
    } else {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// A whole response with a small body. For a `HEAD` request (`head_only`)
/// the head is the same, `Content-Length` included, and no body follows.
pub fn write_simple(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
    extra: &[(&str, &str)],
) {
    write_head(
        out,
        status,
        Some(content_type),
        BodyLen::Fixed(body.len() as u64),
        keep_alive,
        extra,
    );
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Bytes [`begin_chunk`] keeps for a chunk's size line.
pub const CHUNK_SIZE_LINE: usize = 10;

/// Starts a chunk in place: room at the end of `buf` for its size line,
/// which [`finish_chunk`] fills once the data after it is written, so that
/// a body rendered into `buf` is framed without a copy.
pub fn begin_chunk(buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"00000000\r\n");
}

/// Frames the chunk [`begin_chunk`] started at the start of `buf`: its size
/// in eight hex digits (RFC 9112 allows leading zeros; a chunk is never
/// 4 GiB) and the line end after its data. False, and `buf` unchanged, when
/// no data follows the size line: an empty chunk would end the body.
pub fn finish_chunk(buf: &mut Vec<u8>) -> bool {
    let Some(len) = buf.len().checked_sub(CHUNK_SIZE_LINE).filter(|&n| n > 0) else {
        return false;
    };
    let mut size = len;
    for b in buf[..8].iter_mut().rev() {
        *b = b"0123456789abcdef"[size & 0xf];
        size >>= 4;
    }
    buf.extend_from_slice(b"\r\n");
    true
}

/// The end of a chunked body.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_framed_in_place_is_a_chunk_with_a_zero_padded_size() {
        let mut buf = Vec::new();
        begin_chunk(&mut buf);
        assert!(!finish_chunk(&mut buf), "no data: no chunk");
        assert_eq!(buf, b"00000000\r\n", "left as it was");
        buf.extend_from_slice(&[b'x'; 300]);
        assert!(finish_chunk(&mut buf));
        assert_eq!(&buf[..10], b"0000012c\r\n");
        assert_eq!(buf.len(), 10 + 300 + 2);
        assert!(buf.ends_with(b"x\r\n"));
    }

    const MAX: usize = 16 * 1024;

    fn parse(head: &[u8]) -> Request {
        match parse_head(head, MAX) {
            Ok(Some((req, len))) => {
                assert_eq!(len, head.len());
                req
            }
            other => panic!("{other:?}"),
        }
    }

    fn parse_err(head: &[u8]) -> HeadError {
        match parse_head(head, MAX) {
            Err(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let req =
            parse(b"GET /?l=10&fmt=json HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8\r\n\r\n");
        assert_eq!(
            req,
            Request {
                method: Method::Get,
                path: "/".into(),
                query: "l=10&fmt=json".into(),
                http10: false,
                keep_alive: true,
                host: Some("localhost".into()),
                origin: None,
                websocket_key: None,
                websocket_version: None,
                upgrade_websocket: false,
                content_length: 0,
            }
        );
    }

    #[test]
    fn methods_and_targets() {
        assert_eq!(parse(b"HEAD /ui HTTP/1.1\r\n\r\n").method, Method::Head);
        assert_eq!(parse(b"POST /pause HTTP/1.1\r\n\r\n").method, Method::Post);
        assert_eq!(parse(b"DELETE / HTTP/1.1\r\n\r\n").method, Method::Delete);
        assert_eq!(parse(b"PUT / HTTP/1.1\r\n\r\n").method, Method::Other);
        assert_eq!(parse(b"get / HTTP/1.1\r\n\r\n").method, Method::Other);
        let req = parse(b"GET /ws?grep=a?b HTTP/1.1\r\n\r\n");
        assert_eq!((req.path.as_str(), req.query.as_str()), ("/ws", "grep=a?b"));
        let req = parse(b"GET /status? HTTP/1.1\r\n\r\n");
        assert_eq!((req.path.as_str(), req.query.as_str()), ("/status", ""));
        let req = parse(b"GET http://LOCALHOST:8080/ws?l=1 HTTP/1.1\r\n\r\n");
        assert_eq!((req.path.as_str(), req.query.as_str()), ("/ws", "l=1"));
        let req = parse(b"GET HTTP://host?l=1 HTTP/1.1\r\n\r\n");
        assert_eq!((req.path.as_str(), req.query.as_str()), ("/", "l=1"));
        assert_eq!(parse(b"GET /a%20b HTTP/1.1\r\n\r\n").path, "/a%20b");
    }

    #[test]
    fn partial_heads_byte_by_byte() {
        let head = b"GET /ws?sev=err HTTP/1.1\r\nHost: example.com:80\r\nConnection: Upgrade\r\n\
                     Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        for n in 0..head.len() {
            assert_eq!(parse_head(&head[..n], MAX), Ok(None), "at {n}");
        }
        let (req, len) = parse_head(head, MAX).unwrap().unwrap();
        assert_eq!(len, head.len());
        assert!(req.upgrade_websocket);
        assert_eq!(
            req.websocket_key.as_deref(),
            Some("dGhlIHNhbXBsZSBub25jZQ==")
        );
    }

    #[test]
    fn pipelined_requests() {
        let buf = b"GET /?l=1 HTTP/1.1\r\nHost: a\r\n\r\n\
                    POST /pause HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
                    HEAD /status HTTP/1.1\r\nConnection: close\r\n\r\n\
                    GET /";
        let mut rest = &buf[..];
        let mut seen = Vec::new();
        while let Some((req, len)) = parse_head(rest, MAX).unwrap() {
            let body = usize::try_from(req.content_length).unwrap();
            rest = &rest[len + body..];
            seen.push((req.method, req.path, req.keep_alive));
        }
        assert_eq!(
            seen,
            vec![
                (Method::Get, "/".to_string(), true),
                (Method::Post, "/pause".to_string(), true),
                (Method::Head, "/status".to_string(), false),
            ]
        );
        assert_eq!(rest, b"GET /");
    }

    /// Found by fuzzing (`http_head`): a target with a multi-byte
    /// character where an absolute-form scheme would end (`htth:/ѓ…`) made
    /// the scheme check slice inside the character and panic.
    #[test]
    fn non_ascii_target_near_a_scheme_does_not_panic() {
        let req = parse("GET htth:/ѓocalha%20b HTTP/1.1\r\n\r\n".as_bytes());
        assert_eq!(req.path, "htth:/ѓocalha%20b");
        let req = parse("GET httpѓ://x/p?q HTTP/1.1\r\n\r\n".as_bytes());
        assert_eq!(
            (req.path.as_str(), req.query.as_str()),
            ("httpѓ://x/p", "q")
        );
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let buf = b"\r\nGET / HTTP/1.1\r\n\r\n";
        let (req, len) = parse_head(buf, MAX).unwrap().unwrap();
        assert_eq!(req.method, Method::Get);
        assert_eq!(len, buf.len());
    }

    #[test]
    fn oversize_head() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        // Long lines, so that the head is too large well before it has
        // MAX_HEADERS lines.
        while head.len() < MAX + 100 {
            head.extend_from_slice(b"X-Filler: ");
            head.extend_from_slice(&[b'a'; 1000]);
            head.extend_from_slice(b"\r\n");
        }
        // Incomplete and below the limit: wait.
        assert_eq!(parse_head(&head[..MAX - 1], MAX), Ok(None));
        // Incomplete at the limit: too large, even before the end arrives.
        assert_eq!(parse_head(&head[..MAX], MAX), Err(HeadError::TooLarge));
        head.extend_from_slice(b"\r\n");
        // Complete but past the limit: too large too.
        assert_eq!(parse_head(&head, MAX), Err(HeadError::TooLarge));
        assert_eq!(HeadError::TooLarge.status(), 431);
        // A complete head within the limit is fine whatever follows it.
        let mut ok = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        ok.extend_from_slice(&[b'z'; 100]);
        assert!(parse_head(&ok, 20).unwrap().is_some());
    }

    #[test]
    fn too_many_headers() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert_eq!(parse_err(&head), HeadError::TooLarge);
    }

    #[test]
    fn keep_alive_rules() {
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n").keep_alive);
        assert!(!parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!parse(b"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keep_alive);
        let old = parse(b"GET / HTTP/1.0\r\n\r\n");
        assert!(old.http10 && !old.keep_alive);
        assert!(parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(parse(b"GET / HTTP/1.0\r\nconnection:Keep-Alive\r\n\r\n").keep_alive);
        assert!(!parse(b"GET / HTTP/1.1\r\nConnection: x\r\nConnection: close\r\n\r\n").keep_alive);
    }

    #[test]
    fn websocket_upgrade_headers() {
        // Firefox: Connection is a list.
        let req = parse(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nOrigin: http://127.0.0.1:9000\r\n\
              Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key:  abc== \r\n\r\n",
        );
        assert!(req.upgrade_websocket);
        assert!(req.keep_alive);
        assert_eq!(req.host.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(req.origin.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(req.websocket_key.as_deref(), Some("abc=="));
        // Upgrade is a list of protocols, possibly versioned.
        assert!(
            parse(b"GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c, websocket/13\r\n\r\n")
                .upgrade_websocket
        );
        // Either header alone is not an upgrade.
        assert!(!parse(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").upgrade_websocket);
        assert!(!parse(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\n\r\n").upgrade_websocket);
        assert!(
            !parse(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                .upgrade_websocket
        );
        assert!(
            !parse(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websockets\r\n\r\n")
                .upgrade_websocket
        );
    }

    #[test]
    fn websocket_version() {
        let upgrade = |extra: &str| {
            parse(
                format!(
                    "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                     Sec-WebSocket-Key: abc==\r\n{extra}\r\n"
                )
                .as_bytes(),
            )
        };
        let v13 = upgrade("Sec-WebSocket-Version: 13\r\n");
        assert_eq!(v13.websocket_version.as_deref(), Some("13"));
        assert!(v13.websocket_version_supported());
        assert!(upgrade("sec-websocket-version:  13 \r\n").websocket_version_supported());
        // RFC 6455 §4.2.2: anything else is a 426, and none at all too.
        for extra in [
            "",
            "Sec-WebSocket-Version: 8\r\n",
            "Sec-WebSocket-Version: 13, 8\r\n",
            "Sec-WebSocket-Version: 013\r\n",
            "Sec-WebSocket-Version: \r\n",
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Version: 13\r\n",
        ] {
            let req = upgrade(extra);
            assert!(req.upgrade_websocket, "{extra:?}");
            assert!(!req.websocket_version_supported(), "{extra:?}");
        }
        assert_eq!(
            upgrade("Sec-WebSocket-Version: 8\r\n")
                .websocket_version
                .as_deref(),
            Some("8")
        );
        assert_eq!(status_text(426), "Upgrade Required");
    }

    #[test]
    fn bad_heads() {
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadError::Unsupported("request bodies with a transfer coding are not supported")
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").status(),
            501
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status(),
            400
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n"),
            HeadError::Bad("header value is not UTF-8")
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            HeadError::Bad("invalid Content-Length")
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n").status(),
            400
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n")
                .status(),
            400
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            HeadError::Bad("conflicting Content-Length headers")
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n")
                .content_length,
            3
        );
        assert_eq!(parse_err(b"GET / HTTP/2.0\r\n\r\n").status(), 400);
        assert_eq!(
            parse_err(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").status(),
            400
        );
        assert_eq!(
            parse_err(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").status(),
            400
        );
        assert_eq!(parse_err(b"GET  / HTTP/1.1\r\n\r\n").status(), 400);
        // A header circolog ignores may hold obs-text.
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nUser-Agent: caf\xe9\r\n\r\n").method,
            Method::Get
        );
        for e in [
            HeadError::TooLarge,
            HeadError::Bad("x"),
            HeadError::Unsupported("y"),
        ] {
            assert!(!e.reason().is_empty());
            assert!(!status_text(e.status()).is_empty());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap sweep: every prefix of a mix of valid and invalid heads.
        let inputs: [&[u8]; 4] = [
            b"GET /?a=%ff HTTP/1.1\r\nHost: \x80\r\n\r\n",
            b"\r\n\r\n\r\n",
            b"GET http:// HTTP/1.1\r\n\r\n",
            b"GET https://x HTTP/1.0\r\nConnection: ,,,\r\nUpgrade: /\r\n\r\n",
        ];
        for input in inputs {
            for n in 0..=input.len() {
                let _ = parse_head(&input[..n], 8);
                let _ = parse_head(&input[..n], MAX);
            }
        }
        let req = parse(b"GET https://x HTTP/1.0\r\nConnection: ,,,\r\nUpgrade: /\r\n\r\n");
        assert_eq!(req.path, "/");
        assert!(!req.upgrade_websocket);
    }

    #[test]
    fn response_heads() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            200,
            Some("application/x-ndjson"),
            BodyLen::Chunked,
            true,
            &[("X-Circolog-Last-Seq", "41")],
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\
              Connection: keep-alive\r\nX-Circolog-Last-Seq: 41\r\n\r\n"
        );
        out.clear();
        write_head(
            &mut out,
            200,
            Some("text/plain; charset=utf-8"),
            BodyLen::UntilClose,
            true,
            &[],
        );
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n");
        out.clear();
        write_head(
            &mut out,
            101,
            None,
            BodyLen::Fixed(0),
            true,
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ],
        );
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        out.clear();
        write_head(
            &mut out,
            299,
            None,
            BodyLen::Fixed(0),
            false,
            &[("X-Evil", "a\r\nSet-Cookie: b")],
        );
        assert_eq!(out, b"HTTP/1.1 299 \r\nContent-Length: 0\r\nConnection: close\r\nX-Evil: aSet-Cookie: b\r\n\r\n");
    }

    #[test]
    fn simple_responses_and_head() {
        let mut get = Vec::new();
        write_simple(
            &mut get,
            404,
            "text/plain; charset=utf-8",
            b"not found\n",
            true,
            false,
            &[],
        );
        assert_eq!(
            get,
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\
              Connection: keep-alive\r\n\r\nnot found\n"
        );
        let mut head = Vec::new();
        write_simple(
            &mut head,
            404,
            "text/plain; charset=utf-8",
            b"not found\n",
            true,
            true,
            &[],
        );
        assert_eq!(head, &get[..get.len() - 10]);
        let mut allow = Vec::new();
        write_simple(
            &mut allow,
            405,
            "text/plain; charset=utf-8",
            b"",
            false,
            false,
            &[("Allow", "GET, HEAD")],
        );
        assert!(allow.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(allow.ends_with(b"Connection: close\r\nAllow: GET, HEAD\r\n\r\n"));
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        for data in [&b""[..], b"hello\n", &[b'x'; 300]] {
            let mut chunk = Vec::new();
            begin_chunk(&mut chunk);
            chunk.extend_from_slice(data);
            if finish_chunk(&mut chunk) {
                out.extend_from_slice(&chunk);
            }
        }
        write_last_chunk(&mut out);
        let mut want = b"00000006\r\nhello\n\r\n0000012c\r\n".to_vec();
        want.extend_from_slice(&[b'x'; 300]);
        want.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, want);
    }
}
