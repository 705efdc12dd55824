//! The ring outlives the process: the test plays the service manager. It
//! owns NOTIFY_SOCKET and keeps the memory file that arrives with
//! `FDSTORE=1`, owns the syslog socket, and starts circologd with both
//! (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID` set by a shell that then
//! execs it), as systemd does across a restart or a crash.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::util::{DAEMON, wait_exit};

struct Manager {
    dir: tempfile::TempDir,
    notify: UnixDatagram,
    notify_path: PathBuf,
    syslog: UnixDatagram,
    /// The memory file the daemon handed over, last.
    stored: Option<OwnedFd>,
}

impl Manager {
    fn new() -> Manager {
        let dir = tempfile::tempdir().expect("dir");
        let notify_path = dir.path().join("notify");
        let notify = UnixDatagram::bind(&notify_path).expect("bind notify");
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let syslog = UnixDatagram::bind(dir.path().join("syslog")).expect("bind syslog");
        Manager {
            dir,
            notify,
            notify_path,
            syslog,
            stored: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts circologd with the syslog socket and the stored file, if
    /// any; waits for READY=1, keeping the file that comes with FDSTORE=1.
    /// Its stdout lines until then.
    fn start(&mut self, args: &[&str]) -> (Child, Vec<String>) {
        // Above the descriptors the shell moves them to, and inherited.
        let inherit = |fd: &dyn AsFd| {
            let dup = rustix::io::fcntl_dupfd_cloexec(fd, 10).expect("dup");
            rustix::io::fcntl_setfd(&dup, rustix::io::FdFlags::empty()).expect("inherit");
            dup
        };
        let syslog = inherit(&self.syslog);
        let ring = self.stored.as_ref().map(|f| inherit(f));
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
        let out = self.path("out");
        let child = Command::new("bash")
            .args(["-c", &script, "bash", DAEMON])
            .arg("-query-socket")
            .arg(self.path("q.sock"))
            .arg("-ctl-socket")
            .arg(self.path("c.sock"))
            .args(["-tz", "UTC"])
            .args(args)
            .env("NOTIFY_SOCKET", &self.notify_path)
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start circologd");
        drop(syslog);
        drop(ring);
        loop {
            let (text, fd) = self.notification();
            if text.lines().any(|l| l == "FDSTORE=1") {
                assert!(text.lines().any(|l| l == "FDNAME=ring"), "{text}");
                self.stored = Some(fd.expect("the file comes with FDSTORE=1"));
            }
            if text.lines().any(|l| l == "READY=1") {
                break;
            }
        }
        let lines = std::fs::read_to_string(&out).unwrap_or_default();
        (child, lines.lines().map(str::to_string).collect())
    }

    fn notification(&self) -> (String, Option<OwnedFd>) {
        let mut buf = [0u8; 4096];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            &self.notify,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .expect("a notification");
        let mut fd = None;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                fd = fds.into_iter().next();
            }
        }
        (String::from_utf8_lossy(&buf[..msg.bytes]).into_owned(), fd)
    }

    fn send(&self, msg: &str) {
        let s = UnixDatagram::unbound().expect("socket");
        s.send_to(msg.as_bytes(), self.path("syslog"))
            .expect("send");
    }

