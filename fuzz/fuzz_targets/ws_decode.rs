//! The websocket decoder, two ways.
//!
//! * Any bytes, read in any chunks: no panic, events within the limits
//!   (text always UTF-8), the same events and error whatever the reads, and
//!   never more than one frame buffered after the events are drained.
//! * Round trip: messages written with `write_text` (and pings, pongs, a
//!   close), fragmented and masked as a client sends them, decode to the
//!   same messages.
//!
//! Input: a mode byte (even: any bytes; odd: round trip), the chunk lengths
//! ([`Input::cuts`]), then, for any bytes, two limit bytes and the stream;
//! for the round trip, the script of messages read by [`script`].
#![no_main]

use circolog::serve::ws::{self, CloseCode, Decoder, Event, Limits, MAX_HEADER_LEN};
use circolog_fuzz::{Input, chunks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.byte();
    let cuts = input.cuts();
    if mode.is_multiple_of(2) {
        let limits = limits(input.byte(), input.byte());
        let stream = input.rest();
        let whole = decode(&[stream], limits);
        let split = decode(&chunks(stream, &cuts), limits);
        assert_eq!(split, whole);
    } else {
        let (wire, expected) = script(input);
        let limits = Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        let (events, error) = decode(&chunks(&wire, &cuts), limits);
        assert_eq!(error, None);
        assert_eq!(events, expected);
    }
});

/// 0 keeps the default (64 KiB); small values make the limits easy to hit.
fn limits(frame: u8, message: u8) -> Limits {
    let default = Limits::default();
    Limits {
        max_frame: if frame == 0 {
            default.max_frame
        } else {
            usize::from(frame) * 8
        },
        max_message: if message == 0 {
            default.max_message
        } else {
            usize::from(message) * 16
        },
    }
}

/// The events of a stream delivered in `reads`, and the error that ended it.
fn decode(reads: &[&[u8]], limits: Limits) -> (Vec<Event>, Option<CloseCode>) {
    let mut decoder = Decoder::new(limits);
    let mut events = Vec::new();
    for read in reads {
        decoder.feed(read);
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => {
                    check_event(&event, limits);
                    events.push(event);
                }
                Ok(None) => break,
                Err(code) => {
                    assert_eq!(
                        decoder.next_event(),
                        Err(code),
                        "a failed decoder stays failed"
                    );
                    return (events, Some(code));
                }
            }
        }
        assert!(
            decoder.buffered() <= limits.max_frame + MAX_HEADER_LEN,
            "{} bytes buffered",
            decoder.buffered()
        );
    }
    (events, None)
}

fn check_event(event: &Event, limits: Limits) {
    match event {
        Event::Text(text) => {
            assert!(std::str::from_utf8(text).is_ok(), "text that is not UTF-8");
            assert!(text.len() <= limits.max_message);
        }
        Event::Binary(data) => assert!(data.len() <= limits.max_message),
        Event::Ping(data) | Event::Pong(data) => assert!(data.len() <= 125),
        Event::Close { code, reason } => {
            assert!(std::str::from_utf8(reason).is_ok());
            assert!(reason.len() <= 123);
            assert!(code.is_some() || reason.is_empty());
        }
    }
}

const FIN: u8 = 0x80;
const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;

/// Codes a client may send in a close frame.
const CLOSE_CODES: [u16; 14] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
];

