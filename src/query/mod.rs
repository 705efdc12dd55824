//! Query parameters of `GET /` and `GET /ws`: the part of the target after
//! `?`, turned into a [`Query`] once per request.
//!
//! Parsing is strict: an unknown parameter, a repeated one or a bad value is
//! a [`QueryError`] whose text is the one-line reason of the `400` response,
//! naming the parameter. Names and values are percent-decoded and `+` is a
//! space; values are bytes (`grep=%FF` looks for the byte 0xFF).
//!
//! `host`, `app`, `fac`, `unit`, `pid` and `uid` take comma-separated
//! lists, and a leading `!` negates the whole list; `sev=!LEVEL` keeps
//! what is less severe than LEVEL. Both are read after decoding, so `%2C` and `%21` (what
//! [`encode_component`] writes for `,` and `!`) separate and negate too: a
//! name cannot contain a comma or start with `!`.
//!
//! `from=` and `until=` take an age, counted back from the `now_us` given to
//! [`Query::parse`]: the library reads no clock.
//!
//! A [`Filter`] allocates when it is built and never in
//! [`Filter::matches`], which runs once per stored message of a dump.

#![forbid(unsafe_code)]

pub mod format;
pub mod histogram;
mod time;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::IntErrorKind;

use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};

use crate::ingest::syslog::{self, Fields, Message};
use crate::store::messages::Messages;
use crate::store::ring::{Entry, Seq};
use crate::store::search::{Needle, Place};
use crate::store::summary::{Field, NameBits, Sieve, SoleName, Summary, Tags};

/// How messages are written in a response (`fmt=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// One RFC 5424 line per message (the default).
    Syslog,
    /// One JSON object per line.
    Json,
    /// The bytes as received, one message per line.
    Raw,
}

impl OutputFormat {
    /// The value of `fmt=` that selects this format.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Syslog => "syslog",
            OutputFormat::Json => "json",
            OutputFormat::Raw => "raw",
        }
    }
}

/// The receive times a query selects, µs since 1970: `from_us` included,
/// `until_us` not (`from=` and `until=`). `None` is no bound.
///
/// Seq order is receive order, so a reader can find where the range starts
/// and ends in the ring by binary search; [`Filter::matches`] checks it as
/// well, for readers that do not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub from_us: Option<i64>,
    pub until_us: Option<i64>,
}

impl TimeRange {
    pub fn contains(&self, received_us: i64) -> bool {
        self.from_us.is_none_or(|from| received_us >= from)
            && self.until_us.is_none_or(|until| received_us < until)
    }

    /// True when neither bound is set.
    pub fn is_unbounded(&self) -> bool {
        self.from_us.is_none() && self.until_us.is_none()
    }
}

/// Which messages a query selects. The default selects every message.
///
/// Two filters are equal when they were parsed from the same conditions,
/// whatever the spelling (`sev=3` and `sev=err`, `app=b,a,a` and `app=a,b`):
/// followers with equal filters and formats can share rendered frames. A
/// regular expression is compared by its pattern, so two patterns that
/// happen to match the same messages are still different filters.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `sev=`: bit `s` is set when severity `s` is kept. `None` when every
    /// severity is (never `Some(0xff)`).
    severities: Option<u8>,
    /// `fac=`: bit `f` is set when facility `f` is kept. Facilities are
    /// 0..=23, so every one has a bit. `None` when every facility is (never
    /// `Some(ALL_FACILITIES)`).
    facilities: Option<u32>,
    /// `host=`.
    host: Option<Names>,
    /// `app=`.
    app: Option<Names>,
    /// `grep=`.
    grep: Option<memmem::Finder<'static>>,
    /// `not=`.
    not: Option<memmem::Finder<'static>>,
    /// `re=`.
    re: Option<Regex>,
    /// `unit=`: names with their kind (`nginx` is `nginx.service`).
    unit: Option<Names>,
    /// `pid=`: the sender's pid, else the message's PROCID.
    pid: Option<Ids>,
    /// `uid=`: the sender's uid.
    uid: Option<Ids>,
    /// `from=` and `until=`.
    received: TimeRange,
    /// This host's name: a message from a local socket without a hostname
    /// is shown with it, and `host=` sees it there ([`Filter::on_host`]).
    local_host: Option<&'static [u8]>,
}

/// The numbers an exact-match filter (`pid=`, `uid=`) wants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Ids {
    /// The list had a leading `!`.
    negated: bool,
    /// Sorted, without duplicates.
    ids: Box<[u32]>,
}

impl Ids {
    fn matches(&self, value: Option<u32>) -> bool {
        let listed = value.is_some_and(|v| self.ids.binary_search(&v).is_ok());
        listed != self.negated
    }
}

