//! `GET /histogram`: how many messages a query selects, per span of receive
//! time, by severity. The picture of "when did it start" without reading
//! a line.
//!
//! Counting reads the index only: the receive times bound each bucket by
//! binary search (seq order is receive order), and within a bucket a
//! message is counted by its PRI from the PRI table when the query tests
//! nothing but the PRI. A query on names (`app=`, `host=`, `unit=`)
//! passes over the messages whose tags say no on the tags table
//! ([`Filter::sieve`]), and counts those whose tag the name it lists
//! alone has on that table too, unread ([`Filter::exact_sieve`]); the
//! others it reads. A query that needs a text in a message
//! (`grep=`, or a name in a source without tags: [`Filter::needle_in`])
//! searches the arena for it at memory speed and looks only at the
//! messages that hold it in its place ([`search::each`]); any other query
//! on the fields (`app=!a`, `not=`, ...) looks at each message's fields.
//! None renders one. Each passes over the blocks of seqs whose summary the
//! filter rules out ([`crate::store::summary`]) first: a rare severity,
//! app-name, hostname or unit is counted without reading the ring. A
//! [`Count`] works a bounded slice per [`Count::step`], so that a whole
//! ring never holds up the caller's loop.
//!
//! A message whose receive time is out of seq order (the wall clock stepped
//! back) is counted in the bucket the binary search puts it in, as `from=`
//! and `until=` find it.

use std::ops::ControlFlow;

use serde_json::{Value, json};

use crate::query::format::rfc3339_us;
use crate::query::{Filter, QueryError, percent_decode};
use crate::store::messages::Messages;
use crate::store::ring::{Entry, Seq};
use crate::store::search::{self, Needle};
use crate::store::summary::{self, Sieve};

/// `buckets=` when it is not given.
pub const DEFAULT_BUCKETS: u32 = 60;
/// The largest `buckets=`.
pub const MAX_BUCKETS: u32 = 1000;

/// Severity names, by severity, as JSON writes them.
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Takes `buckets=` out of a query string: the number of buckets, and the
/// rest of the string for [`crate::query::Query::parse`], which knows every
/// other parameter.
pub fn split_buckets(query_string: &str) -> Result<(u32, String), QueryError> {
    let mut buckets = None;
    let mut rest = Vec::new();
    for piece in query_string.split('&') {
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        if percent_decode(raw_name).ok().as_deref() != Some(b"buckets".as_slice()) {
            rest.push(piece);
            continue;
        }
        if buckets.is_some() {
            return Err(QueryError("repeated parameter \"buckets\"".to_string()));
        }
        buckets = Some(parse_buckets(raw_value)?);
    }
    Ok((buckets.unwrap_or(DEFAULT_BUCKETS), rest.join("&")))
}

fn parse_buckets(raw: &str) -> Result<u32, QueryError> {
    let value = percent_decode(raw).unwrap_or_default();
    let text = std::str::from_utf8(&value).unwrap_or("");
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_BUCKETS).contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(n)
        }
        _ => {
            let mut shown: String = String::from_utf8_lossy(&value).chars().take(64).collect();
            if shown.len() < value.len() && value.len() > 64 {
                shown.push('…');
            }
            Err(QueryError(format!(
                "bad buckets {shown:?}: expected a number of buckets from 1 to {MAX_BUCKETS}"
            )))
        }
    }
}

/// Counts per bucket and severity over `from_us..until_us`, in equal spans
/// of `bucket_us`.
///
/// INVARIANT: `bucket_us >= 1`, `counts.len() >= 1`, and the buckets
/// cover the range: `from_us + counts.len() * bucket_us >= until_us`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    from_us: i64,
    until_us: i64,
    bucket_us: i64,
    counts: Vec<[u64; 8]>,
}

