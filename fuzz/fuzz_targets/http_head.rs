//! Request heads: `parse_head` on any bytes, and a connection that reads
//! them in any chunks (accumulate, parse, consume the head and its body,
//! go on). Never a panic; the same requests whatever the reads; a buffer
//! that never holds a whole `max_head` of unparsed bytes; request fields
//! no longer than the head they came from.
//!
//! Input: a byte for a small second head limit, the chunk lengths
//! ([`Input::cuts`]), then the stream.
#![no_main]

use circolog::http::{HeadError, Request, parse_head};
use circolog_fuzz::{Input, chunks};
use libfuzzer_sys::fuzz_target;

/// The daemon's default limit.
const MAX_HEAD: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let small = 1 + usize::from(input.byte());
    let cuts = input.cuts();
    let stream = input.rest();
    for max_head in [MAX_HEAD, small] {
        if let Ok(Some((request, len))) = parse_head(stream, max_head) {
            check_request(&request, len, stream.len(), max_head);
        }
        let whole = connection(&[stream], max_head);
        let split = connection(&chunks(stream, &cuts), max_head);
        assert_eq!(split, whole, "max_head {max_head}");
    }
});

#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Request>,
    /// How the stream ended: `None` when it ran out while waiting for more.
    error: Option<HeadError>,
}

/// What a connection makes of the stream delivered in `reads`.
fn connection(reads: &[&[u8]], max_head: usize) -> Outcome {
    let mut buf: Vec<u8> = Vec::new();
    // Body bytes of the last request still to be skipped.
    let mut body: u64 = 0;
    let mut requests = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            let skip = usize::try_from(body).unwrap_or(usize::MAX).min(buf.len());
            buf.drain(..skip);
            body -= skip as u64;
            if body > 0 {
                break;
            }
            match parse_head(&buf, max_head) {
                Ok(Some((request, len))) => {
                    check_request(&request, len, buf.len(), max_head);
                    buf.drain(..len);
                    body = request.content_length;
                    requests.push(request);
                }
                Ok(None) => {
                    assert!(buf.len() < max_head, "incomplete at {} bytes", buf.len());
                    break;
                }
                Err(e) => {
                    assert!(!e.reason().is_empty() && !e.reason().contains('\n'));
                    assert!(matches!(e.status(), 400 | 431 | 501));
                    return Outcome {
                        requests,
                        error: Some(e),
                    };
                }
            }
        }
        // What stays buffered between reads is less than one head limit.
        assert!(buf.len() < max_head, "{} bytes buffered", buf.len());
    }
    Outcome {
        requests,
        error: None,
    }
}

fn check_request(request: &Request, len: usize, buffered: usize, max_head: usize) {
    assert!(
        len > 0 && len <= buffered && len <= max_head,
        "head length {len}"
    );
    let parts = [
        Some(&request.path),
        Some(&request.query),
        request.host.as_ref(),
        request.origin.as_ref(),
        request.websocket_key.as_ref(),
    ];
    for part in parts.into_iter().flatten() {
        assert!(part.len() <= len, "a field longer than its head");
    }
    assert!(!request.path.is_empty(), "an empty path is /");
}
