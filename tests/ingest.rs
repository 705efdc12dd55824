//! Messages in: unix datagram (logger, glibc form), UDP, TCP framings,
//! malformed and oversized messages, eviction, volume.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use crate::util::{daemon, logger};

#[test]
fn logger_rfc5424_over_the_unix_socket_with_credentials() {
    let d = daemon().start();
    let sock = d.syslog.to_str().expect("path").to_string();
    logger(&[
        "--rfc5424",
        "-u",
        &sock,
        "-d",
        "-t",
        "myapp",
        "-p",
        "local3.warning",
        "--msgid",
        "ID47",
        "--sd-id",
        "meta@32473",
        "--sd-param",
        "k=\"v x\"",
        "hello from logger",
    ]);
    d.wait_stored(1);
    let m = &d.json("")[0];
    assert_eq!(m["facility"], "local3");
    assert_eq!(m["severity"], "warning");
    assert_eq!(m["app_name"], "myapp");
    assert_eq!(m["msg_id"], "ID47");
    assert_eq!(m["message"], "hello from logger");
    assert_eq!(m["structured_data"]["meta@32473"]["k"], "v x");
    assert_eq!(m["transport"], "unix");
    assert!(m["timestamp"].is_string(), "{m}");
    // The kernel's view of the sender: logger ran as this test's user.
    assert_eq!(m["cred_uid"], rustix::process::getuid().as_raw());
    assert!(m["cred_pid"].as_u64().is_some_and(|p| p > 0), "{m}");
}

#[test]
fn logger_rfc3164_over_the_unix_socket() {
    let d = daemon().start();
    let sock = d.syslog.to_str().expect("path").to_string();
    logger(&[
        "--rfc3164",
        "-u",
        &sock,
        "-d",
        "-t",
        "oldapp",
        "-p",
        "auth.err",
        "--id=4242",
        "classic message",
    ]);
    d.wait_stored(1);
    let m = &d.json("")[0];
    assert_eq!(m["facility"], "auth");
    assert_eq!(m["severity"], "err");
    assert_eq!(m["app_name"], "oldapp");
    assert_eq!(m["proc_id"], "4242");
    assert_eq!(m["message"], "classic message");
    assert!(m.get("malformed").is_none(), "{m}");
}

#[test]
fn glibc_dev_log_form_has_no_hostname_and_is_shown_with_this_hosts() {
    let d = daemon().start();
    d.send_unix(b"<30>Nov 24 10:11:12 sshd[812]: Accepted publickey for alice\0");
    d.wait_stored(1);
    let m = &d.json("")[0];
    assert_eq!(m["facility"], "daemon");
    assert_eq!(m["severity"], "info");
    // Local, on a unix socket: this host's name, as rsyslog and journalctl
    // show it.
    assert_eq!(m["hostname"], crate::util::host_name().as_str());
    assert_eq!(m["app_name"], "sshd");
    assert_eq!(m["proc_id"], "812");
    assert_eq!(m["message"], "Accepted publickey for alice");
    let ts = m["timestamp"].as_str().expect("timestamp");
    assert!(ts.contains("-11-24T10:11:12"), "{ts}");
}

