//! What `circolog-tail` prints of a dump, byte for byte, in every format:
//! `json`, `raw` and `syslog` are the daemon's own lines, and `short` is
//! what the general parse of each JSON line renders (the way every line
//! was read before the faster ones). Hostile and ordinary messages, many
//! of them, so that lines cross the pieces a body is read and written in.

use std::path::Path;
use std::process::Command;

use circolog::client::{
    JsonLine, RESET, escape_bytes, parse_json_line, pri_severity, render_short, severity_number,
    severity_style,
};
use jiff::tz::TimeZone;

use crate::util::{Daemon, daemon};

const TAIL: &str = env!("CARGO_BIN_EXE_circolog-tail");

/// A zone with summer time, which the short lines are printed in.
const ZONE: &str = "Europe/Rome";

/// Messages of every kind the daemon keeps: its formats, escapes JSON and
/// `short` treat differently, text that is not UTF-8, controls, a bidi
/// override, DEL, structured data, times before 1970 and in summer.
const KINDS: [&[u8]; 18] = [
    b"<134>1 2026-07-01T12:00:00.123456Z web01 nginx 812 - - 10.0.0.1 - - \"GET /a?b=\\\"c\\\" HTTP/1.1\" 200 17 \"-\" \"curl/8.5.0\"",
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"li\\\\cation\\]\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] An application event",
    b"<34>1 2026-01-08T20:46:03.295+01:00 h su 77 - [o@1 ip=\"a\" ip=\"b\"] tab\there \xc2\x9b2J bell\x07 euro \xe2\x82\xac",
    b"<13>Jan  8 19:46:03 host app[12]: rfc 3164 line\nwith a line feed\rand a return",
    b"<78>Jan  8 19:46:05 cron[77]: glibc form, no host",
    b"<14>1 - - - - - -",
    b"just bytes \x1b[2J from a printer",
    b"<13>1 - - app - - [bad sd",
    b"<191>1 2026-01-08T19:46:03Z h app - - - debug with a backslash \\ and a slash /",
    b"<11>1 2026-03-29T00:59:59.999999Z h app - - - the second before summer time",
    b"<12>1 1969-12-31T23:59:59.5Z h old - - - before 1970",
    b"<9>1 2026-01-08T19:46:03Z h evil - - - evil\xe2\x80\xaetxt.exe and DEL \x7f here",
    b"<10>1 2026-01-08T19:46:03Z h bytes - - - not UTF-8: \xff\xfe and \xc3",
    b"<8>1 2026-01-08T19:46:03Z h\xc3\xa9 app\x01x 1\x7f2 - - host, app and pid with odd bytes",
    b"<15>1 2026-01-08T19:46:03Z - - - - - no host, app or pid",
    b"<30>1 2026-01-08T19:46:03Z h app - - [only@1 sd=\"x\"]",
    b"<0>1 2026-01-08T19:46:03.000001Z h emerg 1 - - caf\xc3\xa9 \"quoted\" {json} [brackets]",
    b"<6>Feb 29 23:59:59 host kernel: [12345.678901] eth0: link up",
];

/// Sends every kind many times, numbered, with a few long messages among
/// them (one of quotes, one of control characters, whose JSON line is
/// longer than a read): a few thousand lines.
fn fill(d: &Daemon) -> u64 {
    let mut sent = 0;
    for round in 0..200u32 {
        for kind in KINDS {
            let mut m = kind.to_vec();
            m.extend_from_slice(format!(" #{round}").as_bytes());
            d.send_unix(&m);
            sent += 1;
        }
        if round % 50 == 7 {
            let mut quotes = b"<14>1 - h long - - - ".to_vec();
            quotes.extend(std::iter::repeat_n(b'"', 15_000));
            d.send_unix(&quotes);
            let mut controls = b"<14>1 - h long - - - ".to_vec();
            controls.extend((0..15_000u32).map(|i| (i % 31 + 1) as u8));
            d.send_unix(&controls);
            sent += 2;
        }
    }
    d.wait_stored(sent);
    sent
}

/// `circolog-tail ARGS` on `socket`, in [`ZONE`]: its standard output,
/// which must come with success and nothing on standard error.
fn tail(socket: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(TAIL)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env("TZ", ZONE)
        .env_remove("NO_COLOR")
        .output()
        .expect("run circolog-tail");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "circolog-tail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The body of `GET /?PARAMS` from the daemon itself.
fn body(d: &Daemon, params: &str) -> Vec<u8> {
    let out = d.curl(&d.query, &["-f", &format!("http://localhost/?{params}")]);
    assert!(out.status.success(), "GET /?{params}");
    out.stdout
}

/// Each line of `body` with its line feed, coloured by `sev` when given.
fn coloured(body: &[u8], mut sev: impl FnMut(&[u8]) -> Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in body
        .strip_suffix(b"\n")
        .unwrap_or(body)
        .split(|&b| b == b'\n')
    {
        match sev(line).and_then(severity_style) {
            Some(style) => {
                out.extend_from_slice(style.as_bytes());
                out.extend_from_slice(line);
                out.extend_from_slice(RESET.as_bytes());
            }
            None => out.extend_from_slice(line),
        }
        out.push(b'\n');
    }
    out
}

/// The daemon's `fmt=syslog` lines as printed: as they are, but a line
/// that is not UTF-8 (the daemon copies a message's bytes) or holds a
/// control character is escaped.
fn syslog_printed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in body
        .strip_suffix(b"\n")
        .unwrap_or(body)
        .split(|&b| b == b'\n')
    {
        match std::str::from_utf8(line) {
            Ok(text) if !text.chars().any(char::is_control) => out.extend_from_slice(line),
            _ => out.extend_from_slice(escape_bytes(line).as_bytes()),
        }
        out.push(b'\n');
    }
    out
}

