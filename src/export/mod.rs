//! Export to a log pipeline: records POSTed as OTLP/HTTP protobuf
//! (`ExportLogsServiceRequest`) to `-export-otlp`, by a state machine
//! without I/O, like [`crate::serve::conn`]. The driver tells it what happened
//! ([`Exporter::push_message`], [`Exporter::handle_connected`],
//! [`Exporter::handle_response`], [`Exporter::handle_eof`],
//! [`Exporter::handle_error`]) and asks it what to do
//! ([`Exporter::poll`], which answers an [`Action`]); every call takes the
//! time, so the tests run on a fake clock.
//!
//! ```text
//!                 batch due        connected                 request in `out`
//!  Disconnected ─────────► Connecting ───────► Ready ────────────────────────► AwaitResponse
//!       ▲                   │ error, timeout     ▲  2xx, 4xx, 429/5xx (keep-alive) │
//!       │                   ▼                    └─────────────────────────────────┤
//!       └──── (Close) ── MustClose ◄─── error, EOF, timeout, bad response, close ──┘
//! ```
//!
//! Records wait in a bounded queue in RAM, already encoded (`Queue`): a
//! dead endpoint never blocks ingestion, it only makes the queue overflow,
//! and the oldest waiting records are then dropped and counted. A batch is
//! sent when the oldest waiting record has waited [`LINGER`], or sooner
//! when [`MAX_BATCH_RECORDS`] (or [`MAX_BATCH_BYTES`]) are waiting; one
//! request at a time, over one keep-alive connection. A batch leaves the
//! queue once the endpoint has answered for it (or sooner when the buffer
//! overflows: the request holds a copy, and the answer says what became of
//! those records):
//! - 2xx: exported (records rejected in a partial success are failed),
//!   from the moment the status line says so: a response that then stalls
//!   or breaks off closes the connection but sends nothing again;
//! - 429 and 5xx, a connection error, a timeout, a malformed response: it
//!   stays queued and is sent again after a backoff ([`FIRST_BACKOFF`],
//!   doubling up to [`MAX_BACKOFF`]), or after `Retry-After` seconds when
//!   the response gives them (never sooner than [`FIRST_BACKOFF`]);
//! - any other status (4xx, 3xx): dropped and counted as failed, since
//!   sending the same bytes again would get the same answer.
//!
//! A kept-alive connection that ends before any of the response comes was
//! most likely closed as idle by the endpoint just as the request went: the
//! batch goes again at once on a new connection, as HTTP clients do.
//!
//! Every record is in exactly one of [`Counters`]' `exported`, `failed`,
//! `dropped` and `queued` (which holds those in flight), at every moment.
//!
//! Every wait has its deadline, which [`Exporter::poll`] gives as
//! [`Action::Wait`] and enforces with [`Action::Close`]: connecting has
//! [`CONNECT_TIMEOUT`]; writing the request and reading the whole response
//! share one [`RESPONSE_TIMEOUT`], so an endpoint that never reads is given
//! up like one that never answers. The driver keeps polling while it
//! connects, writes and reads, and obeys the first `Close`.
//!
//! # Protobuf: written by hand
//!
//! The messages are written directly with the field numbers of the
//! official OpenTelemetry `.proto` files (`otlp.rs`), and the tests decode
//! them with the types prost generates from those files (the
//! `opentelemetry-proto` crate, a dev-dependency) and with the official
//! Python package. Neither of the usual ways fits the daemon:
//! - the `opentelemetry-proto` crate gives its prost types with the
//!   features `gen-tonic-messages` and `logs` (no tonic, MSRV 1.75), but
//!   always depends on `opentelemetry` and `opentelemetry_sdk` (with the
//!   futures executor): an SDK in the daemon for a handful of structs;
//! - prost on vendored `.proto` files needs `protoc`, or `prost-build`
//!   with `protox` as a pure-Rust compiler, at build time: a build script
//!   and a compiler for the same structs.
//!
//! And the structs themselves are the problem: a prost `LogRecord` owns a
//! `String` for the body and for every attribute, a dozen heap copies of
//! the message per record, freed without being overwritten. The
//! reference's "Storage" holds the export queue to the same rule as the ring: no byte
//! of a message stays behind once it is gone. Written by hand, a record is
//! encoded straight into one buffer allocated once, queued as bytes, and
//! zeroed when sent or dropped; a batch is the queued bytes copied as they
//! are behind a fixed prefix. Nothing to build, no dependency.

