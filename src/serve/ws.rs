//! The server side of WebSocket (RFC 6455), without I/O.
//!
//! Bytes from the peer go into a [`Decoder`] with [`Decoder::feed`] and come
//! out as [`Event`]s from [`Decoder::next_event`]; frames to the peer are
//! appended to a buffer the caller owns ([`write_text`], [`write_pong`],
//! [`write_close`]). The handshake is one function, [`write_handshake_response`],
//! for a request head the HTTP layer has already checked.
//!
//! The frame header codec and the accept key come from `tungstenite`; the
//! frame layer (masking rules, fragmentation, limits, UTF-8) is here.
//!
//! A protocol violation is an `Err(CloseCode)`: the caller sends
//! [`write_close`] with [`CloseCode::code`] and closes the connection. Nothing
//! in this module panics on input, and memory is bounded by [`Limits`] and by
//! the [`Decoder::feed`] contract, never by what the peer sends.
//!
//! Extensions (`permessage-deflate`) and subprotocols are not negotiated, so
//! every RSV bit must be clear.

use std::io::Cursor;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A close payload is a 2-byte code and a reason, within a control payload.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Value of `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
///
/// Optional whitespace around the header value is not part of the key.
pub fn accept_key(client_key: &str) -> String {
    let key = client_key.trim_matches(|c| c == ' ' || c == '\t');
    tungstenite::handshake::derive_accept_key(key.as_bytes())
}

/// Appends the full `101 Switching Protocols` response head, blank line
/// included, to `out`.
///
/// `extra_headers` follow the websocket ones in order. A header whose name
/// is empty or holds `:`, or whose name or value holds CR or LF, is left out:
/// it could not be written without breaking the head.
pub fn write_handshake_response(
    out: &mut Vec<u8>,
    client_key: &str,
    extra_headers: &[(&str, &str)],
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\n\
          Upgrade: websocket\r\n\
          Connection: Upgrade\r\n\
          Sec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept_key(client_key).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in extra_headers {
        let name_ok = !name.is_empty() && !name.contains(':') && !has_line_break(name);
        if !name_ok || has_line_break(value) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn has_line_break(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n')
}

/// Appends an unmasked, final text frame carrying `payload`.
///
/// The payload is sent as given: the caller passes valid UTF-8.
pub fn write_text(out: &mut Vec<u8>, payload: &[u8]) {
    write_frame(out, OpCode::Data(Data::Text), payload);
}

/// Appends a pong frame echoing `payload`, cut to the 125 bytes a control
/// frame can carry (a ping from a [`Decoder`] never has more).
pub fn write_pong(out: &mut Vec<u8>, payload: &[u8]) {
    let payload = payload.get(..MAX_CONTROL_PAYLOAD).unwrap_or(payload);
    write_frame(out, OpCode::Control(Control::Pong), payload);
}

/// Appends a ping frame carrying `payload`, cut to 125 bytes.
pub fn write_ping(out: &mut Vec<u8>, payload: &[u8]) {
    let payload = payload.get(..MAX_CONTROL_PAYLOAD).unwrap_or(payload);
    write_frame(out, OpCode::Control(Control::Ping), payload);
}

/// Appends a close frame with `code` and `reason`, the reason cut on a char
/// boundary to fit the 123 bytes a close frame leaves for it.
///
/// A peer's code is echoed as it came ([`Decoder`] only delivers codes a
/// peer may send: not 1005, 1006 or 1015, which only name conditions).
pub fn write_close(out: &mut Vec<u8>, code: CloseCode, reason: &str) {
    let code = code.code();
    let reason = truncate_on_char_boundary(reason, MAX_CLOSE_REASON);
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    let len = 2 + reason.len();
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..len].copy_from_slice(reason.as_bytes());
    write_frame(out, OpCode::Control(Control::Close), &payload[..len]);
}

fn truncate_on_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Server frames are final and unmasked (RFC 6455 §5.1: "A server MUST NOT
/// mask any frames that it sends to the client").
fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    };
    // Writing into a Vec<u8> cannot fail, so there is no error to report.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Size limits of a [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame; a larger one is refused from its header,
    /// before its payload is read. Default 64 KiB.
    pub max_frame: usize,
    /// Largest data message, after its fragments are joined. Default 64 KiB.
    pub max_message: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 64 * 1024,
            max_message: 64 * 1024,
        }
    }
}

/// The status code of a close frame: why a [`Decoder`] failed, why the
/// server closes, or the peer's own code echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 1000: a normal close (the answer to a close frame without a code).
    Normal,
    /// 1001: the server is going away.
    GoingAway,
    /// 1012: the server restarts (`POST /restart`): come back soon.
    ServiceRestart,
    /// 1002: the peer broke the framing rules.
    Protocol,
    /// 1007: a text message or close reason that is not UTF-8.
    InvalidData,
    /// 1009: a frame or message over [`Limits`].
    TooBig,
    /// The code of the peer's close frame, echoed when answering it.
    Peer(u16),
}

impl CloseCode {
    /// The status code on the wire.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ServiceRestart => 1012,
            CloseCode::Protocol => 1002,
            CloseCode::InvalidData => 1007,
            CloseCode::TooBig => 1009,
            CloseCode::Peer(code) => code,
        }
    }

    /// A short reason to send with the code.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::GoingAway => "circologd is shutting down",
            CloseCode::ServiceRestart => "circologd is restarting",
            CloseCode::Protocol => "protocol error",
            CloseCode::InvalidData => "invalid UTF-8",
            CloseCode::TooBig => "frame too big",
            CloseCode::Normal | CloseCode::Peer(_) => "",
        }
    }
}

/// What the peer sent, one complete message or control frame at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text message, fragments joined; always valid UTF-8.
    Text(Vec<u8>),
    /// A binary message, fragments joined.
    Binary(Vec<u8>),
    /// A ping: answer it with [`write_pong`] and the same payload.
    Ping(Vec<u8>),
    /// A pong (unsolicited ones included).
    Pong(Vec<u8>),
    /// A close frame: `code` is `None` when the frame had no payload; when
    /// present it is one a peer may send, and `reason` is valid UTF-8.
    /// Answer with [`write_close`] (echoing the code, or 1000) and close.
    Close { code: Option<u16>, reason: Vec<u8> },
}

/// Decodes frames sent by a client.
///
/// States, in terms of what the next input bytes are:
///
/// ```text
///            header parsed              payload complete
///  Header ────────────────► Payload ───────────────────► Header
///    │ violation                │ violation / close frame
///    ▼                          ▼
///  Failed(code)             Failed(code) / Closed
/// ```
///
/// Independently, `message` is the data message whose fragments are being
/// joined; control frames may arrive between its fragments.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// Client frames must be masked; only tests turn this off, to decode
    /// this module's own (server) frames.
    require_mask: bool,
    /// Bytes fed and not consumed yet are `input[start..]`.
    /// INVARIANT: `start <= input.len()`.
    input: Vec<u8>,
    start: usize,
    expect: Expect,
    /// The data message being assembled, if a first fragment was seen.
    /// INVARIANT: `data.len() <= limits.max_message`.
    message: Option<Partial>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The next bytes start a frame header.
    Header,
    /// The header was accepted and consumed; the next `head.len` bytes are its payload.
    Payload(Head),
}

