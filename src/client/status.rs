//! What `circolog-ctl` prints for people: one line for the state after a
//! command ([`describe_state`]), and the summary of `GET /status`
//! ([`summarize_status`]) that a person reads at a glance: the state, how
//! far back the ring reaches, use, rates, the last hour's volume
//! ([`sparkline`] of `GET /histogram`), snapshots and triggers,
//! suppressed and exported counts, the memory and what was restored.
//!
//! Plain code on the daemon's JSON. A field the daemon does not send (an
//! older daemon, or a feature it was started without) leaves out the line
//! that would say it, except for the core counts, which show `?`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::cli::config::DefaultPaths;
use crate::ingest::syslog::SEVERITY_NAMES;

/// One line for the state after a control command: paused or collecting,
/// and how full the buffer is.
pub fn describe_state(status: &Value) -> String {
    let paused = if status["paused"].as_bool() == Some(true) {
        "paused: new messages are read and discarded"
    } else {
        "collecting"
    };
    format!(
        "{paused}; {} messages in the buffer",
        number(&status["used"]["messages"])
    )
}

/// The human summary of `GET /status` at `now`, with the last hour's
/// volume when the query socket answered `GET /histogram`.
pub fn summarize_status(s: &Value, histogram: Option<&Histogram>, now: Timestamp) -> String {
    let text = summary_lines(s, histogram, now);
    // Every string in it came from the daemon: none may drive the terminal.
    text.lines()
        .fold(String::with_capacity(text.len()), |mut out, line| {
            out.push_str(&super::escape_text(line));
            out.push('\n');
            out
        })
}

fn summary_lines(s: &Value, histogram: Option<&Histogram>, now: Timestamp) -> String {
    let mut out = String::new();
    let uptime = s["uptime_seconds"].as_f64();
    let _ = writeln!(
        out,
        "circologd {}, up {}, {}",
        s["version"].as_str().unwrap_or("?"),
        uptime.map_or_else(|| "?".to_string(), human_duration),
        state(s, now)
    );
    if let Some(line) = memory(s) {
        let _ = writeln!(out, "memory:   {line}");
    }
    let used = &s["used"];
    let cap = &s["capacity"];
    let _ = writeln!(
        out,
        "buffer:   {} of {} messages ({}), {} of {} ({})",
        number(&used["messages"]),
        number(&cap["messages"]),
        percent(&used["messages"], &cap["messages"]),
        bytes(&used["bytes"]),
        bytes(&cap["bytes"]),
        percent(&used["bytes"], &cap["bytes"]),
    );
    if let Some(oldest) = s["oldest_received"].as_str() {
        let age = oldest
            .parse::<Timestamp>()
            .ok()
            .map(|t| now.duration_since(t).as_secs_f64());
        let _ = match age {
            Some(secs) => writeln!(
                out,
                "reaches:  {} back (the oldest message was received {oldest})",
                human_duration(secs)
            ),
            None => writeln!(out, "reaches:  back to {oldest}"),
        };
    }
    let seqs = match (s["first_seq"].as_u64(), s["last_seq"].as_u64()) {
        (Some(first), Some(last)) => format!("{first} to {last}"),
        (None, Some(last)) => format!("none stored (the last was {last})"),
        _ => "none stored".to_string(),
    };
    let _ = writeln!(out, "seq:      {seqs}");
    let c = &s["counters"];
    let rate = match (c["received_total"].as_u64(), uptime) {
        (Some(t), Some(u)) if u > 0.0 => format!(", {:.2}/s", t as f64 / u),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "received: {}{}{rate}",
        number(&c["received_total"]),
        by_key(&c["received"]).map_or_else(String::new, |t| format!(" ({t})")),
    );
    if let Some(h) = histogram {
        let _ = writeln!(out, "{}", h.line());
    }
    let mut counters = format!(
        "{} dropped while paused, {} truncated, {} malformed, {} skipped by slow followers, {} clears",
        number(&c["dropped_paused"]),
        number(&c["truncated"]),
        number(&c["malformed"]),
        number(&c["skipped_followers"]),
        number(&c["clears"]),
    );
    if let Some(n) = c["evicted"].as_u64() {
        let _ = write!(counters, ", {n} evicted");
    }
    let _ = writeln!(out, "counters: {counters}");
    if let Some(line) = suppressed(s) {
        let _ = writeln!(out, "limited:  {line}");
    }
    if let Some(line) = snapshots(&s["snapshots"]) {
        let _ = writeln!(out, "snapshots: {line}");
    }
    if let Some(line) = triggers(&s["triggers"]) {
        let _ = writeln!(out, "triggers: {line}");
    }
    if let Some(line) = export(&s["export"]) {
        let _ = writeln!(out, "export:   {line}");
    }
    let cl = &s["clients"];
    let _ = writeln!(
        out,
        "clients:  {} query, {} following, {} control, {} TCP senders",
        number(&cl["query"]),
        number(&cl["followers"]),
        number(&cl["ctl"]),
        number(&cl["tcp_senders"]),
    );
    out
}

