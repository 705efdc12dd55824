//! Issue 13, privacy and resource hardening: each defect attacked from
//! outside the way it was found, over real sockets. SPEC "Storage" (every
//! copy of a message), "Signals" (`SIGHUP`) and the end of "Errors, always".

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tungstenite::Message;

use crate::util::{DAEMON, Daemon, daemon, raw_http, url, wait_exit};

/// A token no process holds by chance: a message carrying it is a marker.
pub(crate) fn token(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("zq{what}{:x}x{nanos:x}k", std::process::id())
}

/// Waits until `cond` holds, for at most `limit`.
pub(crate) fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// Reads until the peer closes (EOF or reset) or `limit` passes; returns
/// what came and whether it closed.
fn read_until_closed<S: Read>(s: &mut S, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (out, true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    (out, false)
}

/// `curl -s -m 10 -w '\n%{http_code}' ARGS`: the body and the status code.
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-m", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.to_string(), code.to_string())
}

/// `GET /status` on the control socket within 10 s, or the reason it failed.
fn status_within(d: &Daemon) -> Result<serde_json::Value, String> {
    let out = d.curl(&d.ctl, &["-f", "-m", "10", &url("/status")]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Runs circologd expecting a start-up error; returns its stderr.
fn refused(wrap: &[&str], args: &[&str]) -> String {
    let mut cmd = match wrap.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(DAEMON);
            c
        }
        None => Command::new(DAEMON),
    };
    let mut child = cmd
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start circologd");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    assert_eq!(status.code(), Some(1), "{args:?}: {status}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

// ---------------------------------------------------------------------------
// 1. DNS rebinding.

#[test]
fn a_page_on_a_rebinding_domain_cannot_read_the_logs() {
    let d = daemon().query_net().start();
    let addr = d.query_addr.expect("query address");
    let secret = token("rebind");
    d.send_unix(format!("<13>1 - host app - - - {secret}").as_bytes());
    d.wait_stored(1);
    let target = format!("http://{addr}/?fmt=raw");

    // What the page's fetch sends once evil.example resolves to 127.0.0.1.
    let evil = format!("Host: evil.example:{}", addr.port());
    let (body, code) = curl(&["-H", &evil, &target]);
    assert_eq!(code, "403", "{body}");
    assert!(!body.contains(&secret), "{body}");
    let origin = format!("Origin: http://evil.example:{}", addr.port());
    for path in ["/ui", "/ws", "/?fmt=json"] {
        let (body, code) = curl(&["-H", &evil, "-H", &origin, &format!("http://{addr}{path}")]);
        assert_eq!(code, "403", "{path}: {body}");
        assert!(!body.contains(&secret), "{path}: {body}");
    }
    // The upgrade itself is refused, not only a plain GET.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /ws HTTP/1.1\r\n{evil}\r\n{origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("write");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("an answer");
    assert_eq!(&head, b"HTTP/1.1 403");

    // Loopback names, with or without the port, are served.
    for host in [
        format!("Host: 127.0.0.1:{}", addr.port()),
        format!("Host: localhost:{}", addr.port()),
        "Host: localhost".to_string(),
        "Host: 127.0.0.1".to_string(),
    ] {
        let (body, code) = curl(&["-H", &host, &target]);
        assert_eq!(code, "200", "{host}");
        assert!(body.contains(&secret), "{host}: {body}");
    }
}

// ---------------------------------------------------------------------------
// 5. A body that never comes, a reply nobody reads.

#[test]
fn a_body_that_never_comes_is_closed_after_the_head_timeout() {
    let d = daemon()
        .args(&["-head-timeout", "1s", "-max-clients", "2"])
        .start();
    // As many stalled bodies as there are client slots.
    let mut stalled: Vec<UnixStream> = (0..2)
        .map(|_| {
            let mut s = UnixStream::connect(&d.query).expect("connect");
            s.write_all(b"GET /?l=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 65536\r\n\r\n")
                .expect("write");
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            s
        })
        .collect();
    for s in &mut stalled {
        let (_, closed) = read_until_closed(s, Duration::from_secs(15));
        assert!(closed, "a client whose body never came is still connected");
    }
    // The slots are free again: a reader is served, not told 503.
    let out = raw_http(
        &d.query,
        b"GET /?l=0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_reply_nobody_reads_is_closed_after_the_write_timeout() {
    let err = refused(
        &[],
        &["-write-timeout", "0s", "-query-socket", "/nonexistent/q"],
    );
    assert!(err.contains("-write-timeout"), "{err}");

    let d = daemon()
        .args(&["-write-timeout", "2s", "-max-clients", "2"])
        .start();
    // A dump far larger than what the sockets buffer.
    let line = "x".repeat(1000);
    let n = 4000;
    for i in 0..n {
        d.send_unix(format!("<13>1 - host app - - - {i} {line}").as_bytes());
    }
    d.wait_stored(n);
    let mut idle: Vec<UnixStream> = (0..2)
        .map(|_| {
            let mut s = UnixStream::connect(&d.query).expect("connect");
            s.write_all(b"GET /?fmt=raw HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .expect("write");
            s
        })
        .collect();
    // Every slot is held by a client that reads nothing; once the write
    // timeout has passed, a new reader is served.
    let served = wait_until(Duration::from_secs(20), || {
        raw_http(
            &d.query,
            b"GET /?l=0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .starts_with(b"HTTP/1.1 200")
    });
    assert!(served, "clients that read nothing still hold every slot");
    // What the non-readers get is cut short, then the end of the stream.
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let (got, closed) = read_until_closed(s, Duration::from_secs(15));
        assert!(closed, "a non-reader is still connected");
        assert!(got.len() < n as usize * line.len(), "the whole dump came");
        assert!(!got.ends_with(b"0\r\n\r\n"), "the whole dump came");
    }
}

// ---------------------------------------------------------------------------
// 6. SIGHUP.

#[test]
fn sighup_is_ignored_and_logged() {
    let mut d = daemon().start();
    d.send_unix(b"<13>1 - host app - - - kept across a hangup");
    d.wait_stored(1);
    d.signal(1);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        d.child.try_wait().expect("try_wait").is_none(),
        "SIGHUP stopped the daemon"
    );
    assert!(d.get("/?fmt=raw").contains("kept across a hangup"));
    assert!(d.syslog.exists() && d.query.exists() && d.ctl.exists());
    let logged = wait_until(Duration::from_secs(5), || {
        d.stderr_text().to_ascii_uppercase().contains("HUP")
    });
    assert!(logged, "SIGHUP was not logged: {:?}", d.stderr_text());
    assert!(d.stop().success());
}

// ---------------------------------------------------------------------------
// 7. Tables larger than memory.

#[test]
fn a_buffer_size_larger_than_memory_is_one_clear_line() {
    let err = refused(
        &[],
        &[
            "-buffer-size",
            "1000000000000",
            "-query-socket",
            "/nonexistent/q",
        ],
    );
    assert!(err.contains("-buffer-size 1000000000000"), "{err}");
    assert!(err.contains("larger than"), "{err}");
    assert!(!err.contains("memory allocation"), "{err}");
    // Receive buffers are sized by a flag too.
    let err = refused(
        &[],
        &[
            "-max-message-size",
            "1G",
            "-buffer-bytes",
            "2G",
            "-query-socket",
            "/nonexistent/q",
        ],
    );
    assert!(err.contains("-max-message-size 1G"), "{err}");
}

// ---------------------------------------------------------------------------
// 8. Overflow.

#[test]
fn a_seq_or_count_that_overflows_is_400() {
    let d = daemon().start();
    d.send_unix(b"<13>1 - host app - - - must not come back");
    d.wait_stored(1);
    for q in [
        "/?since=18446744073709551615",
        "/?fmt=raw&since=18446744073709551615",
        "/?l=18446744073709551616",
    ] {
        let out = d.curl(&d.query, &["-m", "10", "-w", "\n%{http_code}", &url(q)]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.ends_with("\n400"), "{q}: {text}");
        assert!(!text.contains("must not come back"), "{q}: {text}");
    }
    // The daemon is still there.
    assert_eq!(status_within(&d).expect("status")["last_seq"], 0);
}

// ---------------------------------------------------------------------------
// 9. Websocket version.

#[test]
fn an_upgrade_without_version_13_is_426() {
    let d = daemon().start();
    let upgrade = |version: &str| {
        let mut s = UnixStream::connect(&d.query).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{version}\r\n"
        )
        .expect("write");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).expect("read") == 1 {
            head.push(b[0]);
        }
        String::from_utf8_lossy(&head).into_owned()
    };
    for version in ["Sec-WebSocket-Version: 8\r\n", ""] {
        let head = upgrade(version);
        assert!(head.starts_with("HTTP/1.1 426"), "{version:?}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-version: 13\r\n"),
            "{head}"
        );
    }
    let head = upgrade("Sec-WebSocket-Version: 13\r\n");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
}

