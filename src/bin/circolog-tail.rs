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

use circolog::client::{
    self, ColorChoice, Cursor, ExchangeError, Filters, JsonLine, Role, Start, plan, query_string,
};
use circolog::manual;

/// The long flags that may also be written Go-style with one dash.
const LONG_FLAGS: &[&str] = &[
    "lines", "follow", "fmt", "color", "sev", "fac", "host", "app", "grep", "socket", "addr",
    "generate", "snapshot",
];

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
        value_parser = parse_lines
    )]
    lines: Lines,

    /// Keep printing new messages as they arrive (reconnecting if circologd restarts)
    #[arg(short = 'f', long)]
    follow: bool,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Fmt::Short)]
    fmt: Fmt,

    /// Colour lines by severity
    #[arg(long, alias = "colour", value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto)]
    color: ColorArg,

    /// Only messages of severity LEVEL or more important (emerg … debug, or 0-7)
    #[arg(long, value_name = "LEVEL")]
    sev: Option<String>,

    /// Only these facilities (kern, user, auth, local0, … or numbers; comma-separated)
    #[arg(long, value_name = "F[,F…]")]
    fac: Option<String>,

    /// Only messages from this hostname (`-`: those without one)
    #[arg(long, value_name = "HOST")]
    host: Option<String>,

    /// Only messages from this app-name (`-`: those without one)
    #[arg(long, value_name = "APP")]
    app: Option<String>,

    /// Only messages whose text contains TEXT (case-sensitive)
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,

    /// circologd's query socket [default: /run/circolog-query.sock as root, else
    /// $XDG_RUNTIME_DIR/circolog/circolog-query.sock or /tmp/circolog-UID/circolog-query.sock]
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    socket: Option<PathBuf>,

    /// circologd's query address on TCP (its -query-addr), instead of the unix socket
    #[arg(long, value_name = "HOST:PORT", value_parser = client::parse_addr)]
    addr: Option<String>,

    /// Print snapshot ID (circolog-ctl snapshots lists them) instead of the
    /// buffer; the filters and formats apply
    #[arg(long, value_name = "ID", conflicts_with = "follow")]
    snapshot: Option<u64>,
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
}

type Result<T, E = Failure> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let args = Args::parse_from(circolog::config::go_style_args(
        std::env::args_os(),
        LONG_FLAGS,
    ));
    let result = match args.generate {
        Some(what) => manual::generate(what, Args::command(), manual::TAIL, &mut io::stdout())
            .map_err(output_failed),
        None => run(&args),
    };
    match result {
        Ok(()) | Err(Failure::Quiet) => ExitCode::SUCCESS,
        Err(Failure::Error(msg)) => {
            let _ = writeln!(io::stderr(), "circolog-tail: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let target = match (&args.addr, &args.socket) {
        (Some(addr), _) => Target::Tcp(addr.clone()),
        (None, Some(path)) => Target::Unix(path.clone()),
        (None, None) => Target::Unix(circolog::config::default_paths().query),
    };
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
        fac: args.fac.clone(),
        host: args.host.clone(),
        app: args.app.clone(),
        grep: args.grep.clone(),
    };
    let initial = args.lines.0.map_or(Start::All, Start::Last);
    let mut out = Output::new(args.fmt, color, args.follow);
    if args.follow {
        follow(&target, &filters, initial, &mut out)
    } else {
        dump(&target, &filters, initial, args.snapshot, &mut out)
    }
}

// ---- connections ----

/// Where the daemon's query API is.
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

    /// `GET path` on a new connection, the body handed to `sink` as it
    /// comes when the answer is a 200. Answers that are not (a refusal,
    /// the wrong API) are turned into the line that says why.
    fn get(
        &self,
        path: &str,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<client::Head, Open> {
        let mut conn = self.connect()?;
        let mut error_body = Vec::new();
        let head = client::exchange(
            &mut conn,
            &client::request("GET", path, self.host()),
            |head, body| {
                if head.status == 200 {
                    sink(body)
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
/// standard output as they come.
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
    target.get(&path, |body| lines.feed(body, |line| out.line(line)))?;
    lines.finish(|line| out.line(line)).map_err(output_failed)?;
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
    let head = target.get(&probe, |_| Ok(()))?;
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
        .and_then(|s| s.parse::<u64>().ok());
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
    let head = target.get(&path, |body| lines.feed(body, |line| out.line(line)))?;
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

/// One line on standard error, about the connection rather than the logs.
fn notice(line: &str) {
    let _ = writeln!(io::stderr(), "circolog-tail: {line}");
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
    w: io::BufWriter<io::StdoutLock<'static>>,
    scratch: String,
    bytes: Vec<u8>,
}

impl Output {
    fn new(fmt: Fmt, color: bool, live: bool) -> Output {
        Output {
            fmt,
            color,
            live,
            tz: TimeZone::system(),
            w: io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
            scratch: String::new(),
            bytes: Vec::new(),
        }
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

    fn short(&mut self, m: &client::JsonMessage) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
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
        let style = sev.filter(|_| self.color).and_then(client::severity_style);
        if let Some(style) = style {
            self.w.write_all(style.as_bytes())?;
            self.w.write_all(line)?;
            self.w.write_all(client::RESET.as_bytes())?;
        } else {
            self.w.write_all(line)?;
        }
        self.w.write_all(b"\n")?;
        if self.live {
            self.w.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.w.flush().map_err(output_failed)
    }
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