/// A frame header that passed every check.
#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    kind: FrameKind,
    mask: Option<[u8; 4]>,
    /// INVARIANT: `len <= limits.max_frame`, and `<= 125` for control frames.
    len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Text,
    Binary,
    Continuation,
    Close,
    Ping,
    Pong,
}

#[derive(Debug)]
struct Partial {
    text: bool,
    data: Vec<u8>,
    /// For text: `data[..utf8_checked]` is valid UTF-8 ending on a char
    /// boundary, so each fragment is checked once and a bad one fails early.
    utf8_checked: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// A close frame was delivered; the peer may send nothing more.
    Closed,
    Failed(CloseCode),
}

impl Decoder {
    /// A decoder for a server: client frames must be masked.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            require_mask: true,
            input: Vec::new(),
            start: 0,
            expect: Expect::Header,
            message: None,
            phase: Phase::Open,
        }
    }

    /// A decoder that also accepts unmasked frames, to read back frames this
    /// module writes.
    #[cfg(test)]
    fn accepting_unmasked(limits: Limits) -> Decoder {
        Decoder {
            require_mask: false,
            ..Decoder::new(limits)
        }
    }

    /// Takes bytes as they arrive from the socket, in any split.
    ///
    /// The decoder keeps what it is given until [`Decoder::next_event`]
    /// consumes it, so the caller bounds its memory: call `next_event` until
    /// it returns `Ok(None)` (or an error) before feeding more. Then at most
    /// one incomplete frame stays buffered (under `max_frame` + 14 bytes)
    /// plus the one `data` just fed, plus the message being joined (at most
    /// `max_message`), however many frames the peer pipelines.
    ///
    /// After a close frame or an error, input is dropped.
    pub fn feed(&mut self, data: &[u8]) {
        if self.phase != Phase::Open {
            return;
        }
        if self.start > 0 {
            let consumed = self.start.min(self.input.len());
            self.input.drain(..consumed);
            self.start = 0;
        }
        self.input.extend_from_slice(data);
    }

    /// The next complete event; `Ok(None)` when more bytes are needed (and,
    /// after a close frame, forever); `Err` with the close code to send on a
    /// protocol violation. After an `Err` the decoder stays failed and
    /// returns the same `Err`.
    pub fn next_event(&mut self) -> Result<Option<Event>, CloseCode> {
        match self.phase {
            Phase::Failed(code) => return Err(code),
            Phase::Closed => return Ok(None),
            Phase::Open => {}
        }
        match self.advance() {
            Ok(Some(event @ Event::Close { .. })) => {
                self.stop(Phase::Closed);
                Ok(Some(event))
            }
            Ok(event) => Ok(event),
            Err(code) => {
                self.stop(Phase::Failed(code));
                Err(code)
            }
        }
    }

    /// Bytes fed and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.input.len() - self.start
    }

    fn stop(&mut self, phase: Phase) {
        self.phase = phase;
        self.input = Vec::new();
        self.start = 0;
        self.message = None;
    }

    /// Runs until an event, a need for more bytes, or a violation. Each turn
    /// consumes a header or a payload, so the loop ends with the input.
    fn advance(&mut self) -> Result<Option<Event>, CloseCode> {
        loop {
            match self.expect {
                Expect::Header => match self.parse_header()? {
                    Some(head) => self.expect = Expect::Payload(head),
                    None => return Ok(None),
                },
                Expect::Payload(head) => {
                    let end = self.start + head.len;
                    let Some(payload) = self.input.get_mut(self.start..end) else {
                        return Ok(None);
                    };
                    if let Some(mask) = head.mask {
                        unmask(payload, mask);
                    }
                    self.start = end;
                    self.expect = Expect::Header;
                    let event = finish_frame(head, payload, &mut self.message)?;
                    if event.is_some() {
                        return Ok(event);
                    }
                }
            }
        }
    }

    /// Parses and checks the header at `input[start..]`, consuming it.
    /// Every check is made here, before any payload is buffered.
    fn parse_header(&mut self) -> Result<Option<Head>, CloseCode> {
        let available = self.input.get(self.start..).unwrap_or_default();
        let mut cursor = Cursor::new(available);
        let (header, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            // The only error parsing from memory can give: a reserved opcode.
            Err(_) => return Err(CloseCode::Protocol),
        };
        let header_len = usize::try_from(cursor.position()).map_err(|_| CloseCode::Protocol)?;
        let length_byte = available.get(1).map_or(0, |b| b & 0x7F);

        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(CloseCode::Protocol);
        }
        let kind = match header.opcode {
            OpCode::Data(Data::Text) => FrameKind::Text,
            OpCode::Data(Data::Binary) => FrameKind::Binary,
            OpCode::Data(Data::Continue) => FrameKind::Continuation,
            OpCode::Control(Control::Close) => FrameKind::Close,
            OpCode::Control(Control::Ping) => FrameKind::Ping,
            OpCode::Control(Control::Pong) => FrameKind::Pong,
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                return Err(CloseCode::Protocol);
            }
        };
        if header.mask.is_none() && self.require_mask {
            return Err(CloseCode::Protocol);
        }
        // §5.2: "the minimal number of bytes MUST be used to encode the
        // length", and "the most significant bit MUST be 0".
        let minimal = match length_byte {
            126 => len >= 126,
            127 => len > 0xFFFF && len >> 63 == 0,
            _ => true,
        };
        if !minimal {
            return Err(CloseCode::Protocol);
        }
        let is_control = matches!(kind, FrameKind::Close | FrameKind::Ping | FrameKind::Pong);
        if is_control && (!header.is_final || len > MAX_CONTROL_PAYLOAD as u64) {
            return Err(CloseCode::Protocol);
        }
        match (kind, &self.message) {
            (FrameKind::Continuation, None) => return Err(CloseCode::Protocol),
            (FrameKind::Text | FrameKind::Binary, Some(_)) => return Err(CloseCode::Protocol),
            _ => {}
        }
        let len = match usize::try_from(len) {
            Ok(len) if len <= self.limits.max_frame => len,
            _ => return Err(CloseCode::TooBig),
        };
        if !is_control {
            let joined = self.message.as_ref().map_or(0, |m| m.data.len());
            if joined.saturating_add(len) > self.limits.max_message {
                return Err(CloseCode::TooBig);
            }
        }
        if matches!(kind, FrameKind::Text | FrameKind::Binary) {
            self.message = Some(Partial {
                text: kind == FrameKind::Text,
                data: Vec::new(),
                utf8_checked: 0,
            });
        }

        self.start += header_len;
        Ok(Some(Head {
            fin: header.is_final,
            kind,
            mask: header.mask,
            len,
        }))
    }
}

