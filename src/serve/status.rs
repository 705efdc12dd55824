//! What the control API reports: the `/status` JSON document and the same
//! figures as Prometheus text for `/metrics`. Pure functions of the
//! [`State`] and the current time.

use std::fmt::Write as _;

use crate::daemon::{PausedBy, State};
use crate::store::ring::Transport;

/// The `/status` document.
pub fn status(st: &State, now_us: i64) -> serde_json::Value {
    let clients = st.clients();
    let snaps = st.snapshots();
    let sc = snaps.counters();
    let triggers = st.triggers();
    let totals = triggers.totals();
    let ring = st.ring();
    let c = st.counters();
    let received: serde_json::Map<String, serde_json::Value> = Transport::ALL
        .iter()
        .map(|t| (t.name().to_string(), c.received[*t as usize].into()))
        .collect();
    let suppressed: serde_json::Map<String, serde_json::Value> = Transport::ALL
        .iter()
        .map(|t| (t.name().to_string(), c.suppressed[*t as usize].into()))
        .collect();
    let mut doc = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "epoch": st.epoch_us(),
        "paused": st.paused(),
        "resume_at": st.resume_at_us().map(crate::query::format::rfc3339_us),
        "resumes_in_seconds": st.resume_at_us().map(|at| (at - now_us).max(0) as f64 / 1e6),
        "paused_by": st.paused_by().map(PausedBy::name),
        "paused_by_trigger": paused_by_trigger(st),
        "uptime_seconds": (now_us - st.epoch_us()).max(0) as f64 / 1e6,
        "capacity": {
            "messages": ring.max_messages(),
            "bytes": ring.arena_bytes(),
            "max_message_bytes": ring.max_message_bytes(),
        },
        "used": {
            "messages": ring.len(),
            "bytes": ring.bytes_used(),
        },
        "memory": ring.memory_kind().name(),
        "restored": ring.restored().map(|r| serde_json::json!({
            "messages": r.adopted.messages,
            "snapshots": snaps.restored().map_or(0, |s| s.snapshots),
            "dropped": r.adopted.dropped,
            "snapshots_dropped": snaps.restored().map_or(0, |s| s.dropped),
            "pid": r.pid,
            "started": crate::query::format::rfc3339_us(r.started_us),
            "started_us": r.started_us,
        })),
        "counters": {
            "received": received,
            "received_total": c.received_total(),
            "dropped_paused": c.dropped_paused,
            "truncated": c.truncated,
            "malformed": c.malformed,
            "skipped_followers": c.skipped_followers,
            "clears": c.clears,
            "suppressed": suppressed,
            "evicted": c.evicted,
        },
        "snapshots": {
            "enabled": snaps.enabled(),
            "kept": snaps.len(),
            "capacity": snaps.max_snapshots(),
            "bytes": snaps.bytes_used(),
            "capacity_bytes": snaps.arena_bytes(),
            "taken": sc.taken,
            "evicted": sc.evicted,
            "deleted": sc.deleted,
        },
        "rate_limit": st.limiter().map(|l| serde_json::json!({
            "senders": l.senders(),
        })),
        "triggers": {
            "after": triggers.after().to_string(),
            "action": triggers.action().name(),
            "fired": totals.fired,
            "held_off": totals.held_off,
            "failed": c.trigger_failed,
            "coalesced": c.trigger_coalesced,
            "running": triggers
                .running()
                .map(|r| serde_json::json!({
                    "query": r.query,
                    "seq": r.seq,
                    "ends_at": crate::query::format::rfc3339_us(r.ends_at_us),
                    "ends_in_seconds": (r.ends_at_us - now_us).max(0) as f64 / 1e6,
                    "messages_left": r.messages_left,
                }))
                .collect::<Vec<_>>(),
            "each": triggers
                .counters()
                .map(|(query, t)| serde_json::json!({
                    "query": query,
                    "fired": t.fired,
                    "held_off": t.held_off,
                }))
                .collect::<Vec<_>>(),
        },
        "clients": {
            "query": clients.query,
            "followers": clients.followers,
            "ctl": clients.ctl,
            "tcp_senders": clients.tcp_senders,
        },
        "export": st.export().map(|(x, missed)| {
            let c = x.counters();
            serde_json::json!({
                "endpoint": x.endpoint().to_string(),
                "exported": c.exported,
                "retried": c.retried,
                "failed": c.failed,
                "dropped": c.dropped,
                "missed": missed,
                "queued": c.queued,
                "queue_bytes": c.queue_bytes,
                "queue_capacity": c.queue_capacity,
                "last_error": x.last_error(),
            })
        }),
    });
    // Absent, not null, when there is nothing to say: `first_seq` and
    // `oldest_received` while the ring is empty, `last_seq` (the newest
    // seq ever given, which a clear does not take back) while nothing was
    // ever stored.
    let mut put = |name: &str, value: Option<serde_json::Value>| {
        if let (Some(v), Some(doc)) = (value, doc.as_object_mut()) {
            doc.insert(name.to_string(), v);
        }
    };
    let oldest = ring.get(ring.first_seq());
    put("first_seq", oldest.as_ref().map(|e| e.seq.get().into()));
    put(
        "oldest_received",
        oldest.map(|e| crate::query::format::rfc3339_us(e.received_us).into()),
    );
    put("last_seq", ring.next_seq().prev().map(|s| s.get().into()));
    doc
}

