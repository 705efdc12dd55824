//! The exporter on a fake clock (bytes in, bytes out), its records decoded
//! with the official protos, and one run against a real OTLP receiver.

// All of this file is test code: its module is declared `#[cfg(test)]`.
#[cfg(test)]
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message as _;

use super::*;
use crate::ingest::syslog::{self, ParseContext};
use crate::store::ring::{Cred, Seq, Transport};

const EPOCH: i64 = 1_700_000_000_000_000;
/// 2024-01-08T19:46:03Z, in µs.
const RECEIVED: i64 = 1_704_743_163_000_000;

fn exporter_with(buffer: usize) -> Exporter {
    Exporter::new(Config {
        endpoint: Endpoint::parse("http://127.0.0.1:4318/v1/logs").unwrap(),
        buffer_bytes: buffer,
        host_name: "web-1".to_string(),
        epoch_us: EPOCH,
    })
    .unwrap()
}

fn exporter() -> Exporter {
    exporter_with(DEFAULT_BUFFER)
}

fn entry(seq: Seq, raw: &[u8]) -> Entry<'_> {
    Entry {
        seq,
        received_us: RECEIVED,
        transport: Transport::Unix,
        cred: None,
        unit: None,
        truncated: false,
        index: None,
        raw,
    }
}

fn parse(e: &Entry<'_>) -> syslog::Message<'static> {
    // The tests' messages live as long as the test: leak them for a
    // 'static parse.
    let raw: &'static [u8] = Box::leak(e.raw.to_vec().into_boxed_slice());
    let ctx = ParseContext { tz: TimeZone::UTC };
    syslog::parse(
        raw,
        Timestamp::from_microsecond(e.received_us).unwrap(),
        &ctx,
    )
}

fn push(x: &mut Exporter, now: Instant, seq: Seq, raw: &[u8]) {
    let e = entry(seq, raw);
    x.push_message(now, &e, &parse(&e), None);
}

fn push_n(x: &mut Exporter, now: Instant, from: Seq, n: u64) {
    for seq in Seq::range(from, from.plus(n)) {
        push(
            x,
            now,
            seq,
            format!("<13>1 - h app - - - message {seq}").as_bytes(),
        );
    }
}

/// The head and the decoded body of a request the exporter wrote.
fn decode(out: &[u8]) -> (String, ExportLogsServiceRequest) {
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8(out[..end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(out.len() - end, length, "Content-Length is the body's");
    let body = ExportLogsServiceRequest::decode(&out[end..]).unwrap();
    (head, body)
}

fn records(req: &ExportLogsServiceRequest) -> Vec<LogRecord> {
    assert_eq!(req.resource_logs.len(), 1);
    assert_eq!(req.resource_logs[0].scope_logs.len(), 1);
    req.resource_logs[0].scope_logs[0].log_records.clone()
}

fn seqs(req: &ExportLogsServiceRequest) -> Vec<i64> {
    records(req)
        .iter()
        .map(|r| match attrs(&r.attributes)["circolog.seq"] {
            Value::IntValue(n) => n,
            ref v => panic!("seq {v:?}"),
        })
        .collect()
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for kv in kvs {
        let v = kv.value.clone().and_then(|v| v.value).unwrap();
        assert!(map.insert(kv.key.clone(), v).is_none(), "{} twice", kv.key);
    }
    map
}

fn s(v: &str) -> Value {
    Value::StringValue(v.to_string())
}

/// Polls, expecting a request; returns it.
fn expect_send(x: &mut Exporter, now: Instant) -> ExportLogsServiceRequest {
    let mut out = Vec::new();
    assert_eq!(x.poll(now, &mut out), Action::Send);
    decode(&out).1
}

/// Polls until connected and a request is out.
fn connect_and_send(x: &mut Exporter, now: Instant) -> ExportLogsServiceRequest {
    let mut out = Vec::new();
    assert_eq!(x.poll(now, &mut out), Action::Connect);
    x.handle_connected(now);
    expect_send(x, now)
}

fn respond(x: &mut Exporter, now: Instant, status: &str, headers: &str, body: &[u8]) {
    let mut r = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    x.handle_response(now, &r);
}

fn ok(x: &mut Exporter, now: Instant) {
    let body = ExportLogsServiceResponse::default().encode_to_vec();
    respond(
        x,
        now,
        "200 OK",
        "Content-Type: application/x-protobuf\r\n",
        &body,
    );
}

// ---- the records ----

#[test]
fn a_record_decodes_with_the_official_protos_field_by_field() {
    let mut x = exporter();
    let t0 = Instant::now();
    let raw = "<165>1 2024-01-08T19:46:02.5+01:00 host.example app 4242 ID47 \
               [ex@32473 iut=\"3\" k=\"a\" k=\"b \\\"q\\\" \\] \\x\"][bare][ex@32473 k=\"c\"] \
               héllo \u{1F600}"
        .as_bytes()
        .to_vec();
    let mut e = entry(Seq::new(7), &raw);
    e.cred = Some(Cred {
        pid: 1234,
        uid: 1000,
        gid: 100,
    });
    e.unit = Some(b"app.service");
    x.push_message(t0, &e, &parse(&e), Some(3));
    let (head, req) = {
        let mut out = Vec::new();
        assert_eq!(x.poll(t0 + LINGER, &mut out), Action::Connect);
        x.handle_connected(t0 + LINGER);
        assert_eq!(x.poll(t0 + LINGER, &mut out), Action::Send);
        decode(&out)
    };
    assert!(head.starts_with("POST /v1/logs HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nHost: 127.0.0.1:4318\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: application/x-protobuf\r\n"),
        "{head}"
    );

    let rl = &req.resource_logs[0];
    let resource = attrs(&rl.resource.as_ref().unwrap().attributes);
    assert_eq!(
        resource,
        BTreeMap::from([
            ("host.name".to_string(), s("web-1")),
            ("service.name".to_string(), s("circologd")),
        ])
    );
    let scope = rl.scope_logs[0].scope.as_ref().unwrap();
    assert_eq!(scope.name, "circologd");
    assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));

    let r = &records(&req)[0];
    // 19:46:02.5+01:00 is 18:46:02.5Z.
    let ts = "2024-01-08T18:46:02.5Z".parse::<Timestamp>().unwrap();
    assert_eq!(r.time_unix_nano, ts.as_nanosecond() as u64);
    assert_eq!(r.observed_time_unix_nano, RECEIVED as u64 * 1000);
    // local4.notice
    assert_eq!(r.severity_number, 10);
    assert_eq!(r.severity_text, "notice");
    assert_eq!(
        r.body,
        Some(AnyValue {
            value: Some(s("héllo \u{1F600}"))
        })
    );
    assert_eq!(r.dropped_attributes_count, 0);
    let array = |vs: &[&str]| {
        Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
            values: vs.iter().map(|v| AnyValue { value: Some(s(v)) }).collect(),
        })
    };
    assert_eq!(
        attrs(&r.attributes),
        BTreeMap::from([
            ("syslog.facility".to_string(), s("local4")),
            ("syslog.hostname".to_string(), s("host.example")),
            ("syslog.appname".to_string(), s("app")),
            ("syslog.procid".to_string(), s("4242")),
            ("syslog.msgid".to_string(), s("ID47")),
            ("circolog.seq".to_string(), Value::IntValue(7)),
            ("circolog.epoch".to_string(), Value::IntValue(EPOCH)),
            ("circolog.cred_pid".to_string(), Value::IntValue(1234)),
            ("circolog.cred_uid".to_string(), Value::IntValue(1000)),
            ("circolog.cred_gid".to_string(), Value::IntValue(100)),
            ("systemd.unit".to_string(), s("app.service")),
            ("circolog.snapshot".to_string(), Value::IntValue(3)),
            ("syslog.sd.ex@32473.iut".to_string(), s("3")),
            // A repeated name, in an element repeated: its values in order.
            (
                "syslog.sd.ex@32473.k".to_string(),
                array(&["a", "b \"q\" ] \\x", "c"])
            ),
            ("syslog.sd.bare".to_string(), s("")),
        ])
    );
}

