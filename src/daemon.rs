//! The daemon's state without its I/O: the ring, pause, the counters and
//! the connected clients. The event loop owns one [`State`]; every change
//! goes through its methods, so what `/status` reports and what readers see
//! cannot drift apart.

use std::time::Instant;

use crate::export::Exporter;
use crate::query::Filter;
use crate::ring::{Entry, Incoming, Read, Ring};
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

/// Which clear a reader last saw. A reader that holds an older generation
/// than [`State::clear_generation`] has missed a clear: what it rendered
/// before is gone from the ring and must not be sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClearGeneration(u64);

/// Connected clients by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clients {
    /// Query connections that are not following (dumps, keep-alive).
    pub query: u64,
    /// Websocket followers.
    pub followers: u64,
    pub ctl: u64,
    pub tcp_senders: u64,
}

/// Everything the daemon knows, owned by the event loop.
pub struct State {
    ring: Ring,
    paused: bool,
    /// Start of this process, µs since 1970: seqs are only comparable within
    /// one epoch.
    epoch_us: i64,
    counters: Counters,
    parse_ctx: ParseContext,
    clients: Clients,
    /// `-max-age`: messages received longer ago are evicted and wiped.
    max_age_us: Option<i64>,
    /// The first seq stored after the last clear.
    cleared_at: u64,
    /// `-export-otlp`: what is exported, and from where on.
    export: Option<Export>,
}

/// Messages exported as they are stored (`-export-query`): a reader of the
/// ring like a follower, whose records go to the exporter's queue.
pub struct Export {
    exporter: Exporter,
    /// `None`: nothing is exported as it arrives.
    filter: Option<Filter>,
    /// The next seq to look at.
    cursor: u64,
    /// Messages the ring overwrote before they were looked at.
    missed: u64,
}

/// Messages the exporter looks at per call at most.
const EXPORT_SLICE: u64 = 4096;

/// Bytes of the arena a clear's wipe zeroes per turn of the event loop.
const WIPE_SLICE: usize = 1 << 20;
/// Messages `-max-age` evicts per turn of the event loop at most.
const EXPIRE_SLICE: usize = 4096;

impl State {
    pub fn new(ring: Ring, epoch_us: i64, parse_ctx: ParseContext) -> State {
        State {
            ring,
            paused: false,
            epoch_us,
            counters: Counters::default(),
            parse_ctx,
            clients: Clients::default(),
            max_age_us: None,
            cleared_at: 0,
            export: None,
        }
    }

    /// Exports the messages that `filter` selects, from now on, through
    /// `exporter` (none as they arrive without a filter).
    pub fn with_export(mut self, exporter: Exporter, filter: Option<Filter>) -> State {
        let cursor = self.ring.next_seq();
        self.export = Some(Export {
            exporter,
            filter,
            cursor,
            missed: 0,
        });
        self
    }

    /// The exporter, when there is one: the event loop drives its I/O.
    pub fn exporter_mut(&mut self) -> Option<&mut Exporter> {
        self.export.as_mut().map(|e| &mut e.exporter)
    }

    /// The exporter's counters and last error, and the messages the ring
    /// overwrote before the exporter looked at them.
    pub fn export(&self) -> Option<(&Exporter, u64)> {
        self.export.as_ref().map(|e| (&e.exporter, e.missed))
    }

    /// Queues for export the messages stored since the last call that the
    /// export filter selects, [`EXPORT_SLICE`] at most; returns whether
    /// more are left.
    pub fn export_new(&mut self, now: Instant) -> bool {
        let Some(x) = self.export.as_mut() else {
            return false;
        };
        let Some(filter) = &x.filter else {
            x.cursor = self.ring.next_seq();
            return false;
        };
        let end = self
            .ring
            .next_seq()
            .min(x.cursor.saturating_add(EXPORT_SLICE));
        while x.cursor < end {
            match self.ring.read(x.cursor) {
                Read::Entry(e) => {
                    x.cursor += 1;
                    let received =
                        jiff::Timestamp::from_microsecond(e.received_us).unwrap_or_default();
                    let msg = syslog::parse(e.raw, received, &self.parse_ctx);
                    if filter.matches(e.received_us, &msg) {
                        x.exporter.push_message(now, &e, &msg, None);
                    }
                }
                Read::Skipped(n) => {
                    x.cursor += n;
                    x.missed += n;
                }
                Read::End => break,
            }
        }
        x.cursor < self.ring.next_seq()
    }

    /// Messages received longer ago than this are evicted (`-max-age`).
    pub fn with_max_age(mut self, max_age: Option<std::time::Duration>) -> State {
        self.max_age_us = max_age.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        self
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

    /// The stored messages, read by seq.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Parses a stored message, as every reader sees it.
    pub fn message<'a>(&self, e: &Entry<'a>) -> Message<'a> {
        let received = jiff::Timestamp::from_microsecond(e.received_us).unwrap_or_default();
        syslog::parse(e.raw, received, &self.parse_ctx)
    }

    pub fn epoch_us(&self) -> i64 {
        self.epoch_us
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A follower could not be given `n` messages: the ring overwrote them.
    pub fn count_skipped(&mut self, n: u64) {
        self.counters.skipped_followers += n;
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

    /// Discards every stored message at once; their bytes, and those of
    /// every message evicted before, are overwritten by [`State::housekeep`]
    /// a slice at a time.
    pub fn clear(&mut self) {
        self.ring.begin_clear();
        self.counters.clears += 1;
        self.cleared_at = self.ring.next_seq();
        if let Some(x) = self.export.as_mut() {
            // Its queue holds copies of cleared messages.
            x.exporter.clear();
            x.cursor = self.cleared_at;
        }
    }

    /// The first seq stored after the last clear: a reader that learns of
    /// the clear goes on from there, and is told of any message from there
    /// on that the ring overwrote before it read it.
    pub fn cleared_at(&self) -> u64 {
        self.cleared_at
    }

    /// The event loop's chores, a bounded slice each: wiping the arena after
    /// a clear, and evicting what `-max-age` says is too old. Call it at
    /// least once a second, and again at once while it returns true.
    pub fn housekeep(&mut self, now_us: i64) -> bool {
        let wiping = self.ring.wipe_step(WIPE_SLICE);
        let expiring = self.max_age_us.is_some_and(|age| {
            let cutoff = now_us.saturating_sub(age);
            self.ring.evict_older_than(cutoff, EXPIRE_SLICE) == EXPIRE_SLICE
        });
        wiping || expiring
    }

    /// Moves on with every [`State::clear`].
    pub fn clear_generation(&self) -> ClearGeneration {
        ClearGeneration(self.counters.clears)
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The counts of connected clients, for the event loop to keep.
    pub fn clients_mut(&mut self) -> &mut Clients {
        &mut self.clients
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{Config, Transport};

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
        assert_eq!(s.counters().received[Transport::Udp as usize], 3);
        assert_eq!(s.counters().dropped_paused, 1);
        assert_eq!(s.ring().get(0).expect("kept").raw, b"<13>one");
    }

    #[test]
    fn counts_truncated_messages() {
        let mut s = state();
        s.ingest(udp(&[b'a'; 100]));
        assert_eq!(s.counters().truncated, 1);
    }
}
