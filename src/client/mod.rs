//! The client side of the query and control APIs, shared by `circolog-tail`
//! and `circolog-ctl`.
//!
//! Most of it is plain code without I/O:
//!
//! * [`parse_json_line`] and [`render_short`], the `short` format of
//!   `circolog-tail`, and the severity colours;
//! * [`plan`], the follower's decision of where to resume after a
//!   reconnection;
//! * [`parse_json_line`] and [`render_syslog`], the `syslog` lines
//!   `circolog-tail -f` writes from the JSON it follows;
//! * [`summarize_status`], the human summary of `circolog-ctl status`;
//! * [`connect_failure`], [`absent_hint`] and [`wrong_api`], the lines that
//!   say which socket a user gave a client, and which circologd runs
//!   instead.
//!
//! The plain code reads no socket and no clock: [`plan`], [`Reconnect`],
//! [`MergeWindow`], [`LineSplitter`] and [`journal_time`] are given the
//! time and the bytes. [`exchange`] reads and writes a stream its caller
//! opened (`circolog-ctl` owns its socket); `circolog-tail`'s sockets and
//! threads are in `source`, `dump` and `follow`. The only other I/O is
//! looking: [`running_daemons`] reads `/proc`, [`not_a_socket`] a path's
//! metadata, when a connection has already failed.
//!
//! What lives where:
//!
//! * `exchange`: one request and its response on a stream ([`exchange`]);
//! * `diagnosis`: which socket is which, and why connecting failed;
//! * `query`: the query string ([`Filters`], [`Start`], [`query_string`]);
//! * `resume`: where a follower (re)starts ([`plan`]), and when it tries
//!   again and what it says ([`Reconnect`]);
//! * `time`: the times `--since` and `--until` take ([`journal_time`]);
//! * `split`: a body cut into lines, each bounded ([`LineSplitter`]);
//! * `merge`: several daemons' lines merged by receive time
//!   ([`MergeWindow`]);
//! * `wire`: the `fmt=json` wire format ([`parse_json_line`]);
//! * `render`: the `short` and `syslog` lines, the colours, and the
//!   escaping of a peer's text ([`escape_text`]);
//! * `source`, `output`, `dump`, `follow`: `circolog-tail`'s connections
//!   to its daemons (with their deadlines), its standard output, and its
//!   two loops, without and with `-f`, for one daemon or several merged;
//! * below, `circolog-ctl`'s human summary of `/status`.
//!
//! Everything is re-exported here: `circolog::client::X` is the path to use.

pub use crate::http::response::{Head, HttpError, ResponseDecoder};

mod diagnosis;
mod dump;
mod exchange;
mod follow;
mod merge;
mod output;
mod query;
mod render;
mod resume;
mod source;
mod split;
mod time;
mod wire;

pub use diagnosis::*;
pub use dump::*;
pub use exchange::*;
pub use follow::*;
pub use merge::*;
pub use output::*;
pub use query::*;
pub use render::*;
pub use resume::*;
pub use source::*;
pub use split::*;
pub use time::*;
pub use wire::*;

// ---- circolog-ctl ----

