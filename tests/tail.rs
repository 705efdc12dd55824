//! `circolog-tail` against hostile peers: servers started here that speak
//! HTTP and the websocket badly (stall, drip, send endless bodies, lines or
//! frames, answer something else), beside real daemons; and the
//! journalctl letters end to end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::util::{Daemon, daemon, wait_exit};

const TAIL: &str = env!("CARGO_BIN_EXE_circolog-tail");
const CTL: &str = env!("CARGO_BIN_EXE_circolog-ctl");

/// What a hostile server does with a request: `path` is the request
/// target, `key` the websocket key of an upgrade.
type Behaviour = fn(&mut TcpStream, &str, Option<&str>);

/// A server on a loopback port that answers every connection with
/// `behaviour`, until the test ends. Returns its `HOST:PORT`.
fn hostile(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                let key = head.lines().find_map(|l| {
                    l.strip_prefix("Sec-WebSocket-Key: ")
                        .or_else(|| l.strip_prefix("sec-websocket-key: "))
                });
                behaviour(&mut conn, &path, key);
            });
        }
    });
    addr
}

/// The answer to the probe a follower sends first (`GET /?l=0`): a
/// circologd of epoch 1 with an empty ring.
fn probe_answer(conn: &mut TcpStream) {
    let _ = conn.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nX-Circolog-Epoch: 1\r\n\
          Content-Length: 0\r\n\r\n",
    );
}

/// Accepts a websocket upgrade with `key`.
fn upgrade(conn: &mut TcpStream, key: Option<&str>) {
    let accept = tungstenite::handshake::derive_accept_key(key.unwrap_or("").trim().as_bytes());
    let _ = write!(
        conn,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nX-Circolog-Epoch: 1\r\n\r\n"
    );
}

/// An unmasked server frame: `op` and the length of a payload to follow.
fn frame_head(op: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0x80 | op];
    if len < 126 {
        f.push(len as u8);
    } else if len <= 0xffff {
        f.push(126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f
}

fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = frame_head(op, payload.len());
    f.extend_from_slice(payload);
    f
}