#[test]
fn severities_follow_the_data_model_syslog_table() {
    let expected = [
        (0, 21, "emerg"),
        (1, 19, "alert"),
        (2, 18, "crit"),
        (3, 17, "err"),
        (4, 13, "warning"),
        (5, 10, "notice"),
        (6, 9, "info"),
        (7, 5, "debug"),
    ];
    let mut x = exporter();
    let t0 = Instant::now();
    for (sev, _, _) in expected {
        push(
            &mut x,
            t0,
            Seq::new(sev),
            format!("<{}>1 - - - - - - m", 8 + sev).as_bytes(),
        );
    }
    let req = connect_and_send(&mut x, t0 + LINGER);
    let got: Vec<_> = records(&req)
        .iter()
        .map(|r| (r.severity_number, r.severity_text.clone()))
        .collect();
    let want: Vec<_> = expected
        .iter()
        .map(|&(_, n, t)| (n, t.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn what_a_message_lacks_is_left_out_and_bad_utf8_replaced() {
    let mut x = exporter();
    let t0 = Instant::now();
    // No PRI, no timestamp: malformed, kept whole as user.notice.
    push(&mut x, t0, Seq::ZERO, b"plain \xff\xfe text \xe2\x82");
    // RFC 5424 with every field NIL, a hostname that is not UTF-8, and an
    // empty message.
    push(&mut x, t0, Seq::new(1), b"<11>1 - ho\xc3st - - - -");
    let rs = records(&connect_and_send(&mut x, t0 + LINGER));
    assert_eq!(rs[0].time_unix_nano, 0, "no timestamp of its own");
    assert_eq!(rs[0].observed_time_unix_nano, RECEIVED as u64 * 1000);
    assert_eq!(
        rs[0].body.clone().unwrap().value,
        Some(s("plain \u{FFFD}\u{FFFD} text \u{FFFD}"))
    );
    let a = attrs(&rs[0].attributes);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        ["circolog.epoch", "circolog.seq", "syslog.facility"]
    );
    assert_eq!(a["syslog.facility"], s("user"));
    assert_eq!(rs[0].severity_text, "notice");

    assert_eq!(rs[1].body.clone().unwrap().value, Some(s("")));
    let a = attrs(&rs[1].attributes);
    assert_eq!(a["syslog.hostname"], s("ho\u{FFFD}st"));
    assert!(!a.contains_key("syslog.appname"));
    assert_eq!(rs[1].severity_text, "err");
}

#[test]
fn structured_data_past_rfc_5424_name_limits_is_dropped_and_counted() {
    let mut x = exporter();
    let t0 = Instant::now();
    let long = "x".repeat(33);
    let raw =
        format!("<13>1 - - - - - [{long} a=\"1\" b=\"2\"][ok {long}=\"3\" fine=\"4\"][{long}] m");
    push(&mut x, t0, Seq::ZERO, raw.as_bytes());
    let r = &records(&connect_and_send(&mut x, t0 + LINGER))[0];
    assert_eq!(r.dropped_attributes_count, 4);
    let a = attrs(&r.attributes);
    assert_eq!(a["syslog.sd.ok.fine"], s("4"));
    assert_eq!(a.keys().filter(|k| k.starts_with("syslog.sd.")).count(), 1);
}

// ---- batching ----

#[test]
fn a_batch_goes_after_one_second_or_at_once_when_full() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    assert_eq!(x.poll(t0, &mut out), Action::Idle);
    push_n(&mut x, t0, Seq::ZERO, 1);
    assert_eq!(x.poll(t0, &mut out), Action::Wait { until: t0 + LINGER });
    let later = t0 + Duration::from_millis(999);
    push_n(&mut x, later, Seq::new(1), 1);
    assert_eq!(
        x.poll(later, &mut out),
        Action::Wait { until: t0 + LINGER },
        "the oldest record sets the time"
    );
    let req = connect_and_send(&mut x, t0 + LINGER);
    assert_eq!(seqs(&req), [0, 1]);
    ok(&mut x, t0 + LINGER);
    assert_eq!(x.poll(t0 + LINGER, &mut out), Action::Idle);

    // 2500 at once: two full batches at once, the rest a second later.
    let t1 = t0 + Duration::from_secs(5);
    push_n(&mut x, t1, Seq::new(2), 2500);
    let req = expect_send(&mut x, t1);
    assert_eq!(seqs(&req), (2..1002).collect::<Vec<_>>());
    ok(&mut x, t1);
    let req = expect_send(&mut x, t1);
    assert_eq!(seqs(&req).len(), MAX_BATCH_RECORDS);
    ok(&mut x, t1);
    assert_eq!(x.poll(t1, &mut out), Action::Wait { until: t1 + LINGER });
    let req = expect_send(&mut x, t1 + LINGER);
    assert_eq!(seqs(&req), (2002..2502).collect::<Vec<_>>());
    ok(&mut x, t1 + LINGER);
    let c = x.counters();
    assert_eq!((c.exported, c.queued, c.queue_bytes), (2502, 0, 0));
    assert!(x.buffer_is_clean());
}

#[test]
fn a_batch_holds_at_most_max_batch_bytes() {
    let mut x = exporter_with(16 << 20);
    let t0 = Instant::now();
    let big = "b".repeat(16 << 10);
    for seq in 0..400 {
        push(
            &mut x,
            t0,
            Seq::new(seq),
            format!("<13>1 - - - - - - {big}").as_bytes(),
        );
    }
    let req = connect_and_send(&mut x, t0);
    let n = seqs(&req).len();
    assert!(n < 400 && n > 200, "{n} records of 16K in a batch");
    assert!(req.encoded_len() <= MAX_BATCH_BYTES + 1024);
}

// ---- the queue ----

#[test]
fn past_the_buffer_the_oldest_waiting_are_dropped() {
    let mut x = exporter_with(MIN_BUFFER);
    let t0 = Instant::now();
    let text = "m".repeat(1000);
    for seq in 0..200 {
        push(
            &mut x,
            t0,
            Seq::new(seq),
            format!("<13>1 - - - - - - {seq} {text}").as_bytes(),
        );
    }
    let c = x.counters();
    assert!(c.dropped > 100, "{c:?}");
    assert_eq!(c.dropped + c.queued, 200);
    assert!(c.queue_bytes <= MIN_BUFFER as u64);
    let req = connect_and_send(&mut x, t0 + LINGER);
    let got = seqs(&req);
    // What is left is the newest, in order.
    assert_eq!(got, (c.dropped as i64..200).collect::<Vec<_>>());
    assert!(x.buffer_is_clean());
}

#[test]
fn records_of_a_request_in_flight_are_counted_by_its_answer() {
    let mut x = exporter_with(MIN_BUFFER);
    let t0 = Instant::now();
    let text = "m".repeat(1000);
    let mut seq = 0;
    let mut push_k = |x: &mut Exporter, k: u64| {
        for _ in 0..k {
            push(
                x,
                t0,
                Seq::new(seq),
                format!("<13>1 - - - - - - {seq} {text}").as_bytes(),
            );
            seq += 1;
        }
    };
    push_k(&mut x, 10);
    assert_eq!(seqs(&connect_and_send(&mut x, t0 + LINGER)).len(), 10);
    // The buffer fills while the request is out: its records go from the
    // queue but were sent.
    push_k(&mut x, 200);
    let before = x.counters();
    ok(&mut x, t0 + LINGER);
    let c = x.counters();
    assert_eq!(c.exported, 10);
    assert_eq!(c.dropped, before.dropped, "sent, not dropped");
    assert_eq!(c.exported + c.dropped + c.queued, 210);

    // And when that request fails, what was dropped from it is lost.
    let _ = expect_send(&mut x, t0 + LINGER);
    push_k(&mut x, 200);
    let before = x.counters();
    x.handle_error(t0 + LINGER, "connection reset");
    let c = x.counters();
    assert!(c.dropped > before.dropped);
    assert_eq!(c.exported + c.dropped + c.queued, 410);
    assert!(x.buffer_is_clean());
}

#[test]
fn clear_discards_and_zeroes_what_waits() {
    let mut x = exporter();
    let t0 = Instant::now();
    push_n(&mut x, t0, Seq::ZERO, 50);
    x.clear();
    let c = x.counters();
    assert_eq!((c.queued, c.queue_bytes, c.dropped), (0, 0, 50));
    assert!(x.buffer_is_clean());
    assert_eq!(x.poll(t0 + LINGER, &mut Vec::new()), Action::Idle);
}

/// A clear while a request is out: the request goes too (the driver
/// zeroes what it had not written), its records count as dropped, and
/// what comes after goes on a new connection.
#[test]
fn clear_abandons_a_request_in_flight() {
    let mut x = exporter_with(MIN_BUFFER);
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 10);
    let _ = connect_and_send(&mut x, t0);
    // The buffer overflows while it is out: 10 of them leave the queue.
    let big = "b".repeat(4000);
    for i in 0..20 {
        push(
            &mut x,
            t0,
            Seq::new(10 + i),
            format!("<13>1 - - - - - - {big}").as_bytes(),
        );
    }
    let c = x.counters();
    assert_eq!(c.exported + c.failed + c.dropped + c.queued, 30, "{c:?}");
    x.clear();
    assert_eq!(x.poll(t0, &mut out), Action::Close);
    let c = x.counters();
    assert_eq!(
        (c.queued, c.queue_bytes, c.dropped, c.exported),
        (0, 0, 30, 0)
    );
    assert!(x.buffer_is_clean());
    // An answer to the abandoned request, if one still came, changes nothing.
    ok(&mut x, t0);
    assert_eq!(x.counters(), c);
    push_n(&mut x, t0, Seq::new(30), 1);
    assert_eq!(x.poll(t0 + LINGER, &mut out), Action::Connect);
}