// ---------------------------------------------------------------------------
// 10. Unusable limits.

#[test]
fn limits_that_make_the_daemon_unusable_are_refused_at_start_up() {
    for (flag, value) in [
        ("-max-clients", "0"),
        ("-max-head-bytes", "0"),
        ("-max-head-bytes", "100"),
        ("-head-timeout", "0s"),
        ("-idle-timeout", "0ms"),
        ("-max-ws-frame", "0"),
    ] {
        let err = refused(&[], &[flag, value, "-query-socket", "/nonexistent/q"]);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}

// ---------------------------------------------------------------------------
// 4. Descriptors.

/// The soft and hard "Max open files" of a process.
fn open_files_limit(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut f = line["Max open files".len()..].split_whitespace();
    (
        f.next().expect("soft").to_string(),
        f.next().expect("hard").to_string(),
    )
}

/// Lets this test process hold `n` more sockets.
fn allow_open_files(n: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current.is_some_and(|c| c < n) {
        l.current = l.maximum.map(|m| m.min(n.max(4096))).or(Some(n));
        setrlimit(Resource::Nofile, l).expect("raise this test's RLIMIT_NOFILE");
    }
}

#[test]
fn a_thousand_tcp_senders_do_not_lock_the_owner_out() {
    // As systemd starts services: a soft limit of 1024 under a high hard
    // one (524288 there; here this process's own, which it cannot raise
    // without CAP_SYS_RESOURCE).
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(524_288);
    assert!(
        hard >= 4096,
        "the hard RLIMIT_NOFILE ({hard}) is too low for this test"
    );
    let nofile = format!("--nofile=1024:{hard}");
    let d = daemon().wrap(&["prlimit", &nofile]).net().start();
    assert_eq!(
        open_files_limit(d.child.id()),
        (hard.to_string(), hard.to_string()),
        "the soft limit was not raised"
    );
    allow_open_files(2000);
    let addr = d.addr.expect("syslog address");
    let mut senders = Vec::new();
    for _ in 0..1100 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            senders.push(s);
        }
    }
    assert!(senders.len() >= 1024, "only {} connected", senders.len());
    senders[0]
        .write_all(b"<13>1 - host app - - - from the first sender\n")
        .expect("send");
    d.send_unix(b"<13>1 - host app - - - over the unix socket");
    // The owner is still answered, and messages are still stored.
    let s = status_within(&d).expect("/status while 1100 senders are connected");
    assert_eq!(s["paused"], false);
    d.wait_stored(2);
    let raw = d.get("/?fmt=raw");
    assert!(raw.contains("from the first sender"), "{raw}");
    assert!(raw.contains("over the unix socket"), "{raw}");
    drop(senders);
}

