//! Ingestion allocates nothing on the heap: a counting global allocator
//! watches `State::ingest` (trim, classify, store) across thousands of
//! messages of every format and transport, after warm-up.
//!
//! Its own test binary, because a global allocator is per binary.

use std::alloc::{GlobalAlloc, Layout, System};

use circolog::daemon::State;
use circolog::ingest::syslog::ParseContext;
use circolog::store::ring::{self, Cred, Incoming, Ring, Seq, Transport};

struct Counting;

thread_local! {
    /// This thread's allocations: the test harness's own (reporting another
    /// test's result) are not the ingest's. Const-initialised, so reading it
    /// allocates nothing.
    static MINE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Allocations made by the calling thread so far.
fn mine() -> u64 {
    MINE.with(|m| m.get())
}

// SAFETY: every call is passed on unchanged to the system allocator; the
// counter is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = MINE.try_with(|m| m.set(m.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = MINE.try_with(|m| m.set(m.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SAMPLES: [&[u8]; 8] = [
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry\n",
    b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    b"<30>Nov 24 10:11:12 sshd[812]: Accepted publickey for alice\0",
    b"<189>237: *Jan  8 19:46:03.295 UTC: %LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/1, changed state to up",
    b"<6>Nov 24 10:00:00 host kernel: [123.456] usb 1-1: new high-speed USB device",
    b"<999>not a valid priority",
    b"\xff\xfe binary junk",
    b"<13>1 2026-11-24T10:00:00+02:00 host app 1 - [a b=\"c\\]d\"] \xef\xbb\xbfwith BOM\r\n",
];

#[test]
fn ingesting_allocates_nothing_after_warm_up() {
    let ring = Ring::new(ring::Config {
        max_messages: 1000,
        arena_bytes: 1 << 20,
        max_message_bytes: 64,
    })
    .expect("ring");
    let mut state = State::new(
        ring,
        0,
        ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        },
    );
    let cred = Some(Cred {
        pid: 1,
        uid: 2,
        gid: 3,
    });
    let mut ingest = |n: usize| {
        for i in 0..n {
            let transport = Transport::ALL[i % 3];
            state.ingest(Incoming {
                received_us: i as i64,
                transport,
                cred: if transport == Transport::Unix {
                    cred
                } else {
                    None
                },
                truncated: false,
                bytes: SAMPLES[i % SAMPLES.len()],
            });
            if i == n / 2 {
                state.pause(circolog::daemon::PausedBy::Api);
            } else if i == n / 2 + 10 {
                state.resume();
            }
        }
    };
    // Warm-up: anything lazily initialised (time zone data, …) happens here.
    ingest(100);
    let before = mine();
    // Many times the ring's size, so it wraps and evicts over and over, and
    // long messages are truncated.
    ingest(20_000);
    let after = mine();
    assert_eq!(
        after - before,
        0,
        "ingestion allocated {} times",
        after - before
    );
    assert!(state.counters().received_total() == 20_100);
    assert!(state.counters().truncated > 0 && state.counters().malformed > 0);
}

/// The same with the flight recorder on: three triggers matched against
/// every stored message and the per-sender limiter rolling its windows and
/// storing its notices, with the housekeeping tick between batches.
#[test]
fn ingesting_with_triggers_and_rate_limits_allocates_nothing_after_warm_up() {
    use circolog::ingest::limit::{Limiter, Rate};
    use circolog::ingest::trigger::{self, Action, PostRoll, Triggers};
    use circolog::store::snapshot::{self, Snapshots};
    use std::time::Duration;

    let ring = Ring::new(ring::Config {
        max_messages: 1000,
        arena_bytes: 1 << 20,
        max_message_bytes: 64,
    })
    .expect("ring");
    let snapshots = Snapshots::new(snapshot::Config {
        arena_bytes: 1 << 20,
        max_snapshots: 4,
    })
    .expect("snapshots");
    let triggers = ["sev=crit", "app=su&grep=failed", "fac=kern&not=nothing"]
        .iter()
        .map(|q| {
            (
                trigger::parse_trigger(q, 0).expect("trigger"),
                q.to_string(),
            )
        })
        .collect();
    let mut state = State::new(
        ring,
        0,
        ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        },
    )
    .with_snapshots(snapshots)
    .with_triggers(Triggers::new(
        triggers,
        PostRoll::Messages(10),
        Action::Snapshot,
        Duration::from_secs(3600),
    ))
    .with_limiter(Limiter::new(
        Rate {
            messages: 5,
            window: Duration::from_millis(1),
        },
        2,
        64,
    ));
    fn feed(state: &mut State, from: usize, n: usize) {
        for i in from..from + n {
            let transport = Transport::ALL[i % 3];
            state.ingest(Incoming {
                received_us: i as i64,
                transport,
                cred: Some(Cred {
                    pid: (i % 7) as u32,
                    uid: 2,
                    gid: 3,
                }),
                truncated: false,
                bytes: SAMPLES[i % SAMPLES.len()],
            });
            if i % 1000 == 0 {
                while state.housekeep(i as i64) {}
            }
        }
    }
    // Warm-up: every trigger fires once (its snapshot is taken) and is
    // held off from then on.
    feed(&mut state, 0, 1000);
    assert_eq!(
        state.triggers().totals().fired,
        3,
        "each fired in the warm-up"
    );
    let before = mine();
    feed(&mut state, 1000, 20_000);
    let after = mine();
    assert_eq!(
        after - before,
        0,
        "ingestion allocated {} times",
        after - before
    );
    let totals = state.triggers().totals();
    assert_eq!(totals.fired, 3);
    assert!(totals.held_off > 1000, "{totals:?}");
    assert!(state.counters().suppressed.iter().sum::<u64>() > 1000);
}