#[test]
fn a_buffer_below_the_minimum_is_a_clear_error() {
    let err = Exporter::new(Config {
        endpoint: Endpoint::parse("http://127.0.0.1:4318").unwrap(),
        buffer_bytes: 1000,
        host_name: "h".into(),
        epoch_us: 0,
    })
    .err()
    .unwrap();
    assert_eq!(err.to_string(), "the export buffer must be at least 64K");
}

// ---- answers and retries ----

#[test]
fn a_503_with_retry_after_waits_that_long_then_sends_again() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0, Seq::ZERO, 5);
    let first = connect_and_send(&mut x, t0 + LINGER);
    let t1 = t0 + LINGER;
    respond(
        &mut x,
        t1,
        "503 Service Unavailable",
        "Retry-After: 7\r\nContent-Type: text/plain\r\n",
        b"busy\n",
    );
    assert_eq!(x.counters().retried, 5);
    assert_eq!(
        x.poll(t1, &mut out),
        Action::Wait {
            until: t1 + Duration::from_secs(7)
        }
    );
    assert_eq!(
        x.poll(t1 + Duration::from_millis(6999), &mut out),
        Action::Wait {
            until: t1 + Duration::from_secs(7)
        }
    );
    // Same connection (keep-alive), same records.
    let again = expect_send(&mut x, t1 + Duration::from_secs(7));
    assert_eq!(again, first);
    ok(&mut x, t1 + Duration::from_secs(7));
    let c = x.counters();
    assert_eq!((c.exported, c.retried, c.failed, c.queued), (5, 5, 0, 0));
    assert_eq!(
        x.last_error(),
        Some("HTTP 503 Service Unavailable from 127.0.0.1:4318: busy")
    );
}