/// The lines of `body` in the opposite order.
fn reversed(body: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = body
        .strip_suffix(b"\n")
        .unwrap_or(body)
        .split(|&b| b == b'\n')
        .collect();
    lines
        .iter()
        .rev()
        .flat_map(|l| [*l, b"\n"].concat())
        .collect()
}

/// The `short` lines of a `fmt=json` body as the general parse renders
/// them, each a line with its severity.
fn short_lines(json: &[u8], tz: &TimeZone) -> Vec<(String, Option<u8>)> {
    let text = std::str::from_utf8(json).expect("the daemon's JSON is UTF-8");
    text.lines()
        .map(|line| match parse_json_line(line) {
            Ok(JsonLine::Message(m)) => {
                let mut out = String::new();
                render_short(&m, tz, &mut out);
                (out, severity_number(&m.severity))
            }
            other => panic!("not a message: {other:?}: {line}"),
        })
        .collect()
}

fn joined(lines: &[(String, Option<u8>)], colour: bool) -> Vec<u8> {
    let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    if !colour {
        return text.into_bytes();
    }
    let mut sevs = lines.iter().map(|(_, s)| *s);
    coloured(text.as_bytes(), |_| sevs.next().flatten())
}

/// Compares, naming the first line that differs.
fn same(what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let (g, w): (Vec<&[u8]>, Vec<&[u8]>) = (
        got.split(|&b| b == b'\n').collect(),
        want.split(|&b| b == b'\n').collect(),
    );
    let at = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{what}: {} lines, {} wanted; line {at} is\n{:?}\nnot\n{:?}",
        g.len(),
        w.len(),
        g.get(at).map(|l| String::from_utf8_lossy(l)),
        w.get(at).map(|l| String::from_utf8_lossy(l)),
    );
}

#[test]
fn every_format_prints_what_it_printed_before() {
    let d = daemon().start();
    let sent = fill(&d);
    let tz = TimeZone::get(ZONE).expect("the zone's rules");

    let json = body(&d, "fmt=json");
    assert_eq!(json.iter().filter(|&&b| b == b'\n').count() as u64, sent);
    let short = short_lines(&json, &tz);
    same(
        "short",
        &tail(&d.query, &["-n", "-1"]),
        &joined(&short, false),
    );
    same(
        "short, coloured",
        &tail(&d.query, &["-n", "-1", "--color", "always"]),
        &joined(&short, true),
    );
    same(
        "short, newest first",
        &tail(&d.query, &["-n", "-1", "-r"]),
        &reversed(&joined(&short, false)),
    );
    let last = &short[short.len() - 100..];
    same(
        "short, the last 100",
        &tail(&d.query, &["-n", "100"]),
        &joined(last, false),
    );

    same("json", &tail(&d.query, &["-n", "-1", "-o", "json"]), &json);
    same(
        "json, colour asked for",
        &tail(&d.query, &["-n", "-1", "-o", "json", "--color", "always"]),
        &json,
    );
    same(
        "json, newest first",
        &tail(&d.query, &["-n", "-1", "-o", "json", "-r"]),
        &reversed(&json),
    );

    let syslog = body(&d, "fmt=syslog");
    let printed = syslog_printed(&syslog);
    assert_ne!(printed, syslog, "some lines are escaped");
    same(
        "syslog",
        &tail(&d.query, &["-n", "-1", "-o", "syslog"]),
        &printed,
    );
    let mut sevs = syslog.split(|&b| b == b'\n').map(pri_severity);
    same(
        "syslog, coloured",
        &tail(&d.query, &["-n", "-1", "-o", "syslog", "--color", "always"]),
        &coloured(&printed, |_| sevs.next().flatten()),
    );

    let raw = body(&d, "fmt=raw");
    same("raw", &tail(&d.query, &["-n", "-1", "-o", "raw"]), &raw);
    same(
        "raw, the last 10",
        &tail(&d.query, &["-n", "10", "-o", "raw"]),
        &body(&d, "fmt=raw&l=10"),
    );
}

/// Runs `logger ARGS` and returns its pid, failing the test if it fails.
fn logger_pid(args: &[&str]) -> u32 {
    let child = Command::new("logger")
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run logger");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for logger");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pid
}

/// A message sent to the local socket without a PID in its text shows the
/// sender's pid, as the kernel told the daemon; one that names its own
/// PROCID keeps it.
#[test]
fn short_shows_the_senders_pid_when_the_message_names_none() {
    let d = daemon().start();
    let sock = d.syslog.to_str().expect("path").to_string();
    let sender = logger_pid(&[
        "-u",
        &sock,
        "-d",
        "--socket-errors=on",
        "-t",
        "myapp",
        "hello",
    ]);
    d.wait_stored(1);
    let m = &d.json("")[0];
    assert_eq!(m["proc_id"], serde_json::Value::Null, "{m}");
    assert_eq!(m["cred_pid"], sender, "{m}");
    let out = tail(&d.query, &["-n", "1"]);
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.ends_with(&format!(" myapp[{sender}]: hello\n")),
        "{out:?}, sent by {sender}"
    );

    let other = logger_pid(&["-u", &sock, "-d", "--id=777", "-t", "myapp", "mine"]);
    d.wait_stored(2);
    let m = &d.json("")[1];
    assert_eq!(m["proc_id"], "777", "{m}");
    assert_eq!(m["cred_pid"], other, "{m}");
    let out = tail(&d.query, &["-n", "1"]);
    let out = String::from_utf8_lossy(&out);
    assert!(out.ends_with(" myapp[777]: mine\n"), "{out:?}");
}
