//! `circolog-tail`: the last messages in circologd's ring, like `tail`, or
//! every new one as it arrives, like `tail -f`, with filters and colour.
//!
//! Without `-f` it is one `GET /` on the query socket. With `-f` it follows
//! `/ws` over the unix socket (or TCP with `--addr`), and when the daemon
//! goes away it reconnects with backoff and resumes where it was (see
//! [`circolog::client::plan`]); started before the daemon, it waits for it.
//!
//! Formats: `short` (the default, see [`circolog::client::render_short`]),
//! `json` and, with `-f`, `syslog` are rendered from `fmt=json`, which
//! carries every message's seq and the daemon's epoch, so that a resume
//! starts exactly after the last line printed. `raw` (the bytes as
//! received, which the JSON does not carry) follows `fmt=json` too, for
//! the seqs, and fetches the raw lines of what it announces with `GET
//! /?since=SEQ&fmt=raw`: each fetch ends at a known seq. Colour applies to
//! `short` and `syslog` lines, by severity.
//!
//! Several sources (repeated `--socket`/`--addr`, `--source NAME=…`) are
//! merged by receive time and labelled: without `-f` the last N of all of
//! them ([`dump_many`]), with `-f` each followed on its own thread and
//! merged within `--merge-window` ([`follow_many`]); `-n` is then the
//! backlog of each.
//!
//! Interrupted system calls (Ctrl-Z, then `fg`) are retried: a stop is not
//! a lost connection.
//!
//! Exit status: 0, also when standard output is closed early (`| head`);
//! 2 with one line on standard error for anything else.

use std::io::{self, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum};
use jiff::tz::TimeZone;
use tungstenite::{Message, WebSocket};

use circolog::cli::config::suggest_str;
use circolog::cli::manual;
use circolog::client::{
    self, ColorChoice, Cursor, ExchangeError, Filters, JsonLine, Role, Start, plan, query_string,
};
use circolog::ingest::syslog::{FACILITY_NAMES, SEVERITY_NAMES};
use circolog::store::ring::Seq;

/// Waiting this long for an answer to a plain query means the daemon is stuck.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A follower that has heard nothing for this long pings the daemon; with
/// no answer after as long again, the connection is taken as lost.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Reconnection backoff: the first wait, doubled after each failure up to
/// the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
#[command(
    name = "circolog-tail",
    version,
    about = "Print the last messages in circologd's memory, or follow new ones",
    long_about = manual::TAIL_ABOUT,
    after_help = "Long flags may also be written with one dash (-fmt json), as in the original circolog.",
    after_long_help = manual::after_long_help(manual::TAIL)
)]
struct Args {
    /// Print the manual page or a shell completion script, and exit
    #[arg(long, value_enum, value_name = "WHAT")]
    generate: Option<manual::Generate>,

    /// Print the last N matching messages (with -f: before following); -1 for all of them
    #[arg(
        short = 'n',
        long = "lines",
        value_name = "N",
        default_value = "10",
        allow_negative_numbers = true,
        value_parser = parse_lines,
        conflicts_with = "after_seq"
    )]
    lines: Lines,

    /// Keep printing new messages as they arrive (reconnecting if circologd restarts)
    #[arg(short = 'f', long)]
    follow: bool,

    /// Output format
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = Fmt::Short)]
    fmt: Fmt,

    /// Colour lines by severity
    #[arg(long, alias = "colour", value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto)]
    color: ColorArg,

    /// Only messages of severity LEVEL or more important (emerg … debug, or 0-7; !LEVEL: less severe)
    #[arg(short = 'p', long, value_name = "LEVEL", hide_possible_values = true,
          value_parser = suggest_str(&SEVERITY_NAMES))]
    sev: Option<String>,

    /// Only these facilities (kern, user, auth, local0, … or numbers; comma-separated,
    /// repeatable; a leading ! leaves them out)
    #[arg(long, value_name = "F[,F…]", hide_possible_values = true,
          value_parser = suggest_str(&FACILITY_NAMES))]
    fac: Vec<String>,

    /// Only messages from these hostnames (`-`: those without one; comma-separated,
    /// repeatable; a leading ! leaves them out)
    #[arg(long, value_name = "HOST[,HOST…]")]
    host: Vec<String>,

    /// Only messages from these app-names (`-`: those without one; comma-separated,
    /// repeatable; a leading ! leaves them out)
    #[arg(long, value_name = "APP[,APP…]")]
    app: Vec<String>,

    /// Only messages whose text contains TEXT (case-sensitive)
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,

    /// Only messages whose text matches the regular expression (Rust regex syntax; (?i) ignores case)
    #[arg(long, value_name = "REGEX")]
    re: Option<String>,

    /// Only messages whose text does not contain TEXT
    #[arg(long, value_name = "TEXT")]
    not: Option<String>,

    /// Only messages received at or after TIME: RFC 3339 (2026-12-01T05:00:00Z) or an age (30s, 10m, 2h, 1d)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,

    /// Only messages received before TIME: RFC 3339 or an age
    #[arg(long, value_name = "TIME")]
    until: Option<String>,

    /// Start after the message with this seq (a cursor from X-Circolog-Last-Seq or a json line), instead of -n
    #[arg(long, value_name = "SEQ")]
    after_seq: Option<u64>,

    /// circologd's query socket [default: /run/circolog-query.sock as root, else
    /// $XDG_RUNTIME_DIR/circolog/circolog-query.sock or /tmp/circolog-UID/circolog-query.sock];
    /// repeatable, with --addr and --source: several daemons, merged
    #[arg(long, value_name = "PATH")]
    socket: Vec<PathBuf>,

    /// circologd's query address on TCP (its -query-addr), instead of the unix socket; repeatable
    #[arg(long, value_name = "HOST:PORT", value_parser = client::parse_addr)]
    addr: Vec<String>,

    /// With -f over several sources: how long a line is held so that one from another source
    /// received earlier can be printed before it (ms, or with a unit: 200ms, 1s)
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_window)]
    merge_window: Duration,

    /// One of several daemons, named: its lines are labelled [NAME] (a "source" field in json); repeatable
    #[arg(long, value_name = "NAME=SOCKET|HOST:PORT", value_parser = parse_source)]
    source: Vec<Source>,

    /// Print snapshot ID (circolog-ctl snapshots lists them) instead of the
    /// buffer; the filters and formats apply
    #[arg(long, value_name = "ID", conflicts_with = "follow")]
    snapshot: Option<u64>,
}

