//! Where the ring lives (`-memory`): secret memory that not even root reads
//! through /proc, its fallback and its errors for an unprivileged user.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::hardening::{require_root, scan_memory, token};
use crate::util::{DAEMON, daemon, wait_exit};

/// 8 MiB of RLIMIT_MEMLOCK, as an unprivileged user: the default ring
/// (64M) does not fit in it.
const AS_NOBODY_8M: [&str; 6] = [
    "prlimit",
    "--memlock=8388608:8388608",
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// Stores markers over unix datagram and UDP and takes a snapshot of them,
/// with no client connected afterwards, and returns what a root scan of the
/// daemon's memory finds.
fn stored_and_scanned(memory: &str) -> (serde_json::Value, Vec<String>, u64) {
    let d = daemon().net().args(&["-memory", memory]).start();
    let secret = token(memory);
    for i in 0..40 {
        d.send_unix(format!("<13>1 - host app - - - {secret} unix {i}").as_bytes());
        d.send_udp(format!("<13>1 - host app - - - {secret} udp {i}").as_bytes());
    }
    d.wait_stored(80);
    // A snapshot copies them into the same file.
    d.ctl("POST", "/snapshot");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while d.ctl("GET", "/snapshots")["snapshots"][0]["complete"] != true {
        assert!(std::time::Instant::now() < deadline, "no snapshot");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = d.status();
    let (hits, scanned) = scan_memory(d.child.id(), secret.as_bytes());
    (status, hits, scanned)
}

#[test]
fn with_secret_memory_a_root_scan_finds_no_stored_message() {
    require_root();
    let (status, hits, scanned) = stored_and_scanned("secret");
    assert_eq!(status["memory"], "secret", "{status}");
    assert_eq!(status["used"]["messages"], 80, "{status}");
    assert!(scanned > 1 << 20, "only {scanned} bytes could be read");
    assert!(
        hits.is_empty(),
        "stored messages readable through /proc/PID/mem:\n{}",
        hits.join("\n")
    );
    // The same scan finds them in plain memory: it would see a leak.
    let (status, hits, _) = stored_and_scanned("plain");
    assert_eq!(status["memory"], "plain", "{status}");
    assert!(!hits.is_empty(), "the scan does not see plain memory");
}

#[test]
fn auto_says_which_memory_it_took_and_why() {
    let d = daemon().start();
    let memory = d.status()["memory"].clone();
    // Whatever this kernel allows, a kind /status names.
    assert!(
        ["secret", "plain"].contains(&memory.as_str().unwrap_or("")),
        "{memory}"
    );
}

/// Runs circologd as nobody with 8 MiB of RLIMIT_MEMLOCK and `args`, until
/// it fails to start; its exit status and stderr.
fn refused_as_nobody(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let sock = |n: &str| dir.path().join(n).to_str().expect("path").to_string();
    let out = Command::new(AS_NOBODY_8M[0])
        .args(&AS_NOBODY_8M[1..])
        .arg(DAEMON)
        .args(["-syslogd-socket", &sock("s"), "-ctl-socket", &sock("c")])
        .args(args)
        .output()
        .expect("run circologd as nobody");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn as_an_unprivileged_user_secret_or_locked_that_cannot_be_had_is_an_error_naming_the_limit() {
    require_root();
    for args in [
        &["-memory", "secret"][..],
        &["-memory", "locked"],
        &["-lock-memory"],
    ] {
        let (ok, err) = refused_as_nobody(args);
        assert!(!ok, "{args:?} started");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("RLIMIT_MEMLOCK"), "{args:?}: {err}");
        assert!(err.contains("8M"), "{args:?}: {err}");
    }
}

#[test]
fn as_an_unprivileged_user_auto_falls_back_to_plain_and_says_why() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let sock = |n: &str| dir.path().join(n).to_str().expect("path").to_string();
    let mut child = Command::new(AS_NOBODY_8M[0])
        .args(&AS_NOBODY_8M[1..])
        .arg(DAEMON)
        .args(["-syslogd-socket", &sock("s"), "-ctl-socket", &sock("c")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start circologd as nobody");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let lines: Vec<String> = out
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.contains("listening: control"))
        .collect();
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    wait_exit(&mut child, Duration::from_secs(10));
    let said: Vec<&String> = lines.iter().filter(|l| l.contains("memory:")).collect();
    assert_eq!(said.len(), 1, "{lines:?}");
    assert!(said[0].contains("memory: plain"), "{said:?}");
    assert!(said[0].contains("RLIMIT_MEMLOCK, 8M"), "{said:?}");

    // A ring that fits the limit is secret, for nobody too.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let d = daemon()
        .wrap(&AS_NOBODY_8M)
        .at(dir.path())
        .args(&[
            "-memory",
            "secret",
            "-buffer-bytes",
            "1M",
            "-snapshot-bytes",
            "1M",
        ])
        .start();
    assert_eq!(d.status()["memory"], "secret");
    d.send_unix(b"<13>1 - host app - - - kept in secret memory");
    d.wait_stored(1);
}
