//! Section 7's data: a realistic mix of messages, sent to circologd's ring
//! and written to a file in the same run, so that a query of the ring and
//! GNU grep on the file search the same bytes.
//!
//! The mix: ten apps, half of the messages RFC 5424 with a hostname and
//! half RFC 3164 without one (the glibc `/dev/log` form), severities from
//! debug to alert with info the most common. Two kinds of message are rare
//! on purpose, ten of each whatever the count: `emerg`, and the text
//! `NEEDLE` (never in the same message), spread evenly through the ring.

use std::io::{self, BufWriter, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

/// The rare text of ten messages.
pub const NEEDLE: &str = "NEEDLE";

/// How many messages are `emerg`, and how many hold [`NEEDLE`].
pub const RARE: u64 = 10;

const APPS: [&str; 10] = [
    "sshd",
    "nginx",
    "kernel",
    "CRON",
    "systemd",
    "postfix/smtpd",
    "dockerd",
    "sudo",
    "NetworkManager",
    "postgres",
];

const USERS: [&str; 4] = ["alice", "bob", "deploy", "root"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn splitmix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Severity of an ordinary message: info the most common, alert the least;
/// never emerg, which only the rare ones have.
fn severity(h: u64) -> u64 {
    match h % 100 {
        0..50 => 6,  // info
        50..65 => 5, // notice
        65..80 => 7, // debug
        80..90 => 4, // warning
        90..97 => 3, // err
        97..99 => 2, // crit
        _ => 1,      // alert
    }
}

/// Writes message `i` of `count` into `out` (replacing what was there).
pub fn message(i: u64, count: u64, out: &mut Vec<u8>) {
    use std::fmt::Write as _;
    let h = splitmix(i);
    let step = (count / RARE).max(1);
    let rare_sev = i % step == step / 4;
    let needle = i % step == step / 2 && !rare_sev;
    let app_i = (h % 10) as usize;
    let app = APPS[app_i];
    let sev = if rare_sev { 0 } else { severity(h >> 8) };
    // Facilities as these apps use them.
    let fac = match app_i {
        0 | 7 => 10, // authpriv
        2 => 0,      // kern
        3 => 9,      // cron
        5 => 2,      // mail
        1 | 9 => 16, // local0
        _ => 3,      // daemon
    };
    let pid = 300 + (h >> 16) % 30_000;
    let user = USERS[((h >> 20) % 4) as usize];
    let (a, b) = ((h >> 24) % 250 + 1, (h >> 32) % 250 + 1);
    let n = (h >> 40) % 100_000;
    let mut text = String::with_capacity(160);
    let _ = match app_i {
        0 => write!(
            text,
            "Accepted publickey for {user} from 10.{a}.{b}.7 port {} ssh2: ED25519 SHA256:k3Jq{n:05}",
            1024 + n % 60_000
        ),
        1 => write!(
            text,
            "10.0.{a}.{b} - - \"GET /api/v1/items/{n} HTTP/1.1\" 200 {} \"-\" \"curl/8.5.0\"",
            200 + n % 9000
        ),
        2 => write!(
            text,
            "[{}.{:06}] eth0: renamed from veth{n:05}, link becomes ready",
            i / 1000,
            h % 1_000_000
        ),
        3 => write!(text, "({user}) CMD (run-parts /etc/cron.hourly; job {n})"),
        4 => write!(
            text,
            "Started session-{n}.scope - Session {n} of User {user}."
        ),
        5 => write!(text, "connect from mail{a}.example.net[192.0.2.{b}] id={n}"),
        6 => write!(
            text,
            "time=\"2026-12-01T08:00:00Z\" level=info msg=\"health check ok\" container={h:016x}"
        ),
        7 => write!(
            text,
            "{user} : TTY=pts/{a} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart app{n}"
        ),
        8 => write!(
            text,
            "<info>  [1764576000.{n:05}] dhcp4 (eth0): state changed bound -> bound, lease {a}"
        ),
        _ => write!(
            text,
            "LOG:  duration: {}.{:03} ms  statement: SELECT * FROM orders WHERE id = {n}",
            a, b
        ),
    };
    if needle {
        text.push_str(" token=");
        text.push_str(NEEDLE);
    }
    out.clear();
    let pri = fac * 8 + sev;
    let secs = i / 1000;
    let (hh, mm, ss) = (8 + secs / 3600 % 12, secs / 60 % 60, secs % 60);
    let line = if h >> 63 == 0 {
        format!(
            "<{pri}>1 2026-12-01T{hh:02}:{mm:02}:{ss:02}.{:06}Z web{a:02}.example.org {app} {pid} - - {text}",
            (i % 1000) * 1000
        )
    } else {
        let month = MONTHS[11];
        format!("<{pri}>{month}  1 {hh:02}:{mm:02}:{ss:02} {app}[{pid}]: {text}")
    };
    out.extend_from_slice(line.as_bytes());
}

/// Sends `count` messages to the unix socket `syslog` (blocking sends, so
/// none is lost) and writes the same bytes to `file`, one message per line.
/// Returns the bytes of the messages.
pub fn fill(syslog: &Path, file: &Path, count: u64) -> io::Result<u64> {
    let s = UnixDatagram::unbound()?;
    s.connect(syslog)?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(file)?);
    let mut buf = Vec::with_capacity(512);
    let mut bytes = 0;
    for i in 0..count {
        message(i, count, &mut buf);
        s.send(&buf)?;
        w.write_all(&buf)?;
        w.write_all(b"\n")?;
        bytes += buf.len() as u64;
    }
    w.flush()?;
    Ok(bytes)
}

/// Runs `program args`, returns its standard output and how long it took
/// (from start to exit, as a shell's `time` would say).
pub fn timed(program: &str, args: &[&str]) -> Result<(String, f64), String> {
    let t = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    // `grep -c` exits 1 when nothing matched: still a figure.
    if !out.status.success() && out.status.code() != Some(1) {
        return Err(format!(
            "{program} {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        secs,
    ))
}

/// `GET /histogram?PARAMS` on the query socket: how long the answer took,
/// and how many messages its buckets count.
pub fn histogram(query: &Path, params: &str) -> Result<(u64, f64), String> {
    use std::io::Read;
    let t = Instant::now();
    let mut s = std::os::unix::net::UnixStream::connect(query).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /histogram?{params} HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no head")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("/histogram?{params}: {head}"));
    }
    let h: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let total = h["buckets"]
        .as_array()
        .ok_or("no buckets")?
        .iter()
        .filter_map(|b| b["counts"].as_object())
        .flat_map(|c| c.values())
        .filter_map(serde_json::Value::as_u64)
        .sum();
    Ok((total, secs))
}
