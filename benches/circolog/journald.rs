//! Section 8, journald: the real `systemd-journald` in front of circologd,
//! started as the tests start it (a private mount and network namespace:
//! tmpfs on `/run/systemd` and `/run/log`, a volatile `journald.conf` with
//! `ForwardToSyslog=yes` bound over `/etc/systemd/journald.conf`,
//! `net.unix.max_dgram_qlen` at 512, circologd on
//! `/run/systemd/journal/syslog`). N messages go through journald's native
//! socket, so that the same messages are in its volatile journal and in the
//! ring; then what a user types is timed against each: `circolog-tail` and
//! `journalctl -D /run/log/journal`, process start-up included.
//!
//! Needs root (namespaces, mounts) and `/lib/systemd/systemd-journald`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, Guard};

const JOURNALD: &str = "/lib/systemd/systemd-journald";

/// The namespace, journald and circologd in it.
pub struct Setup {
    holder: Guard,
    _journald: Guard,
    circologd: Guard,
    dir: tempfile::TempDir,
}

impl Setup {
    /// Starts them, circologd with a ring of `ring` messages.
    pub fn start(ring: u64) -> Result<Setup, String> {
        let dir = harness::tempdir()?;
        let conf = dir.path().join("journald.conf");
        std::fs::write(
            &conf,
            "[Journal]\nStorage=volatile\nForwardToSyslog=yes\nRateLimitIntervalSec=0\n\
             RuntimeMaxUse=4G\nRuntimeMaxFileSize=512M\n",
        )
        .map_err(|e| format!("journald.conf: {e}"))?;
        let ready = dir.path().join("ready");
        let script = "set -e
            mount -t tmpfs -o size=8G tmpfs /run/systemd
            mount -t tmpfs -o size=8G tmpfs /run/log
            mkdir -p /run/systemd/journal
            mount --bind \"$0\" /etc/systemd/journald.conf
            echo 512 > /proc/sys/net/unix/max_dgram_qlen
            touch \"$1\"
            exec sleep 100000";
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "--net",
            "sh",
            "-c",
            script,
        ])
        .arg(&conf)
        .arg(&ready);
        let mut holder = harness::spawn(cmd, "unshare")?;
        wait(|| ready.exists(), Duration::from_secs(10), "the namespace")
            .map_err(|e| format!("{e} ({})", holder.exit_note()))?;
        let pid = holder.pid().to_string();
        let enter = |program: &Path| {
            let mut c = Command::new("nsenter");
            c.args(["-t", &pid, "-m", "-n", "--"]).arg(program);
            c
        };
        let query = dir.path().join("query.sock");
        let ctl = dir.path().join("ctl.sock");
        // `CIRCOLOG_BENCH_JOURNALD_FIFO=1`: circologd at real-time
        // priority 1, what a unit's `CPUSchedulingPolicy=fifo` gives it.
        let mut cmd = match fifo() {
            true => {
                let mut c = enter(Path::new("chrt"));
                c.args(["-f", "1"]).arg(harness::circologd_path()?);
                c
            }
            false => enter(&harness::circologd_path()?),
        };
        cmd.args([
            "-syslogd-socket",
            "/run/systemd/journal/syslog",
            "-query-socket",
        ])
        .arg(&query)
        .arg("-ctl-socket")
        .arg(&ctl)
        .args(["-buffer-size", &ring.to_string(), "-buffer-bytes", "1G"])
        .stdout(Stdio::null());
        let circologd = harness::spawn(cmd, "circologd")?;
        wait(|| ctl.exists(), Duration::from_secs(20), "circologd")?;
        let mut cmd = enter(Path::new(JOURNALD));
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let journald = harness::spawn(cmd, "systemd-journald")?;
        let socket = format!("/proc/{pid}/root/run/systemd/journal/socket");
        wait(
            || Path::new(&socket).exists(),
            Duration::from_secs(20),
            "journald",
        )?;
        Ok(Setup {
            holder,
            _journald: journald,
            circologd,
            dir,
        })
    }

    pub fn query(&self) -> PathBuf {
        self.dir.path().join("query.sock")
    }

    /// journald's volatile journal, seen from outside the namespace.
    pub fn journal(&self) -> String {
        format!("/proc/{}/root/run/log/journal", self.holder.pid())
    }

    /// Sends `n` messages through journald's native socket, from inside the
    /// namespace: one in ten from `nginx`, ten at `emerg`, ten holding
    /// `NEEDLE`, the rest `info` from seven other apps.
    pub fn fill(&self, n: u64) -> Result<(), String> {
        let send = format!(
            "import socket\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             n = {n}\n\
             rare = set(range(n // 20, n, max(n // 10, 1)))\n\
             for i in range(n):\n    \
                 app = b'nginx' if i % 10 == 0 else b'app%d' % (i % 7)\n    \
                 prio = 0 if i in rare else 6\n    \
                 text = b'GET /index.html 200 %d bytes from 192.0.2.%d' % (i, i % 250)\n    \
                 if i - 1 in rare: text += b' NEEDLE'\n    \
                 s.sendto(b'MESSAGE=%s\\nSYSLOG_IDENTIFIER=%s\\nPRIORITY=%d\\n' % (text, app, prio), \
                 '/run/systemd/journal/socket')\n"
        );
        let st = Command::new("nsenter")
            .args([
                "-t",
                &self.holder.pid().to_string(),
                "-m",
                "-n",
                "--",
                "python3",
                "-c",
            ])
            .arg(send)
            .status()
            .map_err(|e| format!("python3: {e}"))?;
        if !st.success() {
            return Err(format!("the sender failed: {st}"));
        }
        Ok(())
    }

    /// Messages of the fill in journald's journal.
    pub fn journaled(&self) -> Result<u64, String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "journalctl -q -o cat -D {} | grep -c '^GET '",
                self.journal()
            ))
            .output()
            .map_err(|e| format!("journalctl: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("journalctl's count: {e}"))
    }

    pub fn circologd_pid(&self) -> u32 {
        self.circologd.pid()
    }

    /// Messages stored since circologd started.
    pub fn stored(&self) -> Result<u64, String> {
        let ctl = self.dir.path().join("ctl.sock");
        let (code, body) = harness::http_get(&ctl, "/status", Duration::from_secs(10))
            .map_err(|e| format!("/status: {e}"))?;
        if code != 200 {
            return Err(format!("/status: HTTP {code}"));
        }
        let s: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("/status: {e}"))?;
        Ok(s["last_seq"].as_u64().map_or(0, |l| l + 1))
    }
}