/// The `/status` figures in the Prometheus text exposition format.
pub fn metrics(st: &State, now_us: i64) -> String {
    let clients = st.clients();
    let ring = st.ring();
    let c = st.counters();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let received: Vec<(String, u64)> = Transport::ALL
        .iter()
        .map(|t| {
            (
                format!("{{transport=\"{}\"}}", t.name()),
                c.received[*t as usize],
            )
        })
        .collect();
    let received: Vec<(&str, u64)> = received.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    metric(
        "circolog_received_messages_total",
        "counter",
        "Messages read from the syslog sockets, stored or not.",
        &received,
    );
    let suppressed: Vec<(String, u64)> = Transport::ALL
        .iter()
        .map(|t| {
            (
                format!("{{transport=\"{}\"}}", t.name()),
                c.suppressed[*t as usize],
            )
        })
        .collect();
    let suppressed: Vec<(&str, u64)> = suppressed.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    metric(
        "circolog_suppressed_messages_total",
        "counter",
        "Messages over their sender's -rate-limit, read and dropped.",
        &suppressed,
    );
    metric(
        "circolog_dropped_paused_messages_total",
        "counter",
        "Messages read and discarded while paused.",
        &[("", c.dropped_paused)],
    );
    metric(
        "circolog_truncated_messages_total",
        "counter",
        "Messages cut to the maximum message size.",
        &[("", c.truncated)],
    );
    metric(
        "circolog_malformed_messages_total",
        "counter",
        "Messages stored whole because they parsed as no syslog format.",
        &[("", c.malformed)],
    );
    metric(
        "circolog_skipped_follower_messages_total",
        "counter",
        "Messages followers missed because the ring overwrote them first.",
        &[("", c.skipped_followers)],
    );
    metric(
        "circolog_evicted_messages_total",
        "counter",
        "Messages evicted from the ring to make room or for their age (not by a clear).",
        &[("", c.evicted)],
    );
    metric(
        "circolog_clears_total",
        "counter",
        "Times the buffer was cleared.",
        &[("", c.clears)],
    );
    metric(
        "circolog_stored_messages",
        "gauge",
        "Messages in the ring now.",
        &[("", ring.len())],
    );
    metric(
        "circolog_stored_bytes",
        "gauge",
        "Arena bytes used by the messages in the ring.",
        &[("", ring.bytes_used() as u64)],
    );
    metric(
        "circolog_capacity_messages",
        "gauge",
        "At most this many messages are kept.",
        &[("", ring.max_messages() as u64)],
    );
    metric(
        "circolog_capacity_bytes",
        "gauge",
        "Size of the arena.",
        &[("", ring.arena_bytes() as u64)],
    );
    metric(
        "circolog_paused",
        "gauge",
        "1 while paused.",
        &[("", u64::from(st.paused()))],
    );
    metric(
        "circolog_clients",
        "gauge",
        "Connected clients by kind.",
        &[
            ("{kind=\"query\"}", clients.query),
            ("{kind=\"follower\"}", clients.followers),
            ("{kind=\"ctl\"}", clients.ctl),
            ("{kind=\"tcp_sender\"}", clients.tcp_senders),
        ],
    );
    let snaps = st.snapshots();
    let sc = snaps.counters();
    metric(
        "circolog_snapshots_taken_total",
        "counter",
        "Snapshots begun (POST /snapshot, SIGUSR2, triggers).",
        &[("", sc.taken)],
    );
    metric(
        "circolog_snapshots_evicted_total",
        "counter",
        "Snapshots dropped, oldest first, to make room for new ones.",
        &[("", sc.evicted)],
    );
    metric(
        "circolog_snapshots_deleted_total",
        "counter",
        "Snapshots deleted on request.",
        &[("", sc.deleted)],
    );
    metric(
        "circolog_snapshots",
        "gauge",
        "Snapshots kept now.",
        &[("", snaps.len() as u64)],
    );
    metric(
        "circolog_snapshot_bytes",
        "gauge",
        "Bytes of the snapshot arena used by snapshots.",
        &[("", snaps.bytes_used() as u64)],
    );
    let totals = st.triggers().totals();
    metric(
        "circolog_trigger_fired_total",
        "counter",
        "Trigger firings acted on (a snapshot taken, or a pause).",
        &[("", totals.fired)],
    );
    metric(
        "circolog_trigger_held_off_total",
        "counter",
        "Trigger matches within a holdoff, and pause firings on a paused daemon.",
        &[("", totals.held_off)],
    );
    metric(
        "circolog_trigger_failed_total",
        "counter",
        "Trigger firings whose snapshot could not be taken.",
        &[("", c.trigger_failed)],
    );
    metric(
        "circolog_uptime_seconds",
        "gauge",
        "Seconds since start-up.",
        &[("", ((now_us - st.epoch_us()).max(0) / 1_000_000) as u64)],
    );
    if let Some((x, missed)) = st.export() {
        let c = x.counters();
        metric(
            "circolog_export_records_total",
            "counter",
            "Records for the OTLP endpoint, by what became of them.",
            &[
                ("{outcome=\"exported\"}", c.exported),
                ("{outcome=\"retried\"}", c.retried),
                ("{outcome=\"failed\"}", c.failed),
                ("{outcome=\"dropped\"}", c.dropped),
                ("{outcome=\"missed\"}", missed),
            ],
        );
        metric(
            "circolog_export_queue_bytes",
            "gauge",
            "Bytes of records waiting to be exported.",
            &[("", c.queue_bytes)],
        );
        metric(
            "circolog_export_queue_records",
            "gauge",
            "Records waiting to be exported.",
            &[("", c.queued)],
        );
    }
    out
}

