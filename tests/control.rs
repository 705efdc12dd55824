//! The control socket, signals, status and metrics.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{daemon, url};

fn msg(i: u32) -> Vec<u8> {
    format!("<13>1 - host app - - - message {i}").into_bytes()
}

#[test]
fn pause_discards_new_messages_and_keeps_the_backlog() {
    let d = daemon().start();
    for i in 0..3 {
        d.send_unix(&msg(i));
    }
    d.wait_stored(3);
    let st = d.ctl("POST", "/pause");
    assert_eq!(st["paused"], true);
    // Idempotent.
    assert_eq!(d.ctl("POST", "/pause")["paused"], true);
    for i in 3..8 {
        d.send_unix(&msg(i));
    }
    // Senders are never blocked by a paused daemon: every datagram is read.
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.status()["counters"]["dropped_paused"] != 5 {
        assert!(Instant::now() < deadline, "{}", d.status());
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = d.ctl("POST", "/resume");
    assert_eq!(st["paused"], false);
    assert_eq!(st["used"]["messages"], 3);
    assert_eq!(st["counters"]["received"]["unix"], 8);
    d.send_unix(&msg(8));
    d.wait_stored(4);
    let texts: Vec<String> = d
        .json("")
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_string())
        .collect();
    assert_eq!(texts, ["message 0", "message 1", "message 2", "message 8"]);
}

#[test]
fn toggle_flips_and_answers_the_new_state() {
    let d = daemon().start();
    assert_eq!(d.ctl("POST", "/pause/toggle")["paused"], true);
    assert_eq!(d.status()["paused"], true);
    assert_eq!(d.ctl("POST", "/pause/toggle")["paused"], false);
    assert_eq!(d.status()["paused"], false);
}

#[test]
fn clear_empties_and_seq_continues() {
    let d = daemon().start();
    for i in 0..5 {
        d.send_unix(&msg(i));
    }
    d.wait_stored(5);
    let st = d.ctl("POST", "/logs/clear");
    assert_eq!(st["used"]["messages"], 0);
    assert_eq!(st["used"]["bytes"], 0);
    assert_eq!(d.get("/"), "");
    d.send_unix(&msg(99));
    d.wait_stored(6);
    let ms = d.json("");
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["seq"], 5);
    assert_eq!(ms[0]["message"], "message 99");
}

#[test]
fn status_has_the_counters_and_capacity() {
    let d = daemon()
        .net()
        .args(&["-buffer-size", "1000", "-buffer-bytes", "1M"])
        .start();
    d.send_unix(&msg(1));
    d.send_udp(&msg(2));
    d.send_unix(b"<999>broken");
    d.wait_stored(3);
    let st = d.status();
    assert_eq!(st["capacity"]["messages"], 1000);
    assert_eq!(st["capacity"]["bytes"], 1 << 20);
    assert_eq!(st["used"]["messages"], 3);
    assert!(st["used"]["bytes"].as_u64().expect("bytes") > 0);
    assert_eq!(st["first_seq"], 0);
    assert_eq!(st["last_seq"], 2);
    assert_eq!(st["counters"]["received"]["unix"], 2);
    assert_eq!(st["counters"]["received"]["udp"], 1);
    assert_eq!(st["counters"]["malformed"], 1);
    assert_eq!(st["paused"], false);
    assert!(st["version"].is_string());
    assert!(st["uptime_seconds"].as_f64().is_some());
    assert!(st["clients"]["ctl"].as_u64().is_some());
}

