//! `circolog-ctl`: pause, resume or clear circologd, or show its status,
//! through its control socket.
//!
//! Every command prints the state after it: one line (or, for `status`, a
//! short summary) for people, the daemon's text in it escaped
//! ([`client::escape_text`]), or with `--json` the daemon's JSON answer as
//! it is. `metrics` prints the Prometheus text whatever `--json` says.
//!
//! Exit status: 0 on success; 2 with one line on standard error when the
//! daemon is not there, the socket is not ours to use, or the daemon
//! answers with an error.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use circolog::client::{self, ExchangeError, Role};
use circolog::{cli::manual, ingest::trigger, serve::control};

/// The daemon answers control requests at once; waiting longer means it is stuck.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
#[command(
    name = "circolog-ctl",
    version,
    about = "Control circologd: pause, resume, clear, status, metrics, snapshots, restart",
    long_about = manual::CTL_ABOUT,
    after_help = "Long flags may also be written with one dash (-socket PATH), as in the original circolog.",
    after_long_help = manual::after_long_help(manual::CTL)
)]
struct Args {
    /// Print the manual page or a shell completion script, and exit
    #[arg(long, value_enum, value_name = "WHAT")]
    generate: Option<manual::Generate>,

    /// circologd's control socket [default: /run/circolog-ctl.sock as root, else
    /// $XDG_RUNTIME_DIR/circolog/circolog-ctl.sock or /tmp/circolog-UID/circolog-ctl.sock]
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Print the daemon's JSON answer as it is (metrics are always text)
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
enum Command {
    /// Stop storing messages (they are still read, and discarded)
    Pause {
        /// Resume by itself after DURATION (90s, 10m, 1h)
        #[arg(long = "for", value_name = "DURATION", value_parser = trigger::parse_pause_for)]
        resume_after: Option<Duration>,
    },
    /// Store messages again
    Resume,
    /// Pause if collecting, resume if paused
    Toggle,
    /// Discard every message in memory (followers stay connected)
    Clear,
    /// Show the state, how far back the ring reaches, use, rates, snapshots and triggers
    Status,
    /// Print the counters in the Prometheus text format
    Metrics,
    /// Take a snapshot of the buffer now (read it with circolog-tail --snapshot ID)
    Snapshot {
        /// A note kept with it (at most 256 bytes, one line)
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// List the snapshots
    Snapshots,
    /// Delete a snapshot, overwriting its bytes
    SnapshotDelete {
        /// The snapshot's id, as the list shows it
        id: u64,
    },
    /// Execute circologd again (an upgraded binary takes over), keeping every message, the
    /// snapshots, the pause and the counters; no socket is closed meanwhile
    #[command(
        long_about = "Execute circologd again, from the file it was started from (so an \
                      upgraded binary takes over), with the same arguments. The new process \
                      adopts the ring, the snapshots, the pause and the counters, and every \
                      listening socket: datagrams sent meanwhile wait in their socket, clients \
                      connecting wait to be accepted. Followers are closed with code 1012 and \
                      circolog-tail -f resumes where it was. The answer comes from the new \
                      process: its pid and what it restored. Under systemd, use systemctl \
                      restart, which keeps the ring in the service manager's file descriptor \
                      store; the daemon refuses this there."
    )]
    Restart,
}

impl Command {
    /// The control API's command: its table says how to ask for it.
    fn control(&self) -> control::Command {
        match self {
            Command::Pause { resume_after } => control::Command::Pause {
                resume_after: *resume_after,
            },
            Command::Resume => control::Command::Resume,
            Command::Toggle => control::Command::Toggle,
            Command::Clear => control::Command::Clear,
            Command::Status => control::Command::Status,
            Command::Metrics => control::Command::Metrics,
            Command::Snapshot { note } => control::Command::Snapshot { note: note.clone() },
            Command::Snapshots => control::Command::Snapshots,
            Command::SnapshotDelete { id } => control::Command::SnapshotDelete(*id),
            Command::Restart => control::Command::Restart,
        }
    }
}