#![forbid(unsafe_code)]

mod endpoint;
mod otlp;

pub use endpoint::{DEFAULT_PATH, Endpoint, EndpointError};
pub use otlp::{SERVICE_NAME, severity_number};

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::http::response::{Head, ResponseDecoder};
use crate::ingest::syslog::Message;
use crate::store::ring::Entry;

use otlp::{Origin, Prefix, Writer};

/// `-export-buffer` when not given.
pub const DEFAULT_BUFFER: usize = 8 << 20;
/// The smallest `-export-buffer`.
pub const MIN_BUFFER: usize = 64 << 10;
/// A batch is sent once its oldest record has waited this long.
pub const LINGER: Duration = Duration::from_secs(1);
/// At most this many records go in one request.
pub const MAX_BATCH_RECORDS: usize = 1000;
/// At most this many bytes of records go in one request (collectors refuse
/// large bodies; 4 MiB is gRPC's default limit, which many of them keep).
/// It is also the largest record: a larger one is dropped.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// A connection not established by then is given up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A request whose whole response has not come by then is given up.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The wait after the first failure; it doubles with each one after.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A longer `Retry-After` is cut to this: records keep arriving meanwhile.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Of a response body, only this much is kept (for the last error and a
/// partial success); the rest is read and discarded.
const MAX_RESPONSE_BODY: usize = 64 << 10;

/// How the exporter is set up (docs/reference.md, "Export to a log pipeline").
#[derive(Clone, Debug)]
pub struct Config {
    /// `-export-otlp`.
    pub endpoint: Endpoint,
    /// `-export-buffer`: bytes of encoded records that may wait.
    pub buffer_bytes: usize,
    /// The resource's `host.name`: this host.
    pub host_name: String,
    /// The daemon's epoch (µs since 1970): every record's `circolog.epoch`.
    pub epoch_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    BufferTooSmall,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::BufferTooSmall => write!(
                f,
                "the export buffer must be at least {}K",
                MIN_BUFFER >> 10
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What the exporter wants the driver to do next. Whenever a connection is
/// open, the driver keeps reading it and gives what it reads to
/// [`Exporter::handle_response`], its end to [`Exporter::handle_eof`], and
/// a failure to read or write to [`Exporter::handle_error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to send: poll again after the next push (or
    /// [`Exporter::clear`]).
    Idle,
    /// Poll again at `until` (the end of a batch's linger, of a backoff, or
    /// a deadline), or sooner after any `handle_*` or push.
    Wait { until: Instant },
    /// Open a TCP connection to the endpoint's host and port, then call
    /// [`Exporter::handle_connected`], or [`Exporter::handle_error`] if it
    /// fails; poll meanwhile (a connection that takes too long is given up
    /// with [`Action::Close`]).
    Connect,
    /// The request was appended to `out`: write it on the connection
    /// while polling again (the write shares the response's deadline), and
    /// overwrite it with zeros once written (it holds copies of messages).
    Send,
    /// Close the connection (if one is open or being opened), abandon
    /// and zero what is left of a request being written, then poll again.
    Close,
}

/// Counters for `/status` and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records the endpoint accepted.
    pub exported: u64,
    /// Records of attempts that failed and will be sent again, counted at
    /// each attempt: a record sent three times before it got through
    /// counts two here.
    pub retried: u64,
    /// Records the endpoint refused (any status other than 2xx, 429, 5xx;
    /// or rejected in a partial success): not sent again.
    pub failed: u64,
    /// Records that never reached the endpoint: the oldest waiting, dropped
    /// for room when the buffer was full (also those larger than a whole
    /// batch may be, and those discarded by a clear).
    pub dropped: u64,
    /// Records waiting now, including those of the request in flight
    /// (also those of it the buffer has dropped meanwhile: the answer
    /// decides whether they were exported or are dropped).
    pub queued: u64,
    /// Bytes of the records waiting now.
    pub queue_bytes: u64,
    /// `-export-buffer`.
    pub queue_capacity: u64,
}

