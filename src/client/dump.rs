//! `circolog-tail` without `-f`: one daemon's `GET /` streamed to standard
//! output ([`dump`]), or several read at once and merged by receive time
//! ([`dump_many`]).

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver};

use jiff::Timestamp;

use super::{
    Failure, Filters, JsonLine, LineSplitter, Open, Output, Result, Source, Start, notice,
    output_failed, parse_json_line, peer_error, query_string,
};
use crate::store::ring::Seq;

/// Lines read ahead of the merge from each source: a source far ahead of
/// the others waits (and stops reading) rather than piling up in memory.
const READ_AHEAD: usize = 16;

/// `GET /` (or `GET /snapshots/ID/`): the last messages, streamed to
/// standard output as they come. A start after a seq the ring no longer
/// holds (`--after-seq`) says first how many messages are lost
/// (`X-Circolog-Skipped`).
pub fn dump(
    source: &Source,
    filters: &Filters,
    start: Start,
    snapshot: Option<u64>,
    out: &mut Output,
) -> Result<()> {
    let base = snapshot.map_or_else(|| "/".to_string(), |id| format!("/snapshots/{id}/"));
    let query = query_string(start, out.fmt.dump_wire(), filters);
    let path = format!("{base}?{query}");
    // Whole lines, as many as a piece of the body holds at a time: the
    // daemon's own lines, when they are what is printed, go out as they
    // are.
    let mut lines = LineSplitter::default();
    let mut told = false;
    let head = source.target.get(&path, |head, body| {
        if !told {
            told = true;
            out.skipped_header(head)?;
        }
        lines.feed_runs(body, |run| out.lines(run))
    })?;
    if !told {
        out.skipped_header(&head).map_err(output_failed)?;
    }
    lines
        .finish_runs(|run| out.lines(run))
        .map_err(output_failed)?;
    out.flush()
}

/// What a source's reader hands the merge.
enum FromSource {
    /// A message line of `fmt=json`, with what it is merged by.
    Line(Timestamp, Seq, Vec<u8>),
    /// The answer ended, well or not.
    End(Result<(), Open>),
}

/// `GET /` of several daemons, merged by receive time: each is read on
/// its own thread, all at once, each answer held to the deadlines of
/// [`super::PACE`]; each daemon's answer is in receive order, so the merge
/// takes the earliest of the next line of each, and holds nothing more
/// than a few lines read ahead. The last N of all of them are among the
/// last N of each: each is asked for its last N, and the merge keeps the
/// last N it gives. A daemon that does not answer, stalls, or answers
/// what was not asked for (a line too long, more lines than asked for) is
/// said on standard error, the others are printed, and the exit status is
/// 2; a query a daemon refuses stops everything, as with one.
pub fn dump_many(
    sources: &[Source],
    filters: &Filters,
    start: Start,
    out: &mut Output,
) -> Result<()> {
    let path = format!("/?{}", query_string(start, "json", filters));
    let asked = match start {
        Start::Last(n) | Start::LastAfter(n, _) => Some(n),
        Start::All | Start::Since(_) => None,
    };
    let readers: Vec<Receiver<FromSource>> = sources
        .iter()
        .map(|source| {
            let (tx, rx) = mpsc::sync_channel(READ_AHEAD);
            let (target, path) = (source.target.clone(), path.clone());
            std::thread::spawn(move || {
                let mut lines = LineSplitter::default();
                let mut count = 0u64;
                let mut each = |line: &[u8]| {
                    let parsed = std::str::from_utf8(line)
                        .ok()
                        .and_then(|l| parse_json_line(l).ok());
                    let Some(JsonLine::Message(m)) = parsed else {
                        return Ok(());
                    };
                    count += 1;
                    if asked.is_some_and(|n| count > n) {
                        return Err(peer_error(format!(
                            "sent more than the {} messages asked for",
                            asked.unwrap_or_default()
                        )));
                    }
                    let received = m.received.parse().unwrap_or(Timestamp::MIN);
                    // The merge is gone only when the program is ending.
                    tx.send(FromSource::Line(received, m.seq, line.to_vec()))
                        .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
                };
                let got = target.get(&path, |_, body| lines.feed(body, &mut each));
                let end = got.and_then(|_| {
                    lines
                        .finish(&mut each)
                        .map_err(|e| Open::Wrong(format!("{}: {e}", target.name())))
                });
                let _ = tx.send(FromSource::End(end));
            });
            rx
        })
        .collect();
    // The next line of each source still reading, when it has one.
    let mut next: Vec<Option<(Timestamp, Seq, Vec<u8>)>> = vec![None; sources.len()];
    let mut reading: Vec<bool> = vec![true; sources.len()];
    let keep = asked.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut last: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
    let mut told = false;
    loop {
        for (i, rx) in readers.iter().enumerate() {
            while reading[i] && next[i].is_none() {
                match rx.recv() {
                    Ok(FromSource::Line(t, seq, line)) => next[i] = Some((t, seq, line)),
                    Ok(FromSource::End(Ok(()))) => reading[i] = false,
                    Ok(FromSource::End(Err(Open::Stop(f)))) => return Err(f),
                    Ok(FromSource::End(Err(
                        Open::Absent(line) | Open::Unreachable(line) | Open::Wrong(line),
                    ))) => {
                        notice(&format!("[{}] {line}", sources[i].name));
                        told = true;
                        reading[i] = false;
                    }
                    Err(_) => reading[i] = false,
                }
            }
        }
        // Stable: one daemon's messages keep their seq order when their
        // receive times are equal.
        let Some(i) = (0..sources.len())
            .filter(|&i| next[i].is_some())
            .min_by_key(|&i| next[i].as_ref().map(|(t, seq, _)| (*t, i, *seq)))
        else {
            break;
        };
        let Some((_, _, line)) = next[i].take() else {
            break;
        };
        match keep {
            Some(0) => {}
            Some(n) => {
                if last.len() == n {
                    last.pop_front();
                }
                last.push_back((i, line));
            }
            None => out
                .labelled(&sources[i].name, &line)
                .map_err(output_failed)?,
        }
    }
    for (i, line) in &last {
        out.labelled(&sources[*i].name, line)
            .map_err(output_failed)?;
    }
    out.flush()?;
    if told { Err(Failure::Told) } else { Ok(()) }
}