/// One message of `fmt=json`, `pad` bytes of text long.
fn json_message(seq: u64, text: &str) -> String {
    format!(
        r#"{{"seq":{seq},"epoch":1,"received":"2026-01-08T19:46:04.{seq:06}Z","timestamp":null,"facility":"user","severity":"info","hostname":"evil","app_name":"app","proc_id":null,"msg_id":null,"structured_data":null,"message":"{text}","transport":"tcp"}}"#
    )
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `circolog-tail`, killed when dropped.
struct Tail {
    child: Child,
    out: Option<Receiver<String>>,
    err: Receiver<String>,
}

impl Tail {
    /// Started with `args`; its standard output read unless `unread`.
    fn spawn(args: &[&str], unread: bool) -> Tail {
        let mut child = Command::new(TAIL)
            .args(args)
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn circolog-tail");
        let stdout = child.stdout.take().expect("stdout");
        let out = if unread {
            // Kept open and never read: the pipe fills.
            std::mem::forget(stdout);
            None
        } else {
            Some(lines_of(stdout))
        };
        let err = lines_of(child.stderr.take().expect("stderr"));
        Tail { child, out, err }
    }

    fn line(&self) -> String {
        let out = self.out.as_ref().expect("read");
        out.recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| {
                let err: Vec<String> = self.err.try_iter().collect();
                panic!("no line from circolog-tail ({e:?}); stderr: {err:?}")
            })
    }

    fn still_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(d: &Daemon, text: &str) {
    d.send_unix(format!("<14>1 - h app - - - {text}").as_bytes());
}

fn wait_followers(d: &Daemon, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.status()["clients"]["followers"].as_u64() != Some(n) {
        assert!(Instant::now() < deadline, "no follower connected");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `circolog-tail` to its end (killed after `limit`): exit code,
/// standard output, standard error.
fn run_tail(args: &[&str], limit: Duration) -> (Option<i32>, String, String) {
    let mut child = Command::new(TAIL)
        .args(args)
        .env("TZ", "UTC")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn circolog-tail");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(out).read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(err).read_to_string(&mut s);
        s
    });
    let status = wait_exit(&mut child, limit);
    (
        status.code(),
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

// ---- bounded memory and time (several sources) ----

/// A follower of several sources writing into a pipe nobody reads: the
/// source that floods is paused, like a slow reader, and memory stays
/// small; before, the merge queued everything (1.5 GB in 20 s).
#[test]
fn a_follow_nobody_reads_holds_a_bounded_amount() {
    let flood = hostile(|conn, path, key| {
        if !path.starts_with("/ws") {
            return probe_answer(conn);
        }
        upgrade(conn, key);
        let text = "x".repeat(256 * 1024);
        for seq in 0.. {
            let line = json_message(seq, &text);
            if conn.write_all(&frame(1, line.as_bytes())).is_err() {
                return;
            }
        }
    });
    let d = daemon().start();
    let mut tail = Tail::spawn(
        &[
            "-f",
            "-n",
            "0",
            "-o",
            "json",
            "--source",
            &format!("flood={flood}"),
            "--source",
            &format!("ok={}", d.query.display()),
        ],
        true,
    );
    // What it holds is a few queues of lines of 256 KiB: tens of MiB.
    let mut most = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        assert!(tail.still_running(), "circolog-tail ended");
        most = most.max(rss_kib(tail.child.id()));
        assert!(most < 150 * 1024, "circolog-tail grew to {most} KiB");
    }
    eprintln!("circolog-tail held at most {most} KiB");
}

/// Frames far larger than any message circologd sends are refused: the
/// source is said once and tried again, the other source goes on, and
/// memory stays small.
#[test]
fn a_source_sending_huge_frames_is_refused_and_the_others_go_on() {
    let big = hostile(|conn, path, key| {
        if !path.starts_with("/ws") {
            return probe_answer(conn);
        }
        upgrade(conn, key);
        let chunk = vec![b'x'; 1024 * 1024];
        loop {
            if conn.write_all(&frame_head(1, 16 << 20)).is_err() {
                return;
            }
            for _ in 0..16 {
                if conn.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
    });
    let d = daemon().start();
    let tail = Tail::spawn(
        &[
            "-f",
            "-n",
            "0",
            "-o",
            "json",
            "--merge-window",
            "10ms",
            "--source",
            &format!("big={big}"),
            "--source",
            &format!("ok={}", d.query.display()),
        ],
        false,
    );
    wait_followers(&d, 1);
    let mut most = 0;
    for i in 0..5 {
        send(&d, &format!("fine {i}"));
        let v: serde_json::Value = serde_json::from_str(&tail.line()).expect("json");
        assert_eq!(
            (&v["source"], &v["message"]),
            (&"ok".into(), &format!("fine {i}").into())
        );
        std::thread::sleep(Duration::from_millis(500));
        most = most.max(rss_kib(tail.child.id()));
    }
    assert!(most < 200 * 1024, "circolog-tail grew to {most} KiB");
    // Said once: the reconnection that follows may be said too, and
    // nothing more however often it fails the same way.
    let said: Vec<String> = tail.err.try_iter().collect();
    let big: Vec<&String> = said
        .iter()
        .filter(|l| l.starts_with("circolog-tail: [big] "))
        .collect();
    assert!(
        big.len() <= 2 && big[0].contains("lost connection") && big[0].contains("too long"),
        "{said:?}"
    );
}

/// Without -f: a source that sends an endless line, or more messages than
/// asked for, is an error naming it, at once; the healthy source's lines
/// are printed and the exit status says something went wrong. Before,
/// circolog-tail held everything (5.7 and 9.4 GB in 15 s) and never ended.
#[test]
fn endless_lines_and_bodies_are_errors_naming_the_source() {
    let line = hostile(|conn, _, _| {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Circolog-Epoch: 1\r\n\r\n{\"seq\":1,");
        let chunk = vec![b'x'; 64 * 1024];
        while conn.write_all(&chunk).is_ok() {}
    });
    let body = hostile(|conn, _, _| {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Circolog-Epoch: 1\r\n\r\n");
        for seq in 0.. {
            let mut l = json_message(seq, "more");
            l.push('\n');
            if conn.write_all(l.as_bytes()).is_err() {
                return;
            }
        }
    });
    let d = daemon().start();
    for i in 0..3 {
        send(&d, &format!("healthy {i}"));
    }
    d.wait_stored(3);
    for (name, addr, why) in [
        ("line", &line, "a line longer than"),
        ("body", &body, "sent more than the 5 messages asked for"),
    ] {
        let (code, out, err) = run_tail(
            &[
                "-n",
                "5",
                "-o",
                "json",
                "--source",
                &format!("ok={}", d.query.display()),
                "--source",
                &format!("{name}={addr}"),
            ],
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.starts_with(&format!("circolog-tail: [{name}] {addr}: ")) && err.contains(why),
            "{err}"
        );
        let healthy: Vec<String> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["source"] == "ok")
            .map(|v| v["message"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(healthy, ["healthy 0", "healthy 1", "healthy 2"], "{out}");
    }
}

/// One source whose answer turns into an endless line: in every format,
/// the lines before it are printed, whole, and the endless one is refused
/// and named, as when the lines were written one at a time.
#[test]
fn one_source_with_an_endless_line_prints_the_lines_before_it() {
    let peer = hostile(|conn, _, _| {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Circolog-Epoch: 1\r\n\r\n");
        for seq in 0..3 {
            let _ = conn.write_all(format!("{}\n", json_message(seq, "before")).as_bytes());
        }
        let _ = conn.write_all(b"{\"seq\":3,\"message\":\"");
        let chunk = vec![b'x'; 64 * 1024];
        while conn.write_all(&chunk).is_ok() {}
    });
    let before: String = (0..3)
        .map(|seq| json_message(seq, "before") + "\n")
        .collect();
    for fmt in ["json", "raw", "syslog", "short"] {
        let (code, out, err) = run_tail(
            &["--addr", &peer, "-n", "-1", "-o", fmt],
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(2), "{fmt}: {err}");
        assert!(
            err.starts_with(&format!("circolog-tail: {peer}: a line longer than")),
            "{fmt}: {err}"
        );
        if fmt == "short" {
            assert_eq!(out, "Jan  8 19:46:04 evil app: before\n".repeat(3), "{fmt}");
        } else {
            assert_eq!(out, before, "{fmt}");
        }
    }
}

/// Without -f and with `-n -1`, a source whose body never ends is printed
/// as it comes, merged with the healthy one, in bounded memory. Before,
/// every line of every source was held until the end (5.7 GB in 15 s).
#[test]
fn an_endless_body_streams_in_bounded_memory() {
    let body = hostile(|conn, _, _| {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Circolog-Epoch: 1\r\n\r\n");
        let text = "y".repeat(4096);
        for seq in 0.. {
            let mut l = json_message(seq, &text);
            l.push('\n');
            if conn.write_all(l.as_bytes()).is_err() {
                return;
            }
        }
    });
    let d = daemon().start();
    send(&d, "healthy");
    d.wait_stored(1);
    let mut tail = Tail::spawn(
        &[
            "-n",
            "-1",
            "-o",
            "json",
            "--source",
            &format!("ok={}", d.query.display()),
            "--source",
            &format!("body={body}"),
        ],
        false,
    );
    // Its lines come as they are read (they were received before the
    // healthy one's, which waits behind them, as a merge by receive time
    // must).
    let first: serde_json::Value = serde_json::from_str(&tail.line()).expect("json");
    assert_eq!(first["source"], "body");
    let (mut most, mut printed) = (0, 0);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        assert!(tail.still_running(), "circolog-tail ended");
        // Read and dropped: it is not held up by its reader.
        printed += tail.out.as_ref().map_or(0, |o| o.try_iter().count());
        most = most.max(rss_kib(tail.child.id()));
        assert!(most < 150 * 1024, "circolog-tail grew to {most} KiB");
    }
    assert!(printed > 1000, "{printed} lines");
}

/// A source whose answer drips a byte now and then is given up after the
/// line deadline (30 s), named; what the healthy source gave is printed.
/// Before, nothing was printed and circolog-tail never ended.
#[test]
fn a_dripping_source_is_given_up_and_the_healthy_lines_printed() {
    let drip = hostile(|conn, _, _| {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Circolog-Epoch: 1\r\n\r\n");
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if conn.write_all(b"{").is_err() {
                return;
            }
        }
    });
    let d = daemon().start();
    send(&d, "healthy");
    d.wait_stored(1);
    let (code, out, err) = run_tail(
        &[
            "--source",
            &format!("ok={}", d.query.display()),
            "--source",
            &format!("drip={drip}"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with(&format!("circolog-tail: [drip] {drip}: ")) && err.contains("stalled"),
        "{err}"
    );
    assert!(
        out.starts_with("[ok] ")
            && out
                .trim_end()
                .ends_with(&format!(" h app[{}]: healthy", std::process::id())),
        "{out}"
    );
}

// ---- one bad source among several, with -f ----

/// Sources that never answer, answer something that is not HTTP, or
/// answer with a head over 64 KiB are each said once and tried again; the
/// healthy source goes on. Before, the first of them ended the follow.
#[test]
fn bad_sources_are_said_once_and_the_follow_goes_on() {
    let silent = hostile(|conn, _, _| {
        let mut sink = [0u8; 1024];
        while conn.read(&mut sink).is_ok_and(|n| n > 0) {}
    });
    let garbage = hostile(|conn, _, _| {
        let _ = conn.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\x1b[2J");
    });
    let bighead = hostile(|conn, _, _| {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Big: ");
        let _ = conn.write_all(&vec![b'a'; 100 * 1024]);
        let _ = conn.write_all(b"\r\n\r\n");
    });
    let d = daemon().start();
    let mut tail = Tail::spawn(
        &[
            "-f",
            "-n",
            "0",
            "-o",
            "json",
            "--merge-window",
            "10ms",
            "--source",
            &format!("ok={}", d.query.display()),
            "--source",
            &format!("silent={silent}"),
            "--source",
            &format!("garbage={garbage}"),
            "--source",
            &format!("bighead={bighead}"),
        ],
        false,
    );
    wait_followers(&d, 1);
    // Long enough for the silent one's head deadline and several retries
    // of the others.
    for i in 0..8 {
        send(&d, &format!("m{i}"));
        let v: serde_json::Value = serde_json::from_str(&tail.line()).expect("json");
        assert_eq!(v["message"], format!("m{i}"));
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(tail.still_running());
    let said: Vec<String> = tail.err.try_iter().collect();
    for name in ["silent", "garbage", "bighead"] {
        let about: Vec<&String> = said
            .iter()
            .filter(|l| l.starts_with(&format!("circolog-tail: [{name}] ")))
            .collect();
        assert_eq!(about.len(), 1, "{name}: {said:?}");
        assert!(about[0].ends_with("; trying again"), "{about:?}");
    }
    assert!(said.iter().all(|l| !l.contains('\x1b')), "{said:?}");
}

// ---- -n with --after-seq ----

/// `-n N --after-seq SEQ`: the last N of the messages after SEQ; `-n -1`:
/// all of them. Before, the two were refused together.
#[test]
fn the_last_n_after_a_seq() {
    let d = daemon().start();
    for i in 0..6 {
        send(&d, &format!("m{i}"));
    }
    d.wait_stored(6);
    let texts = |args: &[&str]| {
        let mut all = vec!["--socket", d.query.to_str().expect("path"), "-o", "json"];
        all.extend_from_slice(args);
        let (code, out, err) = run_tail(&all, Duration::from_secs(30));
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                v["message"].as_str().expect("message").to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&["-n", "2", "--after-seq", "1"]), ["m4", "m5"]);
    assert_eq!(
        texts(&["--after-seq", "1", "-n", "-1"]),
        ["m2", "m3", "m4", "m5"]
    );
    assert_eq!(texts(&["--after-seq", "3"]), ["m4", "m5"]);
    assert_eq!(texts(&["-n", "9", "--after-seq", "4"]), ["m5"]);
    // Following: the last N after SEQ, then what comes.
    let tail = Tail::spawn(
        &[
            "--socket",
            d.query.to_str().expect("path"),
            "-f",
            "-o",
            "json",
            "-n",
            "1",
            "--after-seq",
            "2",
        ],
        false,
    );
    let next = || {
        let v: serde_json::Value = serde_json::from_str(&tail.line()).expect("json");
        v["message"].as_str().expect("message").to_string()
    };
    assert_eq!(next(), "m5");
    send(&d, "m6");
    assert_eq!(next(), "m6");
}

// ---- hostile text never reaches the terminal raw ----

/// A peer's text: a frame that is not JSON, a snapshot notice, a close
/// reason, an error body. Each is printed escaped, as the short format
/// escapes a message.
#[test]
fn a_peers_text_is_escaped_everywhere_it_is_printed() {
    let peer = hostile(|conn, path, key| {
        if path.contains("grep=refuse") {
            let body = "bad grep \x1b]0;owned\x07\u{202e}\n";
            let _ = write!(
                conn,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        if !path.starts_with("/ws") {
            return probe_answer(conn);
        }
        upgrade(conn, key);
        let hostile = "title \x1b]0;owned\x07 clear \x1b[2J rtl \u{202e}txt";
        let _ = conn.write_all(&frame(1, hostile.as_bytes()));
        let snapshot = format!(
            r#"{{"snapshot":1,"why":"{}","epoch":1}}"#,
            "api \\u001b[2J \u{202e}"
        );
        let _ = conn.write_all(&frame(1, snapshot.as_bytes()));
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice("bye \x1b[2J\u{202e}".as_bytes());
        let _ = conn.write_all(&frame(8, &close));
    });
    let tail = Tail::spawn(&["-f", "--addr", &peer], false);
    let line = tail.line();
    assert_eq!(
        line,
        "title \\x1b]0;owned\\x07 clear \\x1b[2J rtl \\u{202e}txt"
    );
    let mut said = Vec::new();
    while said.len() < 2 {
        said.push(
            tail.err
                .recv_timeout(Duration::from_secs(20))
                .expect("a notice"),
        );
    }
    assert_eq!(
        said[0],
        "circolog-tail: snapshot 1 taken (api \\x1b[2J \\u{202e})"
    );
    assert!(
        said[1].starts_with(&format!(
            "circolog-tail: lost connection to {peer}: bye \\x1b[2J\\u{{202e}} (1000)"
        )),
        "{said:?}"
    );
    drop(tail);
    let (code, _, err) = run_tail(
        &["--addr", &peer, "--grep", "refuse"],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "circolog-tail: circologd refused the query: bad grep \\x1b]0;owned\\x07\\u{202e}\n"
    );
}

/// `circolog-ctl snapshots` prints a snapshot's note and trigger escaped.
#[test]
fn ctl_prints_snapshot_notes_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("ctl.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stopped.load(Ordering::Relaxed) {
                return;
            }
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match conn.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let body = r#"{"enabled":true,"snapshots":[{"id":1,"why":"trigger","trigger":{"query":"grep=\u001b[2J","seq":4},"taken_at":"2026-01-08T19:46:04Z\u001b]0;x\u0007","messages":1,"bytes":10,"note":"look \u001b]0;owned\u0007 here \u202e"}]}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let out = Command::new(CTL)
        .arg("--socket")
        .arg(&sock)
        .arg("snapshots")
        .output()
        .expect("run circolog-ctl");
    stop.store(true, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains('\x1b') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(
        text.contains("— look \\x1b]0;owned\\x07 here \\u{202e}"),
        "{text:?}"
    );
    assert!(text.contains("trigger grep=\\x1b[2J (seq 4)"), "{text:?}");
}

// ---- the wrong port ----

/// `--addr` given circologd's syslog TCP port: the peer never answers; it
/// is said within the head deadline (5 s) that it is not the query API.
/// Before, circolog-tail waited 30 s.
#[test]
fn a_syslog_port_is_not_a_query_api() {
    let d = daemon().net().start();
    let addr = d.addr.expect("syslog addr").to_string();
    let (code, out, err) = run_tail(&["--addr", &addr], Duration::from_secs(20));
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(out, "");
    assert!(
        err.starts_with(&format!(
            "circolog-tail: {addr}: circologd did not answer within 5 s"
        )) && err.contains("syslog input port")
            && err.contains("not circologd's query API"),
        "{err}"
    );
}

// ---- journalctl's letters ----

/// `-t`, `-g`, `-k`, `-r`, `-S`/`-U` with journalctl's time forms, end to
/// end; a bad time names the flag as typed.
#[test]
fn journalctl_letters_work_end_to_end() {
    let d = daemon().start();
    d.send_unix(b"<14>1 - h sshd 12 - - accepted alice");
    d.send_unix(b"<14>1 - h cron - - - job ran");
    d.send_unix(b"<6>1 - h kernel - - - usb 1-1: new device");
    d.send_unix(b"<14>1 - h sshd 13 - - accepted bob");
    d.wait_stored(4);
    let texts = |args: &[&str]| {
        let mut all = vec!["--socket", d.query.to_str().expect("path"), "-o", "json"];
        all.extend_from_slice(args);
        let (code, out, err) = run_tail(&all, Duration::from_secs(30));
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                v["message"].as_str().expect("message").to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&["-t", "sshd"]), ["accepted alice", "accepted bob"]);
    assert_eq!(texts(&["-g", "^acc.*b"]), ["accepted bob"]);
    // A pattern with a capital keeps case, as journalctl's does.
    assert_eq!(texts(&["-g", "BOB$"]), Vec::<String>::new());
    assert_eq!(
        texts(&["-g", "ACCEPTED BOB", "--case-sensitive=false"]),
        ["accepted bob"]
    );
    assert_eq!(texts(&["-k"]), ["usb 1-1: new device"]);
    assert_eq!(
        texts(&["-r", "-n", "3"]),
        ["accepted bob", "usb 1-1: new device", "job ran"]
    );
    assert_eq!(
        texts(&["-S", "today", "-U", "tomorrow", "-t", "cron"]),
        ["job ran"]
    );
    assert_eq!(texts(&["--since", "-1h", "-n", "1"]), ["accepted bob"]);
    assert_eq!(
        texts(&["-S", "2000-01-01 00:00", "-n", "1"]),
        ["accepted bob"]
    );
    assert_eq!(
        texts(&["-S", "2000-01-01", "-U", "2000-01-02 12:00"]),
        Vec::<String>::new()
    );
    for (args, flag) in [
        (&["-S", "1234"][..], "-S"),
        (&["--since", "1234"], "--since"),
        (&["--until=soon"], "--until"),
        (&["-kS", "1234"], "-S"),
    ] {
        let mut all = vec!["--socket", d.query.to_str().expect("path")];
        all.extend_from_slice(args);
        let (code, _, err) = run_tail(&all, Duration::from_secs(30));
        assert_eq!(code, Some(2));
        assert!(
            err.starts_with(&format!("circolog-tail: {flag}: bad time ")) && !err.contains("from"),
            "{err}"
        );
    }
    let (code, _, err) = run_tail(
        &[
            "--socket",
            d.query.to_str().expect("path"),
            "-S",
            "now",
            "-U",
            "2000-01-01",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("circolog-tail: -S is later than -U: ") && !err.contains("from"),
        "{err}"
    );
    let (code, _, err) = run_tail(
        &["--socket", d.query.to_str().expect("path"), "-r", "-f"],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run_tail(
        &[
            "--socket",
            d.query.to_str().expect("path"),
            "-t",
            "sshd",
            "-t",
            "!cron",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("circolog-tail: -t: either every value given is negated"),
        "{err}"
    );

    // One without ignores it, as journalctl's does; --re is the query
    // language's, with case.
    d.send_unix(b"<11>1 - h cron - - - Job FAILED");
    d.wait_stored(5);
    assert_eq!(texts(&["-g", "job failed"]), ["Job FAILED"]);
    assert_eq!(
        texts(&["-g", "job failed", "--case-sensitive"]),
        Vec::<String>::new()
    );
    assert_eq!(texts(&["--re", "job failed"]), Vec::<String>::new());
}