/// Sends records to an OTLP/HTTP endpoint; see the module doc.
pub struct Exporter {
    endpoint: Endpoint,
    epoch_us: i64,
    prefix: Prefix,
    queue: Queue,
    /// Where a record is encoded before it is queued. INVARIANT: empty
    /// (and zero) between calls.
    scratch: Writer,
    state: State,
    /// No attempt before then.
    retry_at: Option<Instant>,
    /// The wait after the next failure.
    backoff: Duration,
    /// The body of the response being read, up to [`MAX_RESPONSE_BODY`].
    body: Vec<u8>,
    counters: Counters,
    last_error: Option<String>,
}

/// Where the connection is.
enum State {
    Disconnected,
    Connecting {
        deadline: Instant,
    },
    /// Connected, no request in flight. `reused`: a response came on this
    /// connection already.
    Ready {
        reused: bool,
    },
    AwaitResponse(Attempt),
    /// The connection must go: [`Action::Close`] says so, then
    /// `Disconnected`.
    MustClose,
}

/// A request in flight: the first `count` records of the queue when it was
/// sent (ids `first..first + count`).
struct Attempt {
    first: u64,
    count: u64,
    /// Records of the batch dropped from the queue since they were sent:
    /// counted once the endpoint has answered.
    evicted: u64,
    deadline: Instant,
    decoder: ResponseDecoder,
    /// Some of the response has come.
    answered: bool,
    /// Sent on a connection that had carried a response before.
    reused: bool,
}

impl Attempt {
    fn holds(&self, id: u64) -> bool {
        (self.first..self.first + self.count).contains(&id)
    }
}

