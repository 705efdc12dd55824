//! The client side of the query and control APIs, shared by `circolog-tail`
//! and `circolog-ctl`.
//!
//! Most of it is plain code without I/O:
//!
//! * [`parse_json_line`] and [`render_short`], the `short` format of
//!   `circolog-tail`, and the severity colours;
//! * [`plan`], the follower's decision of where to resume after a
//!   reconnection;
//! * [`parse_json_line`] and [`render_syslog`], the `syslog` lines
//!   `circolog-tail -f` writes from the JSON it follows;
//! * [`summarize_status`], the human summary of `circolog-ctl status`;
//! * [`connect_failure`], [`absent_hint`] and [`wrong_api`], the lines that
//!   say which socket a user gave a client, and which circologd runs
//!   instead.
//!
//! The function that reads and writes, [`exchange`], does so on a stream
//! its caller opened: the binaries own the sockets. The only other I/O is
//! looking: [`running_daemons`] reads `/proc`, [`not_a_socket`] a path's
//! metadata, when a connection has already failed.

use std::fmt;
use std::io::{self, Read, Write};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

pub use crate::http::response::{Head, HttpError, ResponseDecoder};
use crate::ingest::syslog::SEVERITY_NAMES;
use crate::query::encode_component;
use crate::store::ring::Seq;

pub mod status;
pub use status::{Histogram, describe_state, query_socket_for, sparkline, summarize_status};

/// A request without a body, closing the connection after the response.
pub fn request(method: &str, target: &str, host: &str) -> Vec<u8> {
    let mut out = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: circolog/{}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if method == "POST" {
        out.push_str("Content-Length: 0\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Why an [`exchange`] failed.
#[derive(Debug)]
pub enum ExchangeError {
    /// Reading from or writing to the connection failed.
    Io(io::Error),
    /// The peer's response is not valid HTTP.
    Http(HttpError),
    /// The body's consumer failed (e.g. standard output was closed).
    Sink(io::Error),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Io(e) | ExchangeError::Sink(e) => f.write_str(&io_reason(e)),
            ExchangeError::Http(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExchangeError {}

/// Writes `request` on `stream` and reads the response, handing the body to
/// `sink` piece by piece as it arrives (with the head, so that it can tell
/// an error body from a good one). Returns the head.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
    request: &[u8],
    mut sink: impl FnMut(&Head, &[u8]) -> io::Result<()>,
) -> Result<Head, ExchangeError> {
    // A daemon that refuses the peer (403) may answer and close before
    // reading the request: its answer is still worth reading.
    let write_failed = stream
        .write_all(request)
        .and_then(|()| stream.flush())
        .err();
    let mut decoder = ResponseDecoder::new();
    let mut buf = vec![0; 64 * 1024];
    let mut body = Vec::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ExchangeError::Io(write_failed.unwrap_or(e))),
        };
        let decoded = if n == 0 {
            decoder.finish()
        } else {
            decoder.feed(&buf[..n], &mut body)
        };
        if let Err(e) = decoded {
            return Err(match write_failed {
                Some(w) if decoder.head().is_none() => ExchangeError::Io(w),
                _ => ExchangeError::Http(e),
            });
        }
        if let Some(head) = decoder.head()
            && !body.is_empty()
        {
            sink(head, &body).map_err(ExchangeError::Sink)?;
            body.clear();
        }
        if decoder.is_done() {
            return decoder
                .take_head()
                .ok_or(ExchangeError::Http(HttpError::Truncated));
        }
    }
}

/// An I/O error's description without the `(os error N)` suffix.
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

// ---- which socket is which ----

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

/// The first line of an error body, or the reason phrase when it is empty.
pub fn error_line(head: &Head, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        Some(l) => l.chars().take(300).collect(),
        None => format!("{} {}", head.status, head.reason),
    }
}

// ---- queries ----

/// The filters of a query, passed to the daemon as they were given: it
/// checks them and says what is wrong with a bad one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub sev: Option<String>,
    pub fac: Option<String>,
    pub host: Option<String>,
    pub app: Option<String>,
    pub grep: Option<String>,
    pub re: Option<String>,
    pub not: Option<String>,
    /// `from=`: RFC 3339 or an age, as the daemon reads it.
    pub from: Option<String>,
    pub until: Option<String>,
}