/// A PROCID that is a pid: decimal digits, no more than a `u32`.
fn pid_of(proc_id: &[u8]) -> Option<u32> {
    if proc_id.is_empty() || proc_id.len() > 10 || !proc_id.iter().all(u8::is_ascii_digit) {
        return None;
    }
    proc_id.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// Every facility bit of [`Filter::facilities`].
const ALL_FACILITIES: u32 = (1 << 24) - 1;

/// The values an exact-match filter (`host=`, `app=`) wants.
#[derive(Clone, Debug)]
struct Names {
    /// The list had a leading `!`: it names the messages left out.
    negated: bool,
    /// `-`, the NILVALUE, was in the list: it names the messages without
    /// the field.
    nil: bool,
    /// Sorted, without duplicates, none empty, so that equal lists compare
    /// equal whatever order they were given in.
    names: Box<[Box<[u8]>]>,
    /// The one name, ready to search for, when the list is that name alone
    /// (not negated, without `-`): a message is selected only if its field
    /// is exactly it. Made from `names`, so not compared.
    one: Option<memmem::Finder<'static>>,
    /// Each name listed (and `-`, the field's absence), as a block's
    /// summary holds it: a block that holds none of them holds no message
    /// the list names. Made from `names`, so not compared.
    bits: Box<[NameBits]>,
    /// The same as a message's [`Tags`] byte: a message whose byte is none
    /// of these is not named. Made from `names`, so not compared.
    tags: Box<[u8]>,
    /// `host=` lists this host's name, which a message from a local socket
    /// without a hostname has ([`Filter::on_host`]): such messages are
    /// candidates too. Made from `names` and the filter's `local_host`,
    /// so not compared.
    local: bool,
}

impl PartialEq for Names {
    fn eq(&self, other: &Names) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Names {}

impl Hash for Names {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl Names {
    /// What equality and hashing compare: the list as given.
    fn identity(&self) -> (bool, bool, &[Box<[u8]>]) {
        let Names {
            negated,
            nil,
            names,
            one: _,
            bits: _,
            tags: _,
            local: _,
        } = self;
        (*negated, *nil, names)
    }

    /// What the names listed (and `nil`) of `field` are in a block's
    /// summary ([`Summary::names`]) and in a message's [`Tags`].
    fn hashed(&mut self, field: Field) {
        let listed = || {
            // A message named this host's by its socket has no hostname.
            let absent = (self.nil || self.local).then_some(None);
            absent
                .into_iter()
                .chain(self.names.iter().map(|name| Some(&name[..])))
        };
        self.bits = listed().map(|n| NameBits::of(field, n)).collect();
        self.tags = listed().map(|n| Tags::tag(field, n)).collect();
    }

    /// True when no message of a block whose names are `held` can be
    /// selected: the list is not negated and the block holds none of its
    /// names.
    fn rules_out(&self, held: &NameBits) -> bool {
        !self.negated && !self.bits.iter().any(|bits| bits.within(held))
    }

    /// Whether a message whose field is `value` (`None`: absent) is
    /// selected by the list.
    fn matches(&self, value: Option<&[u8]>) -> bool {
        let listed = match value {
            None => self.nil,
            Some(have) => self.names.iter().any(|want| **want == *have),
        };
        listed != self.negated
    }
}

impl Filter {
    /// Whether the message `msg`, received at `received_us` (µs since
    /// 1970), is selected. Allocates nothing, except that a regular
    /// expression grows its search cache (at most [`RE_DFA_BYTES`]) while it
    /// meets new input, as the `regex` crate does.
    pub fn matches(&self, received_us: i64, msg: &Message<'_>) -> bool {
        self.matches_fields(received_us, &Fields::from(msg))
    }

    /// [`Filter::matches`] of a message's fields, as a stored message's
    /// index gives them without a parse.
    pub fn matches_fields(&self, received_us: i64, msg: &Fields<'_>) -> bool {
        // Every condition, by name: one added to the filter is not built
        // until it is tested here (and in `ignores_fields`, `identity`).
        let Filter {
            severities,
            facilities,
            host,
            app,
            grep,
            not,
            re,
            unit,
            pid,
            uid,
            received,
            local_host,
        } = self;
        received.contains(received_us)
            // A severity or facility the parser cannot produce is simply not
            // selected rather than overflowing the shift.
            && severities.is_none_or(|mask| msg.severity < 8 && mask & (1 << msg.severity) != 0)
            && facilities
                .is_none_or(|mask| msg.facility < 32 && mask & (1u32 << msg.facility) != 0)
            && host.as_ref().is_none_or(|host| {
                let here = local_host.filter(|_| msg.sent.local);
                host.matches(msg.hostname.or(here))
            })
            && app.as_ref().is_none_or(|app| app.matches(msg.app_name))
            && grep.as_ref().is_none_or(|grep| grep.find(msg.message).is_some())
            && not.as_ref().is_none_or(|not| not.find(msg.message).is_none())
            && re.as_ref().is_none_or(|re| re.is_match(msg.message))
            && unit.as_ref().is_none_or(|unit| unit.matches(msg.sent.unit))
            && pid.as_ref().is_none_or(|pid| {
                pid.matches(msg.sent.pid.or_else(|| msg.proc_id.and_then(pid_of)))
            })
            && uid.as_ref().is_none_or(|uid| uid.matches(msg.sent.uid))
    }

    /// [`Filter::matches_fields`] of a stored message, reading from its
    /// index only what the filter tests: its PROCID is looked for, and its
    /// MSG sliced, only for `pid=`, `grep=`, `not=` and `re=`. What readers
    /// that test many messages call.
    pub fn matches_entry(&self, e: &Entry<'_>) -> bool {
        // Every condition, by name: one that reads the PROCID or MSG must
        // be listed here.
        let Filter {
            severities: _,
            facilities: _,
            host: _,
            app: _,
            grep,
            not,
            re,
            unit: _,
            pid,
            uid: _,
            received: _,
            local_host: _,
        } = self;
        let text = grep.is_some() || not.is_some() || re.is_some() || pid.is_some();
        let fields = match e.index {
            Some(ix) if !text => Fields {
                sent: e.sent(),
                ..ix.fields_but_text(e.raw)
            },
            _ => e.fields(),
        };
        self.matches_fields(e.received_us, &fields)
    }

    /// True when the filter selects every message, so a reader that needs no
    /// parsed fields (e.g. `fmt=raw`) can skip parsing altogether.
    pub fn matches_all(&self) -> bool {
        self.received.is_unbounded() && self.ignores_fields()
    }

    /// True when only the receive time can leave a message out: a reader
    /// that keeps to [`Filter::received`] itself needs no parsed fields.
    pub fn ignores_fields(&self) -> bool {
        let Filter {
            severities,
            facilities,
            host,
            app,
            grep,
            not,
            re,
            unit,
            pid,
            uid,
            // Readers keep to the receive times themselves.
            received: _,
            local_host: _,
        } = self;
        severities.is_none()
            && facilities.is_none()
            && host.is_none()
            && app.is_none()
            && grep.is_none()
            && not.is_none()
            && re.is_none()
            && unit.is_none()
            && pid.is_none()
            && uid.is_none()
    }

    /// The receive times selected (`from=`, `until=`).
    pub fn received(&self) -> TimeRange {
        self.received
    }

    /// True when `sev=` or `fac=` leaves out every message with this PRI,
    /// whatever its other fields: readers test it on the index's PRI
    /// alone before they look at the rest.
    pub fn rejects_pri(&self, pri: u8) -> bool {
        let (facility, severity) = (pri >> 3, pri & 7);
        self.severities
            .is_some_and(|mask| mask & (1 << severity) == 0)
            || self
                .facilities
                .is_some_and(|mask| facility >= 32 || mask & (1u32 << facility) == 0)
    }

    /// The filter on this host, named `host` when its name is known: a
    /// message that came on a local socket without a hostname is shown
    /// with this host's name, as rsyslog and journalctl show it, and
    /// `host=` sees that name too (`host=-` then names the others alone).
    /// Without it, `host=` sees the message's own field.
    pub fn on_host(mut self, host: Option<&'static [u8]>) -> Filter {
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return self;
        };
        self.local_host = Some(host);
        if let Some(names) = &mut self.host {
            names.local = names.names.iter().any(|name| **name == *host);
            if names.local {
                // The name's own bytes are not where such messages are.
                names.one = None;
            }
            names.hashed(Field::Host);
        }
        self
    }

    /// True when the filter has `sev=` or `fac=`.
    pub fn tests_pri(&self) -> bool {
        self.severities.is_some() || self.facilities.is_some()
    }

    /// What the filter lets through on a message's PRI and [`Tags`] alone
    /// ([`Sieve`]): [`Filter::rejects_pri`], and a list of hostnames,
    /// app-names or units (not negated) none of which has the message's
    /// tag of its field. Readers pass over the messages it stops without
    /// reading them; made once per slice, tested per message.
    pub fn sieve(&self) -> Sieve {
        let mut sieve = Sieve::ALL.pris(|pri| !self.rejects_pri(pri));
        for (field, names) in self.lists() {
            if !names.negated {
                sieve = sieve.tags(field, names.tags.iter().copied());
            }
        }
        sieve
    }

    /// A sieve that decides alone for the messages of `m` from `from` on
    /// (within the receive times, which the caller keeps to, as readers
    /// do): a message with an index that it passes is selected, without
    /// reading it. There is one when the filter tests nothing but the PRI,
    /// the receive time and lists of names (not negated), and each listed
    /// name's tag belongs, from `from` on, to one name only
    /// ([`Messages::sole_name`]): a tag passes when that name is listed.
    pub fn exact_sieve(&self, m: &dyn Messages, from: Seq) -> Option<Sieve> {
        let Filter {
            severities: _,
            facilities: _,
            host,
            app: _,
            grep,
            not,
            re,
            unit: _,
            pid,
            uid,
            received: _,
            local_host,
        } = self;
        if grep.is_some() || not.is_some() || re.is_some() || pid.is_some() || uid.is_some() {
            return None;
        }
        // Whether a message without a hostname is this host's depends on
        // its socket, which its tags do not say.
        if host
            .as_ref()
            .is_some_and(|h| h.local || (h.nil && local_host.is_some()))
        {
            return None;
        }

        let mut sieve = Sieve::ALL.pris(|pri| !self.rejects_pri(pri));
        for (field, names) in self.lists() {
            let sole = |tag| m.sole_name(field, tag, from);
            if names.negated || names.tags.iter().any(|&t| sole(t) == SoleName::Unknown) {
                return None;
            }
            let named = names.tags.iter().copied().filter(|&tag| match sole(tag) {
                SoleName::Name(name) => names.matches(name),
                SoleName::NoMessage | SoleName::Unknown => false,
            });
            sieve = sieve.tags(field, named);
        }
        Some(sieve)
    }

    /// The lists a block's summary and a message's tags hold the names of.
    fn lists(&self) -> impl Iterator<Item = (Field, &Names)> {
        [
            (Field::Host, &self.host),
            (Field::App, &self.app),
            (Field::Unit, &self.unit),
        ]
        .into_iter()
        .filter_map(|(field, names)| Some((field, names.as_ref()?)))
    }

    /// True when the filter selects no message of a block whose summary
    /// is `s` ([`crate::store::summary`]): a severity or a facility it
    /// keeps none of, or a list of hostnames, app-names or units (not
    /// negated) none of which is there. Readers pass over such a block
    /// without reading it.
    pub fn rules_out(&self, s: &Summary) -> bool {
        // Every condition, by name: the others cannot rule a block out.
        let Filter {
            severities,
            facilities,
            host,
            app,
            grep: _,
            not: _,
            re: _,
            unit,
            pid: _,
            uid: _,
            received: _,
            local_host: _,
        } = self;
        severities.is_some_and(|mask| mask & s.severities == 0)
            || facilities.is_some_and(|mask| mask & s.facilities == 0)
            || [host, app, unit]
                .into_iter()
                .flatten()
                .any(|names| names.rules_out(&s.names))
    }

    /// True when [`Filter::rules_out`] and [`Filter::sieve`] can say no:
    /// a reader need not look at summaries and tags for nothing.
    pub fn tests_summaries(&self) -> bool {
        self.tests_pri() || self.lists().any(|(_, names)| !names.negated)
    }

    /// What readers of `m` search its arena for first: [`Filter::needle`],
    /// except a name when `m` keeps tags, which find its messages faster
    /// ([`Filter::sieve`]).
    pub fn needle_in(&self, m: &dyn Messages) -> Option<Needle<'_>> {
        let tagged = m.summaries().is_some_and(|s| !s.tags().is_empty());
        self.needle()
            .filter(|needle| needle.place == Place::Msg || !tagged)
    }

    /// What a message must hold for the filter to select it, which readers
    /// search the arena for first ([`crate::store::search`]), forward and
    /// back: `grep=`'s text in MSG when it is not empty, else `app=`'s one
    /// name as the app-name, else `host=`'s as the hostname (a list of one
    /// name, not negated). Whatever else the filter tests is tested on the
    /// messages found.
    pub fn needle(&self) -> Option<Needle<'_>> {
        let grep = self.grep.as_ref().filter(|g| !g.needle().is_empty());
        let app = self.app.as_ref().and_then(|n| n.one.as_ref());
        let host = self.host.as_ref().and_then(|n| n.one.as_ref());
        grep.map(|finder| (finder, Place::Msg))
            .or(app.map(|finder| (finder, Place::AppName)))
            .or(host.map(|finder| (finder, Place::Hostname)))
            .map(|(finder, place)| Needle { finder, place })
    }

    /// What equality and hashing compare: every condition, searches by
    /// their pattern.
    fn identity(&self) -> impl Eq + Hash + '_ {
        let Filter {
            severities,
            facilities,
            host,
            app,
            grep,
            not,
            re,
            unit,
            pid,
            uid,
            received,
            local_host,
        } = self;
        (
            severities,
            facilities,
            host,
            app,
            grep.as_ref().map(memmem::Finder::needle),
            not.as_ref().map(memmem::Finder::needle),
            re.as_ref().map(Regex::as_str),
            (unit, pid, uid),
            received,
            local_host,
        )
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Filter {}

impl Hash for Filter {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

/// A parsed query string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// `l=N`: the last N matching messages; `None` = all (`l=-1`, the default).
    pub limit: Option<u64>,
    /// `fmt=`, [`OutputFormat::Syslog`] by default.
    pub format: OutputFormat,
    pub filter: Filter,
    /// `since=SEQ`: only messages with a greater seq.
    /// INVARIANT: less than [`Seq::MAX`], so that the seq after it exists.
    since: Option<Seq>,
}

/// What followers must have in common to share rendered frames: the format
/// and the filter of their query, not where each one starts (`l`, `since`).
/// From [`Query::share_key`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShareKey {
    format: OutputFormat,
    filter: Filter,
}

/// Why a query string was refused: a one-line reason for the `400` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

const SEVERITIES: &str = "emerg, alert, crit, err, warning, notice, info, debug or 0-7, \
                          ! in front for those less severe";
const FACILITIES: &str = "facility names (kern, user, mail, daemon, auth, syslog, lpr, news, \
                          uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, \
                          local0-local7) or 0-23, separated by commas, ! in front for all but those";
const FORMATS: &str = "syslog, json or raw";

/// Values longer than this are cut in error messages, which stay one short
/// line whatever the client sent.
const ECHO_MAX: usize = 64;

/// The most a regular expression may take once compiled, and the most its
/// lazy DFA may cache, in bytes: a tenth and a half of the `regex` crate's
/// defaults. Enough for `\w{10}` or `\pL{20}` (Unicode classes are big);
/// `\w{100}` or `a{1000}{1000}` is refused after a few ms of compiling,
/// and each follower's pattern holds at most this much memory.
pub const RE_BYTES: usize = 1 << 20;
/// See [`RE_BYTES`].
pub const RE_DFA_BYTES: usize = 1 << 20;

impl Query {
    /// The query on this host, if its name is known ([`Filter::on_host`]).
    pub fn on_host(mut self, host: Option<&'static [u8]>) -> Query {
        self.filter = self.filter.on_host(host);
        self
    }

