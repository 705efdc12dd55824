//! Which socket is which: the lines that say why connecting failed, what a
//! socket that is not circologd's query or control API is, and which
//! circologd runs instead. The only I/O is looking: [`running_daemons`]
//! reads `/proc`, [`not_a_socket`] a path's metadata, when a connection
//! has already failed.

use std::io;

use super::{Head, io_reason};

/// Which of circologd's APIs a client wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `GET /`, `/ws`: `circolog-tail`.
    Query,
    /// `/status`, `/pause`, …: `circolog-ctl`.
    Control,
}

impl Role {
    fn socket(self) -> &'static str {
        match self {
            Role::Query => "query socket",
            Role::Control => "control socket",
        }
    }
}

/// Why connecting failed, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectFailure {
    pub line: String,
    /// Nothing is there yet (no socket file, nobody listening): a daemon
    /// that starts later will be. Anything else (no permission, a socket
    /// of the wrong kind) stays wrong until the user changes something.
    pub absent: bool,
}

/// The line that says why connecting to `target` for `role` failed.
/// `hint` says, when nothing is there, what is running instead (see
/// [`absent_hint`]); it is only called then.
pub fn connect_failure(
    target: &str,
    role: Role,
    e: &io::Error,
    hint: impl FnOnce() -> String,
) -> ConnectFailure {
    let (line, absent) = match e.kind() {
        io::ErrorKind::PermissionDenied => (
            format!("not allowed to use {target}: {}", io_reason(e)),
            false,
        ),
        // A stream connect to a datagram socket.
        _ if e.raw_os_error() == Some(libc::EPROTOTYPE) => (
            format!(
                "{target} is a datagram socket, not circologd's {}: it looks like a syslog \
                 input (-syslogd-socket), which only takes messages",
                role.socket()
            ),
            false,
        ),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => (
            format!("cannot connect to {target}: {} ({})", io_reason(e), hint()),
            true,
        ),
        _ => (
            format!("cannot connect to {target}: {}", io_reason(e)),
            false,
        ),
    };
    ConnectFailure { line, absent }
}

/// `path` is not something a client can connect to: it exists and is not
/// a socket. (A connect to a regular file says "connection refused",
/// which would send the user looking for a daemon.)
pub fn not_a_socket(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path).ok()?;
    (!meta.file_type().is_socket()).then(|| {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "a file"
        };
        format!("{} is {what}, not a socket", path.display())
    })
}

/// The line for a socket that answers HTTP but with the other API: the
/// control socket given to `circolog-tail`, or the query socket to
/// `circolog-ctl`.
pub fn wrong_api(target: &str, wanted: Role) -> String {
    match wanted {
        Role::Query => format!(
            "{target} is circologd's control socket, not its query socket: it is for \
             circolog-ctl (the query socket is circologd's -query-socket)"
        ),
        Role::Control => format!(
            "{target} is circologd's query socket, not its control socket: it is for \
             circolog-tail and curl (the control socket is circologd's -ctl-socket)"
        ),
    }
}

/// Whether a `GET /status` answer is circologd's control API.
pub fn is_control_status(head: &Head, body: &[u8]) -> bool {
    head.status == 200
        && serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v["paused"].is_boolean() && v["version"].is_string())
}

/// Whether a `GET /?l=0` answer is circologd's query API.
pub fn is_query_answer(head: &Head) -> bool {
    head.status == 200 && head.header("x-circolog-epoch").is_some()
}

/// `--addr`: a `HOST:PORT`. A URL or a path is refused with what to write
/// instead.
pub fn parse_addr(s: &str) -> Result<String, String> {
    if let Some((_, rest)) = s.split_once("://") {
        let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
        return Err(if host_port.is_empty() {
            "takes HOST:PORT, not a URL".to_string()
        } else {
            format!("takes HOST:PORT, not a URL: --addr {host_port}")
        });
    }
    if s.starts_with('/') || s.starts_with('.') {
        return Err(format!("takes HOST:PORT; a unix socket is --socket {s}"));
    }
    if !s.contains(':') {
        return Err(format!("takes HOST:PORT (e.g. 127.0.0.1:8514), not {s:?}"));
    }
    Ok(s.to_string())
}

/// A circologd process, as `/proc` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningDaemon {
    pub pid: u32,
    pub uid: Option<u32>,
    /// Its arguments, without the program name.
    pub args: Vec<String>,
}

