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

    /// A control request that changes something; its JSON answer.
    fn post(&self, path: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sSf", "--max-time", "20", "-X", "POST", "--unix-socket"])
            .arg(self.path("c.sock"))
            .arg(format!("http://localhost{path}"))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    /// Takes a snapshot and waits until it is complete: its row.
    fn snapshot(&self, note: &str) -> serde_json::Value {
        let id = self.post(&format!("/snapshot?note={note}"))["id"].clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let list = self.snapshots();
            let row = list["snapshots"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["id"] == id).cloned())
                .unwrap_or_else(|| panic!("snapshot {id} is not listed: {list}"));
            if row["taking"] == false {
                return row;
            }
            assert!(Instant::now() < deadline, "{row}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn snapshots(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("c.sock", "/snapshots")).expect("JSON")
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
    assert_eq!(after["paused_by"], "api", "as it came: {after}");
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

/// The seed of a test's random choices: `CIRCOLOG_TEST_SEED` replays a
/// run, else one from the clock; said on stderr, which a failing test
/// shows.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("CIRCOLOG_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("{test}: seed {seed} (CIRCOLOG_TEST_SEED={seed} replays it)");
    seed
}

/// SplitMix64: a small seeded generator, the same numbers for the same
/// seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn five_sigkills_at_random_instants_under_a_flood_lose_at_most_a_batch_each() {
    let mut rng = Rng(seed("five_sigkills"));
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
    std::thread::sleep(Duration::from_millis(300));
    // A snapshot before the first kill, which every process adopts.
    let row = m.snapshot("before%20the%20kills");
    assert!(row["messages"].as_u64().unwrap_or(0) > 0, "{row}");
    let id = row["id"].clone();
    let list = m.snapshots();
    let content = m.get("q.sock", &format!("/snapshots/{id}/?fmt=json"));
    for kill in 0..5 {
        let wait = rng.below(800);
        eprintln!("kill {kill} after {wait} ms");
        std::thread::sleep(Duration::from_millis(wait));
        stop(child, "-KILL");
        (child, _) = m.start(&args);
        let restored = &m.status()["restored"];
        assert_eq!(restored["dropped"], 0, "kill {kill}: {restored}");
        assert_eq!(restored["snapshots"], 1, "kill {kill}: {restored}");
        assert_eq!(restored["snapshots_dropped"], 0, "kill {kill}: {restored}");
    }
    std::thread::sleep(Duration::from_millis(300));
    stop_flag.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.join().expect("sender");
    // Everything sent is read: wait for the count to settle.
    m.wait_seq(0);
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
    let mut gaps = Vec::new();
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
        if n > want {
            gaps.push(n - want);
        }
        want = n + 1;
    }
    assert_eq!(want, sent, "the last sent is stored");
    // At most the batch being stored (one recvmmsg of 64) per kill.
    assert!(
        gaps.len() <= 5 && gaps.iter().all(|g| *g <= 64),
        "lost {gaps:?} of {sent}"
    );
    // The snapshot, as it was.
    assert_eq!(m.snapshots(), list);
    assert_eq!(
        m.get("q.sock", &format!("/snapshots/{id}/?fmt=json")),
        content
    );
    stop(child, "-TERM");
}