    /// Parses a query string: the part of the request target after `?`,
    /// possibly empty. Empty `&`-separated pieces are ignored; a parameter
    /// without `=` has an empty value. `now_us` (µs since 1970) is the time
    /// an age in `from=` or `until=` counts back from.
    pub fn parse(query_string: &str, now_us: i64) -> Result<Query, QueryError> {
        let mut query = Query {
            limit: None,
            format: OutputFormat::Syslog,
            filter: Filter::default(),
            since: None,
        };
        // Bit i set when PARAMS[i] was seen: a repeated parameter is an
        // error rather than a silent choice between two values.
        let mut seen = 0u64;
        for piece in query_string.split('&') {
            if piece.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = percent_decode(raw_name).map_err(|e| {
                QueryError(format!(
                    "bad parameter name {}: {e}",
                    echo(raw_name.as_bytes())
                ))
            })?;
            let Some(index) = PARAMS.iter().position(|p| p.name.as_bytes() == name) else {
                return Err(QueryError(format!(
                    "unknown parameter {}: expected {}",
                    echo(&name),
                    param_names()
                )));
            };
            let param = &PARAMS[index];
            if seen & (1 << index) != 0 {
                return Err(QueryError(format!("repeated parameter \"{}\"", param.name)));
            }
            seen |= 1 << index;
            let value = percent_decode(raw_value).map_err(|e| {
                QueryError(format!(
                    "bad {} {}: {e}",
                    param.name,
                    echo(raw_value.as_bytes())
                ))
            })?;
            (param.set)(&mut query, param.name, value, now_us)?;
        }
        let TimeRange { from_us, until_us } = query.filter.received;
        if let (Some(from), Some(until)) = (from_us, until_us)
            && from > until
        {
            return Err(QueryError(format!(
                "from ({}) is later than until ({}): no message can match",
                show_time(from),
                show_time(until)
            )));
        }
        Ok(query)
    }

    /// `since=SEQ`, as given.
    pub fn since(&self) -> Option<Seq> {
        self.since
    }

    /// The lowest seq the query may select: the one after `since`, or 0.
    pub fn first_seq(&self) -> Seq {
        // No overflow: `since` is less than Seq::MAX (see its invariant).
        self.since.map_or(Seq::ZERO, Seq::next)
    }

    /// The receive times selected (`from=`, `until=`).
    pub fn received(&self) -> TimeRange {
        self.filter.received
    }

    /// What followers of this query share with followers of an equal one.
    pub fn share_key(&self) -> ShareKey {
        // Where a follower starts is its own; what it is sent is shared.
        let Query {
            limit: _,
            format,
            filter,
            since: _,
        } = self;
        ShareKey {
            format: *format,
            filter: filter.clone(),
        }
    }
}

/// One query parameter: its name, and what its value does to the query
/// (`now_us` is the time an age counts back from). Every parameter is a
/// row of [`PARAMS`], and nothing else names it: parsing looks the name up
/// there, and the `400` of an unknown one lists them all. What the value
/// sets, the [`Filter`] tests ([`Filter::matches_fields`]), skips
/// ([`Filter::ignores_fields`]) and shares ([`Query::share_key`]) by
/// destructuring every field, so a field added for a new parameter is not
/// built until each of them says what it does with it.
struct Param {
    name: &'static str,
    set: fn(&mut Query, &'static str, Vec<u8>, i64) -> Result<(), QueryError>,
}

/// Every parameter, in the order the `400` of an unknown one lists them.
/// At most 64 (a repeated one is found by a bit per row).
const PARAMS: &[Param] = &[
    Param {
        name: "l",
        set: |q, param, value, _| {
            q.limit = match &value[..] {
                b"-1" => None,
                _ => Some(count(param, &value, "a number of messages, or -1 for all")?),
            };
            Ok(())
        },
    },
    Param {
        name: "fmt",
        set: |q, param, value, _| {
            q.format = match &value[..] {
                b"syslog" => OutputFormat::Syslog,
                b"json" => OutputFormat::Json,
                b"raw" => OutputFormat::Raw,
                _ => return Err(bad(param, &value, &format!("expected {FORMATS}"))),
            };
            Ok(())
        },
    },
    Param {
        name: "sev",
        set: |q, param, value, _| {
            q.filter.severities = severities(param, &value)?;
            Ok(())
        },
    },
    Param {
        name: "fac",
        set: |q, param, value, _| {
            q.filter.facilities = facilities(param, &value)?;
            Ok(())
        },
    },
    Param {
        name: "host",
        set: |q, param, value, _| {
            q.filter.host = Some(names(param, &value, Field::Host)?);
            Ok(())
        },
    },
    Param {
        name: "app",
        set: |q, param, value, _| {
            q.filter.app = Some(names(param, &value, Field::App)?);
            Ok(())
        },
    },
    Param {
        name: "grep",
        // An empty needle matches every message, like `grep ''`.
        set: |q, _, value, _| {
            q.filter.grep = Some(memmem::Finder::new(&value).into_owned());
            Ok(())
        },
    },
    Param {
        name: "not",
        // And so `not=` matches none, like `grep -v ''`.
        set: |q, _, value, _| {
            q.filter.not = Some(memmem::Finder::new(&value).into_owned());
            Ok(())
        },
    },
    Param {
        name: "re",
        set: |q, param, value, _| {
            q.filter.re = Some(regex(param, &value)?);
            Ok(())
        },
    },
    Param {
        name: "unit",
        set: |q, param, value, _| {
            q.filter.unit = Some(units(param, &value)?);
            Ok(())
        },
    },
    Param {
        name: "pid",
        set: |q, param, value, _| {
            q.filter.pid = Some(ids(param, &value)?);
            Ok(())
        },
    },
    Param {
        name: "uid",
        set: |q, param, value, _| {
            q.filter.uid = Some(ids(param, &value)?);
            Ok(())
        },
    },
    Param {
        name: "since",
        set: |q, param, value, _| {
            let seq = count(param, &value, "a seq, 0 or more")?;
            if seq == u64::MAX {
                // Nothing can come after the last seq there is; the caller
                // would otherwise compute `since + 1`.
                return Err(bad(param, &value, "no seq comes after it"));
            }
            q.since = Some(Seq::new(seq));
            Ok(())
        },
    },
    Param {
        name: "from",
        set: |q, param, value, now_us| {
            q.filter.received.from_us = Some(time(param, &value, now_us)?);
            Ok(())
        },
    },
    Param {
        name: "until",
        set: |q, param, value, now_us| {
            q.filter.received.until_us = Some(time(param, &value, now_us)?);
            Ok(())
        },
    },
];

const _: () = assert!(PARAMS.len() <= 64, "a u64 of seen parameters");

/// The names of [`PARAMS`], for a person: `l, fmt, … or until`.
fn param_names() -> String {
    let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `sev=`: the mask of severities kept, `None` for all of them.
fn severities(param: &str, value: &[u8]) -> Result<Option<u8>, QueryError> {
    let (negated, name) = match value.strip_prefix(b"!") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let sev = std::str::from_utf8(name)
        .ok()
        .and_then(|t| syslog::severity_from_name(&t.to_ascii_lowercase()))
        .ok_or_else(|| bad(param, value, &format!("expected {SEVERITIES}")))?;
    // Bits 0..=sev: severities are more important when smaller.
    let at_or_above = ((1u16 << (sev + 1)) - 1) as u8;
    let mask = if negated { !at_or_above } else { at_or_above };
    Ok((mask != u8::MAX).then_some(mask))
}

/// `fac=`: the mask of facilities kept, `None` for all of them.
fn facilities(param: &str, value: &[u8]) -> Result<Option<u32>, QueryError> {
    let (negated, items) = list(param, value)?;
    let mut mask = 0u32;
    for item in items {
        let fac = std::str::from_utf8(item)
            .ok()
            .and_then(|t| syslog::facility_from_name(&t.to_ascii_lowercase()))
            .filter(|&f| f < 24)
            .ok_or_else(|| bad(param, item, &format!("expected {FACILITIES}")))?;
        mask |= 1 << fac;
    }
    if negated {
        mask = !mask & ALL_FACILITIES;
    }
    Ok((mask != ALL_FACILITIES).then_some(mask))
}

/// `host=`, `app=`: the names listed, of `field`.
fn names(param: &str, value: &[u8], field: Field) -> Result<Names, QueryError> {
    let (negated, items) = list(param, value)?;
    let mut nil = false;
    let mut names: Vec<Box<[u8]>> = Vec::new();
    for item in items {
        if item == b"-" {
            nil = true;
        } else {
            names.push(item.into());
        }
    }
    names.sort_unstable();
    names.dedup();
    let one = match &names[..] {
        [name] if !negated && !nil => Some(memmem::Finder::new(&name[..]).into_owned()),
        _ => None,
    };
    let mut listed = Names {
        negated,
        nil,
        names: names.into_boxed_slice(),
        one,
        bits: Box::default(),
        tags: Box::default(),
        local: false,
    };
    listed.hashed(field);
    Ok(listed)
}

/// The kinds of unit a name may end in; one that ends in none is a
/// service's, as `journalctl -u` reads it.
const UNIT_KINDS: [&str; 11] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// `unit=`: the units listed, each with its kind.
fn units(param: &str, value: &[u8]) -> Result<Names, QueryError> {
    let mut listed = names(param, value, Field::Unit)?;
    let mut names: Vec<Box<[u8]>> = listed
        .names
        .iter()
        .map(|name| {
            let kind = name.rsplit(|&b| b == b'.').next().unwrap_or_default();
            let has_kind =
                name.len() > kind.len() && UNIT_KINDS.iter().any(|k| k.as_bytes() == kind);
            match has_kind {
                true => name.clone(),
                false => [&name[..], b".service"].concat().into_boxed_slice(),
            }
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    listed.names = names.into_boxed_slice();
    listed.hashed(Field::Unit);
    Ok(listed)
}

/// `pid=`, `uid=`: the numbers listed.
fn ids(param: &str, value: &[u8]) -> Result<Ids, QueryError> {
    let (negated, items) = list(param, value)?;
    let mut ids = items
        .iter()
        .map(|item| {
            std::str::from_utf8(item)
                .ok()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| {
                    bad(
                        param,
                        value,
                        "expected numbers separated by commas, ! in front for all but those",
                    )
                })
        })
        .collect::<Result<Vec<u32>, QueryError>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(Ids {
        negated,
        ids: ids.into_boxed_slice(),
    })
}

/// `from=`, `until=`: µs since 1970.
fn time(param: &str, value: &[u8], now_us: i64) -> Result<i64, QueryError> {
    time::parse_time(value, now_us).map_err(|e| bad(param, value, &e.to_string()))
}

/// A count or seq: digits, at most `u64::MAX`.
fn count(param: &str, value: &[u8], what: &str) -> Result<u64, QueryError> {
    let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
    let parsed = std::str::from_utf8(value)
        .ok()
        .filter(|_| digits)
        .map(str::parse::<u64>);
    match parsed {
        Some(Ok(n)) => Ok(n),
        Some(Err(e)) if *e.kind() == IntErrorKind::PosOverflow => {
            Err(bad(param, value, &format!("more than {}", u64::MAX)))
        }
        _ => Err(bad(param, value, &format!("expected {what}"))),
    }
}

/// A list value: a leading `!` negating it, then items separated by commas,
/// at least one, none empty.
fn list<'v>(param: &str, value: &'v [u8]) -> Result<(bool, Vec<&'v [u8]>), QueryError> {
    let (negated, rest) = match value.strip_prefix(b"!") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if rest.is_empty() {
        let expected = match param {
            "fac" => FACILITIES,
            "pid" | "uid" => "numbers separated by commas, ! in front for all but those",
            _ => "names separated by commas, - for none, ! in front for all but those",
        };
        let what = if negated {
            "an empty list after !: "
        } else {
            ""
        };
        return Err(bad(param, value, &format!("{what}expected {expected}")));
    }
    let items: Vec<&[u8]> = rest.split(|&b| b == b',').collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(bad(param, value, "an empty item in the list"));
    }
    Ok((negated, items))
}

/// Compiles `re=`, refusing a pattern that would compile to more than
/// [`RE_BYTES`].
fn regex(param: &str, value: &[u8]) -> Result<Regex, QueryError> {
    let Ok(pattern) = std::str::from_utf8(value) else {
        return Err(bad(
            param,
            value,
            "a pattern is UTF-8 text; write a byte as (?-u:\\xFF)",
        ));
    };
    RegexBuilder::new(pattern)
        .size_limit(RE_BYTES)
        .dfa_size_limit(RE_DFA_BYTES)
        .build()
        .map_err(|e| {
            let why = match e {
                regex::Error::CompiledTooBig(limit) => {
                    format!("too big once compiled (more than {limit} bytes)")
                }
                // The crate's text points at the spot over several lines;
                // its last line says what is wrong.
                regex::Error::Syntax(text) => {
                    let last = text.lines().last().unwrap_or("");
                    last.strip_prefix("error: ").unwrap_or(last).to_string()
                }
                other => other.to_string(),
            };
            bad(param, value, &why)
        })
}

/// A time of `from=` or `until=` for an error message, RFC 3339 in UTC.
fn show_time(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{us} µs since 1970"),
    }
}

