//! Per-sender rate limiting (`-rate-limit N/DURATION`): one flooding
//! process must not evict everyone else's messages from the ring.
//!
//! Each sender may store N messages per window of DURATION. Its window
//! opens with its first message and lasts DURATION; when it ends, the next
//! message opens a new one. Messages past N in a window are dropped and
//! counted, and once the window has ended the sender's drops become one
//! [`Suppressed`] notice, which the daemon stores in their place
//! ([`write_notice`] renders it as a syslog line). Messages at or above the
//! keep severity (`-rate-limit-keep`, default `crit`) are never limited.
//!
//! Who a sender ([`Sender`]) is, `-rate-limit-by` ([`By`]) says. `app`, the
//! default, is the message's hostname and app-name together: a relay
//! (syslog-ng, rsyslog, journald) keeps them, so that one chatty app behind
//! it does not silence the others, as it did when the relay's pid was the
//! sender. `host` is the hostname alone. `pid` is what the transport tells,
//! which a direct sender cannot fake: the pid on unix sockets (from
//! `SO_PASSCRED`) and the IP address on UDP and TCP, without the port: a
//! host forwards through one relay, a TCP sender that reconnects must not
//! get a fresh quota, and a UDP flood from random source ports must not
//! create a sender per port (it would push every real sender out of the
//! table and escape the limit). A name ([`Name`]) is kept inline, cut at
//! [`NAME_MAX`] bytes, so that a sender is still a small `Copy` value
//! that costs no allocation.
//!
//! Memory is bounded and allocated in [`Limiter::new`]: a table of at most
//! `capacity` senders ([`SENDERS`] in the daemon), an open-addressing index
//! into it and an intrusive list from most to least recently seen. A new
//! sender in a full table takes the place of the least recently seen one.
//! [`Limiter::check`] allocates nothing and does O(1) work (one keyed hash,
//! a short probe, a few index writes); [`Limiter::due_notices`] visits at
//! most `capacity` senders and returns at once when no sender has drops.
//!
//! An exact LRU list rather than a clock: the reference says "least recently seen
//! forgotten first", and a list keeps that exactly for eight bytes a sender,
//! where a clock forgets an arbitrary one of the senders seen since its hand
//! last passed, so a sender that is in the middle of its window can lose it.
//!
//! No drop goes untold. A sender that is forgotten with drops pending has
//! its notice handed back by the very [`Limiter::check`] that forgets it
//! (its window cut short), so the notice needs no queue that could fill up.
//! A sender whose window ends while it keeps sending gets its notice from the
//! `check` of its first message of the new window, before that message is
//! stored; a sender that went quiet gets it from `due_notices`, at most one
//! timer tick after its window ended. Every notice therefore lands in the
//! ring before the messages of the sender's next window.
//!
//! Time is the caller's `now_us` (µs, the receive time). It may step back
//! (the daemon reads the wall clock): a window whose start is in the future
//! restarts at `now_us`, with its counts kept, so a step back never holds a
//! sender down for longer than one more window.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;

use crate::ingest::syslog::{self, Fields};
use crate::query::format::NOTICE_APP;

/// How many senders the daemon tracks (the reference: at most 4096).
pub const SENDERS: usize = 4096;

/// `-rate-limit-keep`'s default: `crit` and more severe are never limited.
pub const DEFAULT_KEEP: u8 = 2;

/// The notice's MSGID.
pub const NOTICE_MSGID: &str = "suppressed";

/// The longest line [`write_notice`] writes: a caller's buffer of this
/// capacity never grows.
pub const NOTICE_MAX: usize = 320;

/// The bytes of a name ([`Name`]) a sender is known by at most: an app-name
/// has at most 48 (RFC 5424), a hostname seldom more. Names that begin
/// alike for longer are one sender.
pub const NAME_MAX: usize = 64;

/// `N/DURATION`: at most `messages` stored per sender per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// At least 1.
    pub messages: u32,
    /// More than zero.
    pub window: Duration,
}

impl Rate {
    /// Parses `1000/10s`, `50/1m`, `100/s` (a bare unit is one of it).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let expected = || format!("bad rate {s:?}: expected N/DURATION, e.g. 1000/10s");
        let (n, window) = s.trim().split_once('/').ok_or_else(expected)?;
        let messages = match n.trim().parse::<u32>() {
            Ok(0) => return Err(format!("bad rate {s:?}: N must be at least 1")),
            Ok(m) => m,
            Err(_) => return Err(expected()),
        };
        let window = window.trim();
        let window = if window.starts_with(|c: char| c.is_ascii_alphabetic()) {
            crate::ingest::trigger::parse_duration(&format!("1{window}"))
        } else {
            crate::ingest::trigger::parse_duration(window)
        }
        .map_err(|e| format!("bad rate {s:?}: {e}"))?;
        if window.is_zero() {
            return Err(format!(
                "bad rate {s:?}: the window must be longer than zero"
            ));
        }
        Ok(Rate { messages, window })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.messages)?;
        crate::ingest::trigger::write_duration(f, self.window)
    }
}

/// Parses `-rate-limit-keep LEVEL`: a severity name as the query's `sev=`
/// takes it (`crit`, `err`, `warning`, …) or 0–7.
pub fn parse_keep(s: &str) -> Result<u8, String> {
    syslog::severity_from_name(&s.trim().to_ascii_lowercase()).ok_or_else(|| {
        format!(
            "bad level {s:?}: expected emerg, alert, crit, err, warning, notice, info, debug or 0-7"
        )
    })
}

/// The severity in a message's `<PRI>`, read without parsing the rest: `<`,
/// one to three digits, `>`, at most 191, as the parser reads it. `None`
/// when there is no valid PRI: such a message is stored as `notice`.
///
/// A message whose PRI is valid but whose RFC 5424 header is broken is
/// stored as malformed (`user.notice`), yet keeps its PRI's severity here:
/// the sender's own claim is all the limiter needs, and a sender can claim
/// `crit` in any format anyway.
pub fn pri_severity(bytes: &[u8]) -> Option<u8> {
    let rest = bytes.strip_prefix(b"<")?;
    let close = rest.iter().take(4).position(|&b| b == b'>')?;
    if close == 0 {
        return None;
    }
    let mut pri = 0u32;
    for &d in &rest[..close] {
        if !d.is_ascii_digit() {
            return None;
        }
        pri = pri * 10 + u32::from(d - b'0');
    }
    (pri <= 191).then_some((pri & 7) as u8)
}