/// One daemon to read, and the label of its lines when there are several.
#[derive(Clone, Debug)]
struct Source {
    name: String,
    target: Target,
}

/// `--merge-window`: milliseconds, or a number with `ms` or `s`.
fn parse_window(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1e-3)
    };
    match num.trim().parse::<f64>().map(|v| v * scale) {
        Ok(secs) if (0.0..=60.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err("expected a duration: 200 or 200ms, 1s (at most 60 s)".to_string()),
    }
}

/// `--source NAME=SOCKET|HOST:PORT`: a path (with a `/`) is a unix socket,
/// anything else a TCP address.
fn parse_source(s: &str) -> Result<Source, String> {
    let Some((name, place)) = s.split_once('=') else {
        return Err("takes NAME=SOCKET or NAME=HOST:PORT".to_string());
    };
    if name.is_empty() || name.contains(['[', ']']) || name.chars().any(char::is_control) {
        return Err(format!(
            "the name before = is a label: not empty, no brackets or control characters, not {name:?}"
        ));
    }
    let target = if place.contains('/') {
        Target::Unix(PathBuf::from(place))
    } else {
        Target::Tcp(client::parse_addr(place)?)
    };
    Ok(Source {
        name: name.to_string(),
        target,
    })
}

/// `-n`: how many of the last messages; `None` for all.
#[derive(Clone, Copy, Debug)]
struct Lines(Option<u64>);

