//! The daemon's state without its I/O: the ring, pause, the counters and
//! the connected clients. The event loop owns one [`State`]; every change
//! goes through its methods, so what `/status` reports and what readers see
//! cannot drift apart. (One part is lent out whole: the exporter, whose
//! connection the driver drives through [`State::exporter_mut`]; its
//! counters are its own.) What changed is reported as [`Event`]s, which the
//! event loop takes with [`State::poll_event`] after each call in, as
//! quinn-proto's endpoint reports its own: the loop never compares the state
//! before and after to guess.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use crate::export::Exporter;
use crate::ingest::limit::{self, Limiter, Sender, Verdict};
use crate::ingest::syslog::framing::{Frame, Framer};
use crate::ingest::syslog::{self, Format, Message, ParseContext};
use crate::ingest::trigger::{Action, Fire, Triggers};
use crate::ingest::unit::{CgroupReader, UnitName, Units};
use crate::query::format;
use crate::query::{Filter, OutputFormat};
use crate::store::file;
use crate::store::messages::Messages;
use crate::store::ring::{self, Cred, Entry, Incoming, Ring, Seq, Transport};
use crate::store::snapshot::{self, Meta, Note, Snapshots, Why};

/// Counters since start-up, as `/status` and `/metrics` show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages read from each transport, stored or not (index: `Transport as usize`).
    pub received: [u64; Transport::ALL.len()],
    /// Messages read and discarded while paused.
    pub dropped_paused: u64,
    pub truncated: u64,
    pub malformed: u64,
    /// Messages followers never got because the ring overwrote them first.
    pub skipped_followers: u64,
    /// Times the ring was cleared.
    pub clears: u64,
    /// Trigger firings whose snapshot could not be taken.
    pub trigger_failed: u64,
    /// Trigger firings that asked for a snapshot while one was already
    /// wanted: the one snapshot, taken once the copy before it is done,
    /// holds their messages too.
    pub trigger_coalesced: u64,
    /// Messages over their sender's `-rate-limit`, read and dropped, by
    /// transport.
    pub suppressed: [u64; Transport::ALL.len()],
    /// Messages the ring let go to make room (`-buffer-size`,
    /// `-buffer-bytes`) or because they grew too old (`-max-age`); a
    /// clear is not counted here.
    pub evicted: u64,
}

impl Counters {
    pub fn received_total(&self) -> u64 {
        self.received.iter().sum()
    }

    /// The counters as the memory file keeps them, every field in its
    /// place: eight single counters, then `received` and `suppressed` in
    /// [`TRANSPORT_SLOTS`] words each, so that a transport added later
    /// moves no other counter.
    fn to_words(self) -> [u64; file::COUNTERS] {
        let Counters {
            received,
            dropped_paused,
            truncated,
            malformed,
            skipped_followers,
            clears,
            trigger_failed,
            trigger_coalesced,
            suppressed,
            evicted,
        } = self;
        let mut w = [0; file::COUNTERS];
        w[..SINGLE_COUNTERS].copy_from_slice(&[
            dropped_paused,
            truncated,
            malformed,
            skipped_followers,
            clears,
            trigger_failed,
            trigger_coalesced,
            evicted,
        ]);
        let (r, s) = w[SINGLE_COUNTERS..].split_at_mut(TRANSPORT_SLOTS);
        r[..received.len()].copy_from_slice(&received);
        s[..suppressed.len()].copy_from_slice(&suppressed);
        w
    }

    fn from_words(w: &[u64; file::COUNTERS]) -> Counters {
        let (r, s) = w[SINGLE_COUNTERS..].split_at(TRANSPORT_SLOTS);
        let mut c = Counters {
            dropped_paused: w[0],
            truncated: w[1],
            malformed: w[2],
            skipped_followers: w[3],
            clears: w[4],
            trigger_failed: w[5],
            trigger_coalesced: w[6],
            evicted: w[7],
            ..Counters::default()
        };
        let n = c.received.len();
        c.received.copy_from_slice(&r[..n]);
        c.suppressed.copy_from_slice(&s[..n]);
        c
    }
}

/// The single counters in the memory file, before the per-transport ones.
const SINGLE_COUNTERS: usize = 8;
/// Words kept for each per-transport counter, whatever transports exist.
const TRANSPORT_SLOTS: usize = 4;
const _: () = assert!(Transport::ALL.len() <= TRANSPORT_SLOTS);
const _: () = assert!(SINGLE_COUNTERS + 2 * TRANSPORT_SLOTS <= file::COUNTERS);

/// Which clear a reader last saw. A reader that holds an older generation
/// than [`State::clear_generation`] has missed a clear: what it rendered
/// before is gone from the ring and must not be sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClearGeneration(u64);

/// What changed in the [`State`], for the event loop to act on. Each is
/// reported once, after the change, by [`State::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Messages were stored (one event for any number of them until it
    /// is polled): followers and the exporter have new messages to read.
    Stored,
    /// The daemon was paused (`true`) or resumed, by anyone: a command, a
    /// signal, a timed pause ending, a trigger. Followers tell their peers.
    Paused(bool),
    /// The ring was cleared: followers are told, and the arena's wipe is
    /// housekeeping's to do.
    Cleared,
    /// A snapshot is wanted or being taken: housekeeping has slices to copy.
    SnapshotWork,
    /// Snapshots up to this id are complete: followers are told of them.
    SnapshotTaken(u64),
}

/// What kind of client a connection is counted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Query,
    Follower,
    Control,
}

/// A TCP syslog sender let in by [`State::admit_sender`]: it holds one of
/// the `-max-senders` places until given back to [`State::sender_left`].
#[derive(Debug)]
#[must_use = "a sender's place is given back with State::sender_left"]
pub struct Admitted {
    peer: IpAddr,
}

impl Admitted {
    /// The address it connected from: what its messages are
    /// [`State::ingest_from`].
    pub fn peer(&self) -> IpAddr {
        self.peer
    }
}

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

/// How the daemon came to be paused, which `/status` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PausedBy {
    /// SIGUSR1.
    Signal,
    /// The control API: `circolog-ctl pause` or `toggle`, `POST /pause`.
    Api,
    /// A trigger whose action is `pause`, by its place on the command line.
    Trigger(usize),
}

impl PausedBy {
    /// As `/status` names it.
    pub fn name(self) -> &'static str {
        match self {
            PausedBy::Signal => "signal",
            PausedBy::Api => "api",
            PausedBy::Trigger(_) => "trigger",
        }
    }

    /// As the memory file keeps it, for the next process; 0 is "not said".
    /// A trigger is kept by a hash of its text, which the next process,
    /// maybe started with other triggers, looks for among its own.
    fn code(self, triggers: &Triggers) -> u64 {
        match self {
            PausedBy::Signal => 1,
            PausedBy::Api => 2,
            PausedBy::Trigger(i) => {
                let text = triggers.source(i).unwrap_or_default();
                3 | u64::from(text_hash(text)) << 32
            }
        }
    }

    /// What [`PausedBy::code`] made; `None` for 0, from a file that does
    /// not say (or for a code it cannot make). A trigger this process does
    /// not have is one past its last: it has no text.
    fn of_code(code: u64, triggers: &Triggers) -> Option<PausedBy> {
        match code {
            1 => Some(PausedBy::Signal),
            2 => Some(PausedBy::Api),
            n if n & 0xffff_ffff == 3 => {
                let hash = (n >> 32) as u32;
                let i = (0..triggers.len())
                    .find(|&i| triggers.source(i).map(text_hash) == Some(hash))
                    .unwrap_or(triggers.len());
                Some(PausedBy::Trigger(i))
            }
            _ => None,
        }
    }
}

