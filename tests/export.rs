//! The OTLP exporter of a real daemon, against a real OTLP/HTTP receiver
//! that decodes every request with the official OpenTelemetry protos
//! (`tests/otlp_server.py`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::daemon;

struct Receiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(args: &[&str]) -> Receiver {
    let dir = tempfile::tempdir().expect("dir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg("--out")
        .arg(dir.path().join("records.jsonl"))
        .arg("--requests")
        .arg(dir.path().join("requests.jsonl"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the port");
    let port = line.trim().parse().expect("the receiver's port");
    Receiver { child, port, dir }
}

impl Receiver {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/logs", self.port)
    }

    fn lines(&self, name: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The records received, once there are `n` (or 20 s passed).
    fn records(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.lines("records.jsonl");
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn what_matches_the_export_query_reaches_an_otlp_receiver() {
    let r = receiver(&[]);
    let d = daemon()
        .args(&["-export-otlp", &r.url(), "-export-query", "sev=warning"])
        .start();
    for i in 0..10 {
        let sev = if i % 2 == 0 { 4 } else { 6 };
        d.send_unix(
            format!(
                "<{}>1 2026-12-01T08:00:00Z web-1 nginx 42 ID7 [req@1 id=\"{i}\"] hit {i}",
                8 + sev
            )
            .as_bytes(),
        );
    }
    d.wait_stored(10);
    let got = r.records(5);
    assert_eq!(got.len(), 5, "{got:?}");
    for (k, rec) in got.iter().enumerate() {
        let i = 2 * k;
        assert_eq!(rec["body"], format!("hit {i}"), "{rec}");
        assert_eq!(rec["severity_text"], "warning");
        assert_eq!(rec["severity_number"], 13);
        assert_eq!(rec["resource"]["service.name"], "circologd");
        let a = &rec["attributes"];
        assert_eq!(a["syslog.facility"], "user");
        assert_eq!(a["syslog.hostname"], "web-1");
        assert_eq!(a["syslog.appname"], "nginx");
        assert_eq!(a["syslog.procid"], "42");
        assert_eq!(a["syslog.msgid"], "ID7");
        assert_eq!(a["syslog.sd.req@1.id"], i.to_string());
        assert_eq!(a["circolog.seq"], i);
        assert_eq!(a["circolog.cred_pid"], std::process::id());
        assert_eq!(rec["time_unix_nano"], 1_796_112_000_000_000_000u64);
    }
    let st = d.status();
    assert_eq!(st["export"]["exported"], 5, "{st}");
    assert_eq!(st["export"]["dropped"], 0, "{st}");
    let out = d.curl(&d.ctl, &["-fsS", &crate::util::url("/metrics")]);
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.contains("circolog_export_records_total{outcome=\"exported\"} 5"),
        "{metrics}"
    );
}

#[test]
fn a_503_with_retry_after_is_retried_and_loses_nothing() {
    let r = receiver(&["--fail-first", "1", "--retry-after", "1"]);
    let d = daemon()
        .args(&["-export-otlp", &r.url(), "-export-query", ""])
        .start();
    for i in 0..20 {
        d.send_unix(format!("<13>1 - h app - - - m{i}").as_bytes());
    }
    d.wait_stored(20);
    let got = r.records(20);
    assert_eq!(got.len(), 20, "{got:?}");
    let requests = r.lines("requests.jsonl");
    assert_eq!(requests[0]["status"], 503, "{requests:?}");
    assert!(
        requests.iter().skip(1).all(|q| q["status"] == 200),
        "{requests:?}"
    );
    let st = d.status();
    assert_eq!(st["export"]["exported"], 20, "{st}");
    assert_eq!(st["export"]["retried"], 20, "{st}");
}

#[test]
fn a_dead_endpoint_never_holds_up_ingestion_and_drops_are_counted() {
    // Nothing listens there: every connection fails.
    let port = crate::util::free_port();
    let url = format!("http://127.0.0.1:{port}/v1/logs");
    let d = daemon()
        .args(&[
            "-export-otlp",
            &url,
            "-export-query",
            "",
            "-export-buffer",
            "64K",
        ])
        .args(&["-buffer-size", "200000", "-buffer-bytes", "64M"])
        .start();
    let tx = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    let n = 100_000u64;
    for i in 0..n {
        let m = format!("<13>1 - h app - - - message number {i} of the dead endpoint test");
        tx.send_to(m.as_bytes(), &d.syslog).expect("send");
    }
    d.wait_stored(n);
    let st = d.status();
    assert_eq!(
        st["used"]["messages"], n,
        "nothing lost from the ring: {st}"
    );
    let x = &st["export"];
    assert_eq!(x["exported"], 0, "{st}");
    assert!(x["dropped"].as_u64().unwrap_or(0) > 0, "{st}");
    assert!(
        x["queue_bytes"].as_u64().unwrap_or(u64::MAX) <= 64 * 1024,
        "the queue stays within -export-buffer: {st}"
    );
    // The first batch goes after its linger; the error is said then.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut st = st;
    while st["export"]["last_error"].is_null() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        st = d.status();
    }
    let error = &st["export"]["last_error"];
    assert!(
        error.as_str().is_some_and(|e| e.contains("connecting")),
        "{st}"
    );
}

#[test]
fn a_snapshot_is_exported_whole_with_its_id() {
    let r = receiver(&[]);
    let d = daemon()
        .args(&["-export-otlp", &r.url(), "-export-snapshots"])
        .start();
    for i in 0..5 {
        d.send_unix(format!("<13>1 - h app - - - before {i}").as_bytes());
    }
    d.wait_stored(5);
    // Nothing is exported live without -export-query.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(r.lines("records.jsonl").is_empty());
    let snap = d.ctl("POST", "/snapshot?note=incident");
    let id = snap["id"].as_u64().expect("the snapshot's id");
    let got = r.records(5);
    assert_eq!(got.len(), 5, "{got:?}");
    for (i, rec) in got.iter().enumerate() {
        assert_eq!(rec["body"], format!("before {i}"));
        assert_eq!(rec["attributes"]["circolog.snapshot"], id, "{rec}");
    }
    assert_eq!(d.status()["export"]["exported"], 5);
}