#[test]
fn another_geometry_keeps_the_newest_snapshots_that_fit() {
    let mut m = Manager::new();
    let (first, _) = m.start(&[]);
    for i in 0..20 {
        m.send(&format!("<13>1 - host app - - - kept {i}"));
    }
    m.wait_seq(19);
    let older = m.snapshot("older");
    m.send("<13>1 - host app - - - one more");
    m.wait_seq(20);
    let newer = m.snapshot("newer");
    let id = &newer["id"];
    let content = m.get("q.sock", &format!("/snapshots/{id}/?fmt=json"));
    stop(first, "-TERM");

    // Fewer messages and one snapshot at most: the ring and the
    // snapshots are copied into a new file.
    let (second, _) = m.start(&["-buffer-size", "10", "-snapshots", "1"]);
    let status = m.status();
    assert_eq!(status["restored"]["messages"], 10, "{status}");
    assert_eq!(status["restored"]["snapshots"], 1, "{status}");
    let list = m.snapshots();
    let rows = list["snapshots"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(rows[0], newer, "the newest, as it was");
    assert_eq!(list["evicted"], 1, "the older did not fit: {list}");
    assert_eq!(
        m.get("q.sock", &format!("/snapshots/{id}/?fmt=json")),
        content
    );
    // Ids go on.
    let next = m.snapshot("after");
    assert!(next["id"].as_u64() > older["id"].as_u64().max(id.as_u64()));
    stop(second, "-TERM");
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

// `POST /restart` and `circolog-ctl restart`, without a service manager:
// the daemon executes its own file again and hands itself the ring and
// every socket.

const TAIL: &str = env!("CARGO_BIN_EXE_circolog-tail");
const CTL: &str = env!("CARGO_BIN_EXE_circolog-ctl");

/// The built circologd, copied into `dir`: the file a restart executes
/// again, which the test may replace.
fn copied_daemon(dir: &std::path::Path) -> PathBuf {
    let program = dir.join("circologd");
    crate::util::install_program(DAEMON.as_ref(), &program);
    program
}

/// Lines of `r`, as they come, through a channel.
fn lines_of(r: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn restart_with_ctl(d: &crate::util::Daemon) -> serde_json::Value {
    let out = Command::new(CTL)
        .arg("--socket")
        .arg(&d.ctl)
        .args(["restart", "--json"])
        .output()
        .expect("circolog-ctl");
    assert!(
        out.status.success(),
        "circolog-ctl restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn post_restart_keeps_every_message_its_seq_and_epoch_the_pause_and_the_counters() {
    let dir = tempfile::tempdir().expect("dir");
    let d = crate::util::daemon()
        .program(&copied_daemon(dir.path()))
        .start();
    for i in 0..40 {
        d.send_unix(format!("<13>1 - host app - - - kept {i}").as_bytes());
    }
    d.wait_stored(40);
    d.ctl("POST", "/pause");
    d.send_unix(b"<13>1 - host app - - - dropped while paused");
    let before = loop {
        let s = d.status();
        if s["counters"]["dropped_paused"] == 1 {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stored = texts(&d.json(""));
    let answer = d.ctl("POST", "/restart");
    // The same process after execve, answering from its new image.
    assert_eq!(answer["pid"], d.child.id(), "{answer}");
    assert_eq!(answer["restored"]["pid"], d.child.id(), "{answer}");
    assert_eq!(answer["restored"]["messages"], 40, "{answer}");
    assert_eq!(answer["restored"]["dropped"], 0, "{answer}");
    let after = d.status();
    assert_eq!(after["epoch"], before["epoch"], "{after}");
    assert_eq!(after["paused"], true, "{after}");
    assert_eq!(after["counters"], before["counters"], "{after}");
    assert_eq!(after["last_seq"], 39, "{after}");
    assert_ne!(after["restored"], serde_json::Value::Null, "{after}");
    assert_eq!(texts(&d.json("")), stored);
    d.ctl("POST", "/resume");
    d.send_unix(b"<13>1 - host app - - - after the restart");
    d.wait_stored(41);
    assert_eq!(
        texts(&d.json("")).last().expect("one"),
        &(40, "after the restart".to_string())
    );
    // The socket files are still the daemon's own: removed when it stops.
    let (ctl, syslog) = (d.ctl.clone(), d.syslog.clone());
    assert!(d.stop().success());
    assert!(
        !ctl.exists() && !syslog.exists(),
        "socket files left behind"
    );
}

#[test]
fn post_restart_keeps_the_snapshots_their_content_and_the_pause() {
    let dir = tempfile::tempdir().expect("dir");
    let d = crate::util::daemon()
        .program(&copied_daemon(dir.path()))
        .start();
    for i in 0..30 {
        d.send_unix(format!("<13>1 - host app - - - before {i}").as_bytes());
    }
    d.wait_stored(30);
    let id = d.ctl("POST", "/snapshot?note=kept%20across")["id"].clone();
    // A second, deleted: the counters say so after the restart too.
    let gone = d.ctl("POST", "/snapshot")["id"].clone();
    for i in 0..10 {
        d.send_unix(format!("<11>1 - host app - - - after {i}").as_bytes());
    }
    d.wait_stored(40);
    d.ctl("DELETE", &format!("/snapshots/{gone}"));
    d.ctl("POST", "/pause");
    let list = d.ctl("GET", "/snapshots");
    assert_eq!(list["snapshots"][0]["taking"], false, "{list}");
    let reads = [
        format!("/snapshots/{id}/?fmt=json"),
        format!("/snapshots/{id}/?fmt=raw"),
        format!("/snapshots/{id}/histogram?buckets=7"),
    ];
    let before: Vec<String> = reads.iter().map(|r| d.get(r)).collect();
    assert_eq!(before[0].lines().count(), 30, "{}", before[0]);

    let answer = d.ctl("POST", "/restart");
    assert_eq!(answer["restored"]["snapshots"], 1, "{answer}");
    assert_eq!(answer["restored"]["snapshots_dropped"], 0, "{answer}");
    let status = d.status();
    assert_eq!(status["paused"], true, "{status}");
    assert_eq!(status["restored"]["snapshots"], 1, "{status}");
    assert_eq!(status["snapshots"]["kept"], 1, "{status}");
    assert_eq!(d.ctl("GET", "/snapshots"), list, "listed as it was");
    for (r, was) in reads.iter().zip(&before) {
        assert_eq!(&d.get(r), was, "{r}");
    }
    // And goes on: the next id is new.
    let next = d.ctl("POST", "/snapshot")["id"].clone();
    assert!(next.as_u64() > gone.as_u64(), "{next} after {gone}");
    let out = Command::new(CTL)
        .arg("--socket")
        .arg(&d.ctl)
        .arg("restart")
        .output()
        .expect("circolog-ctl");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("40 messages and 2 snapshots restored, 0 dropped as invalid"),
        "{said}"
    );
    assert!(d.stop().success());
}

#[test]
fn ctl_restart_from_a_replaced_binary_loses_no_datagram_and_the_follower_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    let program = copied_daemon(dir.path());
    let d = crate::util::daemon().program(&program).start();
    let old_pid = d.child.id();
    let epoch = d.status()["epoch"].clone();

    let mut tail = Command::new(TAIL)
        .arg("--socket")
        .arg(&d.query)
        .args(["-f", "-n", "-1", "--fmt", "json"])
        .env("TZ", "UTC")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("circolog-tail -f");
    let out = lines_of(tail.stdout.take().expect("stdout"));
    let err = lines_of(tail.stderr.take().expect("stderr"));

    // Blocking sends: while nobody reads, they wait in the socket.
    let syslog = d.syslog.clone();
    let stop_flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop_flag.clone();
    let sender = std::thread::spawn(move || {
        let s = UnixDatagram::unbound().expect("socket");
        let mut n = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let msg = format!("<13>1 - host app - - - stream {n:06}");
            s.send_to(msg.as_bytes(), &syslog).expect("send");
            n += 1;
            if n.is_multiple_of(20) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        n
    });
    std::thread::sleep(Duration::from_millis(400));

    // A newer file in its place, as an upgrade puts it: written beside it
    // and renamed over it. It says it ran, then runs the daemon under the
    // same name.
    let marker = dir.path().join("the new file ran");
    let newer = dir.path().join("circologd.new");
    let real = dir.path().join("circologd.real");
    let text = dir.path().join("circologd.new.text");
    crate::util::install_program(DAEMON.as_ref(), &real);
    std::fs::write(
        &text,
        format!(
            "#!/bin/bash\necho ran > '{}'\nexec -a \"$0\" '{}' \"$@\"\n",
            marker.display(),
            real.display()
        ),
    )
    .expect("write the newer file");
    crate::util::install_program(&text, &newer);
    std::fs::rename(&newer, &program).expect("replace");

    let answer = restart_with_ctl(&d);
    assert!(marker.exists(), "the old file ran again, not the new one");
    assert_eq!(answer["pid"], old_pid, "{answer}");
    assert_eq!(answer["restored"]["pid"], old_pid, "{answer}");
    assert!(
        answer["restored"]["messages"].as_u64().unwrap_or(0) > 0,
        "{answer}"
    );

    std::thread::sleep(Duration::from_millis(400));
    stop_flag.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.join().expect("sender");
    d.wait_stored(sent);
    let status = d.status();
    assert_eq!(status["epoch"], epoch, "the epoch goes on: {status}");
    assert_eq!(status["last_seq"], sent - 1, "nothing more: {status}");

    // Every datagram sent arrived, in order, each with the seq of its
    // place.
    let want: Vec<(u64, String)> = (0..sent).map(|n| (n, format!("stream {n:06}"))).collect();
    assert_eq!(texts(&d.json("")), want);

    // The follower printed each exactly once, across the restart.
    let mut followed = Vec::new();
    while followed.len() < sent as usize {
        let line = out
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| {
                let said: Vec<String> = err.try_iter().collect();
                panic!("{e:?} after {} lines; stderr {said:?}", followed.len())
            });
        let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        followed.push(v);
    }
    assert_eq!(texts(&followed), want);
    assert!(
        out.recv_timeout(Duration::from_millis(500)).is_err(),
        "more than was sent"
    );
    let said: Vec<String> = err.try_iter().collect();
    assert!(
        said.iter().any(|l| l.contains("(1012)")),
        "closed with 1012: {said:?}"
    );
    assert!(
        said.iter()
            .any(|l| l.contains("reconnected") && !l.contains("restarted")),
        "resumed in the same epoch: {said:?}"
    );
    assert!(
        !said
            .iter()
            .any(|l| l.contains("lost") && !l.contains("lost connection")),
        "nothing reported lost: {said:?}"
    );
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(d.stop().success());
}

#[test]
fn a_restart_that_cannot_execute_answers_500_and_the_daemon_serves_on() {
    let dir = tempfile::tempdir().expect("dir");
    let program = copied_daemon(dir.path());
    let d = crate::util::daemon().program(&program).start();
    d.send_unix(b"<13>1 - host app - - - before");
    d.wait_stored(1);
    std::fs::remove_file(&program).expect("remove the binary");
    // `POST /restart`: the body, then the status code.
    let restart = || {
        let out = d.curl(
            &d.ctl,
            &[
                "-X",
                "POST",
                "-w",
                "%{http_code}",
                &crate::util::url("/restart"),
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = restart();
    assert!(text.ends_with("500"), "{text}");
    assert!(text.contains(&program.display().to_string()), "{text}");
    // Not executable either.
    std::fs::write(&program, "not a program").expect("write");
    let text = restart();
    assert!(text.ends_with("500"), "{text}");
    d.send_unix(b"<13>1 - host app - - - after");
    d.wait_stored(2);
    assert_eq!(
        texts(&d.json("")),
        vec![(0, "before".to_string()), (1, "after".to_string())]
    );
    assert_eq!(d.status()["restored"], serde_json::Value::Null);
    assert!(d.stop().success());
}

#[test]
fn post_restart_under_a_service_manager_is_refused_with_the_way_there() {
    let mut m = Manager::new();
    let (child, _) = m.start(&[]);
    let out = Command::new("curl")
        .args(["-sS", "-X", "POST", "-w", "%{http_code}", "--unix-socket"])
        .arg(m.path("c.sock"))
        .arg("http://localhost/restart")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("409"), "{text}");
    assert!(text.contains("systemctl restart"), "{text}");
    assert_eq!(m.status()["restored"], serde_json::Value::Null);
    stop(child, "-TERM");
}