    fn get(&self, socket: &str, path: &str) -> String {
        let out = Command::new("curl")
            .args(["-sSf", "--max-time", "20", "--unix-socket"])
            .arg(self.path(socket))
            .arg(format!("http://localhost{path}"))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("c.sock", "/status")).expect("JSON")
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        self.get("q.sock", "/?fmt=json")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Waits until the newest seq is at least `seq`.
    fn wait_seq(&self, seq: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.status()["last_seq"].as_u64().is_none_or(|l| l < seq) {
            assert!(Instant::now() < deadline, "{}", self.status());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn stop(mut child: Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    wait_exit(&mut child, Duration::from_secs(20));
}

fn texts(ms: &[serde_json::Value]) -> Vec<(u64, String)> {
    ms.iter()
        .map(|m| {
            (
                m["seq"].as_u64().expect("seq"),
                m["message"].as_str().expect("message").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_restart_keeps_every_message_with_its_seq_and_epoch() {
    let mut m = Manager::new();
    let (first, _) = m.start(&[]);
    assert!(m.stored.is_some(), "the ring was not handed to the store");
    assert_eq!(m.status()["restored"], serde_json::Value::Null);
    for i in 0..50 {
        m.send(&format!("<13>1 - host app - - - kept {i}"));
    }
    m.wait_seq(49);
    let paused = Command::new("curl")
        .args(["-sSf", "-X", "POST", "--unix-socket"])
        .arg(m.path("c.sock"))
        .arg("http://localhost/pause")
        .status()
        .expect("curl");
    assert!(paused.success());
    let before = m.status();
    let stored = texts(&m.messages());
    let old_pid = first.id();
    stop(first, "-TERM");

    let (second, _) = m.start(&[]);
    let after = m.status();
    assert_eq!(after["paused"], true, "the pause goes on: {after}");
    assert_eq!(
        after["counters"]["received_total"], before["counters"]["received_total"],
        "the counters go on: {after}"
    );
    let resumed = Command::new("curl")
        .args(["-sSf", "-X", "POST", "--unix-socket"])
        .arg(m.path("c.sock"))
        .arg("http://localhost/resume")
        .output()
        .expect("curl");
    assert!(resumed.status.success());
    assert_eq!(after["epoch"], before["epoch"], "{after}");
    assert_eq!(after["last_seq"], 49, "{after}");
    assert_eq!(texts(&m.messages()), stored);
    let restored = &after["restored"];
    assert_eq!(restored["messages"], 50, "{after}");
    assert_eq!(restored["dropped"], 0, "{after}");
    assert_eq!(restored["pid"], old_pid, "{after}");
    m.send("<13>1 - host app - - - after the restart");
    m.wait_seq(50);
    assert_eq!(
        texts(&m.messages()).last().expect("one"),
        &(50, "after the restart".to_string())
    );
    stop(second, "-TERM");
}

#[test]
fn a_smaller_buffer_size_on_restart_keeps_the_newest_with_their_seqs() {
    let mut m = Manager::new();
    let (first, _) = m.start(&[]);
    for i in 0..50 {
        m.send(&format!("<13>1 - host app - - - kept {i}"));
    }
    m.wait_seq(49);
    let epoch = m.status()["epoch"].clone();
    stop(first, "-TERM");
    let (second, _) = m.start(&["-buffer-size", "10"]);
    let status = m.status();
    assert_eq!(status["epoch"], epoch);
    assert_eq!(status["restored"]["messages"], 10, "{status}");
    let want: Vec<(u64, String)> = (40..50).map(|i| (i, format!("kept {i}"))).collect();
    assert_eq!(texts(&m.messages()), want);
    stop(second, "-TERM");
}

#[test]
fn sigkill_under_a_flood_loses_at_most_one_batch_and_tears_nothing() {
    let mut m = Manager::new();
    let args = ["-buffer-size", "1000000"];
    let (mut child, _) = m.start(&args);
    let path = m.path("syslog");
    let stop_flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop_flag.clone();
    // Blocking sends: while no daemon reads, they wait in the socket.
    let sender = std::thread::spawn(move || {
        let s = UnixDatagram::unbound().expect("socket");
        let mut n = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let msg = format!("<13>1 - host app - - - flood {n:08} {}", "x".repeat(100));
            s.send_to(msg.as_bytes(), &path).expect("send");
            n += 1;
            if n.is_multiple_of(100) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        n
    });
    for kill in 0..3 {
        std::thread::sleep(Duration::from_millis(300 + 200 * kill));
        stop(child, "-KILL");
        (child, _) = m.start(&args);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop_flag.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.join().expect("sender");
    m.wait_seq(0);
    // Everything sent is read: wait for the count to settle.
    let mut last = None;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = m.status()["last_seq"].clone();
        if Some(&now) == last.as_ref() {
            break;
        }
        last = Some(now);
    }
    let got = texts(&m.messages());
    let mut lost = 0;
    let mut want = 0u64;
    for (i, (seq, text)) in got.iter().enumerate() {
        assert_eq!(*seq, got[0].0 + i as u64, "seqs go on without a gap");
        let n: u64 = text
            .strip_prefix("flood ")
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("torn: {text:?}"));
        assert_eq!(text, &format!("flood {n:08} {}", "x".repeat(100)), "torn");
        assert!(n >= want, "out of order: {n} after {want}");
        lost += n - want;
        want = n + 1;
    }
    assert_eq!(want, sent, "the last sent is stored");
    // At most one batch of 64 datagrams per kill.
    assert!(lost <= 3 * 64, "{lost} lost of {sent}");
    stop(child, "-TERM");
}

#[test]
fn a_foreign_file_is_overwritten_with_one_line() {
    let mut m = Manager::new();
    let file = rustix::fs::memfd_create("foreign", rustix::fs::MemfdFlags::CLOEXEC).expect("memfd");
    rustix::io::write(&file, &[0xa5; 8192]).expect("write");
    m.stored = Some(file.try_clone().expect("dup"));
    let (child, lines) = m.start(&[]);
    let said: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("inherited ring"))
        .collect();
    assert_eq!(said.len(), 1, "{lines:?}");
    assert!(said[0].contains("not a circolog ring"), "{said:?}");
    assert_eq!(m.status()["restored"], serde_json::Value::Null);
    let mut back = [0xffu8; 8192];
    rustix::io::pread(&file, &mut back, 0).expect("read back");
    assert!(back.iter().all(|b| *b == 0), "not overwritten");
    stop(child, "-TERM");
}
