//! The peers circologd is compared with, each started by the benchmark on
//! its own unix datagram socket in a temporary directory, never on the
//! host's `/dev/log`:
//!
//! - busybox `syslogd -C`: its in-memory circular buffer (shared memory).
//!   Its socket path is fixed to `/dev/log`, which it follows if it is a
//!   symlink, so it runs in private mount and IPC namespaces where `/dev`
//!   holds only a `log` symlink to the temporary socket. It cannot be asked
//!   how many messages it stored: its figure is the sender's own time
//!   (blocking sends wait for it to read).
//! - rsyslog, `imuxsock` on the temporary socket, writing to a file on
//!   tmpfs (`/dev/shm`); stored = lines in that file.
//! - syslog-ng, `unix-dgram()` with and without `pass-unix-credentials()`,
//!   writing to a file on tmpfs; stored = lines in that file.
//!
//! `benches/install-peers.sh` unpacks them under `CIRCOLOG_PEERS` (default
//! `/opt/circolog-peers`); otherwise they are looked for on `PATH`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, Guard, Sink};

pub struct Peer {
    pub name: String,
    guard: Guard,
    pub socket: PathBuf,
    out: Option<LineCounter>,
    _dir: tempfile::TempDir,
    _shm: Option<tempfile::TempDir>,
}

/// Counts the lines of a file that another process appends to.
struct LineCounter {
    file: File,
    lines: u64,
    buf: Vec<u8>,
}

impl LineCounter {
    fn count(&mut self) -> std::io::Result<u64> {
        loop {
            let n = self.file.read(&mut self.buf)?;
            if n == 0 {
                return Ok(self.lines);
            }
            self.lines += memchr::memchr_iter(b'\n', &self.buf[..n]).count() as u64;
        }
    }
}