/// `Retry-After: 0` must not make a loop of requests: the first backoff
/// is the least wait, however often the endpoint says it.
#[test]
fn retry_after_zero_waits_the_first_backoff() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 3);
    let mut now = t0;
    let _ = connect_and_send(&mut x, now);
    for _ in 0..5 {
        respond(
            &mut x,
            now,
            "503 Service Unavailable",
            "Retry-After: 0\r\n",
            b"",
        );
        assert_eq!(
            x.poll(now, &mut out),
            Action::Wait {
                until: now + FIRST_BACKOFF
            }
        );
        now += FIRST_BACKOFF;
        let _ = expect_send(&mut x, now);
    }
    // One second (more than 0, less than the doubled backoff) is taken as said.
    respond(
        &mut x,
        now,
        "503 Service Unavailable",
        "Retry-After: 1\r\n",
        b"",
    );
    assert_eq!(
        x.poll(now, &mut out),
        Action::Wait {
            until: now + Duration::from_secs(1)
        }
    );
}

#[test]
fn retry_after_is_capped() {
    let mut x = exporter();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 1);
    let _ = connect_and_send(&mut x, t0);
    respond(
        &mut x,
        t0,
        "429 Too Many Requests",
        "Retry-After: 86400\r\n",
        b"",
    );
    assert_eq!(
        x.poll(t0, &mut Vec::new()),
        Action::Wait {
            until: t0 + MAX_RETRY_AFTER
        }
    );
}