fn bad(param: &str, value: &[u8], expected: &str) -> QueryError {
    QueryError(format!("bad {param} {}: {expected}", echo(value)))
}

/// A value quoted for an error message: lossy UTF-8, control characters
/// escaped (so the reason stays one line), at most [`ECHO_MAX`] characters.
fn echo(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut cut: String = text.chars().take(ECHO_MAX).collect();
    if text.chars().nth(ECHO_MAX).is_some() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// Why a component could not be percent-decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError;

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad percent-encoding (expected % followed by two hex digits)")
    }
}

/// Decodes `%XX` escapes and `+` (a space) of one query component.
pub(crate) fn percent_decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&b| hex_value(b));
                let lo = bytes.get(i + 2).and_then(|&b| hex_value(b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(DecodeError),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes `s` as one query component (a name or a value): every
/// byte except the RFC 3986 unreserved characters `A-Z a-z 0-9 - . _ ~`
/// becomes `%XX`, so the result decodes back to `s` with [`Query::parse`]'s
/// rules (including `+`, which is encoded).
pub fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use proptest::prelude::*;

    use super::*;
    use crate::ingest::syslog::{Format, Sent};

    /// 2026-12-01T05:00:00Z.
    const NOW: i64 = 1_796_101_200_000_000;

    fn msg<'a>(
        facility: u8,
        severity: u8,
        host: Option<&'a [u8]>,
        app: Option<&'a [u8]>,
        text: &'a [u8],
    ) -> Message<'a> {
        Message {
            facility,
            severity,
            timestamp: None,
            hostname: host,
            app_name: app,
            proc_id: None,
            msg_id: None,
            structured_data: None,
            message: text,
            format: Format::Rfc5424,
        }
    }

    fn parse(q: &str) -> Query {
        Query::parse(q, NOW).unwrap_or_else(|e| panic!("{q:?}: {e}"))
    }

    /// Whether `q` selects `m`, received now.
    fn selects(q: &str, m: &Message<'_>) -> bool {
        parse(q).filter.matches(NOW, m)
    }

    fn err(q: &str) -> String {
        match Query::parse(q, NOW) {
            Ok(_) => panic!("{q:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn hash_of(key: &impl Hash) -> u64 {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    }

    #[test]
    fn empty_query_selects_everything() {
        let q = parse("");
        assert_eq!(q.limit, None);
        assert_eq!(q.format, OutputFormat::Syslog);
        assert_eq!(q.since(), None);
        assert_eq!(q.first_seq(), Seq::ZERO);
        assert_eq!(q.received(), TimeRange::default());
        assert!(q.filter.matches_all());
        assert!(q.filter.matches(i64::MIN, &msg(23, 7, None, None, b"")));
        // Stray separators are ignored.
        assert!(parse("&&").filter.matches_all());
    }

    #[test]
    fn limit() {
        assert_eq!(parse("l=10").limit, Some(10));
        assert_eq!(parse("l=0").limit, Some(0));
        assert_eq!(parse("l=-1").limit, None);
        assert_eq!(parse("l=18446744073709551615").limit, Some(u64::MAX));
        assert!(err("l=-2").starts_with("bad l \"-2\": expected a number"));
        assert!(err("l=ten").starts_with("bad l \"ten\""));
        assert!(err("l=").starts_with("bad l \"\""));
        assert!(err("l=%2B5").starts_with("bad l \"+5\""));
        assert_eq!(
            err("l=18446744073709551616"),
            "bad l \"18446744073709551616\": more than 18446744073709551615"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(parse("fmt=json").format, OutputFormat::Json);
        assert_eq!(parse("fmt=raw").format, OutputFormat::Raw);
        assert_eq!(parse("fmt=syslog").format, OutputFormat::Syslog);
        assert_eq!(
            err("fmt=xml"),
            "bad fmt \"xml\": expected syslog, json or raw"
        );
        for f in [OutputFormat::Syslog, OutputFormat::Json, OutputFormat::Raw] {
            assert_eq!(parse(&format!("fmt={}", f.name())).format, f);
        }
    }

    #[test]
    fn severity_at_or_above() {
        let q = parse("sev=warning");
        assert!(q.filter.matches(NOW, &msg(1, 0, None, None, b"")));
        assert!(q.filter.matches(NOW, &msg(1, 4, None, None, b"")));
        assert!(!q.filter.matches(NOW, &msg(1, 5, None, None, b"")));
        for (name, n) in [
            ("err", 3),
            ("error", 3),
            ("warn", 4),
            ("WARNING", 4),
            ("7", 7),
            ("0", 0),
            ("emerg", 0),
        ] {
            let q = parse(&format!("sev={name}"));
            for sev in 0..8 {
                assert_eq!(
                    q.filter.matches(NOW, &msg(1, sev, None, None, b"")),
                    sev <= n,
                    "sev={name} on {sev}"
                );
            }
        }
        // Everything at or above debug is everything.
        assert!(parse("sev=debug").filter.matches_all());
        assert_eq!(
            err("sev=loud"),
            "bad sev \"loud\": expected emerg, alert, crit, err, warning, notice, info, debug \
             or 0-7, ! in front for those less severe"
        );
        assert!(err("sev=8").starts_with("bad sev \"8\""));
        assert!(err("sev=").starts_with("bad sev \"\""));
        // One level, not a list.
        assert!(err("sev=err,crit").starts_with("bad sev \"err,crit\""));
        // A severity the parser cannot produce is not selected, not a panic.
        assert!(
            !parse("sev=!emerg")
                .filter
                .matches(NOW, &msg(1, 9, None, None, b""))
        );
    }

    #[test]
    fn negated_severity_is_less_severe() {
        let q = parse("sev=!err");
        for sev in 0..8 {
            assert_eq!(
                q.filter.matches(NOW, &msg(1, sev, None, None, b"")),
                sev > 3,
                "{sev}"
            );
        }
        assert_eq!(parse("sev=!err"), parse("sev=%213"));
        // Nothing is less severe than debug.
        let none = parse("sev=!debug");
        assert!(!none.filter.matches_all());
        assert!((0..8).all(|s| !none.filter.matches(NOW, &msg(1, s, None, None, b""))));
        assert!(err("sev=!").starts_with("bad sev \"!\""));
        assert!(err("sev=!!err").starts_with("bad sev \"!!err\""));
    }

    #[test]
    fn facilities() {
        let q = parse("fac=kern,local0,3");
        assert!(q.filter.matches(NOW, &msg(0, 6, None, None, b"")));
        assert!(q.filter.matches(NOW, &msg(16, 6, None, None, b"")));
        assert!(q.filter.matches(NOW, &msg(3, 6, None, None, b"")));
        assert!(!q.filter.matches(NOW, &msg(1, 6, None, None, b"")));
        // A facility the parser cannot produce is not selected, not a panic.
        assert!(!q.filter.matches(NOW, &msg(200, 6, None, None, b"")));
        // An encoded comma still separates: the value is decoded first.
        assert!(selects("fac=kern%2Cuser", &msg(1, 6, None, None, b"")));
        assert_eq!(parse("fac=KERN,User"), parse("fac=0,1"));
        assert_eq!(err("fac=24").split(':').next(), Some("bad fac \"24\""));
        assert!(err("fac=kern,bogus").starts_with("bad fac \"bogus\": expected facility names"));
    }

    #[test]
    fn negated_facilities_are_all_the_others() {
        let q = parse("fac=!auth,authpriv");
        for fac in 0..24 {
            assert_eq!(
                q.filter.matches(NOW, &msg(fac, 6, None, None, b"")),
                fac != 4 && fac != 10,
                "{fac}"
            );
        }
        assert_eq!(parse("fac=!auth,authpriv"), parse("fac=%21auth%2Cauthpriv"));
        // Every facility listed is no facility left out.
        let all: Vec<String> = (0..24).map(|f| f.to_string()).collect();
        assert!(
            parse(&format!("fac={}", all.join(",")))
                .filter
                .matches_all()
        );
        let none = parse(&format!("fac=!{}", all.join(",")));
        assert!((0..24).all(|f| !none.filter.matches(NOW, &msg(f, 6, None, None, b""))));
    }

    #[test]
    fn lists_that_are_empty_or_have_an_empty_item() {
        for p in ["fac", "host", "app"] {
            for (value, reason) in [
                ("", "expected "),
                ("!", "an empty list after !: expected "),
                ("a,,b", "an empty item in the list"),
                ("a,", "an empty item in the list"),
                (",a", "an empty item in the list"),
                ("!,a", "an empty item in the list"),
                ("%2C", "an empty item in the list"),
            ] {
                let e = err(&format!("{p}={value}"));
                let shown = percent_decode(value).unwrap();
                let want = format!("bad {p} {}: {reason}", echo(&shown));
                assert!(e.starts_with(&want), "{p}={value}: {e}");
            }
        }
        assert_eq!(
            err("app="),
            "bad app \"\": expected names separated by commas, - for none, ! in front for all \
             but those"
        );
    }

    #[test]
    fn host_and_app_exact() {
        let q = parse("host=web1&app=nginx");
        assert!(
            q.filter
                .matches(NOW, &msg(1, 6, Some(b"web1"), Some(b"nginx"), b""))
        );
        assert!(
            !q.filter
                .matches(NOW, &msg(1, 6, Some(b"web10"), Some(b"nginx"), b""))
        );
        assert!(
            !q.filter
                .matches(NOW, &msg(1, 6, Some(b"web1"), Some(b"Nginx"), b""))
        );
        assert!(!q.filter.matches(NOW, &msg(1, 6, None, Some(b"nginx"), b"")));
        let nil = parse("host=-");
        assert!(nil.filter.matches(NOW, &msg(1, 6, None, None, b"")));
        assert!(
            !nil.filter
                .matches(NOW, &msg(1, 6, Some(b"web1"), None, b""))
        );
        // Non-UTF-8 bytes are matched as bytes.
        assert!(selects("app=%FFx", &msg(1, 6, None, Some(b"\xffx"), b"")));
    }

    #[test]
    fn host_and_app_lists() {
        let q = parse("app=sshd,nginx");
        assert!(q.filter.matches(NOW, &msg(1, 6, None, Some(b"sshd"), b"")));
        assert!(q.filter.matches(NOW, &msg(1, 6, None, Some(b"nginx"), b"")));
        assert!(!q.filter.matches(NOW, &msg(1, 6, None, Some(b"cron"), b"")));
        assert!(!q.filter.matches(NOW, &msg(1, 6, None, None, b"")));

        let not = parse("app=!cron,anacron");
        assert!(
            !not.filter
                .matches(NOW, &msg(1, 6, None, Some(b"cron"), b""))
        );
        assert!(
            !not.filter
                .matches(NOW, &msg(1, 6, None, Some(b"anacron"), b""))
        );
        assert!(
            not.filter
                .matches(NOW, &msg(1, 6, None, Some(b"sshd"), b""))
        );
        // A message without an app-name is not cron either.
        assert!(not.filter.matches(NOW, &msg(1, 6, None, None, b"")));

        // `-` in a list is the messages without the field.
        let q = parse("host=-,web1");
        assert!(q.filter.matches(NOW, &msg(1, 6, None, None, b"")));
        assert!(q.filter.matches(NOW, &msg(1, 6, Some(b"web1"), None, b"")));
        assert!(!q.filter.matches(NOW, &msg(1, 6, Some(b"web2"), None, b"")));
        let named = parse("host=!-");
        assert!(!named.filter.matches(NOW, &msg(1, 6, None, None, b"")));
        assert!(
            named
                .filter
                .matches(NOW, &msg(1, 6, Some(b"web2"), None, b""))
        );

        // Order and repeats make no difference; an encoded `!` negates.
        assert_eq!(parse("app=b,a,b"), parse("app=a,b"));
        assert_eq!(parse("app=%21a%2Cb"), parse("app=!a,b"));
        assert_ne!(parse("app=a,b"), parse("app=!a,b"));
        assert_ne!(parse("app=a"), parse("host=a"));
        // Only a leading `!` negates.
        assert!(selects("app=a,!b", &msg(1, 6, None, Some(b"!b"), b"")));
    }

    /// On a host named `here`, a message from a local socket without a
    /// hostname is here's, as it is shown; one by the network without a
    /// hostname has none.
    #[test]
    fn a_local_message_without_a_hostname_is_this_hosts() {
        let local = Fields {
            sent: Sent {
                local: true,
                ..Sent::default()
            },
            ..Fields::from(&msg(1, 6, None, Some(b"app"), b"text"))
        };
        let remote = Fields::from(&msg(1, 6, None, Some(b"app"), b"text"));
        let named = Fields::from(&msg(1, 6, Some(b"here"), Some(b"app"), b"text"));
        let other = Fields::from(&msg(1, 6, Some(b"web1"), Some(b"app"), b"text"));
        let selected = |q: &str| {
            let f = parse(q).filter.on_host(Some(b"here"));
            [local, remote, named, other].map(|m| f.matches_fields(NOW, &m))
        };
        assert_eq!(selected("host=here"), [true, false, true, false]);
        assert_eq!(selected("host=-"), [false, true, false, false]);
        assert_eq!(selected("host=!here"), [false, true, false, true]);
        assert_eq!(selected("host=web1,-"), [false, true, false, true]);
        assert_eq!(selected("app=app"), [true; 4], "host= alone looks");
        // Not searched for as the name's bytes: the local ones lack them.
        assert!(parse("host=here").filter.needle().is_some());
        assert!(
            parse("host=here")
                .filter
                .on_host(Some(b"here"))
                .needle()
                .is_none()
        );
        assert!(
            parse("host=web1")
                .filter
                .on_host(Some(b"here"))
                .needle()
                .is_some()
        );
        // Without the host's name, the field as it is.
        let f = parse("host=-").filter;
        assert!(f.matches_fields(NOW, &local));
        assert_ne!(
            f,
            f.clone().on_host(Some(b"here")),
            "not shared across hosts"
        );
    }

    /// Fields of a message from a local sender.
    fn sent<'a>(
        pid: Option<u32>,
        uid: Option<u32>,
        unit: Option<&'a [u8]>,
        proc_id: Option<&'a [u8]>,
    ) -> Fields<'a> {
        Fields {
            proc_id,
            sent: Sent {
                pid,
                uid,
                unit,
                local: true,
            },
            ..Fields::from(&msg(1, 6, None, Some(b"app"), b"text"))
        }
    }

    fn selects_fields(q: &str, f: &Fields<'_>) -> bool {
        parse(q).filter.matches_fields(NOW, f)
    }

    #[test]
    fn unit_as_journalctl_reads_it() {
        let nginx = sent(Some(7), Some(0), Some(b"nginx.service"), None);
        let session = sent(Some(8), Some(1000), Some(b"session-4.scope"), None);
        let getty = sent(Some(9), Some(0), Some(b"getty@tty1.service"), None);
        let none = sent(Some(10), Some(0), None, None);
        let udp = sent(None, None, None, Some(b"7"));
        for q in [
            "unit=nginx",
            "unit=nginx.service",
            "unit=cron,nginx",
            "unit=nginx,nginx.service",
        ] {
            assert!(selects_fields(q, &nginx), "{q}");
            assert!(!selects_fields(q, &session), "{q}");
            assert!(!selects_fields(q, &none), "{q}");
        }
        assert!(selects_fields("unit=session-4.scope", &session));
        assert!(
            !selects_fields("unit=session-4", &session),
            "session-4.service"
        );
        assert!(selects_fields("unit=getty@tty1", &getty));
        // A dot that is no kind's is part of the name.
        assert_eq!(parse("unit=a.b"), parse("unit=a.b.service"));
        assert_eq!(
            parse("unit=nginx,cron"),
            parse("unit=cron.service,nginx.service")
        );
        // Negated: the rest, those in no unit and those of no local sender too.
        assert!(!selects_fields("unit=!nginx", &nginx));
        assert!(selects_fields("unit=!nginx", &session));
        assert!(selects_fields("unit=!nginx", &none));
        assert!(selects_fields("unit=!nginx", &udp));
        // `-`: in no unit.
        assert!(selects_fields("unit=-", &none));
        assert!(!selects_fields("unit=-", &nginx));
        assert!(selects_fields("unit=!-", &nginx));
        assert!(err("unit=").starts_with("bad unit"));
        assert!(err("unit=a,,b").contains("an empty item"));
    }

    #[test]
    fn pid_and_uid_from_the_credentials_else_procid() {
        let local = sent(Some(7), Some(1000), None, Some(b"99"));
        let udp = sent(None, None, None, Some(b"99"));
        let odd = sent(None, None, None, Some(b"worker-3"));
        let huge = sent(None, None, None, Some(b"99999999999"));
        assert!(selects_fields("pid=7", &local));
        assert!(!selects_fields("pid=99", &local), "the kernel's word first");
        assert!(selects_fields("pid=99", &udp));
        assert!(selects_fields("pid=1,99", &udp));
        assert!(!selects_fields("pid=99", &odd));
        assert!(!selects_fields("pid=99", &huge));
        assert!(selects_fields("pid=!99", &odd));
        assert!(!selects_fields("pid=!7", &local));
        assert!(selects_fields("uid=1000", &local));
        assert!(selects_fields("uid=0,1000", &local));
        assert!(
            !selects_fields("uid=1000", &udp),
            "no uid without credentials"
        );
        assert!(selects_fields("uid=!0", &udp));
        assert!(!selects_fields("uid=!1000", &local));
        assert_eq!(parse("pid=2,1,2"), parse("pid=1,2"));
        assert_ne!(parse("pid=1"), parse("uid=1"));
        for bad in [
            "pid=x",
            "pid=-1",
            "pid=4294967296",
            "uid=1,a",
            "uid=+1",
            "pid=",
        ] {
            let e = err(bad);
            assert!(e.contains("numbers separated by commas"), "{bad}: {e}");
        }
    }

    #[test]
    fn grep_bytes_case_sensitive() {
        let q = parse("grep=disk+full");
        assert!(
            q.filter
                .matches(NOW, &msg(1, 6, None, None, b"error: disk full on /"))
        );
        assert!(
            !q.filter
                .matches(NOW, &msg(1, 6, None, None, b"error: Disk full on /"))
        );
        assert!(!q.filter.matches(NOW, &msg(1, 6, None, None, b"disk+full")));
        assert!(selects("grep=a%2Bb%00", &msg(1, 6, None, None, b"xa+b\0y")));
        assert!(selects("grep=", &msg(1, 6, None, None, b"")));
        assert!(selects("grep", &msg(1, 6, None, None, b"x")));
    }

    #[test]
    fn not_is_does_not_contain() {
        let q = parse("not=disk");
        assert!(
            !q.filter
                .matches(NOW, &msg(1, 6, None, None, b"a disk is full"))
        );
        assert!(
            q.filter
                .matches(NOW, &msg(1, 6, None, None, b"a Disk is full"))
        );
        assert!(q.filter.matches(NOW, &msg(1, 6, None, None, b"")));
        // With grep, both hold.
        let q = parse("grep=full&not=disk");
        assert!(q.filter.matches(NOW, &msg(1, 6, None, None, b"queue full")));
        assert!(!q.filter.matches(NOW, &msg(1, 6, None, None, b"disk full")));
        // Every message contains the empty text, like `grep -v ''`.
        assert!(!selects("not=", &msg(1, 6, None, None, b"x")));
        assert_ne!(parse("grep=x"), parse("not=x"));
    }

    #[test]
    fn regular_expressions() {
        let q = parse("re=%5Efail(ed%7Cure)%3F%24");
        assert!(q.filter.matches(NOW, &msg(1, 6, None, None, b"failed")));
        assert!(q.filter.matches(NOW, &msg(1, 6, None, None, b"fail")));
        assert!(!q.filter.matches(NOW, &msg(1, 6, None, None, b"a failure")));
        let i = parse("re=(?i)disk+full");
        assert!(i.filter.matches(NOW, &msg(1, 6, None, None, b"DISK FULL")));
        // Bytes that are not UTF-8 are searched too.
        assert!(selects(
            "re=(?-u:%5Cxff)x",
            &msg(1, 6, None, None, b"\xffx")
        ));
        assert!(selects("re=b", &msg(1, 6, None, None, b"\xffb")));
        assert_eq!(parse("re=a%2B"), parse("re=a%2b"));
        assert_ne!(parse("re=a%2B"), parse("re=aa*"));
        // `+` is a space, as everywhere in a query string.
        assert!(selects("re=a+b", &msg(1, 6, None, None, b"a b")));
    }

    #[test]
    fn bad_regular_expressions_are_one_line() {
        assert_eq!(err("re=("), "bad re \"(\": unclosed group");
        assert_eq!(
            err("re=a%7B2%2C1%7D"),
            "bad re \"a{2,1}\": invalid repetition count range, the start must be <= the end"
        );
        assert_eq!(
            err("re=%5Cw%7B100%7D"),
            "bad re \"\\\\w{100}\": too big once compiled (more than 1048576 bytes)"
        );
        assert!(err("re=a%7B1000%7D%7B1000%7D").contains("too big once compiled"));
        assert!(err("re=%FF").starts_with("bad re \"\u{fffd}\": a pattern is UTF-8 text"));
        // What a person would write still compiles.
        for ok in [
            "%5Cw%7B10%7D",
            "%5CpL%7B20%7D",
            "(?i)error%7Cfail(ed%7Cure)",
            "%5Cd%7B1%2C3%7D(%5C.%5Cd%7B1%2C3%7D)%7B3%7D",
        ] {
            assert!(Query::parse(&format!("re={ok}"), NOW).is_ok(), "{ok}");
        }
    }

    #[test]
    fn from_and_until_bound_the_receive_time() {
        let q = parse("from=2026-12-01T04:00:00Z&until=2026-12-01T05:00:00%2B01:00");
        let from = NOW - 3_600_000_000;
        assert_eq!(
            q.received(),
            TimeRange {
                from_us: Some(from),
                until_us: Some(from),
            }
        );
        // from included, until not: this one selects nothing, and says so
        // only by selecting nothing.
        let m = msg(1, 6, None, None, b"");
        assert!(!q.filter.matches(from, &m));
        let q = parse("from=1h&until=2026-12-01T04:30:00Z");
        assert_eq!(q.received().from_us, Some(from));
        assert!(q.filter.matches(from, &m));
        assert!(q.filter.matches(from + 1_799_999_999, &m));
        assert!(!q.filter.matches(from + 1_800_000_000, &m));
        assert!(!q.filter.matches(from - 1, &m));
        assert!(!q.filter.matches_all());
        assert!(q.filter.ignores_fields());
        // Ages count back from the time given to parse.
        assert_eq!(
            Query::parse("until=30s", 1_000_000_000)
                .unwrap()
                .received()
                .until_us,
            Some(970_000_000)
        );
        for (age, us) in [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86_400)] {
            assert_eq!(
                parse(&format!("from={age}")).received().from_us,
                Some(NOW - us * 1_000_000),
                "{age}"
            );
        }
    }

    #[test]
    fn bad_times() {
        assert_eq!(
            err("from=2026-12-01T05:00:00"),
            "bad from \"2026-12-01T05:00:00\": a time needs its offset: Z for UTC or the zone's \
             like +01:00 (2026-12-01T05:00:00Z)"
        );
        assert_eq!(
            err("until=10x"),
            "bad until \"10x\": unknown unit: an age is in s, m, h or d (30s, 10m, 2h, 1d)"
        );
        assert!(err("from=10").starts_with("bad from \"10\": an age needs a unit"));
        assert!(err("from=").starts_with("bad from \"\": expected an RFC 3339 time"));
        assert!(
            err("until=99999999999999999d")
                .starts_with("bad until \"99999999999999999d\": an age too long")
        );
        // A `+` not encoded is a space.
        assert!(
            err("from=2026-12-01T06:00:00+01:00")
                .starts_with("bad from \"2026-12-01T06:00:00 01:00\"")
        );
        assert_eq!(
            err("from=1h&until=2h"),
            "from (2026-12-01T04:00:00Z) is later than until (2026-12-01T03:00:00Z): \
             no message can match"
        );
        // The same time for both is an empty range, not a mistake.
        assert!(Query::parse("from=1h&until=60m", NOW).is_ok());
    }

    #[test]
    fn combined_filters() {
        let q = parse("sev=err&fac=auth&grep=fail&l=5&since=42&fmt=json&app=!cron&not=ok");
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.since(), Some(Seq::new(42)));
        assert_eq!(q.first_seq(), Seq::new(43));
        assert_eq!(q.format, OutputFormat::Json);
        assert!(!q.filter.matches_all());
        assert!(
            q.filter
                .matches(NOW, &msg(4, 3, None, None, b"login failed"))
        );
        assert!(
            !q.filter
                .matches(NOW, &msg(4, 4, None, None, b"login failed"))
        );
        assert!(
            !q.filter
                .matches(NOW, &msg(10, 3, None, None, b"login failed"))
        );
        assert!(!q.filter.matches(NOW, &msg(4, 3, None, None, b"login ok")));
        assert!(
            !q.filter
                .matches(NOW, &msg(4, 3, None, Some(b"cron"), b"login failed"))
        );
        assert!(
            !q.filter
                .matches(NOW, &msg(4, 3, None, None, b"login failed, ok"))
        );
    }

    #[test]
    fn since_and_the_seq_after_it() {
        assert_eq!(parse("since=0").since(), Some(Seq::ZERO));
        assert_eq!(parse("since=0").first_seq(), Seq::new(1));
        let last = parse("since=18446744073709551614");
        assert_eq!(last.first_seq(), Seq::MAX);
        // Nothing comes after the last seq there is: the caller must not
        // have to compute it (issue 13, defect 8).
        assert_eq!(
            err("since=18446744073709551615"),
            "bad since \"18446744073709551615\": no seq comes after it"
        );
        assert!(
            err("since=18446744073709551616")
                .starts_with("bad since \"18446744073709551616\": more than")
        );
        assert!(err("since=-1").starts_with("bad since \"-1\""));
        assert!(err("since=").starts_with("bad since \"\""));
    }

    #[test]
    fn unknown_repeated_and_badly_encoded() {
        assert_eq!(
            err("lines=5"),
            "unknown parameter \"lines\": expected l, fmt, sev, fac, host, app, grep, not, re, \
             unit, pid, uid, since, from or until"
        );
        assert_eq!(err("l=1&l=2"), "repeated parameter \"l\"");
        assert_eq!(
            err("sev=err&fmt=json&sev=err"),
            "repeated parameter \"sev\""
        );
        assert_eq!(
            err("from=1h&until=1m&from=2h"),
            "repeated parameter \"from\""
        );
        assert_eq!(err("re=a&re=b"), "repeated parameter \"re\"");
        assert!(err("grep=%4").starts_with("bad grep \"%4\": bad percent-encoding"));
        assert!(err("grep=%zz").starts_with("bad grep"));
        assert!(err("%=1").starts_with("bad parameter name"));
        // Encoded names are decoded.
        assert_eq!(parse("%6C=3").limit, Some(3));
    }

    #[test]
    fn errors_stay_one_short_line() {
        let e = err("host=&x=1");
        assert!(!e.contains('\n'));
        let e = err(&format!("fmt={}%0A", "y".repeat(500)));
        assert!(!e.contains('\n'), "{e}");
        assert!(e.len() < 200, "{e}");
        let e = err("fmt=%FF%0D%0A");
        assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
        let e = err(&format!("re=%0A(%0A{}", "x".repeat(500)));
        assert!(!e.contains('\n') && e.len() < 200, "{e}");
    }

    #[test]
    fn share_key_is_format_and_filter() {
        let a = parse("fmt=json&app=b,a&sev=3&from=2026-12-01T04:00:00Z&re=x&l=5&since=9");
        let b = parse("since=1&re=x&sev=err&app=a,b&from=1h&fmt=json");
        assert_ne!(a, b);
        assert_eq!(a.share_key(), b.share_key());
        assert_eq!(hash_of(&a.share_key()), hash_of(&b.share_key()));
        for other in [
            "fmt=raw&app=b,a&sev=3&from=1h&re=x",
            "fmt=json&app=b,a&sev=3&from=1h&re=y",
            "fmt=json&app=b,a&sev=2&from=1h&re=x",
            "fmt=json&app=b&sev=3&from=1h&re=x",
            "fmt=json&app=b,a&sev=3&from=2h&re=x",
            "fmt=json&app=b,a&sev=3&from=1h&re=x&until=0s",
            "fmt=json&app=b,a&sev=3&from=1h&re=x&grep=x",
            "fmt=json&app=b,a&sev=3&from=1h&re=x&not=x",
        ] {
            assert_ne!(a.share_key(), parse(other).share_key(), "{other}");
        }
        // An age is resolved: the same text at another time is another key.
        assert_ne!(
            Query::parse("from=1h", NOW).unwrap().share_key(),
            Query::parse("from=1h", NOW + 1).unwrap().share_key()
        );
    }

    #[test]
    fn encode_component_round_trips() {
        for s in [
            "",
            "plain",
            "a b+c&d=e%f",
            "kern,user",
            "ünïcödé",
            "~-._",
            "\n\r\0",
        ] {
            let encoded = encode_component(s);
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{encoded}"
            );
            assert_eq!(percent_decode(&encoded).unwrap(), s.as_bytes());
            assert!(selects(
                &format!("grep={encoded}"),
                &msg(1, 6, None, None, format!("<{s}>").as_bytes())
            ));
        }
        assert_eq!(encode_component("a b"), "a%20b");
    }

    /// Two values of each parameter that select differently (or format
    /// differently, or start elsewhere).
    fn two_values(name: &str) -> [&'static str; 2] {
        match name {
            "l" => ["1", "2"],
            "fmt" => ["json", "raw"],
            "sev" => ["err", "!err"],
            "fac" => ["kern", "user"],
            "host" => ["web1", "!web1"],
            "app" => ["sshd", "cron"],
            "grep" => ["disk", "fail"],
            "not" => ["disk", "fail"],
            "re" => ["^disk", "fail"],
            "unit" => ["sshd", "!sshd"],
            "pid" => ["10", "30"],
            "uid" => ["0", "!0"],
            "since" => ["1", "2"],
            "from" => ["1h", "2d"],
            "until" => ["1h", "2d"],
            other => panic!("no sample values for parameter {other}: add two here"),
        }
    }

    /// Every row of the parameter table is parsed, refused when repeated,
    /// and what it sets is skipped, matched and shared consistently: a
    /// filter that says it ignores the fields selects on the receive time
    /// alone, and two queries that select differently never share frames.
    #[test]
    fn every_parameter_is_parsed_matched_skipped_and_shared_alike() {
        let messages = [
            msg(0, 3, Some(b"web1"), Some(b"sshd"), b"disk full"),
            msg(1, 6, Some(b"web2"), Some(b"cron"), b"login failed"),
            msg(4, 2, None, None, b""),
        ];
        // Two local senders, and one that names its pid alone.
        let sent = [
            Sent {
                pid: Some(10),
                uid: Some(0),
                unit: Some(&b"sshd.service"[..]),
                local: true,
            },
            Sent {
                pid: Some(20),
                uid: Some(1000),
                unit: None,
                local: true,
            },
            Sent::default(),
        ];
        let messages: Vec<Fields<'_>> = messages
            .iter()
            .zip(sent)
            .map(|(m, sent)| Fields {
                sent,
                proc_id: m.app_name.is_none().then_some(&b"30"[..]),
                ..Fields::from(m)
            })
            .collect();
        let times = [NOW - 3 * 86_400_000_000, NOW - 5_400_000_000, NOW];
        let selects = |q: &Query| -> Vec<bool> {
            times
                .iter()
                .flat_map(|&t| messages.iter().map(move |m| (t, m)))
                .map(|(t, m)| q.filter.matches_fields(t, m))
                .collect()
        };
        for param in PARAMS {
            let [a, b] = two_values(param.name)
                .map(|v| parse(&format!("{}={}", param.name, encode_component(v))));
            assert_eq!(
                err(&format!(
                    "{0}={1}&{0}={1}",
                    param.name,
                    two_values(param.name)[0]
                )),
                format!("repeated parameter \"{}\"", param.name)
            );
            for q in [&a, &b] {
                if q.filter.ignores_fields() {
                    for &t in &times {
                        for m in &messages {
                            assert_eq!(
                                q.filter.matches_fields(t, m),
                                q.received().contains(t),
                                "{}: ignores the fields but not on {m:?}",
                                param.name
                            );
                        }
                    }
                }
            }
            let differ = selects(&a) != selects(&b) || a.format != b.format;
            if differ {
                assert_ne!(a.share_key(), b.share_key(), "{}", param.name);
            }
            assert!(
                differ || a.limit != b.limit || a.since() != b.since(),
                "{}: the two sample values make no difference",
                param.name
            );
        }
        assert!(
            err("x=1").ends_with(&format!("expected {}", param_names())),
            "the 400 lists every parameter"
        );
    }

    // Model-based properties: a query built from parts, spelled in several
    // ways, selects what the parts say.

    /// Names that can be list items: no comma, none starting with `!`, not
    /// `-`, several needing percent-encoding.
    const NAMES: [&str; 7] = ["a", "b", "web1", "x y", "é", "a+b&c=d", "-x"];
    const TEXTS: [&str; 6] = ["", "disk full", "Disk FULL", "login failed", "a+b", "é!"];
    const NEEDLES: [&str; 6] = ["", "disk", "FULL", "fail", "é", "+"];
    const PATTERNS: [&str; 6] = ["", "^disk", "(?i)full", "fail(ed)?$", "[[:upper:]]", "^$"];

    #[derive(Clone, Debug)]
    enum When {
        /// µs since 1970, written with this offset in seconds.
        At(i64, i32),
        /// A number and a unit.
        Age(u16, char),
    }

    impl When {
        fn resolve(&self, now: i64) -> i64 {
            match *self {
                When::At(us, _) => us,
                When::Age(n, unit) => {
                    let secs = match unit {
                        's' => 1,
                        'm' => 60,
                        'h' => 3600,
                        _ => 86_400,
                    };
                    now - i64::from(n) * secs * 1_000_000
                }
            }
        }

        fn text(&self) -> String {
            match *self {
                When::At(us, offset) => {
                    let t = jiff::Timestamp::from_microsecond(us).unwrap();
                    let offset = jiff::tz::Offset::from_seconds(offset).unwrap();
                    t.display_with_offset(offset).to_string()
                }
                When::Age(n, unit) => format!("{n}{unit}"),
            }
        }
    }

    /// A list: negated, and items (`None` is `-`).
    type List = (bool, Vec<Option<&'static str>>);

    #[derive(Clone, Debug)]
    struct Spec {
        limit: Option<Option<u64>>,
        fmt: Option<OutputFormat>,
        sev: Option<(bool, u8)>,
        fac: Option<(bool, Vec<u8>)>,
        host: Option<List>,
        app: Option<List>,
        grep: Option<&'static str>,
        not: Option<&'static str>,
        re: Option<&'static str>,
        since: Option<u64>,
        from: Option<When>,
        until: Option<When>,
    }

    /// How a spec is written: the order of its parameters, and spellings
    /// that must not matter.
    #[derive(Clone, Debug)]
    struct Spelling {
        order: Vec<u8>,
        numbers: bool,
        upper: bool,
        /// Repeat the first item of each list at its end.
        repeat: bool,
        reverse: bool,
    }

    fn when() -> impl Strategy<Value = When> {
        prop_oneof![
            (
                NOW - 3 * 86_400_000_000..NOW + 86_400_000_000,
                -50_400i32..=50_400
            )
                .prop_map(|(us, off)| When::At(us, off / 60 * 60)),
            (0u16..100, prop::sample::select(vec!['s', 'm', 'h', 'd']))
                .prop_map(|(n, u)| When::Age(n, u)),
        ]
    }

    fn list() -> impl Strategy<Value = List> {
        (
            any::<bool>(),
            prop::collection::vec(
                prop::option::weighted(0.8, prop::sample::select(&NAMES[..])),
                1..4,
            ),
        )
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let a = (
            prop::option::of(prop_oneof![Just(None), (0u64..20).prop_map(Some)]),
            prop::option::of(prop::sample::select(vec![
                OutputFormat::Syslog,
                OutputFormat::Json,
                OutputFormat::Raw,
            ])),
            prop::option::of((any::<bool>(), 0u8..8)),
            prop::option::of((any::<bool>(), prop::collection::vec(0u8..24, 1..4))),
            prop::option::of(list()),
            prop::option::of(list()),
        );
        let b = (
            prop::option::of(prop::sample::select(&NEEDLES[..])),
            prop::option::of(prop::sample::select(&NEEDLES[..])),
            prop::option::of(prop::sample::select(&PATTERNS[..])),
            prop::option::of(prop_oneof![0u64..10, Just(u64::MAX - 1)]),
            prop::option::of(when()),
            prop::option::of(when()),
        );
        (a, b).prop_map(
            |((limit, fmt, sev, fac, host, app), (grep, not, re, since, from, until))| Spec {
                limit,
                fmt,
                sev,
                fac,
                host,
                app,
                grep,
                not,
                re,
                since,
                from,
                until,
            },
        )
    }

    fn spelling() -> impl Strategy<Value = Spelling> {
        (
            Just((0u8..12).collect::<Vec<u8>>()).prop_shuffle(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(order, numbers, upper, repeat, reverse)| Spelling {
                order,
                numbers,
                upper,
                repeat,
                reverse,
            })
    }

    fn items<T: Clone>(items: &[T], how: &Spelling) -> Vec<T> {
        let mut v = items.to_vec();
        if how.reverse {
            v.reverse();
        }
        if how.repeat {
            v.push(v[0].clone());
        }
        v
    }

    fn bang(negated: bool) -> &'static str {
        if negated { "!" } else { "" }
    }

    fn render(spec: &Spec, how: &Spelling) -> String {
        let case = |s: &str| {
            if how.upper {
                s.to_uppercase()
            } else {
                s.to_string()
            }
        };
        let names = |(negated, list): &List| {
            let list: Vec<&str> = items(list, how).iter().map(|n| n.unwrap_or("-")).collect();
            encode_component(&format!("{}{}", bang(*negated), list.join(",")))
        };
        let mut params: Vec<(u8, String)> = Vec::new();
        let mut put = |i: u8, name: &str, value: Option<String>| {
            if let Some(v) = value {
                params.push((how.order[usize::from(i)], format!("{name}={v}")));
            }
        };
        put(
            0,
            "l",
            spec.limit.map(|l| l.map_or("-1".into(), |n| n.to_string())),
        );
        put(1, "fmt", spec.fmt.map(|f| f.name().to_string()));
        put(
            2,
            "sev",
            spec.sev.map(|(negated, s)| {
                let name = if how.numbers {
                    s.to_string()
                } else {
                    case(syslog::SEVERITY_NAMES[usize::from(s)])
                };
                format!("{}{name}", bang(negated))
            }),
        );
        put(
            3,
            "fac",
            spec.fac.as_ref().map(|(negated, list)| {
                let list: Vec<String> = items(list, how)
                    .iter()
                    .map(|&f| {
                        if how.numbers {
                            f.to_string()
                        } else {
                            case(syslog::FACILITY_NAMES[usize::from(f)])
                        }
                    })
                    .collect();
                format!("{}{}", bang(*negated), list.join(","))
            }),
        );
        put(4, "host", spec.host.as_ref().map(names));
        put(5, "app", spec.app.as_ref().map(names));
        put(6, "grep", spec.grep.map(encode_component));
        put(7, "not", spec.not.map(encode_component));
        put(8, "re", spec.re.map(encode_component));
        put(9, "since", spec.since.map(|s| s.to_string()));
        put(
            10,
            "from",
            spec.from.as_ref().map(|w| encode_component(&w.text())),
        );
        put(
            11,
            "until",
            spec.until.as_ref().map(|w| encode_component(&w.text())),
        );
        params.sort();
        params
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .join("&")
    }

    struct Sample {
        received: i64,
        facility: u8,
        severity: u8,
        host: Option<&'static str>,
        app: Option<&'static str>,
        text: &'static str,
    }

    fn sample() -> impl Strategy<Value = Sample> {
        (
            NOW - 4 * 86_400_000_000..NOW + 86_400_000_000,
            0u8..24,
            0u8..8,
            prop::option::of(prop::sample::select(&NAMES[..])),
            prop::option::of(prop::sample::select(&NAMES[..])),
            prop::sample::select(&TEXTS[..]),
        )
            .prop_map(|(received, facility, severity, host, app, text)| Sample {
                received,
                facility,
                severity,
                host,
                app,
                text,
            })
    }

    impl std::fmt::Debug for Sample {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "<{}.{}> at {} host {:?} app {:?}: {:?}",
                self.facility, self.severity, self.received, self.host, self.app, self.text
            )
        }
    }

    /// What `spec` selects, from its parts alone.
    fn model(spec: &Spec, s: &Sample) -> bool {
        let in_list = |list: &List, value: Option<&str>| list.1.contains(&value) != list.0;
        spec.sev
            .is_none_or(|(negated, max)| (s.severity <= max) != negated)
            && spec
                .fac
                .as_ref()
                .is_none_or(|(negated, list)| list.contains(&s.facility) != *negated)
            && spec.host.as_ref().is_none_or(|l| in_list(l, s.host))
            && spec.app.as_ref().is_none_or(|l| in_list(l, s.app))
            && spec.grep.is_none_or(|g| s.text.contains(g))
            && spec.not.is_none_or(|n| !s.text.contains(n))
            && spec
                .re
                .is_none_or(|p| regex::Regex::new(p).unwrap().is_match(s.text))
            && spec
                .from
                .as_ref()
                .is_none_or(|w| s.received >= w.resolve(NOW))
            && spec
                .until
                .as_ref()
                .is_none_or(|w| s.received < w.resolve(NOW))
    }

    proptest! {
        #[test]
        fn selects_what_the_parts_say(
            spec in spec(),
            how in spelling(),
            samples in prop::collection::vec(sample(), 1..12),
        ) {
            let text = render(&spec, &how);
            let from = spec.from.as_ref().map(|w| w.resolve(NOW));
            let until = spec.until.as_ref().map(|w| w.resolve(NOW));
            let parsed = Query::parse(&text, NOW);
            if let (Some(f), Some(u)) = (from, until) && f > u {
                prop_assert!(parsed.is_err(), "{text}");
                return Ok(());
            }
            let q = parsed.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(q.limit, spec.limit.flatten());
            prop_assert_eq!(q.format, spec.fmt.unwrap_or(OutputFormat::Syslog));
            prop_assert_eq!(q.since(), spec.since.map(Seq::new));
            prop_assert_eq!(q.first_seq(), spec.since.map_or(Seq::ZERO, |s| Seq::new(s + 1)));
            prop_assert_eq!(q.received(), TimeRange { from_us: from, until_us: until });
            for s in &samples {
                let m = msg(
                    s.facility,
                    s.severity,
                    s.host.map(str::as_bytes),
                    s.app.map(str::as_bytes),
                    s.text.as_bytes(),
                );
                prop_assert_eq!(q.filter.matches(s.received, &m), model(&spec, s), "{} on {:?}", text, s);
            }
        }

        #[test]
        fn spelling_and_order_do_not_matter(spec in spec(), one in spelling(), other in spelling()) {
            let (a, b) = (render(&spec, &one), render(&spec, &other));
            match (Query::parse(&a, NOW), Query::parse(&b, NOW)) {
                (Ok(qa), Ok(qb)) => {
                    prop_assert_eq!(&qa, &qb, "{} against {}", a, b);
                    prop_assert_eq!(qa.share_key(), qb.share_key());
                    prop_assert_eq!(hash_of(&qa.share_key()), hash_of(&qb.share_key()));
                }
                (Err(ea), Err(eb)) => prop_assert_eq!(ea, eb),
                (qa, qb) => prop_assert!(false, "{a}: {qa:?}, {b}: {qb:?}"),
            }
        }

        #[test]
        fn where_a_follower_starts_is_not_shared(spec in spec(), how in spelling(), l in 0u64..5, since in 0u64..5) {
            let mut other = spec.clone();
            other.limit = Some(Some(l));
            other.since = Some(since);
            if let (Ok(a), Ok(b)) = (Query::parse(&render(&spec, &how), NOW), Query::parse(&render(&other, &how), NOW)) {
                prop_assert_eq!(a.share_key(), b.share_key());
            }
        }

        #[test]
        fn a_negated_list_selects_the_rest(
            param in prop::sample::select(vec!["sev", "fac", "host", "app"]),
            list in list(),
            facs in prop::collection::vec(0u8..24, 1..4),
            sev in 0u8..8,
            samples in prop::collection::vec(sample(), 1..12),
        ) {
            let value = match param {
                "sev" => sev.to_string(),
                "fac" => facs.iter().map(u8::to_string).collect::<Vec<_>>().join(","),
                _ => list.1.iter().map(|n| n.unwrap_or("-")).collect::<Vec<_>>().join(","),
            };
            let enc = encode_component(&value);
            let yes = parse(&format!("{param}={enc}"));
            let no = parse(&format!("{param}=!{enc}"));
            prop_assert_ne!(&yes, &no);
            for s in &samples {
                let m = msg(s.facility, s.severity, s.host.map(str::as_bytes), s.app.map(str::as_bytes), b"");
                prop_assert_ne!(yes.filter.matches(NOW, &m), no.filter.matches(NOW, &m), "{}={} on {:?}", param, value, s);
            }
        }

        #[test]
        fn a_list_is_any_of_its_items(
            param in prop::sample::select(vec!["fac", "host", "app"]),
            list in list(),
            facs in prop::collection::vec(0u8..24, 1..4),
            samples in prop::collection::vec(sample(), 1..12),
        ) {
            let items: Vec<String> = match param {
                "fac" => facs.iter().map(u8::to_string).collect(),
                _ => list.1.iter().map(|n| n.unwrap_or("-").to_string()).collect(),
            };
            let all = parse(&format!("{param}={}", encode_component(&items.join(","))));
            let each: Vec<Query> = items
                .iter()
                .map(|i| parse(&format!("{param}={}", encode_component(i))))
                .collect();
            for s in &samples {
                let m = msg(s.facility, s.severity, s.host.map(str::as_bytes), s.app.map(str::as_bytes), b"");
                prop_assert_eq!(
                    all.filter.matches(NOW, &m),
                    each.iter().any(|q| q.filter.matches(NOW, &m)),
                    "{}={:?} on {:?}", param, items, s
                );
            }
        }

        /// `unit=`, `pid=` and `uid=` select what a model of the sender
        /// says: any item of the list, the rest with `!`; a name without
        /// a kind is a service's, `-` no unit; the kernel's pid, else
        /// PROCID.
        #[test]
        fn who_sent_it_selects_as_the_model_says(
            negated in any::<bool>(),
            units in prop::collection::vec(
                prop::sample::select(vec!["a", "a.service", "b.scope", "c.socket", "-"]),
                1..4,
            ),
            pids in prop::collection::vec(0u32..5, 1..4),
            uids in prop::collection::vec(0u32..3, 1..4),
            senders in prop::collection::vec(
                (
                    prop::option::of(prop::sample::select(vec!["a.service", "b.scope", "c.socket", "b.service"])),
                    prop::option::of((0u32..5, 0u32..3)),
                    prop::option::of(0u32..5),
                ),
                1..12,
            ),
        ) {
            let bang = if negated { "!" } else { "" };
            let join = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let by_unit = parse(&format!("unit={bang}{}", units.join(",")));
            let by_pid = parse(&format!("pid={bang}{}", join(&pids)));
            let by_uid = parse(&format!("uid={bang}{}", join(&uids)));
            let wanted: Vec<Option<String>> = units
                .iter()
                .map(|u| match *u {
                    "-" => None,
                    "a" => Some("a.service".to_string()),
                    u => Some(u.to_string()),
                })
                .collect();
            for (unit, cred, proc_id) in senders {
                let proc_id = proc_id.map(|p| p.to_string());
                let f = Fields {
                    proc_id: proc_id.as_deref().map(str::as_bytes),
                    sent: Sent {
                        pid: cred.map(|c| c.0),
                        uid: cred.map(|c| c.1),
                        unit: unit.map(str::as_bytes),
                        local: cred.is_some(),
                    },
                    ..Fields::from(&msg(1, 6, None, None, b""))
                };
                let pid = cred.map(|c| c.0).or(proc_id.as_deref().and_then(|p| p.parse().ok()));
                let what = format!("{unit:?} {cred:?} {proc_id:?}");
                prop_assert_eq!(
                    by_unit.filter.matches_fields(NOW, &f),
                    wanted.contains(&unit.map(str::to_string)) != negated,
                    "unit {:?} on {}", units, what
                );
                prop_assert_eq!(
                    by_pid.filter.matches_fields(NOW, &f),
                    pid.is_some_and(|p| pids.contains(&p)) != negated,
                    "pid {:?} on {}", pids, what
                );
                prop_assert_eq!(
                    by_uid.filter.matches_fields(NOW, &f),
                    cred.is_some_and(|c| uids.contains(&c.1)) != negated,
                    "uid {:?} on {}", uids, what
                );
            }
        }

        #[test]
        fn any_text_parses_or_gets_one_short_line(
            parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..16),
            now in any::<i64>(),
        ) {
            let text = parts.concat();
            match Query::parse(&text, now) {
                Ok(q) => {
                    let _ = q.filter.matches(now, &msg(1, 6, Some(b"h"), None, b"x"));
                    let _ = q.first_seq();
                }
                Err(e) => {
                    prop_assert!(!e.0.contains(['\n', '\r']), "{:?}", e.0);
                    prop_assert!(e.0.len() < 400, "{:?}", e.0);
                }
            }
        }
    }

    const FRAGMENTS: &[&str] = &[
        "&",
        "=",
        "!",
        ",",
        "-",
        "%",
        "%2C",
        "%21",
        "%0A",
        "+",
        "l=",
        "fmt=",
        "sev=",
        "fac=",
        "host=",
        "app=",
        "grep=",
        "not=",
        "re=",
        "since=",
        "from=",
        "until=",
        "json",
        "err",
        "kern",
        "auth",
        "web1",
        "(",
        ")",
        "\\w{100}",
        "(?i)",
        "[",
        "10m",
        "30",
        "1d",
        "9x",
        "2026-12-01T05:00:00",
        "Z",
        "%2B01:00",
        "99999999999999999999",
        "18446744073709551615",
        "-1",
        "0",
        "\u{e9}",
        "%FF",
    ];
}