/// The text of the trigger that paused the daemon, if one did and this
/// process has it (a pause adopted from a process started with other
/// triggers may name one this process lacks).
pub fn paused_by_trigger(st: &State) -> Option<&str> {
    match st.paused_by()? {
        PausedBy::Trigger(i) => st.triggers().source(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::syslog::ParseContext;
    use crate::store::ring::{Config, Incoming, Ring};

    #[test]
    fn metrics_have_help_type_and_total_suffix() {
        let ring = Ring::new(Config {
            max_messages: 100,
            arena_bytes: 1 << 16,
            max_message_bytes: 64,
        })
        .expect("ring");
        let tz = jiff::tz::TimeZone::UTC;
        let mut s = State::new(ring, 1_000_000, ParseContext { tz });
        s.ingest(Incoming {
            received_us: 2_000_000,
            transport: Transport::Udp,
            cred: None,
            truncated: false,
            bytes: b"<13>x",
        });
        let m = metrics(&s, 3_000_000);
        assert!(m.contains("# TYPE circolog_received_messages_total counter\n"));
        assert!(m.contains("circolog_received_messages_total{transport=\"udp\"} 1\n"));
        assert!(m.contains("circolog_stored_messages 1\n"));
        let j = status(&s, 3_000_000);
        assert_eq!(j["used"]["messages"], 1);
        assert_eq!(j["counters"]["received"]["udp"], 1);
        assert_eq!(j["uptime_seconds"], 2.0);
    }

    #[test]
    fn seqs_and_the_oldest_time_are_absent_until_there_is_one() {
        let ring = Ring::new(Config {
            max_messages: 2,
            arena_bytes: 1 << 16,
            max_message_bytes: 64,
        })
        .expect("ring");
        let tz = jiff::tz::TimeZone::UTC;
        let mut s = State::new(ring, 1_000_000, ParseContext { tz });
        let j = status(&s, 3_000_000);
        for absent in ["first_seq", "last_seq", "oldest_received"] {
            assert!(j.get(absent).is_none(), "{absent}: {j}");
        }
        assert_eq!(j["counters"]["evicted"], 0);
        for us in [2_000_000, 2_000_001, 2_000_002] {
            s.ingest(Incoming {
                received_us: us,
                transport: Transport::Udp,
                cred: None,
                truncated: false,
                bytes: b"<13>x",
            });
        }
        let j = status(&s, 3_000_000);
        assert_eq!((&j["first_seq"], &j["last_seq"]), (&1.into(), &2.into()));
        assert_eq!(j["oldest_received"], "1970-01-01T00:00:02.000001Z");
        assert_eq!(j["counters"]["evicted"], 1);
        assert!(metrics(&s, 3_000_000).contains(
            "# TYPE circolog_evicted_messages_total counter\ncircolog_evicted_messages_total 1\n"
        ));
        // A clear empties the ring; the seqs it gave stay given.
        s.clear();
        let j = status(&s, 3_000_000);
        assert!(j.get("first_seq").is_none() && j.get("oldest_received").is_none());
        assert_eq!(j["last_seq"], 2);
        assert_eq!(j["counters"]["evicted"], 1);
    }
}