#[test]
fn connection_errors_back_off_exponentially_up_to_the_cap() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0, Seq::ZERO, 3);
    let mut now = t0 + LINGER;
    let mut waits = Vec::new();
    for _ in 0..8 {
        assert_eq!(x.poll(now, &mut out), Action::Connect);
        x.handle_error(now, "connecting to 127.0.0.1:4318: Connection refused");
        assert_eq!(x.poll(now, &mut out), Action::Close);
        let Action::Wait { until } = x.poll(now, &mut out) else {
            panic!("no backoff");
        };
        waits.push((until - now).as_secs());
        now = until;
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    let c = x.counters();
    assert_eq!((c.retried, c.queued, c.exported), (24, 3, 0));
    assert_eq!(
        x.last_error(),
        Some("connecting to 127.0.0.1:4318: Connection refused")
    );
    // A success starts the backoff again from the first step.
    assert_eq!(x.poll(now, &mut out), Action::Connect);
    x.handle_connected(now);
    let _ = expect_send(&mut x, now);
    ok(&mut x, now);
    assert_eq!(x.counters().exported, 3);
    push_n(&mut x, now, Seq::new(3), 1);
    let _ = expect_send(&mut x, now + LINGER);
    let now = now + LINGER;
    // (A kept-alive connection failing before any answer is only stale:
    // replaced at once.)
    x.handle_error(now, "reset");
    assert_eq!(x.poll(now, &mut out), Action::Close);
    assert_eq!(x.poll(now, &mut out), Action::Connect);
    x.handle_error(now, "refused");
    assert_eq!(x.poll(now, &mut out), Action::Close);
    assert_eq!(
        x.poll(now, &mut out),
        Action::Wait {
            until: now + FIRST_BACKOFF
        }
    );
}

