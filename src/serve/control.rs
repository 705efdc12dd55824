//! The control API: one table of commands, read by the daemon to route a
//! request and by `circolog-ctl` to make one, and what applying a command
//! does to the [`State`].
//!
//! | request | command |
//! |---|---|
//! | `POST /pause/toggle` | [`Command::Toggle`] |
//! | `POST /pause`, `POST /resume` | [`Command::Pause`], [`Command::Resume`] |
//! | `POST /pause?for=DURATION` | [`Command::Pause`] with `resume_after` |
//! | `POST /logs/clear` | [`Command::Clear`] |
//! | `GET /status`, `GET /metrics` (and `HEAD`) | [`Command::Status`], [`Command::Metrics`] |
//! | `POST /restart` | [`Command::Restart`] |
//!
//! Every answer but `/metrics` is the `/status` JSON after the change;
//! `/restart`'s is [`restarted`], written by the new process.

use std::time::Duration;

use crate::daemon::{PausedBy, State};
use crate::http::Method;
use crate::ingest::trigger;
use crate::query::{self, percent_decode};
use crate::serve::status;
use crate::store::snapshot::{self, Note, Why};

/// What a control request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Toggle,
    /// `POST /pause`, and with `?for=DURATION` a pause that ends by itself.
    Pause {
        resume_after: Option<Duration>,
    },
    Resume,
    Clear,
    Status,
    Metrics,
    /// `POST /snapshot?note=TEXT`.
    Snapshot {
        note: Option<String>,
    },
    /// `GET /snapshots`.
    Snapshots,
    /// `DELETE /snapshots/ID`.
    SnapshotDelete(u64),
    /// `POST /snapshots/clear`.
    SnapshotsClear,
    /// `POST /restart`: execute the daemon again, handing it the memory
    /// file and every listening socket.
    Restart,
}

/// Every command, each with how it is asked for (`/snapshots/ID` stands for
/// any id).
const ROUTES: [(Command, Method, &str); 11] = [
    (Command::Toggle, Method::Post, "/pause/toggle"),
    (
        Command::Pause { resume_after: None },
        Method::Post,
        "/pause",
    ),
    (Command::Resume, Method::Post, "/resume"),
    (Command::Clear, Method::Post, "/logs/clear"),
    (Command::Status, Method::Get, "/status"),
    (Command::Metrics, Method::Get, "/metrics"),
    (Command::Snapshot { note: None }, Method::Post, "/snapshot"),
    (Command::Snapshots, Method::Get, "/snapshots"),
    (Command::SnapshotDelete(0), Method::Delete, "/snapshots/ID"),
    (Command::SnapshotsClear, Method::Post, "/snapshots/clear"),
    (Command::Restart, Method::Post, "/restart"),
];

/// Why a request names no command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// `404`.
    NotFound,
    /// `405`, with the `Allow` header's value.
    MethodNotAllowed(&'static str),
    /// `400`, with the one-line reason.
    BadQuery(String),
}

/// Whether a route that takes `want` takes `method`: `GET` takes `HEAD`
/// too, any other method only itself. Else the `405` with its `Allow`.
/// The rule of both APIs' route tables.
pub(crate) fn check_method(want: Method, method: Method) -> Result<(), RouteError> {
    let ok = match want {
        Method::Get => matches!(method, Method::Get | Method::Head),
        want => method == want,
    };
    if ok {
        return Ok(());
    }
    Err(RouteError::MethodNotAllowed(match want {
        Method::Get => "GET, HEAD",
        Method::Delete => "DELETE",
        _ => "POST",
    }))
}

impl Command {
    /// The command a request asks for. `HEAD` is accepted wherever `GET` is.
    pub fn route(method: Method, path: &str, query: &str) -> Result<Command, RouteError> {
        let id = path
            .strip_prefix("/snapshots/")
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        let pattern = if id.is_some() { "/snapshots/ID" } else { path };
        let (command, want, _) = ROUTES
            .iter()
            .find(|(_, _, p)| *p == pattern)
            .cloned()
            .ok_or(RouteError::NotFound)?;
        check_method(want, method)?;
        let mut params = Params::parse(query)?;
        let command = match command {
            Command::Pause { .. } => Command::Pause {
                resume_after: params
                    .take("for")
                    .map(|d| trigger::parse_pause_for(&d))
                    .transpose()
                    .map_err(RouteError::BadQuery)?,
            },
            // An empty note is no note.
            Command::Snapshot { .. } => Command::Snapshot {
                note: params.take("note").filter(|n| !n.is_empty()),
            },
            // An id too large for a u64 names no snapshot.
            Command::SnapshotDelete(_) => Command::SnapshotDelete(
                id.and_then(|id| id.parse().ok())
                    .ok_or(RouteError::NotFound)?,
            ),
            c => c,
        };
        params.done(path)?;
        Ok(command)
    }

