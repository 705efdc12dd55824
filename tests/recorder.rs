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

/// `curl` against a socket: the status code and the body.
fn curl_code(d: &Daemon, socket: &std::path::Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = d.curl(socket, &all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("a status code");
    (code.to_string(), body.to_string())
}

/// Waits until snapshot `id` is taken, and returns its row.
fn wait_snapshot(d: &Daemon, id: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = d.ctl("GET", "/snapshots");
        let row = list["snapshots"]
            .as_array()
            .and_then(|r| r.iter().find(|s| s["id"] == id).cloned());
        if let Some(row) = row.filter(|r| r["taking"] == false) {
            return row;
        }
        assert!(Instant::now() < deadline, "snapshot {id}: {list}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_snapshot_outlives_clear_and_reads_like_the_buffer() {
    let d = daemon().start();
    for i in 0..5 {
        d.send_unix(&msg(i));
    }
    d.wait_stored(5);
    let row = d.ctl("POST", "/snapshot?note=before%20the%20deploy");
    assert_eq!(row["id"], 1);
    assert_eq!(row["why"], "api");
    assert_eq!(row["note"], "before the deploy");
    let row = wait_snapshot(&d, 1);
    assert_eq!(
        (row["first_seq"].clone(), row["last_seq"].clone()),
        (0.into(), 4.into())
    );
    assert_eq!(row["messages"], 5);
    assert_eq!(row["complete"], true);
    d.ctl("POST", "/logs/clear");
    d.send_unix(&msg(5));
    d.wait_stored(6);
    // The buffer has only the new message; the snapshot still has the five.
    assert_eq!(d.json("").len(), 1);
    let body = d.get("/snapshots/1/?fmt=json");
    let texts: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["message"].clone())
        .collect();
    assert_eq!(
        texts,
        [
            "message 0",
            "message 1",
            "message 2",
            "message 3",
            "message 4"
        ]
    );
    // The same parameters as GET /.
    let body = d.get("/snapshots/1/?fmt=json&l=2&grep=message%20");
    assert_eq!(body.lines().count(), 2, "{body}");
    assert!(
        body.lines()
            .last()
            .expect("a line")
            .contains("\"message 4\"")
    );
    let line = d.get("/snapshots/1/?l=1");
    assert!(
        line.starts_with("<13>1 ") && line.ends_with("message 4\n"),
        "{line}"
    );
    let out = d.curl(
        &d.query,
        &["-sS", "-D", "-", "-o", "/dev/null", &url("/snapshots/1/")],
    );
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.contains("x-circolog-last-seq: 4"), "{head}");
    let (code, reason) = curl_code(&d, &d.query, &[&url("/snapshots/1/?l=x")]);
    assert_eq!(code, "400", "{reason}");
    // Readers can list them too.
    let list: serde_json::Value = serde_json::from_str(&d.get("/snapshots")).expect("json");
    assert_eq!(list["snapshots"][0]["note"], "before the deploy");
    let (code, _) = curl_code(&d, &d.query, &["-X", "POST", &url("/snapshots")]);
    assert_eq!(code, "405");
}

#[test]
fn unknown_snapshots_are_404_and_deleted_ones_are_gone() {
    let d = daemon().start();
    d.send_unix(&msg(0));
    d.wait_stored(1);
    for _ in 0..3 {
        d.ctl("POST", "/snapshot");
    }
    wait_snapshot(&d, 3);
    let (code, body) = curl_code(&d, &d.query, &[&url("/snapshots/9/")]);
    assert_eq!(code, "404");
    assert_eq!(
        body,
        "no snapshot 9 (GET /snapshots on the control socket lists them)\n"
    );
    let (code, body) = curl_code(&d, &d.ctl, &["-X", "DELETE", &url("/snapshots/9")]);
    assert_eq!((code.as_str(), body.as_str()), ("404", "no snapshot 9\n"));
    let list = d.ctl("DELETE", "/snapshots/2");
    let ids: Vec<_> = list["snapshots"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [1, 3]);
    let (code, _) = curl_code(&d, &d.query, &[&url("/snapshots/2/")]);
    assert_eq!(code, "404");
    let list = d.ctl("POST", "/snapshots/clear");
    assert_eq!(list["snapshots"], serde_json::json!([]));
    assert_eq!(list["deleted"], 3);
    let (code, _) = curl_code(&d, &d.ctl, &["-X", "POST", &url("/snapshot?note=%0A")]);
    assert_eq!(code, "400");
}

