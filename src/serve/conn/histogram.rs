//! `GET /histogram` and `GET /snapshots/ID/histogram`: the messages a dump
//! of the same query would send, counted per time bucket and severity by
//! [`crate::query::histogram::Count`], a slice per poll; the answer, one
//! small JSON document, is written whole once they are counted.
//!
//! `l=N` counts the last N matches, found back from the end as a dump finds
//! them ([`Seek`]); `fmt=` is accepted and has no effect (the answer is
//! JSON), so a page can ask for the picture with the query of its lines.

use serde_json::Value;

use crate::daemon::State;
use crate::http::{self, Method, Request};
use crate::query::Query;
use crate::query::format::rfc3339_us;
use crate::query::histogram::{self, Count, Histogram};
use crate::store::messages::Messages;
use crate::store::ring::Seq;

use super::dump::{SCAN_MESSAGES, Seek, Source, end_of};
use super::{Out, error_response};

/// What a histogram did in one poll.
pub(super) enum Step {
    /// It counted a slice and has more to do.
    More,
    /// The answer is in the output.
    Done { keep_alive: bool },
}

pub(super) struct Histo {
    source: Source,
    query: Query,
    buckets: u32,
    phase: Phase,
    keep_alive: bool,
    head_only: bool,
}

enum Phase {
    /// `l=N` with a filter: the first of the last N matches is looked for.
    Seek {
        seek: Seek,
        end: Seq,
    },
    Count(Count),
}

impl Histo {
    /// Sets the count up; `m` is what `source` names now.
    pub(super) fn start(
        req: &Request,
        query: Query,
        buckets: u32,
        source: Source,
        m: &dyn Messages,
    ) -> Result<Histo, Value> {
        let end = end_of(&query, m);
        let phase = match Seek::new(&query, m, end) {
            Ok(start) => Phase::Count(count(&query, buckets, m, start, end)?),
            Err(seek) => Phase::Seek { seek, end },
        };
        Ok(Histo {
            source,
            query,
            buckets,
            phase,
            keep_alive: req.keep_alive,
            head_only: req.method == Method::Head,
        })
    }

    /// Counts a slice; once all are counted, writes the answer.
    pub(super) fn poll(&mut self, st: &State, out: &mut Out) -> Step {
        let source = self.source;
        let done = source.with(st, |m| self.step(m));
        let answer = match done {
            Some(Ok(false)) => return Step::More,
            Some(Ok(true)) => match &self.phase {
                Phase::Count(c) => c.histogram().to_json(),
                Phase::Seek { .. } => unreachable!("a step ends counting"),
            },
            Some(Err(empty)) => empty,
            None => {
                // Nothing was sent yet: the answer can say why there is none.
                let (status, reason) = match source {
                    Source::Snapshot(id) => (
                        404,
                        format!("snapshot {id} was deleted while it was being counted"),
                    ),
                    Source::Ring(_) => (
                        503,
                        "the ring was cleared while it was being counted: ask again".to_string(),
                    ),
                };
                error_response(
                    &mut out.bytes,
                    status,
                    &reason,
                    self.keep_alive,
                    self.head_only,
                );
                return Step::Done {
                    keep_alive: self.keep_alive,
                };
            }
        };
        write_answer(answer, source, st, self.keep_alive, self.head_only, out);
        Step::Done {
            keep_alive: self.keep_alive,
        }
    }

    /// One slice: Ok(true) once counted, Err with the answer when there is
    /// nothing to count.
    fn step(&mut self, m: &dyn Messages) -> Result<bool, Value> {
        if let Phase::Seek { seek, end } = &mut self.phase {
            let Some(start) = seek.step(&self.query, m) else {
                return Ok(false);
            };
            let end = *end;
            self.phase = Phase::Count(count(&self.query, self.buckets, m, start, end)?);
            return Ok(false);
        }
        let Phase::Count(c) = &mut self.phase else {
            unreachable!("seeking returned above")
        };
        Ok(c.step(&self.query.filter, m, SCAN_MESSAGES * 16))
    }
}