impl Sink for Peer {
    fn label(&self) -> String {
        self.name.clone()
    }
    fn count(&mut self) -> Result<Option<u64>, String> {
        if !self.guard.running() {
            return Err(format!("{} died ({})", self.name, self.guard.exit_note()));
        }
        match &mut self.out {
            Some(c) => c.count().map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
    fn cpu(&self) -> Option<f64> {
        harness::cpu_secs(&self.guard.pid().to_string())
    }
    fn rss_kib(&self) -> Option<u64> {
        harness::rss_kib(self.guard.pid())
    }
}

fn prefix() -> PathBuf {
    std::env::var_os("CIRCOLOG_PEERS")
        .map_or_else(|| PathBuf::from("/opt/circolog-peers"), PathBuf::from)
}

/// The unpacked binary under the prefix, else `name` on PATH.
fn find(unpacked: &str, name: &str) -> Option<PathBuf> {
    let p = prefix().join(unpacked);
    if p.is_file() {
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

const NOT_INSTALLED: &str = "not installed (run benches/install-peers.sh)";

fn shm_dir() -> Result<tempfile::TempDir, String> {
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    tempfile::Builder::new()
        .prefix("circolog-bench.")
        .tempdir_in(base)
        .map_err(|e| e.to_string())
}

fn log_file(dir: &Path) -> Result<Stdio, String> {
    File::create(dir.join("peer.log"))
        .map(Stdio::from)
        .map_err(|e| e.to_string())
}

/// Waits for the peer's socket; on failure says why, with its log.
fn wait_socket(guard: &mut Guard, socket: &Path, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::fs::metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
            return Ok(());
        }
        if !guard.running() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.join("peer.log")).unwrap_or_default();
    let log: String = log.lines().take(3).collect::<Vec<_>>().join(" / ");
    Err(format!("did not start ({}): {log}", guard.exit_note()))
}

/// Sends one message and waits until it shows in the output file: the
/// whole path, socket to file, works.
fn probe(peer: &mut Peer) -> Result<(), String> {
    let before = peer.count()?.unwrap_or(0);
    let s = std::os::unix::net::UnixDatagram::unbound().map_err(|e| e.to_string())?;
    s.send_to(b"<13>1 - - probe - - - probe", &peer.socket)
        .map_err(|e| format!("probe: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if peer.count()?.unwrap_or(before + 1) > before {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("stores nothing (probe message never written)".into())
}

pub fn busybox() -> Result<Peer, String> {
    let bin = find("busybox/bin/busybox", "busybox").ok_or(NOT_INSTALLED)?;
    let dir = harness::tempdir()?;
    let socket = dir.path().join("busybox.sock");
    let dev = dir.path().join("dev");
    let run = dir.path().join("run");
    for d in [&dev, &run] {
        std::fs::create_dir(d).map_err(|e| e.to_string())?;
    }
    std::os::unix::fs::symlink(&socket, dev.join("log")).map_err(|e| e.to_string())?;
    // In its own mount namespace /dev is the directory above (so /dev/log
    // leads to the temporary socket) and /run takes its pid file; in its
    // own IPC namespace its shared-memory buffer is its own.
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--ipc", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /dev && mount --bind "$2" /run && exec "$3" syslogd -n -C16384"#)
        .arg("sh")
        .arg(&dev)
        .arg(&run)
        .arg(&bin)
        .stdin(Stdio::null())
        .stdout(log_file(dir.path())?)
        .stderr(log_file(dir.path())?);
    let mut guard = harness::spawn(cmd, "busybox syslogd")?;
    wait_socket(&mut guard, &socket, dir.path())?;
    Ok(Peer {
        name: "busybox syslogd -C".into(),
        guard,
        socket,
        out: None,
        _dir: dir,
        _shm: None,
    })
}

pub fn rsyslog() -> Result<Peer, String> {
    let unpacked = "rsyslog/usr/sbin/rsyslogd";
    let bin = find(unpacked, "rsyslogd").ok_or(NOT_INSTALLED)?;
    let dir = harness::tempdir()?;
    let shm = shm_dir()?;
    let socket = dir.path().join("rsyslog.sock");
    let out = shm.path().join("rsyslog.log");
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" RateLimit.Interval="0")
action(type="omfile" file="{out}" template="RSYSLOG_FileFormat")
"#,
            dir = dir.path().display(),
            socket = socket.display(),
            out = out.display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&bin);
    cmd.arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslog.pid"));
    if bin == prefix().join(unpacked) {
        cmd.arg("-M")
            .arg(prefix().join("rsyslog/usr/lib/x86_64-linux-gnu/rsyslog"));
    }
    cmd.stdin(Stdio::null())
        .stdout(log_file(dir.path())?)
        .stderr(log_file(dir.path())?);
    let mut guard = harness::spawn(cmd, "rsyslogd")?;
    wait_socket(&mut guard, &socket, dir.path())?;
    finish(guard, "rsyslog".into(), socket, &out, dir, shm)
}

pub fn syslog_ng(credentials: bool) -> Result<Peer, String> {
    let unpacked = "syslog-ng-core/usr/sbin/syslog-ng";
    let bin = find(unpacked, "syslog-ng").ok_or(NOT_INSTALLED)?;
    let dir = harness::tempdir()?;
    let shm = shm_dir()?;
    let socket = dir.path().join("syslog-ng.sock");
    let out = shm.path().join("syslog-ng.log");
    let conf = dir.path().join("syslog-ng.conf");
    let yes_no = if credentials { "yes" } else { "no" };
    std::fs::write(
        &conf,
        format!(
            r#"@version: 3.38
options {{ stats-freq(0); }};
source s_bench {{ unix-dgram("{socket}" pass-unix-credentials({yes_no})); }};
destination d_bench {{ file("{out}"); }};
log {{ source(s_bench); destination(d_bench); }};
"#,
            socket = socket.display(),
            out = out.display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&bin);
    cmd.arg("-F")
        .arg("--no-caps")
        .arg("-f")
        .arg(&conf)
        .arg("-p")
        .arg(dir.path().join("syslog-ng.pid"))
        .arg("-R")
        .arg(dir.path().join("syslog-ng.persist"))
        .arg("-c")
        .arg(dir.path().join("syslog-ng.ctl"));
    if bin == prefix().join(unpacked) {
        let lib = prefix().join("syslog-ng-core/usr/lib/syslog-ng");
        cmd.arg(format!("--module-path={}", lib.join("3.38").display()))
            .env("LD_LIBRARY_PATH", &lib);
    }
    cmd.stdin(Stdio::null())
        .stdout(log_file(dir.path())?)
        .stderr(log_file(dir.path())?);
    let mut guard = harness::spawn(cmd, "syslog-ng")?;
    wait_socket(&mut guard, &socket, dir.path())?;
    let name = format!(
        "syslog-ng, credentials {}",
        if credentials { "on" } else { "off" }
    );
    finish(guard, name, socket, &out, dir, shm)
}

fn finish(
    guard: Guard,
    name: String,
    socket: PathBuf,
    out: &Path,
    dir: tempfile::TempDir,
    shm: tempfile::TempDir,
) -> Result<Peer, String> {
    let mut peer = Peer {
        name,
        guard,
        socket,
        out: None,
        _dir: dir,
        _shm: Some(shm),
    };
    // The output file appears with the first message.
    let s = std::os::unix::net::UnixDatagram::unbound().map_err(|e| e.to_string())?;
    s.send_to(b"<13>1 - - probe - - - first", &peer.socket)
        .map_err(|e| format!("probe: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let file = loop {
        if let Ok(f) = File::open(out) {
            break f;
        }
        if Instant::now() > deadline {
            return Err("writes no output file".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    peer.out = Some(LineCounter {
        file,
        lines: 0,
        buf: vec![0u8; 1 << 20],
    });
    probe(&mut peer)?;
    Ok(peer)
}