#[test]
fn past_max_senders_new_tcp_senders_are_closed_at_once() {
    let d = daemon().net().args(&["-max-senders", "10"]).start();
    let addr = d.addr.expect("syslog address");
    let mut senders: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    for (i, s) in senders.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let _ = writeln!(s, "<13>1 - host app - - - sender {i}");
    }
    let mut closed = 0;
    for s in &mut senders {
        let (_, c) = read_until_closed(s, Duration::from_secs(2));
        closed += usize::from(c);
    }
    assert_eq!(closed, 10, "past -max-senders 10, the others are closed");
    let s = status_within(&d).expect("status");
    assert_eq!(s["clients"]["tcp_senders"], 10, "{s}");
    d.wait_stored(10);
}

/// A start-up that fails after its sockets were made (here the export
/// endpoint's name does not resolve, which is found once the listeners
/// exist) removes every socket file it made: a supervisor's next try, or
/// the user's, must not find stale files.
#[test]
fn a_start_that_fails_after_its_sockets_exist_removes_their_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<String> = ["q.sock", "c.sock", "s.sock"]
        .iter()
        .map(|f| dir.path().join(f).to_str().expect("path").to_owned())
        .collect();
    let err = refused(
        &[],
        &[
            "-query-socket",
            &paths[0],
            "-ctl-socket",
            &paths[1],
            "-syslogd-socket",
            &paths[2],
            "-export-otlp",
            "http://circolog-test.invalid:4318",
        ],
    );
    assert!(
        err.contains("cannot resolve the -export-otlp host"),
        "{err}"
    );
    for p in &paths {
        assert!(!Path::new(p).exists(), "{p} left behind");
    }
}