/// `-rate-limit-by`: who a sender is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum By {
    /// The message's hostname and app-name together.
    #[default]
    App,
    /// The transport's word: the pid on unix sockets, the address on UDP
    /// and TCP.
    Pid,
    /// The message's hostname.
    Host,
    /// On unix sockets, the systemd unit of the kernel-verified pid (read
    /// from its cgroup, see [`crate::ingest::unit`]), else as `Pid`.
    Unit,
}

impl By {
    pub fn parse(s: &str) -> Result<By, String> {
        match s.trim() {
            "app" => Ok(By::App),
            "pid" => Ok(By::Pid),
            "host" => Ok(By::Host),
            "unit" => Ok(By::Unit),
            _ => Err(format!(
                "bad sender kind {s:?}: expected app, unit, pid or host"
            )),
        }
    }

    /// The sender of a message whose transport said `origin` (the pid or
    /// the address; `None`: it says nothing, as `/dev/kmsg`), whose parse
    /// found `fields`, and whose pid is in `unit` (when known). A message
    /// without a hostname from this host (`local`: a unix socket) has
    /// `local_host`'s. `None`: nothing tells, and the message is not
    /// limited. A message that names neither app nor host is limited by its
    /// origin, and one whose unit is not known by its pid.
    pub fn sender(
        self,
        origin: Option<Sender>,
        fields: &Fields<'_>,
        local: bool,
        local_host: &Name,
        unit: Option<&[u8]>,
    ) -> Option<Sender> {
        let host = match fields.hostname {
            Some(h) => Some(Name::new(h)),
            None => local.then_some(*local_host),
        };
        match (self, fields.app_name, host) {
            (By::Unit, _, _) => unit.map(|u| Sender::Unit(Name::new(u))).or(origin),
            (By::Pid, _, _) | (By::App, None, None) | (By::Host, _, None) => origin,
            (By::App, app, host) => Some(Sender::App {
                app: Name::new(app.unwrap_or(b"")),
                host: host.unwrap_or(Name::new(b"")),
            }),
            (By::Host, _, Some(host)) => Some(Sender::Host(host)),
        }
    }
}

/// A name kept inline: at most [`NAME_MAX`] bytes of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    /// INVARIANT: `len <= NAME_MAX`, and `bytes[len..]` is zero.
    len: u8,
    bytes: [u8; NAME_MAX],
}

impl Name {
    /// The first [`NAME_MAX`] bytes of `name`.
    pub fn new(name: &[u8]) -> Name {
        let len = name.len().min(NAME_MAX);
        let mut bytes = [0; NAME_MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        Name {
            len: len as u8,
            bytes,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Who sent a message, as the limiter counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// On a unix socket: the pid the kernel gave (`SO_PASSCRED`).
    Pid(u32),
    /// On UDP and TCP: the source address, port left out. Always canonical
    /// (an IPv4-mapped IPv6 address is the IPv4 one), see [`Sender::ip`].
    Ip(IpAddr),
    /// An app on a host (`-rate-limit-by app`); either may be empty.
    App { app: Name, host: Name },
    /// A host (`-rate-limit-by host`).
    Host(Name),
    /// A systemd unit (`-rate-limit-by unit`).
    Unit(Name),
}

impl Sender {
    /// The sender at `ip`; a dual-stack socket's `::ffff:a.b.c.d` is the
    /// same sender as `a.b.c.d`.
    pub fn ip(ip: IpAddr) -> Sender {
        Sender::Ip(ip.to_canonical())
    }

    /// The sender at a peer address; the port is not part of it.
    pub fn peer(addr: SocketAddr) -> Sender {
        Sender::ip(addr.ip())
    }
}

impl Sender {
    /// Appends how the notice names it: `pid 812`, `192.0.2.7`,
    /// `2001:db8::1`, `app sshd on web01`, `app sshd` (no hostname),
    /// `host web01`. Names go as they came, byte for byte.
    pub fn write_name(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // Writing to a Vec cannot fail.
        let _ = match self {
            Sender::Pid(pid) => write!(out, "pid {pid}"),
            Sender::Ip(ip) => write!(out, "{ip}"),
            Sender::App { app, host } => {
                out.extend_from_slice(b"app ");
                out.extend_from_slice(match app.as_bytes() {
                    b"" => b"-",
                    a => a,
                });
                if !host.as_bytes().is_empty() {
                    out.extend_from_slice(b" on ");
                    out.extend_from_slice(host.as_bytes());
                }
                Ok(())
            }
            Sender::Host(host) => {
                out.extend_from_slice(b"host ");
                out.extend_from_slice(host.as_bytes());
                Ok(())
            }
            Sender::Unit(unit) => {
                out.extend_from_slice(b"unit ");
                out.extend_from_slice(unit.as_bytes());
                Ok(())
            }
        };
    }
}

/// As the notice names it (see [`Sender::write_name`]), names made valid
/// UTF-8.
impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut name = Vec::with_capacity(2 * NAME_MAX + 16);
        self.write_name(&mut name);
        f.write_str(&String::from_utf8_lossy(&name))
    }
}

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Store,
    /// Over the sender's rate: read, not stored, counted in a later notice.
    Drop,
}

/// A sender's drops of one window (at least one), to be stored as a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub sender: Sender,
    pub messages: u64,
}

/// The answer of [`Limiter::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Checked {
    pub verdict: Verdict,
    /// A notice to store *before* the message (when it is stored): the
    /// sender's previous window ended with drops, or another sender with
    /// drops was forgotten to make room for this one.
    pub notice: Option<Suppressed>,
}