/// Turns an unmasked payload into an event, or into part of `message`
/// (`Ok(None)` for a fragment that is not the last).
fn finish_frame(
    head: Head,
    payload: &[u8],
    message: &mut Option<Partial>,
) -> Result<Option<Event>, CloseCode> {
    match head.kind {
        FrameKind::Ping => Ok(Some(Event::Ping(payload.to_vec()))),
        FrameKind::Pong => Ok(Some(Event::Pong(payload.to_vec()))),
        FrameKind::Close => parse_close(payload).map(Some),
        FrameKind::Text | FrameKind::Binary | FrameKind::Continuation => {
            // parse_header started a message for this frame or checked there is one.
            let Some(partial) = message else {
                return Err(CloseCode::Protocol);
            };
            partial.data.extend_from_slice(payload);
            if partial.text {
                check_utf8(partial, head.fin)?;
            }
            if !head.fin {
                return Ok(None);
            }
            Ok(message.take().map(|done| {
                if done.text {
                    Event::Text(done.data)
                } else {
                    Event::Binary(done.data)
                }
            }))
        }
    }
}

/// Checks the text added since the last call; a char may be cut between
/// fragments, but not at the end of the message.
fn check_utf8(partial: &mut Partial, fin: bool) -> Result<(), CloseCode> {
    let unchecked = partial.data.get(partial.utf8_checked..).unwrap_or_default();
    match std::str::from_utf8(unchecked) {
        Ok(_) => partial.utf8_checked = partial.data.len(),
        Err(e) if e.error_len().is_none() && !fin => partial.utf8_checked += e.valid_up_to(),
        Err(_) => return Err(CloseCode::InvalidData),
    }
    Ok(())
}