/// The one list a list flag (`--app`, `--host`, `--fac`) given `values`
/// stands for: repeats join into one list, as the daemon takes a parameter
/// once. A leading `!` negates the whole list, so the repeats must agree on
/// it (`--app '!cron' --app anacron` is `app=!cron,anacron`); `--app sshd
/// --app '!cron'` asks for two different things and is refused. `None` for
/// no value.
pub fn join_list(flag: &str, values: &[String]) -> Result<Option<String>, String> {
    let Some(first) = values.first() else {
        return Ok(None);
    };
    let negated = first.starts_with('!');
    let mut list = String::new();
    if negated {
        list.push('!');
    }
    for (i, v) in values.iter().enumerate() {
        let items = match v.strip_prefix('!') {
            Some(rest) if negated => rest,
            None if !negated => v.as_str(),
            _ => {
                return Err(format!(
                    "--{flag}: either every {flag} given is negated with a leading ! or none is \
                     (got {first:?} and {v:?})"
                ));
            }
        };
        if i > 0 {
            list.push(',');
        }
        list.push_str(items);
    }
    Ok(Some(list))
}

/// Where a request starts in the daemon's ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The last N matching messages (`l=N`).
    Last(u64),
    /// Every matching message in the ring (neither `l` nor `since`).
    All,
    /// The messages after this seq (`since=SEQ`).
    Since(Seq),
}

/// The query string (without `?`) for `start`, in wire format `fmt`.
pub fn query_string(start: Start, fmt: &str, filters: &Filters) -> String {
    let mut q = match start {
        Start::Last(n) => format!("l={n}&"),
        Start::All => String::new(),
        Start::Since(s) => format!("since={s}&"),
    };
    q.push_str("fmt=");
    q.push_str(&encode_component(fmt));
    for (name, value) in [
        ("sev", &filters.sev),
        ("fac", &filters.fac),
        ("host", &filters.host),
        ("app", &filters.app),
        ("grep", &filters.grep),
        ("re", &filters.re),
        ("not", &filters.not),
        ("from", &filters.from),
        ("until", &filters.until),
    ] {
        if let Some(v) = value {
            q.push('&');
            q.push_str(name);
            q.push('=');
            q.push_str(&encode_component(v));
        }
    }
    q
}

// ---- following: where to resume ----

/// What a follower knows of its position in one daemon's ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The daemon process the seqs below belong to.
    pub epoch: i64,
    /// The seq of the last message printed from this daemon.
    pub printed: Option<Seq>,
    /// When nothing has been printed yet: the newest seq in the ring when
    /// following started with `-n`, or the seq following started after
    /// (`--after-seq`), so that a resume asks for what came after it rather
    /// than the whole ring.
    pub floor: Option<Seq>,
}

/// Decides where a (re)connection to the daemon with `epoch` starts, and
/// the cursor to keep for it.
///
/// * First connection: `initial` (what `-n` asked for).
/// * Same daemon (same epoch): after the last message printed, so that
///   nothing is printed twice and nothing still in the ring is missed; if
///   nothing was printed yet, after the floor, or the whole ring when there
///   is none.
/// * Another daemon (new epoch): its seqs started again, so its whole
///   buffer is new to us.
///
/// `newest` is the newest seq in the ring now (`None` when it is empty).
pub fn plan(
    prev: Option<&Cursor>,
    initial: Start,
    epoch: i64,
    newest: Option<Seq>,
) -> (Start, Cursor) {
    let fresh = Cursor {
        epoch,
        printed: None,
        floor: None,
    };
    match prev {
        None => {
            let floor = match initial {
                Start::Last(_) => newest,
                // `--after-seq`: a reconnection before anything was
                // printed still starts after that seq.
                Start::Since(s) => Some(s),
                Start::All => None,
            };
            (initial, Cursor { floor, ..fresh })
        }
        Some(c) if c.epoch != epoch => (Start::All, fresh),
        Some(c) => (c.printed.or(c.floor).map_or(Start::All, Start::Since), *c),
    }
}

// ---- the json wire format ----

/// One stored message, as `fmt=json` writes it (the fields `short` and
/// `syslog` are rendered from).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct JsonMessage {
    pub seq: Seq,
    pub epoch: i64,
    pub received: String,
    pub timestamp: Option<String>,
    pub facility: String,
    pub severity: String,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    pub malformed: bool,
    pub structured_data: Option<StructuredData>,
    pub message: String,
}