/// No slot: an empty index bucket, the end of the LRU list.
const NIL: u32 = u32::MAX;

/// One tracked sender.
#[derive(Clone, Copy, Debug)]
struct Slot {
    sender: Sender,
    /// `hasher.hash_one(sender)`, kept for moving index entries on removal.
    hash: u64,
    /// When the current window opened, µs. It has ended once
    /// `now_us - window_start_us >= window_us`.
    window_start_us: i64,
    /// Messages stored in the current window. INVARIANT: `<= rate.messages`.
    stored: u32,
    /// Messages dropped and not yet told. Counted in `Limiter::pending` when
    /// not zero.
    dropped: u64,
    /// LRU neighbours: the slot seen just after / just before this one.
    newer: u32,
    older: u32,
}

/// The rate limiter of every sender. See the module doc.
pub struct Limiter {
    rate_messages: u32,
    /// `rate.window` in µs, at least 1.
    window_us: i64,
    /// Severities numerically at or below this are never limited.
    keep: u8,
    /// The tracked senders. INVARIANT: `slots.len() <= capacity` and
    /// `slots.capacity() >= capacity`, so pushing never reallocates.
    slots: Vec<Slot>,
    capacity: usize,
    /// Open addressing with linear probing: each bucket is `NIL` or a slot
    /// index. Twice as many buckets as senders (a power of two), so probes
    /// stay short; removal shifts entries back, so there are no tombstones.
    index: Box<[u32]>,
    /// The most and least recently seen slots (`NIL` when empty).
    newest: u32,
    oldest: u32,
    /// Keyed per process: no sender can pick addresses or pids that collide
    /// into long probes.
    hasher: RandomState,
    /// Slots with `dropped > 0`: `due_notices` returns at once when zero.
    pending: usize,
    /// `-rate-limit-by`.
    by: By,
    /// This host's name: a local message without one has it.
    local_host: Name,
}

impl Limiter {
    /// A limiter of `rate`, never limiting severities `<= keep`, tracking at
    /// most `capacity` senders (at least 1 and at most 2^24; the daemon passes
    /// [`SENDERS`]). All its memory is allocated here.
    pub fn new(rate: Rate, keep: u8, capacity: usize) -> Limiter {
        let capacity = capacity.clamp(1, 1 << 24);
        let buckets = (capacity * 2).next_power_of_two();
        Limiter {
            rate_messages: rate.messages.max(1),
            window_us: i64::try_from(rate.window.as_micros())
                .unwrap_or(i64::MAX)
                .max(1),
            keep,
            slots: Vec::with_capacity(capacity),
            capacity,
            index: vec![NIL; buckets].into_boxed_slice(),
            newest: NIL,
            oldest: NIL,
            hasher: RandomState::new(),
            pending: 0,
            by: By::default(),
            local_host: Name::new(b""),
        }
    }

    /// Senders are told apart `by` this (`-rate-limit-by`, [`By::App`] when
    /// not said); `local_host` is this host's name.
    pub fn by(mut self, by: By, local_host: &str) -> Limiter {
        self.by = by;
        self.local_host = Name::new(local_host.as_bytes());
        self
    }

    /// The sender of a message, as [`By::sender`] says for this limiter's
    /// kind; `unit` is the systemd unit of the pid in `origin`, which the
    /// state looked up for the message (see [`crate::ingest::unit::Units`]).
    pub fn sender(
        &self,
        origin: Option<Sender>,
        fields: &Fields<'_>,
        local: bool,
        unit: Option<&[u8]>,
    ) -> Option<Sender> {
        self.by
            .sender(origin, fields, local, &self.local_host, unit)
    }

    /// Decides about one message of `sender` with `severity` (from
    /// [`pri_severity`], `5` when `None`) received at `now_us`. Call it for
    /// every message that would otherwise be stored (not while paused), and
    /// store `notice` first when there is one.
    pub fn check(&mut self, sender: Sender, severity: u8, now_us: i64) -> Checked {
        if severity <= self.keep {
            // Never limited, so neither counted nor making room in the table.
            return Checked {
                verdict: Verdict::Store,
                notice: None,
            };
        }
        // A flood is one sender's messages in a row: the most recently seen
        // slot needs neither hashing nor probing, nor moving in the list.
        let newest = self.newest;
        if newest != NIL && self.slots[newest as usize].sender == sender {
            let notice = self.roll(newest, now_us);
            return Checked {
                verdict: self.count(newest),
                notice,
            };
        }
        let hash = self.hasher.hash_one(sender);
        match self.find(sender, hash) {
            Ok(s) => {
                self.touch(s);
                let notice = self.roll(s, now_us);
                Checked {
                    verdict: self.count(s),
                    notice,
                }
            }
            Err(bucket) => {
                let fresh = Slot {
                    sender,
                    hash,
                    window_start_us: now_us,
                    stored: 0,
                    dropped: 0,
                    newer: NIL,
                    older: NIL,
                };
                let (s, bucket, notice) = if self.slots.len() < self.capacity {
                    self.slots.push(fresh);
                    ((self.slots.len() - 1) as u32, bucket, None)
                } else {
                    let victim = self.oldest;
                    let notice = self.take_dropped(victim);
                    self.unlink(victim);
                    self.remove_from_index(victim);
                    self.slots[victim as usize] = fresh;
                    // The removal may have moved entries into `bucket`.
                    (victim, self.vacant_bucket(hash), notice)
                };
                self.index[bucket] = s;
                self.push_newest(s);
                Checked {
                    verdict: self.count(s),
                    notice,
                }
            }
        }
    }

