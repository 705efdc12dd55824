//! Triggers (`-trigger QUERY`): the flight recorder acting by itself, as a
//! person does with "trigger the event, pause circolog, then analyze".
//!
//! Every trigger goes through the same three phases, each named after what
//! it waits for:
//!
//! ```text
//!            a stored message matches
//!   Armed ───────────────────────────► PostRoll { seq, end }
//!     ▲                                  │ N more messages stored, or DURATION
//!     │ DURATION of holdoff              │ passed (`-trigger-after`), or 10 s
//!     │                                  │ with no N more (`COUNT_POST_ROLL_MAX`): `poll`
//!     │ passed, at the next message      ▼ returns a Fire with the action
//!     └───────────────────────────── HoldOff { until }
//!                                      matches are counted as held off
//! ```
//!
//! The holdoff runs from the firing (the end of the post-roll, when the
//! action is taken), so the actions of one trigger are at least
//! `-trigger-holdoff` apart however often it matches: a trigger that matches
//! every message takes one snapshot per holdoff, not one per message.
//! Matches during a post-roll are part of the incident being recorded and
//! are neither new firings nor held off.
//!
//! Triggers are independent: two that match the same message both fire,
//! each with its own post-roll and holdoff. A `pause` trigger whose post-roll
//! ends while the daemon is already paused (by a person, by another trigger)
//! does not act: it goes into its holdoff as if it had, its firing counted
//! as held off. So a pause trigger pauses once per incident, and never pauses
//! a paused daemon again.
//!
//! The event loop drives it: [`Triggers::on_message`] for every stored
//! message (returns whether a firing is due), and [`Triggers::poll`] after
//! it when it says so and from the timer at least once a second (post-rolls
//! by time end without messages). Neither allocates. Time is the caller's
//! `now_us` (µs); if it steps back, a deadline further than its own span
//! away is brought back to `now_us` plus that span, so a clock step never
//! makes a post-roll or a holdoff longer than configured.
//!
//! The flags' parsers are here too, and [`parse_duration`], which the
//! rate limiter and `POST /pause?for=` share.

use std::fmt;
use std::time::Duration;

use crate::ingest::syslog::Message;
use crate::query::{Filter, OutputFormat, Query};
use crate::store::ring::Seq;

/// `-trigger-after`'s default: 100 more messages.
pub const DEFAULT_AFTER: PostRoll = PostRoll::Messages(100);

/// `-trigger-holdoff`'s default.
pub const DEFAULT_HOLDOFF: Duration = Duration::from_secs(60);

/// A post-roll by count also ends this long after the matching message at
/// the latest: on a quiet host the N more messages may never come, and the
/// incident must still be recorded.
pub const COUNT_POST_ROLL_MAX: Duration = Duration::from_secs(10);

/// How long a trigger keeps collecting after the message that matched
/// (`-trigger-after N|DURATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostRoll {
    /// Until N more messages are stored (0: act on the matching one), or
    /// [`COUNT_POST_ROLL_MAX`] passed.
    Messages(u64),
    /// Until this long after the matching message was stored.
    Time(Duration),
}

impl PostRoll {
    /// A plain number is a count of messages (`100`); anything else is a
    /// duration (`30s`, `2m`).
    pub fn parse(s: &str) -> Result<PostRoll, String> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse()
                .map(PostRoll::Messages)
                .map_err(|_| format!("post-roll {s:?} is too large"));
        }
        parse_duration(t).map(PostRoll::Time).map_err(|e| {
            format!("bad post-roll {s:?}: expected a number of messages or a duration ({e})")
        })
    }
}

impl fmt::Display for PostRoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostRoll::Messages(n) => write!(f, "{n}"),
            PostRoll::Time(d) => write_duration(f, *d),
        }
    }
}

/// What a trigger does when it fires (`-trigger-action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Take a snapshot (the default).
    Snapshot,
    /// Pause the ring, as a person would.
    Pause,
}

