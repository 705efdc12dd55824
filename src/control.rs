//! The control API: one table of commands, read by the daemon to route a
//! request and by `circolog-ctl` to make one, and what applying a command
//! does to the [`State`].
//!
//! | request | command |
//! |---|---|
//! | `POST /pause/toggle` | [`Command::Toggle`] |
//! | `POST /pause`, `POST /resume` | [`Command::Pause`], [`Command::Resume`] |
//! | `POST /logs/clear` | [`Command::Clear`] |
//! | `GET /status`, `GET /metrics` (and `HEAD`) | [`Command::Status`], [`Command::Metrics`] |
//!
//! Every answer but `/metrics` is the `/status` JSON after the change.

use crate::daemon::State;
use crate::http::Method;
use crate::status;

/// What a control request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Toggle,
    Pause,
    Resume,
    Clear,
    Status,
    Metrics,
}

/// How each command is asked for: the method and the path.
const ROUTES: [(Command, Method, &str); 6] = [
    (Command::Toggle, Method::Post, "/pause/toggle"),
    (Command::Pause, Method::Post, "/pause"),
    (Command::Resume, Method::Post, "/resume"),
    (Command::Clear, Method::Post, "/logs/clear"),
    (Command::Status, Method::Get, "/status"),
    (Command::Metrics, Method::Get, "/metrics"),
];

/// Why a request names no command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// `404`.
    NotFound,
    /// `405`, with the `Allow` header's value.
    MethodNotAllowed(&'static str),
    /// `400`: control requests take no query parameters.
    BadQuery,
}

impl Command {
    /// The command a request asks for. `HEAD` is accepted wherever `GET` is.
    pub fn route(method: Method, path: &str, query: &str) -> Result<Command, RouteError> {
        let (command, want, _) = ROUTES
            .iter()
            .find(|(_, _, p)| *p == path)
            .copied()
            .ok_or(RouteError::NotFound)?;
        let method_ok = match want {
            Method::Get => matches!(method, Method::Get | Method::Head),
            want => method == want,
        };
        if !method_ok {
            return Err(RouteError::MethodNotAllowed(match want {
                Method::Get => "GET, HEAD",
                _ => "POST",
            }));
        }
        if !query.is_empty() {
            return Err(RouteError::BadQuery);
        }
        Ok(command)
    }

    /// The method and path that ask for this command.
    pub fn request(self) -> (&'static str, &'static str) {
        // ROUTES lists the commands in their declared order (a test checks).
        let (_, method, path) = ROUTES[self as usize];
        let method = match method {
            Method::Post => "POST",
            _ => "GET",
        };
        (method, path)
    }

    /// Whether the command changes the state (and so wakes the followers).
    pub fn changes_state(self) -> bool {
        !matches!(self, Command::Status | Command::Metrics)
    }
}

/// What a command answers.
#[derive(Debug)]
pub enum Answer {
    /// The `/status` document after the change.
    Status(serde_json::Value),
    /// The Prometheus text of `/metrics`.
    Metrics(String),
}

/// Carries out `command` on `st` at `now_us` (µs since 1970).
pub fn apply(command: Command, st: &mut State, now_us: i64) -> Answer {
    match command {
        Command::Toggle => st.toggle_pause(),
        Command::Pause => st.set_paused(true),
        Command::Resume => st.set_paused(false),
        Command::Clear => st.clear(),
        Command::Status => {}
        Command::Metrics => return Answer::Metrics(status::metrics(st, now_us)),
    }
    Answer::Status(status::status(st, now_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_routes_from_its_own_request() {
        for (i, (command, _, _)) in ROUTES.into_iter().enumerate() {
            assert_eq!(command as usize, i, "ROUTES is in the enum's order");
            let (method, path) = command.request();
            let method = if method == "POST" {
                Method::Post
            } else {
                Method::Get
            };
            assert_eq!(Command::route(method, path, ""), Ok(command));
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
            Err(RouteError::BadQuery)
        );
    }
}
