//! `GET /histogram`'s query strings: any text is a number of buckets and a
//! query, or a one-line reason; a histogram of a few stored messages has
//! the buckets asked for, and counts exactly the messages the query's
//! filter selects, each in the bucket its receive time falls in.
//!
//! An input is `NOW\nQUERY` (NOW: µs since 1970, the time ages count back
//! from), or just `QUERY` at NOW = 0.
#![no_main]

use circolog::ingest::syslog::{self, ParseContext};
use circolog::query::Query;
use circolog::query::histogram::{self, Count, Histogram, MAX_BUCKETS};
use circolog::store::ring::{Config, Incoming, Ring, Seq, Transport};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;

/// A few stored messages and their receive times, in order.
const STORED: [(i64, &[u8]); 6] = [
    (
        0,
        b"<34>1 2026-12-01T05:00:00.5+01:00 web1 sshd 812 ID47 [a b=\"c\"] Failed password",
    ),
    (1_000_000, b"<13>Dec  1 05:00:01 cron[1]: job done"),
    (1_000_000, b"<191>1 - - - - - - \xff\xfe disk full"),
    (5_000_000, b"<0>Dec  1 05:00:02 db kernel: Oops"),
    (60_000_000, b"plain text without a header"),
    (3_600_000_000, b"<11>1 - web1 nginx - - - upstream failed"),
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (now, text) = match text.split_once('\n') {
        Some((n, rest)) => match n.parse::<i64>() {
            Ok(now) => (now, rest),
            Err(_) => (0, &*text),
        },
        None => (0, &*text),
    };
    let parsed = histogram::split_buckets(text)
        .and_then(|(n, rest)| Query::parse(&rest, now).map(|q| (n, q)));
    let (buckets, query) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let reason = e.to_string();
            assert!(!reason.contains(['\n', '\r']), "{reason:?}");
            assert!(reason.len() <= 1024, "a reason of {} bytes", reason.len());
            return;
        }
    };
    assert!((1..=MAX_BUCKETS).contains(&buckets));

    let mut ring = Ring::new(Config {
        max_messages: 16,
        arena_bytes: 1 << 16,
        max_message_bytes: 1024,
    })
    .expect("a ring");
    let ctx = ParseContext { tz: TimeZone::UTC };
    let base = 1_796_101_200_000_000;
    for (dt, raw) in STORED {
        let received = Timestamp::from_microsecond(base + dt).expect("a valid time");
        let index = syslog::index(raw, received, &ctx).1;
        ring.push_indexed(
            Incoming {
                received_us: base + dt,
                transport: Transport::Udp,
                cred: None,
                truncated: false,
                bytes: raw,
            },
            index,
        );
    }
    let (start, end) = (ring.first_seq(), ring.next_seq());
    let r = query.received();
    let Some((from, until)) = histogram::span(r.from_us, r.until_us, &ring, start, end) else {
        unreachable!("the ring holds messages");
    };
    let mut count = Count::new(Histogram::new(from, until, buckets), &ring, start, end);
    let mut steps = 0;
    while !count.step(&query.filter, &ring, 3) {
        steps += 1;
        assert!(steps < 10_000, "the count ends");
    }
    let h = count.into_histogram();
    assert_eq!(h.counts().len(), buckets as usize);
    let mut want = vec![[0u64; 8]; buckets as usize];
    for seq in Seq::range(start, end) {
        let e = ring.get(seq).expect("stored");
        let f = e.fields();
        if query.filter.matches_fields(e.received_us, &f) {
            let i = h.bucket_of(e.received_us).expect("selected means in range");
            want[i][usize::from(f.severity.min(7))] += 1;
        }
    }
    assert_eq!(h.counts(), want.as_slice());
    let json = h.to_json();
    assert_eq!(
        json["buckets"].as_array().map(Vec::len),
        Some(buckets as usize)
    );
});
