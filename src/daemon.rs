//! The daemon's state without its I/O: the ring, pause, the counters, and
//! what the control API answers. The event loop owns one [`State`].

use std::fmt::Write as _;

use crate::ring::{Entry, Incoming, Ring, Transport};
use crate::syslog::{self, Format, Message, ParseContext};

/// Counters since start-up, as `/status` and `/metrics` show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages read from each transport, stored or not (index: `Transport as usize`).
    pub received: [u64; 3],
    /// Messages read and discarded while paused.
    pub dropped_paused: u64,
    pub truncated: u64,
    pub malformed: u64,
    /// Messages followers never got because the ring overwrote them first.
    pub skipped_followers: u64,
    /// Times the ring was cleared.
    pub clears: u64,
}

impl Counters {
    pub fn received_total(&self) -> u64 {
        self.received.iter().sum()
    }
}

/// Everything the daemon knows, owned by the event loop.
pub struct State {
    pub ring: Ring,
    paused: bool,
    /// Start of this process, µs since 1970: seqs are only comparable within
    /// one epoch.
    pub epoch_us: i64,
    pub counters: Counters,
    pub parse_ctx: ParseContext,
}

impl State {
    pub fn new(ring: Ring, epoch_us: i64, parse_ctx: ParseContext) -> State {
        State {
            ring,
            paused: false,
            epoch_us,
            counters: Counters::default(),
            parse_ctx,
        }
    }

    /// Takes one received message: stores it, or counts it as discarded while
    /// paused. Returns its seq when stored.
    pub fn ingest(&mut self, msg: Incoming<'_>) -> Option<u64> {
        self.counters.received[msg.transport as usize] += 1;
        if self.paused {
            self.counters.dropped_paused += 1;
            return None;
        }
        let bytes = syslog::trim_trailer(msg.bytes);
        if msg.truncated || bytes.len() > self.ring.max_message_bytes() {
            self.counters.truncated += 1;
        }
        if is_malformed(bytes) {
            self.counters.malformed += 1;
        }
        Some(self.ring.push(Incoming { bytes, ..msg }))
    }

    /// Parses a stored message, as every reader sees it.
    pub fn message<'a>(&self, e: &Entry<'a>) -> Message<'a> {
        let received = jiff::Timestamp::from_microsecond(e.received_us).unwrap_or_default();
        syslog::parse(e.raw, received, &self.parse_ctx)
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
    }

    /// Discards every stored message (their bytes are overwritten).
    pub fn clear(&mut self) {
        self.ring.clear();
        self.counters.clears += 1;
    }

    /// The `/status` document.
    pub fn status(&self, now_us: i64, clients: &Clients) -> serde_json::Value {
        let c = &self.counters;
        let received: serde_json::Map<String, serde_json::Value> = Transport::ALL
            .iter()
            .map(|t| (t.name().to_string(), c.received[*t as usize].into()))
            .collect();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "epoch": self.epoch_us,
            "paused": self.paused,
            "uptime_seconds": (now_us - self.epoch_us).max(0) as f64 / 1e6,
            "capacity": {
                "messages": self.ring.max_messages(),
                "bytes": self.ring.arena_bytes(),
                "max_message_bytes": self.ring.max_message_bytes(),
            },
            "used": {
                "messages": self.ring.len(),
                "bytes": self.ring.bytes_used(),
            },
            "first_seq": (!self.ring.is_empty()).then(|| self.ring.first_seq()),
            "last_seq": self.ring.last_seq(),
            "counters": {
                "received": received,
                "received_total": c.received_total(),
                "dropped_paused": c.dropped_paused,
                "truncated": c.truncated,
                "malformed": c.malformed,
                "skipped_followers": c.skipped_followers,
                "clears": c.clears,
            },
            "clients": {
                "query": clients.query,
                "followers": clients.followers,
                "ctl": clients.ctl,
                "tcp_senders": clients.tcp_senders,
            },
        })
    }

    /// The same figures in the Prometheus text exposition format.
    pub fn metrics(&self, now_us: i64, clients: &Clients) -> String {
        let c = &self.counters;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let received: Vec<(String, u64)> = Transport::ALL
            .iter()
            .map(|t| {
                (
                    format!("{{transport=\"{}\"}}", t.name()),
                    c.received[*t as usize],
                )
            })
            .collect();
        let received: Vec<(&str, u64)> = received.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        metric(
            "circolog_received_messages_total",
            "counter",
            "Messages read from the syslog sockets, stored or not.",
            &received,
        );
        metric(
            "circolog_dropped_paused_messages_total",
            "counter",
            "Messages read and discarded while paused.",
            &[("", c.dropped_paused)],
        );
        metric(
            "circolog_truncated_messages_total",
            "counter",
            "Messages cut to the maximum message size.",
            &[("", c.truncated)],
        );
        metric(
            "circolog_malformed_messages_total",
            "counter",
            "Messages stored whole because they parsed as no syslog format.",
            &[("", c.malformed)],
        );
        metric(
            "circolog_skipped_follower_messages_total",
            "counter",
            "Messages followers missed because the ring overwrote them first.",
            &[("", c.skipped_followers)],
        );
        metric(
            "circolog_clears_total",
            "counter",
            "Times the buffer was cleared.",
            &[("", c.clears)],
        );
        metric(
            "circolog_stored_messages",
            "gauge",
            "Messages in the ring now.",
            &[("", self.ring.len())],
        );
        metric(
            "circolog_stored_bytes",
            "gauge",
            "Arena bytes used by the messages in the ring.",
            &[("", self.ring.bytes_used() as u64)],
        );
        metric(
            "circolog_capacity_messages",
            "gauge",
            "At most this many messages are kept.",
            &[("", self.ring.max_messages() as u64)],
        );
        metric(
            "circolog_capacity_bytes",
            "gauge",
            "Size of the arena.",
            &[("", self.ring.arena_bytes() as u64)],
        );
        metric(
            "circolog_paused",
            "gauge",
            "1 while paused.",
            &[("", u64::from(self.paused))],
        );
        metric(
            "circolog_clients",
            "gauge",
            "Connected clients by kind.",
            &[
                ("{kind=\"query\"}", clients.query),
                ("{kind=\"follower\"}", clients.followers),
                ("{kind=\"ctl\"}", clients.ctl),
                ("{kind=\"tcp_sender\"}", clients.tcp_senders),
            ],
        );
        metric(
            "circolog_uptime_seconds",
            "gauge",
            "Seconds since start-up.",
            &[("", ((now_us - self.epoch_us).max(0) / 1_000_000) as u64)],
        );
        out
    }
}