#[test]
fn client_limits_that_do_not_fit_the_descriptor_limit_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = dir.path().join("q.sock");
    let c = dir.path().join("c.sock");
    let (q, c) = (q.to_str().expect("path"), c.to_str().expect("path"));
    let err = refused(
        &["prlimit", "--nofile=512:512"],
        &[
            "-syslog-addr",
            "127.0.0.1:0",
            "-query-socket",
            q,
            "-ctl-socket",
            c,
        ],
    );
    assert!(err.contains("-max-clients"), "{err}");
    assert!(err.contains("RLIMIT_NOFILE"), "{err}");
    assert!(!Path::new(q).exists(), "socket file left behind");
    // Limits that fit start.
    let d = daemon()
        .wrap(&["prlimit", "--nofile=512:512"])
        .args(&["-max-clients", "100"])
        .start();
    assert!(status_within(&d).is_ok());
}

// ---------------------------------------------------------------------------
// 2. No copy of a message survives a clear, an age eviction, or a dump.

/// Where a root scan of the daemon's readable memory found `needle`.
pub(crate) fn scan_memory(pid: u32, needle: &[u8]) -> (Vec<String>, u64) {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open /proc/PID/mem");
    let mut hits = Vec::new();
    let mut scanned = 0u64;
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK + needle.len()];
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        let mut at = start;
        let mut found = 0;
        while at < end {
            // Overlapping reads, so that a marker across two is seen.
            let len = ((end - at) as usize).min(buf.len());
            match mem.read_at(&mut buf[..len], at) {
                Ok(n) if n > 0 => {
                    scanned += n as u64;
                    found += memchr::memmem::find_iter(&buf[..n], needle).count();
                    if n < needle.len() || at + n as u64 >= end {
                        break;
                    }
                    at += (n - needle.len() + 1) as u64;
                }
                // Unreadable (a file mapping past its end): the next page.
                _ => at += 4096,
            }
        }
        if found > 0 {
            hits.push(format!("{found} in {line}"));
        }
    }
    (hits, scanned)
}

pub(crate) fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test reads another process's memory: run the tests as root (CI does)"
    );
}

