//! Syslog messages: parsing (RFC 5424, RFC 3164 and its wild variants, the
//! glibc `/dev/log` form) and TCP framing (RFC 6587).
//!
//! Stored messages are kept as received; [`parse`] turns their bytes into a
//! [`Message`] that borrows from them, whenever they are read.

pub(crate) mod calendar;
pub mod framing;
mod index;
mod parse;

#[cfg(test)]
pub(crate) use index::index_in_utc;
pub use index::{Fields, Index, Sent, fields, index};
pub use parse::{ParseContext, SdElement, SdParam, parse, sd_elements, unescape_sd_value};

use jiff::Timestamp;
use jiff::tz::Offset;

/// A parsed syslog message. Every field borrows from the stored bytes; a
/// NILVALUE (`-`) or an absent field is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// 0..=23
    pub facility: u8,
    /// 0..=7
    pub severity: u8,
    pub timestamp: Option<MsgTime>,
    pub hostname: Option<&'a [u8]>,
    pub app_name: Option<&'a [u8]>,
    pub proc_id: Option<&'a [u8]>,
    pub msg_id: Option<&'a [u8]>,
    /// The structured data exactly as received (`[id k="v"]...`), already
    /// checked to be well formed: walk it with [`sd_elements`].
    pub structured_data: Option<&'a [u8]>,
    pub message: &'a [u8],
    pub format: Format,
}

impl<'a> Message<'a> {
    /// A message that parses as no syslog format: stored whole as its text,
    /// `user.notice`, every other field absent.
    pub fn unparsed(raw: &'a [u8]) -> Message<'a> {
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

    pub fn malformed(&self) -> bool {
        self.format == Format::Malformed
    }

    pub fn pri(&self) -> u8 {
        self.facility * 8 + self.severity
    }
}

/// The instant a message carries, with the UTC offset it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgTime {
    pub instant: Timestamp,
    pub offset: Offset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
    /// Parsed as neither: stored whole as the message text, `user.notice`.
    Malformed,
}

/// The message without its trailing `\n`, `\r` and NUL bytes, in any
/// number and order (what syslog(3) implementations and relays append).
/// The one rule for every transport: datagrams at ingest, TCP frames in the
/// framer.
pub fn trim_trailer(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| !matches!(b, b'\n' | b'\r' | b'\0'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Severity names as `syslog.h` spells them, indexed by severity.
pub const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Facility names as `syslog.h` spells them, indexed by facility.
pub const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// A severity from its name (`err`, `error`, `warning`, `warn`, …) or number.
pub fn severity_from_name(name: &str) -> Option<u8> {
    let alias = match name {
        "error" => "err",
        "warn" => "warning",
        "panic" => "emerg",
        other => other,
    };
    if let Some(i) = SEVERITY_NAMES.iter().position(|n| *n == alias) {
        return Some(i as u8);
    }
    name.parse::<u8>().ok().filter(|n| *n < 8)
}

/// A facility from its name (`kern`, `local0`, `auth`, …) or number.
pub fn facility_from_name(name: &str) -> Option<u8> {
    let alias = match name {
        "cron2" => "solaris-cron",
        other => other,
    };
    if let Some(i) = FACILITY_NAMES.iter().position(|n| *n == alias) {
        return Some(i as u8);
    }
    name.parse::<u8>().ok().filter(|n| *n < 24)
}