    /// The method and the request target (path and query) that ask for
    /// this command.
    pub fn request(&self) -> (&'static str, String) {
        let route = ROUTES
            .iter()
            .find(|(c, _, _)| std::mem::discriminant(c) == std::mem::discriminant(self));
        let (method, path) = match route {
            Some((_, Method::Post, path)) => ("POST", *path),
            Some((_, Method::Delete, path)) => ("DELETE", *path),
            Some((_, _, path)) => ("GET", *path),
            None => unreachable!("every command has a route (a test checks)"),
        };
        let target = match self {
            Command::Pause {
                resume_after: Some(d),
            } => format!("{path}?for={}ms", d.as_millis()),
            Command::Snapshot { note: Some(note) } => {
                format!("{path}?note={}", query::encode_component(note))
            }
            Command::SnapshotDelete(id) => format!("/snapshots/{id}"),
            _ => path.to_string(),
        };
        (method, target)
    }

    /// Whether the command changes the state (and so wakes the followers).
    pub fn changes_state(&self) -> bool {
        !matches!(self, Command::Status | Command::Metrics)
    }
}

/// A control request's query parameters, decoded; each command takes the
/// ones it knows, and any left over is an error.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Result<Params, RouteError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let decode = |s: &str| {
                percent_decode(s)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        RouteError::BadQuery(format!(
                            "bad parameter {piece:?}: bad percent-encoding or not UTF-8"
                        ))
                    })
            };
            let (name, value) = (decode(name)?, decode(value)?);
            if params.iter().any(|(n, _)| *n == name) {
                return Err(RouteError::BadQuery(format!(
                    "repeated parameter \"{name}\""
                )));
            }
            params.push((name, value));
        }
        Ok(Params(params))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(i).1)
    }

    fn done(self, path: &str) -> Result<(), RouteError> {
        match self.0.first() {
            None => Ok(()),
            Some((name, _)) => Err(RouteError::BadQuery(format!(
                "unknown parameter \"{name}\" for {path}"
            ))),
        }
    }
}

/// What a command answers.
#[derive(Debug)]
pub enum Answer {
    /// The `/status` document after the change.
    Status(serde_json::Value),
    /// The Prometheus text of `/metrics`.
    Metrics(String),
    /// A snapshot.
    Json(serde_json::Value),
    /// The list of snapshots ([`crate::store::snapshot::Snapshots::list`]),
    /// which the connection writes a slice at a time.
    List,
    /// The command could not be carried out: the status and its reason.
    Error(u16, String),
    /// `POST /restart`: the driver executes the daemon again; the new
    /// process answers ([`restarted`]).
    Restart,
}

/// Carries out `command` on `st` at `now_us` (µs since 1970).
pub fn apply(command: &Command, st: &mut State, now_us: i64) -> Answer {
    match command {
        Command::Toggle => st.toggle_pause(PausedBy::Api),
        Command::Pause { resume_after: None } => st.pause(PausedBy::Api),
        Command::Pause {
            resume_after: Some(d),
        } => st.pause_for(*d, now_us, PausedBy::Api),
        Command::Resume => st.resume(),
        Command::Clear => st.clear(),
        Command::Status => {}
        Command::Metrics => return Answer::Metrics(status::metrics(st, now_us)),
        Command::Snapshot { note } => {
            let taken = note
                .as_deref()
                .map(Note::new)
                .transpose()
                .and_then(|note| st.take_snapshot(Why::Api, note, now_us));
            return match taken {
                Ok(id) => match st.snapshots().info(id) {
                    Some(info) => Answer::Json(info.to_json()),
                    None => Answer::Error(500, format!("snapshot {id} is already gone")),
                },
                Err(e) => snapshot_error(&e),
            };
        }
        Command::Snapshots => return Answer::List,
        Command::SnapshotDelete(id) => {
            return match st.delete_snapshot(*id) {
                Ok(()) => Answer::List,
                Err(e) => snapshot_error(&e),
            };
        }
        Command::SnapshotsClear => {
            st.clear_snapshots();
            return Answer::List;
        }
        Command::Restart => {
            // What the next process adopts is in the file as of now.
            st.hand_over();
            return Answer::Restart;
        }
    }
    Answer::Status(status::status(st, now_us))
}