fn parse_lines(s: &str) -> Result<Lines, String> {
    match s.trim().parse::<i64>() {
        Ok(-1) => Ok(Lines(None)),
        Ok(n) if n >= 0 => Ok(Lines(Some(n.unsigned_abs()))),
        _ => Err("expected a number of messages, or -1 for all of them".to_string()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Fmt {
    /// `Mmm dd hh:mm:ss host app[pid]: message`, in local time
    Short,
    /// One RFC 5424 line per message, as circologd writes it
    Syslog,
    /// One JSON object per line
    Json,
    /// The bytes as received
    Raw,
}

impl Fmt {
    /// The format asked of the daemon for a dump (without `-f`): the
    /// daemon's own lines where they are what is printed.
    fn dump_wire(self) -> &'static str {
        match self {
            Fmt::Short | Fmt::Json => "json",
            Fmt::Syslog => "syslog",
            Fmt::Raw => "raw",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ColorArg {
    /// When standard output is a terminal and NO_COLOR is not set
    Auto,
    Always,
    Never,
}

/// Why the program stops early.
enum Failure {
    /// Standard output was closed (`| head`): not an error.
    Quiet,
    /// One line for standard error.
    Error(String),
    /// Already said on standard error (a source of several that did not
    /// answer): exit status 2 and nothing more.
    Told,
}

type Result<T, E = Failure> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let args: Args = circolog::cli::config::parse();
    let result = match args.generate {
        Some(what) => manual::generate(what, Args::command(), manual::TAIL, &mut io::stdout())
            .map_err(output_failed),
        None => run(&args),
    };
    match result {
        Ok(()) | Err(Failure::Quiet) => ExitCode::SUCCESS,
        Err(Failure::Told) => ExitCode::from(2),
        Err(Failure::Error(msg)) => {
            let _ = writeln!(io::stderr(), "circolog-tail: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let mut sources: Vec<Source> = args
        .socket
        .iter()
        .map(|p| Source {
            name: p.display().to_string(),
            target: Target::Unix(p.clone()),
        })
        .chain(args.addr.iter().map(|a| Source {
            name: a.clone(),
            target: Target::Tcp(a.clone()),
        }))
        .chain(args.source.iter().cloned())
        .collect();
    for (i, s) in sources.iter().enumerate() {
        if sources[..i].iter().any(|o| o.name == s.name) {
            return Err(Failure::Error(format!(
                "two sources named {:?}: each needs its own name (--source NAME=…)",
                s.name
            )));
        }
    }
    if sources.is_empty() {
        sources.push(Source {
            name: String::new(),
            target: Target::Unix(circolog::cli::config::default_paths().query),
        });
    }
    let choice = match args.color {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    };
    let color = client::use_color(
        choice,
        io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    );
    let filters = Filters {
        sev: args.sev.clone(),
        fac: client::join_list("fac", &args.fac).map_err(Failure::Error)?,
        host: client::join_list("host", &args.host).map_err(Failure::Error)?,
        app: client::join_list("app", &args.app).map_err(Failure::Error)?,
        grep: args.grep.clone(),
        re: args.re.clone(),
        not: args.not.clone(),
        from: args.since.clone(),
        until: args.until.clone(),
    };
    let initial = match args.after_seq {
        Some(seq) => Start::Since(Seq::new(seq)),
        None => args.lines.0.map_or(Start::All, Start::Last),
    };
    let mut out = Output::new(args.fmt, color, args.follow);
    if let [one] = sources.as_slice() {
        return if args.follow {
            follow(&one.target, &filters, initial, &mut out)
        } else {
            dump(&one.target, &filters, initial, args.snapshot, &mut out)
        };
    }
    if args.snapshot.is_some() {
        let why = "--snapshot reads one daemon's snapshot: give one source";
        return Err(Failure::Error(why.to_string()));
    }
    // Several daemons: seqs are each daemon's own, and the raw bytes carry
    // no receive time to merge by.
    let refuse = if args.after_seq.is_some() {
        Some("--after-seq is a seq of one daemon: it takes one source")
    } else if args.fmt == Fmt::Raw {
        Some("--fmt raw takes one source: the bytes as received carry no receive time to merge by")
    } else {
        None
    };
    if let Some(why) = refuse {
        return Err(Failure::Error(why.to_string()));
    }
    if args.follow {
        follow_many(&sources, &filters, initial, args.merge_window, &mut out)
    } else {
        dump_many(&sources, &filters, initial, &mut out)
    }
}

// ---- connections ----

/// Where the daemon's query API is.
#[derive(Clone, Debug)]
enum Target {
    Unix(PathBuf),
    Tcp(String),
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Unix(p) => p.display().to_string(),
            Target::Tcp(a) => a.clone(),
        }
    }

    /// The `Host` of requests: a unix socket has no host name.
    fn host(&self) -> &str {
        match self {
            Target::Unix(_) => "localhost",
            Target::Tcp(a) => a,
        }
    }

    fn connect(&self) -> Result<Conn, Open> {
        if let Target::Unix(p) = self
            && let Some(line) = client::not_a_socket(p)
        {
            return Err(Open::Stop(Failure::Error(line)));
        }
        let conn = match self {
            Target::Unix(p) => UnixStream::connect(p).map(Conn::Unix),
            Target::Tcp(a) => TcpStream::connect(a.as_str()).map(Conn::Tcp),
        };
        let e = match conn {
            Ok(c) => {
                c.set_read_timeout(QUERY_TIMEOUT)
                    .map_err(|e| self.unreachable(&e))?;
                return Ok(c);
            }
            Err(e) => e,
        };
        let hint = || {
            let daemons = client::running_daemons();
            let uid = rustix::process::getuid().as_raw();
            let path = match self {
                Target::Unix(p) => Some(p.as_path()),
                Target::Tcp(_) => None,
            };
            client::absent_hint(Role::Query, path, daemons.as_deref(), uid)
        };
        let failure = client::connect_failure(&self.name(), Role::Query, &e, hint);
        Err(if failure.absent {
            Open::Absent(failure.line)
        } else {
            Open::Stop(Failure::Error(failure.line))
        })
    }

    fn unreachable(&self, e: &io::Error) -> Open {
        Open::Unreachable(format!("{}: {}", self.name(), client::io_reason(e)))
    }

    /// What a request that got no answer in time says: over TCP, the port
    /// may be a syslog input, which reads a request as a message and never
    /// answers.
    fn no_answer(&self) -> String {
        let why = match self {
            Target::Unix(_) => "",
            Target::Tcp(_) => " (a syslog input port? the query API is circologd's -query-addr)",
        };
        format!(
            "{}: circologd did not answer within {} s{why}",
            self.name(),
            QUERY_TIMEOUT.as_secs()
        )
    }

    /// `GET path` on a new connection, the body handed to `sink` (with the
    /// response head) as it comes when the answer is a 200. Answers that are not (a refusal,
    /// the wrong API) are turned into the line that says why.
    fn get(
        &self,
        path: &str,
        mut sink: impl FnMut(&client::Head, &[u8]) -> io::Result<()>,
    ) -> Result<client::Head, Open> {
        let mut conn = self.connect()?;
        let mut error_body = Vec::new();
        let head = client::exchange(
            &mut conn,
            &client::request("GET", path, self.host()),
            |head, body| {
                if head.status == 200 {
                    sink(head, body)
                } else {
                    keep_some(&mut error_body, body);
                    Ok(())
                }
            },
        )
        .map_err(|e| self.exchange_failed(e))?;
        match head.status {
            200 => Ok(head),
            // The control API has no `/`: asking it for `/status` tells
            // the control socket from something else that speaks HTTP.
            404 if self.is_control_api() => Err(Open::Stop(Failure::Error(client::wrong_api(
                &self.name(),
                Role::Query,
            )))),
            400 | 403 | 404 => Err(Open::Stop(Failure::Error(refused(
                self,
                &head,
                &error_body,
            )))),
            _ => Err(Open::Unreachable(refused(self, &head, &error_body))),
        }
    }

    fn is_control_api(&self) -> bool {
        let Ok(mut conn) = self.connect() else {
            return false;
        };
        let mut body = Vec::new();
        let head = client::exchange(
            &mut conn,
            &client::request("GET", "/status", self.host()),
            |_, b| {
                keep_some(&mut body, b);
                Ok(())
            },
        );
        head.is_ok_and(|h| client::is_control_status(&h, &body))
    }

    fn exchange_failed(&self, e: ExchangeError) -> Open {
        match e {
            ExchangeError::Sink(e) => Open::Stop(output_failed(e)),
            ExchangeError::Io(e) if is_timeout(&e) => Open::Unreachable(self.no_answer()),
            ExchangeError::Http(client::HttpError::BadHead(_)) => {
                Open::Stop(Failure::Error(format!(
                    "{} does not speak HTTP: it is not circologd's query API",
                    self.name()
                )))
            }
            e => Open::Unreachable(format!("{}: {e}", self.name())),
        }
    }
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(Some(t)),
            Conn::Tcp(s) => s.set_read_timeout(Some(t)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// The line for a response that is not a 200.
fn refused(target: &Target, head: &client::Head, body: &[u8]) -> String {
    match head.status {
        403 => format!("not allowed to use {}", target.name()),
        400 => format!(
            "circologd refused the query: {}",
            client::error_line(head, body)
        ),
        _ => format!(
            "{}: unexpected answer {} {}: {}",
            target.name(),
            head.status,
            head.reason,
            client::error_line(head, body)
        ),
    }
}

/// Keeps the start of an error body: its first line is all that is shown.
fn keep_some(kept: &mut Vec<u8>, more: &[u8]) {
    let room = 4096usize.saturating_sub(kept.len());
    kept.extend_from_slice(&more[..more.len().min(room)]);
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Why a connection could not be opened, or went away.
enum Open {
    /// Stop the program: a bad filter, the wrong socket, standard output
    /// closed. Retrying cannot help.
    Stop(Failure),
    /// Nothing there (yet): no socket file, nobody listening.
    Absent(String),
    /// There, but not answering, or gone while connecting.
    Unreachable(String),
}

impl From<Open> for Failure {
    fn from(o: Open) -> Failure {
        match o {
            Open::Stop(f) => f,
            Open::Absent(line) | Open::Unreachable(line) => Failure::Error(line),
        }
    }
}

// ---- without -f ----

/// `GET /` (or `GET /snapshots/ID/`): the last messages, streamed to
/// standard output as they come. A start after a seq the ring no longer
/// holds (`--after-seq`) says first how many messages are lost
/// (`X-Circolog-Skipped`).
fn dump(
    target: &Target,
    filters: &Filters,
    start: Start,
    snapshot: Option<u64>,
    out: &mut Output,
) -> Result<()> {
    let base = snapshot.map_or_else(|| "/".to_string(), |id| format!("/snapshots/{id}/"));
    let query = query_string(start, out.fmt.dump_wire(), filters);
    let path = format!("{base}?{query}");
    let mut lines = LineSplitter::default();
    let mut told = false;
    let head = target.get(&path, |head, body| {
        if !told {
            told = true;
            out.skipped_header(head)?;
        }
        lines.feed(body, |line| out.line(line))
    })?;
    if !told {
        out.skipped_header(&head).map_err(output_failed)?;
    }
    lines.finish(|line| out.line(line)).map_err(output_failed)?;
    out.flush()
}

/// `GET /` of several daemons, merged by receive time: the last N of all
/// of them are among the last N of each, so each is asked for its last N
/// (`fmt=json`, which carries `received`), and the answers are sorted and
/// cut. The answers are held in memory until then (with `-n -1`, every
/// matching message of every daemon). A daemon that does not answer is
/// said on standard error, the others are printed, and the exit status is
/// 2; a query a daemon refuses stops everything, as with one.
fn dump_many(sources: &[Source], filters: &Filters, start: Start, out: &mut Output) -> Result<()> {
    let path = format!("/?{}", query_string(start, "json", filters));
    // (receive time, source, seq, message, its json line)
    let mut all: Vec<(Option<jiff::Timestamp>, usize, Seq, Vec<u8>)> = Vec::new();
    let mut told = false;
    for (i, source) in sources.iter().enumerate() {
        let mut lines = LineSplitter::default();
        let mut got = Vec::new();
        let mut keep = |line: &[u8]| {
            got.push(line.to_vec());
            Ok(())
        };
        match source
            .target
            .get(&path, |_, body| lines.feed(body, &mut keep))
        {
            Ok(_) => {}
            Err(Open::Stop(f)) => return Err(f),
            Err(Open::Absent(line) | Open::Unreachable(line)) => {
                notice(&format!("[{}] {line}", source.name));
                told = true;
                continue;
            }
        }
        lines.finish(&mut keep).map_err(output_failed)?;
        for line in got {
            let parsed = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| client::parse_json_line(l).ok());
            if let Some(JsonLine::Message(m)) = parsed {
                all.push((m.received.parse().ok(), i, m.seq, line));
            }
        }
    }
    // Stable: one daemon's messages keep their seq order when their
    // receive times are equal.
    all.sort_by_key(|m| (m.0, m.1, m.2));
    let skip = match start {
        Start::Last(n) => all
            .len()
            .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
        Start::All | Start::Since(_) => 0,
    };
    for (_, i, _, line) in &all[skip..] {
        out.labelled(&sources[*i].name, line)
            .map_err(output_failed)?;
    }
    out.flush()?;
    if told { Err(Failure::Told) } else { Ok(()) }
}

/// What a source's follower hands the merge: a line rendered as for one
/// source, uncoloured, with the receive time of its message (`None` for a
/// notice, printed as it comes), or why it stopped for good.
enum Event {
    Line {
        source: usize,
        received: Option<jiff::Timestamp>,
        line: Vec<u8>,
        sev: Option<u8>,
    },
    Stopped(Failure),
}

/// `-f` over several daemons: each followed on its own thread as one would
/// be ([`follow`]: its own cursor, its own reconnections, a daemon that is
/// not there said once and waited for), the lines merged here. A line is
/// held for `window` after it arrives, and printed once it is due together
/// with every held line received no later than it: lines from sources
/// whose frames arrive within the window of each other come out in receive
/// order, and none waits much longer than the window.
fn follow_many(
    sources: &[Source],
    filters: &Filters,
    initial: Start,
    window: Duration,
    out: &mut Output,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    for (i, source) in sources.iter().enumerate() {
        let (tx, target, filters) = (tx.clone(), source.target.clone(), filters.clone());
        let (fmt, label) = (out.fmt, format!("[{}] ", source.name));
        std::thread::spawn(move || {
            NOTICE_LABEL.set(label);
            let mut relay = Output::relay(fmt, tx.clone(), i);
            let end = follow(&target, &filters, initial, &mut relay);
            let _ = tx.send(Event::Stopped(end.err().unwrap_or(Failure::Quiet)));
        });
    }
    drop(tx);
    // Held lines: (due, received, arrival order, source, line, sev).
    type Held = (
        std::time::Instant,
        jiff::Timestamp,
        u64,
        usize,
        Vec<u8>,
        Option<u8>,
    );
    let mut held: Vec<Held> = Vec::new();
    let mut arrived = 0u64;
    let mut running = sources.len();
    loop {
        let now = std::time::Instant::now();
        // The latest receive time among the lines that are due: it and
        // everything received before it goes out, in receive order.
        if let Some(upto) = held.iter().filter(|h| h.0 <= now).map(|h| h.1).max() {
            held.sort_by_key(|h| (h.1, h.2));
            let n = held.partition_point(|h| h.1 <= upto);
            for (_, _, _, i, line, sev) in held.drain(..n) {
                out.merged(&sources[i].name, &line, sev)
                    .map_err(output_failed)?;
            }
        }
        let next_due = held.iter().map(|h| h.0).min();
        let event = match next_due {
            Some(due) => match rx.recv_timeout(due.saturating_duration_since(now)) {
                Ok(e) => e,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(e) => e,
                Err(_) => break,
            },
        };
        match event {
            Event::Line {
                source,
                received: Some(t),
                line,
                sev,
            } => {
                arrived += 1;
                held.push((
                    std::time::Instant::now() + window,
                    t,
                    arrived,
                    source,
                    line,
                    sev,
                ));
            }
            Event::Line {
                source, line, sev, ..
            } => out
                .merged(&sources[source].name, &line, sev)
                .map_err(output_failed)?,
            Event::Stopped(Failure::Quiet) => {
                running -= 1;
                if running == 0 {
                    break;
                }
            }
            Event::Stopped(f) => return Err(f),
        }
    }
    held.sort_by_key(|h| (h.1, h.2));
    for (_, _, _, i, line, sev) in held {
        out.merged(&sources[i].name, &line, sev)
            .map_err(output_failed)?;
    }
    out.flush()
}

/// Cuts a body into lines, across the pieces it arrives in.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    fn feed(
        &mut self,
        mut data: &[u8],
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        while let Some(nl) = memchr::memchr(b'\n', data) {
            if self.partial.is_empty() {
                each(&data[..nl])?;
            } else {
                self.partial.extend_from_slice(&data[..nl]);
                let line = std::mem::take(&mut self.partial);
                each(&line)?;
            }
            data = &data[nl + 1..];
        }
        self.partial.extend_from_slice(data);
        Ok(())
    }

    /// The last line, when the body did not end with a line feed.
    fn finish(&mut self, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.partial);
        each(&line)
    }
}

// ---- -f ----

/// Follows `/ws` until standard output is closed or the daemon refuses
/// the query; a lost connection is reopened with backoff, and a daemon
/// that is not there yet is waited for.
fn follow(target: &Target, filters: &Filters, initial: Start, out: &mut Output) -> Result<()> {
    let mut cursor: Option<Cursor> = None;
    // Had a connection and lost it / waiting for the daemon to be there.
    let mut lost = false;
    let mut waiting = false;
    let mut delay = BACKOFF_FIRST;
    loop {
        if lost || waiting {
            std::thread::sleep(delay);
        }
        match open(target, filters, initial, cursor.as_ref(), out) {
            Ok((mut ws, next)) => {
                if lost {
                    let note = if cursor.is_some_and(|c| c.epoch != next.epoch) {
                        " (circologd restarted: showing its buffer from the start)"
                    } else {
                        ""
                    };
                    notice(&format!("reconnected to {}{note}", target.name()));
                } else if waiting {
                    notice(&format!("connected to {}", target.name()));
                }
                waiting = false;
                let cursor = cursor.insert(next);
                delay = BACKOFF_FIRST;
                let reason = pump(&mut ws, cursor, target, filters, out)?;
                notice(&format!(
                    "lost connection to {}: {reason}; reconnecting",
                    target.name()
                ));
                lost = true;
            }
            Err(Open::Stop(failure)) => return Err(failure),
            Err(Open::Absent(line)) if !lost && !waiting => {
                notice(&format!("waiting for circologd: {line}"));
                waiting = true;
            }
            // Before the first connection, a daemon that is there but does
            // not answer properly is the user's to look at.
            Err(Open::Unreachable(line)) if !lost && !waiting => {
                return Err(Failure::Error(line));
            }
            Err(Open::Absent(_) | Open::Unreachable(_)) => delay = (delay * 2).min(BACKOFF_MAX),
        }
    }
}

/// Opens the websocket: first asks the daemon its epoch and newest seq
/// (`GET /?l=0`, which also checks the filters), decides where to start,
/// then (for `raw`, after fetching the lines up to there) upgrades a
/// second connection. Returns the cursor to keep.
fn open(
    target: &Target,
    filters: &Filters,
    initial: Start,
    cursor: Option<&Cursor>,
    out: &mut Output,
) -> Result<(WebSocket<Conn>, Cursor), Open> {
    let probe = format!("/?{}", query_string(Start::Last(0), "json", filters));
    let head = target.get(&probe, |_, _| Ok(()))?;
    if !client::is_query_answer(&head) {
        return Err(Open::Stop(Failure::Error(format!(
            "{}: no X-Circolog-Epoch in the answer: it is not circologd's query API",
            target.name()
        ))));
    }
    let epoch = head
        .header("x-circolog-epoch")
        .and_then(|e| e.parse::<i64>().ok())
        .unwrap_or_default();
    let newest = head
        .header("x-circolog-last-seq")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Seq::new);
    let (mut start, mut next) = plan(cursor, initial, epoch, newest);
    if out.fmt == Fmt::Raw {
        // What is to be shown now, and the seq it ends at: the websocket
        // then only says when there is more.
        fetch_raw(target, filters, start, &mut next, out)?;
        start = next.printed.map_or(Start::All, Start::Since);
    }

    let conn = target.connect()?;
    let url = format!(
        "ws://{}/ws?{}",
        target.host(),
        query_string(start, "json", filters)
    );
    let (ws, response) = match tungstenite::client::client(url.as_str(), conn) {
        Ok(ok) => ok,
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            let head = client::Head {
                status: resp.status().as_u16(),
                reason: resp.status().canonical_reason().unwrap_or("").to_string(),
                headers: Vec::new(),
            };
            let body = resp.body().as_deref().unwrap_or(&[]);
            let line = refused(target, &head, body);
            return Err(match head.status {
                400 | 403 => Open::Stop(Failure::Error(line)),
                _ => Open::Unreachable(line),
            });
        }
        Err(tungstenite::HandshakeError::Failure(e)) => {
            return Err(Open::Unreachable(format!("{}: {e}", target.name())));
        }
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            return Err(Open::Unreachable(format!(
                "{}: no websocket handshake within {} s",
                target.name(),
                QUERY_TIMEOUT.as_secs()
            )));
        }
    };
    let ws_epoch = response
        .headers()
        .get("x-circolog-epoch")
        .and_then(|v| v.to_str().ok())
        .and_then(|e| e.parse::<i64>().ok());
    if ws_epoch != Some(epoch) {
        // Restarted between the two requests: the plan is for the old one.
        return Err(Open::Unreachable(format!(
            "{}: circologd restarted while connecting",
            target.name()
        )));
    }
    ws.get_ref()
        .set_read_timeout(KEEPALIVE)
        .map_err(|e| target.unreachable(&e))?;
    Ok((ws, next))
}

/// `raw`: prints the raw lines from `start` (`GET /?…&fmt=raw`) and moves
/// the cursor to the seq the dump ended at (its `X-Circolog-Last-Seq`), so
/// that `printed` means "everything up to here". A dump from another
/// daemon than the cursor's is a restart, seen as a lost connection.
fn fetch_raw(
    target: &Target,
    filters: &Filters,
    start: Start,
    cursor: &mut Cursor,
    out: &mut Output,
) -> Result<(), Open> {
    let path = format!("/?{}", query_string(start, "raw", filters));
    let mut lines = LineSplitter::default();
    let head = target.get(&path, |_, body| lines.feed(body, |line| out.line(line)))?;
    lines
        .finish(|line| out.line(line))
        .map_err(|e| Open::Stop(output_failed(e)))?;
    let epoch = head
        .header("x-circolog-epoch")
        .and_then(|e| e.parse::<i64>().ok());
    if epoch != Some(cursor.epoch) {
        return Err(Open::Unreachable(format!(
            "{}: circologd restarted",
            target.name()
        )));
    }
    if let Some(n) = head
        .header("x-circolog-skipped")
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n > 0)
    {
        notice(&skipped_line(n));
    }
    if let Some(last) = head
        .header("x-circolog-last-seq")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Seq::new)
    {
        cursor.printed = Some(cursor.printed.map_or(last, |p| p.max(last)));
    }
    Ok(())
}