/// `-kmsg` and `-rate-limit-by unit` at ingest: a kernel record turned
/// into its line and stored, and a sender's unit looked up by pid (under
/// pid churn, the cgroup file read again each second), told to the
/// limiter and stored with the message, allocate nothing.
#[test]
fn kmsg_records_and_unit_look_ups_allocate_nothing_after_warm_up() {
    use circolog::ingest::kmsg;
    use circolog::ingest::limit::{By, Limiter, Rate};
    use std::time::Duration;

    fn cgroup(pid: u32, buf: &mut [u8]) -> Option<usize> {
        let text: &[u8] = match pid % 3 {
            0 => b"0::/system.slice/nginx.service\n",
            1 => b"0::/user.slice/user-1000.slice/session-4.scope\n",
            _ => return None,
        };
        buf[..text.len()].copy_from_slice(text);
        Some(text.len())
    }

    let ring = Ring::new(ring::Config {
        max_messages: 1000,
        arena_bytes: 1 << 20,
        max_message_bytes: 2048,
    })
    .expect("ring");
    let limiter = Limiter::new(
        Rate {
            messages: 5,
            window: Duration::from_millis(1),
        },
        2,
        64,
    )
    .by(By::Unit, "here");
    let mut state = State::new(
        ring,
        0,
        ParseContext {
            tz: jiff::tz::TimeZone::UTC,
        },
    )
    .with_limiter(limiter)
    .with_units(cgroup);
    let mut line = Vec::with_capacity(kmsg::LINE_MAX);
    let records: [&[u8]; 3] = [
        b"6,339,5140900,-;NET: Registered PF_INET6 protocol family\n SUBSYSTEM=net\n DEVICE=+net:lo\n",
        b"3,340,5141000,-;usb 1-1: device descriptor read/64, error -71\n",
        b"4,341,5142000,c,caller=T42;odd \"quoted\" ] text\n ODD=a\"b]c\n",
    ];
    let mut feed = |state: &mut State, from: usize, n: usize| {
        for i in from..from + n {
            let r = kmsg::parse(records[i % 3]).expect("a record");
            line.clear();
            kmsg::write_line(&mut line, &r, 1_765_000_000_000_000, b"here");
            state.ingest_from(
                Incoming {
                    received_us: i as i64 * 1000,
                    transport: Transport::Kmsg,
                    cred: None,
                    truncated: false,
                    bytes: &line,
                },
                None,
            );
            // A unix sender among many pids, a new second now and then.
            let pid = (i % 5000) as u32 + 1;
            state.ingest_from(
                Incoming {
                    received_us: i as i64 * 1000,
                    transport: Transport::Unix,
                    cred: Some(Cred {
                        pid,
                        uid: 0,
                        gid: 0,
                    }),
                    truncated: false,
                    bytes: b"<14>1 - web01 app - - - text",
                },
                // A unix sender: the state takes its pid from the credentials.
                None,
            );
            if i % 1000 == 0 {
                while state.housekeep(i as i64 * 1000) {}
            }
        }
    };
    feed(&mut state, 0, 10_000);
    let before = mine();
    feed(&mut state, 10_000, 20_000);
    let after = mine();
    assert_eq!(after - before, 0, "allocated {} times", after - before);
    let reads = state.unit_reads().expect("units are looked up");
    assert!(reads > 10_000, "looked up again and again: {reads}");
    // Stored with their messages: among the newest, a unit of each kind.
    let last = state.ring().last_seq().expect("stored");
    let units: Vec<Option<Vec<u8>>> = Seq::range(last.saturating_minus(20), last.next())
        .filter_map(|s| state.ring().get(s))
        .map(|e| e.unit.map(<[u8]>::to_vec))
        .collect();
    assert!(
        units.contains(&Some(b"nginx.service".to_vec()))
            && units.contains(&Some(b"session-4.scope".to_vec())),
        "{units:?}"
    );
}
