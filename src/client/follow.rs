//! `circolog-tail -f`: following one daemon's `/ws`, reconnecting and
//! resuming ([`follow`]), and several at once, merged ([`follow_many`]).

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use super::{
    Conn, Cursor, Event, Failure, Filters, Fmt, HEAD_TIMEOUT, Head, LineSplitter, MAX_LINE,
    MergeWindow, NOTICE_LABEL, Open, Output, Reconnect, Result, Retry, Source, Start, Target,
    escape_text, io_reason, is_query_answer, is_timeout, notice, output_failed, plan, query_string,
    skipped_line,
};
use crate::store::ring::Seq;

/// A follower that has heard nothing for this long pings the daemon; with
/// no answer after as long again, the connection is taken as lost.
pub const KEEPALIVE: Duration = Duration::from_secs(30);

/// A connection that lasted this long was a good one, even if it gave
/// nothing: losing it is said, whatever was said before.
const PROGRESS: Duration = Duration::from_secs(10);

/// Lines on their way from the followers of several sources to the merge:
/// a merge that cannot write (standard output blocked) stops them there,
/// and they stop reading, as a slow reader does; the daemon keeps their
/// place (or tells them what it overwrote meanwhile).
const QUEUE: usize = 64;

/// What the merge window holds at most, in lines and bytes.
const WINDOW_LINES: usize = 4096;
const WINDOW_BYTES: usize = 16 * 1024 * 1024;

