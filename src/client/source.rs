//! A daemon to read, and the requests `circolog-tail` makes of it:
//! connecting, `GET` within deadlines, and the line that says what went
//! wrong, sorted by what can be done about it ([`Open`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    ExchangeError, Failed, Head, HttpError, Pace, Role, absent_hint, connect_failure, error_line,
    escape_text, exchange_paced, io_reason, is_control_status, not_a_socket, request,
    running_daemons, wrong_api,
};

/// How long a daemon may take to send the head of its answer: circologd
/// answers at once; a syslog TCP port given as `--addr` never does.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the body of an answer may take to advance by a whole line: a
/// daemon streams its dump as it scans, so waiting longer means it, or
/// what pretends to be it, is stuck.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pace every answer is held to.
pub const PACE: Pace = Pace {
    head: HEAD_TIMEOUT,
    line: LINE_TIMEOUT,
};

/// One daemon to read, and the label of its lines when there are several.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub target: Target,
}

/// Where a daemon's query API is.
#[derive(Clone, Debug)]
pub enum Target {
    Unix(PathBuf),
    Tcp(String),
}

/// Why the program stops early.
#[derive(Debug)]
pub enum Failure {
    /// Standard output was closed (`| head`): not an error.
    Quiet,
    /// One line for standard error.
    Error(String),
    /// Already said on standard error (a source of several that did not
    /// answer): exit status 2 and nothing more.
    Told,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Standard output failed: closed by the reader is a normal end.
pub fn output_failed(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::Quiet
    } else {
        Failure::Error(format!(
            "cannot write to standard output: {}",
            io_reason(&e)
        ))
    }
}

/// Why a connection could not be opened, or went away.
#[derive(Debug)]
pub enum Open {
    /// Stop the program: a query the daemon refuses, standard output
    /// closed. Retrying cannot help.
    Stop(Failure),
    /// Nothing there (yet): no socket file, nobody listening.
    Absent(String),
    /// There, but not answering, or gone while connecting.
    Unreachable(String),
    /// There, and not circologd's query API, or not ours to use.
    Wrong(String),
}

impl Open {
    /// What a follower does about it: stop, or the kind of failure for
    /// [`super::Reconnect::failed`].
    pub fn retry(self) -> Result<(Failed, String)> {
        match self {
            Open::Stop(f) => Err(f),
            Open::Absent(line) => Ok((Failed::Absent, line)),
            Open::Unreachable(line) => Ok((Failed::Unreachable, line)),
            Open::Wrong(line) => Ok((Failed::Wrong, line)),
        }
    }
}

impl From<Open> for Failure {
    fn from(o: Open) -> Failure {
        match o {
            Open::Stop(f) => f,
            Open::Absent(line) | Open::Unreachable(line) | Open::Wrong(line) => {
                Failure::Error(line)
            }
        }
    }
}