/// `structured_data` of `fmt=json` in the order the daemon wrote it (the
/// message's order): elements, their params, each param's values (one,
/// or several when the name was repeated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StructuredData(pub Vec<SdElement>);

/// One element of [`StructuredData`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<SdParam>,
}

/// One param of an [`SdElement`]: a name and its values in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdParam {
    pub name: String,
    pub values: Vec<String>,
}

impl<'de> Deserialize<'de> for StructuredData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, Visitor};

        /// One value, or the array a repeated name becomes.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            One(String),
            Many(Vec<String>),
        }

        struct Params;
        impl<'de> Visitor<'de> for Params {
            type Value = Vec<SdParam>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured-data params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((name, values)) = map.next_entry::<String, Values>()? {
                    let values = match values {
                        Values::One(v) => vec![v],
                        Values::Many(vs) => vs,
                    };
                    out.push(SdParam { name, values });
                }
                Ok(out)
            }
        }
        struct Element(Vec<SdParam>);
        impl<'de> Deserialize<'de> for Element {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(Params).map(Element)
            }
        }
        struct Elements;
        impl<'de> Visitor<'de> for Elements {
            type Value = StructuredData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured-data elements")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((id, Element(params))) = map.next_entry::<String, Element>()? {
                    out.push(SdElement { id, params });
                }
                Ok(StructuredData(out))
            }
        }
        d.deserialize_map(Elements)
    }
}

/// One line of `fmt=json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonLine {
    Message(Box<JsonMessage>),
    /// `{"skipped":N,"epoch":E}`: the ring overwrote N messages before the
    /// follower read them.
    Skipped {
        count: u64,
        epoch: i64,
    },
    /// `{"cleared":true,"epoch":E}`: the buffer was cleared.
    Cleared {
        epoch: i64,
    },
    /// `{"paused":true|false,"epoch":E}`: the daemon paused or resumed.
    Paused {
        paused: bool,
        epoch: i64,
    },
    /// `{"snapshot":ID,"why":W,"epoch":E}`: a snapshot was taken.
    Snapshot {
        id: u64,
        why: String,
        epoch: i64,
    },
}

#[derive(Deserialize)]
struct AnyLine {
    seq: Option<Seq>,
    skipped: Option<u64>,
    #[serde(default)]
    cleared: bool,
    paused: Option<bool>,
    snapshot: Option<u64>,
    #[serde(default)]
    why: String,
    #[serde(default)]
    epoch: i64,
}

/// Parses one line of `fmt=json`: a message or a notice.
pub fn parse_json_line(line: &str) -> Result<JsonLine, serde_json::Error> {
    let any: AnyLine = serde_json::from_str(line)?;
    if any.seq.is_some() {
        return serde_json::from_str(line).map(|m| JsonLine::Message(Box::new(m)));
    }
    if let Some(count) = any.skipped {
        return Ok(JsonLine::Skipped {
            count,
            epoch: any.epoch,
        });
    }
    if any.cleared {
        return Ok(JsonLine::Cleared { epoch: any.epoch });
    }
    if let Some(paused) = any.paused {
        return Ok(JsonLine::Paused {
            paused,
            epoch: any.epoch,
        });
    }
    if let Some(id) = any.snapshot {
        return Ok(JsonLine::Snapshot {
            id,
            why: any.why,
            epoch: any.epoch,
        });
    }
    Err(<serde_json::Error as serde::de::Error>::custom(
        "neither a message nor a notice",
    ))
}

/// Appends a message in the `short` format, without a line end:
///
/// ```text
/// Jan  8 19:46:03 myhost sshd[1234]: Accepted publickey for alice
/// ```
///
/// * The time is the message's own timestamp, or its receive time when it
///   has none, in `tz` (the local zone), as `Mmm dd hh:mm:ss` with the day
///   padded with a space, as syslog writes it.
/// * The hostname is left out when the message has none (as `logread`
///   does): the glibc `/dev/log` form carries none.
/// * `app[pid]:` is the app name and process id; `[pid]` is left out when
///   there is no process id, and the whole tag when there is no app name.
/// * Control characters in any field are escaped as in `fmt=syslog`
///   (`\n`, `\r`, `\xHH`), so one message stays one line and cannot drive
///   the terminal.
pub fn render_short(msg: &JsonMessage, tz: &TimeZone, out: &mut String) {
    let time = msg
        .timestamp
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .or_else(|| msg.received.parse::<Timestamp>().ok());
    match time {
        Some(t) => {
            use fmt::Write as _;
            let _ = write!(out, "{}", tz.to_datetime(t).strftime("%b %e %H:%M:%S"));
        }
        None => out.push_str("--- -- --:--:--"),
    }
    if let Some(host) = msg.hostname.as_deref().filter(|h| !h.is_empty()) {
        out.push(' ');
        push_escaped(out, host);
    }
    if let Some(app) = msg.app_name.as_deref().filter(|a| !a.is_empty()) {
        out.push(' ');
        push_escaped(out, app);
        if let Some(pid) = msg.proc_id.as_deref().filter(|p| !p.is_empty()) {
            out.push('[');
            push_escaped(out, pid);
            out.push(']');
        }
        out.push(':');
    }
    if !msg.message.is_empty() {
        out.push(' ');
        push_escaped(out, &msg.message);
    }
}