    /// Hands every sender whose window has ended with drops to `emit`, once:
    /// the daemon stores each as a notice (see [`write_notice`]). Call it from
    /// the event loop's timer at least once a second, when messages can be
    /// stored (not while paused: the notices wait). Visits at most
    /// `capacity` senders; returns at once when no sender has drops.
    pub fn due_notices(&mut self, now_us: i64, mut emit: impl FnMut(Suppressed)) {
        for s in 0..self.slots.len() {
            if self.pending == 0 {
                return;
            }
            let slot = &mut self.slots[s];
            if slot.dropped == 0 {
                continue;
            }
            if now_us < slot.window_start_us {
                slot.window_start_us = now_us;
                continue;
            }
            if now_us - slot.window_start_us >= self.window_us
                && let Some(n) = self.take_dropped(s as u32)
            {
                emit(n);
            }
        }
    }

    /// Senders tracked now (at most the capacity).
    pub fn senders(&self) -> usize {
        self.slots.len()
    }

    /// The slot of `sender`, or the empty bucket where it would go.
    fn find(&self, sender: Sender, hash: u64) -> Result<u32, usize> {
        let mask = self.index.len() - 1;
        let mut b = hash as usize & mask;
        loop {
            let s = self.index[b];
            if s == NIL {
                return Err(b);
            }
            if self.slots[s as usize].sender == sender {
                return Ok(s);
            }
            // Terminates: at most half of the buckets are full.
            b = (b + 1) & mask;
        }
    }

    /// The first empty bucket from `hash`'s home: where a sender that is
    /// not in the index goes.
    fn vacant_bucket(&self, hash: u64) -> usize {
        let mask = self.index.len() - 1;
        let mut b = hash as usize & mask;
        // Terminates: at most half of the buckets are full.
        while self.index[b] != NIL {
            b = (b + 1) & mask;
        }
        b
    }

    /// Ends slot `s`'s window if `now_us` is past it, returning its drops.
    fn roll(&mut self, s: u32, now_us: i64) -> Option<Suppressed> {
        let slot = &mut self.slots[s as usize];
        if now_us < slot.window_start_us {
            // The clock stepped back: this window restarts now.
            slot.window_start_us = now_us;
            return None;
        }
        if now_us - slot.window_start_us < self.window_us {
            return None;
        }
        slot.window_start_us = now_us;
        slot.stored = 0;
        self.take_dropped(s)
    }

    /// Counts one message of slot `s` in its current window.
    fn count(&mut self, s: u32) -> Verdict {
        let slot = &mut self.slots[s as usize];
        if slot.stored < self.rate_messages {
            slot.stored += 1;
            return Verdict::Store;
        }
        if slot.dropped == 0 {
            self.pending += 1;
        }
        slot.dropped += 1;
        Verdict::Drop
    }

    fn take_dropped(&mut self, s: u32) -> Option<Suppressed> {
        let slot = &mut self.slots[s as usize];
        if slot.dropped == 0 {
            return None;
        }
        let n = Suppressed {
            sender: slot.sender,
            messages: slot.dropped,
        };
        slot.dropped = 0;
        self.pending -= 1;
        Some(n)
    }

    /// Makes `s` the most recently seen.
    fn touch(&mut self, s: u32) {
        if self.newest != s {
            self.unlink(s);
            self.push_newest(s);
        }
    }

    fn push_newest(&mut self, s: u32) {
        let old_newest = self.newest;
        {
            let slot = &mut self.slots[s as usize];
            slot.newer = NIL;
            slot.older = old_newest;
        }
        if old_newest != NIL {
            self.slots[old_newest as usize].newer = s;
        } else {
            self.oldest = s;
        }
        self.newest = s;
    }

    fn unlink(&mut self, s: u32) {
        let Slot { newer, older, .. } = self.slots[s as usize];
        if newer != NIL {
            self.slots[newer as usize].older = older;
        } else {
            self.newest = older;
        }
        if older != NIL {
            self.slots[older as usize].newer = newer;
        } else {
            self.oldest = newer;
        }
    }

    /// Removes slot `s` from the index, moving back the entries after it
    /// that would no longer be found past the hole (backward-shift deletion).
    fn remove_from_index(&mut self, s: u32) {
        let mask = self.index.len() - 1;
        let mut hole = self.slots[s as usize].hash as usize & mask;
        while self.index[hole] != s {
            hole = (hole + 1) & mask;
        }
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let t = self.index[j];
            if t == NIL {
                break;
            }
            let home = self.slots[t as usize].hash as usize & mask;
            // `t` may fill the hole when the hole lies between its home
            // bucket and where it is now (cyclically).
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.index[hole] = t;
                hole = j;
            }
        }
        self.index[hole] = NIL;
    }
}

/// 44 = syslog (5) * 8 + warning (4): messages were lost, so a reader that
/// follows `sev=warning` is told.
const NOTICE_PRI: &[u8] = b"<44>1 ";

/// RFC 3339 with exactly six fractional digits, as every notice line.
const PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(6));

