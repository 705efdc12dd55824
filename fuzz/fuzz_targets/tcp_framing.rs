//! A TCP syslog stream cut into frames: the same frames whatever the reads
//! that delivered it, and none longer than the limit.
//!
//! Input: the frame limit (u16, little-endian; 0 means 1), the chunk lengths
//! ([`Input::cuts`]), then the stream.
#![no_main]

use circolog::ingest::syslog::framing::Framer;
use circolog_fuzz::{Input, chunks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max = usize::from(input.u16()).max(1);
    let cuts = input.cuts();
    let stream = input.rest();

    let whole = frames(max, &[stream]);
    for (bytes, _) in &whole {
        assert!(
            bytes.len() <= max,
            "a frame of {} bytes over {max}",
            bytes.len()
        );
    }
    let total: usize = whole.iter().map(|(b, _)| b.len()).sum();
    assert!(total <= stream.len(), "frames hold more than the stream");

    assert_eq!(frames(max, &chunks(stream, &cuts)), whole, "split reads");
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(frames(max, &bytewise), whole, "one byte per read");
});

/// Every frame (bytes, truncated) of the stream delivered in `reads`, then
/// at end of stream.
fn frames(max: usize, reads: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
    let mut framer = Framer::new(max);
    let mut out = Vec::new();
    for read in reads {
        framer.feed(read, |f| out.push((f.bytes.to_vec(), f.truncated)));
    }
    framer.finish(|f| out.push((f.bytes.to_vec(), f.truncated)));
    out
}
