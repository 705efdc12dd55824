//! SPEC "Errors, always": limits and timeouts on clients, and who may use
//! the query and control sockets.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use crate::util::{daemon, raw_http, url};

/// Reads until the daemon closes the connection (a bounded wait: the test
/// fails if it has not closed within `limit`). Returns what it sent.
fn read_until_closed(s: &mut UnixStream, limit: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("the daemon did not close the connection: {e}"),
        }
    }
}

#[test]
fn an_oversized_request_head_is_431() {
    let d = daemon().start();
    let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 20 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    let out = raw_http(&d.query, &req, Duration::from_secs(10));
    assert!(
        out.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // The limit is a flag.
    let d = daemon().args(&["-max-head-bytes", "64K"]).start();
    let out = raw_http(&d.query, &req, Duration::from_secs(10));
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_silent_client_is_closed_after_the_head_timeout() {
    let d = daemon()
        .args(&["-head-timeout", "500ms", "-idle-timeout", "500ms"])
        .start();
    let mut s = UnixStream::connect(&d.query).expect("connect");
    let out = read_until_closed(&mut s, Duration::from_secs(20));
    assert!(out.is_empty());
}

#[test]
fn a_trickling_client_is_closed_after_the_head_timeout() {
    let d = daemon().args(&["-head-timeout", "1s"]).start();
    let mut s = UnixStream::connect(&d.query).expect("connect");
    let mut closed = false;
    // One byte every 100 ms, never finishing the head: at most 20 s of it.
    for b in b"GET / HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain(std::iter::repeat_n(&b'a', 190))
    {
        if s.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !closed {
        read_until_closed(&mut s, Duration::from_secs(5));
    }
    // Meanwhile the daemon served others.
    assert_eq!(d.status()["paused"], false);
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let d = daemon().args(&["-idle-timeout", "1s"]).start();
    let mut s = UnixStream::connect(&d.query).expect("connect");
    s.write_all(b"GET /?l=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let out = read_until_closed(&mut s, Duration::from_secs(20));
    assert!(out.starts_with(b"HTTP/1.1 200"));
}

#[test]
fn past_the_client_limit_new_clients_get_503_and_ingestion_goes_on() {
    let d = daemon().args(&["-max-clients", "2"]).start();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = UnixStream::connect(&d.query).expect("connect");
        // A complete request keeps each one counted while it idles.
        s.write_all(b"GET /?l=0 HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut b = [0u8; 12];
        s.read_exact(&mut b).expect("answer");
        held.push(s);
    }
    let out = raw_http(&d.query, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(10));
    assert!(
        out.starts_with(b"HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // Syslog input and the control socket are unaffected.
    d.send_unix(b"<13>1 - - app - - - still stored");
    d.wait_stored(1);
    drop(held);
    // Once they are gone, a new client is served again.
    let mut ok = false;
    for _ in 0..100 {
        let out = raw_http(
            &d.query,
            b"GET /?fmt=raw HTTP/1.0\r\n\r\n",
            Duration::from_secs(10),
        );
        if out.starts_with(b"HTTP/1.1 200") {
            assert!(String::from_utf8_lossy(&out).contains("still stored"));
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ok, "clients were not released");
}

/// Runs curl as `nobody` (uid 65534), optionally with a supplementary group.
fn curl_as_nobody(socket: &std::path::Path, group: Option<u32>) -> String {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534"]);
    match group {
        Some(g) => cmd.arg(format!("--groups={g}")),
        None => cmd.arg("--clear-groups"),
    };
    let out = cmd
        .args([
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--unix-socket",
        ])
        .arg(socket)
        .arg(url("/status"))
        .output()
        .expect("setpriv curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sockets_are_private_and_peer_credentials_decide_whatever_the_mode() {
    if !rustix::process::geteuid().is_root() {
        panic!("this test switches users: run the tests as root (CI does)");
    }
    // Default: 0600, nobody cannot even connect.
    let d = daemon().start();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.ctl).expect("ctl").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mode = std::fs::metadata(&d.query).expect("q").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(d);

    // A world-writable mode does not let strangers in: SO_PEERCRED does.
    let d = daemon().args(&["-socket-mode", "0666"]).start();
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(curl_as_nobody(&d.ctl, None), "403");
    drop(d);

    // Members of -socket-group are let in (here via a supplementary group).
    let d = daemon()
        .args(&["-socket-group", "4242", "-socket-mode", "0666"])
        .start();
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(curl_as_nobody(&d.ctl, Some(4242)), "200");
    assert_eq!(curl_as_nobody(&d.ctl, None), "403");
    let meta = std::fs::metadata(&d.ctl).expect("ctl");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.gid(), 4242);
}
