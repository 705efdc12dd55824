//! A small harness: start the real `circologd` on sockets in a temporary
//! directory, send it syslog over real sockets, and query it with `curl`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_circologd");

/// A running daemon, stopped with SIGTERM when dropped.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub syslog: PathBuf,
    pub query: PathBuf,
    pub ctl: PathBuf,
    pub addr: Option<SocketAddr>,
    pub query_addr: Option<SocketAddr>,
    /// What the daemon has written to stderr so far.
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// A free loopback port (bound, then released for the daemon to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Builder {
    args: Vec<String>,
    net: bool,
    query_net: bool,
    wrap: Vec<String>,
    at: Option<PathBuf>,
    program: Option<PathBuf>,
}

impl Builder {
    pub fn args(mut self, a: &[&str]) -> Self {
        self.args.extend(a.iter().map(|s| s.to_string()));
        self
    }

    /// Also listen for syslog on UDP and TCP on a loopback port.
    pub fn net(mut self) -> Self {
        self.net = true;
        self
    }

    /// Also serve the query API on a loopback TCP port.
    pub fn query_net(mut self) -> Self {
        self.query_net = true;
        self
    }

    /// Runs the daemon under a command that execs it (`prlimit --nofile=…`),
    /// so that its pid is the daemon's.
    pub fn wrap(mut self, prefix: &[&str]) -> Self {
        self.wrap = prefix.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Its sockets in `dir` rather than a new temporary directory, so that
    /// a second daemon can take a stopped one's place.
    pub fn at(mut self, dir: &Path) -> Self {
        self.at = Some(dir.to_path_buf());
        self
    }

    /// Runs this file rather than the built binary (a copy of it, say).
    pub fn program(mut self, path: &Path) -> Self {
        self.program = Some(path.to_path_buf());
        self
    }

    pub fn start(self) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = self.at.clone().unwrap_or_else(|| dir.path().to_path_buf());
        let syslog = base.join("syslog.sock");
        let query = base.join("query.sock");
        let ctl = base.join("ctl.sock");
        let daemon = self.program.clone().unwrap_or_else(|| DAEMON.into());
        let mut cmd = match self.wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&daemon);
                c
            }
            None => Command::new(&daemon),
        };
        cmd.arg("-syslogd-socket")
            .arg(&syslog)
            .arg("-query-socket")
            .arg(&query)
            .arg("-ctl-socket")
            .arg(&ctl)
            .args(["-tz", "UTC"]);
        let addr = self.net.then(|| {
            let a: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
            cmd.arg("-syslog-addr").arg(a.to_string());
            a
        });
        let query_addr = self.query_net.then(|| {
            let a: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
            cmd.arg("-query-addr").arg(a.to_string());
            a
        });
        cmd.args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start circologd");
        let stdout = child.stdout.take().expect("stdout");
        wait_listening(stdout, &mut child);
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        Daemon {
            child,
            dir,
            syslog,
            query,
            ctl,
            addr,
            query_addr,
            stderr,
        }
    }
}

/// Reads the daemon's start-up lines until it says it listens on the control
/// socket (the last one it opens), then keeps draining its stdout.
fn wait_listening(stdout: std::process::ChildStdout, child: &mut Child) {
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("listening: control") => break,
            Some(Ok(_)) => continue,
            _ => {
                let status = child.wait().expect("wait");
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("circologd exited before listening ({status}): {err}");
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
}

pub fn daemon() -> Builder {
    Builder {
        args: Vec::new(),
        net: false,
        query_net: false,
        wrap: Vec::new(),
        at: None,
        program: None,
    }
}

impl Daemon {
    /// Sends one datagram to the unix syslog socket (blocking, like glibc).
    pub fn send_unix(&self, msg: &[u8]) {
        let s = UnixDatagram::unbound().expect("socket");
        s.send_to(msg, &self.syslog).expect("send");
    }

    pub fn send_udp(&self, msg: &[u8]) {
        let s = UdpSocket::bind("127.0.0.1:0").expect("udp");
        s.send_to(msg, self.addr.expect("started with .net()"))
            .expect("send");
    }

    pub fn tcp(&self) -> TcpStream {
        TcpStream::connect(self.addr.expect("started with .net()")).expect("connect")
    }

    /// `curl --unix-socket QUERY http://localhost/PATH`, returning the body;
    /// fails the test on an HTTP error.
    pub fn get(&self, path_and_query: &str) -> String {
        let out = self.curl(&self.query, &["-f", &url(path_and_query)]);
        assert!(
            out.status.success(),
            "curl {path_and_query} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 body")
    }

    /// `GET /?fmt=json&…`, one parsed object per line.
    pub fn json(&self, params: &str) -> Vec<serde_json::Value> {
        let sep = if params.is_empty() { "" } else { "&" };
        self.get(&format!("/?fmt=json{sep}{params}"))
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Runs curl against a unix socket with extra arguments.
    pub fn curl(&self, socket: &Path, args: &[&str]) -> Output {
        Command::new("curl")
            .arg("-sS")
            .arg("--unix-socket")
            .arg(socket)
            .args(args)
            .output()
            .expect("run curl")
    }

    /// A control request through curl; returns the parsed JSON answer.
    pub fn ctl(&self, method: &str, path: &str) -> serde_json::Value {
        let out = self.curl(&self.ctl, &["-f", "-X", method, &url(path)]);
        assert!(
            out.status.success(),
            "{method} {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    pub fn status(&self) -> serde_json::Value {
        self.ctl("GET", "/status")
    }

    /// Waits until the daemon has stored at least `n` messages since start.
    pub fn wait_stored(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.status();
            let next = s["last_seq"].as_u64().map_or(0, |l| l + 1);
            if next >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {next} of {n} messages stored: {s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory of the daemon in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Stops the daemon with SIGTERM and returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal(15);
        wait_exit(&mut self.child, Duration::from_secs(10))
    }
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn url(path_and_query: &str) -> String {
    format!("http://localhost{path_and_query}")
}

/// Raw HTTP over the query socket: writes `request`, reads until the peer
/// closes or `limit` passes, returns what came back.
pub fn raw_http(socket: &Path, request: &[u8], limit: Duration) -> Vec<u8> {
    let mut s = UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(limit)).expect("timeout");
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// This host's name, as circologd shows it for local messages that name
/// none.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Runs `logger` with arguments, failing the test if it fails.
pub fn logger(args: &[&str]) {
    let out = Command::new("logger").args(args).output().expect("logger");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts a copy of the program `from` at `to`, executable, for a test to
/// run. `install` writes it, not this process: a file this process held
/// open for writing could be inherited, for the instant between fork and
/// exec, by a child another test is starting, and executing it then fails
/// with "Text file busy".
pub fn install_program(from: &Path, to: &Path) {
    let out = Command::new("install")
        .arg("-m")
        .arg("0755")
        .arg(from)
        .arg(to)
        .output()
        .expect("install");
    assert!(
        out.status.success(),
        "install {} {}: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