/// Copies of every kind: markers sent over unix datagram, UDP and both TCP
/// framings; dumped with curl in every format; followed over /ws.
fn spread_markers(d: &Daemon, secret: &str) {
    let n = 40;
    let mut tcp = d.tcp();
    for i in 0..n {
        d.send_unix(format!("<13>1 - host app - - - {secret} unix {i}").as_bytes());
        d.send_udp(format!("<13>1 - host app - - - {secret} udp {i}").as_bytes());
        let octets = format!("<13>1 - host app - - - {secret} octet {i}");
        write!(tcp, "{} {octets}", octets.len()).expect("tcp");
        writeln!(tcp, "<13>1 - host app - - - {secret} line {i}").expect("tcp");
    }
    d.wait_stored(4 * n);
    let addr = d.query_addr.expect("query address");
    // Followers, over TCP and the unix socket, reading the whole backlog
    // and a live message.
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (mut ws, _) =
        tungstenite::client::client(format!("ws://{addr}/ws?fmt=json"), stream).expect("websocket");
    let stream = UnixStream::connect(&d.query).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (mut ws_unix, _) =
        tungstenite::client::client("ws://localhost/ws?fmt=syslog&grep=unix", stream)
            .expect("websocket");
    for fmt in ["raw", "json", "syslog"] {
        let body = d.get(&format!("/?fmt={fmt}"));
        assert!(body.contains(secret), "{fmt}");
        // The filter names no marker: a request is not a message.
        let (body, code) = curl(&[&format!("http://{addr}/?fmt={fmt}&grep=octet&l=5")]);
        assert_eq!(code, "200");
        assert!(body.contains(secret), "{fmt}");
    }
    d.send_unix(format!("<13>1 - host app - - - {secret} unix live").as_bytes());
    let mut seen = 0;
    while seen <= 4 * n {
        match ws.read().expect("a frame") {
            Message::Text(t) => {
                assert!(t.as_str().contains(secret));
                seen += 1;
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let mut seen = 0;
    while seen <= n {
        if let Message::Text(_) = ws_unix.read().expect("a frame") {
            seen += 1;
        }
    }
    let _ = ws.close(None);
    let _ = ws_unix.close(None);
    let _ = ws.flush();
    let _ = ws_unix.flush();
}

/// Waits until only the control client asking is connected.
fn wait_clients_gone(d: &Daemon) {
    let gone = wait_until(Duration::from_secs(10), || {
        status_within(d).is_ok_and(|s| {
            let c = &s["clients"];
            c["query"] == 0 && c["followers"] == 0 && c["tcp_senders"] == 0
        })
    });
    assert!(gone, "clients still connected: {:?}", status_within(d));
}

/// The scan finds nothing of `secret`, and does find a message still stored
/// (so that an unreadable memory cannot pass for a clean one).
pub(crate) fn assert_no_copy_left(d: &Daemon, secret: &str) {
    let pid = d.child.id();
    let (hits, scanned) = scan_memory(pid, secret.as_bytes());
    assert!(scanned > 1 << 20, "only {scanned} bytes could be read");
    assert!(
        hits.is_empty(),
        "copies of a gone message remain in {} mappings:\n{}",
        hits.len(),
        hits.join("\n")
    );
    let kept = token("kept");
    d.send_unix(format!("<13>1 - host app - - - {kept}").as_bytes());
    assert!(
        wait_until(Duration::from_secs(10), || !scan_memory(
            pid,
            kept.as_bytes()
        )
        .0
        .is_empty()),
        "the scan does not see a stored message"
    );
}

#[test]
fn after_clear_no_byte_of_a_message_remains_in_memory() {
    require_root();
    // Plain memory: the scan must be able to read the ring to find nothing.
    let d = daemon()
        .net()
        .query_net()
        .args(&["-memory", "plain"])
        .start();
    let secret = token("clear");
    spread_markers(&d, &secret);
    let cleared = d.ctl("POST", "/logs/clear");
    assert_eq!(cleared["used"]["messages"], 0, "{cleared}");
    wait_clients_gone(&d);
    assert_no_copy_left(&d, &secret);
}

#[test]
fn after_max_age_no_byte_of_an_evicted_message_remains_in_memory() {
    require_root();
    let d = daemon()
        .net()
        .query_net()
        .args(&["-max-age", "5s", "-memory", "plain"])
        .start();
    let secret = token("aged");
    spread_markers(&d, &secret);
    wait_clients_gone(&d);
    // Checked at least once a second: gone within max-age and a bit.
    let evicted = wait_until(Duration::from_secs(15), || {
        status_within(&d).is_ok_and(|s| s["used"]["messages"] == 0)
    });
    assert!(evicted, "not evicted: {:?}", status_within(&d));
    assert!(!d.get("/?fmt=raw").contains(&secret));
    assert_no_copy_left(&d, &secret);
}

#[test]
fn the_daemon_is_not_dumpable() {
    require_root();
    // Run as nobody: a non-dumpable process's /proc files belong to root,
    // so that not even its own user can read its memory or dump it.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let sock = |n: &str| dir.path().join(n).to_str().expect("path").to_string();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", DAEMON])
        .args([
            "-syslogd-socket",
            &sock("s.sock"),
            "-query-socket",
            &sock("q.sock"),
        ])
        .args(["-ctl-socket", &sock("c.sock"), "-tz", "UTC"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start circologd as nobody");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut started = false;
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut out, &mut line).unwrap_or(0) > 0 {
        if line.contains("listening: control") {
            started = true;
            break;
        }
        line.clear();
    }
    let pid = child.id();
    let as_nobody = |file: &str| -> Output {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(format!("/proc/{pid}/{file}"))
            .output()
            .expect("setpriv cat")
    };
    let checks = (|| {
        if !started {
            return Err("circologd did not start as nobody".to_string());
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        if !status.lines().any(|l| l.starts_with("Uid:\t65534")) {
            return Err(format!("not running as nobody: {status}"));
        }
        let owner = std::fs::metadata(format!("/proc/{pid}/mem"))
            .expect("mem")
            .uid();
        if owner != 0 {
            return Err(format!("/proc/{pid}/mem belongs to uid {owner}: dumpable"));
        }
        let environ = as_nobody("environ");
        if environ.status.success() {
            return Err("its own user can read its /proc/PID/environ".into());
        }
        Ok(())
    })();
    let _ = Command::new("kill").arg(pid.to_string()).status();
    wait_exit(&mut child, Duration::from_secs(10));
    if let Err(e) = checks {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        panic!("{e}; stderr: {err}");
    }
}