/// One line for the state after a control command: paused or collecting,
/// and how full the buffer is.
pub fn describe_state(status: &serde_json::Value) -> String {
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

/// The human summary of `GET /status`. Fields the daemon did not send show
/// as `?`.
pub fn summarize_status(s: &serde_json::Value) -> String {
    let uptime = s["uptime_seconds"].as_f64();
    let mut out = format!(
        "circologd {}, up {}, {}\n",
        s["version"].as_str().unwrap_or("?"),
        uptime.map_or_else(|| "?".to_string(), human_duration),
        if s["paused"].as_bool() == Some(true) {
            "PAUSED: new messages are read and discarded"
        } else {
            "collecting"
        }
    );
    let used = &s["used"];
    let cap = &s["capacity"];
    out.push_str(&format!(
        "buffer:   {} of {} messages ({}), {} of {} ({})\n",
        number(&used["messages"]),
        number(&cap["messages"]),
        percent(&used["messages"], &cap["messages"]),
        bytes(&used["bytes"]),
        bytes(&cap["bytes"]),
        percent(&used["bytes"], &cap["bytes"]),
    ));
    let seqs = match (s["first_seq"].as_u64(), s["last_seq"].as_u64()) {
        (Some(first), Some(last)) => format!("{first} to {last}"),
        (None, Some(last)) => format!("none stored (the last was {last})"),
        _ => "none stored".to_string(),
    };
    out.push_str(&format!("seq:      {seqs}\n"));
    let c = &s["counters"];
    let total = c["received_total"].as_u64();
    let by_transport: Vec<String> = c["received"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(t, n)| format!("{t} {}", number(n)))
                .collect()
        })
        .unwrap_or_default();
    let rate = match (total, uptime) {
        (Some(t), Some(u)) if u > 0.0 => format!(", {:.2}/s", t as f64 / u),
        _ => String::new(),
    };
    out.push_str(&format!(
        "received: {}{}{rate}\n",
        number(&c["received_total"]),
        if by_transport.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_transport.join(", "))
        },
    ));
    out.push_str(&format!(
        "counters: {} dropped while paused, {} truncated, {} malformed, {} skipped by slow followers, {} clears\n",
        number(&c["dropped_paused"]),
        number(&c["truncated"]),
        number(&c["malformed"]),
        number(&c["skipped_followers"]),
        number(&c["clears"]),
    ));
    let cl = &s["clients"];
    out.push_str(&format!(
        "clients:  {} query, {} following, {} control, {} TCP senders\n",
        number(&cl["query"]),
        number(&cl["followers"]),
        number(&cl["ctl"]),
        number(&cl["tcp_senders"]),
    ));
    out
}

fn number(v: &serde_json::Value) -> String {
    v.as_u64()
        .map_or_else(|| "?".to_string(), |n| n.to_string())
}

fn percent(part: &serde_json::Value, whole: &serde_json::Value) -> String {
    match (part.as_u64(), whole.as_u64()) {
        (Some(p), Some(w)) if w > 0 => format!("{:.1}%", p as f64 * 100.0 / w as f64),
        _ => "?%".to_string(),
    }
}

/// A byte count in binary units: `512 B`, `1.5 KiB`, `64.0 MiB`.
fn bytes(v: &serde_json::Value) -> String {
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

    #[test]
    fn status_summary() {
        let s = serde_json::json!({
            "version": "0.1.0", "epoch": 1, "paused": true, "uptime_seconds": 3725.5,
            "capacity": {"messages": 1000, "bytes": 67108864u64, "max_message_bytes": 16384},
            "used": {"messages": 250, "bytes": 1536},
            "first_seq": 10, "last_seq": 259,
            "counters": {"received": {"tcp": 0, "udp": 1, "unix": 299}, "received_total": 300,
                "dropped_paused": 40, "truncated": 1, "malformed": 2, "skipped_followers": 3, "clears": 0},
            "clients": {"query": 0, "followers": 2, "ctl": 1, "tcp_senders": 0},
        });
        let text = summarize_status(&s);
        assert!(
            text.starts_with("circologd 0.1.0, up 1h 02m, PAUSED"),
            "{text}"
        );
        assert!(
            text.contains("250 of 1000 messages (25.0%), 1.5 KiB of 64.0 MiB (0.0%)"),
            "{text}"
        );
        assert!(text.contains("seq:      10 to 259"), "{text}");
        assert!(
            text.contains("received: 300 (tcp 0, udp 1, unix 299), 0.08/s"),
            "{text}"
        );
        assert!(text.contains("40 dropped while paused"), "{text}");
        assert!(text.contains("2 following"), "{text}");
        assert_eq!(
            describe_state(&s),
            "paused: new messages are read and discarded; 250 messages in the buffer"
        );
        // Whatever is missing shows as `?`, nothing panics.
        let text = summarize_status(&serde_json::json!({}));
        assert!(text.contains("? of ? messages"), "{text}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(human_duration(42.9), "42s");
        assert_eq!(human_duration(187.0), "3m 07s");
        assert_eq!(human_duration(5.0 * 86400.0 + 4.0 * 3600.0), "5d 04h");
        assert_eq!(bytes(&serde_json::json!(512)), "512 B");
        assert_eq!(bytes(&serde_json::json!(1u64 << 30)), "1.0 GiB");
    }
}
