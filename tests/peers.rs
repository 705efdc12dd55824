//! Real syslog daemons in front of circologd: Debian's syslog-ng and rsyslog,
//! each run on its own config in a temporary directory (never the host's
//! `/dev/log` or state directories), fed with `logger -u` on their own input
//! socket and forwarding to circologd the way users configure them.
//!
//! The daemons must be there: `.ci/run` unpacks them with
//! `benches/install-peers.sh` (Debian's packages conflict with one another,
//! so they are unpacked under `CIRCOLOG_PEERS`, default
//! `/opt/circolog-peers`, rather than installed); installed ones on `PATH`
//! do too. A missing one fails its test, saying what to install; it is never
//! skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

use crate::util::{Daemon, daemon, logger};

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

/// The syslog-ng destination users put in their config (README), forwarding
/// to circologd's `-syslogd-socket` as RFC 5424, and trying again a second
/// after circologd went away rather than the default minute.
const SYSLOG_NG_DESTINATION: &str = r#"destination d_circolog { unix-dgram("/run/circolog-syslog.sock" flags(syslog-protocol) time-reopen(1)); };"#;

/// The rsyslog lines users put in their config (README): over the unix
/// socket, with the space rsyslog leaves before the text removed.
const RSYSLOG_FORWARD: &str = "module(load=\"omuxsock\")\n\
     module(load=\"mmrm1stspace\")\n\
     $OMUxSockSocket /run/circolog-syslog.sock\n\
     *.* action(type=\"mmrm1stspace\")\n\
     *.* :omuxsock:;RSYSLOG_SyslogProtocol23Format\n";

/// How to get the peers, for the message of a test that cannot find one.
const INSTALL: &str = ".ci/run installs it: sh benches/install-peers.sh unpacks Debian's \
     syslog-ng-core and rsyslog into $CIRCOLOG_PEERS (default /opt/circolog-peers)";

#[test]
fn syslog_ng_forwards_over_unix_dgram_as_rfc5424() {
    let d = daemon().start();
    let mut peer = syslog_ng(&d.syslog);
    peer.send(&[
        "-t",
        "ngapp",
        "--id=4242",
        "-p",
        "local3.warning",
        "hello through syslog-ng: café ✓",
    ]);
    peer.send(&["-t", "ngauth", "-p", "auth.err", "no pid here"]);

    let m = peer.wait_message(&d, "ngapp");
    check(
        &m,
        &Expected {
            app: "ngapp",
            proc_id: Some("4242"),
            facility: "local3",
            severity: "warning",
            message: "hello through syslog-ng: café ✓",
        },
    );
    assert_eq!(m["transport"], "unix", "{m}");
    // The kernel names the forwarding daemon as the sender.
    assert_eq!(m["cred_pid"], peer.child.id(), "{m}");
    // syslog-ng adds its own structured data in RFC 5424.
    assert!(
        m["structured_data"]["meta"]["sequenceId"].is_string(),
        "{m}"
    );

    let m = peer.wait_message(&d, "ngauth");
    check(
        &m,
        &Expected {
            app: "ngauth",
            proc_id: None,
            facility: "auth",
            severity: "err",
            message: "no pid here",
        },
    );
}

#[test]
fn rsyslog_forwards_over_unix_dgram_as_rfc5424() {
    let d = daemon().start();
    let forward = format!(
        "module(load=\"omuxsock\")\n\
         $OMUxSockSocket {}\n\
         *.* :omuxsock:;RSYSLOG_SyslogProtocol23Format\n",
        d.syslog.display()
    );
    let mut peer = rsyslog(&forward);
    send_two(&peer);
    let m = check_two(&mut peer, &d);
    assert_eq!(m["transport"], "unix", "{m}");
    assert_eq!(m["cred_pid"], peer.child.id(), "{m}");
}

/// The README's rsyslog recipe: mmrm1stspace takes away the space rsyslog
/// leaves after the tag, so the text arrives as it was logged.
#[test]
fn rsyslog_with_the_readme_recipe_sends_the_text_as_logged() {
    let d = daemon().start();
    let forward = RSYSLOG_FORWARD.replace(
        "/run/circolog-syslog.sock",
        d.syslog.to_str().expect("a UTF-8 path"),
    );
    let mut peer = rsyslog(&forward);
    send_two(&peer);
    let m = check_two(&mut peer, &d);
    assert_eq!(m["message"], "hello through rsyslog: café ✓", "{m}");
}

/// With the README's `time-reopen(1)`, syslog-ng sends to a restarted
/// circologd about a second later, instead of holding messages back for
/// its default minute.
#[test]
fn syslog_ng_reaches_a_restarted_circologd_soon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || daemon().at(dir.path()).start();
    let first = start();
    let mut peer = syslog_ng(&first.syslog);
    peer.send(&["-t", "before", "before the restart"]);
    peer.wait_message(&first, "before");
    assert!(first.stop().success());
    let second = start();
    peer.send(&["-t", "after", "after the restart"]);
    let m = peer.wait_message(&second, "after");
    assert_eq!(m["message"], "after the restart", "{m}");
}