/// Reads a script of client messages from the input and returns the bytes
/// a client would send and the events they stand for.
///
/// Each step is a control byte `c`; `c % 5`: 0 and 1 a text message, 2 a
/// ping, 3 a pong, 4 a close (the last step). A text message is made of
/// `u16 % 2048` bytes (65536 more when `c & 0x40`, for the 8-byte length
/// form, once per script) before it is made UTF-8, cut into `1 + (c >> 2) % 4`
/// fragments at positions that need not fall between characters, with a
/// ping between fragments when `c & 0x20`. Then comes the masking key and up
/// to 16 bytes of material that the payload repeats (made UTF-8 lossily).
fn script(mut input: Input<'_>) -> (Vec<u8>, Vec<Event>) {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    // One long message per script is enough, and keeps each run fast.
    let mut long_sent = false;
    while !input.is_empty() {
        let c = input.byte();
        match c % 5 {
            0 | 1 => {
                let mut len = usize::from(input.u16() % 2048);
                if c & 0x40 != 0 && !long_sent {
                    len += 1 << 16;
                    long_sent = true;
                }
                let fragments = 1 + usize::from((c >> 2) % 4);
                let cuts: Vec<u8> = (1..fragments).map(|_| input.byte()).collect();
                let key = key(&mut input);
                let text = material(&mut input, len);
                let mut at: Vec<usize> = cuts
                    .iter()
                    .map(|&b| text.len() * usize::from(b) / 256)
                    .collect();
                at.sort_unstable();
                at.push(text.len());
                let mut start = 0;
                let pieces = at.len();
                for (i, end) in at.into_iter().enumerate() {
                    let opcode = if i == 0 { TEXT } else { CONTINUATION };
                    let fin = if i + 1 == pieces { FIN } else { 0 };
                    let mut frame = Vec::new();
                    ws::write_text(&mut frame, &text.as_bytes()[start..end]);
                    wire.extend(client_frame(&frame, key, Some(fin | opcode)));
                    if fin == 0 && c & 0x20 != 0 {
                        let mut ping = Vec::new();
                        ws::write_ping(&mut ping, b"between");
                        wire.extend(client_frame(&ping, key, None));
                        events.push(Event::Ping(b"between".to_vec()));
                    }
                    start = end;
                }
                events.push(Event::Text(text.into_bytes()));
            }
            2 | 3 => {
                let len = usize::from(input.byte());
                let key = key(&mut input);
                let payload = input.take(len).to_vec();
                let mut frame = Vec::new();
                // Both cut the payload to what a control frame carries.
                let kept = payload[..payload.len().min(125)].to_vec();
                if c % 5 == 2 {
                    ws::write_ping(&mut frame, &payload);
                    events.push(Event::Ping(kept));
                } else {
                    ws::write_pong(&mut frame, &payload);
                    events.push(Event::Pong(kept));
                }
                wire.extend(client_frame(&frame, key, None));
            }
            _ => {
                let code = CLOSE_CODES[usize::from(input.byte()) % CLOSE_CODES.len()];
                let len = usize::from(input.byte());
                let key = key(&mut input);
                let reason = material(&mut input, len);
                let mut frame = Vec::new();
                ws::write_close(&mut frame, ws::CloseCode::Peer(code), &reason);
                wire.extend(client_frame(&frame, key, None));
                let mut kept = reason.len().min(123);
                while !reason.is_char_boundary(kept) {
                    kept -= 1;
                }
                events.push(Event::Close {
                    code: Some(code),
                    reason: reason.as_bytes()[..kept].to_vec(),
                });
                break;
            }
        }
    }
    (wire, events)
}

fn key(input: &mut Input<'_>) -> [u8; 4] {
    [input.byte(), input.byte(), input.byte(), input.byte()]
}

/// `len` bytes repeating up to 16 bytes of the input, as (lossy) UTF-8.
fn material(input: &mut Input<'_>, len: usize) -> String {
    let n = usize::from(input.byte() % 17);
    let pattern = input.take(n);
    let bytes: Vec<u8> = if pattern.is_empty() {
        vec![b'a'; len]
    } else {
        pattern.iter().copied().cycle().take(len).collect()
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The frame a client sends for a frame the server module wrote: the mask
/// bit set, the key after the length, the payload masked; `first` replaces
/// the FIN and opcode byte (to fragment a message).
fn client_frame(server: &[u8], key: [u8; 4], first: Option<u8>) -> Vec<u8> {
    assert!(server[0] & 0x80 != 0, "server frames are final");
    assert!(server[1] & 0x80 == 0, "server frames are not masked");
    let header_len = match server[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    let payload = &server[header_len..];
    let mut out = Vec::with_capacity(server.len() + 4);
    out.push(first.unwrap_or(server[0]));
    out.push(server[1] | 0x80);
    out.extend_from_slice(&server[2..header_len]);
    out.extend_from_slice(&key);
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    out
}