#[test]
fn at_most_n_snapshots_are_kept_and_zero_bytes_disables_them() {
    let d = daemon().args(&["-snapshots", "2"]).start();
    for _ in 0..3 {
        d.ctl("POST", "/snapshot");
    }
    wait_snapshot(&d, 3);
    let list = d.ctl("GET", "/snapshots");
    assert_eq!(list["used"]["snapshots"], 2);
    assert_eq!(list["evicted"], 1);
    let off = daemon().args(&["-snapshot-bytes", "0"]).start();
    let (code, body) = curl_code(&off, &off.ctl, &["-X", "POST", &url("/snapshot")]);
    assert_eq!(code, "409");
    assert_eq!(body, "snapshots are disabled (-snapshot-bytes 0)\n");
    assert_eq!(off.ctl("GET", "/snapshots")["enabled"], false);
}

#[test]
fn sigusr2_takes_a_snapshot_and_followers_are_told() {
    let d = daemon().start();
    d.send_unix(&msg(0));
    d.wait_stored(1);
    let mut ws = follow(&d, "fmt=json");
    assert_eq!(next_json(&mut ws)["message"], "message 0");
    let mut lines = follow(&d, "fmt=syslog&l=0");
    d.signal(12);
    let n = next_json(&mut ws);
    assert_eq!(n["snapshot"], 1, "{n}");
    assert_eq!(n["why"], "signal");
    let line = next_text(&mut lines);
    assert!(
        line.contains(" - circologd - snapshot - snapshot 1 taken (signal)"),
        "{line}"
    );
    let row = wait_snapshot(&d, 1);
    assert_eq!(row["why"], "signal");
    assert_eq!(row["messages"], 1);
    d.ctl("POST", "/snapshot");
    assert_eq!(next_json(&mut ws)["snapshot"], 2);
}