impl Action {
    pub fn parse(s: &str) -> Result<Action, String> {
        match s.trim() {
            "snapshot" => Ok(Action::Snapshot),
            "pause" => Ok(Action::Pause),
            _ => Err(format!(
                "bad trigger action {s:?}: expected snapshot or pause"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Snapshot => "snapshot",
            Action::Pause => "pause",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `-trigger QUERY`: the query language of `GET /` (a leading `?` is
/// allowed), read at `now_us` (an age in `from=` is that long before the
/// daemon started), of which only what selects messages has a meaning here: `l=`,
/// `fmt=` and `since=` are refused.
pub fn parse_trigger(text: &str, now_us: i64) -> Result<Filter, String> {
    let q = Query::parse(text.strip_prefix('?').unwrap_or(text), now_us)
        .map_err(|e| format!("bad trigger {text:?}: {e}"))?;
    let pointless = if q.limit.is_some() {
        Some("l")
    } else if q.since().is_some() {
        Some("since")
    } else if q.format != OutputFormat::Syslog {
        Some("fmt")
    } else {
        None
    };
    match pointless {
        Some(p) => Err(format!(
            "bad trigger {text:?}: {p}= has no meaning for a trigger, which only selects messages"
        )),
        None => Ok(q.filter),
    }
}

/// Parses `POST /pause?for=DURATION` (`90s`, `10m`, `1h`): more than zero.
pub fn parse_pause_for(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "bad duration {s:?}: a pause must last more than zero"
        ));
    }
    Ok(d)
}

/// Parses a duration: `500ms`, `90s`, `10m`, `1h`, `2d`, or plain seconds.
/// The units of `config::parse_duration` plus `h` and `d`, with its errors.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    if num.is_empty() {
        return Err(format!(
            "bad duration {s:?}: expected e.g. 500ms, 90s, 10m or 1h"
        ));
    }
    let too_large = || format!("duration {s:?} is too large");
    let n: u64 = num.parse().map_err(|_| too_large())?;
    let unit_secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "bad duration {s:?}: unknown unit {unit:?} (use ms, s, m, h or d)"
            ));
        }
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(too_large)
}

/// Writes `d` in the largest unit [`parse_duration`] takes that shows it
/// whole (`10s`, `2m`, `1h`, `1500ms`); below a millisecond is cut.
pub fn write_duration(f: &mut fmt::Formatter<'_>, d: Duration) -> fmt::Result {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return write!(f, "{ms}ms");
    }
    let s = d.as_secs();
    for (unit, secs) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s != 0 && s.is_multiple_of(secs) {
            return write!(f, "{}{unit}", s / secs);
        }
    }
    write!(f, "{s}s")
}

/// One trigger's post-roll ended: act now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fire {
    /// Which trigger, by its position on the command line (0 first);
    /// [`Triggers::source`] gives its text.
    pub trigger: usize,
    /// The seq of the message that matched.
    pub seq: Seq,
    pub action: Action,
}

/// One trigger's counts since start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TriggerCounters {
    /// Actions taken.
    pub fired: u64,
    /// Matches within a holdoff, and pause firings withheld because the
    /// daemon was already paused.
    pub held_off: u64,
}

/// Every trigger of the daemon. See the module doc.
pub struct Triggers {
    triggers: Vec<Trigger>,
    after: PostRoll,
    action: Action,
    holdoff_us: i64,
}

struct Trigger {
    filter: Filter,
    source: String,
    phase: Phase,
    counters: TriggerCounters,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a matching message.
    Armed,
    /// The message `seq` matched; the action is due at `end`.
    PostRoll { seq: Seq, end: End },
    /// Acted at `until_us - holdoff`: no new firing before `until_us`.
    HoldOff { until_us: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// This many more messages to store, or the time `by_us` (µs) reached.
    Messages { left: u64, by_us: i64 },
    /// At this time, µs.
    At(i64),
}

/// A trigger whose post-roll is running, as `/status` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Running<'a> {
    /// The trigger as given on the command line.
    pub query: &'a str,
    /// The message that matched.
    pub seq: Seq,
    /// When it ends at the latest, µs since 1970.
    pub ends_at_us: i64,
    /// Messages still to come before it ends (a post-roll by count).
    pub messages_left: Option<u64>,
}

impl Triggers {
    /// `triggers` are the parsed queries ([`parse_trigger`]) with their text
    /// as given, in command-line order; the rest applies to all of them.
    pub fn new(
        triggers: Vec<(Filter, String)>,
        after: PostRoll,
        action: Action,
        holdoff: Duration,
    ) -> Triggers {
        Triggers {
            triggers: triggers
                .into_iter()
                .map(|(filter, source)| Trigger {
                    filter,
                    source,
                    phase: Phase::Armed,
                    counters: TriggerCounters::default(),
                })
                .collect(),
            after,
            action,
            holdoff_us: micros(holdoff),
        }
    }

    /// No trigger configured: the daemon may skip calling in.
    pub fn is_empty(&self) -> bool {
        self.triggers.is_empty()
    }

    pub fn len(&self) -> usize {
        self.triggers.len()
    }

