//! The exporter driven over a real socket, the simplest way (blocking
//! std I/O), against `tests/otlp_server.py`, which decodes with the official
//! OpenTelemetry protos for Python.

// All of this file is test code: its module is declared `#[cfg(test)]`.
#[cfg(test)]
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};

use super::*;

struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
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
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the receiver did not start: {line:?}"));
    Server { child, port, dir }
}

fn lines(server: &Server, name: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(server.dir.path().join(name))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A blocking driver, the simplest one the exporter allows: what the
/// daemon's event loop does with io_uring.
fn drive(x: &mut Exporter, addr: SocketAddr, done: impl Fn(&Exporter) -> bool) {
    let mut stream: Option<TcpStream> = None;
    let mut out = Vec::new();
    let mut buf = vec![0; 64 << 10];
    for _ in 0..100_000 {
        if done(x) {
            return;
        }
        let now = Instant::now();
        match x.poll(now, &mut out) {
            Action::Connect => match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    x.handle_connected(Instant::now());
                }
                Err(e) => x.handle_error(Instant::now(), &format!("connecting: {e}")),
            },
            Action::Send => {
                let s = stream.as_mut().unwrap();
                if let Err(e) = s.write_all(&out) {
                    x.handle_error(Instant::now(), &e.to_string());
                }
                out.fill(0);
                out.clear();
            }
            Action::Close => stream = None,
            Action::Idle => panic!("idle before done: {:?}", x.counters()),
            Action::Wait { until } => {
                let wait = until
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1));
                let Some(s) = stream.as_mut() else {
                    std::thread::sleep(wait);
                    continue;
                };
                s.set_read_timeout(Some(wait)).unwrap();
                match s.read(&mut buf) {
                    Ok(0) => x.handle_eof(Instant::now()),
                    Ok(n) => x.handle_response(Instant::now(), &buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => x.handle_error(Instant::now(), &e.to_string()),
                }
            }
        }
    }
    panic!("not done: {:?}", x.counters());
}

/// The official Python protos decode every record of every batch; a
/// 503 with `Retry-After: 2` delays the batch at least that long and
/// loses nothing.
#[test]
fn the_official_protos_decode_every_record_sent() {
    let server = start(&["--fail-first", "1", "--retry-after", "2"]);
    let mut x = Exporter::new(Config {
        endpoint: Endpoint::parse(&format!("http://127.0.0.1:{}/v1/logs", server.port)).unwrap(),
        buffer_bytes: DEFAULT_BUFFER,
        host_name: "web-1".into(),
        epoch_us: EPOCH,
    })
    .unwrap();
    let t0 = Instant::now();
    let n = 2500;
    for seq in 0..n {
        let raw = format!(
            "<{}>1 2024-01-08T19:46:02Z host{} app{} {seq} - [m@1 i=\"{seq}\" r=\"a\" r=\"b\"] message {seq} \u{e9}",
            8 + seq % 8,
            seq % 3,
            seq % 5
        );
        let mut e = entry(Seq::new(seq), raw.as_bytes());
        e.cred = Some(Cred {
            pid: seq as u32,
            uid: 0,
            gid: 0,
        });
        x.push_message(t0, &e, &parse(&e), (seq % 2 == 0).then_some(9));
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    drive(&mut x, addr, |x| x.counters().queued == 0);
    let c = x.counters();
    assert_eq!(
        (c.exported, c.failed, c.dropped, c.retried),
        (n, 0, 0, 1000)
    );

    let records = lines(&server, "records.jsonl");
    assert_eq!(records.len(), n as usize);
    let mut seen = vec![false; n as usize];
    for r in &records {
        let a = &r["attributes"];
        let seq = a["circolog.seq"].as_u64().unwrap();
        assert!(
            !std::mem::replace(&mut seen[seq as usize], true),
            "{seq} twice"
        );
        assert_eq!(r["resource"]["host.name"], "web-1");
        assert_eq!(r["resource"]["service.name"], "circologd");
        assert_eq!(r["scope"]["name"], "circologd");
        assert_eq!(r["body"], format!("message {seq} \u{e9}"));
        let sev = seq % 8;
        assert_eq!(r["severity_number"], u64::from(severity_number(sev as u8)));
        assert_eq!(r["severity_text"], syslog::SEVERITY_NAMES[sev as usize]);
        assert_eq!(r["time_unix_nano"], 1_704_743_162_000_000_000u64);
        assert_eq!(r["observed_time_unix_nano"], RECEIVED as u64 * 1000);
        assert_eq!(a["syslog.facility"], "user");
        assert_eq!(a["syslog.hostname"], format!("host{}", seq % 3));
        assert_eq!(a["syslog.appname"], format!("app{}", seq % 5));
        assert_eq!(a["syslog.procid"], seq.to_string());
        assert_eq!(a["circolog.epoch"], EPOCH);
        assert_eq!(a["circolog.cred_pid"], seq);
        assert_eq!(a["syslog.sd.m@1.i"], seq.to_string());
        assert_eq!(a["syslog.sd.m@1.r"], serde_json::json!(["a", "b"]));
        if seq % 2 == 0 {
            assert_eq!(a["circolog.snapshot"], 9);
        } else {
            assert!(a.get("circolog.snapshot").is_none());
        }
    }
    let requests = lines(&server, "requests.jsonl");
    let statuses: Vec<_> = requests
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 200, 200, 200]);
    let counts: Vec<_> = requests
        .iter()
        .map(|r| r["records"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1000, 1000, 1000, 500]);
    let waited = requests[1]["at"].as_f64().unwrap() - requests[0]["at"].as_f64().unwrap();
    assert!(waited >= 2.0, "Retry-After: 2 honoured ({waited} s)");
    assert!(x.buffer_is_clean());
}