/// The count of `start..end`, or the empty answer when no range can be
/// had (no message, and `from=` or `until=` not given).
fn count(q: &Query, buckets: u32, m: &dyn Messages, start: Seq, end: Seq) -> Result<Count, Value> {
    let given = q.received();
    let Some((from, until)) = histogram::span(given.from_us, given.until_us, m, start, end) else {
        return Err(histogram::empty_json(given.from_us, given.until_us));
    };
    Ok(Count::new(
        Histogram::new(from, until, buckets),
        m,
        start,
        end,
    ))
}

pub(super) fn write_answer(
    mut answer: Value,
    source: Source,
    st: &State,
    keep_alive: bool,
    head_only: bool,
    out: &mut Out,
) {
    if matches!(source, Source::Ring(_)) {
        // What the page at /ui shows in its header: the query socket has no
        // /status, and a follower is told of a pause only as it happens.
        answer["paused"] = Value::Bool(st.paused());
        answer["resumes_at"] = st
            .resume_at_us()
            .filter(|_| st.paused())
            .map_or(Value::Null, |us| Value::String(rfc3339_us(us)));
        answer["paused_by"] = st.paused_by().map(|by| by.name()).into();
        answer["paused_by_trigger"] = crate::serve::status::paused_by_trigger(st).into();
    }
    let body = answer.to_string() + "\n";
    let epoch = st.epoch_us().to_string();
    http::write_simple(
        &mut out.bytes,
        200,
        "application/json",
        body.as_bytes(),
        keep_alive,
        head_only,
        &[("X-Circolog-Epoch", epoch.as_str())],
    );
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;
    use serde_json::json;

    use super::super::{Config, Conn, Now, Peer, Role, Want};
    use super::*;
    use crate::daemon::PausedBy;
    use crate::ingest::syslog::ParseContext;
    use crate::serve::fanout::Fanout;
    use crate::store::ring::{Config as RingConfig, Incoming, Ring, Transport};
    use crate::store::snapshot::{self, Snapshots, Why};

    const NOW_US: i64 = 1_800_000_000_000_000;

    fn state(max_messages: usize) -> State {
        let ring = Ring::new(RingConfig {
            max_messages,
            arena_bytes: 64 << 20,
            max_message_bytes: 1024,
        })
        .expect("ring");
        let snaps = Snapshots::new(snapshot::Config {
            arena_bytes: 1 << 20,
            max_snapshots: 2,
        })
        .expect("snapshots");
        let tz = jiff::tz::TimeZone::UTC;
        State::new(ring, 7, ParseContext { tz }).with_snapshots(snaps)
    }

    fn store(st: &mut State, received_us: i64, line: &str) {
        st.ingest(Incoming {
            received_us,
            transport: Transport::Udp,
            cred: None,
            truncated: false,
            bytes: line.as_bytes(),
        });
    }

    /// What a client reads for `request` on a new connection, and how many
    /// times the connection gave the loop back before it was answered.
    fn ask(st: &mut State, request: &str) -> (String, usize) {
        let now = Now {
            at: Instant::now(),
            unix_us: NOW_US,
        };
        let peer = Peer {
            tcp: false,
            loopback: false,
            allowed: true,
        };
        let cfg = Config {
            max_head: 16 * 1024,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            max_clients: 16,
            max_ws_frame: 64 * 1024,
        };
        let mut fanout = Fanout::new();
        let mut out = Out::default();
        let mut conn = Conn::accept(now, Role::Query, peer, cfg, st, &mut out);
        conn.handle_input(now, request.as_bytes());
        let (mut answer, mut yields) = (Vec::new(), 0);
        for _ in 0..1_000_000 {
            let want = conn.poll_output(now, st, &mut fanout, &mut out);
            answer.append(&mut out.bytes);
            out.clear();
            match want {
                Want::Yield => yields += 1,
                Want::Close | Want::Read { .. } => break,
                _ => {}
            }
        }
        conn.finish(st, &mut fanout);
        (String::from_utf8_lossy(&answer).into_owned(), yields)
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
    }

    /// The JSON body of a `200` answer.
    fn json_of(answer: &str) -> Value {
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        let body = answer.split_once("\r\n\r\n").expect("a head").1;
        serde_json::from_str(body).expect("JSON")
    }

    /// The counts of a histogram answer, per bucket, by severity.
    fn counts(h: &Value) -> Vec<[u64; 8]> {
        h["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| {
                let mut c = [0; 8];
                for (i, name) in histogram::SEVERITIES.iter().enumerate() {
                    c[i] = b["counts"][name].as_u64().expect("a count");
                }
                c
            })
            .collect()
    }

    /// The JSON lines of a dump, dechunked loosely: every line that is an
    /// object.
    fn dump_lines(answer: &str) -> Vec<Value> {
        let body = answer.split_once("\r\n\r\n").expect("a head").1;
        body.lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    fn us_of(rfc3339: &Value) -> i64 {
        let t: jiff::Timestamp = rfc3339.as_str().expect("a time").parse().expect("RFC 3339");
        t.as_microsecond()
    }

    #[test]
    fn counts_per_bucket_and_severity() {
        let mut st = state(100);
        let t0 = 1_700_000_000_000_000;
        store(&mut st, t0, "<11>1 - web1 nginx - - - boom");
        store(&mut st, t0 + 4_000_000, "<14>1 - web1 nginx - - - fine");
        store(&mut st, t0 + 5_000_000, "<14>1 - db1 pg - - - fine");
        store(&mut st, t0 + 9_000_000, "<12>1 - db1 pg - - - hmm");
        let (answer, _) = ask(&mut st, &get("/histogram?buckets=3"));
        assert!(
            answer.contains("Content-Type: application/json\r\n"),
            "{answer}"
        );
        let h = json_of(&answer);
        assert_eq!(h["from"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(h["until"], "2023-11-14T22:13:29.000001Z");
        assert_eq!(h["bucket_us"], 3_000_001);
        assert_eq!(h["buckets"][1]["start"], "2023-11-14T22:13:23.000001Z");
        assert_eq!(h["paused"], false);
        assert_eq!(h["resumes_at"], Value::Null);
        let c = counts(&h);
        assert_eq!(c.len(), 3);
        assert_eq!((c[0][3], c[1][6], c[2][4]), (1, 2, 1));
        assert_eq!(c.iter().flatten().sum::<u64>(), 4);
        // Any parameter of GET / applies.
        let h = json_of(&ask(&mut st, &get("/histogram?host=db1&buckets=1&fmt=raw")).0);
        assert_eq!(counts(&h), vec![[0, 0, 0, 0, 1, 0, 1, 0]]);
        assert_eq!(
            h["from"], "2023-11-14T22:13:20.000000Z",
            "the range is the ring's"
        );
        // l=N counts the last N matches.
        let h = json_of(&ask(&mut st, &get("/histogram?l=2&grep=fine&buckets=1")).0);
        assert_eq!(counts(&h), vec![[0, 0, 0, 0, 0, 0, 2, 0]]);
        assert_eq!(h["from"], "2023-11-14T22:13:24.000000Z");
        // A pause shows, with when it ends.
        st.pause_for(Duration::from_secs(90), NOW_US, PausedBy::Api);
        let h = json_of(&ask(&mut st, &get("/histogram")).0);
        assert_eq!(h["paused"], true);
        assert_eq!(h["resumes_at"], "2027-01-15T08:01:30.000000Z");
        assert_eq!(h["paused_by"], "api", "and how it came");
        assert_eq!(h["paused_by_trigger"], Value::Null);
    }

    #[test]
    fn an_empty_ring_has_no_buckets_unless_given_a_range() {
        let mut st = state(10);
        let h = json_of(&ask(&mut st, &get("/histogram")).0);
        assert_eq!(
            h,
            json!({"from": null, "until": null, "bucket_us": null, "buckets": [],
                   "paused": false, "resumes_at": null, "paused_by": null,
                   "paused_by_trigger": null})
        );
        let q = "/histogram?from=2026-01-01T00:00:00Z&until=2026-01-01T00:01:00Z&buckets=6";
        let h = json_of(&ask(&mut st, &get(q)).0);
        assert_eq!(h["bucket_us"], 10_000_000);
        assert_eq!(counts(&h), vec![[0; 8]; 6]);
        assert_eq!(h["buckets"][5]["start"], "2026-01-01T00:00:50.000000Z");
    }

    #[test]
    fn bad_parameters_are_a_400_and_the_connection_goes_on() {
        let mut st = state(10);
        store(&mut st, 1, "<14>1 - h a - - - x");
        for (q, reason) in [
            (
                "buckets=0",
                "bad buckets \"0\": expected a number of buckets from 1 to 1000\n",
            ),
            ("buckets=1001", "bad buckets \"1001\""),
            ("buckets=many", "bad buckets \"many\""),
            ("buckets=1&buckets=2", "repeated parameter \"buckets\"\n"),
            ("sev=loud", "bad sev"),
            ("nope=1", "unknown parameter"),
        ] {
            let two = get(&format!("/histogram?{q}")) + &get("/histogram?buckets=1");
            let (answer, _) = ask(&mut st, &two);
            assert!(answer.starts_with("HTTP/1.1 400 "), "{q}: {answer}");
            assert!(answer.contains(reason), "{q}: {answer}");
            assert_eq!(answer.matches("HTTP/1.1 200 ").count(), 1, "{q}: {answer}");
        }
        let post = "POST /histogram HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let (answer, _) = ask(&mut st, post);
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
        // HEAD: the head, with the length of the body a GET gets.
        let head = "HEAD /histogram HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let (answer, _) = ask(&mut st, head);
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.ends_with("\r\n\r\n"), "no body: {answer}");
    }

    /// A large ring is counted in slices: the loop gets control back.
    #[test]
    fn a_large_ring_is_counted_a_slice_at_a_time() {
        let mut st = state(300_000);
        for i in 0..300_000 {
            let line = if i % 3 == 0 {
                "<11>1 - h a - - - e"
            } else {
                "<14>1 - h b - - - i"
            };
            store(&mut st, i, line);
        }
        for q in ["buckets=1000", "app=a&buckets=7", "sev=err", "grep=e"] {
            let (answer, yields) = ask(&mut st, &get(&format!("/histogram?{q}")));
            let total: u64 = counts(&json_of(&answer)).iter().flatten().sum();
            let want = if q.starts_with("buckets") {
                300_000
            } else {
                100_000
            };
            assert_eq!(total, want, "{q}");
            assert!(yields >= 2, "{q}: {yields} yields");
        }
    }

    #[test]
    fn snapshots_have_histograms_too() {
        let mut st = state(100);
        store(&mut st, 1_000_000, "<11>1 - h a - - - e");
        store(&mut st, 2_000_000, "<14>1 - h a - - - i");
        let id = st.take_snapshot(Why::Api, None, 0).expect("taken");
        while st.housekeep(0) {}
        store(&mut st, 3_000_000, "<14>1 - h a - - - later");
        let h = json_of(
            &ask(
                &mut st,
                &get(&format!("/snapshots/{id}/histogram?buckets=2")),
            )
            .0,
        );
        assert_eq!(
            counts(&h),
            vec![[0, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0]]
        );
        assert_eq!(h.get("paused"), None, "a snapshot is not paused or live");
        let (answer, _) = ask(&mut st, &get("/snapshots/9/histogram"));
        assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
        assert!(answer.contains("no snapshot 9"), "{answer}");
        let (answer, _) = ask(
            &mut st,
            &get(&format!("/snapshots/{id}/histogram?buckets=0")),
        );
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    }

    fn query() -> impl Strategy<Value = String> {
        let one = prop_oneof![
            (0u8..8).prop_map(|s| format!("sev={s}")),
            (0u8..8).prop_map(|s| format!("sev=!{s}")),
            prop::sample::subsequence(vec!["user", "daemon", "auth", "local0"], 1..3)
                .prop_map(|f| format!("fac={}", f.join(","))),
            (0u8..3).prop_map(|a| format!("app=app{a}")),
            (0u8..3).prop_map(|a| format!("app=app{a},app{a}")),
            (0u8..3).prop_map(|a| format!("app=!app{a}")),
            (0u8..3).prop_map(|a| format!("host=h{a}")),
            (0u8..3).prop_map(|a| format!("host=app{a}")),
            (0u8..3).prop_map(|a| format!("host=!h{a}")),
            (0u8..3).prop_map(|t| format!("grep=word{t}")),
            (0u8..3).prop_map(|t| format!("not=word{t}")),
            (0u8..3).prop_map(|t| format!("re=word[{t}-2]")),
            (0u64..40).prop_map(|s| format!("since={s}")),
            (0u64..10).prop_map(|l| format!("l={l}")),
            (0i64..400).prop_map(|t| format!("from={}", rfc3339_us(t * 1000))),
            (0i64..400).prop_map(|t| format!("until={}", rfc3339_us(t * 1000))),
        ];
        proptest::collection::vec(one, 0..4).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .filter(|p| seen.insert(p.split('=').next().unwrap_or("").to_string()))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// For any stored messages (some evicted), query and bucket count,
        /// the buckets add up to the messages `GET /` sends for the same
        /// query, and each is counted in the bucket its receive time falls
        /// in, under its severity.
        #[test]
        fn the_buckets_add_up_to_what_a_dump_sends(
            msgs in proptest::collection::vec((0i64..20_000, 0u8..8, 0u8..4, 0u8..3, 0u8..3, 0u8..3), 0..60),
            q in query(),
            buckets in 1u32..50,
        ) {
            let mut st = state(40);
            let mut t = 0;
            for (dt, sev, fac, who, text, shape) in &msgs {
                t += dt;
                let fac = [1u16, 3, 4, 16][usize::from(*fac)];
                let pri = fac * 8 + u16::from(*sev);
                // The app's name is in other messages' MSG, hostnames and
                // longer app-names too.
                let line = match shape {
                    0 => format!("<{pri}>1 - h{who} app{who} - - - word{text} app{text}"),
                    1 => format!("<{pri}>Oct 11 22:14:15 app{text} app{who}[7]: word{text}"),
                    _ => format!("<{pri}>1 - h{text} app{who}x - - - word{text} app{who}"),
                };
                store(&mut st, t, &line);
            }
            let sep = if q.is_empty() { "" } else { "&" };
            let (dump, _) = ask(&mut st, &get(&format!("/?fmt=json{sep}{q}")));
            if !dump.starts_with("HTTP/1.1 200 ") {
                // A query GET / refuses (from later than until) is refused here too.
                let (answer, _) = ask(&mut st, &get(&format!("/histogram?{q}")));
                prop_assert!(answer.starts_with("HTTP/1.1 400 "), "{}", answer);
                return Ok(());
            }
            let lines = dump_lines(&dump);
            let (answer, _) = ask(&mut st, &get(&format!("/histogram?buckets={buckets}{sep}{q}")));
            let h = json_of(&answer);
            let c = counts(&h);
            prop_assert_eq!(c.iter().flatten().sum::<u64>(), lines.len() as u64, "{}", answer);
            if c.is_empty() {
                prop_assert!(lines.is_empty());
                return Ok(());
            }
            prop_assert_eq!(c.len(), buckets as usize);
            let (from, bucket_us) = (us_of(&h["from"]), h["bucket_us"].as_i64().expect("µs"));
            let mut want = vec![[0u64; 8]; buckets as usize];
            for line in &lines {
                let at = us_of(&line["received"]);
                let i = usize::try_from((at - from) / bucket_us).expect("not before from");
                let sev = histogram::SEVERITIES.iter().position(|s| line["severity"] == *s);
                want[i][sev.expect("a severity")] += 1;
            }
            prop_assert_eq!(c, want);
        }
    }
}
