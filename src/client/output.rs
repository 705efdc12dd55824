//! `circolog-tail`'s standard output, in the chosen format, and its
//! notices on standard error.

use std::io::{self, Write};
use std::sync::mpsc::SyncSender;

use jiff::tz::TimeZone;

use super::{
    Cursor, Head, JsonLine, JsonMessage, LaidOut, RESET, Result, ShortClock, ShortFields,
    borrow_message, escape_bytes, escape_text, output_failed, parse_json_line, pri_severity,
    render_syslog, scan_layout, scan_layout_first, scan_message, severity_number,
    severity_number_of, severity_style,
};

/// `--fmt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fmt {
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
    pub fn dump_wire(self) -> &'static str {
        match self {
            Fmt::Short | Fmt::Json => "json",
            Fmt::Syslog => "syslog",
            Fmt::Raw => "raw",
        }
    }
}

/// What a source's follower hands the merge: a line rendered as for one
/// source, uncoloured, with the receive time of its message (`None` for a
/// notice, printed as it comes), or why it stopped for good.
pub enum Event {
    Line {
        source: usize,
        received: Option<jiff::Timestamp>,
        line: Vec<u8>,
        sev: Option<u8>,
    },
    Stopped(super::Failure),
}

std::thread_local! {
    /// `[NAME] ` on the thread that follows one of several sources, so
    /// that what it says on standard error names its source.
    pub static NOTICE_LABEL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// One line on standard error, about the connection rather than the logs.
pub fn notice(line: &str) {
    NOTICE_LABEL.with_borrow(|label| {
        let _ = writeln!(io::stderr(), "circolog-tail: {label}{line}");
    });
}

pub fn skipped_line(count: u64) -> String {
    let s = if count == 1 { "" } else { "s" };
    format!("skipped {count} message{s} that circologd overwrote before they were read")
}

/// Appends the `fmt=json` line `json` of the source `name` with a `source`
/// field first: `{"source":NAME,…the daemon's fields}`.
pub fn with_source(name: &str, json: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"source\":");
    // A string always serializes.
    out.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
    match json.strip_prefix(b"{") {
        Some(rest) if rest != b"}" => {
            out.push(b',');
            out.extend_from_slice(rest);
        }
        _ => out.push(b'}'),
    }
}

/// Standard output, in the chosen format.
pub struct Output {
    pub fmt: Fmt,
    color: bool,
    /// Following: each line is flushed as soon as it is written.
    live: bool,
    clock: ShortClock,
    w: Sink,
    scratch: String,
    bytes: Vec<u8>,
    /// The `[NAME] ` of the source a `short` line is from, when there are
    /// several.
    label: String,
    /// `-r`: the lines, to be written newest first by [`Output::flush`].
    reversed: Option<Vec<(Vec<u8>, Option<u8>)>>,
}

/// Where an [`Output`]'s lines go.
enum Sink {
    Stdout(Stdout),
    /// To the merge of several followers, with the receive time of the
    /// message being rendered. Bounded: a merge that does not take lines
    /// (standard output blocked) stops the follower, which stops reading.
    Relay {
        tx: SyncSender<Event>,
        source: usize,
        received: Option<jiff::Timestamp>,
    },
}

/// What standard output is written in when not following: lines gather in
/// a buffer until it holds this much.
const PIECE: usize = 64 * 1024;

/// Standard output and the lines not yet written to it, which a line is
/// rendered straight into. What is left is written when dropped (an error
/// that ends the program early still leaves every line before it on
/// standard output), as a `BufWriter` would.
struct Stdout {
    w: io::StdoutLock<'static>,
    buf: Vec<u8>,
}

impl Stdout {
    /// A line has been appended: written at once when `live`, else when
    /// the buffer holds a [`PIECE`].
    fn appended(&mut self, live: bool) -> io::Result<()> {
        if live {
            return self.flush();
        }
        if self.buf.len() >= PIECE {
            self.write_buffered()?;
        }
        Ok(())
    }

    /// Writes what the buffer holds; on an error, what was not written
    /// stays (and is tried again when dropped), as a `BufWriter` keeps it.
    fn write_buffered(&mut self) -> io::Result<()> {
        let mut written = 0;
        let mut r = Ok(());
        while written < self.buf.len() {
            match self.w.write(&self.buf[written..]) {
                Ok(0) => r = Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => r = Err(e),
            }
            if r.is_err() {
                break;
            }
        }
        self.buf.drain(..written);
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffered()?;
        self.w.flush()
    }

