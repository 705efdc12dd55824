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

// ---------------------------------------------------------------------------
// Hostile endpoints: a TCP server of the test's own, scripted per
// connection, that stalls, never reads or answers 503 for ever.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::hardening::{assert_no_copy_left, require_root, token, wait_until};

/// Every request an endpoint read whole: when, and its bytes.
type Requests = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

struct Endpoint {
    port: u16,
    requests: Requests,
    connections: Arc<AtomicUsize>,
}

impl Endpoint {
    /// Listens on 127.0.0.1 and hands each connection, with its number
    /// (from 0), to `serve` in a thread of its own.
    fn start(serve: fn(usize, TcpStream, Requests)) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Requests::default();
        let connections = Arc::new(AtomicUsize::new(0));
        let (reqs, conns) = (requests.clone(), connections.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                let n = conns.fetch_add(1, Ordering::SeqCst);
                let reqs = reqs.clone();
                std::thread::spawn(move || serve(n, s, reqs));
            }
        });
        Endpoint {
            port,
            requests,
            connections,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/logs", self.port)
    }

    fn requests(&self) -> Vec<(Instant, Vec<u8>)> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Reads one whole request (head and `Content-Length` body); `None` at
/// the end of the connection.
fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut req = Vec::new();
    let mut byte = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => req.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&req).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let start = req.len();
    req.resize(start + len, 0);
    s.read_exact(&mut req[start..]).ok()?;
    Some(req)
}

/// Reads requests and answers each with `answer`, keeping the connection.
fn answer_each(mut s: TcpStream, requests: &Requests, answer: &[u8]) {
    while let Some(req) = read_request(&mut s) {
        requests.lock().expect("lock").push((Instant::now(), req));
        if s.write_all(answer).is_err() {
            return;
        }
    }
}

/// How many requests hold `needle`, in all.
fn count_in(requests: &[(Instant, Vec<u8>)], needle: &str) -> usize {
    requests
        .iter()
        .map(|(_, r)| memchr::memmem::find_iter(r, needle.as_bytes()).count())
        .sum()
}

/// `exported + failed + dropped + queued`, from `/status`.
fn accounted(st: &serde_json::Value) -> u64 {
    let x = &st["export"];
    ["exported", "failed", "dropped", "queued"]
        .iter()
        .map(|k| x[k].as_u64().unwrap_or(u64::MAX / 8))
        .sum()
}

