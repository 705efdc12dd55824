//! systemd: the shipped units as `systemd-analyze` reads them, and
//! circologd's `sd_notify` messages on a `NOTIFY_SOCKET` of the test's own.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{DAEMON, wait_exit};

const UNITS: [&str; 5] = [
    "circologd.service",
    "circologd-journal.service",
    "circologd.socket",
    "circologd-query.socket",
    "circologd-ctl.socket",
];

/// The units of `dist/systemd/` in `dir`, starting this build's daemon, and
/// its manual page where `man` (and so `Documentation=man:`) finds it.
fn units_in(dir: &Path) {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/systemd");
    for unit in UNITS {
        let text = std::fs::read_to_string(dist.join(unit)).expect("a shipped unit");
        std::fs::write(dir.join(unit), text.replace("/usr/bin/circologd", DAEMON)).expect("write");
    }
    let man8 = dir.join("man/man8");
    std::fs::create_dir_all(&man8).expect("mkdir");
    let page = Command::new(DAEMON)
        .args(["--generate", "man"])
        .output()
        .expect("run");
    std::fs::write(man8.join("circologd.8"), page.stdout).expect("write");
}

/// The major version of the installed systemd.
fn systemd_version() -> Option<u32> {
    let out = Command::new("systemctl").arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn the_shipped_units_keep_the_ring_across_restarts() {
    for (name, service) in [
        (
            "circologd.service",
            include_str!("../dist/systemd/circologd.service"),
        ),
        (
            "circologd-journal.service",
            include_str!("../dist/systemd/circologd-journal.service"),
        ),
    ] {
        for line in [
            "Restart=on-failure",
            "FileDescriptorStoreMax=4",
            "FileDescriptorStorePreserve=restart",
        ] {
            assert!(service.lines().any(|l| l == line), "{name}: {line}");
        }
    }
}

/// The `[Service]` settings of a unit, one per line as written.
fn service_settings(unit: &str) -> Vec<&str> {
    unit.lines()
        .skip_while(|l| *l != "[Service]")
        .take_while(|l| !l.starts_with("[Install]"))
        .filter(|l| l.contains('=') && !l.starts_with('#'))
        .collect()
}

/// The journald hosts' unit is circologd.service in another place: every
/// setting of the one is the other's, but for what reading the kernel's
/// log and taking syslog.socket need.
#[test]
fn the_journald_hosts_unit_is_hardened_and_keeps_the_ring_as_the_other() {
    let plain = service_settings(include_str!("../dist/systemd/circologd.service"));
    let journal = service_settings(include_str!("../dist/systemd/circologd-journal.service"));
    let differ = [
        "Sockets=",
        "ExecStart=",
        "PrivateDevices=",
        "ProtectKernelLogs=",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
    ];
    for line in &plain {
        if differ.iter().any(|key| line.starts_with(key)) {
            continue;
        }
        assert!(
            journal.contains(line),
            "circologd-journal.service lacks {line}"
        );
    }
    for line in &journal {
        let key = line.split_inclusive('=').next().unwrap_or(line);
        assert!(
            plain.contains(line) || differ.contains(&key) || *line == "DeviceAllow=/dev/kmsg r",
            "circologd-journal.service adds {line}"
        );
    }
}

#[test]
fn the_shipped_units_verify_and_are_hardened() {
    let dir = tempfile::tempdir().expect("dir");
    units_in(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(UNITS.map(|u| dir.path().join(u)))
        .env("MANPATH", dir.path().join("man"))
        .current_dir(dir.path())
        .output()
        .expect("systemd-analyze is missing: run `bash .ci/deps` (systemd)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // Unknown keys and bad values are only warnings: none, but for the one
    // key the service sets for systemd 254 and later.
    let old_systemd = systemd_version().is_some_and(|v| v < 254);
    let said: Vec<&str> = said
        .lines()
        .filter(|l| !(old_systemd && l.contains("Unknown key 'FileDescriptorStorePreserve'")))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(said.is_empty(), "{said:?}");

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(dir.path().join("circologd.service"))
        .output()
        .expect("run systemd-analyze");
    let report = String::from_utf8_lossy(&out.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for circologd.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {report}"));
    // systemd rates up to 2.0 "OK"; a typical unhardened service is 9.6.
    assert!(level <= 2.0, "exposure {level}:\n{report}");
    for setting in [
        "✓ PrivateTmp=",
        "✓ ProtectHome=",
        "✓ NoNewPrivileges=",
        "✓ MemoryDenyWriteExecute=",
        "✓ SystemCallFilter=~@privileged",
        "✓ RestrictAddressFamilies=~AF_PACKET",
    ] {
        assert!(report.contains(setting), "{setting}:\n{report}");
    }
    // io_uring is what the daemon runs on: the filter must let it through.
    let service = std::fs::read_to_string(dir.path().join("circologd.service")).expect("read");
    let filter = service
        .lines()
        .find(|l| l.starts_with("SystemCallFilter=@system-service"))
        .expect("an allow list");
    for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(filter.contains(call), "{filter}");
    }
}

/// A daemon with `NOTIFY_SOCKET` set to `name`, and the socket the test
/// listens on there; stopped with SIGTERM.
fn notified(notify: &UnixDatagram, name: &str, extra: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(DAEMON)
        .arg("-syslogd-socket")
        .arg(dir.path().join("s.sock"))
        .arg("-query-socket")
        .arg(dir.path().join("q.sock"))
        .arg("-ctl-socket")
        .arg(dir.path().join("c.sock"))
        .env("NOTIFY_SOCKET", name)
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The states; the memory file handed to the store at start is
    // tests/restart.rs's business.
    let mut read = |got: &mut Vec<String>| loop {
        let n = notify.recv(&mut buf).expect("a notification");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("FDSTORE=1") {
            got.push(text);
            return;
        }
    };
    read(&mut got);
    // It serves once it said so.
    assert!(dir.path().join("c.sock").exists());
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    read(&mut got);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    got
}

#[test]
fn readiness_and_stopping_reach_the_notify_socket() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&path).expect("bind");
    let got = notified(&notify, path.to_str().expect("path"), &[]);
    assert!(got[0].lines().any(|l| l == "READY=1"), "{got:?}");
    assert!(got[1].lines().any(|l| l == "STOPPING=1"), "{got:?}");

    // systemd's own socket is abstract: `@name`.
    use std::os::linux::net::SocketAddrExt;
    let name = format!("circolog-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
    let notify = UnixDatagram::bind_addr(&addr).expect("bind");
    let got = notified(&notify, &format!("@{name}"), &[]);
    assert!(got[0].lines().any(|l| l == "READY=1"), "{got:?}");
    assert!(got[1].lines().any(|l| l == "STOPPING=1"), "{got:?}");
}

/// `WatchdogSec=`: WATCHDOG=1 at half of WATCHDOG_USEC, from the event
/// loop. The loop does not send it yet.
#[test]
fn the_watchdog_is_petted_at_half_its_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&path).expect("bind");
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut child = Command::new(DAEMON)
        .arg("-syslogd-socket")
        .arg(dir.path().join("s.sock"))
        .arg("-query-socket")
        .arg(dir.path().join("q.sock"))
        .arg("-ctl-socket")
        .arg(dir.path().join("c.sock"))
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let mut buf = [0u8; 4096];
    let mut pets = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while pets < 3 && Instant::now() < deadline {
        let n = notify.recv(&mut buf).expect("a notification");
        if String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "WATCHDOG=1")
        {
            pets += 1;
        }
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(pets, 3);
}