#[test]
fn circolog_ctl_and_tail_take_list_read_and_delete_snapshots() {
    let d = daemon().start();
    for i in 0..3 {
        d.send_unix(&format!("<11>1 - host app{} - - - message {i}", i % 2).into_bytes());
    }
    d.wait_stored(3);
    let ctl = |args: &[&str]| {
        let out = Command::new(CTL)
            .arg("--socket")
            .arg(&d.ctl)
            .args(args)
            .output()
            .expect("circolog-ctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, text, err) = ctl(&["snapshot", "--note", "the incident"]);
    assert!(ok, "{err}");
    assert!(text.starts_with("snapshot 1 "), "{text}");
    assert!(text.contains("3 messages (seq 0 to 2)"), "{text}");
    wait_snapshot(&d, 1);
    let (ok, text, _) = ctl(&["snapshots"]);
    assert!(ok);
    assert!(
        text.contains("api: 3 messages") && text.contains("the incident"),
        "{text}"
    );
    d.ctl("POST", "/logs/clear");
    let out = Command::new(TAIL)
        .arg("--socket")
        .arg(&d.query)
        .args(["--snapshot", "1", "--app", "app0", "--fmt", "json"])
        .output()
        .expect("circolog-tail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let texts: Vec<_> = msgs.iter().map(|m| m["message"].clone()).collect();
    assert_eq!(texts, ["message 0", "message 2"]);
    let out = Command::new(TAIL)
        .arg("--socket")
        .arg(&d.query)
        .args(["--snapshot", "7"])
        .output()
        .expect("circolog-tail");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no snapshot 7"));
    let (ok, text, err) = ctl(&["snapshot-delete", "1"]);
    assert!(ok, "{err}");
    assert_eq!(text, "deleted snapshot 1; 0 left\n");
    let (ok, _, err) = ctl(&["snapshot-delete", "1"]);
    assert!(!ok);
    assert!(
        err.contains("404") && err.contains("no snapshot 1"),
        "{err}"
    );
}

#[test]
fn a_snapshot_larger_than_its_arena_keeps_the_newest_and_says_so() {
    let d = daemon().args(&["-snapshot-bytes", "4K"]).start();
    for i in 0..200 {
        d.send_unix(&msg(i));
    }
    d.wait_stored(200);
    d.ctl("POST", "/snapshot");
    let row = wait_snapshot(&d, 1);
    assert_eq!(row["last_seq"], 199, "{row}");
    let kept = row["messages"].as_u64().expect("count");
    assert!(kept > 0 && kept < 200, "{row}");
    assert_eq!(row["did_not_fit"], 200 - kept, "{row}");
    assert_eq!(row["complete"], false);
    assert_eq!(d.get("/snapshots/1/").lines().count() as u64, kept);
    let st = d.status();
    assert_eq!(st["snapshots"]["taken"], 1, "{st}");
    let out = d.curl(&d.ctl, &["-f", &url("/metrics")]);
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.contains("circolog_snapshots_taken_total 1\n"),
        "{metrics}"
    );
}

fn sev(sev: u8, i: u32) -> Vec<u8> {
    format!("<{}>1 - host app - - - event {i}", 8 + sev).into_bytes()
}

#[test]
fn a_trigger_snapshots_the_incident_after_its_post_roll() {
    let d = daemon()
        .args(&["-trigger", "sev=crit", "-trigger-after", "3"])
        .start();
    let mut ws = follow(&d, "fmt=json&sev=emerg");
    for i in 0..5 {
        d.send_unix(&sev(6, i));
    }
    d.send_unix(&sev(2, 5));
    d.send_unix(&sev(6, 6));
    d.send_unix(&sev(6, 7));
    d.wait_stored(8);
    assert_eq!(
        d.ctl("GET", "/snapshots")["used"]["snapshots"],
        0,
        "post-roll not over"
    );
    d.send_unix(&sev(6, 8));
    d.send_unix(&sev(6, 9));
    let n = next_json(&mut ws);
    assert_eq!(
        (n["snapshot"].clone(), n["why"].clone()),
        (1.into(), "trigger".into())
    );
    let row = wait_snapshot(&d, 1);
    assert_eq!(
        row["trigger"],
        serde_json::json!({"seq": 5, "query": "sev=crit"})
    );
    // Everything up to the end of the post-roll, the triggering message included.
    assert_eq!(
        (row["first_seq"].clone(), row["last_seq"].clone()),
        (0.into(), 8.into())
    );
    let crit = d.get("/snapshots/1/?fmt=json&sev=crit");
    assert_eq!(crit.lines().count(), 1);
    assert!(crit.contains("\"event 5\""), "{crit}");
    let t = &d.status()["triggers"];
    assert_eq!(
        (t["fired"].clone(), t["held_off"].clone()),
        (1.into(), 0.into()),
        "{t}"
    );
    assert_eq!(t["each"][0]["query"], "sev=crit");
}

#[test]
fn a_trigger_that_matches_everything_fires_once_per_holdoff() {
    let d = daemon()
        .args(&[
            "-trigger",
            "app=app",
            "-trigger-after",
            "0",
            "-trigger-holdoff",
            "1h",
        ])
        .start();
    for i in 0..50 {
        d.send_unix(&sev(6, i));
    }
    d.wait_stored(50);
    let t = d.status()["triggers"].clone();
    assert_eq!(
        (t["fired"].clone(), t["held_off"].clone()),
        (1.into(), 49.into()),
        "{t}"
    );
    let list = d.ctl("GET", "/snapshots");
    assert_eq!(list["taken"], 1, "{list}");
    let out = d.curl(&d.ctl, &["-f", &url("/metrics")]);
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.contains("circolog_trigger_fired_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("circolog_trigger_held_off_total 49\n"),
        "{metrics}"
    );
}

#[test]
fn a_pause_trigger_pauses_once_and_followers_are_told() {
    let d = daemon()
        .args(&[
            "-trigger",
            "grep=Oops",
            "-trigger-action",
            "pause",
            "-trigger-after",
            "2",
        ])
        .start();
    let mut ws = follow(&d, "fmt=json&grep=Oops");
    d.send_unix(b"<11>1 - host kernel - - - Oops: something broke");
    d.send_unix(&sev(6, 1));
    d.send_unix(&sev(6, 2));
    let n = next_json(&mut ws);
    assert_eq!(n["message"], "Oops: something broke");
    assert_eq!(next_json(&mut ws)["paused"], true);
    d.send_unix(&sev(6, 3));
    wait_status(&d, "dropped", |s| s["counters"]["dropped_paused"] == 1);
    let status = d.status();
    assert_eq!(status["last_seq"], 2);
    assert_eq!(status["paused_by"], "trigger", "{status}");
    assert_eq!(status["paused_by_trigger"], "grep=Oops", "{status}");
}

#[test]
fn a_post_roll_by_time_ends_without_more_messages() {
    let d = daemon()
        .args(&["-trigger", "sev=err", "-trigger-after", "1s"])
        .start();
    d.send_unix(&sev(3, 0));
    d.wait_stored(1);
    let row = wait_snapshot(&d, 1);
    assert_eq!(row["trigger"]["seq"], 0);
    assert_eq!(row["messages"], 1);
}

/// A crit on a quiet host with `-trigger-after 5`: the five more messages
/// never come, and the snapshot is taken 10 s after the crit, not never.
/// Meanwhile `/status` lists the post-roll that is running.
#[test]
fn a_count_post_roll_ends_10s_after_its_trigger_on_a_quiet_host() {
    let d = daemon()
        .args(&["-trigger", "sev=crit", "-trigger-after", "5"])
        .start();
    d.send_unix(&sev(6, 0));
    d.send_unix(&sev(2, 1));
    d.send_unix(&sev(6, 2));
    d.wait_stored(3);
    let t = d.status()["triggers"].clone();
    let running = &t["running"][0];
    assert_eq!(running["query"], "sev=crit", "{t}");
    assert_eq!(running["seq"], 1, "{t}");
    assert_eq!(running["messages_left"], 4, "{t}");
    let left = running["ends_in_seconds"].as_f64().expect("seconds");
    assert!(0.0 < left && left <= 10.0, "{t}");
    assert!(running["ends_at"].is_string(), "{t}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let row = loop {
        let list = d.ctl("GET", "/snapshots");
        if let Some(row) = list["snapshots"].as_array().and_then(|r| r.first())
            && row["taking"] == false
        {
            break row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the post-roll never ended: {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(row["trigger"]["seq"], 1);
    assert_eq!(row["last_seq"], 2, "{row}");
    assert_eq!(d.status()["triggers"]["running"], serde_json::json!([]));
}

/// `-trigger grep= -trigger-holdoff 0 -trigger-after 0` under a flood:
/// every message fires, but the firings only ask for a snapshot, and those
/// that come while one is wanted are coalesced into it, so that ingestion
/// and `/status` go on.
#[test]
fn a_trigger_storm_is_coalesced_while_status_answers_and_messages_are_stored() {
    let d = daemon()
        .args(&[
            "-trigger",
            "grep=",
            "-trigger-holdoff",
            "0",
            "-trigger-after",
            "0",
        ])
        .start();
    const FLOOD: u32 = 5000;
    let syslog = d.syslog.clone();
    let flood = std::thread::spawn(move || {
        let s = std::os::unix::net::UnixDatagram::unbound().expect("socket");
        for i in 0..FLOOD {
            s.send_to(&msg(i), &syslog).expect("send");
        }
    });
    let mut answers = 0;
    while !flood.is_finished() {
        let st = d.status();
        assert!(st["counters"]["received_total"].is_u64(), "{st}");
        answers += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    flood.join().expect("flood");
    d.wait_stored(u64::from(FLOOD));
    assert!(answers > 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (t, taken) = loop {
        let t = d.status()["triggers"].clone();
        let list = d.ctl("GET", "/snapshots");
        let taken = list["taken"].as_u64().expect("taken");
        let busy = list["snapshots"]
            .as_array()
            .is_some_and(|r| r.iter().any(|s| s["taking"] == true));
        // Done once every firing is either a snapshot or coalesced into one.
        if !busy && t["coalesced"].as_u64().map(|c| c + taken) == t["fired"].as_u64() {
            break (t, taken);
        }
        assert!(Instant::now() < deadline, "{t} {list}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(t["fired"], u64::from(FLOOD), "every message fired: {t}");
    assert!(taken < u64::from(FLOOD) / 2, "{taken} snapshots for {t}");
    assert_eq!(t["failed"], 0, "{t}");
    assert_eq!(d.status()["last_seq"], FLOOD - 1, "every message stored");
}

/// 3000 pipelined `POST /snapshot` while a copy takes several turns: each
/// is answered, those made while the same request waits its turn join it
/// (one id for them all), and `/status` answers meanwhile.
#[test]
fn pipelined_snapshot_requests_join_the_one_waiting_its_turn() {
    use std::io::{Read, Write};
    let d = daemon().start();
    // About 2 MiB in the ring: a copy takes more than one slice.
    let line = "x".repeat(1000);
    for i in 0..2000 {
        d.send_unix(format!("<13>1 - host app - - - {i} {line}").as_bytes());
    }
    d.wait_stored(2000);
    const POSTS: usize = 3000;
    let mut s = UnixStream::connect(&d.ctl).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let mut all = b"POST /snapshot HTTP/1.1\r\nHost: x\r\n\r\n".repeat(POSTS - 1);
        all.extend_from_slice(b"POST /snapshot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        w.write_all(&all).expect("write");
    });
    let status = d.status();
    assert!(status["snapshots"]["taken"].is_u64(), "{status}");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    writer.join().expect("writer");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(
        text.matches("HTTP/1.1 200 OK").count(),
        POSTS,
        "every one answered"
    );
    let mut ids: Vec<u64> = text
        .split("\"id\":")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(ids.len(), POSTS);
    ids.dedup();
    let taken = d.ctl("GET", "/snapshots")["taken"].as_u64().expect("taken");
    assert_eq!(taken, ids.len() as u64, "one snapshot per id answered");
    assert!(
        ids.len() < POSTS / 10,
        "{} snapshots for {POSTS} requests",
        ids.len()
    );
    assert_eq!(d.status()["last_seq"], 1999);
}

#[test]
fn bad_trigger_flags_are_one_clear_line() {
    for (args, says) in [
        (&["-trigger", "sev=bogus"][..], "bad trigger \"sev=bogus\""),
        (&["-trigger", "l=5"][..], "l= has no meaning for a trigger"),
        (
            &["-trigger", "x", "-trigger-after", "soon"][..],
            "bad post-roll",
        ),
        (&["-trigger-action", "reboot"][..], "bad trigger action"),
        (&["-trigger-holdoff", "1y"][..], "unknown unit"),
        (
            &["-trigger", "sev=crit", "-snapshot-bytes", "0"][..],
            "-snapshot-bytes 0",
        ),
        (&["-snapshots", "0"][..], "-snapshots must be at least 1"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(crate::util::DAEMON)
            .arg("-syslogd-socket")
            .arg(dir.path().join("s"))
            .args(args)
            .output()
            .expect("circologd");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        let first = err.lines().next().unwrap_or("");
        assert!(first.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_flooding_sender_is_limited_and_told_of_once_per_window() {
    let d = daemon()
        .net()
        .args(&["-rate-limit", "3/1s", "-rate-limit-keep", "err"])
        .args(&["-rate-limit-by", "pid"])
        .start();
    // One process: one sender on the unix socket (its pid).
    for i in 0..10 {
        d.send_unix(&sev(6, i));
    }
    // Severe messages are never limited.
    d.send_unix(&sev(3, 10));
    wait_status(&d, "all read", |s| s["counters"]["received"]["unix"] == 11);
    let st = d.status();
    assert_eq!(st["counters"]["suppressed"]["unix"], 7, "{st}");
    // When the window ends, one notice in their place.
    let pid = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let notice = loop {
        let found = d
            .json("app=circologd")
            .into_iter()
            .find(|m| m["msg_id"] == "suppressed");
        if let Some(m) = found {
            break m;
        }
        assert!(Instant::now() < deadline, "no notice: {}", d.get("/"));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        notice["message"],
        format!("suppressed 7 messages from pid {pid}")
    );
    assert_eq!(notice["severity"], "warning");
    let texts: Vec<_> = d
        .json("app=app")
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_string())
        .collect();
    assert_eq!(texts, ["event 0", "event 1", "event 2", "event 10"]);
    // TCP: the source address is the sender, whatever the connection.
    use std::io::Write as _;
    for _ in 0..2 {
        let mut tcp = d.tcp();
        for i in 0..3 {
            tcp.write_all(&[sev(6, 100 + i), b"\n".to_vec()].concat())
                .expect("send");
        }
    }
    wait_status(&d, "tcp read", |s| s["counters"]["received"]["tcp"] == 6);
    assert_eq!(d.status()["counters"]["suppressed"]["tcp"], 3);
    let out = d.curl(&d.ctl, &["-f", &url("/metrics")]);
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.contains("circolog_suppressed_messages_total{transport=\"tcp\"} 3\n"),
        "{metrics}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.get("/?app=circologd").contains("from 127.0.0.1") {
        assert!(Instant::now() < deadline, "{}", d.get("/"));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_rate_limits_are_one_clear_line() {
    for (args, says) in [
        (&["-rate-limit", "0/1s"][..], "N must be at least 1"),
        (&["-rate-limit", "10"][..], "expected N/DURATION"),
        (&["-rate-limit", "10/0s"][..], "longer than zero"),
        (&["-rate-limit-keep", "loud"][..], "bad level"),
        (
            &["-rate-limit-by", "user"][..],
            "expected app, unit, pid or host",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(crate::util::DAEMON)
            .arg("-syslogd-socket")
            .arg(dir.path().join("s"))
            .args(args)
            .output()
            .expect("circologd");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(
            err.lines().next().unwrap_or("").contains(says),
            "{args:?}: {err}"
        );
    }
}

/// Behind one relay (one socket, one pid: syslog-ng, journald), three apps
/// each get their own quota by default, and the notice names the app.
#[test]
fn apps_behind_one_relay_are_limited_apart() {
    let d = daemon().args(&["-rate-limit", "50/2s"]).start();
    let relay = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    for i in 0..30 {
        for app in ["sshd", "nginx", "cron"] {
            let line = format!("<14>1 - web01 {app} - - - event {i}");
            relay.send_to(line.as_bytes(), &d.syslog).expect("send");
        }
    }
    // One app over its quota, from the same relay.
    for i in 0..60 {
        let line = format!("<14>1 - web01 chatty - - - event {i}");
        relay.send_to(line.as_bytes(), &d.syslog).expect("send");
    }
    wait_status(&d, "all read", |s| s["counters"]["received"]["unix"] == 150);
    for app in ["sshd", "nginx", "cron"] {
        assert_eq!(d.json(&format!("app={app}")).len(), 30, "{app}");
    }
    assert_eq!(d.json("app=chatty").len(), 50);
    assert_eq!(d.status()["counters"]["suppressed"]["unix"], 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let notices = d.json("app=circologd");
        if let Some(n) = notices.iter().find(|m| m["msg_id"] == "suppressed") {
            assert_eq!(
                n["message"],
                "suppressed 10 messages from app chatty on web01"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{}", d.get("/"));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn udp_senders_are_limited_by_their_address_whatever_the_port() {
    let d = daemon()
        .net()
        .args(&["-rate-limit", "2/1s", "-rate-limit-by", "pid"])
        .start();
    // A new socket, so a new source port, for every datagram: one sender.
    for i in 0..6 {
        d.send_udp(&sev(6, i));
    }
    wait_status(&d, "all read", |s| s["counters"]["received"]["udp"] == 6);
    assert_eq!(d.status()["counters"]["suppressed"]["udp"], 4);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let notices = d.json("app=circologd");
        if let Some(n) = notices.iter().find(|m| m["msg_id"] == "suppressed") {
            assert_eq!(n["message"], "suppressed 4 messages from 127.0.0.1");
            break;
        }
        assert!(Instant::now() < deadline, "{}", d.get("/"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(d.json("app=app").len(), 2);
}

/// Stores `n` messages of about 1 KB each through one unix socket.
fn store_large(d: &Daemon, n: u32) {
    let s = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    let pad = "x".repeat(1000);
    for i in 0..n {
        let line = format!("<13>1 - host app - - - message {i} {pad}");
        s.send_to(line.as_bytes(), &d.syslog).expect("send");
    }
    d.wait_stored(u64::from(n));
}

/// A reader of a large answer that stops reading after its first bytes,
/// while `cut` happens, and then reads the rest: how it ended.
fn read_while_cut(mut reader: Child, cut: impl FnOnce()) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut out = reader.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    out.read_exact(&mut first).expect("the answer begins");
    // The reader is blocked on its full pipe, the daemon on the socket.
    std::thread::sleep(Duration::from_millis(300));
    cut();
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).expect("the rest");
    let status = crate::util::wait_exit(&mut reader, Duration::from_secs(20));
    let mut err = String::new();
    if let Some(mut e) = reader.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status, err)
}

fn curl_reader(socket: &std::path::Path, path: &str) -> Child {
    Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(socket)
        .arg(url(path))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl")
}

/// Issue 23, item 9: a snapshot deleted while curl reads it must not look
/// complete: the chunked body ends without its last chunk and curl fails.
#[test]
fn a_snapshot_deleted_while_it_is_read_is_an_error_to_curl() {
    let d = daemon().args(&["-snapshot-bytes", "32M"]).start();
    store_large(&d, 10_000);
    d.ctl("POST", "/snapshot");
    wait_snapshot(&d, 1);
    let reader = curl_reader(&d.query, "/snapshots/1/");
    let (status, err) = read_while_cut(reader, || {
        d.ctl("DELETE", "/snapshots/1");
    });
    // curl's CURLE_PARTIAL_FILE.
    assert_eq!(status.code(), Some(18), "{err}");
    assert!(
        err.contains("transfer closed with outstanding read data remaining"),
        "{err}"
    );
}

/// Issue 23, item 9: the same for the ring cleared while curl reads it.
#[test]
fn a_ring_cleared_while_it_is_read_is_an_error_to_curl() {
    let d = daemon().start();
    store_large(&d, 10_000);
    let reader = curl_reader(&d.query, "/");
    let (status, err) = read_while_cut(reader, || {
        d.ctl("POST", "/logs/clear");
    });
    assert_eq!(status.code(), Some(18), "{err}");
    assert!(
        err.contains("transfer closed with outstanding read data remaining"),
        "{err}"
    );
    // The daemon serves on.
    assert_eq!(d.get("/"), "");
}

/// Issue 23, item 9: `circolog-tail --snapshot` of a snapshot deleted
/// under it says so and exits non-zero.
#[test]
fn circolog_tail_fails_on_a_snapshot_deleted_while_it_reads() {
    let d = daemon().args(&["-snapshot-bytes", "32M"]).start();
    store_large(&d, 10_000);
    d.ctl("POST", "/snapshot");
    wait_snapshot(&d, 1);
    let reader = Command::new(TAIL)
        .arg("--socket")
        .arg(&d.query)
        .args(["--snapshot", "1", "-n", "-1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("circolog-tail");
    let (status, err) = read_while_cut(reader, || {
        d.ctl("DELETE", "/snapshots/1");
    });
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("the connection closed in the middle of a response"),
        "{err}"
    );
}

/// Issue 23, item 7: past its maximum `-snapshots` is a start-up error, one
/// line naming the flag; at it the daemon starts.
#[test]
fn snapshots_past_the_maximum_are_a_start_up_error() {
    for n in ["1025", "100000000"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(crate::util::DAEMON)
            .arg("-syslogd-socket")
            .arg(dir.path().join("s"))
            .args(["-snapshots", n])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("circologd");
        // One that starts is killed, and fails the test, after 10 s.
        let status = crate::util::wait_exit(&mut child, Duration::from_secs(10));
        assert_eq!(status.code(), Some(1));
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
            .expect("stderr");
        assert_eq!(
            err,
            format!(
                "circologd: -snapshots {n} is more than circologd keeps: it must be at most 1024\n"
            )
        );
    }
    let d = daemon().args(&["-snapshots", "1024"]).start();
    assert_eq!(d.status()["snapshots"]["capacity"], 1024);
}

/// Issue 23, item 7: `GET /snapshots` is streamed (chunked) on the query
/// and the control socket, and reads as the whole list.
#[test]
fn the_list_of_snapshots_is_streamed_on_both_sockets() {
    let d = daemon().args(&["-snapshots", "1024"]).start();
    d.send_unix(&msg(0));
    d.wait_stored(1);
    let mut args = vec!["-f", "-o", "/dev/null", "-X", "POST"];
    let target = url("/snapshot");
    args.extend(std::iter::repeat_n(target.as_str(), 300));
    let out = d.curl(&d.ctl, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_snapshot(&d, 300);
    for socket in [&d.query, &d.ctl] {
        let out = d.curl(socket, &["-f", "-D", "/dev/stderr", &url("/snapshots")]);
        assert!(out.status.success());
        let head = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
        assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let ids: Vec<u64> = list["snapshots"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|s| s["id"].as_u64().expect("id"))
            .collect();
        assert_eq!(ids, (1..=300).collect::<Vec<_>>());
        assert_eq!(list["used"]["snapshots"], 300);
    }
    let out = Command::new(CTL)
        .arg("--socket")
        .arg(&d.ctl)
        .arg("snapshots")
        .output()
        .expect("circolog-ctl");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 300);
}