/// A first answer that stalls in the middle of its head kills nothing:
/// once it is given up, the next connection works, and the batch it was
/// for is not sent again (the status line said 200).
#[test]
fn a_response_that_stalls_after_200_is_given_up_and_the_next_connection_works() {
    let e = Endpoint::start(|n, mut s, requests| {
        if n == 0 {
            if let Some(req) = read_request(&mut s) {
                requests.lock().expect("lock").push((Instant::now(), req));
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le");
            }
            // Then nothing, for ever; the connection stays open.
            std::thread::sleep(Duration::from_secs(3600));
        } else {
            answer_each(
                s,
                &requests,
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    let d = daemon()
        .args(&["-export-otlp", &e.url(), "-export-query", ""])
        .start();
    let first = token("stalled");
    for i in 0..3 {
        d.send_unix(format!("<13>1 - h app - - - {first} {i}").as_bytes());
    }
    d.wait_stored(3);
    assert!(
        wait_until(Duration::from_secs(20), || !e.requests().is_empty()),
        "no request came"
    );
    let second = token("after");
    for i in 0..3 {
        d.send_unix(format!("<13>1 - h app - - - {second} {i}").as_bytes());
    }
    d.wait_stored(6);
    // After the response timeout (30 s) and a new connection.
    let exported = wait_until(Duration::from_secs(90), || {
        d.status()["export"]["exported"] == 6
    });
    let st = d.status();
    assert!(exported, "{st}");
    let requests = e.requests();
    for i in 0..3 {
        assert_eq!(count_in(&requests, &format!("{first} {i}")), 1, "sent once");
        assert_eq!(
            count_in(&requests, &format!("{second} {i}")),
            1,
            "sent once"
        );
    }
    assert_eq!(e.connections.load(Ordering::SeqCst), 2);
    assert_eq!(st["export"]["retried"], 0, "{st}");
    assert_eq!(st["export"]["queued"], 0, "{st}");
    let error = st["export"]["last_error"].as_str().unwrap_or("");
    assert!(error.contains("gave no response within 30 s"), "{st}");
}

/// Messages large enough that one request is megabytes: more than the
/// kernel buffers of a peer that never reads can take.
fn send_large(d: &crate::util::Daemon, marker: &str, n: usize) {
    let pad = "p".repeat(8000);
    for i in 0..n {
        d.send_unix(format!("<13>1 - h app - - - {marker} {i} {pad}").as_bytes());
    }
}

/// A peer that accepts and never reads.
fn never_read(_: usize, s: TcpStream, _: Requests) {
    std::thread::sleep(Duration::from_secs(3600));
    drop(s);
}

/// An endpoint that never reads does not freeze the exporter: the write
/// is given up at the response deadline, the next attempt goes on a new
/// connection, `/status` answers meanwhile, and every record is in one
/// counter at every moment, also those the full buffer dropped while
/// their request was being written.
#[test]
fn an_endpoint_that_never_reads_is_given_up_and_every_record_is_counted() {
    let e = Endpoint::start(never_read);
    let d = daemon()
        .args(&["-export-otlp", &e.url(), "-export-query", ""])
        .args(&["-buffer-bytes", "64M"])
        .start();
    let n = 1500;
    send_large(&d, "unread", n);
    d.wait_stored(n as u64);
    // Once the exporter has looked at every stored message (it does so
    // between its own steps: a frozen one never does)...
    let looked = wait_until(Duration::from_secs(20), || {
        accounted(&d.status()) == n as u64
    });
    assert!(looked, "records in no counter: {}", d.status());
    // ...each is in one counter at every moment after.
    let mut last = serde_json::Value::Null;
    let moved_on = wait_until(Duration::from_secs(90), || {
        let st = d.status();
        assert_eq!(
            accounted(&st),
            n as u64,
            "every record in one counter: {st}"
        );
        let done = st["export"]["retried"].as_u64().unwrap_or(0) > 0
            && e.connections.load(Ordering::SeqCst) >= 2;
        last = st;
        done
    });
    assert!(moved_on, "the exporter is stuck: {last}");
    let x = &last["export"];
    assert!(x["dropped"].as_u64().unwrap_or(0) > 0, "{last}");
    assert_eq!(x["exported"], 0, "{last}");
    let error = x["last_error"].as_str().unwrap_or("");
    assert!(error.contains("gave no response within 30 s"), "{last}");
    assert_eq!(last["used"]["messages"], n, "nothing lost from the ring");
}

/// A clear abandons the request being written to an endpoint that never
/// reads: no byte of a cleared message stays in the daemon's memory.
#[test]
fn a_clear_leaves_no_copy_in_a_request_nobody_reads() {
    require_root();
    let e = Endpoint::start(never_read);
    let d = daemon()
        .args(&["-export-otlp", &e.url(), "-export-query", ""])
        // Plain memory: the scan then reads the ring's wipe too, not only
        // the request buffer on the heap.
        .args(&["-buffer-bytes", "64M", "-memory", "plain"])
        .start();
    let secret = token("unsent");
    send_large(&d, &secret, 600);
    d.wait_stored(600);
    assert!(
        wait_until(Duration::from_secs(20), || e
            .connections
            .load(Ordering::SeqCst)
            >= 1),
        "no connection came"
    );
    // The request is being written (the batch is due at once: it is full).
    std::thread::sleep(Duration::from_millis(500));
    let cleared = d.ctl("POST", "/logs/clear");
    assert_eq!(cleared["used"]["messages"], 0, "{cleared}");
    let st = d.status();
    assert_eq!(st["export"]["queued"], 0, "{st}");
    assert_no_copy_left(&d, &secret);
}

/// `Retry-After: 0` does not make a loop of requests: an endpoint that
/// always says so sees at most one request per first backoff (1 s).
#[test]
fn retry_after_zero_never_retries_sooner_than_the_backoff() {
    let e = Endpoint::start(|_, s, requests| {
        answer_each(
            s,
            &requests,
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
        );
    });
    let d = daemon()
        .args(&["-export-otlp", &e.url(), "-export-query", ""])
        .start();
    d.send_unix(b"<13>1 - h app - - - again and again");
    d.wait_stored(1);
    assert!(
        wait_until(Duration::from_secs(20), || !e.requests().is_empty()),
        "no request came"
    );
    std::thread::sleep(Duration::from_secs(4));
    let requests = e.requests();
    let first = requests[0].0;
    let window = Duration::from_secs(3);
    let within = requests
        .iter()
        .filter(|(at, _)| at.duration_since(first) <= window)
        .count();
    // Requests 1 s apart at the least: at most one per second of the
    // window, and the one at its start.
    assert!(within <= 4, "{within} requests within {window:?}");
    assert!(requests.len() >= 2, "retried: {}", requests.len());
    let st = d.status();
    assert_eq!(st["export"]["exported"], 0, "{st}");
    assert!(st["export"]["retried"].as_u64().unwrap_or(0) >= 2, "{st}");
}
