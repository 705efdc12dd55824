//! The flight recorder over real sockets: timed pause, followers told of
//! pause and resume, snapshots, triggers.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use crate::util::{Daemon, daemon, url};

const CTL: &str = env!("CARGO_BIN_EXE_circolog-ctl");
const TAIL: &str = env!("CARGO_BIN_EXE_circolog-tail");

/// A websocket follower on the query socket.
fn follow(d: &Daemon, params: &str) -> WebSocket<UnixStream> {
    let stream = UnixStream::connect(&d.query).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (ws, _) = tungstenite::client::client(format!("ws://localhost/ws?{params}"), stream)
        .expect("websocket handshake");
    ws
}

/// The next text frame.
fn next_text(ws: &mut WebSocket<UnixStream>) -> String {
    loop {
        match ws.read().expect("read a frame") {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

fn next_json(ws: &mut WebSocket<UnixStream>) -> serde_json::Value {
    serde_json::from_str(&next_text(ws)).expect("json")
}

/// `circolog-tail` running, its output lines read as they come.
struct Tail {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Tail {
    fn spawn(d: &Daemon, args: &[&str]) -> Tail {
        let mut child = Command::new(TAIL)
            .arg("--socket")
            .arg(&d.query)
            .args(args)
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn circolog-tail");
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
            });
            rx
        };
        let out = lines(Box::new(child.stdout.take().expect("stdout")));
        let err = lines(Box::new(child.stderr.take().expect("stderr")));
        Tail { child, out, err }
    }

    /// The next line on `which` that is not about connecting, within 20 s.
    fn next(which: &Receiver<String>) -> String {
        loop {
            let l = which
                .recv_timeout(Duration::from_secs(20))
                .expect("a line from circolog-tail");
            if !l.starts_with("circolog-tail: connected") {
                return l;
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn msg(i: u32) -> Vec<u8> {
    format!("<13>1 - host app - - - message {i}").into_bytes()
}

/// Polls `/status` until `check` holds, failing after 10 s.
fn wait_status(d: &crate::util::Daemon, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = d.status();
        if check(&st) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_timed_pause_resumes_by_itself() {
    let d = daemon().start();
    d.send_unix(&msg(0));
    d.wait_stored(1);
    let st = d.ctl("POST", "/pause?for=2s");
    assert_eq!(st["paused"], true);
    assert!(st["resume_at"].is_string(), "{st}");
    let left = st["resumes_in_seconds"].as_f64().expect("seconds");
    assert!(left > 0.0 && left <= 2.0, "{st}");
    d.send_unix(&msg(1));
    wait_status(&d, "dropped while paused", |s| {
        s["counters"]["dropped_paused"] == 1
    });
    // Nobody resumes it: the daemon does, and says so.
    wait_status(&d, "resumed by itself", |s| s["paused"] == false);
    assert!(d.status()["resume_at"].is_null());
    d.send_unix(&msg(2));
    d.wait_stored(2);
    let texts: Vec<_> = d.json("").iter().map(|m| m["message"].clone()).collect();
    assert_eq!(texts, ["message 0", "message 2"]);
}

#[test]
fn a_plain_pause_or_resume_cancels_the_timer() {
    let d = daemon().start();
    d.ctl("POST", "/pause?for=1s");
    assert_eq!(
        d.ctl("POST", "/pause")["resume_at"],
        serde_json::Value::Null
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.status()["paused"], true, "the plain pause stays");
}

#[test]
fn a_bad_pause_duration_is_a_400_with_a_reason() {
    let d = daemon().start();
    for bad in ["for=", "for=0s", "for=10y", "for=soon", "until=1m"] {
        let out = d.curl(
            &d.ctl,
            &[
                "-X",
                "POST",
                "-w",
                "%{http_code}",
                &url(&format!("/pause?{bad}")),
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let (reason, code) = text.rsplit_once('\n').expect("a line then the code");
        assert_eq!(code, "400", "{bad}: {text}");
        assert!(
            !reason.is_empty() && !reason.contains('\n'),
            "{bad}: {text}"
        );
    }
    assert_eq!(d.status()["paused"], false);
}

#[test]
fn circolog_ctl_pauses_for_a_while() {
    let d = daemon().start();
    let out = Command::new(CTL)
        .args(["--socket"])
        .arg(&d.ctl)
        .args(["pause", "--for", "10m"])
        .output()
        .expect("circolog-ctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("paused"), "{text}");
    assert!(text.contains("resumes by itself at"), "{text}");
    let left = d.status()["resumes_in_seconds"].as_f64().expect("timed");
    assert!(left > 590.0 && left <= 600.0, "{left}");
    let out = Command::new(CTL)
        .args(["--socket"])
        .arg(&d.ctl)
        .args(["pause", "--for", "ten"])
        .output()
        .expect("circolog-ctl");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad duration"), "{err}");
}

#[test]
fn json_followers_are_told_of_pause_and_resume() {
    let d = daemon().start();
    let mut ws = follow(&d, "fmt=json");
    let epoch = d.status()["epoch"].clone();
    d.ctl("POST", "/pause?for=1s");
    let n = next_json(&mut ws);
    assert_eq!(n, serde_json::json!({"paused": true, "epoch": epoch}));
    // The timer's resume is told too.
    let n = next_json(&mut ws);
    assert_eq!(n, serde_json::json!({"paused": false, "epoch": epoch}));
    // And SIGUSR1's.
    d.signal(10);
    assert_eq!(next_json(&mut ws)["paused"], true);
    d.ctl("POST", "/resume");
    assert_eq!(next_json(&mut ws)["paused"], false);
    d.send_unix(&msg(1));
    assert_eq!(next_json(&mut ws)["message"], "message 1");
}

#[test]
fn syslog_followers_get_a_circologd_notice_line() {
    let d = daemon().start();
    let mut ws = follow(&d, "fmt=syslog");
    d.ctl("POST", "/pause");
    let line = next_text(&mut ws);
    assert!(line.starts_with("<46>1 "), "{line}");
    assert!(line.contains(" - circologd - paused - "), "{line}");
    d.ctl("POST", "/pause/toggle");
    let line = next_text(&mut ws);
    assert!(line.contains(" - circologd - resumed - "), "{line}");
    let mut raw = follow(&d, "fmt=raw");
    d.ctl("POST", "/pause");
    assert!(next_text(&mut raw).contains(" - circologd - paused - "));
}

#[test]
fn circolog_tail_says_when_the_daemon_pauses_and_resumes() {
    let d = daemon().start();
    let tail = Tail::spawn(&d, &["-f"]);
    d.send_unix(&msg(0));
    assert!(Tail::next(&tail.out).ends_with("message 0"));
    d.ctl("POST", "/pause");
    assert_eq!(
        Tail::next(&tail.err),
        "circolog-tail: circologd paused: new messages are read and discarded"
    );
    d.ctl("POST", "/resume");
    assert_eq!(
        Tail::next(&tail.err),
        "circolog-tail: circologd resumed: new messages are stored again"
    );
    // In json, notices are lines of the output like the messages.
    let json = Tail::spawn(&d, &["-f", "--fmt", "json"]);
    // Once it follows (it printed message 1, from the backlog or live),
    // it is told.
    d.send_unix(&msg(1));
    while !Tail::next(&json.out).contains("\"message 1\"") {}
    d.ctl("POST", "/pause");
    let v: serde_json::Value = serde_json::from_str(&Tail::next(&json.out)).expect("json");
    assert_eq!(v["paused"], true);
}