/// FNV-1a of `text`: which trigger paused, as the memory file keeps it.
fn text_hash(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Everything the daemon knows, owned by the event loop.
pub struct State {
    ring: Ring,
    paused: bool,
    paused_by: Option<PausedBy>,
    /// While paused by `POST /pause?for=`: when the pause ends by itself,
    /// µs since 1970. Any other change of the pause cancels it.
    resume_at_us: Option<i64>,
    /// Start of this process, µs since 1970: seqs are only comparable within
    /// one epoch.
    epoch_us: i64,
    counters: Counters,
    parse_ctx: ParseContext,
    clients: Clients,
    /// `-max-age`: messages received longer ago are evicted and wiped.
    max_age_us: Option<i64>,
    /// The first seq stored after the last clear.
    cleared_at: Seq,
    /// `-export-otlp`: what is exported, and from where on.
    export: Option<Export>,
    snapshots: Snapshots,
    /// The id of the snapshot completed last (0: none yet). Snapshots are
    /// completed in the order they were begun, so a reader that was told
    /// of snapshots up to some id has to be told of those after it.
    snapshot_done: u64,
    /// `-trigger`: none by default.
    triggers: Triggers,
    /// `-rate-limit`: off by default.
    limiter: Option<Limiter>,
    /// The units of local senders' pids, and how to read a pid's cgroup
    /// file: every message with credentials is stored with its sender's
    /// unit, and `-rate-limit-by unit` tells senders apart by the same.
    units: Option<(Units, CgroupReader)>,
    /// The `suppressed` notice being stored, reused (it never grows past
    /// [`limit::NOTICE_MAX`]).
    notice_line: Vec<u8>,
    /// `-max-senders`: TCP syslog senders connected at once, at most.
    max_senders: u64,
    /// A snapshot the triggers asked for, not begun yet, and the ring's
    /// next seq when it was last asked for (it holds the messages before
    /// it): begun by [`State::housekeep`] once no other is being copied.
    /// Later firings join it (counted as coalesced) and move its end on.
    trigger_wanted: Option<(Why, Seq)>,
    /// Messages were stored since [`State::poll_event`] last said so.
    stored: bool,
    /// The other events not yet polled, oldest first.
    /// INVARIANT: no two equal, and at most one `SnapshotTaken`: it never
    /// holds more than the few kinds of [`Event`].
    events: VecDeque<Event>,
    /// This host's name, shown for local messages that name none (see
    /// [`State::with_local_host`]).
    local_host: Option<&'static [u8]>,
}

/// Messages exported as they are stored (`-export-query`): a reader of the
/// ring like a follower, whose records go to the exporter's queue.
pub struct Export {
    exporter: Exporter,
    /// `None`: nothing is exported as it arrives.
    filter: Option<Filter>,
    /// Seqs of stored messages the filter selected, matched at ingest on
    /// the one parse it does, waiting to be queued for export.
    /// INVARIANT: never longer than [`EXPORT_PENDING`], so it never grows.
    pending: VecDeque<Seq>,
    /// Messages the ring overwrote before they were looked at.
    missed: u64,
    /// `-export-snapshots`: every snapshot taken is exported whole.
    snapshots: bool,
    /// The last snapshot id whose export was begun.
    snapshot_seen: u64,
    /// The snapshot being exported, and the next seq of it.
    snapshot: Option<(u64, Seq)>,
}

/// Queued records leave at least this much room when a snapshot is
/// exported: a large snapshot goes out at the pace the endpoint takes it
/// rather than pushing out its own first records.
const EXPORT_ROOM: usize = 256 << 10;

/// Messages the exporter looks at per call at most.
const EXPORT_SLICE: u64 = 4096;
/// Selected messages waiting to be queued for export at most; past it the
/// oldest are counted as missed. It holds seqs, not messages: the
/// exporter's own queue is the bound that matters. The export task takes
/// [`EXPORT_SLICE`] of them a turn, so they can wait several turns (and
/// longer while the task waits on its endpoint); this bound is what keeps
/// that wait from growing memory.
const EXPORT_PENDING: usize = 1 << 16;

/// Bytes of the arena a clear's wipe zeroes per turn of the event loop.
const WIPE_SLICE: usize = 1 << 20;
/// Messages `-max-age` evicts per turn of the event loop at most.
const EXPIRE_SLICE: usize = 4096;
/// Bytes a snapshot being taken copies per turn of the event loop.
pub const SNAPSHOT_SLICE: usize = 1 << 20;

impl State {
    /// A ring adopted from a previous process brings its counters and its
    /// last clear (see [`Ring::restored`]); its pause is the caller's.
    pub fn new(ring: Ring, epoch_us: i64, parse_ctx: ParseContext) -> State {
        let restored = ring.restored();
        State {
            ring,
            paused: false,
            resume_at_us: None,
            paused_by: None,
            epoch_us,
            counters: restored
                .map_or_else(Counters::default, |r| Counters::from_words(&r.counters)),
            parse_ctx,
            clients: Clients::default(),
            max_age_us: None,
            cleared_at: restored.map_or(Seq::ZERO, |r| r.cleared_at),
            export: None,
            snapshots: Snapshots::new(snapshot::Config {
                arena_bytes: 0,
                max_snapshots: 1,
            })
            .expect("a disabled snapshot store allocates nothing"),
            snapshot_done: 0,
            triggers: Triggers::new(
                Vec::new(),
                crate::ingest::trigger::DEFAULT_AFTER,
                Action::Snapshot,
                crate::ingest::trigger::DEFAULT_HOLDOFF,
            ),
            limiter: None,
            units: None,
            notice_line: Vec::new(),
            max_senders: u64::MAX,
            trigger_wanted: None,
            stored: false,
            events: VecDeque::with_capacity(8),
            local_host: None,
        }
    }

    /// The next thing that changed, oldest first; `None` once all are
    /// told. Call it after every call that may change the state, until
    /// `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.stored) {
            return Some(Event::Stored);
        }
        self.events.pop_front()
    }

    fn report(&mut self, event: Event) {
        if let Event::SnapshotTaken(_) = event {
            // Followers are told of every snapshot up to the newest id.
            self.events
                .retain(|e| !matches!(e, Event::SnapshotTaken(_)));
        }
        if !self.events.contains(&event) {
            self.events.push_back(event);
        }
    }

    /// At most `max` TCP syslog senders are let in at once (`-max-senders`).
    pub fn with_max_senders(mut self, max: u64) -> State {
        self.max_senders = max;
        self
    }

    /// Lets in a TCP syslog sender connected from `peer`, unless
    /// `-max-senders` are in already (then it is to be closed at once).
    /// Counted from now on, before it sends anything: a burst of
    /// connections cannot all get in under the limit.
    pub fn admit_sender(&mut self, peer: std::net::SocketAddr) -> Option<Admitted> {
        if self.clients.tcp_senders >= self.max_senders {
            return None;
        }
        self.clients.tcp_senders += 1;
        Some(Admitted { peer: peer.ip() })
    }

    /// A sender [`State::admit_sender`] let in has gone.
    pub fn sender_left(&mut self, sender: Admitted) {
        let Admitted { peer: _ } = sender;
        self.clients.tcp_senders = self.clients.tcp_senders.saturating_sub(1);
    }

    /// A query or control connection moves from being counted as `from`
    /// to `to` (`None`: not counted).
    pub fn count_client(&mut self, from: Option<ClientKind>, to: Option<ClientKind>) {
        fn slot(c: &mut Clients, k: ClientKind) -> &mut u64 {
            match k {
                ClientKind::Query => &mut c.query,
                ClientKind::Follower => &mut c.followers,
                ClientKind::Control => &mut c.ctl,
            }
        }
        if let Some(from) = from {
            let n = slot(&mut self.clients, from);
            *n = n.saturating_sub(1);
        }
        if let Some(to) = to {
            *slot(&mut self.clients, to) += 1;
        }
    }

    /// A message received on a local unix socket without a hostname is
    /// shown with `host`, this host's name (the daemon's is made once, at
    /// start, and lives as long as the process).
    pub fn with_local_host(mut self, host: &'static [u8]) -> State {
        self.local_host = (!host.is_empty()).then_some(host);
        self.triggers.on_host(self.local_host);
        if let Some(x) = self.export.as_mut() {
            x.filter = x.filter.take().map(|f| f.on_host(self.local_host));
        }
        self
    }

    /// This host's name, which a message from a local socket without a
    /// hostname has, as shown and as `host=` sees it.
    pub fn local_host(&self) -> Option<&'static [u8]> {
        self.local_host
    }

    /// Each sender may store what `limiter` allows (`-rate-limit`).
    pub fn with_limiter(mut self, limiter: Limiter) -> State {
        self.limiter = Some(limiter);
        self.notice_line = Vec::with_capacity(limit::NOTICE_MAX);
        self
    }

    pub fn limiter(&self) -> Option<&Limiter> {
        self.limiter.as_ref()
    }

    /// A local sender's unit is looked up through `read` (the daemon's
    /// reads `/proc/PID/cgroup`), in a cache of [`limit::SENDERS`] pids
    /// allocated here, and stored with its message.
    pub fn with_units(mut self, read: CgroupReader) -> State {
        self.units = Some((Units::new(limit::SENDERS), read));
        self
    }

    /// Cgroup files read since start; `None` when units are not looked up.
    pub fn unit_reads(&self) -> Option<u64> {
        self.units.as_ref().map(|(units, _)| units.reads())
    }

    /// The systemd unit of the sender of `msg`, a local one with
    /// credentials: looked up now, while it may still be there.
    fn unit_of(&mut self, msg: &Incoming<'_>) -> Option<UnitName> {
        let (units, read) = self.units.as_mut()?;
        let cred = msg.cred.filter(|_| msg.transport == Transport::Unix)?;
        units.lookup(cred.pid, msg.received_us, *read)
    }

    /// Every stored message is matched against `triggers` (`-trigger`).
    pub fn with_triggers(mut self, triggers: Triggers) -> State {
        self.triggers = triggers;
        self.triggers.on_host(self.local_host);
        self
    }

    pub fn triggers(&self) -> &Triggers {
        &self.triggers
    }

    /// Snapshots are kept in `snapshots` (`-snapshot-bytes`, `-snapshots`);
    /// without it they are disabled. Those it adopted from a previous
    /// process are complete already: followers are not told of them again.
    pub fn with_snapshots(mut self, snapshots: Snapshots) -> State {
        self.snapshot_done = snapshots.infos().map(|i| i.id).max().unwrap_or(0);
        self.snapshots = snapshots;
        self
    }

    /// Exports the messages that `filter` selects, from now on, through
    /// `exporter` (none as they arrive without a filter), and with
    /// `snapshots` every snapshot once taken.
    pub fn with_export(
        mut self,
        exporter: Exporter,
        filter: Option<Filter>,
        snapshots: bool,
    ) -> State {
        self.export = Some(Export {
            exporter,
            filter: filter.map(|f| f.on_host(self.local_host)),
            pending: VecDeque::with_capacity(EXPORT_PENDING),
            missed: 0,
            snapshots,
            // Not those adopted from a previous process, which exported them.
            snapshot_seen: self.snapshot_done,
            snapshot: None,
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
    /// export filter selects, 4096 (`EXPORT_SLICE`) at most; returns whether
    /// more are left.
    pub fn export_new(&mut self, now: Instant) -> bool {
        let snapshots = self.export_snapshots(now);
        let Some(x) = self.export.as_mut() else {
            return false;
        };
        for _ in 0..EXPORT_SLICE {
            let Some(seq) = x.pending.pop_front() else {
                break;
            };
            match self.ring.get(seq) {
                Some(e) => {
                    let msg = message_of(&e, &self.parse_ctx, self.local_host);
                    x.exporter.push_message(now, &e, &msg, None);
                }
                // Overwritten before its turn.
                None => x.missed += 1,
            }
        }
        snapshots || !x.pending.is_empty()
    }

    /// Queues the records of the snapshots taken since the last call
    /// (`-export-snapshots`), [`EXPORT_SLICE`] messages at most and while
    /// the queue has room; returns whether more are left.
    fn export_snapshots(&mut self, now: Instant) -> bool {
        let Some(x) = self.export.as_mut().filter(|x| x.snapshots) else {
            return false;
        };
        if x.snapshot.is_none() && x.snapshot_seen < self.snapshot_done {
            x.snapshot_seen += 1;
            let id = x.snapshot_seen;
            x.snapshot = self.snapshots.view(id).map(|v| (id, v.first_seq()));
        }
        let Some((id, mut seq)) = x.snapshot else {
            return x.snapshot_seen < self.snapshot_done;
        };
        let Some(view) = self.snapshots.view(id) else {
            // Deleted meanwhile: what went is all there is.
            x.snapshot = None;
            return true;
        };
        let end = view.next_seq().min(seq.saturating_plus(EXPORT_SLICE));
        while seq < end && x.exporter.room() >= EXPORT_ROOM {
            if let Some(e) = view.get(seq) {
                let msg = message_of(&e, &self.parse_ctx, self.local_host);
                x.exporter.push_message(now, &e, &msg, Some(id));
            }
            seq = seq.next();
        }
        x.snapshot = (seq < view.next_seq()).then_some((id, seq));
        x.snapshot.is_some() && x.exporter.room() >= EXPORT_ROOM
            || x.snapshot_seen < self.snapshot_done
    }

    /// Messages received longer ago than this are evicted (`-max-age`).
    pub fn with_max_age(mut self, max_age: Option<std::time::Duration>) -> State {
        self.max_age_us = max_age.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        self
    }

    /// Takes one received message: stores it, or counts it as discarded while
    /// paused. Returns its seq when stored. The sender, for `-rate-limit`,
    /// is the pid the kernel gave, if any; see [`State::ingest_from`].
    pub fn ingest(&mut self, msg: Incoming<'_>) -> Option<Seq> {
        self.ingest_from(msg, None)
    }

    /// Stores the frames `data` completes, of the TCP sender at `peer`.
    pub fn ingest_frames(&mut self, framer: &mut Framer, peer: IpAddr, data: &[u8], now_us: i64) {
        framer.feed(data, |f| self.ingest_frame(f, peer, now_us));
    }

    /// Stores what is left in `framer` when its TCP sender at `peer` has
    /// closed.
    pub fn ingest_last_frame(&mut self, framer: &mut Framer, peer: IpAddr, now_us: i64) {
        framer.finish(|f| self.ingest_frame(f, peer, now_us));
    }

    fn ingest_frame(&mut self, f: Frame<'_>, peer: IpAddr, received_us: i64) {
        let msg = Incoming {
            received_us,
            transport: Transport::Tcp,
            cred: None,
            truncated: f.truncated,
            bytes: f.bytes,
        };
        self.ingest_from(msg, Some(peer));
    }

    /// [`State::ingest`] of a message that came from the address `peer`
    /// (UDP and TCP; `None` on unix sockets). What the transport says of
    /// its sender (the address, else the pid) is said once, in
    /// `sender_of`; who the sender is for `-rate-limit` then depends on
    /// `-rate-limit-by` (see [`limit::By`]).
    pub fn ingest_from(&mut self, msg: Incoming<'_>, peer: Option<IpAddr>) -> Option<Seq> {
        let origin = sender_of(peer, msg.cred);
        self.counters.received[msg.transport as usize] += 1;
        if self.paused {
            self.counters.dropped_paused += 1;
            return None;
        }
        let unit = self.unit_of(&msg);
        let unit = unit.as_ref().map(UnitName::as_bytes);
        if self.limiter.is_none() {
            return Some(self.store(msg, unit));
        }
        // The sender may be named in the message: the one parse comes
        // first, and is stored.
        let (bytes, mut fields, index) = self.parse(&msg);
        fields.sent = ring::sent(msg.cred, unit, msg.transport);
        let local = msg.transport == Transport::Unix;
        let limiter = self.limiter.as_mut().expect("checked just above");
        if let Some(sender) = limiter.sender(origin, &fields, local, unit) {
            let severity = limit::pri_severity(msg.bytes).unwrap_or(5);
            let checked = limiter.check(sender, severity, msg.received_us);
            if let Some(n) = checked.notice {
                self.store_suppressed(n, Some(msg.transport), msg.received_us);
            }
            if checked.verdict == Verdict::Drop {
                self.counters.suppressed[msg.transport as usize] += 1;
                return None;
            }
        }
        Some(self.store_parsed(msg, bytes, fields, index, unit))
    }

    /// Stores the notice of a sender's suppressed messages, in their place,
    /// marked as come by `transport` (the message that brought it due; else
    /// unix for a pid, TCP for an address, which may have sent by UDP too).
    fn store_suppressed(
        &mut self,
        n: limit::Suppressed,
        transport: Option<Transport>,
        now_us: i64,
    ) {
        // Taken out while stored, and put back: its capacity is kept.
        let mut line = std::mem::take(&mut self.notice_line);
        line.clear();
        limit::write_notice(&mut line, now_us, &n);
        let transport = transport.unwrap_or(match n.sender {
            Sender::Pid(_) | Sender::App { .. } | Sender::Host(_) | Sender::Unit(_) => {
                Transport::Unix
            }
            Sender::Ip(_) => Transport::Tcp,
        });
        self.store(
            Incoming {
                received_us: now_us,
                transport,
                cred: None,
                truncated: false,
                bytes: &line,
            },
            None,
        );
        self.notice_line = line;
    }

    /// Stores a message that is to be kept, with its sender's `unit`:
    /// counts it, feeds the triggers.
    fn store(&mut self, msg: Incoming<'_>, unit: Option<&[u8]>) -> Seq {
        let (bytes, mut fields, index) = self.parse(&msg);
        fields.sent = ring::sent(msg.cred, unit, msg.transport);
        self.store_parsed(msg, bytes, fields, index, unit)
    }

    /// The one parse, of the bytes the ring keeps: it names the sender for
    /// the limiter, counts the message, feeds the triggers, selects what is
    /// exported, and is stored as the message's index so that readers
    /// filter and render without parsing again. Returns the bytes to store
    /// (the trailer trimmed) and what the parse found.
    fn parse<'a>(
        &self,
        msg: &Incoming<'a>,
    ) -> (&'a [u8], syslog::Fields<'a>, Option<syslog::Index>) {
        let bytes = syslog::trim_trailer(msg.bytes);
        let kept = &bytes[..bytes.len().min(self.ring.max_message_bytes())];
        let (fields, index) = syslog::index(kept, received_at(msg.received_us), &self.parse_ctx);
        (bytes, fields, index)
    }

    /// [`State::store`] of a message [`State::parse`] read.
    fn store_parsed(
        &mut self,
        msg: Incoming<'_>,
        bytes: &[u8],
        fields: syslog::Fields<'_>,
        index: Option<syslog::Index>,
        unit: Option<&[u8]>,
    ) -> Seq {
        if msg.truncated || bytes.len() > self.ring.max_message_bytes() {
            self.counters.truncated += 1;
        }
        if fields.format == Format::Malformed {
            self.counters.malformed += 1;
        }
        let oldest = self.ring.first_seq();
        let seq = self.ring.push_sent(Incoming { bytes, ..msg }, index, unit);
        self.stored = true;
        self.counters.evicted += self.ring.first_seq().since(oldest);
        if let Some(x) = self.export.as_mut()
            && x.filter
                .as_ref()
                .is_some_and(|f| f.matches_fields(msg.received_us, &fields))
        {
            if x.pending.len() == EXPORT_PENDING {
                x.pending.pop_front();
                x.missed += 1;
            }
            x.pending.push_back(seq);
        }
        let now_us = msg.received_us;
        if !self.triggers.is_empty()
            && self
                .triggers
                .on_message_with(seq, now_us, |f| f.matches_fields(now_us, &fields))
        {
            self.poll_triggers(msg.received_us);
        }
        seq
    }

    /// Acts on every trigger firing that is due.
    fn poll_triggers(&mut self, now_us: i64) {
        while let Some(fire) = self.triggers.poll(now_us, self.paused) {
            self.act(fire);
        }
    }

    /// A firing only marks a snapshot as wanted: the copy is housekeeping's,
    /// a slice a turn, never made inside ingestion. Firings while one is
    /// wanted are coalesced into it.
    fn act(&mut self, fire: Fire) {
        match fire.action {
            Action::Pause => self.pause(PausedBy::Trigger(fire.trigger)),
            Action::Snapshot if !self.snapshots.enabled() => self.counters.trigger_failed += 1,
            Action::Snapshot => {
                let end = self.ring.next_seq();
                if let Some((_, until)) = &mut self.trigger_wanted {
                    *until = end;
                    self.counters.trigger_coalesced += 1;
                    return;
                }
                let query = self.triggers.source(fire.trigger).unwrap_or("").to_string();
                let why = Why::Trigger {
                    seq: fire.seq,
                    query,
                };
                self.trigger_wanted = Some((why, end));
                self.report(Event::SnapshotWork);
            }
        }
    }

    /// The stored messages, read by seq.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// A stored message as every reader sees it: read from its index, or
    /// parsed when it has none.
    pub fn message<'a>(&self, e: &Entry<'a>) -> Message<'a> {
        message_of(e, &self.parse_ctx, self.local_host)
    }

    /// Appends `e` rendered in `fmt`, parsing it only when the format
    /// shows parsed fields.
    pub fn render(&self, fmt: OutputFormat, e: &Entry<'_>, out: &mut Vec<u8>) {
        match fmt {
            OutputFormat::Raw => format::render_raw(e, out),
            _ => format::render(fmt, e, &self.message(e), self.epoch_us, out),
        }
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

    /// The kernel record `seq` (`-kmsg`) was read, stored or not: a next
    /// process goes on after it.
    pub fn kernel_record_read(&mut self, seq: u64) {
        self.ring.record_kmsg(seq);
    }

    /// The SEQ of the last kernel record the previous process read, to
    /// read on after it.
    pub fn kernel_records_read(&self) -> Option<u64> {
        self.ring.restored().and_then(|r| r.kmsg)
    }

    /// How the daemon came to be paused; `None` while it is not, or when
    /// the process that paused it did not say.
    pub fn paused_by(&self) -> Option<PausedBy> {
        self.paused_by
    }

    /// An adopted ring's pause goes on, as it came, a timed one until its
    /// end (gone if that has passed by `now_us`); a new ring starts
    /// unpaused.
    pub fn resume_restored_pause(&mut self, now_us: i64) {
        let Some(pause) = self.ring.restored().map(|r| r.pause) else {
            return self.resume();
        };
        let by = PausedBy::of_code(pause.by, &self.triggers);
        match (pause.paused, pause.resume_at_us) {
            (true, None) => self.pause_until(true, None, by),
            (true, Some(at)) if at > now_us => self.pause_until(true, Some(at), by),
            _ => self.resume(),
        }
    }

    /// Pauses until resumed.
    pub fn pause(&mut self, by: PausedBy) {
        self.pause_until(true, None, Some(by));
    }

    pub fn resume(&mut self) {
        self.pause_until(false, None, None);
    }

    /// Every change of the pause goes through here, and is reported.
    fn pause_until(&mut self, paused: bool, resume_at_us: Option<i64>, by: Option<PausedBy>) {
        if paused != self.paused {
            self.report(Event::Paused(paused));
        }
        self.paused = paused;
        self.resume_at_us = resume_at_us;
        self.paused_by = by.filter(|_| paused);
        self.ring.record_pause(crate::store::file::Pause {
            paused,
            resume_at_us,
            by: self.paused_by.map_or(0, |by| by.code(&self.triggers)),
        });
        self.ring
            .record_counters(&self.counters.to_words(), self.cleared_at);
    }

    /// Resumes a paused daemon, pauses another.
    pub fn toggle_pause(&mut self, by: PausedBy) {
        if self.paused {
            self.resume();
        } else {
            self.pause(by);
        }
    }

    /// Pauses until `now_us + d`, when [`State::housekeep`] resumes (a
    /// pause asked for meanwhile, timed or not, replaces this one).
    pub fn pause_for(&mut self, d: std::time::Duration, now_us: i64, by: PausedBy) {
        let d = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        self.pause_until(true, Some(now_us.saturating_add(d)), Some(by));
    }

    /// When a timed pause ends by itself, µs since 1970.
    pub fn resume_at_us(&self) -> Option<i64> {
        self.resume_at_us
    }

    /// Discards every stored message at once; their bytes, and those of
    /// every message evicted before, are overwritten by [`State::housekeep`]
    /// a slice at a time.
    pub fn clear(&mut self) {
        self.ring.begin_clear();
        self.report(Event::Cleared);
        self.counters.clears += 1;
        self.cleared_at = self.ring.next_seq();
        self.ring
            .record_counters(&self.counters.to_words(), self.cleared_at);
        if let Some(x) = self.export.as_mut() {
            // Its queue holds copies of cleared messages.
            x.exporter.clear();
            x.pending.clear();
        }
    }

    /// The first seq stored after the last clear: a reader that learns of
    /// the clear goes on from there, and is told of any message from there
    /// on that the ring overwrote before it read it.
    pub fn cleared_at(&self) -> Seq {
        self.cleared_at
    }

    /// The event loop's chores, a bounded slice each: ending a timed pause,
    /// acting on triggers whose post-roll ended, taking a snapshot, wiping the arena after a clear, and evicting what `-max-age` says is
    /// too old. Call it at
    /// least once a second, and again at once while it returns true.
    pub fn housekeep(&mut self, now_us: i64) -> bool {
        // For the next process, should this one be killed.
        self.persist();
        if self.resume_at_us.is_some_and(|at| now_us >= at) {
            self.resume();
        }
        // Post-rolls by time end here, messages or not.
        if !self.triggers.is_empty() {
            self.poll_triggers(now_us);
        }
        // Senders gone quiet after a window with drops are told of here
        // (not while paused: their notices wait).
        if !self.paused
            && let Some(mut limiter) = self.limiter.take()
        {
            limiter.due_notices(now_us, |n| self.store_suppressed(n, None, now_us));
            self.limiter = Some(limiter);
        }
        if !self.snapshots.is_taking()
            && let Some((why, end)) = self.trigger_wanted.take()
        {
            let meta = Meta {
                why,
                taken_at_us: now_us,
                note: None,
            };
            if self.snapshots.begin_until(&self.ring, meta, end).is_err() {
                self.counters.trigger_failed += 1;
            }
        }
        let taking = self.snapshot_step();
        let wiping = self.ring.wipe_step(WIPE_SLICE);
        let expiring = self.max_age_us.is_some_and(|age| {
            let cutoff = now_us.saturating_sub(age);
            let n = self.ring.evict_older_than(cutoff, EXPIRE_SLICE);
            self.counters.evicted += n as u64;
            n == EXPIRE_SLICE
        });
        taking || wiping || expiring || self.trigger_wanted.is_some()
    }

    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// Writes what the next process adopts and is not written as it
    /// changes (the counters) to the memory file: housekeeping does every
    /// second, a restart once more before it executes the daemon again.
    /// The pause and the messages are in the file already.
    pub fn persist(&mut self) {
        self.ring
            .record_counters(&self.counters.to_words(), self.cleared_at);
    }

    /// Before this process hands the memory file to the next (a restart,
    /// or a stop the service manager may start again from): the snapshots
    /// being taken are copied to the end (at most the snapshot arena's
    /// bytes), so that the next process adopts them, and the counters are
    /// written. A trigger's post-roll still running is not waited for.
    pub fn hand_over(&mut self) {
        while self.snapshot_step() {}
        self.persist();
    }

    /// Begins a snapshot of the ring as it is now; [`State::housekeep`]
    /// copies it. When no other is being copied, its first slice is
    /// copied at once (so a small one is complete at once). Returns its id.
    ///
    /// A request made while the same request (same reason, same note)
    /// still waits for the copy before it joins that one and gets its id:
    /// that snapshot is not begun yet, so it will hold every message the
    /// ring holds now, and a second one would copy the same messages again
    /// and push out an older snapshot for nothing.
    pub fn take_snapshot(
        &mut self,
        why: Why,
        note: Option<Note>,
        now_us: i64,
    ) -> Result<u64, snapshot::Error> {
        let meta = Meta {
            why,
            taken_at_us: now_us,
            note,
        };
        if !self.snapshots.enabled() {
            return Err(snapshot::Error::Disabled);
        }
        if let Some(id) = self.snapshots.join(&self.ring, &meta) {
            return Ok(id);
        }
        let idle = !self.snapshots.is_taking();
        let id = self.snapshots.begin(&self.ring, meta)?;
        self.report(Event::SnapshotWork);
        if idle {
            self.snapshot_step();
        }
        Ok(id)
    }

    /// Deletes snapshot `id`, overwriting its bytes.
    pub fn delete_snapshot(&mut self, id: u64) -> Result<(), snapshot::Error> {
        self.snapshots.delete(id)
    }

    /// Deletes every snapshot, overwriting their bytes.
    pub fn clear_snapshots(&mut self) -> usize {
        self.snapshots.clear()
    }

    /// The id of the snapshot completed last (0: none yet).
    pub fn snapshot_done(&self) -> u64 {
        self.snapshot_done
    }

    /// One slice of the snapshot being taken; true while more are left.
    fn snapshot_step(&mut self) -> bool {
        match self.snapshots.step(&self.ring, SNAPSHOT_SLICE) {
            snapshot::Step::Idle => false,
            snapshot::Step::More => true,
            snapshot::Step::Done(id) => {
                self.snapshot_done = id;
                self.report(Event::SnapshotTaken(id));
                self.snapshots.is_taking()
            }
        }
    }

    /// When [`State::housekeep`] next has something due by the clock (a
    /// timed pause ending, a post-roll by time), µs since 1970; the event
    /// loop calls it then rather than at its next once-a-second tick.
    pub fn next_deadline_us(&self) -> Option<i64> {
        match (self.resume_at_us, self.triggers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves on with every [`State::clear`].
    pub fn clear_generation(&self) -> ClearGeneration {
        ClearGeneration(self.counters.clears)
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }
}

/// Who sent a message, for `-rate-limit`: the source address on UDP and
/// TCP, else the pid the kernel gave on unix sockets; `None` (not limited)
/// when neither is known.
fn sender_of(peer: Option<IpAddr>, cred: Option<Cred>) -> Option<Sender> {
    peer.map(Sender::ip).or(cred.map(|c| Sender::Pid(c.pid)))
}

/// A stored receive time as the parser takes it (a time outside jiff's
/// range, which no clock gives, as the epoch).
fn received_at(us: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_microsecond(us).unwrap_or_default()
}

/// [`State::message`], for the places that hold another part of the state.
/// `e` as every reader sees it. A message that came on a local unix
/// socket without a hostname (glibc's `syslog(3)`, journald's forward) has
/// `local_host`'s, as rsyslog and journalctl show it.
fn message_of<'a>(
    e: &Entry<'a>,
    ctx: &ParseContext,
    local_host: Option<&'static [u8]>,
) -> Message<'a> {
    let received = received_at(e.received_us);
    let mut m = match e.index {
        Some(ix) => ix.message(e.raw, received, ctx),
        None => syslog::parse(e.raw, received, ctx),
    };
    if m.hostname.is_none() && e.transport == Transport::Unix {
        m.hostname = local_host;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ring::Config;

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

    /// A trigger on this host's name fires on a local message that names
    /// no host, as the readers select it, whichever was set first.
    #[test]
    fn a_trigger_on_this_hosts_name_sees_local_messages_without_one() {
        let glibc = b"<30>Nov 24 10:11:12 sshd[812]: hi";
        let unix = Incoming {
            transport: Transport::Unix,
            ..udp(glibc)
        };
        for host_first in [true, false] {
            let mut s = state();
            if host_first {
                s = s.with_local_host(b"here");
            }
            s = with_trigger(s, "host=here", 0, Action::Pause);
            if !host_first {
                s = s.with_local_host(b"here");
            }
            s.ingest(udp(glibc));
            assert!(!s.paused(), "from the network, it names no host");
            s.ingest(unix);
            assert!(s.paused(), "host first: {host_first}");
            assert_eq!(s.paused_by(), Some(PausedBy::Trigger(0)));
        }
    }

    #[test]
    fn a_local_message_without_a_hostname_has_this_hosts() {
        let mut s = state().with_local_host(b"here");
        let glibc = b"<30>Nov 24 10:11:12 sshd[812]: hi";
        let named = b"<30>Nov 24 10:11:12 web01 sshd[812]: hi";
        let unix = |bytes| Incoming {
            transport: Transport::Unix,
            ..udp(bytes)
        };
        for (msg, host) in [
            (unix(glibc), Some(&b"here"[..])),
            (unix(named), Some(&b"web01"[..])),
            (udp(glibc), None),
        ] {
            let seq = s.ingest(msg).expect("stored");
            let e = s.ring().get(seq).expect("entry");
            assert_eq!(s.message(&e).hostname, host);
        }
        let mut out = Vec::new();
        let e = s.ring().get(Seq::ZERO).expect("entry");
        s.render(OutputFormat::Syslog, &e, &mut out);
        assert!(
            String::from_utf8_lossy(&out).contains(" here sshd 812 "),
            "{out:?}"
        );
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
    fn counters_round_trip_through_the_memory_file_words() {
        let mut c = Counters {
            dropped_paused: 4,
            truncated: 5,
            malformed: 6,
            skipped_followers: 7,
            clears: 8,
            trigger_failed: 9,
            trigger_coalesced: 13,
            evicted: 14,
            ..Counters::default()
        };
        for (i, t) in Transport::ALL.iter().enumerate() {
            c.received[*t as usize] = 100 + i as u64;
            c.suppressed[*t as usize] = 200 + i as u64;
        }
        assert_eq!(Counters::from_words(&c.to_words()), c);
    }

    #[test]
    fn pause_discards_and_counts_but_keeps_backlog() {
        let mut s = state();
        assert_eq!(s.ingest(udp(b"<13>one\n")), Some(Seq::ZERO));
        s.pause(PausedBy::Api);
        assert_eq!(s.ingest(udp(b"<13>two")), None);
        s.toggle_pause(PausedBy::Signal);
        assert_eq!(s.ingest(udp(b"<13>three")), Some(Seq::new(1)));
        assert_eq!(s.counters().received[Transport::Udp as usize], 3);
        assert_eq!(s.counters().dropped_paused, 1);
        assert_eq!(s.ring().get(Seq::ZERO).expect("kept").raw, b"<13>one");
    }

    #[test]
    fn a_timed_pause_ends_at_its_time_and_any_other_change_cancels_it() {
        let mut s = state();
        s.pause_for(std::time::Duration::from_secs(10), 5_000_000, PausedBy::Api);
        assert_eq!(s.resume_at_us(), Some(15_000_000));
        s.housekeep(14_999_999);
        assert!(s.paused());
        s.housekeep(15_000_000);
        assert!(!s.paused());
        assert_eq!(s.resume_at_us(), None);
        s.pause_for(std::time::Duration::from_secs(10), 5_000_000, PausedBy::Api);
        s.pause(PausedBy::Api);
        s.housekeep(20_000_000);
        assert!(s.paused(), "a plain pause stays");
    }

    fn with_trigger(s: State, query: &str, after: u64, action: Action) -> State {
        with_trigger_holdoff(s, query, after, action, 60)
    }

    fn with_trigger_holdoff(
        s: State,
        query: &str,
        after: u64,
        action: Action,
        holdoff_s: u64,
    ) -> State {
        let filter = crate::ingest::trigger::parse_trigger(query, 0).expect("trigger");
        s.with_triggers(Triggers::new(
            vec![(filter, query.to_string())],
            crate::ingest::trigger::PostRoll::Messages(after),
            action,
            std::time::Duration::from_secs(holdoff_s),
        ))
    }

    /// Triggers of these texts, pausing.
    fn triggers(texts: &[&str]) -> Triggers {
        let each = texts
            .iter()
            .map(|t| {
                let filter = crate::ingest::trigger::parse_trigger(t, 0).expect("trigger");
                (filter, t.to_string())
            })
            .collect();
        Triggers::new(
            each,
            crate::ingest::trigger::PostRoll::Messages(0),
            Action::Pause,
            std::time::Duration::from_secs(60),
        )
    }

    /// How a pause came is kept for the next process, a trigger by its
    /// text: one started with other triggers names the same one, or none.
    #[test]
    fn how_a_pause_came_is_kept_a_trigger_by_its_text() {
        let before = triggers(&["app=a", "grep=Oops"]);
        for by in [PausedBy::Signal, PausedBy::Api, PausedBy::Trigger(1)] {
            assert_eq!(PausedBy::of_code(by.code(&before), &before), Some(by));
        }
        let code = PausedBy::Trigger(1).code(&before);
        let moved = triggers(&["grep=Oops"]);
        assert_eq!(PausedBy::of_code(code, &moved), Some(PausedBy::Trigger(0)));
        let other = triggers(&["app=a", "sev=crit"]);
        let by = PausedBy::of_code(code, &other);
        assert_eq!(by, Some(PausedBy::Trigger(2)), "none of these");
        assert_eq!(other.source(2), None);
        assert_eq!(PausedBy::of_code(0, &before), None, "not said");
        assert_eq!(PausedBy::of_code(7, &before), None, "not a code");
    }

    fn snapshots(max_snapshots: usize) -> Snapshots {
        Snapshots::new(snapshot::Config {
            arena_bytes: 1 << 16,
            max_snapshots,
        })
        .expect("snapshots")
    }

    fn events(s: &mut State) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    /// pid 7 is in nginx.service, pid 8 in no unit, other pids are gone.
    fn cgroup(pid: u32, buf: &mut [u8]) -> Option<usize> {
        let text: &[u8] = match pid {
            7 => b"0::/system.slice/nginx.service\n",
            8 => b"0::/\n",
            _ => return None,
        };
        buf[..text.len()].copy_from_slice(text);
        Some(text.len())
    }

    /// A local sender's unit is looked up at ingest and stored; a trigger
    /// on it fires there, as it is matched on the one parse (with the
    /// limiter too, which tells senders apart by the same look-up).
    #[test]
    fn a_local_senders_unit_is_stored_and_triggers_see_it() {
        for limited in [false, true] {
            let s = with_trigger(state().with_units(cgroup), "unit=nginx", 1, Action::Pause);
            let mut s = match limited {
                true => s.with_limiter(
                    Limiter::new(
                        limit::Rate {
                            messages: 100,
                            window: std::time::Duration::from_secs(1),
                        },
                        0,
                        16,
                    )
                    .by(limit::By::Unit, "here"),
                ),
                false => s,
            };
            let unix = |pid| Incoming {
                transport: Transport::Unix,
                cred: Some(Cred {
                    pid,
                    uid: 0,
                    gid: 0,
                }),
                ..udp(b"<13>hello")
            };
            let mut units = Vec::new();
            for msg in [unix(8), unix(9), udp(b"<13>x"), unix(7)] {
                let seq = s.ingest(msg).expect("stored");
                let e = s.ring().get(seq).expect("entry");
                units.push(e.unit.map(<[u8]>::to_vec));
            }
            assert_eq!(
                units,
                [None, None, None, Some(b"nginx.service".to_vec())],
                "limited: {limited}"
            );
            // Its post-roll of one message.
            s.ingest(udp(b"<13>after"));
            assert_eq!(s.triggers().totals().fired, 1, "limited: {limited}");
            assert_eq!(s.unit_reads(), Some(3), "udp needs none");
        }
    }

    #[test]
    fn every_change_is_reported_once_as_an_event() {
        let mut s = state().with_snapshots(snapshots(4));
        assert_eq!(events(&mut s), []);
        s.ingest(udp(b"<13>one"));
        s.ingest(udp(b"<13>two"));
        assert_eq!(events(&mut s), [Event::Stored], "one for any number");
        s.pause(PausedBy::Api);
        s.pause(PausedBy::Api);
        s.ingest(udp(b"<13>dropped"));
        assert_eq!(events(&mut s), [Event::Paused(true)], "a change, once");
        s.toggle_pause(PausedBy::Signal);
        s.pause_for(std::time::Duration::from_secs(1), 5_000_000, PausedBy::Api);
        assert_eq!(events(&mut s), [Event::Paused(false), Event::Paused(true)]);
        s.housekeep(6_000_000);
        assert_eq!(
            events(&mut s),
            [Event::Paused(false)],
            "a timed pause ended"
        );
        s.clear();
        assert_eq!(events(&mut s), [Event::Cleared]);
        let id = s.take_snapshot(Why::Api, None, 7_000_000).expect("taken");
        assert_eq!(
            events(&mut s),
            [Event::SnapshotWork, Event::SnapshotTaken(id)],
            "small: taken at once"
        );
        s.housekeep(7_000_000);
        assert_eq!(events(&mut s), [], "nothing changed");
    }

    #[test]
    fn tcp_senders_are_admitted_up_to_the_limit_and_give_their_place_back() {
        let mut s = state().with_max_senders(2);
        let peer: std::net::SocketAddr = "[::ffff:192.0.2.7]:514".parse().expect("addr");
        let a = s.admit_sender(peer).expect("first");
        let b = s.admit_sender(peer).expect("second");
        assert!(s.admit_sender(peer).is_none(), "past -max-senders");
        assert_eq!(s.clients().tcp_senders, 2);
        assert_eq!(a.peer(), peer.ip());
        s.sender_left(a);
        assert_eq!(s.clients().tcp_senders, 1);
        let c = s.admit_sender(peer).expect("a place was given back");
        s.sender_left(b);
        s.sender_left(c);
        assert_eq!(*s.clients(), Clients::default());
    }

    #[test]
    fn the_sender_is_the_address_where_there_is_one_else_the_pid() {
        let cred = Some(Cred {
            pid: 42,
            uid: 0,
            gid: 0,
        });
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(sender_of(None, cred), Some(Sender::Pid(42)));
        assert_eq!(sender_of(Some(mapped), None), Some(Sender::Ip(v4)));
        assert_eq!(sender_of(Some(v4), cred), Some(Sender::Ip(v4)));
        assert_eq!(sender_of(None, None), None);
    }

    /// `-trigger grep= -trigger-holdoff 0 -trigger-after 0` under a flood:
    /// every message fires, but ingestion copies nothing, and the firings
    /// between two turns of housekeeping make one snapshot.
    #[test]
    fn a_trigger_storm_makes_one_snapshot_per_copy_not_one_per_firing() {
        let mut s = with_trigger_holdoff(
            state().with_snapshots(snapshots(4)),
            "",
            0,
            Action::Snapshot,
            0,
        );
        let mut now = 2_000_000;
        for turn in 0..10 {
            for _ in 0..100 {
                now += 1;
                s.ingest(Incoming {
                    received_us: now,
                    ..udp(b"<13>flood")
                });
            }
            assert_eq!(s.snapshot_done(), turn, "copied inside ingestion");
            while s.housekeep(now) {}
        }
        let fired = s.triggers().totals().fired;
        let taken = s.snapshots().counters().taken;
        assert_eq!(fired, 1000);
        assert_eq!(taken, 10, "one per turn of housekeeping");
        assert_eq!(s.counters().trigger_coalesced, fired - taken);
        assert_eq!(s.counters().trigger_failed, 0);
        let info = s.snapshots().info(taken).expect("kept");
        assert_eq!(
            info.why,
            &Why::Trigger {
                seq: Seq::new(900),
                query: String::new()
            },
            "named after the first firing it holds"
        );
        assert!(info.complete());
        assert_eq!(
            info.last_seq(),
            Some(Seq::new(999)),
            "up to the last firing"
        );
    }

    /// Before the file goes to the next process, a snapshot being copied
    /// is finished and published, so that the next one adopts it; adopted,
    /// it is not told of again.
    #[test]
    fn handing_over_finishes_the_snapshot_being_copied() {
        // A ring larger than one slice, so that a copy takes several turns.
        let config = Config {
            max_messages: 10_000,
            arena_bytes: 4 << 20,
            max_message_bytes: 1024,
        };
        let snapshot_config = snapshot::Config {
            arena_bytes: 16 << 20,
            max_snapshots: 8,
        };
        let ctx = || ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        };
        let snaps = Snapshots::new(snapshot_config).expect("snapshots");
        let mut s = State::new(Ring::new(config).expect("ring"), 0, ctx()).with_snapshots(snaps);
        let big = [b'x'; 1000];
        for _ in 0..3000 {
            s.ingest(udp(&big));
        }
        let id = s.take_snapshot(Why::Api, None, 1).expect("taken");
        assert!(s.snapshots().info(id).expect("kept").taking);
        s.hand_over();
        let info = s.snapshots().info(id).expect("kept");
        assert!(!info.taking && info.messages() == 3000, "{info:?}");
        assert_eq!(s.snapshot_done(), id);
        let part = s.snapshots().memory().to_vec();
        let mut mem = crate::store::file::anonymous(part.len()).expect("memory");
        mem.copy_from_slice(&part);
        let adopted = Snapshots::adopt(snapshot_config, Some(mem)).expect("adopted");
        assert_eq!(adopted.info(id), s.snapshots().info(id));
        let next = State::new(Ring::new(config).expect("ring"), 0, ctx()).with_snapshots(adopted);
        assert_eq!(
            next.snapshot_done(),
            id,
            "followers are not told of it again"
        );
    }

    #[test]
    fn a_request_while_the_same_one_waits_its_turn_joins_it() {
        // A ring larger than one slice, so that a copy takes several turns.
        let ring = Ring::new(Config {
            max_messages: 10_000,
            arena_bytes: 4 << 20,
            max_message_bytes: 1024,
        })
        .expect("ring");
        let snaps = Snapshots::new(snapshot::Config {
            arena_bytes: 16 << 20,
            max_snapshots: 8,
        })
        .expect("snapshots");
        let mut s = State::new(
            ring,
            0,
            ParseContext {
                tz: jiff::tz::TimeZone::UTC,
            },
        )
        .with_snapshots(snaps);
        let big = [b'x'; 1000];
        for _ in 0..3000 {
            s.ingest(udp(&big));
        }
        let first = s.take_snapshot(Why::Api, None, 1).expect("taken");
        let second = s.take_snapshot(Why::Api, None, 2).expect("taken");
        assert_ne!(first, second, "the first is being copied: a new one waits");
        s.ingest(udp(b"<13>later"));
        for _ in 0..100 {
            assert_eq!(s.take_snapshot(Why::Api, None, 3), Ok(second));
        }
        let noted = Note::new("deploy").expect("note");
        let third = s.take_snapshot(Why::Api, Some(noted), 4).expect("taken");
        assert_ne!(third, second, "another note is another snapshot");
        while s.housekeep(5) {}
        assert_eq!(s.snapshots().counters().taken, 3);
        let joined = s.snapshots().info(second).expect("kept");
        assert_eq!(
            joined.last_seq(),
            Some(Seq::new(3000)),
            "holds what came before"
        );
        assert_eq!(joined.taken_at_us, 3);
    }

    #[test]
    fn a_snapshot_trigger_snapshots_at_the_end_of_its_post_roll() {
        let snaps = Snapshots::new(snapshot::Config {
            arena_bytes: 1 << 16,
            max_snapshots: 4,
        })
        .expect("snapshots");
        let mut s = with_trigger(
            state().with_snapshots(snaps),
            "sev=crit",
            1,
            Action::Snapshot,
        );
        s.ingest(udp(b"<14>calm"));
        s.ingest(udp(b"<10>bad"));
        assert_eq!(s.snapshots().len(), 0);
        s.ingest(udp(b"<14>after"));
        s.ingest(udp(b"<14>later, not part of it"));
        assert_eq!(s.snapshot_done(), 0, "never copied inside ingestion");
        s.housekeep(3_000_000);
        assert_eq!(
            s.snapshot_done(),
            1,
            "small enough to be taken in one slice"
        );
        let info = s.snapshots().info(1).expect("taken");
        assert_eq!(
            info.why,
            &Why::Trigger {
                seq: Seq::new(1),
                query: "sev=crit".into()
            }
        );
        assert_eq!((info.first_seq, info.next_seq), (Seq::ZERO, Seq::new(3)));
        assert_eq!(s.triggers().totals().fired, 1);
    }

    #[test]
    fn a_pause_trigger_pauses_and_counts_malformed_from_the_same_parse() {
        let mut s = with_trigger(state(), "grep=Oops", 0, Action::Pause);
        let mut plain = state();
        let lines: [&[u8]; 4] = [b"<13>fine", b"<999>x", b"\x01\x02", b"<14>Oops"];
        for line in lines {
            s.ingest(udp(line));
            plain.ingest(udp(line));
        }
        assert!(s.paused());
        assert!(plain.counters().malformed > 0);
        assert_eq!(s.counters().malformed, plain.counters().malformed);
        // Paused once: the next match is discarded, not a new firing.
        s.ingest(udp(b"<14>Oops again"));
        assert_eq!(s.counters().dropped_paused, 1);
    }

    #[test]
    fn evictions_by_room_and_by_age_are_counted_and_a_clear_is_not() {
        let mut s = state().with_max_age(Some(std::time::Duration::from_secs(1)));
        for _ in 0..150 {
            s.ingest(udp(b"<13>x"));
        }
        assert_eq!(s.ring().len(), 100);
        assert_eq!(s.counters().evicted, 50, "room for 100");
        s.clear();
        s.ingest(udp(b"<13>y"));
        s.ingest(Incoming {
            received_us: 2_500_000,
            ..udp(b"<13>z")
        });
        assert_eq!(s.counters().evicted, 50, "a clear evicts nothing");
        while s.housekeep(3_200_000) {}
        assert_eq!(s.ring().len(), 1, "the one received at 2.5 s is young");
        assert_eq!(s.counters().evicted, 51);
    }

    #[test]
    fn counts_truncated_messages() {
        let mut s = state();
        s.ingest(udp(&[b'a'; 100]));
        assert_eq!(s.counters().truncated, 1);
    }
}