/// Reads frames and prints them until the connection is lost; returns why.
fn pump(
    ws: &mut WebSocket<Conn>,
    cursor: &mut Cursor,
    target: &Target,
    filters: &Filters,
    out: &mut Output,
) -> Result<String> {
    let mut pinged = false;
    let mut closed_because = None;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                pinged = false;
                if !out.frame(text.as_str(), cursor)? {
                    continue;
                }
                // `raw`: the frame announced a message not printed yet.
                let start = cursor.printed.map_or(Start::All, Start::Since);
                match fetch_raw(target, filters, start, cursor, out) {
                    Ok(()) => {}
                    Err(Open::Stop(f)) => return Err(f),
                    Err(Open::Absent(why) | Open::Unreachable(why)) => return Ok(why),
                }
            }
            Ok(Message::Close(frame)) => {
                // The reply is sent by the next read, which then ends.
                closed_because = Some(match frame {
                    Some(f) if !f.reason.is_empty() => format!("{} ({})", f.reason, f.code),
                    Some(f) => format!("closed by circologd ({})", f.code),
                    None => "closed by circologd".to_string(),
                });
            }
            Ok(_) => pinged = false,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(closed_because.unwrap_or_else(|| "connection closed".to_string()));
            }
            // Stopped (Ctrl-Z) and continued: the read was interrupted, the
            // connection is fine. The websocket keeps what it had read.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                if pinged {
                    return Ok(format!(
                        "no answer to a ping within {} s",
                        KEEPALIVE.as_secs()
                    ));
                }
                if let Err(e) = send_ping(ws) {
                    return Ok(e.to_string());
                }
                pinged = true;
            }
            Err(tungstenite::Error::Io(e)) => {
                return Ok(closed_because.unwrap_or_else(|| client::io_reason(&e)));
            }
            Err(e) => return Ok(closed_because.unwrap_or_else(|| e.to_string())),
        }
    }
}