#[test]
fn a_500_is_retried_with_backoff() {
    let mut x = exporter();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 2);
    let _ = connect_and_send(&mut x, t0);
    respond(&mut x, t0, "500 Internal Server Error", "", b"");
    assert_eq!(
        x.poll(t0, &mut Vec::new()),
        Action::Wait {
            until: t0 + FIRST_BACKOFF
        }
    );
    assert_eq!(x.counters().retried, 2);
    assert_eq!(x.counters().queued, 2);
}

#[test]
fn a_400_drops_the_batch_as_failed_and_says_why() {
    let mut x = exporter();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 4);
    let _ = connect_and_send(&mut x, t0);
    // google.rpc.Status { code: 3, message: "bad timestamp" }
    let mut status = vec![0x08, 3, 0x12, 13];
    status.extend_from_slice(b"bad timestamp");
    respond(
        &mut x,
        t0,
        "400 Bad Request",
        "Content-Type: application/x-protobuf\r\n",
        &status,
    );
    let c = x.counters();
    assert_eq!((c.failed, c.queued, c.retried, c.exported), (4, 0, 0, 0));
    assert_eq!(
        x.last_error(),
        Some("HTTP 400 Bad Request from 127.0.0.1:4318: bad timestamp")
    );
    assert_eq!(x.poll(t0, &mut Vec::new()), Action::Idle);
    assert!(x.buffer_is_clean());
}

#[test]
fn a_partial_success_counts_the_rejected_as_failed() {
    let mut x = exporter();
    let t0 = Instant::now();
    push_n(&mut x, t0, Seq::ZERO, 10);
    let _ = connect_and_send(&mut x, t0 + LINGER);
    let body = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: 3,
            error_message: "3 records too old".into(),
        }),
    }
    .encode_to_vec();
    respond(
        &mut x,
        t0 + LINGER,
        "200 OK",
        "Content-Type: application/x-protobuf\r\n",
        &body,
    );
    let c = x.counters();
    assert_eq!((c.exported, c.failed, c.queued), (7, 3, 0));
    assert_eq!(
        x.last_error(),
        Some("127.0.0.1:4318 rejected 3 records: 3 records too old")
    );
}

#[test]
fn a_response_in_pieces_chunked_or_ended_by_close_is_read() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 1);
    let _ = connect_and_send(&mut x, t0);
    let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    for b in r.chunks(3) {
        x.handle_response(t0, b);
    }
    assert_eq!(x.counters().exported, 1);

    push_n(&mut x, t0, Seq::new(1), 1);
    let _ = expect_send(&mut x, t0 + LINGER);
    x.handle_response(t0 + LINGER, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    x.handle_eof(t0 + LINGER);
    assert_eq!(x.counters().exported, 2);
    assert_eq!(x.poll(t0 + LINGER, &mut out), Action::Close);
    // The next batch needs a new connection.
    push_n(&mut x, t0, Seq::new(2), 1);
    assert_eq!(x.poll(t0 + LINGER, &mut out), Action::Connect);
}

#[test]
fn connection_close_in_the_answer_closes_it() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 1);
    let _ = connect_and_send(&mut x, t0);
    respond(&mut x, t0, "200 OK", "Connection: close\r\n", b"");
    assert_eq!(x.poll(t0, &mut out), Action::Close);
    assert_eq!(x.poll(t0, &mut out), Action::Idle);
}

/// Writing the request and reading its response share one deadline: a
/// request the endpoint never reads (never written whole, so no
/// `handle_*` comes at all) is given up at it like one never answered.
#[test]
fn no_response_in_time_is_retried() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 2);
    let _ = connect_and_send(&mut x, t0);
    assert_eq!(
        x.poll(t0, &mut out),
        Action::Wait {
            until: t0 + RESPONSE_TIMEOUT
        }
    );
    let t1 = t0 + RESPONSE_TIMEOUT;
    assert_eq!(x.poll(t1, &mut out), Action::Close);
    assert_eq!(
        x.poll(t1, &mut out),
        Action::Wait {
            until: t1 + FIRST_BACKOFF
        }
    );
    assert_eq!(x.counters().retried, 2);
    assert_eq!(
        x.last_error(),
        Some("127.0.0.1:4318 gave no response within 30 s")
    );
}