#[test]
fn control_paths_and_methods_are_checked() {
    let d = daemon().start();
    let code = |args: &[&str]| {
        let mut a = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        a.extend_from_slice(args);
        String::from_utf8(d.curl(&d.ctl, &a).stdout).expect("code")
    };
    assert_eq!(code(&[&url("/pause")]), "405");
    assert_eq!(code(&["-X", "POST", &url("/status")]), "405");
    assert_eq!(code(&["-X", "POST", &url("/nothing")]), "404");
    // The query API is not on the control socket, nor control on the query one.
    assert_eq!(code(&[&url("/")]), "404");
    let out = d.curl(
        &d.query,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            &url("/pause"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
    assert_eq!(d.status()["paused"], false);
}

#[test]
fn sigusr1_toggles_pause() {
    let d = daemon().start();
    d.signal(10);
    wait_for(|| d.status()["paused"] == true);
    assert_eq!(d.status()["paused_by"], "signal");
    let out = Command::new(env!("CARGO_BIN_EXE_circolog-ctl"))
        .arg("--socket")
        .arg(&d.ctl)
        .arg("status")
        .output()
        .expect("circolog-ctl status");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("(paused by SIGUSR1)"), "{said}");
    d.signal(10);
    wait_for(|| d.status()["paused"] == false);
    assert_eq!(d.status()["paused_by"], serde_json::Value::Null);
}

#[test]
fn sigterm_exits_zero_and_removes_the_socket_files() {
    let d = daemon().start();
    let paths = [d.syslog.clone(), d.query.clone(), d.ctl.clone()];
    assert!(paths.iter().all(|p| p.exists()));
    // `stop` waits a bounded time and fails the test if it does not exit.
    let status = d.stop();
    assert!(status.success(), "{status}");
    for p in &paths {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn sigint_stops_too() {
    let mut d = daemon().start();
    d.signal(2);
    let status = crate::util::wait_exit(&mut d.child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(!d.query.exists());
}

#[test]
fn metrics_parse_with_a_real_prometheus_parser_and_match() {
    let d = daemon().net().start();
    for i in 0..4 {
        d.send_unix(&msg(i));
    }
    for i in 0..3 {
        d.send_udp(&msg(i));
    }
    d.wait_stored(7);
    d.ctl("POST", "/pause");
    d.send_unix(&msg(100));
    wait_for(|| d.status()["counters"]["dropped_paused"] == 1);
    let out = d.curl(&d.ctl, &["-f", &url("/metrics")]);
    assert!(out.status.success());
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{fam.type} {s.name} {labels} {s.value}")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("write");
    let parsed = child.wait_with_output().expect("parse");
    assert!(
        parsed.status.success(),
        "the Prometheus parser refused the metrics (is prometheus_client installed? .ci/run installs it): {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let text = String::from_utf8_lossy(&parsed.stdout);
    let value = |kind: &str, name: &str, labels: &str| -> f64 {
        let prefix = format!("{kind} {name} {labels} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix:?} in\n{text}"))
    };
    let received = "circolog_received_messages_total";
    assert_eq!(value("counter", received, "transport=unix"), 5.0);
    assert_eq!(value("counter", received, "transport=udp"), 3.0);
    assert_eq!(value("counter", received, "transport=tcp"), 0.0);
    let dropped = "circolog_dropped_paused_messages_total";
    assert_eq!(value("counter", dropped, ""), 1.0);
    assert_eq!(value("gauge", "circolog_stored_messages", ""), 7.0);
    assert_eq!(value("gauge", "circolog_paused", ""), 1.0);
}

/// The head of `GET PATH` on the query socket, lower-cased.
fn query_head(d: &crate::util::Daemon, path: &str) -> String {
    let out = d.curl(&d.query, &["-f", "-D", "-", "-o", "/dev/null", &url(path)]);
    assert!(out.status.success(), "{path}");
    String::from_utf8_lossy(&out.stdout).to_ascii_lowercase()
}

/// Issue 23, item 11: the cursor a response names is one `since=` takes,
/// also when the ring is empty after a clear; with nothing ever stored
/// there is no cursor at all, never -1.
#[test]
fn the_cursor_round_trips_through_a_clear() {
    let d = daemon().start();
    let st = d.status();
    for absent in ["first_seq", "last_seq", "oldest_received"] {
        assert!(st.get(absent).is_none(), "{absent} in {st}");
    }
    let head = query_head(&d, "/");
    assert!(!head.contains("x-circolog-last-seq"), "{head}");
    assert!(head.contains("x-circolog-epoch: "), "{head}");

    for i in 0..3 {
        d.send_unix(&msg(i));
    }
    d.wait_stored(3);
    let st = d.ctl("POST", "/logs/clear");
    assert!(st.get("first_seq").is_none(), "{st}");
    assert!(st.get("oldest_received").is_none(), "{st}");
    assert_eq!(st["last_seq"], 2, "the newest seq ever given: {st}");
    let head = query_head(&d, "/");
    assert!(head.contains("x-circolog-last-seq: 2\r\n"), "{head}");
    // Resuming from it: nothing now, then exactly what came after.
    assert_eq!(d.get("/?since=2"), "");
    d.send_unix(&msg(3));
    d.wait_stored(4);
    let ms = d.json("since=2");
    assert_eq!(ms.len(), 1);
    assert_eq!(
        (&ms[0]["seq"], &ms[0]["message"]),
        (&3.into(), &"message 3".into())
    );
    let st = d.status();
    assert_eq!((&st["first_seq"], &st["last_seq"]), (&3.into(), &3.into()));
}

/// Issue 26, item 3: how far back the ring reaches, and how many it let
/// go, by room and by age.
#[test]
fn status_says_how_far_back_the_ring_reaches_and_what_it_evicted() {
    let d = daemon().args(&["-buffer-size", "3"]).start();
    for i in 0..5 {
        d.send_unix(&msg(i));
    }
    d.wait_stored(5);
    let oldest = d.json("l=3").remove(0);
    assert_eq!(oldest["seq"], 2);
    let st = d.status();
    assert_eq!(st["oldest_received"], oldest["received"], "{st}");
    let shown = st["oldest_received"].as_str().expect("a time");
    assert!(
        shown.parse::<jiff::Timestamp>().is_ok()
            && shown.len() == "2026-12-01T05:00:00.123456Z".len()
            && shown.ends_with('Z'),
        "RFC 3339 with µs: {shown}"
    );
    assert_eq!(st["counters"]["evicted"], 2);
    let metrics = d.curl(&d.ctl, &["-f", &url("/metrics")]);
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics.contains("# TYPE circolog_evicted_messages_total counter\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\ncircolog_evicted_messages_total 2\n"),
        "{metrics}"
    );
    // A clear is no eviction.
    let st = d.ctl("POST", "/logs/clear");
    assert_eq!(st["counters"]["evicted"], 2);

    let aged = daemon().args(&["-max-age", "1s"]).start();
    aged.send_unix(&msg(0));
    aged.wait_stored(1);
    assert!(aged.status()["oldest_received"].is_string());
    wait_for(|| aged.status()["counters"]["evicted"] == 1);
    let st = aged.status();
    assert!(st.get("oldest_received").is_none(), "{st}");
    assert_eq!(st["used"]["messages"], 0);
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}