/// An error of a body's consumer that is the peer's fault, not standard
/// output's: a line too long, more lines than asked for.
pub fn peer_error(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl Target {
    pub fn name(&self) -> String {
        match self {
            Target::Unix(p) => p.display().to_string(),
            Target::Tcp(a) => a.clone(),
        }
    }

    /// The `Host` of requests: a unix socket has no host name.
    pub fn host(&self) -> &str {
        match self {
            Target::Unix(_) => "localhost",
            Target::Tcp(a) => a,
        }
    }

    pub fn connect(&self) -> Result<Conn, Open> {
        if let Target::Unix(p) = self
            && let Some(line) = not_a_socket(p)
        {
            return Err(Open::Wrong(line));
        }
        let conn = match self {
            Target::Unix(p) => UnixStream::connect(p).map(Conn::Unix),
            Target::Tcp(a) => TcpStream::connect(a.as_str()).map(Conn::Tcp),
        };
        let e = match conn {
            Ok(c) => {
                c.set_read_timeout(HEAD_TIMEOUT)
                    .map_err(|e| self.unreachable(&e))?;
                return Ok(c);
            }
            Err(e) => e,
        };
        let hint = || {
            let daemons = running_daemons();
            let uid = rustix::process::getuid().as_raw();
            let path = match self {
                Target::Unix(p) => Some(p.as_path()),
                Target::Tcp(_) => None,
            };
            absent_hint(Role::Query, path, daemons.as_deref(), uid)
        };
        let failure = connect_failure(&self.name(), Role::Query, &e, hint);
        Err(if failure.absent {
            Open::Absent(failure.line)
        } else {
            Open::Wrong(failure.line)
        })
    }

    pub fn unreachable(&self, e: &io::Error) -> Open {
        Open::Unreachable(format!("{}: {}", self.name(), io_reason(e)))
    }

    /// What a request that got no answer in time says: over TCP, the port
    /// may be a syslog input, which reads a request as a message and never
    /// answers.
    fn no_answer(&self, within: Duration) -> String {
        let why = match self {
            Target::Unix(_) => "",
            Target::Tcp(_) => {
                " (a syslog input port? it is not circologd's query API, which is its -query-addr)"
            }
        };
        format!(
            "{}: circologd did not answer within {} s{why}",
            self.name(),
            within.as_secs()
        )
    }

    /// `GET path` on a new connection, the body handed to `sink` (with the
    /// response head) as it comes when the answer is a 200, within
    /// [`PACE`]. Answers that are not (a refusal, the wrong API) are
    /// turned into the line that says why. A sink error of kind
    /// `InvalidData` ([`peer_error`]) is the peer's fault.
    pub fn get(
        &self,
        path: &str,
        mut sink: impl FnMut(&Head, &[u8]) -> io::Result<()>,
    ) -> Result<Head, Open> {
        let mut conn = self.connect()?;
        let mut error_body = Vec::new();
        let head = exchange_paced(
            &mut conn,
            Conn::set_read_timeout,
            Some(PACE),
            &request("GET", path, self.host()),
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
            404 if self.is_control_api() => Err(Open::Wrong(wrong_api(&self.name(), Role::Query))),
            400 => Err(Open::Stop(Failure::Error(self.refused(&head, &error_body)))),
            403 | 404 => Err(Open::Wrong(self.refused(&head, &error_body))),
            _ => Err(Open::Unreachable(self.refused(&head, &error_body))),
        }
    }

    fn is_control_api(&self) -> bool {
        let Ok(mut conn) = self.connect() else {
            return false;
        };
        let mut body = Vec::new();
        let head = exchange_paced(
            &mut conn,
            Conn::set_read_timeout,
            Some(PACE),
            &request("GET", "/status", self.host()),
            |_, b| {
                keep_some(&mut body, b);
                Ok(())
            },
        );
        head.is_ok_and(|h| is_control_status(&h, &body))
    }

    fn exchange_failed(&self, e: ExchangeError) -> Open {
        match e {
            ExchangeError::Sink(e) if e.kind() == io::ErrorKind::InvalidData => {
                Open::Wrong(format!("{}: {}", self.name(), e))
            }
            ExchangeError::Sink(e) => Open::Stop(output_failed(e)),
            ExchangeError::NoAnswer(within) => Open::Unreachable(self.no_answer(within)),
            ExchangeError::Http(HttpError::BadHead(_)) => Open::Wrong(format!(
                "{} does not speak HTTP: it is not circologd's query API",
                self.name()
            )),
            e => Open::Unreachable(format!("{}: {e}", self.name())),
        }
    }

    /// The line for a response that is not a 200.
    pub fn refused(&self, head: &Head, body: &[u8]) -> String {
        match head.status {
            403 => format!("not allowed to use {}", self.name()),
            400 => format!("circologd refused the query: {}", error_line(head, body)),
            _ => format!(
                "{}: unexpected answer {} {}: {}",
                self.name(),
                head.status,
                escape_text(&head.reason),
                error_line(head, body)
            ),
        }
    }
}

/// A connection to a daemon.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
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

/// Keeps the start of an error body: its first line is all that is shown.
fn keep_some(kept: &mut Vec<u8>, more: &[u8]) {
    let room = 4096usize.saturating_sub(kept.len());
    kept.extend_from_slice(&more[..more.len().min(room)]);
}