fn main() -> ExitCode {
    let args: Args = circolog::cli::config::parse();
    let command = match (args.generate, args.command) {
        (Some(what), _) => {
            return match manual::generate(what, Args::command(), manual::CTL, &mut io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    let _ = writeln!(io::stderr(), "circolog-ctl: {}", client::io_reason(&e));
                    ExitCode::from(2)
                }
            };
        }
        (None, Some(command)) => command,
        (None, None) => Args::command()
            .error(
                clap::error::ErrorKind::MissingSubcommand,
                "a command is required: pause, resume, toggle, clear, status, metrics, \
                 snapshot, snapshots, snapshot-delete or restart",
            )
            .exit(),
    };
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| circolog::cli::config::default_paths().ctl);
    let text = match run(&socket, &command, args.json) {
        Ok(text) => text,
        Err(msg) => {
            let _ = writeln!(io::stderr(), "circolog-ctl: {msg}");
            return ExitCode::from(2);
        }
    };
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // Closed by the reader (`| head`): nothing more to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "circolog-ctl: cannot write to standard output: {}",
                client::io_reason(&e)
            );
            ExitCode::from(2)
        }
    }
}

/// Sends the command; returns what to print.
fn run(socket: &std::path::Path, command: &Command, json: bool) -> Result<String, String> {
    let name = socket.display().to_string();
    let (method, path) = command.control().request();
    let path = path.as_str();
    let mut body = Vec::new();
    let head = request(socket, method, path, &mut body)?;
    match head.status {
        200 => {}
        403 => return Err(format!("not allowed to use {name}")),
        // The query API has no `/status`: asking it for `/?l=0` tells the
        // query socket from something else that speaks HTTP.
        404 if request(socket, "GET", "/?l=0", &mut Vec::new())
            .is_ok_and(|h| client::is_query_answer(&h)) =>
        {
            return Err(client::wrong_api(&name, Role::Control));
        }
        _ => {
            return Err(format!(
                "{name}: {method} {path}: {} {}: {}",
                head.status,
                head.reason,
                client::error_line(&head, &body)
            ));
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if json || *command == Command::Metrics {
        return Ok(text);
    }
    let status: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name}: the answer to {method} {path} is not JSON: {e}"))?;
    Ok(match command {
        Command::Status => {
            client::summarize_status(&status, last_hour(socket).as_ref(), jiff::Timestamp::now())
        }
        Command::Clear => format!("cleared; {}\n", client::describe_state(&status)),
        Command::Snapshot { .. } => describe_snapshot(&status),
        Command::Snapshots => list_snapshots(&status),
        Command::SnapshotDelete { id } => format!(
            "deleted snapshot {id}; {} left\n",
            status["used"]["snapshots"].as_u64().unwrap_or(0)
        ),
        Command::Restart => describe_restart(&status),
        _ => client::describe_state(&status) + &resumes(&status) + "\n",
    })
}

/// `POST /restart`'s answer, from the new process, for people.
fn describe_restart(r: &serde_json::Value) -> String {
    let pid = &r["pid"];
    match r["restored"].as_object() {
        Some(restored) => {
            let n = |k: &str| restored.get(k).and_then(|m| m.as_u64()).unwrap_or(0);
            format!(
                "restarted: pid {pid}, {} messages and {} snapshots restored, {} dropped as \
                 invalid\n",
                n("messages"),
                n("snapshots"),
                n("dropped").saturating_add(n("snapshots_dropped")),
            )
        }
        None => format!("restarted: pid {pid}, with a fresh ring\n"),
    }
}

/// The last hour's volume, from `GET /histogram` on the query socket of
/// the daemon whose control socket is `ctl`; `None` when there is none
/// to ask, or it does not answer (an older daemon, a query API over TCP
/// only): the summary then goes without it.
fn last_hour(ctl: &std::path::Path) -> Option<client::Histogram> {
    let daemons = client::running_daemons().unwrap_or_default();
    let defaults = circolog::cli::config::default_paths();
    let query = client::query_socket_for(ctl, &daemons, &defaults)?;
    let mut body = Vec::new();
    let head = request(&query, "GET", client::status::LAST_HOUR, &mut body).ok()?;
    (head.status == 200).then_some(())?;
    serde_json::from_slice(&body).ok()
}

/// One snapshot, as `POST /snapshot` answers it, for people.
fn describe_snapshot(s: &serde_json::Value) -> String {
    let id = &s["id"];
    let state = if s["taking"].as_bool() == Some(true) {
        "being taken"
    } else {
        "taken"
    };
    format!(
        "snapshot {id} {state}: {}; read it with circolog-tail --snapshot {id}\n",
        snapshot_contents(s)
    )
}

/// What a snapshot holds: `3 messages (seq 4 to 6), 1.2 KiB`, and what it
/// could not keep.
fn snapshot_contents(s: &serde_json::Value) -> String {
    let n = s["messages"].as_u64().unwrap_or(0);
    let plural = if n == 1 { "" } else { "s" };
    let mut text = match (s["first_seq"].as_u64(), s["last_seq"].as_u64()) {
        (Some(first), Some(last)) => format!("{n} message{plural} (seq {first} to {last})"),
        _ => format!("{n} message{plural}"),
    };
    text.push_str(&format!(", {} bytes", s["bytes"].as_u64().unwrap_or(0)));
    for (field, what) in [
        ("did_not_fit", "older ones did not fit"),
        ("evicted", "evicted before they were copied"),
    ] {
        if let Some(k) = s[field].as_u64().filter(|k| *k > 0) {
            text.push_str(&format!(", {k} {what}"));
        }
    }
    text
}

/// `GET /snapshots`, one line per snapshot, for people.
fn list_snapshots(list: &serde_json::Value) -> String {
    if list["enabled"].as_bool() == Some(false) {
        return "snapshots are disabled (-snapshot-bytes 0)\n".to_string();
    }
    let rows = list["snapshots"].as_array().map_or(&[][..], Vec::as_slice);
    if rows.is_empty() {
        return "no snapshots\n".to_string();
    }
    let mut out = String::new();
    for s in rows {
        let why = match (s["why"].as_str(), s["trigger"]["query"].as_str()) {
            (Some("trigger"), Some(q)) => format!(
                "trigger {} (seq {})",
                client::escape_text(q),
                s["trigger"]["seq"].as_u64().unwrap_or(0)
            ),
            (Some(why), _) => client::escape_text(why),
            _ => "?".to_string(),
        };
        out.push_str(&format!(
            "{:>4}  {}  {why}: {}",
            s["id"],
            client::escape_text(s["taken_at"].as_str().unwrap_or("?")),
            snapshot_contents(s)
        ));
        if s["taking"].as_bool() == Some(true) {
            out.push_str(" (being taken)");
        }
        if let Some(note) = s["note"].as_str() {
            out.push_str(&format!(" — {}", client::escape_text(note)));
        }
        out.push('\n');
    }
    out
}

/// When a timed pause ends, as the daemon said: `; resumes at TIME`.
fn resumes(status: &serde_json::Value) -> String {
    match status["resume_at"].as_str() {
        Some(at) => format!("; resumes by itself at {}", client::escape_text(at)),
        None => String::new(),
    }
}

/// One request on a new connection to `socket`; the body is appended to
/// `body`. Failures are the line to print.
fn request(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    body: &mut Vec<u8>,
) -> Result<client::Head, String> {
    let name = socket.display().to_string();
    if let Some(line) = client::not_a_socket(socket) {
        return Err(line);
    }
    let mut conn = UnixStream::connect(socket).map_err(|e| {
        let hint = || {
            let daemons = client::running_daemons();
            let uid = rustix::process::getuid().as_raw();
            client::absent_hint(Role::Control, Some(socket), daemons.as_deref(), uid)
        };
        client::connect_failure(&name, Role::Control, &e, hint).line
    })?;
    conn.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| format!("{name}: {}", client::io_reason(&e)))?;
    client::exchange(
        &mut conn,
        &client::request(method, path, "localhost"),
        |_, b| {
            body.extend_from_slice(b);
            Ok(())
        },
    )
    .map_err(|e| match e {
        ExchangeError::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            format!(
                "{name}: circologd did not answer within {} s",
                TIMEOUT.as_secs()
            )
        }
        ExchangeError::Http(client::HttpError::BadHead(_)) => {
            format!("{name} does not speak HTTP: it is not circologd's control socket")
        }
        e => format!("{name}: {e}"),
    })
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
