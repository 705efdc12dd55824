//! Live follow: `/ws` with a real websocket client over TCP, the raw upgrade
//! over the unix socket, protocol errors, Origin, slow followers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use crate::util::{Daemon, daemon};

fn msg(app: &str, i: u32) -> Vec<u8> {
    format!("<14>1 - host {app} - - - message {i}").into_bytes()
}

type Ws<S> = WebSocket<S>;

fn connect_tcp(d: &Daemon, params: &str) -> Ws<TcpStream> {
    let addr = d.query_addr.expect("started with .query_net()");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (ws, resp) = tungstenite::client::client(format!("ws://{addr}/ws?{params}"), stream)
        .expect("websocket handshake");
    assert!(resp.headers().contains_key("x-circolog-epoch"));
    assert!(resp.headers().contains_key("x-circolog-last-seq"));
    ws
}

fn connect_unix(d: &Daemon, params: &str) -> Ws<UnixStream> {
    let stream = UnixStream::connect(&d.query).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (ws, _) = tungstenite::client::client(format!("ws://localhost/ws?{params}"), stream)
        .expect("websocket handshake");
    ws
}

/// The next text frame, as JSON.
fn next_json<S: Read + Write>(ws: &mut Ws<S>) -> serde_json::Value {
    loop {
        match ws.read().expect("read a frame") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("json"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[test]
fn backlog_then_live_over_tcp() {
    let d = daemon().query_net().start();
    for i in 0..3 {
        d.send_unix(&msg("a", i));
    }
    d.wait_stored(3);
    let mut ws = connect_tcp(&d, "fmt=json");
    for i in 0..3 {
        assert_eq!(next_json(&mut ws)["message"], format!("message {i}"));
    }
    for i in 3..6 {
        d.send_unix(&msg("a", i));
    }
    for i in 3..6 {
        let m = next_json(&mut ws);
        assert_eq!(m["message"], format!("message {i}"));
        assert_eq!(m["seq"], i);
    }
}

#[test]
fn filters_apply_to_backlog_and_live() {
    let d = daemon().query_net().start();
    d.send_unix(&msg("keep", 0));
    d.send_unix(&msg("drop", 1));
    d.wait_stored(2);
    let mut ws = connect_tcp(&d, "fmt=json&app=keep&l=5");
    assert_eq!(next_json(&mut ws)["message"], "message 0");
    d.send_unix(&msg("drop", 2));
    d.send_unix(&msg("keep", 3));
    assert_eq!(next_json(&mut ws)["message"], "message 3");
}

#[test]
fn syslog_format_frames_are_lines_without_newline() {
    let d = daemon().start();
    d.send_unix(b"<13>1 2026-11-24T10:00:00Z h a - - - one");
    d.wait_stored(1);
    let mut ws = connect_unix(&d, "");
    match ws.read().expect("frame") {
        Message::Text(t) => assert_eq!(
            t.as_str(),
            "<13>1 2026-11-24T10:00:00.000000Z h a - - - one"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ping_is_answered_and_close_is_handshaken() {
    let d = daemon().start();
    let mut ws = connect_unix(&d, "fmt=json");
    ws.send(Message::Ping(b"hello"[..].into())).expect("ping");
    match ws.read().expect("frame") {
        Message::Pong(p) => assert_eq!(&p[..], b"hello"),
        other => panic!("expected a pong, got {other:?}"),
    }
    ws.close(None).expect("close");
    // The daemon answers the close; then the connection ends.
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => continue,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

/// Upgrades by hand over the unix socket and returns the raw stream.
fn raw_upgrade(d: &Daemon, extra: &str) -> UnixStream {
    let mut s = UnixStream::connect(&d.query).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /ws?fmt=json HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .expect("write");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).expect("read"), 1, "closed during handshake");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    s
}

/// Reads frames until a close frame; returns its code.
fn close_code(s: &mut UnixStream) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Parse complete server frames (unmasked, short lengths are enough here).
        while buf.len() >= 2 {
            let op = buf[0] & 0x0f;
            let (len, hdr) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                126 => break,
                127 => panic!("unexpected huge frame"),
                n => (n as usize, 2),
            };
            if buf.len() < hdr + len {
                break;
            }
            if op == 8 {
                return u16::from_be_bytes([buf[hdr], buf[hdr + 1]]);
            }
            buf.drain(..hdr + len);
        }
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed without a close frame");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn masked(op: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x80 | op];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else if payload.len() < 65536 {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn protocol_errors_close_with_1002() {
    let d = daemon().start();
    // An unmasked client frame.
    let mut s = raw_upgrade(&d, "");
    s.write_all(&[0x81, 0x02, b'h', b'i']).expect("write");
    assert_eq!(close_code(&mut s), 1002);
    // A reserved bit.
    let mut s = raw_upgrade(&d, "");
    let mut f = masked(0x1, b"hi");
    f[0] |= 0x40;
    s.write_all(&f).expect("write");
    assert_eq!(close_code(&mut s), 1002);
    // A fragmented ping.
    let mut s = raw_upgrade(&d, "");
    let mut f = masked(0x9, b"x");
    f[0] &= 0x7f;
    s.write_all(&f).expect("write");
    assert_eq!(close_code(&mut s), 1002);
    // The daemon is fine afterwards.
    assert_eq!(d.status()["paused"], false);
}

#[test]
fn invalid_utf8_closes_with_1007_and_big_frames_with_1009() {
    let d = daemon().start();
    let mut s = raw_upgrade(&d, "");
    s.write_all(&masked(0x1, &[0xff, 0xfe, 0xfd]))
        .expect("write");
    assert_eq!(close_code(&mut s), 1007);
    let mut s = raw_upgrade(&d, "");
    s.write_all(&masked(0x2, &vec![0u8; 100 * 1024]))
        .expect("write");
    assert_eq!(close_code(&mut s), 1009);
}

#[test]
fn cross_origin_pages_are_refused_over_tcp() {
    let d = daemon().query_net().start();
    let addr = d.query_addr.expect("addr");
    let get = |origin: &str, path: &str| {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("t");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{origin}Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("write");
        let mut b = [0u8; 12];
        s.read_exact(&mut b).expect("read");
        String::from_utf8_lossy(&b).to_string()
    };
    assert_eq!(
        get("Origin: http://evil.example\r\n", "/ws"),
        "HTTP/1.1 403"
    );
    assert_eq!(
        get("Origin: http://evil.example\r\n", "/ui"),
        "HTTP/1.1 403"
    );
    assert_eq!(
        get(&format!("Origin: http://{addr}\r\n"), "/ws"),
        "HTTP/1.1 101"
    );
    // Scripts without Origin are allowed.
    assert_eq!(get("", "/ws"), "HTTP/1.1 101");
}

#[test]
fn clear_is_announced_and_followers_keep_following() {
    let d = daemon().start();
    d.send_unix(&msg("a", 0));
    d.wait_stored(1);
    let mut ws = connect_unix(&d, "fmt=json");
    assert_eq!(next_json(&mut ws)["message"], "message 0");
    d.ctl("POST", "/logs/clear");
    let notice = next_json(&mut ws);
    assert_eq!(notice["cleared"], true, "{notice}");
    d.send_unix(&msg("a", 1));
    let m = next_json(&mut ws);
    assert_eq!(m["message"], "message 1");
    assert_eq!(m["seq"], 1);
}

#[test]
fn a_follower_that_never_reads_costs_nothing_and_is_told_what_it_missed() {
    let d = daemon()
        .args(&["-buffer-size", "20000", "-buffer-bytes", "8M"])
        .start();
    // The stalled follower: upgraded, then never reads.
    let mut stalled = connect_unix(&d, "fmt=json");
    let rss_before = d.rss_kib();
    let s = UnixDatagram::unbound().expect("socket");
    s.connect(&d.syslog).expect("connect");
    for i in 0..200_000u32 {
        s.send(&msg("flood", i)).expect("send");
    }
    d.wait_stored(200_000);
    let rss_after = d.rss_kib();
    eprintln!("RSS with a stalled follower: {rss_before} KiB -> {rss_after} KiB");
    assert!(
        rss_after <= rss_before + 4 * 1024,
        "RSS grew {rss_before} -> {rss_after} KiB"
    );
    // Another client still sees the newest messages.
    let newest = d.json("l=1");
    assert_eq!(newest[0]["message"], "message 199999");

    // Now the stalled follower reads: messages, then a skip, then the rest,
    // and what it got plus what it was told it missed adds up.
    let mut got = 0u64;
    let mut skipped = 0u64;
    let mut last_seq = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while last_seq != Some(199_999) {
        assert!(Instant::now() < deadline, "got {got}, skipped {skipped}");
        let m = next_json(&mut stalled);
        if let Some(n) = m["skipped"].as_u64() {
            skipped += n;
        } else {
            let seq = m["seq"].as_u64().expect("seq");
            if let Some(prev) = last_seq {
                assert!(seq > prev, "seq went back: {prev} -> {seq}");
            }
            last_seq = Some(seq);
            got += 1;
        }
    }
    assert!(
        skipped > 0,
        "the ring holds 20 000: something must have been skipped"
    );
    assert_eq!(got + skipped, 200_000, "got {got} + skipped {skipped}");
    let st = d.status();
    assert_eq!(st["counters"]["skipped_followers"], skipped);
    drop(stalled);
    let _ = CloseCode::Normal;
}

#[test]
fn followers_get_a_close_frame_when_the_daemon_stops() {
    let d = daemon().start();
    let mut ws = connect_unix(&d, "fmt=json");
    let status = d.stop();
    assert!(status.success());
    match ws.read() {
        Ok(Message::Close(Some(f))) => assert_eq!(f.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// A filter that matches only the newest of thousands of stored messages:
/// the follower scans past the others in pieces and still gets its few.
#[test]
fn a_filtered_follower_finds_its_messages_past_thousands_of_others() {
    let d = daemon().start();
    for i in 0..6000 {
        d.send_unix(&msg("other", i));
    }
    for i in 6000..6003 {
        d.send_unix(&msg("wanted", i));
    }
    d.wait_stored(6003);
    let mut ws = connect_unix(&d, "fmt=json&app=wanted");
    for i in 6000..6003 {
        let m = next_json(&mut ws);
        assert_eq!(m["message"], format!("message {i}"), "{m}");
    }
    d.send_unix(&msg("other", 6003));
    d.send_unix(&msg("wanted", 6004));
    assert_eq!(next_json(&mut ws)["message"], "message 6004");
}

/// Followers of one query that join at different points: one live, one
/// with a backlog older than what the shared frames hold, one from the
/// oldest message. Each gets exactly its messages, in order, as the backlog
/// hands over to the shared frames while more arrive.
#[test]
fn followers_joining_at_different_points_each_get_every_message_once() {
    let d = daemon().start();
    let send = |range: std::ops::Range<u32>| {
        for i in range {
            d.send_unix(&msg("a", i));
        }
    };
    let expect = |ws: &mut Ws<UnixStream>, range: std::ops::Range<u32>| {
        for i in range {
            let m = next_json(ws);
            assert_eq!(m["seq"], i, "{m}");
            assert_eq!(m["message"], format!("message {i}"));
        }
    };
    send(0..50);
    d.wait_stored(50);
    let mut live = connect_unix(&d, "fmt=json&l=0");
    send(50..100);
    expect(&mut live, 50..100);
    let mut recent = connect_unix(&d, "l=80&fmt=json");
    let mut all = connect_unix(&d, "fmt=json");
    send(100..150);
    expect(&mut live, 100..150);
    expect(&mut recent, 20..150);
    expect(&mut all, 0..150);
    send(150..160);
    for ws in [&mut live, &mut recent, &mut all] {
        expect(ws, 150..160);
    }
}

#[test]
fn many_followers_sharing_a_query_each_get_exactly_their_messages() {
    let d = daemon().start();
    d.send_unix(&msg("backlog", 0));
    d.wait_stored(1);
    // Many followers of one query, rendered once and shared.
    let mut all: Vec<_> = (0..20).map(|_| connect_unix(&d, "fmt=json")).collect();
    let mut only_b: Vec<_> = (0..2)
        .map(|_| connect_unix(&d, "fmt=json&app=b&l=0"))
        .collect();
    for ws in &mut all {
        assert_eq!(next_json(ws)["message"], "message 0");
    }
    for i in 1..=300 {
        d.send_unix(&msg(if i % 3 == 0 { "b" } else { "a" }, i));
    }
    for ws in &mut all {
        for i in 1..=300 {
            let m = next_json(ws);
            assert_eq!(m["seq"], i, "{m}");
            assert_eq!(m["message"], format!("message {i}"));
        }
    }
    for ws in &mut only_b {
        for i in (3..=300).step_by(3) {
            let m = next_json(ws);
            assert_eq!(m["message"], format!("message {i}"), "{m}");
            assert_eq!(m["app_name"], "b");
        }
    }
}

#[test]
fn followers_that_stall_together_catch_up_with_every_message_once() {
    let d = daemon()
        .args(&["-buffer-size", "100000", "-buffer-bytes", "64M"])
        .start();
    let total = 40_000u32;
    // Two followers stop reading together, as behind one stalled reader;
    // a third keeps reading, and the frames its query shares move on past
    // the two (their JSON is several times the 4 MiB the live log keeps).
    let mut stalled: Vec<_> = (0..2).map(|_| connect_unix(&d, "fmt=json&l=0")).collect();
    let mut reading = connect_unix(&d, "fmt=json&l=0");
    let reader = std::thread::spawn(move || {
        for i in 0..total {
            let m = next_json(&mut reading);
            assert_eq!(m["seq"], i, "{m}");
        }
    });
    let s = UnixDatagram::unbound().expect("socket");
    s.connect(&d.syslog).expect("connect");
    for i in 0..total {
        s.send(&msg("flood", i)).expect("send");
    }
    d.wait_stored(u64::from(total));
    reader
        .join()
        .expect("the reading follower got every message");
    // Both catch up, each with every message once and in order.
    for ws in &mut stalled {
        for i in 0..total {
            let m = next_json(ws);
            assert_eq!(m["seq"], i, "{m}");
            assert_eq!(m["message"], format!("message {i}"));
        }
    }
    assert_eq!(d.status()["counters"]["skipped_followers"], 0);
}