impl Histogram {
    /// `buckets` equal spans (at least 1 µs each) from `from_us` that
    /// reach `until_us` (not included); the last may reach past it.
    pub fn new(from_us: i64, until_us: i64, buckets: u32) -> Histogram {
        let n = i128::from(buckets.max(1));
        let span = (i128::from(until_us) - i128::from(from_us)).max(0);
        // Rounded up, so that the buckets cover the whole range; a span
        // of more than i64::MAX µs cannot come from two i64 times in the
        // range a time is parsed in, and is capped all the same.
        let bucket_us = ((span + n - 1) / n).clamp(1, i128::from(i64::MAX)) as i64;
        Histogram {
            from_us,
            until_us: until_us.max(from_us),
            bucket_us,
            counts: vec![[0; 8]; n as usize],
        }
    }

    pub fn from_us(&self) -> i64 {
        self.from_us
    }

    pub fn until_us(&self) -> i64 {
        self.until_us
    }

    pub fn bucket_us(&self) -> i64 {
        self.bucket_us
    }

    /// The counts, per bucket, by severity (0 = emerg).
    pub fn counts(&self) -> &[[u64; 8]] {
        &self.counts
    }

    /// When bucket `i` starts (saturating past the range of times).
    pub fn bucket_start(&self, i: usize) -> i64 {
        let at = i128::from(self.from_us) + i128::from(self.bucket_us) * i as i128;
        at.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The bucket a time falls in, if any.
    pub fn bucket_of(&self, t_us: i64) -> Option<usize> {
        if t_us < self.from_us || t_us >= self.until_us {
            return None;
        }
        let i = (i128::from(t_us) - i128::from(self.from_us)) / i128::from(self.bucket_us);
        Some((i as usize).min(self.counts.len() - 1))
    }

    /// Counts one message of severity `severity` (0..=7; greater is
    /// counted as debug) in bucket `i`.
    pub fn add(&mut self, i: usize, severity: u8) {
        self.counts[i][usize::from(severity.min(7))] += 1;
    }

    /// The total counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// The answer's JSON document.
    pub fn to_json(&self) -> Value {
        let buckets: Vec<Value> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let counts: serde_json::Map<String, Value> = SEVERITIES
                    .iter()
                    .zip(c)
                    .map(|(name, n)| ((*name).to_string(), json!(n)))
                    .collect();
                json!({"start": rfc3339_us(self.bucket_start(i)), "counts": counts})
            })
            .collect();
        json!({
            "from": rfc3339_us(self.from_us),
            "until": rfc3339_us(self.until_us),
            "bucket_us": self.bucket_us,
            "buckets": buckets,
        })
    }
}

/// The answer when there is nothing to count and no range was given:
/// `from` and `until` are what was given, or null.
pub fn empty_json(from_us: Option<i64>, until_us: Option<i64>) -> Value {
    json!({
        "from": from_us.map(rfc3339_us),
        "until": until_us.map(rfc3339_us),
        "bucket_us": null,
        "buckets": [],
    })
}

/// The range a histogram of the messages `start..end` of `m` spans: the
/// bounds the query gave (`from=`, `until=`), else the receive times of
/// the first and the last of them (the last included). `None` when a
/// bound is missing and there is no message to take it from.
pub fn span(
    given_from: Option<i64>,
    given_until: Option<i64>,
    m: &dyn Messages,
    start: Seq,
    end: Seq,
) -> Option<(i64, i64)> {
    let first = (start < end).then(|| m.get(start)).flatten();
    let last = end.prev().filter(|&l| l >= start).and_then(|l| m.get(l));
    let from = given_from.or(first.map(|e| e.received_us))?;
    let until = given_until.or(last.map(|e| e.received_us.saturating_add(1)))?;
    Some((from, until.max(from)))
}

/// How much one message costs a slice: passing over it on its PRI is one
/// look, testing its fields [`FIELD_LOOK`], and searching [`SEARCH_BYTES`]
/// of the arena for what the filter needs ([`Filter::needle`])
/// [`SEARCH_LOOK`].
pub const FIELD_LOOK: u64 = 16;
/// See [`FIELD_LOOK`].
pub const SEARCH_BYTES: usize = 1 << 20;
/// See [`FIELD_LOOK`].
pub const SEARCH_LOOK: u64 = 16 * 1024;

/// Messages a count picks on the PRI and tags tables before it reads
/// them: see `Count::count_candidates`.
const AHEAD: usize = 64;