    /// Takes one stored message (`msg` as every reader parses it, stored at
    /// `now_us` with `seq`). Returns true when a firing is due: call
    /// [`Triggers::poll`] until it returns `None`. Allocates nothing.
    pub fn on_message(&mut self, seq: Seq, msg: &Message<'_>, now_us: i64) -> bool {
        self.on_message_with(seq, now_us, |f| f.matches(now_us, msg))
    }

    /// [`Triggers::on_message`] with the matching left to the caller:
    /// `matches(filter)` says whether the message matches a trigger's
    /// filter. It is called only for triggers that look at this message (not
    /// those in a post-roll), so a caller can parse the message lazily, on
    /// the first call.
    pub fn on_message_with(
        &mut self,
        seq: Seq,
        now_us: i64,
        mut matches: impl FnMut(&Filter) -> bool,
    ) -> bool {
        let Triggers {
            triggers,
            after,
            holdoff_us,
            ..
        } = self;
        let mut due = false;
        for t in triggers.iter_mut() {
            if let Phase::HoldOff { until_us } = &mut t.phase
                && holdoff_over(until_us, now_us, *holdoff_us)
            {
                t.phase = Phase::Armed;
            }
            match &mut t.phase {
                Phase::PostRoll { end, .. } => {
                    if let End::Messages { left, .. } = end {
                        *left = left.saturating_sub(1);
                    }
                    due |= end.reached(now_us, *after);
                }
                Phase::HoldOff { .. } => {
                    if matches(&t.filter) {
                        t.counters.held_off += 1;
                    }
                }
                Phase::Armed => {
                    if matches(&t.filter) {
                        let mut end = match *after {
                            PostRoll::Messages(n) => End::Messages {
                                left: n,
                                by_us: now_us.saturating_add(micros(COUNT_POST_ROLL_MAX)),
                            },
                            PostRoll::Time(d) => End::At(now_us.saturating_add(micros(d))),
                        };
                        due |= end.reached(now_us, *after);
                        t.phase = Phase::PostRoll { seq, end };
                    }
                }
            }
        }
        due
    }

    /// The next firing that is due at `now_us`, if any, in trigger order;
    /// call it until `None` after [`Triggers::on_message`] said so, and from
    /// the timer at least once a second. `paused` is whether the daemon is
    /// paused now: a due `pause` firing is then withheld (see the module
    /// doc). After acting on a `pause` firing, pass `true` on the next call.
    pub fn poll(&mut self, now_us: i64, paused: bool) -> Option<Fire> {
        let Triggers {
            triggers,
            after,
            action,
            holdoff_us,
        } = self;
        for (i, t) in triggers.iter_mut().enumerate() {
            let Phase::PostRoll { seq, end } = &mut t.phase else {
                continue;
            };
            if !end.reached(now_us, *after) {
                continue;
            }
            let seq = *seq;
            t.phase = Phase::HoldOff {
                until_us: now_us.saturating_add(*holdoff_us),
            };
            if paused && *action == Action::Pause {
                t.counters.held_off += 1;
                continue;
            }
            t.counters.fired += 1;
            return Some(Fire {
                trigger: i,
                seq,
                action: *action,
            });
        }
        None
    }

    /// The earliest time at which a post-roll ends by the clock (by time,
    /// or a count's [`COUNT_POST_ROLL_MAX`]), for the event loop's timer (it
    /// polls once a second anyway).
    pub fn next_deadline(&self) -> Option<i64> {
        self.running().map(|r| r.ends_at_us).min()
    }

    /// The triggers whose post-roll is running, in command-line order.
    pub fn running(&self) -> impl Iterator<Item = Running<'_>> {
        self.triggers.iter().filter_map(|t| match t.phase {
            Phase::PostRoll { seq, end } => Some(Running {
                query: &t.source,
                seq,
                ends_at_us: match end {
                    End::Messages { by_us, .. } | End::At(by_us) => by_us,
                },
                messages_left: match end {
                    End::Messages { left, .. } => Some(left),
                    End::At(_) => None,
                },
            }),
            _ => None,
        })
    }

    /// The text of trigger `i` as given on the command line.
    pub fn source(&self, i: usize) -> Option<&str> {
        self.triggers.get(i).map(|t| t.source.as_str())
    }

    /// Every trigger's filter on this host, if its name is known
    /// ([`Filter::on_host`]).
    pub fn on_host(&mut self, host: Option<&'static [u8]>) {
        for t in &mut self.triggers {
            t.filter = std::mem::take(&mut t.filter).on_host(host);
        }
    }

    /// Each trigger's text and counts, in command-line order, for `/status`.
    pub fn counters(&self) -> impl Iterator<Item = (&str, TriggerCounters)> {
        self.triggers
            .iter()
            .map(|t| (t.source.as_str(), t.counters))
    }

    /// The counts of all triggers together, for `/metrics`.
    pub fn totals(&self) -> TriggerCounters {
        self.triggers
            .iter()
            .fold(TriggerCounters::default(), |a, t| TriggerCounters {
                fired: a.fired + t.counters.fired,
                held_off: a.held_off + t.counters.held_off,
            })
    }

    pub fn after(&self) -> PostRoll {
        self.after
    }

    pub fn action(&self) -> Action {
        self.action
    }
}

