//! Ingestion allocates nothing on the heap: a counting global allocator
//! watches `State::ingest` (trim, classify, store) across thousands of
//! messages of every format and transport, after warm-up.
//!
//! Its own test binary, because a global allocator is per binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use circolog::daemon::State;
use circolog::ring::{self, Cred, Incoming, Ring, Transport};
use circolog::syslog::ParseContext;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the test's own thread is counted: the test harness allocates
    /// on its other threads whenever it likes.
    static WATCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if WATCHED.try_with(|w| w.get()).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on unchanged to the system allocator; the
// counter is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
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
                state.set_paused(true);
            } else if i == n / 2 + 10 {
                state.set_paused(false);
            }
        }
    };
    // Warm-up: anything lazily initialised (time zone data, …) happens here.
    ingest(100);
    WATCHED.with(|w| w.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    // Many times the ring's size, so it wraps and evicts over and over, and
    // long messages are truncated.
    ingest(20_000);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    WATCHED.with(|w| w.set(false));
    assert_eq!(
        after - before,
        0,
        "ingestion allocated {} times",
        after - before
    );
    assert!(state.counters().received_total() == 20_100);
    assert!(state.counters().truncated > 0 && state.counters().malformed > 0);
}