/// `collecting`, or `PAUSED…`, by whom (`paused_by`) and until when
/// (`resume_at`), when the daemon says.
fn state(s: &Value, now: Timestamp) -> String {
    if s["paused"].as_bool() != Some(true) {
        return "collecting".to_string();
    }
    let mut text = "PAUSED: new messages are read and discarded".to_string();
    match (s["paused_by"].as_str(), s["paused_by_trigger"].as_str()) {
        (Some("signal"), _) => text.push_str(" (paused by SIGUSR1)"),
        (Some("api"), _) => text.push_str(" (paused through the control API)"),
        (Some("trigger"), Some(t)) => {
            let _ = write!(text, " (paused by the trigger {t})");
        }
        (Some(by), _) => {
            let _ = write!(text, " (paused by {by})");
        }
        (None, _) => {}
    }
    if let Some(at) = s["resume_at"].as_str() {
        let _ = write!(text, "; resumes by itself at {at}");
        if let Ok(t) = at.parse::<Timestamp>() {
            let secs = t.duration_since(now).as_secs_f64();
            let _ = write!(text, ", in {}", human_duration(secs));
        }
    }
    text
}

/// `secret`, and what a restart handed over (`restored`), field by field
/// as the daemon names them.
fn memory(s: &Value) -> Option<String> {
    let kind = s["memory"].as_str();
    let restored = match &s["restored"] {
        Value::Null => None,
        Value::Object(fields) => Some(
            fields
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(text) => format!("{k} {text}"),
                    None => format!("{k} {v}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        other => Some(other.to_string()),
    };
    let restored = restored.map(|r| format!("restored from the previous process: {r}"));
    match (kind, restored) {
        (None, None) => s
            .get("restored")
            .is_some()
            .then(|| "a fresh ring".to_string()),
        (Some(k), None) if s.get("restored").is_some() => Some(format!("{k}, a fresh ring")),
        (Some(k), None) => Some(k.to_string()),
        (None, Some(r)) => Some(r),
        (Some(k), Some(r)) => Some(format!("{k}; {r}")),
    }
}

/// Messages the rate limit dropped, and the senders it tracks.
fn suppressed(s: &Value) -> Option<String> {
    let per = &s["counters"]["suppressed"];
    let total: u64 = per.as_object()?.values().filter_map(Value::as_u64).sum();
    let mut text = format!("{total} suppressed by the rate limit");
    if let Some(t) = by_key(per).filter(|_| total > 0) {
        let _ = write!(text, " ({t})");
    }
    if let Some(n) = s["rate_limit"]["senders"].as_u64() {
        let _ = write!(text, ", {n} senders tracked");
    }
    Some(text)
}

fn snapshots(sn: &Value) -> Option<String> {
    if sn.is_null() {
        return None;
    }
    if sn["enabled"].as_bool() == Some(false) {
        return Some("disabled (-snapshot-bytes 0)".to_string());
    }
    Some(format!(
        "{} of {} kept ({} of {}), {} taken, {} evicted, {} deleted",
        number(&sn["kept"]),
        number(&sn["capacity"]),
        bytes(&sn["bytes"]),
        bytes(&sn["capacity_bytes"]),
        number(&sn["taken"]),
        number(&sn["evicted"]),
        number(&sn["deleted"]),
    ))
}

/// The triggers, and those whose post-roll is running (`running`: a list
/// of triggers, or a count).
fn triggers(t: &Value) -> Option<String> {
    let each = t["each"].as_array().filter(|e| !e.is_empty())?;
    let queries: Vec<&str> = each.iter().filter_map(|e| e["query"].as_str()).collect();
    let mut text = format!(
        "{} ({}), {} fired, {} held off",
        queries.join(" | "),
        t["action"].as_str().unwrap_or("?"),
        number(&t["fired"]),
        number(&t["held_off"]),
    );
    if let Some(n) = t["failed"].as_u64().filter(|n| *n > 0) {
        let _ = write!(text, ", {n} failed");
    }
    let pending = match &t["running"] {
        Value::Array(p) if !p.is_empty() => {
            let what: Vec<String> = p
                .iter()
                .map(|e| match (e["query"].as_str(), e.as_str()) {
                    (Some(q), _) | (None, Some(q)) => q.to_string(),
                    _ => e.to_string(),
                })
                .collect();
            Some(format!("{} ({})", p.len(), what.join(" | ")))
        }
        Value::Number(n) if n.as_u64().is_some_and(|n| n > 0) => Some(n.to_string()),
        _ => None,
    };
    if let Some(p) = pending {
        let _ = write!(text, "; post-roll running: {p}");
    }
    Some(text)
}

fn export(e: &Value) -> Option<String> {
    let endpoint = e["endpoint"].as_str()?;
    let mut text = format!(
        "{endpoint}: {} exported, {} failed, {} dropped, {} waiting",
        number(&e["exported"]),
        number(&e["failed"]),
        number(&e["dropped"]),
        number(&e["queued"]),
    );
    if let Some(err) = e["last_error"].as_str() {
        let _ = write!(text, "; last error: {err}");
    }
    Some(text)
}

/// `tcp 0, udp 1, unix 299` from `{"tcp":0,"udp":1,"unix":299}`.
fn by_key(v: &Value) -> Option<String> {
    let m = v.as_object().filter(|m| !m.is_empty())?;
    Some(
        m.iter()
            .map(|(k, n)| format!("{k} {}", number(n)))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

// ---- the last hour's volume ----

/// `GET /histogram`'s answer, as much of it as the summary needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Histogram {
    pub bucket_us: u64,
    pub buckets: Vec<Bucket>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Bucket {
    /// Messages by severity name.
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// What the summary asks the query socket for: the last hour up to now,
/// by minute (without `until`, the span would end at the newest message).
pub const LAST_HOUR: &str = "/histogram?from=1h&until=0s&buckets=60";

impl Histogram {
    /// The summary's line: the sparkline, the total, and how many were
    /// `err` or worse.
    fn line(&self) -> String {
        let totals: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.counts.values().sum())
            .collect();
        let total: u64 = totals.iter().sum();
        let severe: u64 = self
            .buckets
            .iter()
            .flat_map(|b| &b.counts)
            .filter(|(sev, _)| SEVERITY_NAMES[..=3].contains(&sev.as_str()))
            .map(|(_, n)| n)
            .sum();
        let mut text = format!(
            "last {}:  |{}| {total} messages",
            exact_duration(self.bucket_us.saturating_mul(self.buckets.len() as u64)),
            sparkline(&totals)
        );
        if severe > 0 {
            let _ = write!(text, ", {severe} err or worse");
        }
        let _ = write!(text, " ({} a bar)", exact_duration(self.bucket_us));
        text
    }
}

/// `1h`, `1m`, `1h 30m`, `90s`, `250ms`: a span in the units that say it
/// exactly.
fn exact_duration(us: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (86_400_000_000, "d"),
        (3_600_000_000, "h"),
        (60_000_000, "m"),
        (1_000_000, "s"),
        (1_000, "ms"),
    ];
    let mut left = us;
    let mut parts = Vec::new();
    for (size, unit) in UNITS {
        if left >= size {
            parts.push(format!("{}{unit}", left / size));
            left %= size;
        }
    }
    if parts.is_empty() || left > 0 {
        parts.push(format!("{left}us"));
    }
    parts.join(" ")
}

/// One character per count, `▁` to `█` scaled to the largest, a space
/// for none.
pub fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&n| match n {
            0 => ' ',
            // 1..=max onto 0..=7: the largest is a full bar, any is visible.
            n => BARS[(u128::from(n - 1) * 8 / u128::from(max)).min(7) as usize],
        })
        .collect()
}

/// The query socket of the daemon whose control socket is `ctl`: the
/// `-query-socket` of the running circologd (`daemons`) that has `ctl` as
/// its `-ctl-socket`, or the default one when `ctl` is the default (a
/// daemon started without listener flags, or by systemd on the default
/// paths). `None` when neither says.
pub fn query_socket_for(
    ctl: &Path,
    daemons: &[super::RunningDaemon],
    defaults: &DefaultPaths,
) -> Option<PathBuf> {
    use clap::CommandFactory;
    let flags = crate::cli::config::LongFlags::of(&crate::daemon::args::Args::command());
    let named = daemons.iter().find_map(|d| {
        let argv = std::iter::once("circologd".into()).chain(d.args.iter().map(Into::into));
        let args = <crate::daemon::args::Args as clap::Parser>::try_parse_from(flags.rewrite(argv))
            .ok()?;
        let (its_ctl, its_query) = if args.names_listeners() {
            (args.ctl_socket?, args.query_socket?)
        } else {
            (defaults.ctl.clone(), defaults.query.clone())
        };
        (its_ctl == ctl).then_some(its_query)
    });
    named.or_else(|| (ctl == defaults.ctl).then(|| defaults.query.clone()))
}

fn number(v: &Value) -> String {
    v.as_u64()
        .map_or_else(|| "?".to_string(), |n| n.to_string())
}

fn percent(part: &Value, whole: &Value) -> String {
    match (part.as_u64(), whole.as_u64()) {
        (Some(p), Some(w)) if w > 0 => format!("{:.1}%", p as f64 * 100.0 / w as f64),
        _ => "?%".to_string(),
    }
}

/// A byte count in binary units: `512 B`, `1.5 KiB`, `64.0 MiB`.
fn bytes(v: &Value) -> String {
    let Some(n) = v.as_u64() else {
        return "? bytes".to_string();
    };
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `42s`, `3m 07s`, `2h 03m`, `5d 04h`.
fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    /// A `/status` as the daemon of this version answers it.
    fn today() -> Value {
        serde_json::json!({
            "version": "0.1.0", "epoch": 1, "paused": true, "uptime_seconds": 3725.5,
            "capacity": {"messages": 1000, "bytes": 67108864u64, "max_message_bytes": 16384},
            "used": {"messages": 250, "bytes": 1536},
            "first_seq": 10, "last_seq": 259,
            "counters": {"received": {"tcp": 0, "udp": 1, "unix": 299}, "received_total": 300,
                "dropped_paused": 40, "truncated": 1, "malformed": 2, "skipped_followers": 3,
                "clears": 0, "suppressed": {"tcp": 0, "udp": 0, "unix": 7}},
            "snapshots": {"enabled": true, "kept": 1, "capacity": 8, "bytes": 2048,
                "capacity_bytes": 16777216, "taken": 1, "evicted": 0, "deleted": 0},
            "rate_limit": {"senders": 3},
            "resume_at": "2026-12-07T12:10:00Z", "resumes_in_seconds": 600.0,
            "triggers": {"after": "100", "action": "snapshot", "fired": 2, "held_off": 5,
                "failed": 0, "each": [{"query": "sev=crit", "fired": 2, "held_off": 5}]},
            "export": {"endpoint": "http://127.0.0.1:4318/v1/logs", "exported": 90,
                "failed": 1, "dropped": 0, "queued": 4, "last_error": null},
            "clients": {"query": 0, "followers": 2, "ctl": 1, "tcp_senders": 0},
        })
    }

    #[test]
    fn status_summary() {
        let s = today();
        let text = summarize_status(&s, None, now());
        assert!(
            text.starts_with(
                "circologd 0.1.0, up 1h 02m, PAUSED: new messages are read and discarded; \
                 resumes by itself at 2026-12-07T12:10:00Z, in 10m 00s\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nbuffer:   250 of 1000 messages (25.0%), 1.5 KiB of 64.0 MiB (0.0%)\n"),
            "{text}"
        );
        assert!(text.contains("\nseq:      10 to 259\n"), "{text}");
        assert!(
            text.contains("\nreceived: 300 (tcp 0, udp 1, unix 299), 0.08/s\n"),
            "{text}"
        );
        assert!(text.contains("40 dropped while paused"), "{text}");
        assert!(
            text.contains("\nlimited:  7 suppressed by the rate limit (tcp 0, udp 0, unix 7), 3 senders tracked\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nsnapshots: 1 of 8 kept (2.0 KiB of 16.0 MiB), 1 taken, 0 evicted, 0 deleted\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\ntriggers: sev=crit (snapshot), 2 fired, 5 held off\n"),
            "{text}"
        );
        assert!(
            text.contains("\nexport:   http://127.0.0.1:4318/v1/logs: 90 exported, 1 failed, 0 dropped, 4 waiting\n"),
            "{text}"
        );
        assert!(text.contains("2 following"), "{text}");
        // What this daemon does not say yet is left out, not guessed.
        for absent in ["memory:", "reaches:", "clears, ", "post-roll", "last "] {
            assert!(!text.contains(absent), "{absent}: {text}");
        }
        assert_eq!(
            describe_state(&s),
            "paused: new messages are read and discarded; 250 messages in the buffer"
        );
        // Whatever is missing shows as `?` or is left out; nothing panics.
        let text = summarize_status(&serde_json::json!({}), None, now());
        assert!(text.contains("? of ? messages"), "{text}");
        assert_eq!(text.lines().count(), 6, "{text}");
    }

    #[test]
    fn the_summary_says_what_newer_daemons_add() {
        let mut s = today();
        let more = serde_json::json!({
            "paused_by": "trigger",
            "paused_by_trigger": "sev=crit",
            "oldest_received": "2026-12-07T09:57:00.123456Z",
            "memory": "secret",
            "restored": {"messages": 120, "snapshots": 1, "dropped": 0, "pid": 4242,
                "started": "2026-12-07T08:00:00Z"},
        });
        for (k, v) in more.as_object().unwrap() {
            s[k] = v.clone();
        }
        s["counters"]["evicted"] = 17.into();
        s["triggers"]["running"] = serde_json::json!([{"query": "sev=crit", "seq": 250}]);
        let text = summarize_status(&s, None, now());
        assert!(
            text.contains("discarded (paused by the trigger sev=crit); resumes"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nmemory:   secret; restored from the previous process: dropped 0, \
                 messages 120, pid 4242, snapshots 1, started 2026-12-07T08:00:00Z\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\nreaches:  2h 02m back (the oldest message was received 2026-12-07T09:57:00.123456Z)\n"
            ),
            "{text}"
        );
        assert!(text.contains(", 0 clears, 17 evicted\n"), "{text}");
        assert!(
            text.contains("held off; post-roll running: 1 (sev=crit)\n"),
            "{text}"
        );
        // A fresh ring says so; a count of pending triggers is a number.
        s["restored"] = Value::Null;
        s["triggers"]["running"] = 2.into();
        let text = summarize_status(&s, None, now());
        assert!(
            text.contains("\nmemory:   secret, a fresh ring\n"),
            "{text}"
        );
        assert!(text.contains("; post-roll running: 2\n"), "{text}");
        // Snapshots disabled, no triggers, no export, collecting.
        let s = serde_json::json!({"paused": false, "snapshots": {"enabled": false},
            "triggers": {"each": []}, "export": null});
        let text = summarize_status(&s, None, now());
        assert!(text.contains(", collecting\n"), "{text}");
        assert!(
            text.contains("\nsnapshots: disabled (-snapshot-bytes 0)\n"),
            "{text}"
        );
        assert!(
            !text.contains("triggers:") && !text.contains("export:"),
            "{text}"
        );
    }

    #[test]
    fn the_last_hour_is_one_line() {
        let json = serde_json::json!({
            "from": 0, "until": 3_600_000_000u64, "bucket_us": 60_000_000u64,
            "buckets": (0..60).map(|i| serde_json::json!({
                "start": i * 60_000_000u64,
                "counts": {"emerg": 0, "alert": 0, "crit": 0, "err": u64::from(i == 59),
                    "warning": 0, "notice": 0, "info": i % 8, "debug": 0},
            })).collect::<Vec<_>>(),
        });
        let h: Histogram = serde_json::from_value(json).unwrap();
        let text = summarize_status(&today(), Some(&h), now());
        let line = text
            .lines()
            .find(|l| l.starts_with("last 1h:  |"))
            .unwrap_or_else(|| panic!("{text}"));
        let bars: Vec<&str> = line.split('|').collect();
        assert_eq!(bars[1].chars().count(), 60, "{line}");
        assert_eq!(
            bars[2], " 203 messages, 1 err or worse (1m a bar)",
            "{line}"
        );
        // It comes right after the received line.
        assert!(text.contains("/s\nlast 1h"), "{text}");
    }

    #[test]
    fn sparklines() {
        assert_eq!(sparkline(&[0, 1, 2, 3, 4, 5, 6, 7, 8]), " ▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[0, 0]), "  ");
        assert_eq!(sparkline(&[1, 1000]), "▁█");
        assert_eq!(sparkline(&[u64::MAX, 1]), "█▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn the_query_socket_is_the_daemons_own() {
        let defaults = DefaultPaths {
            dir: None,
            syslog: "/run/circolog-syslog.sock".into(),
            query: "/run/circolog-query.sock".into(),
            ctl: "/run/circolog-ctl.sock".into(),
        };
        let daemon = |args: &[&str]| super::super::RunningDaemon {
            pid: 1,
            uid: Some(0),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        let d = [
            daemon(&["-query-socket", "/a/q.sock", "-ctl-socket=/a/c.sock"]),
            daemon(&["--ctl-socket", "/b/c.sock"]),
        ];
        assert_eq!(
            query_socket_for(Path::new("/a/c.sock"), &d, &defaults),
            Some(PathBuf::from("/a/q.sock"))
        );
        // A daemon with no query socket has no histogram to ask.
        assert_eq!(
            query_socket_for(Path::new("/b/c.sock"), &d, &defaults),
            None
        );
        assert_eq!(
            query_socket_for(Path::new("/x/c.sock"), &d, &defaults),
            None
        );
        // On the defaults, with or without a daemon seen.
        assert_eq!(
            query_socket_for(&defaults.ctl, &[daemon(&["-tz", "UTC"])], &defaults),
            Some(defaults.query.clone())
        );
        assert_eq!(
            query_socket_for(&defaults.ctl, &[], &defaults),
            Some(defaults.query.clone())
        );
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(exact_duration(3_600_000_000), "1h");
        assert_eq!(exact_duration(5_400_000_000), "1h 30m");
        assert_eq!(exact_duration(250_000), "250ms");
        assert_eq!(exact_duration(0), "0us");
        assert_eq!(human_duration(42.9), "42s");
        assert_eq!(human_duration(187.0), "3m 07s");
        assert_eq!(human_duration(5.0 * 86400.0 + 4.0 * 3600.0), "5d 04h");
        assert_eq!(bytes(&serde_json::json!(512)), "512 B");
        assert_eq!(bytes(&serde_json::json!(1u64 << 30)), "1.0 GiB");
    }

    #[test]
    fn a_daemons_text_cannot_drive_the_terminal() {
        let s = serde_json::json!({"version": "1\u{1b}[2J", "paused": true,
            "paused_by": "api\u{1b}]0;owned\u{7}", "memory": "plain\u{202e}"});
        let text = summarize_status(&s, None, Timestamp::UNIX_EPOCH);
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{text}");
        assert!(text.ends_with('\n'));
    }
}
