//! Section 9: restarts. The benchmark plays the service manager, as the
//! tests do (`tests/restart.rs`): it owns `NOTIFY_SOCKET` and the syslog
//! socket, keeps the memory file that circologd hands it with `FDSTORE=1`,
//! and after a `kill -9` starts circologd again with both (`LISTEN_FDS`,
//! `LISTEN_FDNAMES`, `LISTEN_PID` set by a shell that then executes it),
//! as systemd does after a crash.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::harness::{self, Guard, Sink};

/// A circologd run as a service manager runs it.
pub struct Managed {
    dir: tempfile::TempDir,
    notify: UnixDatagram,
    /// The syslog socket, which outlives every circologd.
    syslog: UnixDatagram,
    /// The memory file the last circologd handed over.
    stored: Option<OwnedFd>,
    args: Vec<String>,
    guard: Option<Guard>,
    pub syslog_path: PathBuf,
    pub query: PathBuf,
    pub ctl: PathBuf,
}

impl Managed {
    /// Starts circologd with `args` on top of its sockets; returns once it
    /// said `READY=1`.
    pub fn start(args: &[&str]) -> Result<Managed, String> {
        let dir = harness::tempdir()?;
        let notify_path = dir.path().join("notify");
        let notify = UnixDatagram::bind(&notify_path).map_err(|e| format!("notify: {e}"))?;
        notify
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let syslog_path = dir.path().join("syslog.sock");
        let syslog = UnixDatagram::bind(&syslog_path).map_err(|e| format!("syslog: {e}"))?;
        // As circologd's own: the flood waits in it while no daemon reads.
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&syslog, 8 << 20);
        let mut m = Managed {
            query: dir.path().join("query.sock"),
            ctl: dir.path().join("ctl.sock"),
            syslog_path,
            dir,
            notify,
            syslog,
            stored: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            guard: None,
        };
        m.spawn()?;
        m.wait_ready()?;
        Ok(m)
    }

    pub fn pid(&self) -> u32 {
        self.guard.as_ref().map_or(0, Guard::pid)
    }

    /// Starts circologd with the syslog socket and the stored file, if
    /// any; does not wait.
    fn spawn(&mut self) -> Result<(), String> {
        // Above the descriptors the shell moves them to, and inherited.
        let inherit = |fd: &dyn AsFd| -> Result<OwnedFd, String> {
            let dup = rustix::io::fcntl_dupfd_cloexec(fd, 10).map_err(|e| e.to_string())?;
            rustix::io::fcntl_setfd(&dup, rustix::io::FdFlags::empty())
                .map_err(|e| e.to_string())?;
            Ok(dup)
        };
        let syslog = inherit(&self.syslog)?;
        let ring = match &self.stored {
            Some(f) => Some(inherit(f)?),
            None => None,
        };
        let (names, moves) = match &ring {
            Some(r) => (
                "syslog:ring",
                format!(
                    "exec 3<&{s} 4<&{r} {s}<&- {r}<&-",
                    s = syslog.as_raw_fd(),
                    r = r.as_raw_fd()
                ),
            ),
            None => (
                "syslog",
                format!("exec 3<&{s} {s}<&-", s = syslog.as_raw_fd()),
            ),
        };
        let count = if ring.is_some() { 2 } else { 1 };
        let script = format!(
            "{moves}; export LISTEN_PID=$$ LISTEN_FDS={count} LISTEN_FDNAMES={names}; exec \"$@\""
        );
        let mut cmd = Command::new("bash");
        cmd.args(["-c", &script, "bash"])
            .arg(harness::circologd_path()?)
            .arg("-query-socket")
            .arg(&self.query)
            .arg("-ctl-socket")
            .arg(&self.ctl)
            .args(["-tz", "UTC"])
            .args(&self.args)
            .env("NOTIFY_SOCKET", self.dir.path().join("notify"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        self.guard = Some(harness::spawn(cmd, "circologd")?);
        Ok(())
    }

    /// Reads notifications until `READY=1`, keeping the file that comes
    /// with `FDSTORE=1`.
    fn wait_ready(&mut self) -> Result<(), String> {
        loop {
            let (text, fd) = self.notification()?;
            if text.lines().any(|l| l == "FDSTORE=1") {
                self.stored = Some(fd.ok_or("FDSTORE=1 without a file")?);
            }
            if text.lines().any(|l| l == "READY=1") {
                return Ok(());
            }
        }
    }

    fn notification(&self) -> Result<(String, Option<OwnedFd>), String> {
        let mut buf = [0u8; 4096];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            &self.notify,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| format!("no word from circologd: {e}"))?;
        let mut fd = None;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                fd = fds.into_iter().next();
            }
        }
        Ok((String::from_utf8_lossy(&buf[..msg.bytes]).into_owned(), fd))
    }

    /// `kill -9`, waited for.
    fn kill(&mut self) -> Result<(), String> {
        let mut g = self.guard.take().ok_or("no circologd to kill")?;
        harness::signal(g.pid(), libc::SIGKILL);
        g.child
            .wait()
            .map_err(|e| format!("waiting for circologd: {e}"))?;
        Ok(())
    }

    /// `kill -9`, then a new circologd with the stored file (or, with
    /// `keep` false, a fresh one): the time from the kill until it first
    /// answered `GET /status`, and that answer.
    pub fn kill_and_restart(
        &mut self,
        keep: bool,
    ) -> Result<(Duration, serde_json::Value), String> {
        let t0 = Instant::now();
        self.kill()?;
        if !keep {
            self.stored = None;
        }
        self.spawn()?;
        let status = serving(&self.ctl, t0)?;
        let took = t0.elapsed();
        self.wait_ready()?;
        Ok((took, status))
    }

    pub fn status(&self) -> Result<serde_json::Value, String> {
        let (code, body) = harness::http_get(&self.ctl, "/status", Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        if code != 200 {
            return Err(format!("/status: HTTP {code}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("/status: {e}"))
    }
}

impl Sink for Managed {
    fn count(&mut self) -> Result<Option<u64>, String> {
        let s = self.status()?;
        Ok(Some(s["last_seq"].as_u64().map_or(0, |l| l + 1)))
    }
    fn label(&self) -> String {
        "circologd".into()
    }
    fn cpu(&self) -> Option<f64> {
        harness::cpu_secs(&self.pid().to_string())
    }
}

/// Waits until the daemon on `ctl` answers `GET /status` (a socket file
/// left by a killed one refuses until the new one binds it): its answer.
pub fn serving(ctl: &std::path::Path, since: Instant) -> Result<serde_json::Value, String> {
    loop {
        if let Ok((200, body)) = harness::http_get(ctl, "/status", Duration::from_secs(30)) {
            return serde_json::from_slice(&body).map_err(|e| format!("/status: {e}"));
        }
        if since.elapsed() > Duration::from_secs(120) {
            return Err("circologd did not serve within 120 s".into());
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// The message numbers (`n=`) a ring holds, oldest first, from its raw
/// dump.
pub fn numbers(query: &std::path::Path) -> Result<Vec<u64>, String> {
    let (code, body) = harness::http_get(query, "/?fmt=raw", Duration::from_secs(120))
        .map_err(|e| format!("GET /?fmt=raw: {e}"))?;
    if code != 200 {
        return Err(format!("GET /?fmt=raw: HTTP {code}"));
    }
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let at = memchr::memmem::find(l, b"n=").ok_or("a message without n=")?;
            let digits = l.get(at + 2..at + 12).ok_or("a short n=")?;
            std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| format!("torn: {}", String::from_utf8_lossy(l)))
        })
        .collect()
}

/// SplitMix64: the instants of the kills, the same for the same seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}