#[test]
fn rsyslog_forwards_over_tcp_with_octet_counting() {
    let d = daemon().net().start();
    let addr = d.addr.expect("started with .net()");
    let forward = format!(
        "action(type=\"omfwd\" target=\"{}\" port=\"{}\" protocol=\"tcp\" \
         TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")\n",
        addr.ip(),
        addr.port()
    );
    let mut peer = rsyslog(&forward);
    send_two(&peer);
    let m = check_two(&mut peer, &d);
    assert_eq!(m["transport"], "tcp", "{m}");
}

fn send_two(peer: &Peer) {
    peer.send(&[
        "-t",
        "rsapp",
        "--id=4242",
        "-p",
        "mail.err",
        "hello through rsyslog: café ✓",
    ]);
    peer.send(&["-t", "rsother", "-p", "local7.debug", "no pid here"]);
}

/// Checks both messages of [`send_two`] and returns the first.
fn check_two(peer: &mut Peer, d: &Daemon) -> Value {
    let first = peer.wait_message(d, "rsapp");
    check(
        &first,
        &Expected {
            app: "rsapp",
            proc_id: Some("4242"),
            facility: "mail",
            severity: "err",
            message: "hello through rsyslog: café ✓",
        },
    );
    let m = peer.wait_message(d, "rsother");
    check(
        &m,
        &Expected {
            app: "rsother",
            proc_id: None,
            facility: "local7",
            severity: "debug",
            message: "no pid here",
        },
    );
    first
}

struct Expected<'a> {
    app: &'a str,
    proc_id: Option<&'a str>,
    facility: &'a str,
    severity: &'a str,
    message: &'a str,
}

/// The fields of a message that went logger → peer → circologd.
fn check(m: &Value, want: &Expected<'_>) {
    assert!(m.get("malformed").is_none(), "parsed as RFC 5424: {m}");
    assert_eq!(m["app_name"], want.app, "{m}");
    assert_eq!(m["proc_id"].as_str(), want.proc_id, "{m}");
    assert_eq!(m["facility"], want.facility, "{m}");
    assert_eq!(m["severity"], want.severity, "{m}");
    assert_eq!(m["msg_id"], Value::Null, "{m}");
    // rsyslog's %msg% keeps the space that followed the tag's colon, so its
    // RFC 5424 line has two spaces before the text; the text is the same.
    let message = m["message"].as_str().expect("a message");
    assert_eq!(message.trim_start_matches(' '), want.message, "{m}");
    // Both daemons name local messages with the short host name.
    assert_eq!(m["hostname"], short_hostname(), "{m}");
    // logger's local time, written by the peer with its UTC offset, is the
    // same instant as circologd's receive time, give or take the trip.
    let when = |key: &str| -> jiff::Timestamp {
        m[key]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{key} is an RFC 3339 time: {m}"))
    };
    let skew = when("received").duration_since(when("timestamp"));
    assert!(
        skew.abs() < jiff::SignedDuration::from_secs(60),
        "timestamp {skew:?} away from the receive time: {m}"
    );
}

fn short_hostname() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    name.trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A peer syslog daemon on its own temporary directory, stopped when
/// dropped, also when the test fails.
struct Peer {
    name: &'static str,
    child: Child,
    /// Its unix datagram input, where `logger -u` writes.
    input: PathBuf,
    /// Its stdout and stderr, shown when a test fails.
    log: PathBuf,
    /// Removed after the peer stopped (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl Peer {
    fn start(name: &'static str, mut cmd: Command, dir: tempfile::TempDir) -> Peer {
        let log = dir.path().join("output.log");
        let out = fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let input = dir.path().join("in.sock");
        let mut peer = Peer {
            name,
            child,
            input: input.clone(),
            log,
            _dir: dir,
        };
        peer.wait_until("its input socket exists", || input.exists());
        peer
    }

    /// `logger -d -u INPUT ARGS...`
    fn send(&self, args: &[&str]) {
        let input = self.input.to_str().expect("a UTF-8 path");
        let mut all = vec!["-d", "-u", input];
        all.extend_from_slice(args);
        logger(&all);
    }

    /// Waits for the message from `app` to be stored and returns it.
    fn wait_message(&mut self, d: &Daemon, app: &str) -> Value {
        let mut found = None;
        self.wait_until(&format!("circologd stored the message from {app}"), || {
            found = d.json(&format!("app={app}")).into_iter().next();
            found.is_some()
        });
        found.expect("found")
    }