/// Appends a message as the daemon's `fmt=syslog` writes it, without a
/// line end: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`, the
/// receive time standing in for a missing timestamp, and a malformed
/// message as `<13>1 RECEIVED - - - - - TEXT`. Text is escaped as the daemon
/// escapes it (see [`crate::query::format::render`]), so the line holds no control
/// character. Bytes that were not UTF-8 come as U+FFFD, as in the JSON.
///
/// `circolog-tail --fmt syslog` follows `fmt=json` and writes this, so
/// that every line it prints has a seq to resume after.
pub fn render_syslog(msg: &JsonMessage, out: &mut Vec<u8>) {
    let facility = name_number(&crate::ingest::syslog::FACILITY_NAMES, &msg.facility).unwrap_or(1);
    let severity = name_number(&SEVERITY_NAMES, &msg.severity).unwrap_or(5);
    out.extend_from_slice(
        format!("<{}>1 ", u16::from(facility) * 8 + u16::from(severity)).as_bytes(),
    );
    let time = match &msg.timestamp {
        Some(t) if !msg.malformed => t,
        _ => &msg.received,
    };
    header_field(out, Some(time));
    if msg.malformed {
        out.extend_from_slice(b" - - - - -");
    } else {
        for field in [&msg.hostname, &msg.app_name, &msg.proc_id, &msg.msg_id] {
            out.push(b' ');
            header_field(out, field.as_deref());
        }
        out.push(b' ');
        match msg.structured_data.as_ref().filter(|sd| !sd.0.is_empty()) {
            Some(sd) => {
                for element in &sd.0 {
                    out.push(b'[');
                    header_field(out, Some(&element.id));
                    for param in &element.params {
                        for value in &param.values {
                            out.push(b' ');
                            header_field(out, Some(&param.name));
                            out.extend_from_slice(b"=\"");
                            crate::query::format::escape_sd_param_value(value.as_bytes(), out);
                            out.push(b'"');
                        }
                    }
                    out.push(b']');
                }
            }
            None => out.push(b'-'),
        }
    }
    if !msg.message.is_empty() {
        out.push(b' ');
        crate::query::format::escape_one_line(msg.message.as_bytes(), out);
    }
}

/// The number of a facility or severity name; a number the daemon wrote
/// for a value without a name is taken as it is.
fn name_number(names: &[&str], name: &str) -> Option<u8> {
    names
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
        .or_else(|| name.parse().ok())
}

/// A header field as RFC 5424 allows it: `-` when absent, printable ASCII
/// only (any other byte is `_`, as the daemon writes it).
fn header_field(out: &mut Vec<u8>, field: Option<&str>) {
    match field.filter(|f| !f.is_empty()) {
        Some(f) => out.extend(
            f.bytes()
                .map(|b| if (33..=126).contains(&b) { b } else { b'_' }),
        ),
        None => out.push(b'-'),
    }
}

/// `text` with control characters other than tab written as `\n`, `\r`
/// or `\xHH`.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() && (c as u32) < 0x100 => {
                use fmt::Write as _;
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

// ---- colour ----

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and `NO_COLOR` is unset or
    /// empty, and `TERM` is not `dumb`.
    Auto,
    Always,
    Never,
}

/// Whether to colour, given the choice and the environment.
pub fn use_color(
    choice: ColorChoice,
    stdout_is_terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            stdout_is_terminal
                && no_color.is_none_or(|v| v.is_empty())
                && term.is_none_or(|t| t != "dumb")
        }
    }
}