/// The endpoint answered `200` and then nothing more (the head cut in the
/// middle): the records count as exported and are not sent again; the
/// connection is closed and the next batch goes on a new one.
#[test]
fn a_2xx_then_a_stall_counts_as_exported_and_is_not_sent_again() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 4);
    let _ = connect_and_send(&mut x, t0);
    x.handle_response(t0, b"HTTP/1.1 200 OK\r\nContent-Le");
    let t1 = t0 + RESPONSE_TIMEOUT;
    assert_eq!(x.poll(t1, &mut out), Action::Close);
    let c = x.counters();
    assert_eq!((c.exported, c.retried, c.queued), (4, 0, 0), "{c:?}");
    assert_eq!(
        x.last_error(),
        Some(
            "127.0.0.1:4318 gave no response within 30 s \
             (after HTTP 200: the records count as exported)"
        )
    );
    // Nothing to send again; new records go at once on a new connection,
    // without a backoff.
    assert_eq!(x.poll(t1, &mut out), Action::Idle);
    push_n(&mut x, t1 - LINGER, Seq::new(4), 2);
    assert_eq!(x.poll(t1, &mut out), Action::Connect);
    x.handle_connected(t1);
    assert_eq!(seqs(&expect_send(&mut x, t1)), vec![4, 5]);

    // Also when the connection breaks off after the status line.
    x.handle_response(t1, b"HTTP/1.1 204 No Content\r\n");
    x.handle_eof(t1);
    assert_eq!(x.counters().exported, 6);
    // But not for a 503 cut short: that batch goes again.
    push_n(&mut x, t1 - LINGER, Seq::new(6), 1);
    assert_eq!(x.poll(t1, &mut out), Action::Close);
    assert_eq!(x.poll(t1, &mut out), Action::Connect);
    x.handle_connected(t1);
    let _ = expect_send(&mut x, t1);
    x.handle_response(t1, b"HTTP/1.1 503 Busy\r\nRetry-");
    x.handle_eof(t1);
    assert_eq!((x.counters().exported, x.counters().retried), (6, 1));
}

#[test]
fn a_connection_that_does_not_open_in_time_is_given_up() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0, Seq::ZERO, 1);
    assert_eq!(x.poll(t0, &mut out), Action::Wait { until: t0 + LINGER });
    let t1 = t0 + LINGER;
    assert_eq!(x.poll(t1, &mut out), Action::Connect);
    assert_eq!(
        x.poll(t1, &mut out),
        Action::Wait {
            until: t1 + CONNECT_TIMEOUT
        }
    );
    assert_eq!(x.poll(t1 + CONNECT_TIMEOUT, &mut out), Action::Close);
    assert_eq!(
        x.last_error(),
        Some("connecting to 127.0.0.1:4318 timed out after 10 s")
    );
}

#[test]
fn a_kept_alive_connection_the_endpoint_closed_is_replaced_at_once() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 1);
    let _ = connect_and_send(&mut x, t0);
    ok(&mut x, t0);
    // Idle, the endpoint closes it: no error.
    x.handle_eof(t0);
    assert_eq!(x.poll(t0, &mut out), Action::Close);

    // Or it closes it just as the next request goes.
    push_n(&mut x, t0, Seq::new(1), 1);
    let _ = connect_and_send(&mut x, t0 + LINGER);
    ok(&mut x, t0 + LINGER);
    push_n(&mut x, t0 + LINGER, Seq::new(2), 1);
    let t1 = t0 + LINGER + LINGER;
    let sent = expect_send(&mut x, t1);
    x.handle_eof(t1);
    assert_eq!(x.poll(t1, &mut out), Action::Close);
    assert_eq!(x.poll(t1, &mut out), Action::Connect, "no backoff");
    x.handle_connected(t1);
    assert_eq!(expect_send(&mut x, t1), sent);
    // A fresh connection that fails is a failure.
    x.handle_eof(t1);
    assert_eq!(x.poll(t1, &mut out), Action::Close);
    assert_eq!(
        x.poll(t1, &mut out),
        Action::Wait {
            until: t1 + FIRST_BACKOFF
        }
    );
    let c = x.counters();
    assert_eq!((c.exported, c.retried), (2, 1));
}

