//! `circolog-tail` and `circolog-ctl`: the real binaries against the real
//! daemon.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::util::{DAEMON, Daemon, daemon, url, wait_exit};

const TAIL: &str = env!("CARGO_BIN_EXE_circolog-tail");
const CTL: &str = env!("CARGO_BIN_EXE_circolog-ctl");

/// A message from `app`, with text `message {i}`.
fn msg(app: &str, i: u32) -> Vec<u8> {
    format!("<14>1 - host {app} - - - message {i}").into_bytes()
}

/// `circolog-tail` in a fixed environment: UTC, colour left to `--color`.
fn tail_cmd(socket: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(TAIL);
    cmd.arg("--socket")
        .arg(socket)
        .args(args)
        .env("TZ", "UTC")
        .env_remove("NO_COLOR");
    cmd
}

fn tail(d: &Daemon, args: &[&str]) -> Output {
    tail_cmd(&d.query, args)
        .output()
        .expect("run circolog-tail")
}

/// Runs `circolog-tail`, expecting success; returns its lines.
fn tail_lines(d: &Daemon, args: &[&str]) -> Vec<String> {
    let out = tail(d, args);
    assert!(
        out.status.success(),
        "circolog-tail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `message` of each `--fmt json` line.
fn messages(d: &Daemon, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--fmt", "json"];
    all.extend_from_slice(args);
    tail_lines(d, &all)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["message"].as_str().expect("message").to_string()
        })
        .collect()
}

fn numbered(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("message {i}")).collect()
}

fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    err
}

// ---- circolog-tail ----

#[test]
fn tail_prints_the_last_ten_or_n() {
    let d = daemon().start();
    for i in 0..15 {
        d.send_unix(&msg("a", i));
    }
    d.wait_stored(15);
    assert_eq!(messages(&d, &[]), numbered(5..15));
    assert_eq!(messages(&d, &["-n", "3"]), numbered(12..15));
    assert_eq!(messages(&d, &["-n3"]), numbered(12..15));
    assert_eq!(messages(&d, &["-n", "-1"]), numbered(0..15));
    assert_eq!(messages(&d, &["-n", "0"]), Vec::<String>::new());
    // Go-style long flags.
    assert_eq!(messages(&d, &["-lines", "2"]), numbered(13..15));
    assert_eq!(
        tail_lines(&d, &["-fmt", "raw", "-n", "1"]),
        ["<14>1 - host a - - - message 14"]
    );
    // The default format is `short`.
    // Without a PID in the message, the sender's from its credentials.
    let last = format!(" host a[{}]: message 14", std::process::id());
    assert!(tail_lines(&d, &["-n", "1"])[0].ends_with(&last));
}

#[test]
fn tail_refuses_a_bad_count() {
    let d = daemon().start();
    let out = tail(&d, &["-n", "-2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-1 for all"));
}

#[test]
fn short_format_uses_the_message_time_in_the_local_zone() {
    let d = daemon().start();
    d.send_unix(
        b"<11>1 2026-01-08T20:46:03.295+01:00 myhost sshd 1234 - - Accepted key\nfor alice",
    );
    // glibc's /dev/log form: no hostname (the daemon runs with -tz UTC).
    d.send_unix(b"<78>Jan  8 19:46:05 cron[77]: job started");
    // No timestamp: the receive time stands in.
    d.send_unix(b"<14>1 - - app - - - no time");
    d.wait_stored(3);
    let lines = tail_lines(&d, &[]);
    // A local message without a hostname is shown with this host's.
    let host = crate::util::host_name();
    assert_eq!(
        lines[..2],
        [
            "Jan  8 19:46:03 myhost sshd[1234]: Accepted key\\nfor alice".to_string(),
            format!("Jan  8 19:46:05 {host} cron[77]: job started"),
        ]
    );
    // `Mmm dd hh:mm:ss HOST app[PID]: no time`, today (the PID is this
    // process's, from the credentials: the message names none).
    let now = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .strftime("%b %e ")
        .to_string();
    let third = &lines[2];
    assert!(third.starts_with(&now), "{third}");
    assert_eq!(
        third.len(),
        format!(
            "Mmm dd hh:mm:ss {host} app[{}]: no time",
            std::process::id()
        )
        .len(),
        "{third}"
    );
    let tag = format!(" app[{}]: no time", std::process::id());
    assert!(third.ends_with(&tag), "{third}");

    // Another zone: the same instants an hour later (a POSIX TZ, so that
    // the test needs no zone files).
    let out = tail_cmd(&d.query, &["-n", "-1"])
        .env("TZ", "CET-1")
        .output()
        .expect("run");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.starts_with("Jan  8 20:46:03 myhost sshd[1234]: "),
        "{text}"
    );
}

#[test]
fn tail_formats() {
    let d = daemon().start();
    let sent: [&[u8]; 3] = [
        b"<13>1 2026-01-08T19:46:03Z h app 1 ID [x@1 a=\"b\"] one",
        b"<13>Jan  8 19:46:03 h app: two",
        b"just bytes",
    ];
    for m in sent {
        d.send_unix(m);
    }
    d.wait_stored(3);
    let json = tail_lines(&d, &["--fmt", "json"]);
    assert_eq!(json.len(), 3);
    for (i, l) in json.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
        assert_eq!(v["seq"], i);
    }
    let syslog = tail_lines(&d, &["--fmt", "syslog"]);
    assert_eq!(syslog.join("\n") + "\n", d.get("/?fmt=syslog"));
    let raw = tail_lines(&d, &["--fmt", "raw"]);
    let sent: Vec<String> = sent
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(raw, sent);
}

#[test]
fn tail_passes_each_filter_to_the_daemon() {
    let d = daemon().start();
    d.send_unix(b"<131>1 - h1 a1 - - - alpha"); // local0.err
    d.send_unix(b"<14>1 - h2 a2 - - - beta"); // user.info
    d.send_unix(b"<15>1 - h1 a2 - - - gamma"); // user.debug
    d.wait_stored(3);
    assert_eq!(messages(&d, &["--sev", "err"]), ["alpha"]);
    assert_eq!(messages(&d, &["--sev", "info"]), ["alpha", "beta"]);
    assert_eq!(messages(&d, &["--fac", "local0"]), ["alpha"]);
    assert_eq!(
        messages(&d, &["--fac", "user,local0"]),
        ["alpha", "beta", "gamma"]
    );
    assert_eq!(messages(&d, &["--host", "h1"]), ["alpha", "gamma"]);
    assert_eq!(messages(&d, &["--app", "a2"]), ["beta", "gamma"]);
    assert_eq!(messages(&d, &["--grep", "amm"]), ["gamma"]);
    assert_eq!(
        messages(&d, &["-grep", "a", "-app", "a2", "-n", "1"]),
        ["gamma"]
    );
    // A bad filter: the daemon's reason, exit 2.
    let err = one_line_error(&tail(&d, &["--sev", "loud"]));
    assert!(
        err.starts_with("circolog-tail: circologd refused the query: "),
        "{err}"
    );
    assert!(err.contains("sev"), "{err}");
}

