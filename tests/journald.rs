//! Hosts where journald is the main logger: the kernel's log buffer read
//! with `-kmsg`.

use std::time::{Duration, Instant};

use crate::util::{daemon, host_name};

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test writes to /dev/kmsg: run the tests as root (CI does)"
    );
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Polls `GET /?fmt=json&QUERY` until it returns something, 30 s at most.
fn wait_json(d: &crate::util::Daemon, query: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = d.json(query);
        if !got.is_empty() {
            return got;
        }
        assert!(Instant::now() < deadline, "nothing matched {query}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kmsg_stores_a_kernel_record_with_its_priority_and_time() {
    require_root();
    let d = daemon().args(&["-kmsg"]).start();
    let marker = format!("circolog-kmsg-{}-{}", std::process::id(), now_us());
    let before = now_us();
    std::fs::write("/dev/kmsg", format!("<3>circolog-test: {marker}\n")).expect("write /dev/kmsg");
    let got = wait_json(&d, &format!("app=kernel&sev=err&grep={marker}"));
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["app_name"], "kernel");
    assert_eq!(m["severity"], "err");
    // The kernel makes a user-space writer's facility 0 `user`.
    assert_eq!(m["facility"], "user");
    assert_eq!(m["transport"], "kmsg");
    assert_eq!(m["hostname"], host_name().as_str());
    assert_eq!(m["message"], format!("circolog-test: {marker}"));
    // The record's own time, from its monotonic stamp and the boot time.
    let t: jiff::Timestamp = m["timestamp"]
        .as_str()
        .expect("a timestamp")
        .parse()
        .expect("RFC 3339");
    let t = t.as_microsecond();
    assert!(
        (before - 5_000_000..now_us() + 5_000_000).contains(&t),
        "timestamp {t} is not near {before}"
    );
    // Counted as its own transport, in /status and /metrics.
    assert!(
        d.status()["counters"]["received"]["kmsg"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    );
    let out = d.curl(&d.ctl, &["-f", &crate::util::url("/metrics")]);
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.lines().any(|l| l
            .starts_with("circolog_received_messages_total{transport=\"kmsg\"} ")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
}

/// circologd started in a network namespace of its own whose
/// `net.unix.max_dgram_qlen` is `qlen`; what it wrote to stderr once it
/// listens.
fn started_at_qlen(qlen: u32) -> String {
    let set = format!("echo {qlen} > /proc/sys/net/unix/max_dgram_qlen && exec \"$0\" \"$@\"");
    let d = daemon()
        .wrap(&["unshare", "--net", "sh", "-c", &set])
        .start();
    // Said before the listening lines, so already in by now, but read by
    // another thread: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !d.stderr_text().contains("max_dgram_qlen") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    d.stderr_text()
}

#[test]
fn a_short_unix_datagram_queue_is_warned_of_at_start() {
    require_root();
    let said = started_at_qlen(10);
    let warnings: Vec<_> = said
        .lines()
        .filter(|l| l.contains("max_dgram_qlen"))
        .collect();
    assert_eq!(warnings.len(), 1, "{said}");
    assert!(
        warnings[0].starts_with("circologd: warning: net.unix.max_dgram_qlen is 10:"),
        "{said}"
    );
    assert!(warnings[0].contains("=512"), "{said}");
    let said = started_at_qlen(512);
    assert!(!said.contains("max_dgram_qlen"), "{said}");
}