    /// Whole lines written as they are, after what the buffer holds: a
    /// large piece at once, without a copy.
    fn pass(&mut self, lines: &[u8], live: bool) -> io::Result<()> {
        if lines.len() < PIECE / 4 {
            self.buf.extend_from_slice(lines);
            return self.appended(live);
        }
        self.write_buffered()?;
        self.w.write_all(lines)?;
        if live {
            self.w.flush()?;
        }
        Ok(())
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl Output {
    /// `reverse`: newest first (`-r`), written when flushed.
    pub fn new(fmt: Fmt, color: bool, live: bool, reverse: bool) -> Output {
        Output {
            fmt,
            color,
            live,
            clock: ShortClock::new(TimeZone::system()),
            w: Sink::Stdout(Stdout {
                w: io::stdout().lock(),
                buf: Vec::with_capacity(PIECE + 4096),
            }),
            scratch: String::new(),
            bytes: Vec::new(),
            label: String::new(),
            reversed: reverse.then(Vec::new),
        }
    }

    /// An output that hands its lines to the merge of several followers
    /// instead of writing them, as source `source`.
    pub fn relay(fmt: Fmt, tx: SyncSender<Event>, source: usize) -> Output {
        Output {
            fmt,
            color: false,
            live: true,
            clock: ShortClock::new(TimeZone::system()),
            w: Sink::Relay {
                tx,
                source,
                received: None,
            },
            scratch: String::new(),
            bytes: Vec::new(),
            label: String::new(),
            reversed: None,
        }
    }

    /// A line a source's relay handed over, labelled with the source's
    /// `name` and coloured for `sev`.
    pub fn merged(&mut self, name: &str, line: &[u8], sev: Option<u8>) -> io::Result<()> {
        let mut out = Vec::with_capacity(line.len() + name.len() + 16);
        match self.fmt {
            Fmt::Json => with_source(name, line, &mut out),
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

    /// Whole lines of a `GET /` body, each with its line feed, in the
    /// format of [`Fmt::dump_wire`]: what [`Output::line`] writes of each.
    /// Where that is the daemon's own lines (`json` and `raw`, and
    /// `syslog` when not colouring), the run is written as it is; a
    /// `short` line laid out as the daemon writes it is read without
    /// looking for its end first.
    pub fn lines(&mut self, run: &[u8]) -> io::Result<()> {
        let to_stdout = self.reversed.is_none() && matches!(self.w, Sink::Stdout(_));
        // `syslog` lines as the daemon writes them are printable ASCII,
        // which `line` prints as they are; a run with anything else goes a
        // line at a time.
        let printable = || {
            !run.iter().fold(false, |odd, &c| {
                odd | ((c.wrapping_add(1) as i8) < 0x21 && c != b'\n')
            })
        };
        let verbatim = to_stdout
            && match self.fmt {
                Fmt::Json | Fmt::Raw => true,
                Fmt::Syslog => !self.color && printable(),
                Fmt::Short => false,
            };
        if verbatim && let Sink::Stdout(out) = &mut self.w {
            return out.pass(run, self.live);
        }
        let mut rest = run;
        while !rest.is_empty() {
            if self.fmt == Fmt::Short
                && let Some((m, end)) = scan_layout_first(rest)
            {
                self.laid_out(&m)?;
                rest = rest.get(end + 1..).unwrap_or_default();
                continue;
            }
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            self.line(&rest[..end])?;
            rest = rest.get(end + 1..).unwrap_or_default();
        }
        Ok(())
    }

    /// One line of a `GET /` body, in the format of [`Fmt::dump_wire`].
    pub fn line(&mut self, line: &[u8]) -> io::Result<()> {
        match self.fmt {
            Fmt::Short => {
                // A message as the daemon writes it, scanned; one with
                // escapes, without a copy of its strings; anything else
                // as parse_json_line reads it.
                if let Some(m) = scan_layout(line) {
                    return self.laid_out(&m);
                }
                let text = std::str::from_utf8(line).ok();
                if let Some(m) = text.and_then(scan_message) {
                    return self.short_fields(&m.short_fields(), m.severity());
                }
                if let Some(m) = text.and_then(borrow_message) {
                    return self.short_fields(&m.short_fields(), m.severity());
                }
                match text.and_then(|l| parse_json_line(l).ok()) {
                    Some(JsonLine::Message(m)) => self.short(&m),
                    // Not what the daemon should send: shown escaped.
                    _ => self.plain(escape_bytes(line).as_bytes(), None),
                }
            }
            Fmt::Syslog => {
                let sev = pri_severity(line);
                // The daemon's lines hold no control character; a peer's
                // might.
                match std::str::from_utf8(line) {
                    Ok(_) if !has_control(line) => self.plain(line, sev),
                    _ => self.plain(escape_bytes(line).as_bytes(), sev),
                }
            }
            Fmt::Json | Fmt::Raw => self.plain(line, None),
        }
    }

    /// One websocket frame (`fmt=json`): a message, or a notice. Returns
    /// true when it announces a message that `raw` has not printed yet.
    pub fn frame(&mut self, text: &str, cursor: &mut Cursor) -> Result<bool> {
        let written = match parse_json_line(text) {
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
                notice(&format!("snapshot {id} taken ({})", escape_text(&why)));
                Ok(())
            }
            // Notices in json as they came: JSON holds no control
            // character.
            Ok(_) => self.plain(text.as_bytes(), None),
            // Anything unexpected, escaped.
            Err(_) => self.plain(escape_text(text).as_bytes(), None),
        };
        written.map(|()| false).map_err(output_failed)
    }

    /// The gap a dump's `X-Circolog-Skipped` tells of, if any: a notice
    /// line, on standard output in json as a follower's frame would be.
    pub fn skipped_header(&mut self, head: &Head) -> io::Result<()> {
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
    pub fn labelled(&mut self, name: &str, json: &[u8]) -> io::Result<()> {
        match self.fmt {
            Fmt::Json => {
                let mut line = std::mem::take(&mut self.bytes);
                line.clear();
                with_source(name, json, &mut line);
                let r = self.plain(&line, None);
                self.bytes = line;
                r
            }
            Fmt::Syslog => {
                let parsed = std::str::from_utf8(json)
                    .ok()
                    .and_then(|l| parse_json_line(l).ok());
                match parsed {
                    Some(JsonLine::Message(m)) => self.syslog(&m),
                    _ => self.plain(escape_bytes(json).as_bytes(), None),
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

    fn short(&mut self, m: &JsonMessage) -> io::Result<()> {
        self.short_fields(&m.short_fields(), &m.severity)
    }

    fn laid_out(&mut self, m: &LaidOut<'_>) -> io::Result<()> {
        // Straight into standard output's buffer, when that is where it
        // goes (the severity looked up only to colour).
        if let (None, Sink::Stdout(out)) = (&self.reversed, &mut self.w) {
            let style = self
                .color
                .then(|| severity_number_of(m.severity))
                .flatten()
                .and_then(severity_style);
            let buf = &mut out.buf;
            if let Some(style) = style {
                buf.extend_from_slice(style.as_bytes());
            }
            if !self.label.is_empty() {
                buf.extend_from_slice(self.label.as_bytes());
            }
            self.clock.render_laid_out(m, buf);
            if style.is_some() {
                buf.extend_from_slice(RESET.as_bytes());
            }
            buf.push(b'\n');
            return out.appended(self.live);
        }
        let mut line = std::mem::take(&mut self.bytes);
        line.clear();
        line.extend_from_slice(self.label.as_bytes());
        self.clock.render_laid_out(m, &mut line);
        let r = self.plain(&line, severity_number_of(m.severity));
        self.bytes = line;
        r
    }

    fn short_fields(&mut self, m: &ShortFields<'_>, severity: &str) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        line.push_str(&self.label);
        self.clock.render(m, &mut line);
        let sev = severity_number(severity);
        let r = self.plain(line.as_bytes(), sev);
        self.scratch = line;
        r
    }

    fn syslog(&mut self, m: &JsonMessage) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.bytes);
        line.clear();
        render_syslog(m, &mut line);
        let sev = severity_number(&m.severity);
        let r = self.plain(&line, sev);
        self.bytes = line;
        r
    }

    /// Writes `line` and a line feed, coloured for `sev` when colouring.
    fn plain(&mut self, line: &[u8], sev: Option<u8>) -> io::Result<()> {
        if let Some(kept) = &mut self.reversed {
            kept.push((line.to_vec(), sev));
            return Ok(());
        }
        let out = match &mut self.w {
            Sink::Stdout(out) => out,
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
        push_line(&mut out.buf, line, sev.filter(|_| self.color));
        out.appended(self.live)
    }

    pub fn flush(&mut self) -> Result<()> {
        let Sink::Stdout(out) = &mut self.w else {
            return Ok(());
        };
        if let Some(kept) = self.reversed.take() {
            for (line, sev) in kept.iter().rev() {
                push_line(&mut out.buf, line, sev.filter(|_| self.color));
                out.appended(false).map_err(output_failed)?;
            }
        }
        out.flush().map_err(output_failed)
    }
}

/// Whether UTF-8 `text` holds a control character (`char::is_control`:
/// U+0000–U+001F, U+007F, U+0080–U+009F), found a byte at a time.
fn has_control(text: &[u8]) -> bool {
    // A whole pass without an early exit (wide compares) rules out most
    // lines; the few with a 0xC2 lead byte are looked at closely.
    let suspect = text.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
    });
    suspect
        && text.iter().enumerate().any(|(i, &b)| match b {
            0..=0x1f | 0x7f => true,
            0xc2 => text.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
            _ => false,
        })
}

/// Appends `line` and a line feed, in the colour of `sev` if given.
fn push_line(out: &mut Vec<u8>, line: &[u8], sev: Option<u8>) {
    match sev.and_then(severity_style) {
        Some(style) => {
            out.extend_from_slice(style.as_bytes());
            out.extend_from_slice(line);
            out.extend_from_slice(RESET.as_bytes());
        }
        None => out.extend_from_slice(line),
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte scan finds exactly the characters `char::is_control` does.
    #[test]
    fn control_characters_a_byte_at_a_time() {
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(has_control(text.as_bytes()), c.is_control(), "{c:?}");
        }
    }

    #[test]
    fn the_source_goes_first_in_json() {
        let mut out = Vec::new();
        with_source("a\"b", br#"{"seq":1}"#, &mut out);
        assert_eq!(out, br#"{"source":"a\"b","seq":1}"#);
        out.clear();
        with_source("a", b"{}", &mut out);
        assert_eq!(out, br#"{"source":"a"}"#);
    }
}