#[test]
fn colour_only_on_request_when_piped() {
    let d = daemon().start();
    d.send_unix(b"<11>1 - h app - - - an error");
    d.send_unix(b"<14>1 - h app - - - some info");
    d.send_unix(b"<15>1 - h app - - - debugging");
    d.wait_stored(3);
    let plain = tail_lines(&d, &[]);
    assert!(plain.iter().all(|l| !l.contains('\x1b')), "{plain:?}");
    let always = tail_lines(&d, &["--color", "always"]);
    assert!(always[0].starts_with("\x1b[31m") && always[0].ends_with("\x1b[0m"));
    assert!(!always[1].contains('\x1b'), "info is plain");
    assert!(always[2].starts_with("\x1b[2m"));
    let syslog = tail_lines(&d, &["--color", "always", "--fmt", "syslog"]);
    assert!(syslog[0].starts_with("\x1b[31m<11>1 "));
    let out = tail_cmd(&d.query, &["--color", "never"])
        .output()
        .expect("run");
    assert!(!out.stdout.contains(&0x1b));
    // NO_COLOR is for `auto`; an explicit `always` wins.
    let out = tail_cmd(&d.query, &["--color", "always"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    assert!(out.stdout.contains(&0x1b));
}

#[test]
fn tail_into_a_closed_pipe_exits_quietly() {
    let d = daemon().start();
    let sender = UnixDatagram::unbound().expect("socket");
    let pad = "x".repeat(200);
    for i in 0..3000 {
        sender
            .send_to(
                format!("<14>1 - h app - - - {i} {pad}").as_bytes(),
                &d.syslog,
            )
            .expect("send");
    }
    d.wait_stored(3000);
    // Far more than a pipe holds: the writes after the reader is gone fail.
    let mut child = tail_cmd(&d.query, &["-n", "-1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut first).expect("a line");
    assert!(
        first.contains(&format!(" app[{}]: 0 ", std::process::id())),
        "{first}"
    );
    drop(stdout);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(status.success(), "{status}: {err}");
    assert_eq!(err, "");
}

#[test]
fn tail_without_a_daemon_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("query.sock");
    let out = tail_cmd(&missing, &[]).output().expect("run");
    let err = one_line_error(&out);
    // What follows says what does run instead, if anything: other tests'
    // daemons may.
    let start = format!(
        "circolog-tail: cannot connect to {}: No such file or directory (",
        missing.display()
    );
    assert!(err.starts_with(&start), "{err}");
    assert!(err.trim_end().ends_with(')'), "{err}");
    let out = Command::new(TAIL)
        .args(["--addr", "127.0.0.1:1"])
        .output()
        .expect("run");
    let err = one_line_error(&out);
    assert!(err.contains("cannot connect to 127.0.0.1:1"), "{err}");
}

/// `circolog-tail -f` started before the daemon waits for it, says so once,
/// and follows it when it comes.
#[test]
fn follow_waits_for_a_daemon_started_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let query = dir.path().join("query.sock");
    let mut f = Follower::spawn(&mut tail_cmd(&query, &["-f", "--fmt", "json"]));
    let waiting = f.err_line();
    assert!(
        waiting.starts_with(&format!(
            "circolog-tail: waiting for circologd: cannot connect to {}",
            query.display()
        )),
        "{waiting}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(f.child.try_wait().expect("wait").is_none(), "it gave up");
    let _d = Restartable::start(dir.path());
    send(dir.path(), "<14>1 - h app - - - after the wait");
    let v: serde_json::Value = serde_json::from_str(&f.line()).expect("json");
    assert_eq!(v["message"], "after the wait");
    assert_eq!(
        f.err_line(),
        format!("circolog-tail: connected to {}", query.display())
    );
}

/// The wrong socket given to a client: each says what it is.
#[test]
fn clients_given_the_wrong_socket_say_what_it_is() {
    let d = daemon().query_net().start();
    let out = tail_cmd(&d.ctl, &[]).output().expect("run");
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!(
            "{} is circologd's control socket, not its query socket",
            d.ctl.display()
        )),
        "{err}"
    );
    let out = tail_cmd(&d.syslog, &["-f"]).output().expect("run");
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!(
            "{} is a datagram socket, not circologd's query socket",
            d.syslog.display()
        )),
        "{err}"
    );
    let url = format!("http://{}/ui", d.query_addr.expect("addr"));
    let out = Command::new(TAIL)
        .args(["--addr", &url])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "not a URL: --addr {}",
            d.query_addr.expect("addr")
        )),
        "{err}"
    );
    let ctl_to = |socket: &Path| {
        Command::new(CTL)
            .arg("--socket")
            .arg(socket)
            .arg("status")
            .output()
            .expect("run")
    };
    let err = one_line_error(&ctl_to(&d.query));
    assert!(
        err.contains(&format!(
            "{} is circologd's query socket, not its control socket",
            d.query.display()
        )),
        "{err}"
    );
    let err = one_line_error(&ctl_to(&d.syslog));
    assert!(err.contains("is a datagram socket"), "{err}");
    let err = one_line_error(&ctl_to(d.dir.path()));
    assert!(err.contains("is a directory, not a socket"), "{err}");
}

/// Started with the original's two flags, the daemon has no control
/// socket: circolog-ctl says that, rather than guessing it is not running.
#[test]
fn ctl_says_when_the_daemon_has_no_control_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(DAEMON)
        .arg("-syslogd-socket")
        .arg(dir.path().join("syslog.sock"))
        .arg("-query-socket")
        .arg(dir.path().join("query.sock"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start circologd");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let said = lines
        .find_map(|l| l.ok().filter(|l| l.contains("no control socket")))
        .expect("start-up says there is no control socket");
    assert!(said.contains("kill -USR1"), "{said}");
    let pid = child.id();
    let out = Command::new(CTL)
        .arg("--socket")
        .arg(dir.path().join("ctl.sock"))
        .arg("pause")
        .output()
        .expect("run");
    let _ = child.kill();
    let _ = child.wait();
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!(
            "circologd (pid {pid}) was started without a control socket (-ctl-socket); \
             kill -USR1 {pid} toggles its pause"
        )),
        "{err}"
    );
}

