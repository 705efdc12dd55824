//! What every section uses: child processes that cannot outlive the
//! benchmark, a running `circologd`, HTTP over a unix socket, readings from
//! `/proc`, and one measured run of a sender against a receiver.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::send::{Sender, Spec};

/// How often a run looks at the receiver's count.
const POLL: Duration = Duration::from_millis(10);
/// A lossy run (UDP) is over when nothing more arrived for this long.
const QUIET: Duration = Duration::from_millis(300);

/// A child process, stopped when dropped (SIGTERM, then SIGKILL), and
/// killed by the kernel if the benchmark itself dies first.
pub struct Guard {
    pub child: Child,
    pub name: String,
}

/// Starts `cmd` as a guarded child. Call it from the main thread: the
/// parent-death signal follows the thread that started the child.
pub fn spawn(mut cmd: Command, name: &str) -> Result<Guard, String> {
    // SAFETY: the closure runs between fork and exec and only calls prctl,
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    Ok(Guard {
        child,
        name: name.to_string(),
    })
}

impl Guard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, for an error message.
    pub fn exit_note(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(st)) => format!("{} exited: {st}", self.name),
            _ => format!("{} still running", self.name),
        }
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.running() {
            return;
        }
        signal(self.pid(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !self.running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid of our own child; no memory is involved.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A `circologd` started on sockets in its own temporary directory.
pub struct Circolog {
    pub guard: Guard,
    /// Holds the sockets; removed when the daemon is dropped.
    _dir: tempfile::TempDir,
    pub syslog: PathBuf,
    pub query: PathBuf,
    pub ctl: PathBuf,
    /// `-syslog-addr`, when asked for.
    pub addr: Option<std::net::SocketAddr>,
}

/// The `circologd` binary: next to this benchmark's executable (cargo
/// builds the package's binaries for `cargo bench`), or `CIRCOLOGD`.
pub fn circologd_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CIRCOLOGD") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe.parent().and_then(Path::parent).ok_or("no parent dir")?;
    let p = dir.join("circologd");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release --bin circologd`, or set CIRCOLOGD",
            p.display()
        ))
    }
}

impl Circolog {
    /// Starts circologd with `args` on top of its three sockets (and a
    /// loopback UDP/TCP address with `net`); waits until it listens.
    pub fn start(args: &[&str], net: bool) -> Result<Circolog, String> {
        let bin = circologd_path()?;
        let dir = tempdir()?;
        let syslog = dir.path().join("syslog.sock");
        let query = dir.path().join("query.sock");
        let ctl = dir.path().join("ctl.sock");
        let mut cmd = Command::new(bin);
        cmd.arg("-syslogd-socket")
            .arg(&syslog)
            .arg("-query-socket")
            .arg(&query)
            .arg("-ctl-socket")
            .arg(&ctl)
            .args(["-tz", "UTC"]);
        let addr = if net {
            let a = free_addr()?;
            cmd.arg("-syslog-addr").arg(a.to_string());
            Some(a)
        } else {
            None
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = spawn(cmd, "circologd")?;
        let stdout = guard.child.stdout.take().ok_or("circologd stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if l.contains("listening: control") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            return Err(format!(
                "circologd did not start listening ({})",
                guard.exit_note()
            ));
        }
        Ok(Circolog {
            guard,
            _dir: dir,
            syslog,
            query,
            ctl,
            addr,
        })
    }

    pub fn status(&self) -> Result<serde_json::Value, String> {
        let (code, body) =
            http_get(&self.ctl, "/status", Duration::from_secs(10)).map_err(|e| e.to_string())?;
        if code != 200 {
            return Err(format!("/status: HTTP {code}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("/status: {e}"))
    }

    /// Messages stored since it started (`last_seq + 1`).
    pub fn stored(&self) -> Result<u64, String> {
        let s = self.status()?;
        Ok(s["last_seq"].as_u64().map_or(0, |l| l + 1))
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}

pub fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("circolog-bench.")
        .tempdir_in("/tmp")
        .map_err(|e| format!("temporary directory: {e}"))
}

/// A loopback address free for UDP and TCP (bound, then released).
pub fn free_addr() -> Result<std::net::SocketAddr, String> {
    for _ in 0..20 {
        let t = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let a = t.local_addr().map_err(|e| e.to_string())?;
        if std::net::UdpSocket::bind(a).is_ok() {
            return Ok(a);
        }
    }
    Err("no free loopback port".into())
}

/// `GET path` over HTTP/1.0 on a unix socket: status code and body.
pub fn http_get(socket: &Path, path: &str, limit: Duration) -> io::Result<(u16, Vec<u8>)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let end = memchr::memmem::find(&buf, b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP head in the answer"))?;
    let code = std::str::from_utf8(&buf[..end])
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other("bad HTTP status line"))?;
    Ok((code, buf.split_off(end + 4)))
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:")
}

pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User plus system CPU time of `/proc/<path>/stat` (a pid, or
/// `self/task/TID`), in seconds.
pub fn cpu_secs(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{path}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may
    // contain spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz.max(1.0))
}

pub fn gettid() -> i32 {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Something that receives messages and can say how many it has taken in.
pub trait Sink {
    /// Messages taken in since it started; `None` when it cannot tell, in
    /// which case the sender's own time is the measure (blocking sends).
    fn count(&mut self) -> Result<Option<u64>, String>;
    /// What it is, for error messages.
    fn label(&self) -> String;
    /// CPU seconds used so far by the receiving process or thread.
    fn cpu(&self) -> Option<f64>;
    /// Resident memory of the receiver, in KiB.
    fn rss_kib(&self) -> Option<u64> {
        None
    }
}

impl Sink for Circolog {
    fn count(&mut self) -> Result<Option<u64>, String> {
        self.stored().map(Some)
    }
    fn label(&self) -> String {
        "circologd".into()
    }
    fn cpu(&self) -> Option<f64> {
        cpu_secs(&self.pid().to_string())
    }
    fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }
}

/// One measured run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub sent: u64,
    pub stored: u64,
    pub secs: f64,
    /// CPU seconds of the receiver during the run.
    pub cpu: Option<f64>,
}

impl Sample {
    /// Messages stored per second.
    pub fn rate(&self) -> f64 {
        self.stored as f64 / self.secs.max(1e-9)
    }

    /// Fraction of what was sent that was not stored.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            1.0 - (self.stored as f64 / self.sent as f64).min(1.0)
        }
    }

    /// Receiver CPU per stored message, in µs.
    pub fn cpu_us(&self) -> Option<f64> {
        self.cpu
            .filter(|_| self.stored > 0)
            .map(|c| c * 1e6 / self.stored as f64)
    }
}

/// Runs one sender against `sink` and times it until everything sent has
/// been taken in (or, when `lossy`, until nothing more arrives). A sender
/// that reaches its time limit stops early; what it did send is waited for.
pub fn run(sink: &mut dyn Sink, spec: &Spec, lossy: bool) -> Result<Sample, String> {
    run_inner(sink, spec, lossy).map_err(|e| format!("{}: {e}", sink.label()))
}

fn run_inner(sink: &mut dyn Sink, spec: &Spec, lossy: bool) -> Result<Sample, String> {
    let base = sink.count()?;
    let cpu0 = sink.cpu();
    let mut sender = Sender::start(spec)?;
    let t0 = sender.go()?;
    // Time for the receiver to catch up after the sender's own limit.
    let deadline = t0 + spec.limit + Duration::from_secs(30);
    let mut done = None;
    let mut last = (0u64, t0);
    let end = loop {
        std::thread::sleep(POLL);
        if done.is_none() {
            done = sender.poll_done()?;
        }
        let Some(base) = base else {
            // No count: the sender's end is the measure.
            if let Some(d) = done {
                break (d.sent, d.at);
            }
            if Instant::now() > deadline {
                return Err("timed out".into());
            }
            continue;
        };
        let asked = Instant::now();
        let got = sink.count()?.unwrap_or(base) - base;
        // The count was read at some point of the request: its end is the
        // time that never overstates the rate.
        let now = Instant::now();
        if std::env::var_os("CIRCOLOG_BENCH_DEBUG").is_some() {
            eprintln!("debug: got {got}, count took {:?}", now - asked);
        }
        if got > last.0 {
            last = (got, now);
        }
        let expected = done.map_or(spec.count, |d| d.sent);
        if !lossy && got >= expected {
            break (got, now);
        }
        if lossy
            && let Some(d) = done
            && (got >= d.sent || now - last.1 > QUIET)
        {
            break last;
        }
        if now > deadline {
            return Err(format!("timed out: {got} of {expected} messages taken in"));
        }
    };
    let sent = match done {
        Some(d) => d.sent,
        None => sender.wait_done(Duration::from_secs(30))?.sent,
    };
    let cpu = match (cpu0, sink.cpu()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(Sample {
        sent,
        stored: end.0,
        secs: (end.1 - t0).as_secs_f64(),
        cpu,
    })
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The medians of several runs, each figure on its own.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Messages stored per second.
    pub rate: f64,
    /// Receiver CPU per stored message, in µs.
    pub cpu_us: Option<f64>,
    /// Fraction of the sent messages not stored.
    pub loss: f64,
}

pub fn summarize(samples: &[Sample]) -> Summary {
    let m = |f: &dyn Fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    let cpu_known = !samples.is_empty() && samples.iter().all(|s| s.cpu_us().is_some());
    Summary {
        rate: m(&|s| s.rate()),
        cpu_us: cpu_known.then(|| m(&|s| s.cpu_us().unwrap_or(0.0))),
        loss: m(&|s| s.loss()),
    }
}

/// Reads a number from `/proc/sys`.
pub fn sysctl(path: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}