/// Counting the messages `start..end` of a source into a [`Histogram`], a
/// slice at a time.
pub struct Count {
    hist: Histogram,
    /// The bucket being counted.
    bucket: usize,
    /// The next seq to count.
    cursor: Seq,
    /// Where the current bucket's messages end.
    /// INVARIANT: `bucket_end <= end`.
    bucket_end: Seq,
    /// While the cursor is before it, it is in blocks the filter does not
    /// rule out.
    open_until: Seq,
    end: Seq,
}

impl Count {
    /// Counts the messages `start..end` of `m` into `hist`; those received
    /// before its start or at or after its end are not counted.
    pub fn new(hist: Histogram, m: &dyn Messages, start: Seq, end: Seq) -> Count {
        let start = start.max(m.first_received_at(hist.from_us)).min(end);
        let end = end.min(m.first_received_at(hist.until_us)).max(start);
        let bucket_end = end_of_bucket(&hist, m, 0, start, end);
        Count {
            hist,
            bucket: 0,
            cursor: start,
            bucket_end,
            open_until: Seq::ZERO,
            end,
        }
    }

    /// The histogram counted so far.
    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }

    /// Whether every message is counted.
    pub fn is_done(&self) -> bool {
        self.cursor >= self.end
    }

    /// Counts messages of `m` that `filter` selects, `budget` looks at
    /// most (see [`FIELD_LOOK`]; a block's summary is one look); true once
    /// every one is counted. `m` must be the source `new` was given
    /// (messages it evicted meanwhile are passed over).
    pub fn step(&mut self, filter: &Filter, m: &dyn Messages, budget: u64) -> bool {
        // Those evicted since are not counted.
        self.cursor = self.cursor.max(m.first_seq()).min(self.end);
        self.bucket_end = self.bucket_end.max(self.cursor);
        match filter.needle_in(m) {
            Some(needle) => self.count_found(filter, needle, m, budget),
            None => self.count_each(filter, m, budget),
        }
        self.is_done()
    }

    /// Counts the messages that hold the needle, found in the arena
    /// ([`search::each`]): the others are passed over unread. Each found
    /// is counted if the rest of the filter selects it.
    fn count_found(&mut self, filter: &Filter, needle: Needle<'_>, m: &dyn Messages, budget: u64) {
        const BYTES_PER_LOOK: u64 = SEARCH_BYTES as u64 / SEARCH_LOOK;
        let mut looked = 0u64;
        let by_summaries = filter.tests_summaries();
        while self.cursor < self.end && looked < budget {
            if by_summaries && self.cursor >= self.open_until {
                looked += self.pass_over(filter, m, budget - looked);
                continue;
            }
            let limit = match by_summaries {
                true => self.open_until.min(self.end),
                false => self.end,
            };
            let looks = (budget - looked).min(SEARCH_LOOK);
            // At most SEARCH_BYTES: the cast is lossless.
            let max_bytes = (looks * BYTES_PER_LOOK) as usize;
            let from = self.cursor;
            let Count {
                hist,
                bucket,
                bucket_end,
                cursor,
                open_until: _,
                end,
            } = self;
            let end = *end;
            let through = search::each(m, *cursor, limit, needle, max_bytes, |e| {
                while e.seq >= *bucket_end {
                    *bucket += 1;
                    *bucket_end = end_of_bucket(hist, m, *bucket, e.seq, end);
                }
                let fields = e.fields();
                if filter.matches_fields(e.received_us, &fields) {
                    hist.add(*bucket, fields.severity);
                }
                ControlFlow::Continue(())
            });
            *cursor = through.clamp(*cursor, limit);
            // What it searched: a short run between blocks passed over
            // costs as little as it is long.
            looked += search::bytes_of(m, from, *cursor).map_or(looks, |bytes| {
                (bytes as u64 / BYTES_PER_LOOK).clamp(1, looks)
            });
        }
    }

    /// Moves the cursor past the blocks `filter` rules out, and
    /// `open_until` to the end of the run of blocks after them; returns
    /// how many summaries it looked at, `budget` at most.
    fn pass_over(&mut self, filter: &Filter, m: &dyn Messages, budget: u64) -> u64 {
        let open = summary::next_open(m, self.cursor, self.end, budget, &|s| filter.rules_out(s));
        self.cursor = open.start;
        self.open_until = open.until;
        open.looked
    }

    /// Counts message by message: on the PRI table alone when the filter
    /// tests nothing else, else from each message's index; past those
    /// whose PRI and tags alone say no ([`Filter::sieve`]) first.
    fn count_each(&mut self, filter: &Filter, m: &dyn Messages, budget: u64) {
        let mut looked = 0u64;
        let by_pri_alone = filter.ignores_fields();
        let by_summaries = filter.tests_summaries();
        let sieve = filter.sieve();
        // Where the tags alone say which name a message has, messages are
        // counted on them, unread.
        let exact = match by_summaries && !by_pri_alone {
            true => filter.exact_sieve(m, self.cursor),
            false => None,
        };
        while self.cursor < self.end && looked < budget {
            if by_summaries && self.cursor >= self.open_until {
                looked += self.pass_over(filter, m, budget - looked);
                continue;
            }
            if self.cursor >= self.bucket_end {
                self.bucket += 1;
                self.bucket_end = end_of_bucket(&self.hist, m, self.bucket, self.cursor, self.end);
                continue;
            }
            let seq = self.cursor;
            if let Some(exact) = &exact {
                looked += self.count_sieved(filter, exact, m, budget - looked);
                continue;
            }
            if by_summaries && !by_pri_alone {
                looked += self.count_candidates(filter, &sieve, m, budget - looked);
                continue;
            }
            if by_summaries {
                let limit = self.bucket_end.min(self.open_until);
                let left = budget - looked;
                let next = m.skip_pri(seq, limit, left, &sieve);
                if next > seq {
                    looked += next.since(seq);
                    self.cursor = next;
                    continue;
                }
            }
            self.cursor = seq.next();
            let pri = m.pri(seq);
            if let Some(pri) = pri {
                looked += 1;
                if filter.rejects_pri(pri) {
                    continue;
                }
                if by_pri_alone {
                    self.hist.add(self.bucket, pri & 7);
                    continue;
                }
            }
            looked += FIELD_LOOK;
            let Some(e) = m.get(seq) else { continue };
            if filter.matches_entry(&e) {
                self.hist.add(self.bucket, severity_of(&e));
            }
        }
    }

    /// Counts the messages of the current bucket and run of blocks that
    /// `exact` passes ([`Filter::exact_sieve`]) on their PRI, unread (one
    /// without an index is read and tested); returns the looks it took,
    /// `budget` at most and at least one.
    fn count_sieved(
        &mut self,
        filter: &Filter,
        exact: &Sieve,
        m: &dyn Messages,
        budget: u64,
    ) -> u64 {
        let limit = self.bucket_end.min(self.open_until);
        let (mut at, mut looked) = (self.cursor, 0);
        while at < limit && looked < budget {
            let next = m.skip_pri(at, limit, budget - looked, exact);
            looked += next.since(at);
            at = next;
            if at >= limit || looked >= budget {
                break;
            }
            looked += 1;
            match m.pri(at) {
                Some(pri) => self.hist.add(self.bucket, pri & 7),
                None => {
                    looked += FIELD_LOOK;
                    if let Some(e) = m.get(at)
                        && filter.matches_entry(&e)
                    {
                        self.hist.add(self.bucket, severity_of(&e));
                    }
                }
            }
            at = at.next();
        }
        self.cursor = at;
        looked.max(1)
    }

    /// Counts the next [`AHEAD`] messages of the current bucket and run of
    /// blocks that the PRI and tags tables do not rule out, testing each
    /// one's fields; returns the looks it took, `budget` at most and at
    /// least one. Their records are touched first, all of them, so that
    /// they come from memory together rather than one miss after another
    /// (those the tags pick are far apart, a cache miss each).
    fn count_candidates(
        &mut self,
        filter: &Filter,
        sieve: &Sieve,
        m: &dyn Messages,
        budget: u64,
    ) -> u64 {
        let limit = self.bucket_end.min(self.open_until);
        let (mut picked, mut n) = ([Seq::ZERO; AHEAD], 0);
        let (mut at, mut looked) = (self.cursor, 0);
        while n < AHEAD && at < limit && looked < budget {
            let next = m.skip_pri(at, limit, budget - looked, sieve);
            looked += next.since(at);
            if next >= limit {
                at = limit;
                break;
            }
            picked[n] = next;
            n += 1;
            at = next.next();
        }
        self.cursor = at;
        // Their headers, and the two lines after them where the names lie
        // (after the credentials, the unit and a timestamp), in one go:
        // loads the processor has in flight at once.
        let mut starts = [0; AHEAD];
        for (start, &seq) in starts.iter_mut().zip(&picked[..n]) {
            *start = m.record_start(seq);
        }
        let arena = m.arena();
        let touched = starts[..n].iter().map(|&at| {
            let byte = |at: usize| arena.get(at).copied().unwrap_or(0);
            byte(at) ^ byte(at + 64) ^ byte(at + 128)
        });
        std::hint::black_box(touched.fold(0, |a, b| a ^ b));
        for &seq in &picked[..n] {
            looked += FIELD_LOOK;
            let Some(e) = m.get(seq) else { continue };
            if filter.matches_entry(&e) {
                self.hist.add(self.bucket, severity_of(&e));
            }
        }
        looked.max(1)
    }

    pub fn into_histogram(self) -> Histogram {
        self.hist
    }
}