/// Sends a ping, retrying what a stop interrupted.
fn send_ping(ws: &mut WebSocket<Conn>) -> tungstenite::Result<()> {
    let mut result = ws.send(Message::Ping(Default::default()));
    while let Err(tungstenite::Error::Io(e)) = &result {
        if e.kind() != io::ErrorKind::Interrupted {
            break;
        }
        result = ws.flush();
    }
    result
}

std::thread_local! {
    /// `[NAME] ` on the thread that follows one of several sources, so
    /// that what it says on standard error names its source.
    static NOTICE_LABEL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// One line on standard error, about the connection rather than the logs.
fn notice(line: &str) {
    NOTICE_LABEL.with_borrow(|label| {
        let _ = writeln!(io::stderr(), "circolog-tail: {label}{line}");
    });
}

fn skipped_line(count: u64) -> String {
    let s = if count == 1 { "" } else { "s" };
    format!("skipped {count} message{s} that circologd overwrote before they were read")
}

// ---- output ----

/// Standard output, in the chosen format.
struct Output {
    fmt: Fmt,
    color: bool,
    /// Following: each line is flushed as soon as it is written.
    live: bool,
    tz: TimeZone,
    w: Sink,
    scratch: String,
    bytes: Vec<u8>,
    /// The `[NAME] ` of the source a `short` line is from, when there are
    /// several.
    label: String,
}

impl Output {
    fn new(fmt: Fmt, color: bool, live: bool) -> Output {
        Output {
            fmt,
            color,
            live,
            tz: TimeZone::system(),
            w: Sink::Stdout(io::BufWriter::with_capacity(64 * 1024, io::stdout().lock())),
            scratch: String::new(),
            bytes: Vec::new(),
            label: String::new(),
        }
    }

    /// An output that hands its lines to [`follow_many`] instead of
    /// writing them (`-f` over several sources), as source `source`.
    fn relay(fmt: Fmt, tx: std::sync::mpsc::Sender<Event>, source: usize) -> Output {
        Output {
            fmt,
            color: false,
            live: true,
            tz: TimeZone::system(),
            w: Sink::Relay {
                tx,
                source,
                received: None,
            },
            scratch: String::new(),
            bytes: Vec::new(),
            label: String::new(),
        }
    }

    /// A line a source's relay handed over, labelled with the source's
    /// `name` ([`Output::labelled`]) and coloured for `sev`.
    fn merged(&mut self, name: &str, line: &[u8], sev: Option<u8>) -> io::Result<()> {
        let mut out = Vec::with_capacity(line.len() + name.len() + 16);
        match self.fmt {
            Fmt::Json => {
                out.extend_from_slice(b"{\"source\":");
                out.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
                match line.strip_prefix(b"{") {
                    Some(rest) if rest != b"}" => {
                        out.push(b',');
                        out.extend_from_slice(rest);
                    }
                    _ => out.push(b'}'),
                }
            }
            Fmt::Short => {
                out.push(b'[');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"] ");
                out.extend_from_slice(line);
            }
            Fmt::Syslog | Fmt::Raw => out.extend_from_slice(line),
        }
        self.plain(&out, sev)
    }

    /// One line of a `GET /` body, in the format of [`Fmt::dump_wire`].
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        match self.fmt {
            Fmt::Short => {
                let parsed = std::str::from_utf8(line)
                    .ok()
                    .and_then(|l| client::parse_json_line(l).ok());
                match parsed {
                    Some(JsonLine::Message(m)) => self.short(&m),
                    // Not what the daemon should send: shown as it came.
                    _ => self.plain(line, None),
                }
            }
            Fmt::Syslog => {
                let sev = client::pri_severity(line);
                self.plain(line, sev)
            }
            Fmt::Json | Fmt::Raw => self.plain(line, None),
        }
    }

    /// One websocket frame (`fmt=json`): a message, or a notice. Returns
    /// true when it announces a message that `raw` has not printed yet.
    fn frame(&mut self, text: &str, cursor: &mut Cursor) -> Result<bool> {
        let written = match client::parse_json_line(text) {
            Ok(JsonLine::Message(m)) => {
                // Never printed twice, whatever the daemon sends.
                if m.epoch == cursor.epoch && cursor.printed.is_some_and(|p| m.seq <= p) {
                    return Ok(false);
                }
                if let Sink::Relay { received, .. } = &mut self.w {
                    *received = m.received.parse().ok();
                }
                match self.fmt {
                    Fmt::Raw => return Ok(true),
                    Fmt::Json => self.plain(text.as_bytes(), None),
                    Fmt::Syslog => self.syslog(&m),
                    Fmt::Short => self.short(&m),
                }
                .map(|()| cursor.printed = Some(m.seq))
            }
            // `raw`: the fetch that follows says what it missed.
            Ok(JsonLine::Skipped { .. }) if self.fmt == Fmt::Raw => Ok(()),
            Ok(JsonLine::Skipped { count, .. }) if self.fmt != Fmt::Json => {
                notice(&skipped_line(count));
                Ok(())
            }
            Ok(JsonLine::Cleared { .. }) if self.fmt != Fmt::Json => {
                notice("the buffer was cleared");
                Ok(())
            }
            Ok(JsonLine::Paused { paused, .. }) if self.fmt != Fmt::Json => {
                notice(if paused {
                    "circologd paused: new messages are read and discarded"
                } else {
                    "circologd resumed: new messages are stored again"
                });
                Ok(())
            }
            Ok(JsonLine::Snapshot { id, why, .. }) if self.fmt != Fmt::Json => {
                notice(&format!("snapshot {id} taken ({why})"));
                Ok(())
            }
            // Notices in json, and anything unexpected, as they came.
            _ => self.plain(text.as_bytes(), None),
        };
        written.map(|()| false).map_err(output_failed)
    }

    /// The gap a dump's `X-Circolog-Skipped` tells of, if any: a notice
    /// line, on standard output in json as a follower's frame would be.
    fn skipped_header(&mut self, head: &client::Head) -> io::Result<()> {
        let Some(count) = head
            .header("x-circolog-skipped")
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|&n| n > 0)
        else {
            return Ok(());
        };
        if self.fmt != Fmt::Json {
            notice(&skipped_line(count));
            return Ok(());
        }
        let epoch = head
            .header("x-circolog-epoch")
            .and_then(|e| e.parse::<i64>().ok())
            .unwrap_or_default();
        let line = format!("{{\"skipped\":{count},\"epoch\":{epoch}}}");
        self.plain(line.as_bytes(), None)
    }

    /// One `fmt=json` line of the source `name`, labelled: `[NAME] ` before
    /// a `short` line, a `source` field first in json. `syslog` has the
    /// message's own HOSTNAME for that.
    fn labelled(&mut self, name: &str, json: &[u8]) -> io::Result<()> {
        match self.fmt {
            Fmt::Json => {
                let mut line = std::mem::take(&mut self.bytes);
                line.clear();
                line.extend_from_slice(b"{\"source\":");
                // A string always serializes.
                line.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
                match json.strip_prefix(b"{") {
                    Some(rest) if rest != b"}" => {
                        line.push(b',');
                        line.extend_from_slice(rest);
                    }
                    _ => line.push(b'}'),
                }
                let r = self.plain(&line, None);
                self.bytes = line;
                r
            }
            Fmt::Syslog => {
                let parsed = std::str::from_utf8(json)
                    .ok()
                    .and_then(|l| client::parse_json_line(l).ok());
                match parsed {
                    Some(JsonLine::Message(m)) => self.syslog(&m),
                    _ => self.plain(json, None),
                }
            }
            Fmt::Short | Fmt::Raw => {
                self.label.clear();
                self.label.push('[');
                self.label.push_str(name);
                self.label.push_str("] ");
                let r = self.line(json);
                self.label.clear();
                r
            }
        }
    }

    fn short(&mut self, m: &client::JsonMessage) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        line.push_str(&self.label);
        client::render_short(m, &self.tz, &mut line);
        let sev = client::severity_number(&m.severity);
        let r = self.plain(line.as_bytes(), sev);
        self.scratch = line;
        r
    }

    fn syslog(&mut self, m: &client::JsonMessage) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.bytes);
        line.clear();
        client::render_syslog(m, &mut line);
        let sev = client::severity_number(&m.severity);
        let r = self.plain(&line, sev);
        self.bytes = line;
        r
    }

    /// Writes `line` and a line feed, coloured for `sev` when colouring.
    fn plain(&mut self, line: &[u8], sev: Option<u8>) -> io::Result<()> {
        let w = match &mut self.w {
            Sink::Stdout(w) => w,
            Sink::Relay {
                tx,
                source,
                received,
            } => {
                let event = Event::Line {
                    source: *source,
                    received: received.take(),
                    line: line.to_vec(),
                    sev,
                };
                // The merge is gone only when the program is ending.
                return tx
                    .send(event)
                    .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe));
            }
        };
        let style = sev.filter(|_| self.color).and_then(client::severity_style);
        if let Some(style) = style {
            w.write_all(style.as_bytes())?;
            w.write_all(line)?;
            w.write_all(client::RESET.as_bytes())?;
        } else {
            w.write_all(line)?;
        }
        w.write_all(b"\n")?;
        if self.live {
            w.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match &mut self.w {
            Sink::Stdout(w) => w.flush().map_err(output_failed),
            Sink::Relay { .. } => Ok(()),
        }
    }
}

/// Where an [`Output`]'s lines go.
enum Sink {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    /// To [`follow_many`], with the receive time of the message being
    /// rendered.
    Relay {
        tx: std::sync::mpsc::Sender<Event>,
        source: usize,
        received: Option<jiff::Timestamp>,
    },
}

/// Standard output failed: closed by the reader is a normal end.
fn output_failed(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::Quiet
    } else {
        Failure::Error(format!(
            "cannot write to standard output: {}",
            client::io_reason(&e)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every long flag takes one dash, as the help says, from the clap
    /// definition itself: a new flag is covered without a word here.
    #[test]
    fn every_long_flag_takes_one_dash() {
        let differences = circolog::cli::config::one_dash_differences(&Args::command());
        assert!(differences.is_empty(), "{}", differences.join("\n"));
    }
}