/// Appends the notice for `n` at `now_us` as one RFC 5424 line, without a
/// line ending, for the daemon to store like a received message, e.g.
/// `<44>1 2026-11-24T10:00:00.000000Z - circologd - suppressed - suppressed
/// 250 messages from pid 812`. The header is the one of circologd's other
/// notices (`format::render_notice`). At most [`NOTICE_MAX`] bytes.
pub fn write_notice(out: &mut Vec<u8>, now_us: i64, n: &Suppressed) {
    use std::io::Write as _;
    let t = Timestamp::from_microsecond(now_us).unwrap_or(if now_us < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    out.extend_from_slice(NOTICE_PRI);
    // Printing to a Vec cannot fail.
    let _ = PRINTER.print_timestamp(&t, &mut *out);
    let plural = if n.messages == 1 { "" } else { "s" };
    let _ = write!(
        out,
        " - {NOTICE_APP} - {NOTICE_MSGID} - suppressed {} message{plural} from ",
        n.messages
    );
    n.sender.write_name(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SEC: i64 = 1_000_000;
    /// A debug-level message: always subject to the limit.
    const DEBUG: u8 = 7;

    fn limiter(messages: u32, window_s: u64, capacity: usize) -> Limiter {
        let rate = Rate {
            messages,
            window: Duration::from_secs(window_s),
        };
        Limiter::new(rate, DEFAULT_KEEP, capacity)
    }

    fn due(l: &mut Limiter, now: i64) -> Vec<Suppressed> {
        let mut v = Vec::new();
        l.due_notices(now, |n| v.push(n));
        v
    }

    fn store(notice: Option<Suppressed>) -> Checked {
        Checked {
            verdict: Verdict::Store,
            notice,
        }
    }

    fn drop_() -> Checked {
        Checked {
            verdict: Verdict::Drop,
            notice: None,
        }
    }

    #[test]
    fn parses_rates() {
        let r = Rate::parse("1000/10s").unwrap();
        assert_eq!(r.messages, 1000);
        assert_eq!(r.window, Duration::from_secs(10));
        assert_eq!(
            Rate::parse("5/500ms").unwrap().window,
            Duration::from_millis(500)
        );
        assert_eq!(Rate::parse("100/s").unwrap().window, Duration::from_secs(1));
        assert_eq!(
            Rate::parse("100/m").unwrap().window,
            Duration::from_secs(60)
        );
        assert_eq!(
            Rate::parse(" 3/2h ").unwrap().window,
            Duration::from_secs(7200)
        );
        assert_eq!(Rate::parse("1000/10s").unwrap().to_string(), "1000/10s");
        assert_eq!(
            Rate::parse("1000").unwrap_err(),
            "bad rate \"1000\": expected N/DURATION, e.g. 1000/10s"
        );
        assert_eq!(
            Rate::parse("0/10s").unwrap_err(),
            "bad rate \"0/10s\": N must be at least 1"
        );
        assert_eq!(
            Rate::parse("10/0s").unwrap_err(),
            "bad rate \"10/0s\": the window must be longer than zero"
        );
        assert!(
            Rate::parse("x/10s")
                .unwrap_err()
                .starts_with("bad rate \"x/10s\"")
        );
        assert!(Rate::parse("-1/10s").is_err());
        assert!(Rate::parse("99999999999/10s").is_err());
        let e = Rate::parse("10/10y").unwrap_err();
        assert!(e.starts_with("bad rate \"10/10y\": bad duration"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn parses_keep_levels() {
        assert_eq!(parse_keep("crit"), Ok(2));
        assert_eq!(parse_keep("ERR"), Ok(3));
        assert_eq!(parse_keep("warn"), Ok(4));
        assert_eq!(parse_keep("7"), Ok(7));
        assert_eq!(
            parse_keep("loud").unwrap_err(),
            "bad level \"loud\": expected emerg, alert, crit, err, warning, notice, info, debug or 0-7"
        );
        assert!(parse_keep("8").is_err());
    }

    #[test]
    fn reads_the_severity_of_the_pri() {
        assert_eq!(pri_severity(b"<34>Oct 11 22:14:15 su: x"), Some(2));
        assert_eq!(
            pri_severity(b"<165>1 2003-10-11T22:14:15Z h a - - - x"),
            Some(5)
        );
        assert_eq!(pri_severity(b"<0>x"), Some(0));
        assert_eq!(pri_severity(b"<191>"), Some(7));
        assert_eq!(pri_severity(b"<007>x"), Some(7));
        assert_eq!(pri_severity(b"<192>x"), None);
        assert_eq!(pri_severity(b"<>x"), None);
        assert_eq!(pri_severity(b"<1234>x"), None);
        assert_eq!(pri_severity(b"<1a>x"), None);
        assert_eq!(pri_severity(b"<13"), None);
        assert_eq!(pri_severity(b"13>x"), None);
        assert_eq!(pri_severity(b""), None);
        // The parser agrees wherever there is a valid PRI.
        let ctx = syslog::ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        };
        for raw in [
            &b"<34>Oct 11 22:14:15 host su: x"[..],
            b"<6>kernel: y",
            b"<0>1 - - - - - - z",
        ] {
            let m = syslog::parse(raw, Timestamp::UNIX_EPOCH, &ctx);
            assert_eq!(pri_severity(raw), Some(m.severity));
        }
    }

    #[test]
    fn senders_are_canonical_and_named() {
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(
            Sender::ip(mapped),
            Sender::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
        );
        let a: SocketAddr = "192.0.2.7:514".parse().unwrap();
        let b: SocketAddr = "[::ffff:192.0.2.7]:40000".parse().unwrap();
        assert_eq!(Sender::peer(a), Sender::peer(b));
        assert_eq!(Sender::peer(a).to_string(), "192.0.2.7");
        assert_eq!(Sender::Pid(812).to_string(), "pid 812");
        assert_eq!(
            Sender::ip(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))).to_string(),
            "2001:db8::1"
        );
    }

    fn fields<'a>(host: Option<&'a [u8]>, app: Option<&'a [u8]>) -> Fields<'a> {
        Fields {
            facility: 1,
            severity: 6,
            hostname: host,
            app_name: app,
            proc_id: None,
            message: b"text",
            format: syslog::Format::Rfc5424,
            sent: syslog::Sent::default(),
        }
    }

    #[test]
    fn parses_the_sender_kinds() {
        assert_eq!(By::parse("app"), Ok(By::App));
        assert_eq!(By::parse("pid"), Ok(By::Pid));
        assert_eq!(By::parse(" host "), Ok(By::Host));
        assert_eq!(By::default(), By::App);
        let e = By::parse("user").unwrap_err();
        assert_eq!(By::parse("unit"), Ok(By::Unit));
        assert!(e.contains("expected app, unit, pid or host"), "{e}");
    }

    #[test]
    fn each_kind_names_the_sender_its_way() {
        let local = Name::new(b"here");
        let relay = Some(Sender::Pid(4242));
        let sshd = fields(Some(b"web01"), Some(b"sshd"));
        let name = |by: By, f: &Fields<'_>, origin, is_local| {
            by.sender(origin, f, is_local, &local, None)
                .map(|s| s.to_string())
        };
        // Behind one relay (one pid), apps and hosts stay apart.
        assert_eq!(
            name(By::App, &sshd, relay, true).as_deref(),
            Some("app sshd on web01")
        );
        assert_eq!(
            name(By::Host, &sshd, relay, true).as_deref(),
            Some("host web01")
        );
        assert_eq!(
            name(By::Pid, &sshd, relay, true).as_deref(),
            Some("pid 4242")
        );
        let udp = Some(Sender::ip("192.0.2.7".parse().unwrap()));
        assert_eq!(
            name(By::Pid, &sshd, udp, false).as_deref(),
            Some("192.0.2.7")
        );
        // No hostname: this host's on a unix socket, none elsewhere.
        let glibc = fields(None, Some(b"cron"));
        assert_eq!(
            name(By::App, &glibc, relay, true).as_deref(),
            Some("app cron on here")
        );
        assert_eq!(
            name(By::App, &glibc, udp, false).as_deref(),
            Some("app cron")
        );
        assert_eq!(
            name(By::Host, &glibc, relay, true).as_deref(),
            Some("host here")
        );
        assert_eq!(
            name(By::Host, &glibc, udp, false).as_deref(),
            Some("192.0.2.7")
        );
        // Naming nothing: the origin, or nobody (not limited).
        let bare = fields(None, None);
        assert_eq!(
            name(By::App, &bare, udp, false).as_deref(),
            Some("192.0.2.7")
        );
        assert_eq!(name(By::App, &bare, None, false), None);
        assert_eq!(name(By::Pid, &sshd, None, false), None);
        let hostless = fields(Some(b"web01"), None);
        assert_eq!(
            name(By::App, &hostless, relay, true).as_deref(),
            Some("app - on web01")
        );
        // Names are cut at NAME_MAX: those that begin alike are one.
        let long_a = [b'a'; 100];
        let mut long_b = [b'a'; 100];
        long_b[99] = b'b';
        assert_eq!(Name::new(&long_a), Name::new(&long_b));
        assert_eq!(Name::new(&long_a).as_bytes().len(), NAME_MAX);
        assert_ne!(Name::new(b"ab"), Name::new(b"a"));
    }

    #[test]
    fn by_unit_the_pids_unit_names_the_sender() {
        let f = fields(Some(b"web01"), Some(b"sshd"));
        let l = limiter(1, 10, 16).by(By::Unit, "here");
        let named = |s: Option<Sender>| s.map(|s| s.to_string());
        assert_eq!(
            named(l.sender(Some(Sender::Pid(42)), &f, true, Some(b"nginx.service"))).as_deref(),
            Some("unit nginx.service")
        );
        // Gone, or in no unit: its pid; on UDP, its address.
        assert_eq!(
            named(l.sender(Some(Sender::Pid(43)), &f, true, None)).as_deref(),
            Some("pid 43")
        );
        let udp = Some(Sender::ip("192.0.2.7".parse().unwrap()));
        assert_eq!(
            named(l.sender(udp, &f, false, None)).as_deref(),
            Some("192.0.2.7")
        );
    }

    #[test]
    fn apps_behind_one_relay_have_a_quota_each() {
        let mut l = limiter(50, 10, 16).by(By::App, "here");
        let mut stored = [0; 3];
        for i in 0..90 {
            let app: &[u8] = [&b"a"[..], b"b", b"c"][i % 3];
            let f = fields(Some(b"web01"), Some(app));
            let s = l.sender(Some(Sender::Pid(7)), &f, true, None).unwrap();
            if l.check(s, DEBUG, 0).verdict == Verdict::Store {
                stored[i % 3] += 1;
            }
        }
        assert_eq!(stored, [30, 30, 30]);
    }

    #[test]
    fn writes_the_notice_line() {
        let mut out = Vec::new();
        let n = Suppressed {
            sender: Sender::Pid(812),
            messages: 250,
        };
        write_notice(&mut out, 1_795_514_400_123_456, &n);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "<44>1 2026-11-24T10:00:00.123456Z - circologd - suppressed - suppressed 250 messages from pid 812"
        );
        // It reads back as circologd's own message.
        let ctx = syslog::ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        };
        let m = syslog::parse(&out, Timestamp::UNIX_EPOCH, &ctx);
        assert_eq!(m.app_name, Some(&b"circologd"[..]));
        assert_eq!(m.msg_id, Some(&b"suppressed"[..]));
        assert_eq!(m.message, b"suppressed 250 messages from pid 812");
        assert_eq!((m.facility, m.severity), (5, 4));

        out.clear();
        let one = Suppressed {
            sender: Sender::ip("2001:db8::1".parse().unwrap()),
            messages: 1,
        };
        write_notice(&mut out, 0, &one);
        assert!(out.ends_with(b"suppressed 1 message from 2001:db8::1"));

        // The longest possible line fits NOTICE_MAX.
        out.clear();
        let longest = Suppressed {
            sender: Sender::Ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()),
            messages: u64::MAX,
        };
        write_notice(&mut out, i64::MAX, &longest);
        assert!(out.len() <= NOTICE_MAX, "{}", out.len());
        out.clear();
        write_notice(&mut out, i64::MIN, &longest);
        assert!(out.len() <= NOTICE_MAX, "{}", out.len());
        let long = Name::new(&[0xff; 300]);
        for sender in [
            Sender::App {
                app: long,
                host: long,
            },
            Sender::Host(long),
        ] {
            out.clear();
            write_notice(
                &mut out,
                i64::MIN,
                &Suppressed {
                    sender,
                    messages: u64::MAX,
                },
            );
            assert!(out.len() <= NOTICE_MAX, "{}", out.len());
        }

        // Named as -rate-limit-by says.
        out.clear();
        let app = Suppressed {
            sender: Sender::App {
                app: Name::new(b"sshd"),
                host: Name::new(b"web01"),
            },
            messages: 3,
        };
        write_notice(&mut out, 0, &app);
        assert!(out.ends_with(b"suppressed 3 messages from app sshd on web01"));
    }

    #[test]
    fn limits_per_window_and_tells_once_when_it_ends() {
        let mut l = limiter(3, 10, 16);
        let p = Sender::Pid(7);
        for i in 0..3 {
            assert_eq!(l.check(p, DEBUG, i), store(None));
        }
        for i in 3..8 {
            assert_eq!(l.check(p, DEBUG, i), drop_());
        }
        // Another sender has its own quota.
        assert_eq!(l.check(Sender::Pid(8), DEBUG, 9), store(None));
        // The window is still open: nothing is due.
        assert_eq!(due(&mut l, 10 * SEC - 1), []);
        let told = Suppressed {
            sender: p,
            messages: 5,
        };
        assert_eq!(due(&mut l, 10 * SEC), [told]);
        // Once only.
        assert_eq!(due(&mut l, 11 * SEC), []);
        // A new window: three more, and no notice with them.
        for i in 0..3 {
            assert_eq!(l.check(p, DEBUG, 12 * SEC + i), store(None));
        }
        assert_eq!(l.check(p, DEBUG, 12 * SEC + 3), drop_());
    }

    #[test]
    fn a_sender_that_keeps_sending_gets_its_notice_before_its_next_message() {
        let mut l = limiter(1, 1, 16);
        let p = Sender::ip(Ipv4Addr::new(10, 0, 0, 1).into());
        assert_eq!(l.check(p, DEBUG, 0), store(None));
        assert_eq!(l.check(p, DEBUG, 1), drop_());
        assert_eq!(l.check(p, DEBUG, 2), drop_());
        assert_eq!(
            l.check(p, DEBUG, SEC),
            store(Some(Suppressed {
                sender: p,
                messages: 2
            }))
        );
        // Already told: the timer has nothing more.
        assert_eq!(due(&mut l, 5 * SEC), []);
    }

    #[test]
    fn severe_messages_are_never_limited_nor_counted() {
        let mut l = limiter(1, 10, 16);
        let p = Sender::Pid(1);
        assert_eq!(l.check(p, DEBUG, 0), store(None));
        for sev in [0, 1, 2] {
            assert_eq!(l.check(p, sev, 1), store(None));
        }
        assert_eq!(l.check(p, 3, 2), drop_());
        // A keep level of debug limits nothing.
        let rate = Rate {
            messages: 1,
            window: Duration::from_secs(10),
        };
        let mut all = Limiter::new(rate, 7, 4);
        for i in 0..10 {
            assert_eq!(all.check(p, DEBUG, i), store(None));
        }
        assert_eq!(all.senders(), 0);
    }

    #[test]
    fn the_least_recently_seen_sender_is_forgotten_and_told() {
        let mut l = limiter(1, 10, 3);
        let (a, b, c, d) = (
            Sender::Pid(1),
            Sender::Pid(2),
            Sender::Pid(3),
            Sender::Pid(4),
        );
        assert_eq!(l.check(a, DEBUG, 0), store(None));
        assert_eq!(l.check(b, DEBUG, 1), store(None));
        assert_eq!(l.check(b, DEBUG, 2), drop_());
        assert_eq!(l.check(c, DEBUG, 3), store(None));
        // a is seen again: b is now the least recently seen.
        assert_eq!(l.check(a, DEBUG, 4), drop_());
        assert_eq!(l.senders(), 3);
        // d takes b's place, and b's drop is told right away.
        assert_eq!(
            l.check(d, DEBUG, 5),
            store(Some(Suppressed {
                sender: b,
                messages: 1
            }))
        );
        assert_eq!(l.senders(), 3);
        // a and c are remembered (still at their limit); b starts afresh.
        assert_eq!(l.check(c, DEBUG, 6), drop_());
        assert_eq!(l.check(a, DEBUG, 7), drop_());
        // d is now the least recently seen, with nothing pending: b takes
        // its place without a notice.
        assert_eq!(l.check(b, DEBUG, 8), store(None));
        // Then c is: d's return forgets it, and its drop is told.
        assert_eq!(
            l.check(d, DEBUG, 9),
            store(Some(Suppressed {
                sender: c,
                messages: 1
            }))
        );
        // a's drops are told when its window ends.
        assert_eq!(
            due(&mut l, 20 * SEC),
            [Suppressed {
                sender: a,
                messages: 2
            }]
        );
    }

    #[test]
    fn a_clock_step_back_holds_a_sender_for_one_window_at_most() {
        let mut l = limiter(1, 10, 4);
        let p = Sender::Pid(1);
        assert_eq!(l.check(p, DEBUG, 1000 * SEC), store(None));
        assert_eq!(l.check(p, DEBUG, 1000 * SEC + 1), drop_());
        // An hour back: the window restarts then, counts kept.
        assert_eq!(l.check(p, DEBUG, -2600 * SEC), drop_());
        assert_eq!(due(&mut l, -2595 * SEC), []);
        let told = Suppressed {
            sender: p,
            messages: 2,
        };
        assert_eq!(l.check(p, DEBUG, -2590 * SEC), store(Some(told)));
    }

    #[test]
    fn a_tiny_capacity_still_works() {
        let mut l = limiter(1, 10, 0);
        assert_eq!(l.check(Sender::Pid(1), DEBUG, 0), store(None));
        assert_eq!(l.check(Sender::Pid(1), DEBUG, 1), drop_());
        assert_eq!(
            l.check(Sender::Pid(2), DEBUG, 2),
            store(Some(Suppressed {
                sender: Sender::Pid(1),
                messages: 1
            }))
        );
        assert_eq!(l.senders(), 1);
    }

    #[test]
    fn thousands_of_senders_churn_through_a_full_table() {
        // Exercises the index's backward-shift removal at its real size.
        let mut l = limiter(2, 10, SENDERS);
        let ip = |i: u32| Sender::ip(Ipv4Addr::from(0x0a00_0000 + i).into());
        let mut dropped = 0u64;
        let mut told = 0u64;
        for round in 0..3u32 {
            for i in 0..(SENDERS as u32 + 1000) {
                for _ in 0..3 {
                    let c = l.check(ip(i * 7 + round), DEBUG, i64::from(i));
                    dropped += u64::from(c.verdict == Verdict::Drop);
                    told += c.notice.map_or(0, |n| n.messages);
                }
            }
            assert_eq!(l.senders(), SENDERS);
        }
        l.due_notices(i64::MAX, |n| told += n.messages);
        assert_eq!(dropped, told);
        // The newest SENDERS senders of the last round are all still known.
        for i in 1000..(SENDERS as u32 + 1000) {
            assert_eq!(l.check(ip(i * 7 + 2), DEBUG, 20), drop_(), "sender {i}");
        }
    }

    use proptest::prelude::*;

    /// The limiter without its bounded table: every sender kept forever.
    struct Model {
        messages: u32,
        window_us: i64,
        senders: HashMap<Sender, (i64, u32, u64)>,
    }

    impl Model {
        fn check(&mut self, sender: Sender, severity: u8, now: i64) -> Checked {
            if severity <= DEFAULT_KEEP {
                return store(None);
            }
            let (start, stored, dropped) = self.senders.entry(sender).or_insert((now, 0, 0));
            let mut notice = None;
            if now < *start {
                *start = now;
            } else if now - *start >= self.window_us {
                if *dropped > 0 {
                    notice = Some(Suppressed {
                        sender,
                        messages: *dropped,
                    });
                }
                (*start, *stored, *dropped) = (now, 0, 0);
            }
            let verdict = if *stored < self.messages {
                *stored += 1;
                Verdict::Store
            } else {
                *dropped += 1;
                Verdict::Drop
            };
            Checked { verdict, notice }
        }

        fn due(&mut self, now: i64) -> Vec<Suppressed> {
            let mut v = Vec::new();
            for (sender, (start, _, dropped)) in &mut self.senders {
                if *dropped == 0 {
                    continue;
                }
                if now < *start {
                    *start = now;
                } else if now - *start >= self.window_us {
                    v.push(Suppressed {
                        sender: *sender,
                        messages: *dropped,
                    });
                    *dropped = 0;
                }
            }
            v
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// A message from pid/ip `sender` with `severity`, `dt` µs later.
        Message {
            sender: u8,
            ip: bool,
            severity: u8,
            dt: i64,
        },
        Due {
            dt: i64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        // Mostly forward in time, sometimes a step back.
        let dt = prop_oneof![8 => 0i64..400_000, 1 => -3_000_000i64..0];
        prop_oneof![
            6 => (0u8..24, any::<bool>(), 0u8..8, dt.clone())
                .prop_map(|(sender, ip, severity, dt)| Op::Message { sender, ip, severity, dt }),
            1 => dt.prop_map(|dt| Op::Due { dt }),
        ]
    }

    fn sender(n: u8, ip: bool) -> Sender {
        if ip {
            Sender::ip(Ipv4Addr::new(192, 0, 2, n).into())
        } else {
            Sender::Pid(u32::from(n))
        }
    }

    fn sorted(mut v: Vec<Suppressed>) -> Vec<Suppressed> {
        v.sort_by_key(|n| (n.sender.to_string(), n.messages));
        v
    }

    proptest! {
        /// With room for every sender, the limiter decides and tells exactly
        /// as the unbounded model does.
        #[test]
        fn matches_an_unbounded_model(
            ops in proptest::collection::vec(op(), 0..600),
            messages in 1u32..5,
            window_ms in 1u64..2000,
        ) {
            let rate = Rate { messages, window: Duration::from_millis(window_ms) };
            // 48 possible senders fit.
            let mut l = Limiter::new(rate, DEFAULT_KEEP, 48);
            let mut m = Model { messages, window_us: window_ms as i64 * 1000, senders: HashMap::new() };
            let mut now = 0i64;
            for op in ops {
                match op {
                    Op::Message { sender: s, ip, severity, dt } => {
                        now += dt;
                        let who = sender(s, ip);
                        prop_assert_eq!(l.check(who, severity, now), m.check(who, severity, now));
                    }
                    Op::Due { dt } => {
                        now += dt;
                        prop_assert_eq!(sorted(due(&mut l, now)), sorted(m.due(now)));
                    }
                }
                prop_assert!(l.senders() <= 48);
            }
            now += 1_000_000_000;
            prop_assert_eq!(sorted(due(&mut l, now)), sorted(m.due(now)));
        }

        /// Whatever the capacity, every dropped message is told exactly once,
        /// and no more than `capacity` senders are ever tracked.
        #[test]
        fn every_drop_is_told_once_even_when_senders_are_forgotten(
            ops in proptest::collection::vec(op(), 0..600),
            messages in 1u32..4,
            window_ms in 1u64..2000,
            capacity in 1usize..8,
        ) {
            let rate = Rate { messages, window: Duration::from_millis(window_ms) };
            let mut l = Limiter::new(rate, DEFAULT_KEEP, capacity);
            let mut dropped: HashMap<Sender, u64> = HashMap::new();
            let mut told: HashMap<Sender, u64> = HashMap::new();
            let mut now = 0i64;
            for op in ops {
                match op {
                    Op::Message { sender: s, ip, severity, dt } => {
                        now += dt;
                        let who = sender(s, ip);
                        let c = l.check(who, severity, now);
                        if c.verdict == Verdict::Drop {
                            prop_assert!(severity > DEFAULT_KEEP);
                            *dropped.entry(who).or_default() += 1;
                        }
                        if let Some(n) = c.notice {
                            prop_assert!(n.messages > 0);
                            *told.entry(n.sender).or_default() += n.messages;
                        }
                    }
                    Op::Due { dt } => {
                        now += dt;
                        l.due_notices(now, |n| *told.entry(n.sender).or_default() += n.messages);
                    }
                }
                prop_assert!(l.senders() <= capacity);
                for (who, n) in &told {
                    prop_assert!(dropped.get(who).copied().unwrap_or(0) >= *n);
                }
            }
            l.due_notices(now + 1_000_000_000, |n| *told.entry(n.sender).or_default() += n.messages);
            prop_assert_eq!(dropped, told);
        }
    }
}