/// §5.5.1: an empty payload, or a 2-byte code followed by a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Event, CloseCode> {
    match payload {
        [] => Ok(Event::Close {
            code: None,
            reason: Vec::new(),
        }),
        [_] => Err(CloseCode::Protocol),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_sendable_close_code(code) {
                return Err(CloseCode::Protocol);
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(CloseCode::InvalidData);
            }
            Ok(Event::Close {
                code: Some(code),
                reason: reason.to_vec(),
            })
        }
    }
}

/// Close codes a peer may put on the wire (§7.4 and the IANA registry):
/// 1004 is reserved, 1005, 1006 and 1015 only name conditions, the rest
/// of 1016-2999 is unassigned, 3000-4999 are for libraries and applications.
fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (byte, key) in payload.iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIN: u8 = 0x80;
    const CONT: u8 = 0x0;
    const TEXT: u8 = 0x1;
    const BINARY: u8 = 0x2;
    const CLOSE: u8 = 0x8;
    const PING: u8 = 0x9;
    const PONG: u8 = 0xA;
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A client frame: `first` is FIN, RSV and opcode; the length is
    /// minimally encoded and the payload masked with `mask`.
    fn masked_with(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        out
    }

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        masked_with(first, payload, MASK)
    }

    fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        payload
    }

    /// Every event until more bytes are needed, and the error if one came.
    fn drain(decoder: &mut Decoder) -> (Vec<Event>, Option<CloseCode>) {
        let mut events = Vec::new();
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => return (events, None),
                Err(code) => return (events, Some(code)),
            }
        }
    }

    fn decode_with(limits: Limits, bytes: &[u8]) -> (Vec<Event>, Option<CloseCode>) {
        let mut decoder = Decoder::new(limits);
        decoder.feed(bytes);
        drain(&mut decoder)
    }

    fn decode(bytes: &[u8]) -> (Vec<Event>, Option<CloseCode>) {
        decode_with(Limits::default(), bytes)
    }

    fn decode_in_chunks(bytes: &[u8], chunk: usize) -> (Vec<Event>, Option<CloseCode>) {
        let mut decoder = Decoder::new(Limits::default());
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            decoder.feed(piece);
            let (mut more, error) = drain(&mut decoder);
            events.append(&mut more);
            if error.is_some() {
                return (events, error);
            }
        }
        (events, None)
    }

    fn error_of(bytes: &[u8]) -> Option<CloseCode> {
        decode(bytes).1
    }

    fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
        frames.concat()
    }

    #[test]
    fn accept_key_of_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            accept_key(" dGhlIHNhbXBsZSBub25jZQ==\t"),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn handshake_response_head() {
        let mut out = Vec::new();
        write_handshake_response(
            &mut out,
            "dGhlIHNhbXBsZSBub25jZQ==",
            &[
                ("X-Circolog-Epoch", "1700000000000000"),
                ("X-Bad", "a\r\nSet-Cookie: x"),
                ("Bad:Name", "v"),
                ("", "v"),
            ],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             X-Circolog-Epoch: 1700000000000000\r\n\
             \r\n"
        );
    }

    #[test]
    fn single_text_and_binary_frames() {
        let bytes = concat(&[
            masked(FIN | TEXT, "héllo".as_bytes()),
            masked(FIN | BINARY, &[0, 0xff, 7]),
        ]);
        let (events, error) = decode(&bytes);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                Event::Text("héllo".as_bytes().to_vec()),
                Event::Binary(vec![0, 0xff, 7])
            ]
        );
    }

    #[test]
    fn empty_text_frame() {
        assert_eq!(
            decode(&masked(FIN | TEXT, b"")),
            (vec![Event::Text(vec![])], None)
        );
    }

    #[test]
    fn ping_and_pong_are_events() {
        let bytes = concat(&[
            masked(FIN | PING, b"are you there"),
            masked(FIN | PONG, b""),
        ]);
        assert_eq!(
            decode(&bytes),
            (
                vec![Event::Ping(b"are you there".to_vec()), Event::Pong(vec![])],
                None
            )
        );
    }

    #[test]
    fn ping_of_125_bytes_is_allowed() {
        let payload = [b'p'; 125];
        assert_eq!(
            decode(&masked(FIN | PING, &payload)),
            (vec![Event::Ping(payload.to_vec())], None)
        );
    }

    #[test]
    fn close_with_code_and_reason() {
        let bytes = masked(FIN | CLOSE, &close_payload(1001, "going away ✓".as_bytes()));
        assert_eq!(
            decode(&bytes),
            (
                vec![Event::Close {
                    code: Some(1001),
                    reason: "going away ✓".as_bytes().to_vec()
                }],
                None
            )
        );
    }

    #[test]
    fn close_without_payload() {
        assert_eq!(
            decode(&masked(FIN | CLOSE, b"")),
            (
                vec![Event::Close {
                    code: None,
                    reason: vec![]
                }],
                None
            )
        );
    }

    #[test]
    fn input_after_close_is_ignored() {
        let mut decoder = Decoder::new(Limits::default());
        decoder.feed(&concat(&[
            masked(FIN | CLOSE, &close_payload(1000, b"")),
            masked(FIN | TEXT, b"late"),
        ]));
        assert!(matches!(
            decoder.next_event(),
            Ok(Some(Event::Close {
                code: Some(1000),
                ..
            }))
        ));
        assert_eq!(decoder.next_event(), Ok(None));
        decoder.feed(&masked(FIN | TEXT, b"later"));
        assert_eq!(decoder.next_event(), Ok(None));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn fragmented_text_with_a_ping_in_between() {
        // "né" split inside the two-byte 'é', with a ping between the halves.
        let text = "nété".as_bytes();
        let bytes = concat(&[
            masked(TEXT, &text[..2]),
            masked(FIN | PING, b"hi"),
            masked(CONT, &text[2..4]),
            masked(FIN | PONG, b""),
            masked(FIN | CONT, &text[4..]),
        ]);
        assert_eq!(
            decode(&bytes),
            (
                vec![
                    Event::Ping(b"hi".to_vec()),
                    Event::Pong(vec![]),
                    Event::Text(text.to_vec())
                ],
                None
            )
        );
    }

    #[test]
    fn fragmented_binary_with_empty_fragments() {
        let bytes = concat(&[
            masked(BINARY, b""),
            masked(CONT, b"ab"),
            masked(CONT, b""),
            masked(FIN | CONT, b"c"),
        ]);
        assert_eq!(decode(&bytes), (vec![Event::Binary(b"abc".to_vec())], None));
    }

    #[test]
    fn unmasked_frame_is_a_protocol_error() {
        let mut out = Vec::new();
        write_text(&mut out, b"hello");
        assert_eq!(error_of(&out), Some(CloseCode::Protocol));
    }

    #[test]
    fn reserved_bits_are_a_protocol_error() {
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(
                error_of(&masked(FIN | rsv | TEXT, b"x")),
                Some(CloseCode::Protocol),
                "{rsv:#x}"
            );
        }
    }

    #[test]
    fn unknown_opcodes_are_a_protocol_error() {
        for opcode in (3..=7).chain(0xB..=0xF) {
            assert_eq!(
                error_of(&masked(FIN | opcode, b"x")),
                Some(CloseCode::Protocol),
                "{opcode:#x}"
            );
        }
    }

    #[test]
    fn fragmented_control_frames_are_a_protocol_error() {
        for opcode in [CLOSE, PING, PONG] {
            assert_eq!(
                error_of(&masked(opcode, b"")),
                Some(CloseCode::Protocol),
                "{opcode:#x}"
            );
        }
    }

    #[test]
    fn control_frames_over_125_bytes_are_a_protocol_error() {
        for opcode in [CLOSE, PING, PONG] {
            let mut payload = close_payload(1000, b"");
            payload.resize(126, b'a');
            assert_eq!(
                error_of(&masked(FIN | opcode, &payload)),
                Some(CloseCode::Protocol),
                "{opcode:#x}"
            );
        }
    }

    #[test]
    fn continuation_without_a_message_is_a_protocol_error() {
        assert_eq!(
            error_of(&masked(FIN | CONT, b"x")),
            Some(CloseCode::Protocol)
        );
        assert_eq!(error_of(&masked(CONT, b"x")), Some(CloseCode::Protocol));
        // A finished message does not leave one open.
        let bytes = concat(&[masked(FIN | TEXT, b"a"), masked(FIN | CONT, b"b")]);
        assert_eq!(
            decode(&bytes),
            (vec![Event::Text(b"a".to_vec())], Some(CloseCode::Protocol))
        );
    }

    #[test]
    fn new_message_inside_a_fragmented_one_is_a_protocol_error() {
        for opcode in [TEXT, BINARY] {
            for fin in [0, FIN] {
                let bytes = concat(&[masked(TEXT, b"a"), masked(fin | opcode, b"b")]);
                assert_eq!(
                    error_of(&bytes),
                    Some(CloseCode::Protocol),
                    "{:#x}",
                    fin | opcode
                );
            }
        }
    }

    #[test]
    fn frame_over_max_frame_is_too_big_from_its_header_alone() {
        let limits = Limits {
            max_frame: 100,
            max_message: 1000,
        };
        let frame = masked(FIN | BINARY, &[0; 101]);
        // The header (2 + 4 bytes) is enough to decide.
        assert_eq!(decode_with(limits, &frame[..6]).1, Some(CloseCode::TooBig));
        assert_eq!(
            decode_with(limits, &masked(FIN | BINARY, &[0; 100])).1,
            None
        );

        // A declared length of 2^40 with no payload behind it.
        let mut huge = vec![FIN | BINARY, 0x80 | 127];
        huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
        huge.extend_from_slice(&MASK);
        assert_eq!(error_of(&huge), Some(CloseCode::TooBig));
    }

    #[test]
    fn message_over_max_message_is_too_big() {
        let limits = Limits {
            max_frame: 100,
            max_message: 150,
        };
        let fits = concat(&[masked(TEXT, &[b'a'; 100]), masked(FIN | CONT, &[b'a'; 50])]);
        assert_eq!(
            decode_with(limits, &fits),
            (vec![Event::Text(vec![b'a'; 150])], None)
        );

        let over = concat(&[masked(TEXT, &[b'a'; 100]), masked(FIN | CONT, &[b'a'; 51])]);
        // Refused from the second header, before its payload.
        assert_eq!(
            decode_with(limits, &over[..over.len() - 51]).1,
            Some(CloseCode::TooBig)
        );

        let single = Limits {
            max_frame: 100,
            max_message: 10,
        };
        assert_eq!(
            decode_with(single, &masked(FIN | BINARY, &[0; 11])).1,
            Some(CloseCode::TooBig)
        );
    }

    #[test]
    fn control_frames_do_not_count_toward_the_message() {
        let limits = Limits {
            max_frame: 125,
            max_message: 4,
        };
        let bytes = concat(&[
            masked(TEXT, b"ab"),
            masked(FIN | PING, &[1; 125]),
            masked(FIN | CONT, b"cd"),
        ]);
        assert_eq!(
            decode_with(limits, &bytes),
            (
                vec![Event::Ping(vec![1; 125]), Event::Text(b"abcd".to_vec())],
                None
            )
        );
    }

    #[test]
    fn invalid_utf8_text_is_invalid_data() {
        assert_eq!(
            error_of(&masked(FIN | TEXT, b"ab\xffcd")),
            Some(CloseCode::InvalidData)
        );
        // A char cut at the end of the message.
        let cut = &"é".as_bytes()[..1];
        assert_eq!(
            error_of(&masked(FIN | TEXT, cut)),
            Some(CloseCode::InvalidData)
        );
        let bytes = concat(&[masked(TEXT, b"a"), masked(FIN | CONT, cut)]);
        assert_eq!(error_of(&bytes), Some(CloseCode::InvalidData));
        // Surrogates encoded in UTF-8 are not UTF-8.
        assert_eq!(
            error_of(&masked(FIN | TEXT, b"\xed\xa0\x80")),
            Some(CloseCode::InvalidData)
        );
    }

    #[test]
    fn invalid_utf8_fails_at_the_fragment_that_holds_it() {
        // The message is never finished, yet the bad first fragment is refused.
        let bytes = masked(TEXT, b"ok\xc0\xafok");
        assert_eq!(error_of(&bytes), Some(CloseCode::InvalidData));
    }

    #[test]
    fn binary_need_not_be_utf8() {
        assert_eq!(
            decode(&masked(FIN | BINARY, b"\xff")),
            (vec![Event::Binary(vec![0xff])], None)
        );
    }

    #[test]
    fn close_with_one_byte_is_a_protocol_error() {
        assert_eq!(
            error_of(&masked(FIN | CLOSE, &[0x03])),
            Some(CloseCode::Protocol)
        );
    }

    #[test]
    fn close_codes_invalid_on_the_wire_are_a_protocol_error() {
        for code in [
            0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            let bytes = masked(FIN | CLOSE, &close_payload(code, b""));
            assert_eq!(error_of(&bytes), Some(CloseCode::Protocol), "{code}");
        }
    }

    #[test]
    fn close_codes_valid_on_the_wire_are_delivered() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            let bytes = masked(FIN | CLOSE, &close_payload(code, b"r"));
            let expected = Event::Close {
                code: Some(code),
                reason: b"r".to_vec(),
            };
            assert_eq!(decode(&bytes), (vec![expected], None), "{code}");
        }
    }

    #[test]
    fn close_reason_not_utf8_is_invalid_data() {
        let bytes = masked(FIN | CLOSE, &close_payload(1000, b"bye\xff"));
        assert_eq!(error_of(&bytes), Some(CloseCode::InvalidData));
    }

    #[test]
    fn non_minimal_lengths_are_a_protocol_error() {
        // 5 bytes written with the 16-bit form.
        let mut bytes = vec![FIN | BINARY, 0x80 | 126, 0, 5];
        bytes.extend_from_slice(&MASK);
        bytes.extend_from_slice(&[0; 5]);
        assert_eq!(error_of(&bytes), Some(CloseCode::Protocol));

        // 200 bytes written with the 64-bit form.
        let mut bytes = vec![FIN | BINARY, 0x80 | 127];
        bytes.extend_from_slice(&200u64.to_be_bytes());
        bytes.extend_from_slice(&MASK);
        bytes.extend_from_slice(&[0; 200]);
        assert_eq!(error_of(&bytes), Some(CloseCode::Protocol));

        // A 64-bit length with its most significant bit set.
        let mut bytes = vec![FIN | BINARY, 0x80 | 127];
        bytes.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
        bytes.extend_from_slice(&MASK);
        assert_eq!(error_of(&bytes), Some(CloseCode::Protocol));
    }

    #[test]
    fn extended_lengths_decode() {
        let limits = Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        for len in [125, 126, 127, 200, 0xFFFF, 0x10000, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = masked(FIN | BINARY, &payload);
            let expected_header = match len {
                0..=125 => 6,
                126..=0xFFFF => 8,
                _ => 14,
            };
            assert_eq!(frame.len(), expected_header + len);
            assert_eq!(
                decode_with(limits, &frame),
                (vec![Event::Binary(payload)], None),
                "{len}"
            );
        }
    }

    #[test]
    fn decoder_stays_failed() {
        let mut decoder = Decoder::new(Limits::default());
        decoder.feed(&masked(FIN | CONT, b"x"));
        assert_eq!(decoder.next_event(), Err(CloseCode::Protocol));
        decoder.feed(&masked(FIN | TEXT, b"fine"));
        assert_eq!(decoder.next_event(), Err(CloseCode::Protocol));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn events_before_an_error_are_delivered() {
        let bytes = concat(&[masked(FIN | PING, b"1"), masked(FIN | TEXT, b"\xff")]);
        assert_eq!(
            decode(&bytes),
            (
                vec![Event::Ping(b"1".to_vec())],
                Some(CloseCode::InvalidData)
            )
        );
    }

    #[test]
    fn byte_by_byte_gives_the_same_events() {
        let bytes = concat(&[
            masked(TEXT, "ab€".as_bytes()),
            masked(FIN | PING, b"p"),
            masked(FIN | CONT, "cd".as_bytes()),
            masked(FIN | BINARY, &[9; 300]),
            masked(FIN | CLOSE, &close_payload(1000, b"done")),
        ]);
        let whole = decode(&bytes);
        assert_eq!(whole.0.len(), 4);
        assert_eq!(decode_in_chunks(&bytes, 1), whole);
    }

    #[test]
    fn buffer_holds_one_incomplete_frame_after_draining() {
        let limits = Limits {
            max_frame: 1000,
            max_message: 1000,
        };
        let mut decoder = Decoder::new(limits);
        let frame = masked(FIN | BINARY, &[1; 1000]);
        let stream: Vec<u8> = frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * 20 + 500)
            .collect();
        let mut events = 0;
        for piece in stream.chunks(333) {
            decoder.feed(piece);
            let (more, error) = drain(&mut decoder);
            assert_eq!(error, None);
            events += more.len();
            assert!(decoder.buffered() < limits.max_frame + MAX_HEADER_LEN);
        }
        assert_eq!(events, 20);
    }

    /// Reads back server frames with a decoder that accepts them unmasked.
    fn read_back(bytes: &[u8]) -> Vec<Event> {
        let limits = Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        let mut decoder = Decoder::accepting_unmasked(limits);
        decoder.feed(bytes);
        let (events, error) = drain(&mut decoder);
        assert_eq!(error, None);
        assert_eq!(decoder.buffered(), 0);
        events
    }

    #[test]
    fn written_text_reads_back() {
        for len in [0, 1, 125, 126, 0xFFFF, 0x10000, 70_000] {
            let payload = vec![b'x'; len];
            let mut out = Vec::new();
            write_text(&mut out, &payload);
            assert_eq!(read_back(&out), vec![Event::Text(payload)], "{len}");
        }
    }

    #[test]
    fn written_frames_have_final_unmasked_headers() {
        let mut out = Vec::new();
        write_text(&mut out, &[b'y'; 300]);
        let mut cursor = Cursor::new(&out);
        let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
        assert!(header.is_final && !header.rsv1 && !header.rsv2 && !header.rsv3);
        assert_eq!(header.mask, None);
        assert_eq!(header.opcode, OpCode::Data(Data::Text));
        assert_eq!(len, 300);
        assert_eq!(cursor.position(), 4);
    }

    #[test]
    fn written_pong_and_ping_read_back() {
        let mut out = Vec::new();
        write_pong(&mut out, b"echo");
        write_pong(&mut out, &[7; 200]);
        write_ping(&mut out, b"");
        assert_eq!(
            read_back(&out),
            vec![
                Event::Pong(b"echo".to_vec()),
                Event::Pong(vec![7; 125]),
                Event::Ping(vec![])
            ]
        );
    }

    #[test]
    fn written_close_reads_back() {
        let mut out = Vec::new();
        write_close(&mut out, CloseCode::TooBig, "message too big");
        assert_eq!(
            read_back(&out),
            vec![Event::Close {
                code: Some(1009),
                reason: b"message too big".to_vec()
            }]
        );
    }

    #[test]
    fn written_close_reason_is_cut_on_a_char_boundary() {
        // 61 two-byte chars are 122 bytes; the 62nd would straddle 123.
        let reason = "é".repeat(70);
        let mut out = Vec::new();
        write_close(&mut out, CloseCode::Normal, &reason);
        let events = read_back(&out);
        let [Event::Close { code, reason: sent }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(*code, Some(1000));
        assert_eq!(sent.len(), 122);
        assert_eq!(std::str::from_utf8(sent).unwrap(), "é".repeat(61));

        let mut out = Vec::new();
        write_close(&mut out, CloseCode::Normal, &"a".repeat(200));
        let events = read_back(&out);
        assert!(matches!(&events[..], [Event::Close { reason, .. }] if reason.len() == 123));
    }

    /// One step of a well-formed client stream, and the events it yields.
    #[derive(Debug, Clone)]
    enum Step {
        Text {
            text: String,
            cuts: Vec<prop::sample::Index>,
            ping: Option<Vec<u8>>,
        },
        Binary {
            data: Vec<u8>,
            cuts: Vec<prop::sample::Index>,
        },
        Ping(Vec<u8>),
        Pong(Vec<u8>),
    }

    fn step() -> impl Strategy<Value = Step> {
        let control = prop::collection::vec(any::<u8>(), 0..=125);
        let cuts = prop::collection::vec(any::<prop::sample::Index>(), 0..4);
        prop_oneof![
            (".{0,40}", cuts.clone(), prop::option::of(control.clone()))
                .prop_map(|(text, cuts, ping)| Step::Text { text, cuts, ping }),
            (prop::collection::vec(any::<u8>(), 0..400), cuts)
                .prop_map(|(data, cuts)| Step::Binary { data, cuts }),
            control.clone().prop_map(Step::Ping),
            control.prop_map(Step::Pong),
        ]
    }

    /// Splits `data` at `cuts` (byte positions, not char boundaries) into
    /// fragments, with `between` sent after every fragment but the last.
    fn fragments(
        opcode: u8,
        data: &[u8],
        cuts: &[prop::sample::Index],
        between: Option<&[u8]>,
        mask: [u8; 4],
    ) -> Vec<u8> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.sort_unstable();
        points.push(data.len());
        let mut out = Vec::new();
        let mut from = 0;
        for (i, &to) in points.iter().enumerate() {
            let last = i + 1 == points.len();
            let first = match (i, last) {
                (0, true) => FIN | opcode,
                (0, false) => opcode,
                (_, true) => FIN | CONT,
                (_, false) => CONT,
            };
            out.extend(masked_with(first, &data[from..to], mask));
            if let (false, Some(ping)) = (last, between) {
                out.extend(masked_with(FIN | PING, ping, mask));
            }
            from = to;
        }
        out
    }

    fn script(steps: &[Step], mask: [u8; 4]) -> (Vec<u8>, Vec<Event>) {
        let mut bytes = Vec::new();
        let mut events = Vec::new();
        for step in steps {
            match step {
                Step::Text { text, cuts, ping } => {
                    bytes.extend(fragments(
                        TEXT,
                        text.as_bytes(),
                        cuts,
                        ping.as_deref(),
                        mask,
                    ));
                    if let Some(ping) = ping {
                        let extra = cuts.len();
                        events.extend(std::iter::repeat_n(Event::Ping(ping.clone()), extra));
                    }
                    events.push(Event::Text(text.clone().into_bytes()));
                }
                Step::Binary { data, cuts } => {
                    bytes.extend(fragments(BINARY, data, cuts, None, mask));
                    events.push(Event::Binary(data.clone()));
                }
                Step::Ping(p) => {
                    bytes.extend(masked_with(FIN | PING, p, mask));
                    events.push(Event::Ping(p.clone()));
                }
                Step::Pong(p) => {
                    bytes.extend(masked_with(FIN | PONG, p, mask));
                    events.push(Event::Pong(p.clone()));
                }
            }
        }
        bytes.extend(masked_with(FIN | CLOSE, &close_payload(1000, b"bye"), mask));
        events.push(Event::Close {
            code: Some(1000),
            reason: b"bye".to_vec(),
        });
        (bytes, events)
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            steps in prop::collection::vec(step(), 0..8),
            mask in any::<[u8; 4]>(),
            chunk in 1usize..64,
        ) {
            let (bytes, expected) = script(&steps, mask);
            let whole = decode(&bytes);
            prop_assert_eq!(&whole, &(expected, None));
            prop_assert_eq!(&decode_in_chunks(&bytes, 1), &whole);
            prop_assert_eq!(&decode_in_chunks(&bytes, chunk), &whole);
        }

        #[test]
        fn arbitrary_frames_never_panic_and_stay_bounded(
            frames in prop::collection::vec(
                (any::<u8>(), prop::collection::vec(any::<u8>(), 0..200), any::<bool>()),
                0..12,
            ),
            junk in prop::collection::vec(any::<u8>(), 0..32),
            chunk in 1usize..100,
        ) {
            let limits = Limits { max_frame: 150, max_message: 300 };
            let mut bytes = Vec::new();
            for (first, payload, mask) in &frames {
                if *mask {
                    bytes.extend(masked(*first, payload));
                } else {
                    bytes.push(*first);
                    bytes.push(payload.len().min(125) as u8);
                    bytes.extend_from_slice(&payload[..payload.len().min(125)]);
                }
            }
            bytes.extend_from_slice(&junk);
            let mut decoder = Decoder::new(limits);
            for piece in bytes.chunks(chunk) {
                decoder.feed(piece);
                let (events, error) = drain(&mut decoder);
                for event in &events {
                    if let Event::Text(text) = event {
                        prop_assert!(std::str::from_utf8(text).is_ok());
                    }
                }
                if error.is_none() {
                    prop_assert!(decoder.buffered() < limits.max_frame + MAX_HEADER_LEN);
                }
            }
        }
    }
}