/// The circologd processes this process can see, or `None` when `/proc`
/// cannot be read.
pub fn running_daemons() -> Option<Vec<RunningDaemon>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let is_daemon =
            std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == "circologd");
        if !is_daemon {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let args = cmdline
            .split(|&b| b == 0)
            .skip(1)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let uid = std::fs::read_to_string(dir.join("status"))
            .ok()
            .and_then(|st| {
                st.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
            });
        found.push(RunningDaemon { pid, uid, args });
    }
    found.sort_by_key(|d| d.pid);
    Some(found)
}

/// The values of circologd's flag `name` in `args`, in any of the forms
/// it accepts (`-name V`, `--name V`, `-name=V`, `--name=V`).
fn flag_values(args: &[String], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            continue;
        };
        if body == name {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = body.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            out.push(v.to_string());
        }
    }
    out
}

/// The flags that make circologd listen somewhere.
const LISTENER_FLAGS: [&str; 5] = [
    "syslogd-socket",
    "syslog-addr",
    "query-socket",
    "query-addr",
    "ctl-socket",
];

/// What to say, when nothing answers at `target` (a socket path, or
/// `None` for an address), about the circologd processes that do run
/// (`daemons`, `None` when they could not be looked for): where their
/// socket for `role` is, or that they have none. A daemon with a socket
/// in the directory of `target` is the one the user most likely meant.
/// `my_uid` is the client's user.
pub fn absent_hint(
    role: Role,
    target: Option<&std::path::Path>,
    daemons: Option<&[RunningDaemon]>,
    my_uid: u32,
) -> String {
    let Some(daemons) = daemons else {
        return "is circologd running?".to_string();
    };
    let dir = target.and_then(|t| t.parent());
    let near = |d: &&RunningDaemon| {
        LISTENER_FLAGS.iter().any(|f| {
            flag_values(&d.args, f)
                .iter()
                .any(|p| dir.is_some_and(|dir| std::path::Path::new(p).parent() == Some(dir)))
        })
    };
    let nearest = daemons.iter().find(near);
    let candidates: Vec<&RunningDaemon> = match nearest {
        Some(d) => vec![d],
        None => daemons.iter().collect(),
    };
    let Some(first) = candidates.first().copied() else {
        return "circologd is not running".to_string();
    };
    for d in &candidates {
        let (sockets, addrs) = match role {
            Role::Query => (
                flag_values(&d.args, "query-socket"),
                flag_values(&d.args, "query-addr"),
            ),
            Role::Control => (flag_values(&d.args, "ctl-socket"), Vec::new()),
        };
        if let Some(path) = sockets.first() {
            return format!(
                "circologd (pid {}) has its {} at {path}: use --socket {path}",
                d.pid,
                role.socket()
            );
        }
        if let Some(addr) = addrs.first() {
            return format!(
                "circologd (pid {}) serves queries on {addr}: use --addr {addr}",
                d.pid
            );
        }
    }
    let pid = first.pid;
    let flags = LISTENER_FLAGS
        .iter()
        .any(|f| !flag_values(&first.args, f).is_empty());
    match (flags, role) {
        (true, Role::Query) => format!(
            "circologd (pid {pid}) was started without a query socket (-query-socket or -query-addr)"
        ),
        (true, Role::Control) => format!(
            "circologd (pid {pid}) was started without a control socket (-ctl-socket); \
             kill -USR1 {pid} toggles its pause"
        ),
        (false, _) if first.uid.is_some_and(|u| u != my_uid) => format!(
            "circologd (pid {pid}) runs as uid {}, on that user's default sockets",
            first.uid.unwrap_or_default()
        ),
        (false, _) => format!(
            "circologd (pid {pid}) runs on its default sockets for another XDG_RUNTIME_DIR, \
             or on sockets systemd passed it"
        ),
    }
}