impl Exporter {
    pub fn new(config: Config) -> Result<Exporter, ConfigError> {
        if config.buffer_bytes < MIN_BUFFER {
            return Err(ConfigError::BufferTooSmall);
        }
        Ok(Exporter {
            prefix: Prefix::new(&config.host_name),
            endpoint: config.endpoint,
            epoch_us: config.epoch_us,
            queue: Queue::new(config.buffer_bytes),
            scratch: Writer::new(config.buffer_bytes.min(MAX_BATCH_BYTES)),
            state: State::Disconnected,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            body: Vec::new(),
            counters: Counters::default(),
            last_error: None,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn counters(&self) -> Counters {
        let evicted = match &self.state {
            State::AwaitResponse(a) => a.evicted,
            _ => 0,
        };
        Counters {
            queued: self.queue.records.len() as u64 + evicted,
            queue_bytes: self.queue.bytes as u64,
            queue_capacity: self.queue.buf.len() as u64,
            ..self.counters
        }
    }

    /// Why the last attempt failed (or what the endpoint said of records it
    /// rejected), one line; kept after later successes.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Bytes free in the queue now, evicting nothing: a driver that exports
    /// a large snapshot pushes while a record fits, then waits for batches
    /// to go, rather than overflow the queue with its own records.
    pub fn room(&self) -> usize {
        self.queue.buf.len() - self.queue.bytes
    }

    /// Queues a stored message, parsed; `snapshot` is the snapshot's id
    /// when the message is exported from one. When the buffer is full, the
    /// oldest waiting records are dropped for room. Poll afterwards: a full
    /// batch is due at once.
    pub fn push_message(
        &mut self,
        now: Instant,
        entry: &Entry<'_>,
        msg: &Message<'_>,
        snapshot: Option<u64>,
    ) {
        let origin = Origin {
            epoch_us: self.epoch_us,
            snapshot,
        };
        otlp::write_record(&mut self.scratch, entry, msg, origin);
        if self.scratch.overflowed() {
            // Larger than a batch may be: it could never be sent.
            self.counters.dropped += 1;
        } else {
            let len = self.scratch.bytes().len();
            let start = loop {
                if let Some(start) = self.queue.fit(len) {
                    break start;
                }
                // The record is no larger than the buffer: it fits once the
                // queue is empty, so this ends.
                self.evict_oldest();
            };
            self.queue.insert(start, self.scratch.bytes(), now);
        }
        self.scratch.wipe();
    }

    /// Discards every waiting record and overwrites its bytes (the daemon's
    /// clear). A request in flight is abandoned: the next poll answers
    /// [`Action::Close`], and the driver overwrites what it had not
    /// written of it. Its records count as dropped, even if the endpoint
    /// had already read some of them.
    pub fn clear(&mut self) {
        if let State::AwaitResponse(attempt) = &self.state {
            self.counters.dropped += attempt.evicted;
            wipe(&mut self.body);
            self.state = State::MustClose;
        }
        while !self.queue.records.is_empty() {
            self.evict_oldest();
        }
    }

    /// What to do next; a request to send is appended to `out`, which
    /// should be empty (so that making room in it copies nothing).
    pub fn poll(&mut self, now: Instant, out: &mut Vec<u8>) -> Action {
        loop {
            match &self.state {
                State::MustClose => {
                    self.state = State::Disconnected;
                    return Action::Close;
                }
                State::Connecting { deadline } => {
                    if now < *deadline {
                        return Action::Wait { until: *deadline };
                    }
                    let why = format!(
                        "connecting to {} timed out after {} s",
                        self.endpoint.authority(),
                        CONNECT_TIMEOUT.as_secs()
                    );
                    self.fail(now, why);
                }
                State::AwaitResponse(attempt) => {
                    if now < attempt.deadline {
                        return Action::Wait {
                            until: attempt.deadline,
                        };
                    }
                    let why = format!(
                        "{} gave no response within {} s",
                        self.endpoint.authority(),
                        RESPONSE_TIMEOUT.as_secs()
                    );
                    self.fail(now, why);
                }
                State::Disconnected | State::Ready { .. } => {
                    if let Some(at) = self.retry_at {
                        if now < at {
                            return Action::Wait { until: at };
                        }
                        self.retry_at = None;
                    }
                    let Some(due) = self.due() else {
                        return Action::Idle;
                    };
                    if now < due {
                        return Action::Wait { until: due };
                    }
                    return match self.state {
                        State::Ready { reused } => {
                            self.send(now, reused, out);
                            Action::Send
                        }
                        _ => {
                            self.state = State::Connecting {
                                deadline: now + CONNECT_TIMEOUT,
                            };
                            Action::Connect
                        }
                    };
                }
            }
        }
    }

    /// The connection asked for by [`Action::Connect`] is open.
    pub fn handle_connected(&mut self, _now: Instant) {
        if matches!(self.state, State::Connecting { .. }) {
            self.state = State::Ready { reused: false };
        }
    }

    /// Bytes read from the connection.
    pub fn handle_response(&mut self, now: Instant, data: &[u8]) {
        let State::AwaitResponse(attempt) = &mut self.state else {
            if matches!(self.state, State::Ready { .. }) && !data.is_empty() {
                // Nothing was asked: the connection is out of step.
                self.state = State::MustClose;
            }
            return;
        };
        attempt.answered |= !data.is_empty();
        let fed = attempt.decoder.feed(data, &mut self.body);
        keep_first(&mut self.body, MAX_RESPONSE_BODY);
        if let Err(e) = fed {
            let why = format!("malformed response from {}: {e}", self.endpoint.authority());
            self.fail(now, why);
            return;
        }
        if attempt.decoder.is_done() {
            self.complete(now, true);
        }
    }

    /// The connection reached its end (the peer closed it).
    pub fn handle_eof(&mut self, now: Instant) {
        match &mut self.state {
            State::AwaitResponse(attempt) => {
                if attempt.decoder.finish().is_ok() {
                    // A body without a length ends with the connection.
                    self.complete(now, false);
                } else if !self.retry_stale() {
                    let why = format!(
                        "{} closed the connection before the whole response",
                        self.endpoint.authority()
                    );
                    self.fail(now, why);
                }
            }
            State::Connecting { .. } => {
                let why = format!("{} closed the connection", self.endpoint.authority());
                self.fail(now, why);
            }
            // An idle keep-alive connection the endpoint closed.
            State::Ready { .. } => self.state = State::MustClose,
            State::Disconnected | State::MustClose => {}
        }
    }

    /// Connecting, writing or reading failed; `why` says how, in one line
    /// (e.g. "connecting to 127.0.0.1:4318: Connection refused").
    pub fn handle_error(&mut self, now: Instant, why: &str) {
        match self.state {
            State::Connecting { .. } => self.fail(now, why.to_string()),
            State::AwaitResponse(_) => {
                if !self.retry_stale() {
                    self.fail(now, why.to_string());
                }
            }
            State::Ready { .. } => self.state = State::MustClose,
            State::Disconnected | State::MustClose => {}
        }
    }

    /// When the next batch is due: now if a whole one is waiting, else when
    /// the oldest waiting record has lingered long enough.
    fn due(&self) -> Option<Instant> {
        let oldest = self.queue.records.front()?;
        if self.queue.records.len() >= MAX_BATCH_RECORDS || self.queue.bytes >= MAX_BATCH_BYTES {
            return Some(oldest.queued);
        }
        Some(oldest.queued + LINGER)
    }

    /// Appends the request for the next batch to `out`.
    fn send(&mut self, now: Instant, reused: bool, out: &mut Vec<u8>) {
        let mut count = 0;
        let mut records_len = 0;
        for span in &self.queue.records {
            if count == MAX_BATCH_RECORDS || records_len + span.len > MAX_BATCH_BYTES {
                break;
            }
            count += 1;
            records_len += span.len;
        }
        let body_len = self.prefix.body_len(records_len);
        let mut head = String::with_capacity(256);
        // Writing to a String cannot fail.
        let _ = write!(
            head,
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: circolog/{}\r\n\
             Content-Type: application/x-protobuf\r\nContent-Length: {body_len}\r\n\r\n",
            self.endpoint.target(),
            self.endpoint.authority(),
            env!("CARGO_PKG_VERSION"),
        );
        out.reserve_exact(head.len() + body_len);
        out.extend_from_slice(head.as_bytes());
        self.prefix.write(records_len, out);
        for span in self.queue.records.iter().take(count) {
            out.extend_from_slice(self.queue.bytes_of(span));
        }
        let first = self.queue.records.front().map_or(0, |s| s.id);
        self.state = State::AwaitResponse(Attempt {
            first,
            count: count as u64,
            evicted: 0,
            deadline: now + RESPONSE_TIMEOUT,
            decoder: ResponseDecoder::new(),
            answered: false,
            reused,
        });
    }

    /// The whole response is in; `open`: the connection may carry another.
    fn complete(&mut self, now: Instant, open: bool) {
        let state = std::mem::replace(&mut self.state, State::MustClose);
        let State::AwaitResponse(mut attempt) = state else {
            self.state = state;
            return;
        };
        let Some(head) = attempt.decoder.take_head() else {
            // Only a decoder that has finished is completed: it has a head.
            self.state = State::AwaitResponse(attempt);
            return;
        };
        let keep_alive = open
            && !head
                .header("connection")
                .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
        match head.status {
            200..=299 => {
                let mut rejected = 0;
                if let Some((n, message)) = otlp::partial_success(&self.body) {
                    rejected = n.min(attempt.count);
                    let what = if n > 0 {
                        format!("rejected {n} records")
                    } else {
                        "took the records with a warning".to_string()
                    };
                    self.last_error = Some(format!(
                        "{} {what}: {}",
                        self.endpoint.authority(),
                        one_line(message)
                    ));
                }
                self.counters.exported += attempt.count - rejected;
                self.counters.failed += rejected;
                self.settle(&attempt);
                self.backoff = FIRST_BACKOFF;
            }
            429 | 500.. => {
                self.last_error = Some(self.describe(&head));
                self.retry_later(now, Some(&attempt), retry_after(&head));
            }
            _ => {
                self.last_error = Some(self.describe(&head));
                self.counters.failed += attempt.count;
                self.settle(&attempt);
                self.backoff = FIRST_BACKOFF;
            }
        }
        wipe(&mut self.body);
        if keep_alive {
            self.state = State::Ready { reused: true };
        }
    }

    /// The attempt in flight (or the connection for it) failed without an
    /// answer: the connection goes, the batch is sent again later.
    fn fail(&mut self, now: Instant, why: String) {
        if let State::AwaitResponse(attempt) = &self.state
            && let Some(status) = attempt.decoder.status()
            && (200..300).contains(&status)
        {
            // The endpoint said it took the records: sending them again
            // would only duplicate them. The connection goes all the same.
            self.last_error = Some(format!(
                "{why} (after HTTP {status}: the records count as exported)"
            ));
            self.counters.exported += attempt.count;
            if let State::AwaitResponse(attempt) =
                std::mem::replace(&mut self.state, State::MustClose)
            {
                self.settle(&attempt);
            }
            wipe(&mut self.body);
            self.backoff = FIRST_BACKOFF;
            return;
        }
        self.last_error = Some(why);
        wipe(&mut self.body);
        let attempt = match std::mem::replace(&mut self.state, State::MustClose) {
            State::AwaitResponse(a) => Some(a),
            _ => None,
        };
        self.retry_later(now, attempt.as_ref(), None);
    }

    /// Counts a failed attempt and sets when the next one may start.
    fn retry_later(&mut self, now: Instant, attempt: Option<&Attempt>, after: Option<Duration>) {
        match attempt {
            Some(a) => {
                self.counters.retried += a.count - a.evicted;
                // Dropped from the queue while in flight: lost now.
                self.counters.dropped += a.evicted;
            }
            // The connection failed: the batch it was for waits.
            None => {
                self.counters.retried += self.queue.records.len().min(MAX_BATCH_RECORDS) as u64;
            }
        }
        // A `Retry-After` shorter than the first backoff (`0`, say) must
        // not make a loop of requests.
        let wait = after.map_or(self.backoff, |a| a.max(FIRST_BACKOFF));
        self.retry_at = Some(now + wait);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// A request on a connection that had carried a response already got
    /// nothing back: the endpoint most likely closed it as idle just as
    /// the request went. Sent again at once on a new connection, as HTTP
    /// clients do, without counting a failure; true if so.
    fn retry_stale(&mut self) -> bool {
        let State::AwaitResponse(attempt) = &self.state else {
            return false;
        };
        if !attempt.reused || attempt.answered {
            return false;
        }
        // Records dropped from it meanwhile have now missed their chance.
        self.counters.dropped += attempt.evicted;
        wipe(&mut self.body);
        self.state = State::MustClose;
        true
    }

    /// Removes the records of an answered attempt still queued: they are
    /// the oldest.
    fn settle(&mut self, attempt: &Attempt) {
        while let Some(front) = self.queue.records.front()
            && attempt.holds(front.id)
        {
            self.queue.pop_front();
        }
    }

    fn evict_oldest(&mut self) {
        let Some(span) = self.queue.pop_front() else {
            return;
        };
        match &mut self.state {
            // Already written: what becomes of it depends on the answer.
            State::AwaitResponse(a) if a.holds(span.id) => a.evicted += 1,
            _ => self.counters.dropped += 1,
        }
    }

    /// `HTTP 503 Service Unavailable from HOST:PORT: what the body says`.
    fn describe(&self, head: &Head) -> String {
        let mut s = format!(
            "HTTP {} {} from {}",
            head.status,
            head.reason,
            self.endpoint.authority()
        );
        let content_type = head
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        let detail = if content_type.contains("protobuf") {
            otlp::status_message(&self.body)
        } else if content_type.starts_with("text/") || content_type.contains("json") {
            Some(&self.body[..]).filter(|b| !b.is_empty())
        } else {
            None
        };
        if let Some(detail) = detail {
            s.push_str(": ");
            s.push_str(&one_line(detail));
        }
        s
    }

    #[cfg(test)]
    fn buffer_is_clean(&self) -> bool {
        self.queue.is_clean() && self.scratch.bytes().is_empty() && self.body.is_empty()
    }
}

/// `Retry-After` in seconds, capped at [`MAX_RETRY_AFTER`] (and never
/// less than [`FIRST_BACKOFF`] when used). (The HTTP-date
/// form is not read: the backoff applies then.)
fn retry_after(head: &Head) -> Option<Duration> {
    let secs = head.header("retry-after")?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The first line of what an endpoint said, printable, at most 200 chars.
fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// Zeroes `buf` and empties it.
fn wipe(buf: &mut Vec<u8>) {
    buf.fill(0);
    buf.clear();
}

/// Truncates `buf` to `n` bytes, zeroing what goes.
fn keep_first(buf: &mut Vec<u8>, n: usize) {
    if buf.len() > n {
        buf[n..].fill(0);
        buf.truncate(n);
    }
}

/// The waiting records, encoded, in one buffer allocated once and used as
/// a circular buffer, like the ring's arena: a record never wraps around
/// the end; when the space left at the end is too small it starts again at
/// 0, and the end stays unused until the records before it are gone.
///
/// INVARIANT: every byte of `buf` outside the spans of `records` is zero.
/// `records` are in the order they were pushed, which is also their order
/// in `buf` starting from the front's.
struct Queue {
    buf: Box<[u8]>,
    records: VecDeque<Span>,
    /// Sum of the records' lengths.
    bytes: usize,
    next_id: u64,
}

/// One record in [`Queue::buf`].
#[derive(Clone, Copy, Debug)]
struct Span {
    /// Consecutive from one record to the next.
    id: u64,
    start: usize,
    len: usize,
    queued: Instant,
}

impl Queue {
    fn new(capacity: usize) -> Queue {
        Queue {
            // Zeroed memory comes from the system untouched: the buffer
            // costs RAM only as it fills.
            buf: vec![0; capacity].into_boxed_slice(),
            records: VecDeque::new(),
            bytes: 0,
            next_id: 0,
        }
    }

    /// Where a record of `len` bytes goes without evicting any; `None` if
    /// the oldest must go first.
    fn fit(&self, len: usize) -> Option<usize> {
        let (Some(front), Some(back)) = (self.records.front(), self.records.back()) else {
            return (len <= self.buf.len()).then_some(0);
        };
        let end = back.start + back.len;
        if back.start >= front.start {
            // Not wrapped: room after the newest, else at the start.
            if len <= self.buf.len() - end {
                Some(end)
            } else {
                (len <= front.start).then_some(0)
            }
        } else {
            // Wrapped: room between the newest and the oldest.
            (len <= front.start - end).then_some(end)
        }
    }

    fn insert(&mut self, start: usize, record: &[u8], now: Instant) {
        self.buf[start..start + record.len()].copy_from_slice(record);
        self.records.push_back(Span {
            id: self.next_id,
            start,
            len: record.len(),
            queued: now,
        });
        self.next_id += 1;
        self.bytes += record.len();
    }

    /// Removes the oldest record and zeroes its bytes.
    fn pop_front(&mut self) -> Option<Span> {
        let span = self.records.pop_front()?;
        self.buf[span.start..span.start + span.len].fill(0);
        self.bytes -= span.len;
        Some(span)
    }

    fn bytes_of(&self, span: &Span) -> &[u8] {
        &self.buf[span.start..span.start + span.len]
    }

    #[cfg(test)]
    fn is_clean(&self) -> bool {
        let mut live = vec![false; self.buf.len()];
        for s in &self.records {
            live[s.start..s.start + s.len].fill(true);
        }
        self.buf.iter().zip(live).all(|(&b, l)| l || b == 0)
    }
}

impl Drop for Queue {
    /// Records still waiting when the exporter goes leave nothing behind.
    fn drop(&mut self) {
        // Everything else is zero already (the invariant).
        while self.pop_front().is_some() {}
        // Keeps the zeroing: stores to memory about to be freed may
        // otherwise be optimised away.
        std::hint::black_box(&self.buf);
    }
}

#[cfg(test)]
mod tests;