    /// Polls `done` until it holds, failing with the peer's output when the
    /// peer exits or [`WAIT`] passes.
    fn wait_until(&mut self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done() {
            let exited = !matches!(self.child.try_wait(), Ok(None));
            if exited || Instant::now() > deadline {
                let why = if exited { "exited" } else { "timed out" };
                panic!(
                    "{} {why} before {what}; its output:\n{}",
                    self.name,
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let pid = Pid::from_child(&self.child);
        let _ = kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// syslog-ng reading a unix datagram socket and forwarding everything with
/// the README's destination, its path swapped for `circolog_socket`.
fn syslog_ng(circolog_socket: &Path) -> Peer {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let destination = SYSLOG_NG_DESTINATION.replace(
        "/run/circolog-syslog.sock",
        circolog_socket.to_str().expect("a UTF-8 path"),
    );
    let conf = format!(
        "@version: {version}\n\
         source s_test {{ unix-dgram(\"{input}\"); }};\n\
         {destination}\n\
         log {{ source(s_test); destination(d_circolog); }};\n",
        version = syslog_ng_config_version(),
        input = path("in.sock").display(),
    );
    fs::write(path("syslog-ng.conf"), conf).expect("write config");
    let mut cmd = syslog_ng_command();
    cmd.arg("-F")
        .arg("-e")
        .arg("--no-caps")
        .arg("-f")
        .arg(path("syslog-ng.conf"))
        .arg("-p")
        .arg(path("syslog-ng.pid"))
        .arg("-R")
        .arg(path("syslog-ng.persist"))
        .arg("-c")
        .arg(path("syslog-ng.ctl"));
    Peer::start("syslog-ng", cmd, dir)
}

/// The config version the syslog-ng at hand speaks (`@version:`), so the
/// config reads the same to any version.
fn syslog_ng_config_version() -> String {
    let out = syslog_ng_command()
        .arg("--version")
        .output()
        .expect("syslog-ng --version");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Config version:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "3.35".to_string())
}

/// `syslog-ng`, unpacked (with its library and module paths) or installed.
fn syslog_ng_command() -> Command {
    let root = peers_prefix().join("syslog-ng-core");
    let bin = root.join("usr/sbin/syslog-ng");
    if bin.is_file() {
        // Its shared library is in usr/lib/syslog-ng, its modules in the
        // one versioned directory there.
        let lib = root.join("usr/lib/syslog-ng");
        let modules = fs::read_dir(&lib)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("libafsocket.so").exists())
            .unwrap_or_else(|| panic!("no syslog-ng modules in {}; {INSTALL}", lib.display()));
        let mut cmd = Command::new(bin);
        cmd.env("LD_LIBRARY_PATH", &lib)
            .arg(format!("--module-path={}", modules.display()));
        return cmd;
    }
    match find_binary("syslog-ng") {
        Some(bin) => Command::new(bin),
        None => panic!("syslog-ng is not installed; {INSTALL}"),
    }
}

/// rsyslog reading a unix datagram socket (not the system one) and
/// forwarding everything with the `forward` config lines.
fn rsyslog(forward: &str) -> Peer {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let conf = format!(
        "global(workDirectory=\"{dir}\")\n\
         module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
         input(type=\"imuxsock\" Socket=\"{input}\")\n\
         {forward}",
        dir = dir.path().display(),
        input = path("in.sock").display(),
    );
    fs::write(path("rsyslog.conf"), conf).expect("write config");
    let mut cmd = rsyslog_command();
    cmd.arg("-n")
        .arg("-f")
        .arg(path("rsyslog.conf"))
        .arg("-i")
        .arg(path("rsyslog.pid"));
    Peer::start("rsyslog", cmd, dir)
}

/// `rsyslogd`, unpacked (with its module directory) or installed.
fn rsyslog_command() -> Command {
    let root = peers_prefix().join("rsyslog");
    let bin = root.join("usr/sbin/rsyslogd");
    if bin.is_file() {
        // Modules are in usr/lib/<multiarch triplet>/rsyslog.
        let modules = fs::read_dir(root.join("usr/lib"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("rsyslog"))
            .find(|p| p.join("imuxsock.so").exists())
            .unwrap_or_else(|| panic!("no rsyslog modules in {}; {INSTALL}", root.display()));
        let mut cmd = Command::new(bin);
        cmd.arg("-M").arg(modules);
        return cmd;
    }
    match find_binary("rsyslogd") {
        Some(bin) => Command::new(bin),
        None => panic!("rsyslogd is not installed; {INSTALL}"),
    }
}

/// Where the peers are unpacked.
fn peers_prefix() -> PathBuf {
    std::env::var_os("CIRCOLOG_PEERS")
        .map_or_else(|| PathBuf::from("/opt/circolog-peers"), PathBuf::from)
}

/// A program in `PATH` or in the sbin directories, which a user's `PATH`
/// may lack.
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