#[test]
fn tail_over_tcp() {
    let d = daemon().query_net().start();
    d.send_unix(&msg("a", 0));
    d.wait_stored(1);
    let addr = d.query_addr.expect("addr").to_string();
    let out = Command::new(TAIL)
        .args(["--addr", &addr, "--fmt", "raw"])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"<14>1 - host a - - - message 0\n");
    let mut f = Follower::spawn(Command::new(TAIL).args(["-f", "--addr", &addr, "--fmt", "raw"]));
    assert_eq!(f.line(), "<14>1 - host a - - - message 0");
    d.send_unix(&msg("a", 1));
    assert_eq!(f.line(), "<14>1 - host a - - - message 1");
}

/// A running `circolog-tail -f`, its output read line by line.
struct Follower {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Follower {
    fn spawn(cmd: &mut Command) -> Follower {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn circolog-tail");
        let out = lines_of(child.stdout.take().expect("stdout"));
        let err = lines_of(child.stderr.take().expect("stderr"));
        Follower { child, out, err }
    }

    /// The next line of standard output, within 20 s.
    fn line(&mut self) -> String {
        match self.out.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(e) => {
                let err: Vec<String> = self.err.try_iter().collect();
                panic!("no line from circolog-tail ({e:?}); stderr: {err:?}");
            }
        }
    }

