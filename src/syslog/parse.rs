//! STUB: replaced by the real parser.
use super::{Format, Message};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// What parsing needs besides the bytes.
#[derive(Clone, Debug)]
pub struct ParseContext {
    /// Zone of RFC 3164 dates, which carry none (`-tz`).
    pub tz: TimeZone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdElement<'a> {
    pub id: &'a [u8],
    params: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdParam<'a> {
    pub name: &'a [u8],
    /// As received, still escaped.
    pub raw_value: &'a [u8],
}

impl<'a> SdElement<'a> {
    pub fn params(&self) -> impl Iterator<Item = SdParam<'a>> + use<'a> {
        let _ = self.params;
        std::iter::empty()
    }
}

pub fn sd_elements(_sd: &[u8]) -> impl Iterator<Item = SdElement<'_>> {
    std::iter::empty()
}

pub fn unescape_sd_value(raw: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(raw);
}

/// Parses a stored message received at `received`.
pub fn parse<'a>(raw: &'a [u8], _received: Timestamp, _ctx: &ParseContext) -> Message<'a> {
    Message {
        facility: 1,
        severity: 5,
        timestamp: None,
        hostname: None,
        app_name: None,
        proc_id: None,
        msg_id: None,
        structured_data: None,
        message: raw,
        format: Format::Malformed,
    }
}