fn wait(mut ok: impl FnMut() -> bool, limit: Duration, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !ok() {
        if Instant::now() > deadline {
            return Err(format!("no {what} after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Whether circologd runs at real-time priority (see [`Setup::start`]).
pub fn fifo() -> bool {
    std::env::var_os("CIRCOLOG_BENCH_JOURNALD_FIFO").is_some_and(|v| v == "1")
}

/// Whether only the burst is measured, not the queries after it
/// (`CIRCOLOG_BENCH_JOURNALD=burst`).
pub fn burst_only() -> bool {
    std::env::var_os("CIRCOLOG_BENCH_JOURNALD").is_some_and(|v| v == "burst")
}

/// What bounds the queue of circologd's socket as journald sees it: the
/// queue's length, and journald's send buffer (the messages waiting count
/// against it), the defaults a socket takes when it is made.
pub fn limits() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p).map_or_else(|_| "?".to_string(), |v| v.trim().to_string())
    };
    format!(
        "net.core.wmem_default={}{}",
        read("/proc/sys/net/core/wmem_default"),
        if fifo() {
            ", circologd at SCHED_FIFO 1"
        } else {
            ""
        }
    )
}

/// Runs `ours` and `theirs` with their output thrown away, one after the
/// other `runs` times (so that whatever else the machine does meanwhile
/// falls on both alike); the median wall-clock time of each in ms.
pub fn time_pair(ours: Command, theirs: Command, runs: usize) -> Result<(f64, f64), String> {
    let mut cmds = [ours, theirs];
    let mut ms = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    for cmd in &mut cmds {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    for _ in 0..runs {
        for (cmd, ms) in cmds.iter_mut().zip(&mut ms) {
            let t = Instant::now();
            let st = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
            if !st.success() {
                return Err(format!("{cmd:?}: {st}"));
            }
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let [a, b] = ms;
    Ok((harness::median(a), harness::median(b)))
}