/// The severity a message is counted under: its index's, else its
/// parse's.
fn severity_of(e: &Entry<'_>) -> u8 {
    match e.index {
        Some(ix) => ix.pri() & 7,
        None => e.fields().severity,
    }
}

/// Where bucket `i`'s messages end: where the next bucket's receive times
/// start, in `at..=end` (`end` for the last bucket).
fn end_of_bucket(hist: &Histogram, m: &dyn Messages, i: usize, at: Seq, end: Seq) -> Seq {
    if i + 1 >= hist.counts.len() {
        return end;
    }
    let next = hist.bucket_start(i + 1);
    m.first_received_at(next).clamp(at, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Query;
    use crate::store::ring::{Config, Incoming, Ring, Transport};
    use proptest::prelude::*;

    fn ring(messages: &[(i64, &str)]) -> Ring {
        let mut ring = Ring::new(Config {
            max_messages: 1000,
            arena_bytes: 1 << 20,
            max_message_bytes: 1024,
        })
        .unwrap();
        for (t, raw) in messages {
            let index = crate::ingest::syslog::index_in_utc(raw.as_bytes(), *t);
            ring.push_indexed(
                Incoming {
                    received_us: *t,
                    transport: Transport::Udp,
                    cred: None,
                    truncated: false,
                    bytes: raw.as_bytes(),
                },
                index,
            );
        }
        ring
    }

    fn count_all(q: &str, m: &Ring, buckets: u32) -> Option<Histogram> {
        let q = Query::parse(q, 0).unwrap();
        let (start, end) = (m.first_seq(), m.next_seq());
        let r = q.received();
        let (from, until) = span(r.from_us, r.until_us, m, start, end)?;
        let mut c = Count::new(Histogram::new(from, until, buckets), m, start, end);
        // A budget of one look: every step does a little.
        while !c.step(&q.filter, m, 1) {}
        Some(c.into_histogram())
    }

    /// Who sent it is not in the index's PRI: `unit=`, `pid=` and `uid=`
    /// are counted from the stored record's credentials and unit, and
    /// `pid=` from PROCID for a message without credentials.
    #[test]
    fn unit_pid_and_uid_are_counted() {
        let mut m = ring(&[(5, "<11>1 - h app 77 - - over udp")]);
        let senders: [(u32, u32, Option<&[u8]>); 3] = [
            (10, 0, Some(b"nginx.service")),
            (11, 1000, Some(b"session-4.scope")),
            (12, 0, None),
        ];
        for (i, (pid, uid, unit)) in senders.into_iter().enumerate() {
            let raw = format!("<{}>1 - h app - - - local", 8 + i);
            let t = 10 + i as i64;
            let index = crate::ingest::syslog::index_in_utc(raw.as_bytes(), t);
            let msg = Incoming {
                received_us: t,
                transport: Transport::Unix,
                cred: Some(crate::store::ring::Cred { pid, uid, gid: 0 }),
                truncated: false,
                bytes: raw.as_bytes(),
            };
            m.push_sent(msg, index, unit);
        }
        let total = |q: &str| -> Vec<u64> {
            let h = count_all(q, &m, 1).unwrap();
            h.counts()[0].to_vec()
        };
        assert_eq!(total("unit=nginx"), [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(total("unit=!nginx"), [0, 1, 1, 1, 0, 0, 0, 0]);
        assert_eq!(total("unit=-"), [0, 0, 1, 1, 0, 0, 0, 0]);
        assert_eq!(total("uid=0"), [1, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(total("pid=11,77"), [0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(total("pid=11&sev=alert"), [0, 1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn buckets_is_taken_out_of_the_query_string() {
        assert_eq!(split_buckets("").unwrap(), (60, String::new()));
        assert_eq!(
            split_buckets("sev=err&buckets=10&app=x").unwrap(),
            (10, "sev=err&app=x".to_string())
        );
        assert_eq!(split_buckets("%62uckets=1000").unwrap().0, 1000);
        for bad in [
            "0",
            "1001",
            "x",
            "",
            "-1",
            "+5",
            "1e3",
            "99999999999999999999",
        ] {
            let e = split_buckets(&format!("buckets={bad}")).unwrap_err();
            assert!(e.0.starts_with("bad buckets"), "{bad}: {e}");
            assert!(e.0.contains("from 1 to 1000"), "{bad}: {e}");
        }
        let e = split_buckets("buckets=2&buckets=3").unwrap_err();
        assert_eq!(e.0, "repeated parameter \"buckets\"");
        let long = "9".repeat(500);
        let e = split_buckets(&format!("buckets={long}")).unwrap_err();
        assert!(e.0.len() < 200, "one short line: {e}");
    }

    #[test]
    fn equal_spans_cover_the_range() {
        let h = Histogram::new(1000, 1010, 3);
        assert_eq!(h.bucket_us(), 4);
        assert_eq!(
            (h.bucket_start(0), h.bucket_start(1), h.bucket_start(2)),
            (1000, 1004, 1008)
        );
        assert_eq!(h.bucket_of(999), None);
        assert_eq!(h.bucket_of(1000), Some(0));
        assert_eq!(h.bucket_of(1007), Some(1));
        assert_eq!(h.bucket_of(1009), Some(2));
        assert_eq!(h.bucket_of(1010), None, "until is not included");
        // An empty range still has buckets of one µs.
        let h = Histogram::new(5, 5, 4);
        assert_eq!((h.bucket_us(), h.counts().len()), (1, 4));
        // The widest range there is does not overflow.
        let h = Histogram::new(i64::MIN, i64::MAX, 1);
        assert_eq!(h.bucket_us(), i64::MAX);
        assert_eq!(h.bucket_of(0), Some(0));
    }

    #[test]
    fn json_has_times_and_counts_by_severity_name() {
        let mut h = Histogram::new(1_700_000_000_000_000, 1_700_000_000_000_002, 2);
        h.add(1, 3);
        h.add(1, 3);
        h.add(0, 7);
        let j = h.to_json();
        assert_eq!(j["from"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(j["until"], "2023-11-14T22:13:20.000002Z");
        assert_eq!(j["bucket_us"], 1);
        assert_eq!(j["buckets"][1]["start"], "2023-11-14T22:13:20.000001Z");
        assert_eq!(j["buckets"][1]["counts"]["err"], 2);
        assert_eq!(j["buckets"][0]["counts"]["debug"], 1);
        assert_eq!(j["buckets"][0]["counts"]["emerg"], 0);
        let keys: Vec<_> = j["buckets"][0]["counts"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys.len(), 8);
        let e = empty_json(None, Some(0));
        assert_eq!(e["from"], Value::Null);
        assert_eq!(e["until"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(e["buckets"], json!([]));
    }

    #[test]
    fn counts_by_severity_in_time_order() {
        let m = ring(&[
            (0, "<11>1 - h a - - - e0"),
            (5, "<14>1 - h a - - - i5"),
            (9, "<14>1 - h b - - - i9"),
            (10, "<12>1 - h b - - - w10"),
            (19, "<11>1 - h a - - - e19"),
        ]);
        let h = count_all("", &m, 2).unwrap();
        // 0..20 in two spans of 10.
        assert_eq!((h.from_us(), h.until_us(), h.bucket_us()), (0, 20, 10));
        assert_eq!(h.counts()[0][3], 1);
        assert_eq!(h.counts()[0][6], 2);
        assert_eq!(h.counts()[1][4], 1);
        assert_eq!(h.counts()[1][3], 1);
        let h = count_all("app=a", &m, 2).unwrap();
        assert_eq!(h.total(), 3);
        assert_eq!(
            (h.counts()[0][3], h.counts()[0][6], h.counts()[1][3]),
            (1, 1, 1)
        );
        let h = count_all("sev=err", &m, 4).unwrap();
        assert_eq!(h.total(), 2);
        let h = count_all("from=1970-01-01T00:00:00.000005Z", &m, 1).unwrap();
        assert_eq!((h.from_us(), h.total()), (5, 4));
        assert!(count_all("", &ring(&[]), 60).is_none(), "nothing to span");
    }

    /// A message: severity, facility, app, text, host, shape, whether it
    /// is indexed. Its app-name's text is also in other messages' MSG,
    /// hostnames and longer app-names.
    type Msg = (u8, u8, u8, u8, u8, u8, bool);

    fn message() -> impl Strategy<Value = Msg> {
        (
            0u8..8,
            0u8..24,
            0u8..3,
            0u8..3,
            0u8..4,
            0u8..3,
            prop::bool::weighted(0.8),
        )
    }

    const HOSTS: [&str; 4] = ["h0", "h1", "app0", "app1"];

    fn raw((sev, fac, app, text, host, shape, _): &Msg) -> String {
        let pri = u16::from(*fac) * 8 + u16::from(*sev);
        let host = HOSTS[usize::from(*host)];
        match shape {
            0 => format!("<{pri}>1 - {host} app{app} - - - word{text} app{text}"),
            1 => format!("<{pri}>Oct 11 22:14:15 {host} app{app}[7]: word{text}"),
            _ => format!("<{pri}>1 - {host} app{app}x - - - app{app} word{text}"),
        }
    }

    /// A ring of `msgs` (received `dt` apart) that keeps the last `max`.
    fn ring_of(msgs: &[(i64, Msg)], max: usize, arena: usize) -> Ring {
        let mut ring = Ring::new(Config {
            max_messages: max,
            arena_bytes: arena,
            max_message_bytes: 200,
        })
        .unwrap();
        let mut t = 0;
        for (dt, m) in msgs {
            t += dt;
            let raw = raw(m);
            let index =
                m.6.then(|| crate::ingest::syslog::index_in_utc(raw.as_bytes(), t))
                    .flatten();
            let msg = Incoming {
                received_us: t,
                transport: Transport::Udp,
                cred: None,
                truncated: false,
                bytes: raw.as_bytes(),
            };
            ring.push_indexed(msg, index);
        }
        ring
    }

    fn query() -> impl Strategy<Value = String> {
        let one = prop_oneof![
            Just(String::new()),
            (0u8..8).prop_map(|s| format!("sev={s}")),
            (0u8..8).prop_map(|s| format!("sev=!{s}")),
            (0u8..24).prop_map(|f| format!("fac={f}")),
            (0u8..3).prop_map(|a| format!("app=app{a}")),
            (0u8..3).prop_map(|a| format!("app=app{a},app{a}")),
            (0u8..3).prop_map(|a| format!("app=!app{a}")),
            (0u8..3).prop_map(|a| format!("app=app{a},-")),
            (0u8..4).prop_map(|h| format!("host={}", HOSTS[usize::from(h)])),
            (0u8..4).prop_map(|h| format!("host=!{}", HOSTS[usize::from(h)])),
            (0u8..3).prop_map(|t| format!("grep=word{t}")),
            (0u8..3).prop_map(|t| format!("not=word{t}")),
            (0i64..300).prop_map(|t| format!("from={}", rfc3339_us(t))),
            (0i64..300).prop_map(|t| format!("until={}", rfc3339_us(t))),
        ];
        proptest::collection::vec(one, 0..3).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .filter(|p| !p.is_empty() && seen.insert(p.split('=').next().unwrap().to_string()))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    proptest! {
        /// For any messages (received in order), query and bucket count:
        /// every message the filter selects is counted once, in the bucket
        /// its receive time falls in, under its severity.
        #[test]
        fn every_selected_message_is_counted_in_its_bucket(
            msgs in proptest::collection::vec((0i64..20, message()), 0..60),
            q in query(),
            buckets in 1u32..40,
        ) {
            let m = ring_of(&msgs, 1000, 1 << 20);
            let Ok(parsed) = Query::parse(&q, 0) else { return Ok(()) };
            let Some(h) = count_all(&q, &m, buckets) else {
                prop_assert!(msgs.is_empty() || parsed.received().from_us.is_none() || parsed.received().until_us.is_none());
                return Ok(());
            };
            prop_assert_eq!(h.counts().len(), buckets as usize);
            let mut want = vec![[0u64; 8]; buckets as usize];
            for seq in Seq::range(m.first_seq(), m.next_seq()) {
                let e = m.get(seq).unwrap();
                let f = e.fields();
                if parsed.filter.matches_fields(e.received_us, &f) {
                    let i = h.bucket_of(e.received_us);
                    prop_assert!(i.is_some(), "{} outside {}..{}", e.received_us, h.from_us(), h.until_us());
                    want[i.unwrap()][usize::from(f.severity)] += 1;
                }
            }
            prop_assert_eq!(h.counts(), want.as_slice());
        }

        /// For any ring (wrapped, evicted, some messages without an index)
        /// and any name, with or without other conditions, and whatever the
        /// budget: counting the messages the arena search finds gives the
        /// histogram that testing every message's fields gives.
        #[test]
        fn the_search_counts_what_the_fields_count(
            msgs in proptest::collection::vec((0i64..20, message()), 1..120),
            max in 4usize..80,
            arena in 1024usize..8192,
            field in prop_oneof![Just("app"), Just("host")],
            name in prop_oneof![
                (0u8..3).prop_map(|a| format!("app{a}")),
                (0u8..3).prop_map(|a| format!("app{a}x")),
                (0u8..4).prop_map(|h| HOSTS[usize::from(h)].to_string()),
                Just("word1".to_string()),
                Just("app".to_string()),
                Just("p".to_string()),
            ],
            rest in prop_oneof![
                Just(String::new()),
                (0u8..8).prop_map(|s| format!("&sev={s}")),
                (0u8..3).prop_map(|t| format!("&not=word{t}")),
                (0u8..4).prop_map(|h| format!("&host=!{}", HOSTS[usize::from(h)])),
            ],
            buckets in 1u32..20,
            budget in prop_oneof![Just(1u64), 2u64..100, Just(1 << 20)],
        ) {
            let m = ring_of(&msgs, max, arena);
            let q = format!("{field}={name}{rest}");
            let Ok(q) = Query::parse(&q, 0) else { return Ok(()) };
            prop_assert!(q.filter.needle().is_some(), "a single name is searched for");
            let (start, end) = (m.first_seq(), m.next_seq());
            let (from, until) = span(None, None, &m, start, end).unwrap();
            let new = || Count::new(Histogram::new(from, until, buckets), &m, start, end);
            let mut fast = new();
            while !fast.step(&q.filter, &m, budget) {}
            let mut slow = new();
            while !slow.is_done() {
                slow.count_each(&q.filter, &m, budget);
            }
            prop_assert_eq!(fast.into_histogram(), slow.into_histogram());
        }
    }
}