#[test]
fn bytes_nobody_asked_for_close_the_connection() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 1);
    let _ = connect_and_send(&mut x, t0);
    respond(&mut x, t0, "200 OK", "", b"");
    x.handle_response(t0, b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(x.poll(t0, &mut out), Action::Close);
    assert_eq!(x.counters().exported, 1);
}

#[test]
fn a_malformed_response_is_retried() {
    let mut x = exporter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    push_n(&mut x, t0 - LINGER, Seq::ZERO, 1);
    let _ = connect_and_send(&mut x, t0);
    x.handle_response(t0, b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
    assert_eq!(x.poll(t0, &mut out), Action::Close);
    assert_eq!(x.counters().retried, 1);
    assert!(
        x.last_error()
            .is_some_and(|e| e.starts_with("malformed response from 127.0.0.1:4318")),
        "{:?}",
        x.last_error()
    );
}

/// Whatever happens, every record pushed ends exported, failed or dropped,
/// or is still queued; and no byte of a record outlives it.
#[test]
fn every_record_is_accounted_for() {
    let mut x = exporter_with(MIN_BUFFER);
    let mut out = Vec::new();
    let t0 = Instant::now();
    let mut now = t0;
    let mut pushed = 0;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..5000 {
        let r = next();
        match r % 8 {
            0..=2 => {
                let len = (r >> 8) % 2000;
                let text = "z".repeat(len as usize);
                push(
                    &mut x,
                    now,
                    Seq::new(pushed),
                    format!("<13>1 - - - - - - {text}").as_bytes(),
                );
                pushed += 1;
            }
            3 => now += Duration::from_millis((r >> 8) % 3000),
            4 => {
                out.clear();
                let _ = x.poll(now, &mut out);
            }
            5 => x.handle_connected(now),
            6 => match (r >> 8) % 5 {
                0 => ok(&mut x, now),
                1 => respond(&mut x, now, "400 Bad Request", "", b""),
                2 => respond(
                    &mut x,
                    now,
                    "503 Service Unavailable",
                    "Retry-After: 1\r\n",
                    b"",
                ),
                3 => x.handle_eof(now),
                4 if r >> 16 & 1 == 0 => x.handle_error(now, "reset"),
                // A 2xx whose head never ends.
                _ => x.handle_response(now, b"HTTP/1.1 200 OK\r\nContent-Le"),
            },
            _ => {
                if (r >> 8) % 50 == 0 {
                    x.clear();
                }
            }
        }
        // At every step, a request in flight included.
        let c = x.counters();
        assert_eq!(
            c.exported + c.failed + c.dropped + c.queued,
            pushed,
            "{c:?}"
        );
        assert!(c.queue_bytes <= c.queue_capacity);
        // (A scan of the whole buffer: not at every step.)
        if i % 64 == 0 {
            assert!(x.buffer_is_clean());
        }
    }
    assert!(
        x.counters().exported > 0 && x.counters().dropped > 0,
        "{:?}",
        x.counters()
    );
}

// ---- properties ----

proptest::proptest! {
    /// Whatever a sender sends, its record decodes, with the message text
    /// as the body.
    #[test]
    fn any_message_makes_a_record_the_protos_decode(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let mut x = exporter();
        let t0 = Instant::now();
        let e = entry(Seq::ZERO, &raw);
        let msg = parse(&e);
        x.push_message(t0, &e, &msg, None);
        let rs = records(&connect_and_send(&mut x, t0 + LINGER));
        proptest::prop_assert_eq!(rs.len(), 1);
        let body = String::from_utf8_lossy(msg.message).into_owned();
        proptest::prop_assert_eq!(rs[0].body.clone().unwrap().value, Some(Value::StringValue(body)));
        let _ = attrs(&rs[0].attributes);
    }

    /// Structured-data values are written as unescaping then a lossy
    /// conversion would give them.
    #[test]
    fn sd_values_unescape_like_the_parser(raw in proptest::collection::vec(proptest::sample::select(b"ab\\\"]\xc3\xa9\xff ".to_vec()), 0..40)) {
        let mut w = otlp::Writer::new(1024);
        w.put_sd_value(&raw);
        let mut want = Vec::new();
        syslog::unescape_sd_value(&raw, &mut want);
        proptest::prop_assert_eq!(
            String::from_utf8(w.bytes().to_vec()).unwrap(),
            String::from_utf8_lossy(&want).into_owned()
        );
    }
}

// ---- against a real receiver ----

mod receiver;