/// The name a local message is shown with is the one `host=` sees: a user
/// who clicks it in the viewer, or types `--host $(hostname)`, gets it.
#[test]
fn a_local_message_without_a_hostname_is_selected_by_this_hosts_name() {
    let d = daemon().net().start();
    let here = crate::util::host_name();
    d.send_unix(b"<30>Nov 24 10:11:12 sshd[812]: from the local socket");
    d.send_udp(b"<30>Nov 24 10:11:13 sshd[813]: from the network");
    d.send_udp(format!("<30>1 - {here} sshd - - - named here").as_bytes());
    d.wait_stored(3);
    let texts = |q: &str| -> Vec<String> {
        d.json(q)
            .iter()
            .map(|m| m["message"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        texts(&format!("host={here}")),
        ["from the local socket", "named here"]
    );
    assert_eq!(texts("host=-"), ["from the network"]);
    assert_eq!(texts(&format!("host=!{here}")), ["from the network"]);
    let h: serde_json::Value =
        serde_json::from_str(&d.get(&format!("/histogram?buckets=1&host={here}"))).expect("JSON");
    assert_eq!(h["buckets"][0]["counts"]["info"], 2, "{h}");
    let out = Command::new(env!("CARGO_BIN_EXE_circolog-tail"))
        .arg("--socket")
        .arg(&d.query)
        .args(["--host", &here])
        .output()
        .expect("circolog-tail");
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 2, "{said}");
    assert!(
        lines[0].ends_with(&format!(" {here} sshd[812]: from the local socket")),
        "{said}"
    );
    assert!(
        lines[1].ends_with(&format!(" {here} sshd: named here")),
        "{said}"
    );
}

#[test]
fn udp_messages_are_stored_without_credentials() {
    let d = daemon().net().start();
    d.send_udp(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry");
    d.wait_stored(1);
    let m = &d.json("")[0];
    assert_eq!(m["transport"], "udp");
    assert_eq!(m["hostname"], "mymachine.example.com");
    assert_eq!(m["timestamp"], "2003-10-11T22:14:15.003000Z");
    assert_eq!(m["structured_data"]["exampleSDID@32473"]["eventID"], "1011");
    assert!(m.get("cred_pid").is_none(), "{m}");
}

#[test]
fn tcp_octet_counting_and_newline_framing_in_any_split() {
    let d = daemon().net().start();
    let mut s = d.tcp();
    // Two octet-counted frames in one write.
    let a = b"<13>1 - - app - - - first";
    let b = b"<13>1 - - app - - - second";
    let mut buf = format!("{} ", a.len()).into_bytes();
    buf.extend_from_slice(a);
    buf.extend_from_slice(format!("{} ", b.len()).as_bytes());
    buf.extend_from_slice(b);
    s.write_all(&buf).expect("write");
    // A newline frame split across writes, then a counted one split in its length.
    s.write_all(b"<13>Nov 24 10:00:00 host app: thi")
        .expect("write");
    s.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(50));
    let fourth = b"<13>1 - - app - - - fourth";
    let len = fourth.len().to_string();
    let (l1, l2) = len.split_at(1);
    s.write_all(format!("rd\n{l1}").as_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(format!("{l2} ").as_bytes()).expect("write");
    s.write_all(fourth).expect("write");
    // And a last newline frame ended by the connection closing.
    s.write_all(b"<13>1 - - app - - - fifth").expect("write");
    drop(s);
    d.wait_stored(5);
    let msgs: Vec<String> = d
        .json("")
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_string())
        .collect();
    assert_eq!(msgs, ["first", "second", "third", "fourth", "fifth"]);
    assert!(d.json("").iter().all(|m| m["transport"] == "tcp"));
}

/// Python's `logging.handlers.SysLogHandler` over TCP ends each record
/// with a NUL and no newline: each record is a message of its own.
#[test]
fn python_sysloghandler_over_tcp_records_are_one_message_each() {
    let d = daemon().net().start();
    let addr = d.addr.expect("the syslog address");
    let script = r#"
import logging, logging.handlers, socket, sys
h = logging.handlers.SysLogHandler(address=(sys.argv[1], int(sys.argv[2])), socktype=socket.SOCK_STREAM)
h.setFormatter(logging.Formatter("pyapp: %(message)s"))
log = logging.getLogger("pyapp")
log.addHandler(h)
log.setLevel(logging.INFO)
for i in range(4):
    log.warning("record %d of four", i)
h.close()
"#;
    let status = Command::new("python3")
        .args([
            "-c",
            script,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .status()
        .expect("python3");
    assert!(status.success(), "{status}");
    d.wait_stored(4);
    let msgs = d.json("");
    let texts: Vec<&str> = msgs
        .iter()
        .map(|m| m["message"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        [
            "record 0 of four",
            "record 1 of four",
            "record 2 of four",
            "record 3 of four"
        ],
        "{msgs:?}"
    );
    for m in &msgs {
        assert_eq!(m["app_name"], "pyapp", "{m}");
        assert_eq!(m["severity"], "warning", "{m}");
        assert_ne!(m["malformed"], true, "{m}");
    }
}

#[test]
fn a_stalled_tcp_sender_does_not_hold_up_others() {
    let d = daemon().net().start();
    let mut stalled = d.tcp();
    stalled
        .write_all(b"100 <13>1 - - a - - - never finished")
        .expect("write");
    let mut other = d.tcp();
    other
        .write_all(b"<13>1 - - b - - - flows\n")
        .expect("write");
    d.send_unix(b"<13>1 - - c - - - also flows");
    d.wait_stored(2);
    let apps: Vec<_> = d.json("").iter().map(|m| m["app_name"].clone()).collect();
    assert!(apps.contains(&"b".into()) && apps.contains(&"c".into()));
    drop(stalled);
}

#[test]
fn malformed_messages_are_kept_whole_and_marked() {
    let d = daemon().start();
    d.send_unix(b"<999>this PRI is out of range");
    d.send_unix(b"\xff\xfe binary junk from a broken device");
    d.wait_stored(2);
    let ms = d.json("");
    assert_eq!(ms[0]["message"], "<999>this PRI is out of range");
    assert_eq!(ms[0]["facility"], "user");
    assert_eq!(ms[0]["severity"], "notice");
    assert_eq!(ms[0]["malformed"], true);
    assert_eq!(ms[1]["malformed"], true);
    assert!(
        ms[1]["message"]
            .as_str()
            .expect("text")
            .ends_with("broken device")
    );
    assert_eq!(d.status()["counters"]["malformed"], 2);
}

#[test]
fn oversized_messages_are_truncated_and_marked() {
    let d = daemon().net().args(&["-max-message-size", "2048"]).start();
    let mut big = b"<13>1 - - big - - - ".to_vec();
    big.extend(std::iter::repeat_n(b'x', 5000));
    d.send_unix(&big);
    d.send_udp(&big);
    let mut tcp = d.tcp();
    tcp.write_all(&big).expect("write");
    tcp.write_all(b"\n<13>1 - - small - - - after the big one\n")
        .expect("write");
    drop(tcp);
    d.wait_stored(4);
    // Each transport is read by its own task: the order across them is
    // the loop's, so the messages are told apart by their app.
    let ms = d.json("");
    let (big, small): (Vec<_>, Vec<_>) = ms.iter().partition(|m| m["app_name"] == "big");
    assert_eq!(big.len(), 3, "{ms:?}");
    for m in big {
        assert_eq!(m["truncated"], true, "{m}");
        let raw_len = "<13>1 - - big - - - ".len();
        assert_eq!(m["message"].as_str().expect("text").len(), 2048 - raw_len);
    }
    assert_eq!(small.len(), 1, "{ms:?}");
    assert_eq!(small[0]["message"], "after the big one");
    assert!(small[0].get("truncated").is_none());
    assert_eq!(d.status()["counters"]["truncated"], 3);
}

#[test]
fn a_small_ring_keeps_only_the_newest() {
    let d = daemon().args(&["-buffer-size", "10"]).start();
    for i in 0..25 {
        d.send_unix(format!("<13>1 - - app - - - m{i}").as_bytes());
    }
    d.wait_stored(25);
    let ms = d.json("");
    let texts: Vec<_> = ms
        .iter()
        .map(|m| m["message"].as_str().expect("s"))
        .collect();
    let want: Vec<String> = (15..25).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, want);
    assert_eq!(ms[0]["seq"], 15);
    let st = d.status();
    assert_eq!(st["used"]["messages"], 10);
    assert_eq!(st["first_seq"], 15);
}

#[test]
fn the_byte_bound_evicts_too() {
    // 64 KiB arena, 2 KiB messages: about 30 fit, whatever -buffer-size says.
    let d = daemon()
        .args(&["-buffer-bytes", "64K", "-max-message-size", "2K"])
        .start();
    let body = "y".repeat(2000);
    for i in 0..100 {
        d.send_unix(format!("<13>1 - - app - - - {i:03}{body}").as_bytes());
    }
    d.wait_stored(100);
    let st = d.status();
    let kept = st["used"]["messages"].as_u64().expect("count");
    assert!((25..=32).contains(&kept), "{st}");
    assert!(st["used"]["bytes"].as_u64().expect("bytes") <= 64 * 1024);
    let ms = d.json("");
    assert_eq!(ms.last().expect("newest")["seq"], 99);
}

#[test]
fn one_hundred_thousand_messages_from_one_sender_none_lost() {
    let d = daemon().start();
    let s = UnixDatagram::unbound().expect("socket");
    s.connect(&d.syslog).expect("connect");
    for i in 0..100_000u32 {
        s.send(format!("<13>1 - host app - - - message number {i}").as_bytes())
            .expect("send");
    }
    d.wait_stored(100_000);
    let st = d.status();
    assert_eq!(st["counters"]["received"]["unix"], 100_000);
    assert_eq!(st["used"]["messages"], 100_000);
    let body = d.get("/?fmt=raw");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 100_000);
    for (i, l) in lines.iter().enumerate() {
        assert!(l.ends_with(&format!(" number {i}")), "line {i}: {l}");
    }
}

#[test]
fn dumps_of_a_full_ring_do_not_stop_ingestion() {
    let d = daemon().args(&["-buffer-size", "200000"]).start();
    // Fill the ring.
    let s = UnixDatagram::unbound().expect("socket");
    s.connect(&d.syslog).expect("connect");
    for i in 0..200_000u32 {
        s.send(format!("<13>1 - host fill - - - fill {i}").as_bytes())
            .expect("send");
    }
    d.wait_stored(200_000);
    // Another process keeps sending while curl dumps the whole ring, slowly.
    let syslog = d.syslog.clone();
    let sender = std::thread::spawn(move || {
        let s = UnixDatagram::unbound().expect("socket");
        s.connect(&syslog).expect("connect");
        for i in 0..50_000u32 {
            s.send(format!("<13>1 - host live - - - live {i}").as_bytes())
                .expect("send");
        }
    });
    let dump = Command::new("curl")
        .args(["-sS", "--limit-rate", "2M", "--unix-socket"])
        .arg(&d.query)
        .arg("http://localhost/?fmt=raw")
        .output()
        .expect("curl");
    assert!(dump.status.success());
    sender.join().expect("sender");
    d.wait_stored(250_000);
    // The dump runs from the oldest message to the newest at its start; what
    // the live sender evicted meanwhile is skipped, never half-written.
    let dumped = String::from_utf8_lossy(&dump.stdout);
    let lines: Vec<&str> = dumped.lines().collect();
    assert!(lines.len() >= 150_000, "{} lines", lines.len());
    // In order, no duplicates, nothing half-written: fills, then lives.
    let order: Vec<(bool, u32)> = lines
        .iter()
        .map(|l| {
            let (kind, n) = l
                .strip_prefix("<13>1 - host ")
                .and_then(|r| r.rsplit_once(' '))
                .expect("a whole line");
            (kind.starts_with("live"), n.parse().expect("number"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "dump out of order");
    // Every live message is stored (the ring holds 200 000: the newest 50 000
    // are all there, in order).
    let live = d.get("/?fmt=raw&app=live");
    let lines: Vec<&str> = live.lines().collect();
    assert_eq!(lines.len(), 50_000);
    assert!(lines[49_999].ends_with("live 49999"));
}

#[test]
fn rss_stays_flat_while_a_million_messages_go_through_a_small_ring() {
    let d = daemon()
        .args(&["-buffer-size", "10000", "-buffer-bytes", "4M"])
        .start();
    let s = UnixDatagram::unbound().expect("socket");
    s.connect(&d.syslog).expect("connect");
    let send = |from: u32, to: u32| {
        for i in from..to {
            s.send(format!("<13>1 2026-11-24T10:00:00Z host app 1 - - message {i}").as_bytes())
                .expect("send");
        }
    };
    send(0, 50_000);
    d.wait_stored(50_000);
    let before = d.rss_kib();
    send(50_000, 1_000_000);
    d.wait_stored(1_000_000);
    let after = d.rss_kib();
    eprintln!("RSS after 50k: {before} KiB, after 1M: {after} KiB");
    assert!(
        after <= before + 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(d.status()["used"]["messages"], 10_000);
}