    /// Nothing more on standard output for `quiet`.
    fn assert_quiet(&mut self, quiet: Duration) {
        match self.out.recv_timeout(quiet) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("unexpected output: {other:?}"),
        }
    }

    /// The next line of standard error, within 20 s.
    fn err_line(&mut self) -> String {
        self.err
            .recv_timeout(Duration::from_secs(20))
            .expect("a line on stderr")
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

#[test]
fn follow_prints_the_backlog_then_live_messages() {
    let d = daemon().start();
    for i in 0..3 {
        d.send_unix(&msg("a", i));
    }
    d.wait_stored(3);
    let mut f = Follower::spawn(&mut tail_cmd(&d.query, &["-f", "-n", "2", "--fmt", "json"]));
    let seqs: Vec<u64> = (0..2)
        .map(|_| {
            let v: serde_json::Value = serde_json::from_str(&f.line()).expect("json");
            v["seq"].as_u64().expect("seq")
        })
        .collect();
    assert_eq!(seqs, [1, 2]);
    for i in 3..6 {
        d.send_unix(&msg("a", i));
    }
    for i in 3..6 {
        let v: serde_json::Value = serde_json::from_str(&f.line()).expect("json");
        assert_eq!(v["message"], format!("message {i}"));
    }
    // A clear is a notice: in json, on standard output.
    d.ctl("POST", "/logs/clear");
    let v: serde_json::Value = serde_json::from_str(&f.line()).expect("json");
    assert_eq!(v["cleared"], true);
}

#[test]
fn follow_in_short_format_with_filters_and_notices() {
    let d = daemon().start();
    let mut f = Follower::spawn(&mut tail_cmd(&d.query, &["-f", "--app", "keep"]));
    // Let it connect before anything is sent: then every message is live.
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.status()["clients"]["followers"] != 1 {
        assert!(Instant::now() < deadline, "tail never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.send_unix(&msg("drop", 0));
    d.send_unix(&msg("keep", 1));
    let pid = std::process::id();
    assert!(f.line().ends_with(&format!(" host keep[{pid}]: message 1")));
    d.ctl("POST", "/logs/clear");
    assert_eq!(f.err_line(), "circolog-tail: the buffer was cleared");
    d.send_unix(&msg("keep", 2));
    assert!(f.line().ends_with(&format!(" host keep[{pid}]: message 2")));
    f.assert_quiet(Duration::from_millis(300));
}

#[test]
fn follow_into_a_closed_pipe_exits_quietly() {
    let d = daemon().start();
    d.send_unix(&msg("a", 0));
    d.wait_stored(1);
    let mut child = tail_cmd(&d.query, &["-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a line");
    drop(stdout);
    // The next message is written into the closed pipe.
    d.send_unix(&msg("a", 1));
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    assert!(status.success(), "{status}: {err}");
    assert_eq!(err, "");
}

/// A daemon on sockets of our choosing, so that a second one can take the
/// first one's place. Stopped with SIGKILL when dropped.
struct Restartable {
    child: Child,
}

impl Restartable {
    fn start(dir: &Path) -> Restartable {
        let mut child = Command::new(DAEMON)
            .arg("-syslogd-socket")
            .arg(dir.join("syslog.sock"))
            .arg("-query-socket")
            .arg(dir.join("query.sock"))
            .arg("-ctl-socket")
            .arg(dir.join("ctl.sock"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start circologd");
        wait_for_control(child.stdout.take().expect("stdout"));
        Restartable { child }
    }

    /// SIGTERM, and wait for the exit.
    fn stop(mut self) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok);
        assert!(wait_exit(&mut self.child, Duration::from_secs(10)).success());
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_control(stdout: ChildStdout) {
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("listening: control") => break,
            Some(Ok(_)) => continue,
            _ => panic!("circologd exited before listening"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
}

fn send(dir: &Path, text: &str) {
    let s = UnixDatagram::unbound().expect("socket");
    s.send_to(text.as_bytes(), dir.join("syslog.sock"))
        .expect("send");
}

#[test]
fn follow_resumes_across_a_restart_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let query: PathBuf = dir.path().join("query.sock");
    let a = Restartable::start(dir.path());
    let mut f = Follower::spawn(&mut tail_cmd(&query, &["-f", "--fmt", "json"]));
    let mut got = Vec::new();
    for i in 1..=5 {
        send(dir.path(), &format!("<14>1 - h app - - - m{i}"));
    }
    for _ in 1..=5 {
        got.push(f.line());
    }
    a.stop();
    assert!(f.err_line().starts_with(&format!(
        "circolog-tail: lost connection to {}",
        query.display()
    )));
    let _b = Restartable::start(dir.path());
    for i in 6..=8 {
        send(dir.path(), &format!("<14>1 - h app - - - m{i}"));
    }
    for _ in 6..=8 {
        got.push(f.line());
    }
    assert!(f.err_line().contains("reconnected"));
    f.assert_quiet(Duration::from_millis(500));
    let parsed: Vec<serde_json::Value> = got
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let texts: Vec<&str> = parsed
        .iter()
        .map(|v| v["message"].as_str().expect("message"))
        .collect();
    assert_eq!(texts, ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
    // Two daemons, each numbering from 0.
    assert_ne!(parsed[0]["epoch"], parsed[5]["epoch"]);
    assert_eq!(parsed[5]["seq"], 0);
}

// ---- circolog-ctl ----

fn ctl(d: &Daemon, args: &[&str]) -> String {
    let out = Command::new(CTL)
        .arg("--socket")
        .arg(&d.ctl)
        .args(args)
        .output()
        .expect("run circolog-ctl");
    assert!(
        out.status.success(),
        "circolog-ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn ctl_json(d: &Daemon, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ctl(d, &all)).expect("JSON")
}

#[test]
fn ctl_pause_resume_toggle() {
    let d = daemon().start();
    assert!(ctl(&d, &["pause"]).starts_with("paused"));
    assert_eq!(d.status()["paused"], true);
    assert!(ctl(&d, &["status"]).contains("PAUSED"));
    assert_eq!(ctl_json(&d, &["status"])["paused"], true);
    assert!(ctl(&d, &["resume"]).starts_with("collecting"));
    assert_eq!(d.status()["paused"], false);
    assert_eq!(ctl_json(&d, &["toggle"])["paused"], true);
    assert_eq!(ctl_json(&d, &["toggle"])["paused"], false);
    // Go-style flag, and --json before the command.
    let out = Command::new(CTL)
        .arg("-socket")
        .arg(&d.ctl)
        .args(["-json", "pause"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["paused"], true);
}

#[test]
fn ctl_clear_status_and_metrics() {
    let d = daemon().start();
    for i in 0..3 {
        d.send_unix(&msg("a", i));
    }
    d.wait_stored(3);
    let status = ctl(&d, &["status"]);
    assert!(status.contains("3 of 100000 messages"), "{status}");
    assert!(status.contains("seq:      0 to 2"), "{status}");
    assert!(status.contains("received: 3 ("), "{status}");
    let cleared = ctl(&d, &["clear"]);
    assert!(cleared.starts_with("cleared"), "{cleared}");
    assert_eq!(d.status()["used"]["messages"], 0);
    assert_eq!(tail_lines(&d, &["-n", "-1"]), Vec::<String>::new());
    let json = ctl_json(&d, &["clear"]);
    assert_eq!(json["used"]["messages"], 0);
    let metrics = ctl(&d, &["metrics"]);
    assert!(
        metrics.contains("circolog_received_messages_total"),
        "{metrics}"
    );
}

/// `circolog-ctl status` for a person: every part the daemon reports, and
/// the last hour's volume when its query socket has `/histogram`.
#[test]
fn ctl_status_is_a_summary_at_a_glance() {
    let d = daemon()
        .args(&["-trigger", "sev=crit", "-rate-limit", "1000/10s"])
        .start();
    for i in 0..3 {
        d.send_unix(&msg("a", i));
    }
    d.wait_stored(3);
    ctl(&d, &["pause", "--for", "10m"]);
    let status = ctl(&d, &["status"]);
    let first = status.lines().next().unwrap_or_default();
    assert!(first.contains("PAUSED"), "{status}");
    assert!(first.contains("; resumes by itself at "), "{status}");
    assert!(
        first.ends_with(", in 9m 59s") || first.ends_with(", in 10m 00s"),
        "{status}"
    );
    for line in [
        "\nbuffer:   3 of 100000 messages",
        "\nlimited:  0 suppressed by the rate limit, 1 senders tracked\n",
        "\nsnapshots: 0 of 8 kept (0 B of 16.0 MiB), 0 taken, 0 evicted, 0 deleted\n",
        "\ntriggers: sev=crit (snapshot), 0 fired, 0 held off",
    ] {
        assert!(status.contains(line), "no {line:?} in:\n{status}");
    }
    // No exporter, no line for it.
    assert!(!status.contains("\nexport:"), "{status}");
    let histogram = d.curl(
        &d.query,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url("/histogram?from=1h&buckets=60"),
        ],
    );
    let volume = status.lines().find(|l| l.starts_with("last 1h:  |"));
    if histogram.stdout == b"200" {
        let line = volume.unwrap_or_else(|| panic!("no volume line:\n{status}"));
        assert!(line.contains("| 3 messages"), "{line}");
    } else {
        assert_eq!(volume, None, "{status}");
    }
}

#[test]
fn ctl_without_a_daemon_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("ctl.sock");
    let out = Command::new(CTL)
        .arg("--socket")
        .arg(&missing)
        .arg("status")
        .output()
        .expect("run");
    let err = one_line_error(&out);
    let start = format!(
        "circolog-ctl: cannot connect to {}: No such file or directory (",
        missing.display()
    );
    assert!(err.starts_with(&start), "{err}");
    // A usage error is exit 2 as well.
    let out = Command::new(CTL).arg("explode").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

// ---- stops, cuts and control bytes ----

fn wait_followers(d: &Daemon, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.status()["clients"]["followers"] != n {
        assert!(
            Instant::now() < deadline,
            "followers never {n}: {}",
            d.status()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Ctrl-Z then `fg` (SIGSTOP, SIGCONT): the stopped follower's read is
/// interrupted, which is not a lost connection; what came meanwhile is
/// printed when it goes on, and nothing is said about a connection.
#[test]
fn a_stopped_and_continued_follower_loses_nothing_and_says_nothing() {
    let d = daemon().start();
    for (i, fmt) in ["short", "syslog", "raw", "json"].into_iter().enumerate() {
        let app = format!("stop{i}");
        let mut f = Follower::spawn(&mut tail_cmd(
            &d.query,
            &["-f", "-n", "0", "--fmt", fmt, "--app", &app],
        ));
        wait_followers(&d, 1);
        d.send_unix(&msg(&app, 0));
        assert!(f.line().contains("message 0"), "{fmt}");
        signal(f.child.id(), "-STOP");
        d.send_unix(&msg(&app, 1));
        std::thread::sleep(Duration::from_millis(300));
        signal(f.child.id(), "-CONT");
        assert!(f.line().contains("message 1"), "{fmt}");
        d.send_unix(&msg(&app, 2));
        assert!(f.line().contains("message 2"), "{fmt}");
        f.assert_quiet(Duration::from_millis(200));
        let said: Vec<String> = f.err.try_iter().collect();
        assert!(said.is_empty(), "{fmt}: {said:?}");
        drop(f);
        wait_followers(&d, 0);
    }
}

/// A unix socket that relays to the daemon's query socket, and can cut
/// every connection through it and refuse new ones, as a network would.
struct Proxy {
    path: PathBuf,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl Proxy {
    fn start(dir: &Path, upstream: &Path) -> Proxy {
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::sync::atomic::Ordering;
        let path = dir.join("proxy.sock");
        let listener = UnixListener::bind(&path).expect("bind proxy");
        let proxy = Proxy {
            path,
            down: Default::default(),
            conns: Default::default(),
        };
        let (down, conns, upstream) = (
            proxy.down.clone(),
            proxy.conns.clone(),
            upstream.to_path_buf(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                if down.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = UnixStream::connect(&upstream) else {
                    continue;
                };
                let mut kept = conns.lock().expect("lock");
                for s in [&client, &server] {
                    kept.push(s.try_clone().expect("clone"));
                }
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        proxy
    }

    fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.conns.lock().expect("lock").drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A connection lost while the daemon goes on (same epoch): `syslog` and
/// `raw` resume exactly after the last line printed, as `json` does.
#[test]
fn syslog_and_raw_follows_resume_exactly_after_a_lost_connection() {
    let d = daemon().start();
    let proxy = Proxy::start(d.dir.path(), &d.query);
    for fmt in ["syslog", "raw"] {
        let app = format!("cut-{fmt}");
        let mut f = Follower::spawn(&mut tail_cmd(
            &proxy.path,
            &["-f", "-n", "0", "--fmt", fmt, "--app", &app],
        ));
        wait_followers(&d, 1);
        let mut got = Vec::new();
        d.send_unix(&msg(&app, 1));
        got.push(f.line());
        proxy.cut();
        assert!(f.err_line().contains("lost connection"), "{fmt}");
        for i in 2..=4 {
            d.send_unix(&msg(&app, i));
        }
        wait_followers(&d, 0);
        proxy.restore();
        for _ in 2..=4 {
            got.push(f.line());
        }
        assert!(f.err_line().contains("reconnected"), "{fmt}");
        d.send_unix(&msg(&app, 5));
        got.push(f.line());
        f.assert_quiet(Duration::from_millis(300));
        let want: Vec<String> = match fmt {
            "raw" => (1..=5)
                .map(|i| String::from_utf8(msg(&app, i)).expect("utf-8"))
                .collect(),
            _ => d
                .get(&format!("/?fmt=syslog&app={app}"))
                .lines()
                .map(str::to_string)
                .collect(),
        };
        assert_eq!(got, want, "{fmt}");
        drop(f);
        wait_followers(&d, 0);
    }
}

/// `fmt=syslog`, from the daemon and from circolog-tail, holds no control
/// byte: a tab is `\x09`, and neither CSI (U+009B) nor the lone byte 0x9b
/// reaches the terminal.
#[test]
fn syslog_lines_hold_no_control_bytes() {
    let d = daemon().start();
    let sent = b"<14>1 - h ctlbytes - - - tab\there csi\xc2\x9b2J lone\x9b2J bell\x07 end";
    d.send_unix(sent);
    d.wait_stored(1);
    let check = |what: &str, line: &[u8]| {
        let text = String::from_utf8_lossy(line);
        assert!(
            !line.iter().any(|&b| b < 0x20 || b == 0x7f || b == 0x9b),
            "{what}: {text:?}"
        );
        assert!(
            text.contains("tab\\x09here csi\\xc2\\x9b2J"),
            "{what}: {text:?}"
        );
        assert!(text.contains("bell\\x07 end"), "{what}: {text:?}");
    };
    let out = d.curl(&d.query, &["http://localhost/?fmt=syslog"]);
    check(
        "the daemon's fmt=syslog",
        out.stdout.strip_suffix(b"\n").expect("a line"),
    );
    let out = tail(&d, &["--fmt", "syslog"]);
    check(
        "circolog-tail --fmt syslog",
        out.stdout.strip_suffix(b"\n").expect("a line"),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("lone\\x9b2J"));
    let mut child = tail_cmd(&d.query, &["-f", "--fmt", "syslog"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = Vec::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_until(b'\n', &mut line)
        .expect("a line");
    let _ = child.kill();
    let _ = child.wait();
    check(
        "circolog-tail -f --fmt syslog",
        line.strip_suffix(b"\n").expect("a line"),
    );
}

/// The README's websocket client: Debian's `wsdump` (python3-websocket)
/// follows `/ws` over TCP, the backlog then live messages.
#[test]
fn wsdump_follows_over_tcp() {
    let d = daemon().query_net().start();
    d.send_unix(&msg("ws", 0));
    d.wait_stored(1);
    let url = format!("ws://{}/ws?fmt=json&app=ws", d.query_addr.expect("addr"));
    let mut child = Command::new("wsdump")
        .args(["-r", "--eof-wait", "5", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wsdump is missing: run `bash .ci/deps` (python3-websocket)");
    let out = lines_of(child.stdout.take().expect("stdout"));
    let first = out
        .recv_timeout(Duration::from_secs(20))
        .expect("the backlog");
    let v: serde_json::Value = serde_json::from_str(&first).expect("json");
    assert_eq!(v["message"], "message 0");
    d.send_unix(&msg("ws", 1));
    let live = out
        .recv_timeout(Duration::from_secs(20))
        .expect("a live message");
    let v: serde_json::Value = serde_json::from_str(&live).expect("json");
    assert_eq!(v["message"], "message 1");
    let _ = child.kill();
    let _ = child.wait();
}

// ---- the query language's flags, and gaps ----

/// Every filter of the query language has its flag, passed through as the
/// daemon's parameter: lists that repeat, `!`, `--re`, `--not`, the times,
/// `--after-seq`, and journalctl's `-p` and `-o`.
#[test]
fn tail_takes_every_filter_of_the_query_language() {
    let d = daemon().start();
    d.send_unix(b"<131>1 - h1 sshd - - - alpha one"); // local0.err, seq 0
    d.send_unix(b"<14>1 - h2 cron - - - beta two"); // user.info
    d.send_unix(b"<15>1 - h1 nginx - - - gamma three"); // user.debug
    d.send_unix(b"<38>1 - h3 atd - - - delta four"); // auth.info, seq 3
    d.wait_stored(4);
    assert_eq!(
        messages(&d, &["--app", "sshd,nginx"]),
        ["alpha one", "gamma three"]
    );
    assert_eq!(
        messages(&d, &["--app", "sshd", "--app", "nginx,atd"]),
        ["alpha one", "gamma three", "delta four"]
    );
    assert_eq!(
        messages(&d, &["--app", "!cron", "--app", "!atd"]),
        ["alpha one", "gamma three"]
    );
    assert_eq!(
        messages(&d, &["--host", "h1", "--host", "h3"]),
        ["alpha one", "gamma three", "delta four"]
    );
    assert_eq!(messages(&d, &["--host", "!h1"]), ["beta two", "delta four"]);
    assert_eq!(
        messages(&d, &["--fac", "!user", "--fac", "!auth"]),
        ["alpha one"]
    );
    assert_eq!(
        messages(&d, &["--re", "^(beta|delta) "]),
        ["beta two", "delta four"]
    );
    assert_eq!(messages(&d, &["--re", "(?i)ALPHA"]), ["alpha one"]);
    assert_eq!(
        messages(&d, &["--not", "two"]),
        ["alpha one", "gamma three", "delta four"]
    );
    assert_eq!(messages(&d, &["-p", "err"]), ["alpha one"]);
    assert_eq!(messages(&d, &["-p", "!info"]), ["gamma three"]);
    assert_eq!(
        messages(&d, &["--after-seq", "1"]),
        ["gamma three", "delta four"]
    );
    assert_eq!(
        messages(&d, &["-after-seq", "2", "-not", "x", "-re", "four"]),
        ["delta four"]
    );
    // `-o` is `--fmt`.
    assert_eq!(
        tail_lines(&d, &["-o", "raw", "-n", "1"]),
        ["<38>1 - h3 atd - - - delta four"]
    );
    // Times: an age, and RFC 3339 taken from what the daemon says.
    assert_eq!(messages(&d, &["--since", "1h"]).len(), 4);
    assert!(messages(&d, &["--until", "1h"]).is_empty());
    std::thread::sleep(Duration::from_millis(20));
    d.send_unix(b"<14>1 - h4 late - - - epsilon");
    d.wait_stored(5);
    let late = d.json("app=late");
    let received = late[0]["received"].as_str().expect("received");
    assert_eq!(messages(&d, &["--since", received]), ["epsilon"]);
    assert_eq!(
        messages(&d, &["--until", received, "--since", "1d"]).len(),
        4
    );
    // Bad values: the daemon's one-line reason, or ours (times are read
    // here, and the error names the flag as typed).
    for (bad, flag) in [
        (&["--since", "10 parsecs"][..], "--since"),
        (&["-U", "2026-12-01T05:00:00 CET"], "-U"),
    ] {
        let err = one_line_error(&tail(&d, bad));
        assert!(
            err.starts_with(&format!("circolog-tail: {flag}: bad time ")),
            "{bad:?}: {err}"
        );
    }
    for bad in [&["--re", "(unclosed"][..], &["--fac", "user,nosuch"]] {
        let err = one_line_error(&tail(&d, bad));
        assert!(
            err.starts_with("circolog-tail: circologd refused the query: "),
            "{bad:?}: {err}"
        );
    }
    let err = one_line_error(&tail(&d, &["--app", "sshd", "--app", "!cron"]));
    assert!(err.starts_with("circolog-tail: --app: "), "{err}");
    // A seq that is not one: the usage error, exit 2.
    let bad = &["--after-seq", "last"][..];
    let out = tail(&d, bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
    assert!(
        err.lines()
            .next()
            .is_some_and(|l| l.contains("--after-seq")),
        "{err}"
    );
}

/// `--after-seq` past what the ring still holds: how many are lost comes
/// first, on standard error, or on standard output as a json notice.
#[test]
fn a_dump_after_an_evicted_seq_says_how_many_are_lost() {
    let d = daemon().args(&["-buffer-size", "10"]).start();
    for i in 0..30 {
        d.send_unix(&msg("a", i));
    }
    d.wait_stored(30);
    let out = tail(&d, &["--after-seq", "4", "--fmt", "raw"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "circolog-tail: skipped 15 messages that circologd overwrote before they were read\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10);
    let out = tail(&d, &["--after-seq", "4", "--fmt", "json"]);
    assert!(out.status.success() && out.stderr.is_empty());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 11);
    assert_eq!(lines[0]["skipped"], 15, "{:?}", lines[0]);
    assert_eq!(lines[1]["message"], "message 20");
    // Nothing lost: nothing said.
    assert_eq!(messages(&d, &["--after-seq", "25"]), numbered(26..30));
}

/// The count a skipped notice on standard error tells, if it is one.
fn skipped_count(line: &str) -> Option<u64> {
    line.strip_prefix("circolog-tail: skipped ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// Sends `n` messages `bulk I` from `app` through one socket.
fn send_bulk(d: &Daemon, app: &str, n: u32) {
    let s = UnixDatagram::unbound().expect("socket");
    for i in 0..n {
        let m = format!("<14>1 - host {app} - - - bulk {i}");
        s.send_to(m.as_bytes(), &d.syslog).expect("send");
    }
}

/// A follower stopped (Ctrl-Z) while 30 000 messages go through a 100-slot
/// ring loses most of them: when it goes on it says how many, and what it
/// prints and what it says it lost add up to what was sent.
#[test]
fn a_stopped_follower_overtaken_by_the_ring_says_how_many_it_lost() {
    const BULK: u32 = 30_000;
    let d = daemon().args(&["-buffer-size", "100"]).start();
    let mut sent = 0;
    for fmt in ["short", "syslog", "raw", "json"] {
        let app = format!("gap-{fmt}");
        let mut f = Follower::spawn(&mut tail_cmd(
            &d.query,
            &["-f", "-n", "0", "--fmt", fmt, "--app", &app],
        ));
        wait_followers(&d, 1);
        d.send_unix(&msg(&app, 0));
        sent += 1;
        assert!(f.line().contains("message 0"), "{fmt}");
        signal(f.child.id(), "-STOP");
        send_bulk(&d, &app, BULK);
        d.send_unix(&msg(&app, 1));
        sent += BULK + 1;
        d.wait_stored(u64::from(sent));
        signal(f.child.id(), "-CONT");
        let (mut printed, mut lost) = (0u64, 0u64);
        loop {
            let line = f.line();
            if line.contains("message 1") {
                break;
            }
            if fmt == "json" {
                let v: serde_json::Value = serde_json::from_str(&line).expect("json");
                if let Some(n) = v["skipped"].as_u64() {
                    lost += n;
                    continue;
                }
            }
            assert!(line.contains("bulk "), "{fmt}: {line}");
            printed += 1;
        }
        // Standard error is its own pipe: what was said before the last
        // line may still be on its way.
        std::thread::sleep(Duration::from_millis(200));
        let said: Vec<String> = f.err.try_iter().collect();
        if fmt == "json" {
            assert!(said.is_empty(), "{said:?}");
        } else {
            assert!(!said.is_empty(), "{fmt}: nothing said about a gap");
            for line in &said {
                lost += skipped_count(line).unwrap_or_else(|| panic!("{fmt}: {line}"));
            }
        }
        assert!(lost > 0, "{fmt}: printed {printed}, nothing lost");
        assert_eq!(printed + lost, u64::from(BULK), "{fmt}: {printed} + {lost}");
        drop(f);
        wait_followers(&d, 0);
    }
}

/// A follower whose connection comes back after the ring has overwritten
/// what it had not printed says so when it resumes.
#[test]
fn a_resume_that_finds_messages_evicted_says_how_many() {
    const BULK: u32 = 3_000;
    let d = daemon().args(&["-buffer-size", "100"]).start();
    let proxy = Proxy::start(d.dir.path(), &d.query);
    for fmt in ["short", "raw", "json"] {
        let app = format!("back-{fmt}");
        let mut f = Follower::spawn(&mut tail_cmd(
            &proxy.path,
            &["-f", "-n", "0", "--fmt", fmt, "--app", &app],
        ));
        wait_followers(&d, 1);
        d.send_unix(&msg(&app, 0));
        assert!(f.line().contains("message 0"), "{fmt}");
        proxy.cut();
        assert!(f.err_line().contains("lost connection"), "{fmt}");
        wait_followers(&d, 0);
        send_bulk(&d, &app, BULK);
        d.send_unix(&msg(&app, 1));
        std::thread::sleep(Duration::from_millis(100));
        proxy.restore();
        let mut printed = 0u64;
        let mut lost = 0u64;
        loop {
            let line = f.line();
            if line.contains("message 1") {
                break;
            }
            if let Some(n) = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v["skipped"].as_u64())
            {
                assert_eq!(fmt, "json", "{line}");
                lost += n;
                continue;
            }
            assert!(line.contains("bulk "), "{fmt}: {line}");
            printed += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
        for line in f.err.try_iter() {
            if let Some(n) = skipped_count(&line) {
                assert_ne!(fmt, "json", "{line}");
                lost += n;
            } else {
                assert!(line.contains("reconnected"), "{fmt}: {line}");
            }
        }
        // The ring holds the last 99 bulk messages and `message 1`.
        assert_eq!((printed, lost), (99, u64::from(BULK) - 99), "{fmt}");
        drop(f);
        wait_followers(&d, 0);
    }
}

// ---- several sources ----

/// Without -f, the last N of several daemons, merged by receive time and
/// labelled with their source.
#[test]
fn tail_merges_the_last_messages_of_several_daemons() {
    let a = daemon().start();
    let b = daemon().query_net().start();
    let b_addr = b.query_addr.expect("addr").to_string();
    // Alternately, each stored before the next is sent: their receive
    // times are in this order.
    for i in 0..6 {
        let d = if i % 2 == 0 { &a } else { &b };
        d.send_unix(format!("<14>1 - host{} app - - - m{i}", i % 2).as_bytes());
        d.wait_stored(i / 2 + 1);
        std::thread::sleep(Duration::from_millis(2));
    }
    let a_src = format!("a={}", a.query.display());
    let b_src = format!("b={b_addr}");
    let run = |args: &[&str]| {
        let out = Command::new(TAIL)
            .args(["--source", &a_src, "--source", &b_src])
            .args(args)
            .env("TZ", "UTC")
            .output()
            .expect("run circolog-tail");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success() && err.is_empty(), "{args:?}: {err}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let json: Vec<serde_json::Value> = run(&["-n", "4", "-o", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let got: Vec<(&str, &str)> = json
        .iter()
        .map(|v| {
            (
                v["source"].as_str().expect("source"),
                v["message"].as_str().expect("message"),
            )
        })
        .collect();
    assert_eq!(got, [("a", "m2"), ("b", "m3"), ("a", "m4"), ("b", "m5")]);
    // The rest of the line is the daemon's.
    assert_eq!(json[0]["app_name"], "app");
    let short = run(&["-n", "3", "--app", "app"]);
    let short: Vec<&str> = short.lines().collect();
    assert_eq!(short.len(), 3, "{short:?}");
    for (line, (src, host, text)) in short.iter().zip([
        ("b", "host1", "m3"),
        ("a", "host0", "m4"),
        ("b", "host1", "m5"),
    ]) {
        assert!(line.starts_with(&format!("[{src}] ")), "{line}");
        let pid = std::process::id();
        assert!(
            line.ends_with(&format!(" {host} app[{pid}]: {text}")),
            "{line}"
        );
    }
    // Filters go to every daemon; -n -1 is all of them, in order.
    assert_eq!(
        run(&["-n", "-1", "--grep", "m1", "-o", "syslog"])
            .lines()
            .count(),
        1
    );
    let all = run(&["-n", "-1", "-o", "json"]);
    let texts: Vec<String> = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["message"].to_string())
        .collect();
    assert_eq!(
        texts,
        (0..6).map(|i| format!("\"m{i}\"")).collect::<Vec<_>>()
    );
    // Repeated --socket: labelled with the path.
    let out = Command::new(TAIL)
        .args(["--socket"])
        .arg(&a.query)
        .args(["--addr", &b_addr, "-n", "2", "-o", "json"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let sources: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["source"].to_string())
        .collect();
    assert_eq!(
        sources,
        [
            format!("{:?}", a.query.display().to_string()),
            format!("{b_addr:?}")
        ]
    );
}

/// A daemon of several that is not there: said once, with its name; the
/// others are printed, and the exit status says it.
#[test]
fn a_source_that_is_down_is_said_and_the_others_printed() {
    let a = daemon().start();
    a.send_unix(b"<14>1 - h app - - - here");
    a.wait_stored(1);
    let gone = a.dir.path().join("nobody.sock");
    let out = Command::new(TAIL)
        .arg("--source")
        .arg(format!("a={}", a.query.display()))
        .arg("--source")
        .arg(format!("gone={}", gone.display()))
        .args(["-o", "json"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("circolog-tail: [gone] "), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one json line");
    assert_eq!((&v["source"], &v["message"]), (&"a".into(), &"here".into()));
    // What several sources cannot do, said in one line.
    let two = |args: &[&str]| {
        let mut c = Command::new(TAIL);
        c.arg("--socket").arg(&a.query).arg("--socket").arg(&gone);
        one_line_error(&c.args(args).output().expect("run"))
    };
    assert!(two(&["-o", "raw"]).contains("--fmt raw takes one source"));
    for bad in ["61s", "soon", "-5ms"] {
        let out = Command::new(TAIL)
            .arg(format!("--merge-window={bad}"))
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--merge-window"));
    }
    assert!(two(&["--after-seq", "3"]).contains("--after-seq"));
    let same = one_line_error(
        &Command::new(TAIL)
            .arg("--socket")
            .arg(&a.query)
            .arg("--source")
            .arg(format!("{}=/x/y", a.query.display()))
            .output()
            .expect("run"),
    );
    assert!(same.contains("two sources named"), "{same}");
    let bad = Command::new(TAIL)
        .args(["--source", "noequals"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NAME=SOCKET"));
}

/// `-f` over two daemons: merged in receive order and labelled; one that is
/// not up yet is said once and picked up when it comes; one that goes away
/// does not stop the other, and is resumed, without duplicates, when back.
#[test]
fn follow_merges_several_daemons_and_outlives_one() {
    let a = daemon().start();
    let dir = tempfile::tempdir().expect("tempdir");
    let b_query = dir.path().join("query.sock");
    let mut f = Follower::spawn(
        Command::new(TAIL)
            .arg("--source")
            .arg(format!("a={}", a.query.display()))
            .arg("--source")
            .arg(format!("b={}", b_query.display()))
            .args(["-f", "-n", "0", "-o", "json", "--merge-window", "100ms"]),
    );
    let said = f.err_line();
    assert!(
        said.starts_with("circolog-tail: [b] waiting for circologd")
            && said.contains(&b_query.display().to_string()),
        "{said}"
    );
    wait_followers(&a, 1);
    let next = |f: &mut Follower| {
        let v: serde_json::Value = serde_json::from_str(&f.line()).expect("json");
        format!(
            "{}:{}",
            v["source"].as_str().expect("source"),
            v["message"].as_str().expect("message")
        )
    };
    a.send_unix(b"<14>1 - h app - - - a1");
    assert_eq!(next(&mut f), "a:a1");
    let b = Restartable::start(dir.path());
    assert!(f.err_line().contains("connected to"));
    let mut stored_a = 1;
    for i in 2..=3 {
        a.send_unix(format!("<14>1 - h app - - - a{i}").as_bytes());
        stored_a += 1;
        a.wait_stored(stored_a);
        send(dir.path(), &format!("<14>1 - h app - - - b{i}"));
        std::thread::sleep(Duration::from_millis(30));
    }
    let got: Vec<String> = (0..4).map(|_| next(&mut f)).collect();
    assert_eq!(got, ["a:a2", "b:b2", "a:a3", "b:b3"]);
    b.stop();
    let said = f.err_line();
    assert!(
        said.starts_with("circolog-tail: [b] lost connection"),
        "{said}"
    );
    a.send_unix(b"<14>1 - h app - - - a4");
    assert_eq!(next(&mut f), "a:a4");
    let _b = Restartable::start(dir.path());
    assert!(f.err_line().contains("reconnected"));
    send(dir.path(), "<14>1 - h app - - - b4");
    assert_eq!(next(&mut f), "b:b4");
    f.assert_quiet(Duration::from_millis(400));
}

/// The backlogs of two daemons arrive at once, one after the other: the
/// merge window puts their lines in receive order.
#[test]
fn follow_puts_lines_that_arrive_together_in_receive_order() {
    let a = daemon().start();
    let b = daemon().start();
    for i in 0..4u64 {
        let d = if i % 2 == 0 { &a } else { &b };
        d.send_unix(format!("<14>1 - h{} app - - - m{i}", i % 2).as_bytes());
        d.wait_stored(i / 2 + 1);
        std::thread::sleep(Duration::from_millis(2));
    }
    for fmt in ["json", "short"] {
        let mut f = Follower::spawn(
            Command::new(TAIL)
                .arg("--source")
                .arg(format!("a={}", a.query.display()))
                .arg("--source")
                .arg(format!("b={}", b.query.display()))
                .args(["-f", "-n", "2", "-o", fmt, "--merge-window", "1s"])
                .env("TZ", "UTC"),
        );
        let got: Vec<String> = (0..4).map(|_| f.line()).collect();
        for (i, line) in got.iter().enumerate() {
            let (src, host) = if i % 2 == 0 { ("a", "h0") } else { ("b", "h1") };
            if fmt == "json" {
                let v: serde_json::Value = serde_json::from_str(line).expect("json");
                assert_eq!(v["source"], src, "{got:?}");
                assert_eq!(v["message"], format!("m{i}"), "{got:?}");
            } else {
                assert!(line.starts_with(&format!("[{src}] ")), "{got:?}");
                let pid = std::process::id();
                assert!(
                    line.ends_with(&format!(" {host} app[{pid}]: m{i}")),
                    "{got:?}"
                );
            }
        }
        f.assert_quiet(Duration::from_millis(300));
    }
}

/// `-f --after-seq SEQ`: the messages after SEQ, then live ones.
#[test]
fn follow_after_a_seq() {
    let d = daemon().start();
    for i in 0..4 {
        d.send_unix(&msg("a", i));
    }
    d.wait_stored(4);
    let mut f = Follower::spawn(&mut tail_cmd(
        &d.query,
        &["-f", "--after-seq", "1", "-o", "json"],
    ));
    let mut next = || {
        let v: serde_json::Value = serde_json::from_str(&f.line()).expect("json");
        v["message"].as_str().expect("message").to_string()
    };
    assert_eq!([next(), next()], ["message 2", "message 3"]);
    d.send_unix(&msg("a", 4));
    assert_eq!(next(), "message 4");
}

/// Three daemons, without and with -f: every line once, in receive order,
/// each labelled with its source.
#[test]
fn three_daemons_are_merged_in_receive_order() {
    let ds = [daemon().start(), daemon().start(), daemon().start()];
    let names = ["a", "b", "c"];
    let sources: Vec<String> = ds
        .iter()
        .zip(names)
        .map(|(d, n)| format!("{n}={}", d.query.display()))
        .collect();
    let with_sources = |cmd: &mut Command| {
        for s in &sources {
            cmd.arg("--source").arg(s);
        }
    };
    // Stored one after the other: their receive times are in this order.
    for i in 0..9 {
        let d = &ds[i % 3];
        d.send_unix(format!("<14>1 - h app - - - m{i}").as_bytes());
        d.wait_stored(i as u64 / 3 + 1);
        std::thread::sleep(Duration::from_millis(2));
    }
    let label = |v: &serde_json::Value| {
        format!(
            "{}:{}",
            v["source"].as_str().expect("source"),
            v["message"].as_str().expect("message")
        )
    };
    let mut cmd = Command::new(TAIL);
    with_sources(&mut cmd);
    let out = cmd.args(["-n", "-1", "-o", "json"]).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| label(&serde_json::from_str(l).expect("json")))
        .collect();
    let want: Vec<String> = (0..9).map(|i| format!("{}:m{i}", names[i % 3])).collect();
    assert_eq!(got, want);

    // Following the three: new messages, merged, once each.
    let mut cmd = Command::new(TAIL);
    with_sources(&mut cmd);
    let mut f =
        Follower::spawn(cmd.args(["-f", "-n", "0", "-o", "json", "--merge-window", "100ms"]));
    for d in &ds {
        wait_followers(d, 1);
    }
    for i in 9..18 {
        let d = &ds[i % 3];
        d.send_unix(format!("<14>1 - h app - - - m{i}").as_bytes());
        d.wait_stored(i as u64 / 3 + 1);
        std::thread::sleep(Duration::from_millis(5));
    }
    let got: Vec<String> = (9..18)
        .map(|_| label(&serde_json::from_str(&f.line()).expect("json")))
        .collect();
    let want: Vec<String> = (9..18).map(|i| format!("{}:m{i}", names[i % 3])).collect();
    assert_eq!(got, want);
    f.assert_quiet(Duration::from_millis(400));
}