/// Ends a coloured line.
pub const RESET: &str = "\x1b[0m";

/// The SGR sequence that starts a line of severity `sev` (0 = emerg …
/// 7 = debug): emerg, alert and crit bright red bold, err red, warning
/// yellow, notice bold, info plain, debug dim.
pub fn severity_style(sev: u8) -> Option<&'static str> {
    match sev {
        0..=2 => Some("\x1b[1;91m"),
        3 => Some("\x1b[31m"),
        4 => Some("\x1b[33m"),
        5 => Some("\x1b[1m"),
        7 => Some("\x1b[2m"),
        _ => None,
    }
}

/// The number of a severity name as the daemon writes it.
pub fn severity_number(name: &str) -> Option<u8> {
    SEVERITY_NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
}

/// The severity of a line that starts with `<PRI>` (an `fmt=syslog` line).
pub fn pri_severity(line: &[u8]) -> Option<u8> {
    let rest = line.strip_prefix(b"<")?;
    let end = rest.iter().position(|&b| b == b'>')?;
    if end == 0 || end > 3 {
        return None;
    }
    let pri: u16 = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    u8::try_from(pri % 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that replays a canned response and records what was written.
    struct Canned {
        input: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // One byte at a time: the worst case for the decoder.
            let n = buf.len().min(1);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn exchange_streams_the_body_to_the_sink() {
        let mut s = Canned {
            input: io::Cursor::new(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n0\r\n\r\n"
                    .to_vec(),
            ),
            written: Vec::new(),
        };
        let req = request("GET", "/?l=1", "localhost");
        let mut got = Vec::new();
        let head = exchange(&mut s, &req, |h, b| {
            assert_eq!(h.status, 200);
            got.extend_from_slice(b);
            Ok(())
        })
        .expect("exchange");
        assert_eq!(head.status, 200);
        assert_eq!(got, b"ab\n");
        let written = String::from_utf8(s.written).expect("ascii");
        assert!(written.starts_with("GET /?l=1 HTTP/1.1\r\nHost: localhost\r\n"));
        assert!(written.ends_with("\r\n\r\n"));
        assert!(
            String::from_utf8(request("POST", "/pause", "localhost"))
                .expect("ascii")
                .contains("Content-Length: 0\r\n")
        );
    }

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

    #[test]
    fn query_strings_encode_filters() {
        let f = Filters {
            sev: Some("err".into()),
            grep: Some("a b&c=d".into()),
            ..Filters::default()
        };
        assert_eq!(
            query_string(Start::Last(10), "json", &f),
            "l=10&fmt=json&sev=err&grep=a%20b%26c%3Dd"
        );
        let f = Filters {
            app: Some("!cron,atd".into()),
            re: Some("^a+$".into()),
            not: Some("x".into()),
            from: Some("2026-12-01T05:00:00+01:00".into()),
            until: Some("10m".into()),
            ..Filters::default()
        };
        assert_eq!(
            query_string(Start::All, "json", &f),
            "fmt=json&app=%21cron%2Catd&re=%5Ea%2B%24&not=x\
             &from=2026-12-01T05%3A00%3A00%2B01%3A00&until=10m"
        );
        assert_eq!(
            query_string(Start::Since(Seq::new(7)), "raw", &Filters::default()),
            "since=7&fmt=raw"
        );
        assert_eq!(
            query_string(Start::All, "json", &Filters::default()),
            "fmt=json"
        );
    }

    #[test]
    fn first_connection_uses_what_the_user_asked() {
        let (start, c) = plan(None, Start::Last(10), 5, Some(Seq::new(99)));
        assert_eq!(start, Start::Last(10));
        assert_eq!(
            c,
            Cursor {
                epoch: 5,
                printed: None,
                floor: Some(Seq::new(99))
            }
        );
        let (start, c) = plan(None, Start::All, 5, Some(Seq::new(99)));
        assert_eq!((start, c.floor), (Start::All, None));
        // `--after-seq 40`: lost before printing anything, it resumes after
        // 40 still, not from the start of the ring.
        let (start, c) = plan(None, Start::Since(Seq::new(40)), 5, Some(Seq::new(99)));
        assert_eq!(
            (start, c.floor),
            (Start::Since(Seq::new(40)), Some(Seq::new(40)))
        );
        assert_eq!(
            plan(Some(&c), Start::Since(Seq::new(40)), 5, Some(Seq::new(120))).0,
            Start::Since(Seq::new(40))
        );
    }

    #[test]
    fn list_flags_join_into_one_list() {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(join_list("app", &[]), Ok(None));
        assert_eq!(join_list("app", &v(&["sshd"])), Ok(Some("sshd".into())));
        assert_eq!(
            join_list("app", &v(&["sshd,nginx", "cron"])),
            Ok(Some("sshd,nginx,cron".into()))
        );
        assert_eq!(
            join_list("app", &v(&["!cron", "!anacron,atd"])),
            Ok(Some("!cron,anacron,atd".into()))
        );
        let err = join_list("app", &v(&["sshd", "!cron"])).unwrap_err();
        assert!(err.starts_with("--app: "), "{err}");
        assert!(join_list("host", &v(&["!a", "b"])).is_err());
    }

    #[test]
    fn same_epoch_resumes_after_the_last_printed() {
        let c = Cursor {
            epoch: 5,
            printed: Some(Seq::new(120)),
            floor: Some(Seq::new(99)),
        };
        assert_eq!(
            plan(Some(&c), Start::Last(10), 5, Some(Seq::new(130))).0,
            Start::Since(Seq::new(120))
        );
        // Nothing printed yet: after what was in the ring when we started.
        let c = Cursor { printed: None, ..c };
        assert_eq!(
            plan(Some(&c), Start::Last(10), 5, Some(Seq::new(130))).0,
            Start::Since(Seq::new(99))
        );
        // Nothing printed and no floor: the ring was empty, all of it is new.
        let c = Cursor { floor: None, ..c };
        assert_eq!(
            plan(Some(&c), Start::Last(10), 5, Some(Seq::new(130))).0,
            Start::All
        );
    }

    #[test]
    fn new_epoch_starts_from_the_start_of_the_new_ring() {
        let c = Cursor {
            epoch: 5,
            printed: Some(Seq::new(120)),
            floor: Some(Seq::new(99)),
        };
        let (start, next) = plan(Some(&c), Start::Last(10), 6, Some(Seq::new(3)));
        assert_eq!(start, Start::All);
        assert_eq!(
            next,
            Cursor {
                epoch: 6,
                printed: None,
                floor: None
            }
        );
    }

    #[test]
    fn json_lines_and_notices() {
        let line = r#"{"seq":3,"epoch":17,"received":"2026-01-08T19:46:04.000000Z","transport":"unix","timestamp":null,"facility":"user","severity":"err","hostname":null,"app_name":"app","proc_id":null,"msg_id":null,"structured_data":null,"message":"m"}"#;
        let JsonLine::Message(m) = parse_json_line(line).expect("parses") else {
            panic!("a message");
        };
        assert_eq!(
            (m.seq, m.epoch, m.severity.as_str()),
            (Seq::new(3), 17, "err")
        );
        assert_eq!(
            parse_json_line(r#"{"skipped":4,"epoch":17}"#).expect("parses"),
            JsonLine::Skipped {
                count: 4,
                epoch: 17
            }
        );
        assert_eq!(
            parse_json_line(r#"{"cleared":true,"epoch":17}"#).expect("parses"),
            JsonLine::Cleared { epoch: 17 }
        );
        assert!(parse_json_line(r#"{"hello":1}"#).is_err());
        assert!(parse_json_line("not json").is_err());
    }

    fn message(timestamp: Option<&str>, host: Option<&str>, app: Option<&str>) -> JsonMessage {
        JsonMessage {
            seq: Seq::new(1),
            epoch: 1,
            received: "2026-01-08T19:46:04.000000Z".into(),
            timestamp: timestamp.map(Into::into),
            severity: "info".into(),
            hostname: host.map(Into::into),
            app_name: app.map(Into::into),
            proc_id: Some("123".into()),
            message: "hello\nworld\x1b[2J".into(),
            ..JsonMessage::default()
        }
    }

    /// What `circolog-tail --fmt syslog` renders from the daemon's JSON is
    /// the daemon's own `fmt=syslog` line.
    #[test]
    fn syslog_from_json_is_the_daemons_syslog() {
        use crate::query::OutputFormat;
        use crate::store::ring::{Entry, Transport};
        let ctx = crate::ingest::syslog::ParseContext { tz: TimeZone::UTC };
        let received = Timestamp::from_microsecond(1_795_514_400_123_456).unwrap();
        let sent: [&[u8]; 8] = [
            b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
              [exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"li\\\\cation\\]\" eventID=\"1011\"]\
              [examplePriority@32473 class=\"high\"] An application event log entry...",
            b"<34>1 2026-01-08T20:46:03.295+01:00 h su 77 - [o@1 ip=\"a\" ip=\"b\" x=\"\tt\"] tab\there \xc2\x9b2J bell\x07 \xe2\x82\xac",
            b"<13>Jan  8 19:46:03 host app[12]: rfc 3164 line\nwith a line feed",
            b"<78>Jan  8 19:46:05 cron[77]: glibc form",
            b"<14>1 - - - - - -",
            b"just bytes \x1b[2J from a printer",
            b"<13>1 - - app - - [bad sd",
            b"<191>1 2026-01-08T19:46:03Z h app - - - debug",
        ];
        for raw in sent {
            let msg = crate::ingest::syslog::parse(raw, received, &ctx);
            let entry = Entry {
                seq: Seq::new(7),
                received_us: received.as_microsecond(),
                transport: Transport::Unix,
                cred: None,
                truncated: false,
                index: None,
                raw,
            };
            let mut daemon = Vec::new();
            crate::query::format::render(OutputFormat::Syslog, &entry, &msg, 1, &mut daemon);
            let mut json = Vec::new();
            crate::query::format::render(OutputFormat::Json, &entry, &msg, 1, &mut json);
            let line = std::str::from_utf8(&json).unwrap();
            let JsonLine::Message(m) = parse_json_line(line.trim_end()).unwrap() else {
                panic!("a message: {line}");
            };
            let mut ours = render_syslog_line(&m);
            ours.push(b'\n');
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&daemon),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    fn render_syslog_line(m: &JsonMessage) -> Vec<u8> {
        let mut out = Vec::new();
        render_syslog(m, &mut out);
        out
    }

    fn short(m: &JsonMessage, tz: &TimeZone) -> String {
        let mut out = String::new();
        render_short(m, tz, &mut out);
        out
    }

    #[test]
    fn short_format() {
        let utc = TimeZone::UTC;
        let m = message(
            Some("2026-01-08T20:46:03.295+01:00"),
            Some("h"),
            Some("app"),
        );
        assert_eq!(
            short(&m, &utc),
            "Jan  8 19:46:03 h app[123]: hello\\nworld\\x1b[2J"
        );
        // No timestamp: the receive time. No host: left out. No app: no tag.
        let m = message(None, None, None);
        assert_eq!(short(&m, &utc), "Jan  8 19:46:04 hello\\nworld\\x1b[2J");
        let m = JsonMessage {
            proc_id: None,
            message: String::new(),
            ..message(None, Some("h"), Some("cron"))
        };
        assert_eq!(short(&m, &utc), "Jan  8 19:46:04 h cron:");
        let rome = TimeZone::fixed(jiff::tz::offset(1));
        let m = message(Some("2026-01-18T19:46:03Z"), Some("h"), Some("a"));
        assert!(short(&m, &rome).starts_with("Jan 18 20:46:03 h a[123]: "));
    }

    #[test]
    fn colours() {
        use std::ffi::OsStr;
        assert!(use_color(ColorChoice::Auto, true, None, None));
        assert!(!use_color(ColorChoice::Auto, false, None, None));
        assert!(!use_color(
            ColorChoice::Auto,
            true,
            Some(OsStr::new("1")),
            None
        ));
        assert!(use_color(
            ColorChoice::Auto,
            true,
            Some(OsStr::new("")),
            None
        ));
        assert!(!use_color(
            ColorChoice::Auto,
            true,
            None,
            Some(OsStr::new("dumb"))
        ));
        assert!(use_color(
            ColorChoice::Always,
            false,
            Some(OsStr::new("1")),
            None
        ));
        assert!(!use_color(ColorChoice::Never, true, None, None));
        assert_eq!(severity_number("err"), Some(3));
        assert_eq!(severity_number("bogus"), None);
        assert_eq!(severity_style(3), Some("\x1b[31m"));
        assert_eq!(severity_style(6), None);
        assert_eq!(pri_severity(b"<11>1 - - - - - - x"), Some(3));
        assert_eq!(pri_severity(b"<191>1 x"), Some(7));
        assert_eq!(pri_severity(b"<>1 x"), None);
        assert_eq!(pri_severity(b"plain"), None);
    }
}