/// circologd started by the real `systemd-socket-activate` with `args`
/// (its listening sockets), then `daemon` (circologd's own flags). The
/// child is killed with SIGTERM when the guard goes.
struct Activated(std::process::Child);

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = wait_exit(&mut self.0, Duration::from_secs(10));
    }
}

fn activated(args: &[&str], daemon: &[&str]) -> Activated {
    let child = Command::new("systemd-socket-activate")
        .args(args)
        .arg(DAEMON)
        .args(["-tz", "UTC"])
        .args(daemon)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package)");
    Activated(child)
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn curl(socket: &Path, path: &str) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code}",
            "--unix-socket",
        ])
        .arg(socket)
        .arg(format!("http://localhost{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.to_string(), code.to_string())
}

/// The JSON dump of the query socket once it holds `n` messages.
fn stored(q: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (body, _) = curl(q, "/?fmt=json");
        let ms: Vec<serde_json::Value> = body
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if ms.len() >= n || Instant::now() > deadline {
            return ms;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn inherited_stream_sockets_are_used_by_their_names() {
    let dir = tempfile::tempdir().expect("dir");
    let (q, c) = (dir.path().join("q.sock"), dir.path().join("c.sock"));
    let (qs, cs) = (q.to_str().expect("path"), c.to_str().expect("path"));
    // The control socket first: a name, not the order, says which is which.
    let _d = activated(&["-l", cs, "-l", qs, "--fdname=ctl:query"], &[]);
    wait_for(&c);
    let (body, code) = curl(&c, "/status");
    assert_eq!(code, "200", "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    assert_eq!(status["paused"], false);
    let (_, code) = curl(&q, "/");
    assert_eq!(code, "200");
    // And not the other way round.
    let (_, code) = curl(&q, "/status");
    assert_eq!(code, "404");
    let (_, code) = curl(&c, "/");
    assert_eq!(code, "404");
}

#[test]
fn an_inherited_unix_datagram_input_gets_kernel_credentials() {
    let dir = tempfile::tempdir().expect("dir");
    let (s, q) = (dir.path().join("s.sock"), dir.path().join("q.sock"));
    let ss = s.to_str().expect("path");
    let _d = activated(
        &["--datagram", "-l", ss, "--fdname=syslog"],
        &["-query-socket", q.to_str().expect("path")],
    );
    wait_for(&s);
    let tx = UnixDatagram::unbound().expect("socket");
    // This one wakes the daemon: it was queued before anyone asked for
    // credentials, so it has none (rather than zeros).
    tx.send_to(b"<13>1 - h app - - - first", &s).expect("send");
    wait_for(&q);
    tx.send_to(b"<13>1 - h app - - - second", &s).expect("send");
    let ms = stored(&q, 2);
    assert_eq!(ms.len(), 2, "{ms:?}");
    assert_eq!(ms[0]["message"], "first");
    assert!(ms[0].get("cred_pid").is_none(), "{:?}", ms[0]);
    assert_eq!(ms[1]["message"], "second");
    assert_eq!(ms[1]["cred_pid"], std::process::id(), "{:?}", ms[1]);
    assert_eq!(ms[1]["transport"], "unix");
}

#[test]
fn an_inherited_udp_socket_is_a_udp_input_without_credentials() {
    let dir = tempfile::tempdir().expect("dir");
    let q = dir.path().join("q.sock");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _d = activated(
        &["--datagram", "-l", &addr],
        &["-query-socket", q.to_str().expect("path")],
    );
    std::thread::sleep(Duration::from_millis(300));
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    tx.send_to(b"<13>1 - h app - - - over udp", &addr)
        .expect("send");
    wait_for(&q);
    let ms = stored(&q, 1);
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(ms[0]["transport"], "udp", "{:?}", ms[0]);
    assert!(ms[0].get("cred_pid").is_none(), "{:?}", ms[0]);
}