/// The first line of an error body, or the reason phrase when it is empty,
/// escaped ([`super::escape_text`]): it is the peer's text.
pub fn error_line(head: &Head, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    let line = match line {
        Some(l) => l.chars().take(300).collect(),
        None => format!("{} {}", head.status, head.reason),
    };
    super::escape_text(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reasons_and_connect_failures() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        let hint = || "is circologd running?".to_string();
        assert_eq!(
            connect_failure("/run/q.sock", Role::Query, &e, hint),
            ConnectFailure {
                line: "cannot connect to /run/q.sock: No such file or directory (is circologd running?)"
                    .into(),
                absent: true
            }
        );
        let e = io::Error::from_raw_os_error(libc::EACCES);
        let f = connect_failure("/run/q.sock", Role::Query, &e, hint);
        assert!(f.line.starts_with("not allowed to use /run/q.sock"));
        assert!(!f.absent);
        let e = io::Error::from_raw_os_error(libc::EPROTOTYPE);
        let f = connect_failure("/run/s.sock", Role::Control, &e, hint);
        assert!(
            f.line
                .starts_with("/run/s.sock is a datagram socket, not circologd's control socket"),
            "{f:?}"
        );
        let head = Head {
            status: 400,
            reason: "Bad Request".into(),
            headers: vec![],
        };
        assert_eq!(
            error_line(&head, b"\nbad sev \"x\"\nmore\n"),
            "bad sev \"x\""
        );
        assert_eq!(error_line(&head, b""), "400 Bad Request");
        assert_eq!(
            error_line(&head, b"bad \x1b[2J\xe2\x80\xae"),
            "bad \\x1b[2J\\u{202e}"
        );
    }

    #[test]
    fn what_runs_instead_is_said() {
        use std::path::Path;
        let d = |pid, uid, args: &[&str]| RunningDaemon {
            pid,
            uid: Some(uid),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        assert_eq!(
            absent_hint(Role::Query, None, None, 0),
            "is circologd running?"
        );
        assert_eq!(
            absent_hint(Role::Query, None, Some(&[]), 0),
            "circologd is not running"
        );
        let seed = [d(
            41,
            0,
            &[
                "-syslogd-socket",
                "/run/circolog-syslog.sock",
                "-query-socket",
                "/run/circolog-query.sock",
            ],
        )];
        assert_eq!(
            absent_hint(Role::Control, None, Some(&seed), 0),
            "circologd (pid 41) was started without a control socket (-ctl-socket); \
             kill -USR1 41 toggles its pause"
        );
        assert_eq!(
            absent_hint(Role::Query, None, Some(&seed), 0),
            "circologd (pid 41) has its query socket at /run/circolog-query.sock: \
             use --socket /run/circolog-query.sock"
        );
        let forms = [d(
            7,
            0,
            &["--ctl-socket=/tmp/c.sock", "-query-addr=127.0.0.1:9"],
        )];
        assert!(
            absent_hint(Role::Control, None, Some(&forms), 0).ends_with("use --socket /tmp/c.sock")
        );
        assert!(
            absent_hint(Role::Query, None, Some(&forms), 0).ends_with("use --addr 127.0.0.1:9")
        );
        let tcp_only = [d(8, 0, &["-syslog-addr", "0.0.0.0:514"])];
        assert!(
            absent_hint(Role::Query, None, Some(&tcp_only), 0).contains("without a query socket"),
        );
        // Another daemon first, then one beside where the user looked.
        let two = [
            d(5, 0, &["-ctl-socket", "/run/other/c.sock"]),
            d(6, 0, &["-query-socket", "/tmp/mine/q.sock"]),
        ];
        let mine = Some(Path::new("/tmp/mine/ctl.sock"));
        assert!(
            absent_hint(Role::Control, mine, Some(&two), 0)
                .starts_with("circologd (pid 6) was started without")
        );
        assert!(
            absent_hint(Role::Control, None, Some(&two), 0)
                .ends_with("use --socket /run/other/c.sock")
        );
        let other_user = [d(9, 1000, &[])];
        assert_eq!(
            absent_hint(Role::Query, None, Some(&other_user), 0),
            "circologd (pid 9) runs as uid 1000, on that user's default sockets"
        );
        assert!(absent_hint(Role::Query, None, Some(&other_user), 1000).contains("systemd"));
    }

    #[test]
    fn addresses_not_urls() {
        assert_eq!(parse_addr("127.0.0.1:8514"), Ok("127.0.0.1:8514".into()));
        assert_eq!(parse_addr("[::1]:8514"), Ok("[::1]:8514".into()));
        assert_eq!(
            parse_addr("http://127.0.0.1:8514/ui"),
            Err("takes HOST:PORT, not a URL: --addr 127.0.0.1:8514".into())
        );
        assert_eq!(
            parse_addr("ws://localhost:8514/ws?fmt=json"),
            Err("takes HOST:PORT, not a URL: --addr localhost:8514".into())
        );
        assert!(parse_addr("/run/circolog-query.sock").is_err_and(|e| e.contains("--socket")));
        assert!(parse_addr("localhost").is_err());
    }
}