impl End {
    /// Whether the post-roll is over at `now_us`. A deadline further away
    /// than the post-roll itself means the clock stepped back: it is brought
    /// back to `now_us` plus the post-roll.
    fn reached(&mut self, now_us: i64, after: PostRoll) -> bool {
        match self {
            End::Messages { left, by_us } => {
                let latest = now_us.saturating_add(micros(COUNT_POST_ROLL_MAX));
                *by_us = (*by_us).min(latest);
                *left == 0 || now_us >= *by_us
            }
            End::At(at) => {
                if let PostRoll::Time(d) = after {
                    let latest = now_us.saturating_add(micros(d));
                    *at = (*at).min(latest);
                }
                now_us >= *at
            }
        }
    }
}

/// Whether a holdoff until `until_us` is over at `now_us`, bringing back a
/// deadline that a clock step put too far away.
fn holdoff_over(until_us: &mut i64, now_us: i64, holdoff_us: i64) -> bool {
    *until_us = (*until_us).min(now_us.saturating_add(holdoff_us));
    now_us >= *until_us
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::syslog::Format;

    const SEC: i64 = 1_000_000;

    fn msg<'a>(severity: u8, app: &'a [u8], text: &'a [u8]) -> Message<'a> {
        Message {
            facility: 1,
            severity,
            timestamp: None,
            hostname: None,
            app_name: Some(app),
            proc_id: None,
            msg_id: None,
            structured_data: None,
            message: text,
            format: Format::Rfc5424,
        }
    }

    fn triggers(queries: &[&str], after: PostRoll, action: Action, holdoff_s: u64) -> Triggers {
        let parsed = queries
            .iter()
            .map(|q| (parse_trigger(q, 0).unwrap(), q.to_string()))
            .collect();
        Triggers::new(parsed, after, action, Duration::from_secs(holdoff_s))
    }

    /// Feeds one message and drains every due firing, as the event loop
    /// does; a pause firing pauses.
    fn feed(t: &mut Triggers, seq: Seq, m: &Message<'_>, now: i64, paused: &mut bool) -> Vec<Fire> {
        let mut fires = Vec::new();
        if t.on_message(seq, m, now) {
            drain(t, now, paused, &mut fires);
        }
        fires
    }

    fn drain(t: &mut Triggers, now: i64, paused: &mut bool, fires: &mut Vec<Fire>) {
        while let Some(f) = t.poll(now, *paused) {
            if f.action == Action::Pause {
                *paused = true;
            }
            fires.push(f);
        }
    }

    fn tick(t: &mut Triggers, now: i64, paused: &mut bool) -> Vec<Fire> {
        let mut fires = Vec::new();
        drain(t, now, paused, &mut fires);
        fires
    }

    #[test]
    fn parses_the_flags() {
        assert_eq!(PostRoll::parse("100"), Ok(PostRoll::Messages(100)));
        assert_eq!(PostRoll::parse("0"), Ok(PostRoll::Messages(0)));
        assert_eq!(
            PostRoll::parse("30s"),
            Ok(PostRoll::Time(Duration::from_secs(30)))
        );
        assert_eq!(
            PostRoll::parse("2m"),
            Ok(PostRoll::Time(Duration::from_secs(120)))
        );
        assert_eq!(
            PostRoll::parse("soon").unwrap_err(),
            "bad post-roll \"soon\": expected a number of messages or a duration \
             (bad duration \"soon\": expected e.g. 500ms, 90s, 10m or 1h)"
        );
        assert!(PostRoll::parse("99999999999999999999999").is_err());
        assert!(PostRoll::parse("").is_err());
        assert_eq!(DEFAULT_AFTER.to_string(), "100");
        assert_eq!(PostRoll::parse("90s").unwrap().to_string(), "90s");

        assert_eq!(Action::parse("snapshot"), Ok(Action::Snapshot));
        assert_eq!(Action::parse("pause"), Ok(Action::Pause));
        assert_eq!(
            Action::parse("reboot").unwrap_err(),
            "bad trigger action \"reboot\": expected snapshot or pause"
        );
    }

    #[test]
    fn parses_durations() {
        for (s, d) in [
            ("90s", Duration::from_secs(90)),
            ("10m", Duration::from_secs(600)),
            ("1h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(172_800)),
            ("250ms", Duration::from_millis(250)),
            ("60", Duration::from_secs(60)),
            (" 5s ", Duration::from_secs(5)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
        assert_eq!(
            parse_duration("10y").unwrap_err(),
            "bad duration \"10y\": unknown unit \"y\" (use ms, s, m, h or d)"
        );
        assert_eq!(
            parse_duration("h").unwrap_err(),
            "bad duration \"h\": expected e.g. 500ms, 90s, 10m or 1h"
        );
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert_eq!(
            parse_duration("99999999999999999999d").unwrap_err(),
            "duration \"99999999999999999999d\" is too large"
        );
        assert!(parse_duration("999999999999999999d").is_err());

        assert_eq!(parse_pause_for("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(
            parse_pause_for("0s").unwrap_err(),
            "bad duration \"0s\": a pause must last more than zero"
        );
        assert!(parse_pause_for("").is_err());

        struct D(Duration);
        impl fmt::Display for D {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_duration(f, self.0)
            }
        }
        for s in ["90s", "10m", "1h", "2d", "1500ms", "0s", "25h"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&D(d).to_string()), Ok(d), "{s}");
        }
        assert_eq!(D(Duration::from_secs(7200)).to_string(), "2h");
        assert_eq!(D(Duration::from_secs(61)).to_string(), "61s");
    }

    #[test]
    fn parses_trigger_queries() {
        let f = parse_trigger("app=kernel&grep=Oops", 0).unwrap();
        assert!(f.matches(0, &msg(6, b"kernel", b"Oops: 0002")));
        assert!(!f.matches(0, &msg(6, b"kernel", b"all fine")));
        assert!(
            parse_trigger("?sev=crit", 0)
                .unwrap()
                .matches(0, &msg(2, b"a", b""))
        );
        // An empty query matches every message.
        assert!(parse_trigger("", 0).unwrap().matches_all());
        assert_eq!(
            parse_trigger("sev=loud", 0).unwrap_err(),
            "bad trigger \"sev=loud\": bad sev \"loud\": expected emerg, alert, crit, err, \
             warning, notice, info, debug or 0-7, ! in front for those less severe"
        );
        for (q, p) in [
            ("sev=crit&l=5", "l"),
            ("since=3", "since"),
            ("fmt=json", "fmt"),
        ] {
            assert_eq!(
                parse_trigger(q, 0).unwrap_err(),
                format!(
                    "bad trigger {q:?}: {p}= has no meaning for a trigger, which only selects messages"
                )
            );
        }
    }

    #[test]
    fn post_roll_by_count() {
        let mut t = triggers(&["grep=Oops"], PostRoll::Messages(3), Action::Snapshot, 60);
        let mut paused = false;
        let quiet = msg(6, b"a", b"fine");
        assert_eq!(feed(&mut t, Seq::ZERO, &quiet, 0, &mut paused), []);
        assert_eq!(
            feed(&mut t, Seq::new(1), &msg(2, b"k", b"Oops"), 1, &mut paused),
            []
        );
        assert_eq!(feed(&mut t, Seq::new(2), &quiet, 2, &mut paused), []);
        // Time alone does not end a post-roll by count, within 10 s.
        assert_eq!(tick(&mut t, 9 * SEC, &mut paused), []);
        assert_eq!(feed(&mut t, Seq::new(3), &quiet, 3, &mut paused), []);
        let fire = Fire {
            trigger: 0,
            seq: Seq::new(1),
            action: Action::Snapshot,
        };
        assert_eq!(feed(&mut t, Seq::new(4), &quiet, 4, &mut paused), [fire]);
        assert_eq!(
            t.counters().collect::<Vec<_>>(),
            [(
                "grep=Oops",
                TriggerCounters {
                    fired: 1,
                    held_off: 0
                }
            )]
        );
        assert_eq!(t.source(0), Some("grep=Oops"));
        assert_eq!(t.source(1), None);
    }

    #[test]
    fn zero_post_roll_fires_on_the_matching_message() {
        let mut t = triggers(&["sev=crit"], PostRoll::Messages(0), Action::Snapshot, 60);
        let mut paused = false;
        let fires = feed(&mut t, Seq::new(7), &msg(0, b"a", b"x"), 0, &mut paused);
        assert_eq!(
            fires,
            [Fire {
                trigger: 0,
                seq: Seq::new(7),
                action: Action::Snapshot
            }]
        );
    }

    #[test]
    fn post_roll_by_time_ends_on_the_timer() {
        let after = PostRoll::Time(Duration::from_secs(30));
        let mut t = triggers(&["sev=err"], after, Action::Snapshot, 60);
        let mut paused = false;
        assert_eq!(
            feed(
                &mut t,
                Seq::ZERO,
                &msg(3, b"a", b"x"),
                10 * SEC,
                &mut paused
            ),
            []
        );
        assert_eq!(t.next_deadline(), Some(40 * SEC));
        // More messages, matching or not, do not end it early.
        for i in 1..50 {
            assert_eq!(
                feed(
                    &mut t,
                    Seq::new(i),
                    &msg(3, b"a", b"x"),
                    10 * SEC + i as i64,
                    &mut paused
                ),
                []
            );
        }
        assert_eq!(tick(&mut t, 40 * SEC - 1, &mut paused), []);
        let fire = Fire {
            trigger: 0,
            seq: Seq::ZERO,
            action: Action::Snapshot,
        };
        assert_eq!(tick(&mut t, 40 * SEC, &mut paused), [fire]);
        assert_eq!(t.next_deadline(), None);
        // Or a message after the deadline ends it, before the timer does.
        assert_eq!(
            feed(
                &mut t,
                Seq::new(60),
                &msg(6, b"a", b"x"),
                200 * SEC,
                &mut paused
            ),
            []
        );
        assert_eq!(
            feed(
                &mut t,
                Seq::new(61),
                &msg(3, b"a", b"x"),
                201 * SEC,
                &mut paused
            ),
            []
        );
        let fires = feed(
            &mut t,
            Seq::new(62),
            &msg(6, b"a", b"x"),
            231 * SEC,
            &mut paused,
        );
        assert_eq!(
            fires,
            [Fire {
                seq: Seq::new(61),
                ..fire
            }]
        );
    }

    #[test]
    fn holdoff_counts_and_rearms() {
        let mut t = triggers(&["sev=err"], PostRoll::Messages(0), Action::Snapshot, 60);
        let mut paused = false;
        let err = msg(3, b"a", b"x");
        assert_eq!(feed(&mut t, Seq::ZERO, &err, 0, &mut paused).len(), 1);
        // Within 60 s of that firing: held off, counted.
        assert_eq!(feed(&mut t, Seq::new(1), &err, 30 * SEC, &mut paused), []);
        assert_eq!(
            feed(
                &mut t,
                Seq::new(2),
                &msg(6, b"a", b"x"),
                31 * SEC,
                &mut paused
            ),
            []
        );
        assert_eq!(feed(&mut t, Seq::new(3), &err, 59 * SEC, &mut paused), []);
        assert_eq!(
            t.totals(),
            TriggerCounters {
                fired: 1,
                held_off: 2
            }
        );
        // 60 s after it: fires again.
        let fires = feed(&mut t, Seq::new(4), &err, 60 * SEC, &mut paused);
        assert_eq!(
            fires.iter().map(|f| f.seq).collect::<Vec<_>>(),
            [Seq::new(4)]
        );
        assert_eq!(
            t.totals(),
            TriggerCounters {
                fired: 2,
                held_off: 2
            }
        );
    }

    #[test]
    fn holdoff_runs_from_the_action_not_the_match() {
        let after = PostRoll::Time(Duration::from_secs(100));
        let mut t = triggers(&["sev=err"], after, Action::Snapshot, 60);
        let mut paused = false;
        let err = msg(3, b"a", b"x");
        feed(&mut t, Seq::ZERO, &err, 0, &mut paused);
        assert_eq!(tick(&mut t, 100 * SEC, &mut paused).len(), 1);
        // 110 s after the match but 10 s after the snapshot: held off.
        assert_eq!(feed(&mut t, Seq::new(1), &err, 110 * SEC, &mut paused), []);
        assert_eq!(t.totals().held_off, 1);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_trigger_matching_every_message_is_bounded_by_its_holdoff() {
        let mut t = triggers(&[""], PostRoll::Messages(100), Action::Snapshot, 60);
        let mut paused = false;
        let any = msg(6, b"a", b"x");
        let mut fires = Vec::new();
        // 100 messages a second for ten minutes.
        for seq in 0..60_000u64 {
            let now = seq as i64 * SEC / 100;
            fires.extend(feed(&mut t, Seq::new(seq), &any, now, &mut paused));
            fires.extend(tick(&mut t, now, &mut paused));
        }
        // Match at 0, act at 1 s; then every 61 s (60 s holdoff, 1 s post-roll).
        let seqs: Vec<Seq> = fires.iter().map(|f| f.seq).collect();
        assert_eq!(
            seqs,
            (0..10).map(|k| Seq::new(k * 6100)).collect::<Vec<_>>()
        );
        let c = t.totals();
        assert_eq!(c.fired, 10);
        // Every message in a holdoff is a held-off firing.
        assert_eq!(c.held_off, 60_000 - 10 * 101);
    }

    #[test]
    fn several_triggers_fire_independently() {
        let mut t = triggers(
            &["sev=crit", "app=kernel&grep=Oops", "grep=disk"],
            PostRoll::Messages(2),
            Action::Snapshot,
            60,
        );
        let mut paused = false;
        let quiet = msg(6, b"a", b"fine");
        // The Oops at crit matches the first two triggers.
        assert_eq!(
            feed(
                &mut t,
                Seq::ZERO,
                &msg(2, b"kernel", b"Oops"),
                0,
                &mut paused
            ),
            []
        );
        assert_eq!(
            feed(
                &mut t,
                Seq::new(1),
                &msg(6, b"a", b"disk full"),
                1,
                &mut paused
            ),
            []
        );
        let fires = feed(&mut t, Seq::new(2), &quiet, 2, &mut paused);
        let got: Vec<(usize, Seq)> = fires.iter().map(|f| (f.trigger, f.seq)).collect();
        assert_eq!(got, [(0, Seq::ZERO), (1, Seq::ZERO)]);
        let fires = feed(&mut t, Seq::new(3), &quiet, 3, &mut paused);
        let got: Vec<(usize, Seq)> = fires.iter().map(|f| (f.trigger, f.seq)).collect();
        assert_eq!(got, [(2, Seq::new(1))]);
        // Each has its own holdoff: a crit now is held off by the first
        // trigger only.
        assert_eq!(
            feed(&mut t, Seq::new(4), &msg(2, b"x", b"disk"), 4, &mut paused),
            []
        );
        let counts: Vec<TriggerCounters> = t.counters().map(|(_, c)| c).collect();
        assert_eq!(
            counts,
            [
                TriggerCounters {
                    fired: 1,
                    held_off: 1
                },
                TriggerCounters {
                    fired: 1,
                    held_off: 0
                },
                TriggerCounters {
                    fired: 1,
                    held_off: 1
                },
            ]
        );
    }

    #[test]
    fn a_pause_trigger_pauses_once() {
        let mut t = triggers(&["", "sev=err"], PostRoll::Messages(1), Action::Pause, 60);
        let mut paused = false;
        let err = msg(3, b"a", b"x");
        assert_eq!(feed(&mut t, Seq::ZERO, &err, 0, &mut paused), []);
        // Both are due on the same message: the first pauses, the second is
        // withheld because the daemon is now paused.
        let fires = feed(&mut t, Seq::new(1), &err, 1, &mut paused);
        assert_eq!(
            fires,
            [Fire {
                trigger: 0,
                seq: Seq::ZERO,
                action: Action::Pause
            }]
        );
        assert!(paused);
        assert_eq!(
            t.counters().map(|(_, c)| c).collect::<Vec<_>>(),
            [
                TriggerCounters {
                    fired: 1,
                    held_off: 0
                },
                TriggerCounters {
                    fired: 0,
                    held_off: 1
                },
            ]
        );
        // Paused, nothing is stored; the timer finds nothing to do.
        assert_eq!(tick(&mut t, 30 * SEC, &mut paused), []);
        // A person resumes within the holdoff: no pause again yet.
        paused = false;
        for seq in 2..100 {
            assert_eq!(
                feed(
                    &mut t,
                    Seq::new(seq),
                    &err,
                    40 * SEC + seq as i64,
                    &mut paused
                ),
                []
            );
        }
        // After it, the next incident pauses again, once.
        assert_eq!(feed(&mut t, Seq::new(100), &err, 61 * SEC, &mut paused), []);
        assert_eq!(
            feed(&mut t, Seq::new(101), &err, 61 * SEC + 1, &mut paused).len(),
            1
        );
        assert!(paused);
    }

    #[test]
    fn a_time_post_roll_ending_while_paused_by_hand_is_withheld_for_pause_only() {
        let after = PostRoll::Time(Duration::from_secs(10));
        let mut paused = true;
        let mut p = triggers(&["sev=err"], after, Action::Pause, 60);
        let mut s = triggers(&["sev=err"], after, Action::Snapshot, 60);
        let err = msg(3, b"a", b"x");
        assert!(!p.on_message(Seq::ZERO, &err, 0));
        assert!(!s.on_message(Seq::ZERO, &err, 0));
        // The daemon was paused by a person meanwhile.
        assert_eq!(tick(&mut p, 10 * SEC, &mut paused), []);
        assert_eq!(
            p.totals(),
            TriggerCounters {
                fired: 0,
                held_off: 1
            }
        );
        assert_eq!(tick(&mut s, 10 * SEC, &mut paused).len(), 1);
    }

    #[test]
    fn a_clock_step_back_does_not_stretch_deadlines() {
        let after = PostRoll::Time(Duration::from_secs(30));
        let mut t = triggers(&["sev=err"], after, Action::Snapshot, 60);
        let mut paused = false;
        let err = msg(3, b"a", b"x");
        feed(&mut t, Seq::ZERO, &err, 1000 * SEC, &mut paused);
        // An hour back: the post-roll ends 30 s from then, not in an hour.
        assert_eq!(tick(&mut t, -2600 * SEC, &mut paused), []);
        assert_eq!(tick(&mut t, -2570 * SEC, &mut paused).len(), 1);
        // And the holdoff lasts 60 s from then.
        assert_eq!(
            feed(&mut t, Seq::new(1), &err, -5000 * SEC, &mut paused),
            []
        );
        assert_eq!(t.totals().held_off, 1);
        feed(&mut t, Seq::new(2), &err, -4940 * SEC, &mut paused);
        assert_eq!(t.next_deadline(), Some(-4910 * SEC));
    }

    /// A crit on a quiet host with `-trigger-after 5`: the five more
    /// messages never come, and the snapshot is taken 10 s after it.
    #[test]
    fn a_count_post_roll_ends_10s_after_the_match_at_the_latest() {
        let mut t = triggers(&["sev=crit"], PostRoll::Messages(5), Action::Snapshot, 60);
        let mut paused = false;
        let at = 1_000 * SEC;
        assert_eq!(t.running().count(), 0);
        feed(&mut t, Seq::new(7), &msg(2, b"k", b"down"), at, &mut paused);
        feed(
            &mut t,
            Seq::new(8),
            &msg(6, b"a", b"one more"),
            at + SEC,
            &mut paused,
        );
        assert_eq!(
            t.running().collect::<Vec<_>>(),
            [Running {
                query: "sev=crit",
                seq: Seq::new(7),
                ends_at_us: at + 10 * SEC,
                messages_left: Some(4),
            }]
        );
        assert_eq!(t.next_deadline(), Some(at + 10 * SEC));
        assert_eq!(tick(&mut t, at + 10 * SEC - 1, &mut paused), []);
        let fire = Fire {
            trigger: 0,
            seq: Seq::new(7),
            action: Action::Snapshot,
        };
        assert_eq!(tick(&mut t, at + 10 * SEC, &mut paused), [fire]);
        assert_eq!(t.running().count(), 0);
        assert_eq!(t.next_deadline(), None);
        // A clock stepped back does not stretch it either.
        feed(
            &mut t,
            Seq::new(9),
            &msg(2, b"k", b"again"),
            at + 100 * SEC,
            &mut paused,
        );
        assert_eq!(tick(&mut t, at - 1000 * SEC, &mut paused), []);
        assert_eq!(t.next_deadline(), Some(at - 990 * SEC));
        assert_eq!(tick(&mut t, at - 990 * SEC, &mut paused).len(), 1);
    }

    #[test]
    fn running_post_rolls_by_time_say_when_they_end() {
        let after = PostRoll::Time(Duration::from_secs(30));
        let mut t = triggers(&["sev=err", "grep=x"], after, Action::Snapshot, 60);
        let mut paused = false;
        feed(
            &mut t,
            Seq::new(3),
            &msg(3, b"a", b"y"),
            5 * SEC,
            &mut paused,
        );
        assert_eq!(
            t.running().collect::<Vec<_>>(),
            [Running {
                query: "sev=err",
                seq: Seq::new(3),
                ends_at_us: 35 * SEC,
                messages_left: None,
            }]
        );
    }

    #[test]
    fn matching_is_skipped_during_a_post_roll() {
        let mut t = triggers(&["", ""], PostRoll::Messages(5), Action::Snapshot, 0);
        let mut calls = 0;
        t.on_message_with(Seq::ZERO, 0, |_| {
            calls += 1;
            true
        });
        assert_eq!(calls, 2);
        t.on_message_with(Seq::new(1), 1, |_| {
            calls += 1;
            true
        });
        assert_eq!(calls, 2);
    }
}