/// Whether a message parses as no syslog format (counted at ingest; the mark
/// itself comes from parsing when the message is read).
fn is_malformed(bytes: &[u8]) -> bool {
    // The receive time only matters for 3164 years, not for the format.
    let ctx = ParseContext {
        tz: jiff::tz::TimeZone::UTC,
    };
    syslog::parse(bytes, jiff::Timestamp::UNIX_EPOCH, &ctx).format == Format::Malformed
}

/// Connected clients by kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clients {
    pub query: u64,
    pub followers: u64,
    pub ctl: u64,
    pub tcp_senders: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Config;

    fn state() -> State {
        let ring = Ring::new(Config {
            max_messages: 100,
            arena_bytes: 1 << 16,
            max_message_bytes: 64,
        })
        .expect("ring");
        State::new(
            ring,
            1_000_000,
            ParseContext {
                tz: jiff::tz::TimeZone::UTC,
            },
        )
    }

    fn udp(bytes: &[u8]) -> Incoming<'_> {
        Incoming {
            received_us: 2_000_000,
            transport: Transport::Udp,
            cred: None,
            truncated: false,
            bytes,
        }
    }

    #[test]
    fn trims_line_endings_and_nuls() {
        assert_eq!(syslog::trim_trailer(b"hi\n"), b"hi");
        assert_eq!(syslog::trim_trailer(b"hi\r\n"), b"hi");
        assert_eq!(syslog::trim_trailer(b"hi\0"), b"hi");
        assert_eq!(syslog::trim_trailer(b"hi \n\n"), b"hi ");
        assert_eq!(syslog::trim_trailer(b"\n"), b"");
    }

    #[test]
    fn pause_discards_and_counts_but_keeps_backlog() {
        let mut s = state();
        assert_eq!(s.ingest(udp(b"<13>one\n")), Some(0));
        s.set_paused(true);
        assert_eq!(s.ingest(udp(b"<13>two")), None);
        s.toggle_pause();
        assert_eq!(s.ingest(udp(b"<13>three")), Some(1));
        assert_eq!(s.counters.received[Transport::Udp as usize], 3);
        assert_eq!(s.counters.dropped_paused, 1);
        assert_eq!(s.ring.get(0).expect("kept").raw, b"<13>one");
    }

    #[test]
    fn counts_truncated_messages() {
        let mut s = state();
        s.ingest(udp(&[b'a'; 100]));
        assert_eq!(s.counters.truncated, 1);
    }

    #[test]
    fn metrics_have_help_type_and_total_suffix() {
        let mut s = state();
        s.ingest(udp(b"<13>x"));
        let m = s.metrics(3_000_000, &Clients::default());
        assert!(m.contains("# TYPE circolog_received_messages_total counter\n"));
        assert!(m.contains("circolog_received_messages_total{transport=\"udp\"} 1\n"));
        assert!(m.contains("circolog_stored_messages 1\n"));
    }
}