/// Follows `/ws` until standard output is closed or the daemon refuses
/// the query; a lost connection is reopened with backoff, and a daemon
/// that is not there yet is waited for. One of several sources
/// (`one_of_many`) is said and retried whatever goes wrong with it.
pub fn follow(
    target: &Target,
    filters: &Filters,
    initial: Start,
    out: &mut Output,
    one_of_many: bool,
) -> Result<()> {
    let mut cursor: Option<Cursor> = None;
    let mut link = Reconnect::new(one_of_many);
    loop {
        if let Some(delay) = link.wait() {
            std::thread::sleep(delay);
        }
        let failed = match open(target, filters, initial, cursor.as_ref(), out) {
            Ok((mut ws, next)) => {
                let restarted = cursor.is_some_and(|c| c.epoch != next.epoch);
                if let Some(line) = link.connected(&target.name(), restarted) {
                    notice(&line);
                }
                let cursor = cursor.insert(next);
                let (since, mut heard) = (Instant::now(), false);
                let reason = pump(&mut ws, cursor, target, filters, out, &mut heard)?;
                let progressed = heard || since.elapsed() >= PROGRESS;
                if let Some(line) = link.lost(&target.name(), &reason, progressed) {
                    notice(&line);
                }
                continue;
            }
            Err(open) => open.retry()?,
        };
        match link.failed(failed.0, failed.1) {
            Retry::Tell(line) => notice(&line),
            Retry::Quietly => {}
            Retry::Stop(line) => return Err(Failure::Error(line)),
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
    if !is_query_answer(&head) {
        return Err(Open::Wrong(format!(
            "{}: no X-Circolog-Epoch in the answer: it is not circologd's query API",
            target.name()
        )));
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
    // A frame is one message: what is longer is not circologd's.
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_LINE))
        .max_message_size(Some(MAX_LINE));
    let (ws, response) =
        match tungstenite::client::client_with_config(url.as_str(), conn, Some(config)) {
            Ok(ok) => ok,
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                let head = Head {
                    status: resp.status().as_u16(),
                    reason: resp.status().canonical_reason().unwrap_or("").to_string(),
                    headers: Vec::new(),
                };
                let body = resp.body().as_deref().unwrap_or(&[]);
                let line = target.refused(&head, body);
                return Err(match head.status {
                    400 => Open::Stop(Failure::Error(line)),
                    403 => Open::Wrong(line),
                    _ => Open::Unreachable(line),
                });
            }
            Err(tungstenite::HandshakeError::Failure(e)) => {
                return Err(Open::Unreachable(format!(
                    "{}: {}",
                    target.name(),
                    escape_text(&e.to_string())
                )));
            }
            Err(tungstenite::HandshakeError::Interrupted(_)) => {
                return Err(Open::Unreachable(format!(
                    "{}: no websocket handshake within {} s",
                    target.name(),
                    HEAD_TIMEOUT.as_secs()
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
/// `heard` is set once a frame is read.
fn pump(
    ws: &mut WebSocket<Conn>,
    cursor: &mut Cursor,
    target: &Target,
    filters: &Filters,
    out: &mut Output,
    heard: &mut bool,
) -> Result<String> {
    let mut pinged = false;
    let mut closed_because = None;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                pinged = false;
                *heard = true;
                if !out.frame(text.as_str(), cursor)? {
                    continue;
                }
                // `raw`: the frame announced a message not printed yet.
                let start = cursor.printed.map_or(Start::All, Start::Since);
                match fetch_raw(target, filters, start, cursor, out) {
                    Ok(()) => {}
                    Err(Open::Stop(f)) => return Err(f),
                    Err(Open::Absent(why) | Open::Unreachable(why) | Open::Wrong(why)) => {
                        return Ok(why);
                    }
                }
            }
            Ok(Message::Close(frame)) => {
                // The reply is sent by the next read, which then ends. The
                // reason is the peer's text.
                closed_because = Some(match frame {
                    Some(f) if !f.reason.is_empty() => {
                        format!("{} ({})", escape_text(&f.reason), f.code)
                    }
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
                    return Ok(escape_text(&e.to_string()));
                }
                pinged = true;
            }
            Err(tungstenite::Error::Io(e)) => {
                return Ok(closed_because.unwrap_or_else(|| io_reason(&e)));
            }
            Err(e) => {
                return Ok(closed_because.unwrap_or_else(|| escape_text(&e.to_string())));
            }
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

/// `-f` over several daemons: each followed on its own thread as one would
/// be ([`follow`]: its own cursor, its own reconnections, a daemon that is
/// not there, or not answering properly, said once and tried again), the
/// lines merged here within `window` ([`MergeWindow`]). Memory is bounded:
/// the followers hand over their lines through a bounded queue, and the
/// window holds a bounded number.
pub fn follow_many(
    sources: &[Source],
    filters: &Filters,
    initial: Start,
    window: Duration,
    out: &mut Output,
) -> Result<()> {
    let (tx, rx) = mpsc::sync_channel::<Event>(QUEUE);
    for (i, source) in sources.iter().enumerate() {
        let (tx, target, filters) = (tx.clone(), source.target.clone(), filters.clone());
        let (fmt, label) = (out.fmt, format!("[{}] ", source.name));
        std::thread::spawn(move || {
            NOTICE_LABEL.set(label);
            let mut relay = Output::relay(fmt, tx.clone(), i);
            let end = follow(&target, &filters, initial, &mut relay, true);
            let _ = tx.send(Event::Stopped(end.err().unwrap_or(Failure::Quiet)));
        });
    }
    drop(tx);
    let mut held = MergeWindow::new(window, WINDOW_LINES, WINDOW_BYTES);
    let mut due = Vec::new();
    let mut running = sources.len();
    let print = |due: &mut Vec<(usize, Vec<u8>, Option<u8>)>, out: &mut Output| {
        for (i, line, sev) in due.drain(..) {
            out.merged(&sources[i].name, &line, sev)
                .map_err(output_failed)?;
        }
        Ok::<(), Failure>(())
    };
    loop {
        held.pop_due(Instant::now(), &mut due);
        print(&mut due, out)?;
        let event = match held.next_due() {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
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
            } => held.push(Instant::now(), t, line.len(), (source, line, sev)),
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
    held.drain(&mut due);
    print(&mut due, out)?;
    out.flush()
}
