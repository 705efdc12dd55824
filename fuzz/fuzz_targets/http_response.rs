//! HTTP responses as the exporter and the clients read them from a peer:
//! `ResponseDecoder` on any bytes, in any reads. Never a panic; the same
//! head, body, status and outcome whatever the reads; a body no longer
//! than the bytes it came from; the status known early agrees with the
//! head; nothing changes once the response is done.
//!
//! Input: the chunk lengths ([`Input::cuts`]), then the stream.
#![no_main]

use circolog::http::response::{Head, ResponseDecoder};
use circolog_fuzz::{Input, chunks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let cuts = input.cuts();
    let stream = input.rest();
    let whole = decode(&[stream]);
    assert!(
        whole.body.len() <= stream.len(),
        "a body longer than the stream"
    );
    let split = decode(&chunks(stream, &cuts));
    assert_eq!(split, whole, "split reads");
    let bytewise: Vec<&[u8]> = stream.chunks(1).take(1 << 16).collect();
    if bytewise.len() == stream.len() {
        assert_eq!(decode(&bytewise), whole, "one byte per read");
    }
});

#[derive(Debug, PartialEq)]
struct Outcome {
    head: Option<Head>,
    status: Option<u16>,
    body: Vec<u8>,
    done: bool,
    /// Whether the stream was refused (where exactly it is refused may
    /// depend on the reads: a head too large is seen once it is).
    failed: bool,
    /// What the end of the stream says, when nothing failed before.
    finished: Option<bool>,
}

fn decode(reads: &[&[u8]]) -> Outcome {
    let mut d = ResponseDecoder::new();
    let mut body = Vec::new();
    let mut failed = false;
    for read in reads {
        let was_done = d.is_done();
        let before = body.len();
        if d.feed(read, &mut body).is_err() {
            failed = true;
            break;
        }
        if was_done {
            assert_eq!(body.len(), before, "a body past the end of the response");
        }
        if let (Some(head), Some(status)) = (d.head(), d.status()) {
            assert_eq!(head.status, status, "the early status and the head's");
            assert!(
                !(100..200).contains(&status),
                "an interim response taken as the final one"
            );
        }
    }
    let status = d.status();
    let finished = (!failed).then(|| d.finish().is_ok());
    Outcome {
        head: d.take_head(),
        status,
        body,
        done: d.is_done(),
        failed,
        finished,
    }
}