/// The answer to `POST /restart`, from the process that took over (`pid`,
/// the same after `execve`): its pid and `/status`'s `restored`.
pub fn restarted(st: &State, pid: u32, now_us: i64) -> serde_json::Value {
    let status = status::status(st, now_us);
    serde_json::json!({
        "pid": pid,
        "restored": status.get("restored").cloned().unwrap_or_default(),
    })
}

/// The whole HTTP response [`restarted`] is in; the connection closes
/// after it.
pub fn restarted_response(st: &State, pid: u32, now_us: i64, out: &mut Vec<u8>) {
    let body = restarted(st, pid, now_us).to_string() + "\n";
    let epoch = st.epoch_us().to_string();
    crate::http::write_simple(
        out,
        200,
        "application/json",
        body.as_bytes(),
        false,
        false,
        &[("X-Circolog-Epoch", epoch.as_str())],
    );
}

/// A snapshot request that failed: unknown id `404`, a bad note `400`,
/// snapshots disabled `409`.
fn snapshot_error(e: &snapshot::Error) -> Answer {
    let status = match e {
        snapshot::Error::NotFound(_) => 404,
        snapshot::Error::Disabled => 409,
        snapshot::Error::NoteTooLong { .. } | snapshot::Error::NoteControl => 400,
    };
    Answer::Error(status, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_routes_from_its_own_request() {
        let timed = Command::Pause {
            resume_after: Some(Duration::from_secs(600)),
        };
        let noted = Command::Snapshot {
            note: Some("after the deploy & more".into()),
        };
        let extra = [timed, noted, Command::SnapshotDelete(u64::MAX)];
        for command in ROUTES.into_iter().map(|(c, _, _)| c).chain(extra) {
            let (method, target) = command.request();
            let method = match method {
                "POST" => Method::Post,
                "DELETE" => Method::Delete,
                _ => Method::Get,
            };
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            assert_eq!(Command::route(method, path, query), Ok(command));
        }
    }

    #[test]
    fn wrong_method_unknown_path_and_parameters_are_refused() {
        assert_eq!(
            Command::route(Method::Get, "/pause", ""),
            Err(RouteError::MethodNotAllowed("POST"))
        );
        assert_eq!(
            Command::route(Method::Post, "/status", ""),
            Err(RouteError::MethodNotAllowed("GET, HEAD"))
        );
        assert_eq!(
            Command::route(Method::Head, "/metrics", ""),
            Ok(Command::Metrics)
        );
        assert_eq!(
            Command::route(Method::Other, "/logs/clear", ""),
            Err(RouteError::MethodNotAllowed("POST"))
        );
        assert_eq!(
            Command::route(Method::Get, "/nope", ""),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            Command::route(Method::Post, "/pause", "x=1"),
            Err(RouteError::BadQuery(
                "unknown parameter \"x\" for /pause".into()
            ))
        );
        assert_eq!(
            Command::route(Method::Post, "/status", "for=1m"),
            Err(RouteError::MethodNotAllowed("GET, HEAD"))
        );
        assert_eq!(
            Command::route(Method::Get, "/status", "for=1m"),
            Err(RouteError::BadQuery(
                "unknown parameter \"for\" for /status".into()
            ))
        );
    }

    #[test]
    fn snapshot_ids_are_numbers() {
        assert_eq!(
            Command::route(Method::Delete, "/snapshots/7", ""),
            Ok(Command::SnapshotDelete(7))
        );
        assert_eq!(
            Command::route(Method::Get, "/snapshots/7", ""),
            Err(RouteError::MethodNotAllowed("DELETE"))
        );
        for path in [
            "/snapshots/x",
            "/snapshots/",
            "/snapshots/99999999999999999999",
        ] {
            assert_eq!(
                Command::route(Method::Delete, path, ""),
                Err(RouteError::NotFound),
                "{path}"
            );
        }
        assert_eq!(
            Command::route(Method::Post, "/snapshots/clear", ""),
            Ok(Command::SnapshotsClear)
        );
    }

    #[test]
    fn a_timed_pause_takes_a_duration() {
        assert_eq!(
            Command::route(Method::Post, "/pause", "for=10m"),
            Ok(Command::Pause {
                resume_after: Some(Duration::from_secs(600))
            })
        );
        for bad in ["for=", "for=0s", "for=ten", "for=5y", "for=1m&for=2m"] {
            match Command::route(Method::Post, "/pause", bad) {
                Err(RouteError::BadQuery(reason)) => {
                    assert!(!reason.contains('\n'), "{bad}: {reason}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
