//! Gaps are told: a resume from a cursor the ring has already overtaken
//! says how many messages it cannot give, in a dump's header and in a
//! follower's first frame.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use tungstenite::Message;

use crate::util::daemon;

#[test]
fn a_dump_since_an_evicted_seq_says_how_many_are_lost() {
    let d = daemon().args(&["-buffer-size", "10"]).start();
    for i in 0..30 {
        d.send_unix(format!("<14>1 - h app - - - m{i}").as_bytes());
    }
    d.wait_stored(30);
    // Seqs 0..=19 are gone; the caller had seen up to 4: 15 are lost.
    let out = d.curl(
        &d.query,
        &["-sS", "-D", "-", &crate::util::url("/?since=4")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("X-Circolog-Skipped: 15\r\n"), "{text}");
    assert!(text.contains("m20\n") && text.contains("m29\n"), "{text}");
    assert!(!text.contains("m19\n"), "{text}");
    // Nothing lost: the header says 0.
    let out = d.curl(
        &d.query,
        &["-sS", "-D", "-", &crate::util::url("/?since=25")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("X-Circolog-Skipped: 0\r\n"), "{text}");
    // No resume, no header.
    let out = d.curl(&d.query, &["-sS", "-D", "-", &crate::util::url("/")]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("X-Circolog-Skipped"));
}

#[test]
fn a_follower_resuming_after_evicted_messages_is_told_first() {
    let d = daemon().args(&["-buffer-size", "10"]).start();
    for i in 0..30 {
        d.send_unix(format!("<14>1 - h app - - - m{i}").as_bytes());
    }
    d.wait_stored(30);
    let stream = UnixStream::connect(&d.query).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (mut ws, _) = tungstenite::client::client("ws://localhost/ws?fmt=json&since=4", stream)
        .expect("websocket handshake");
    let mut frames = Vec::new();
    while frames.len() < 11 {
        match ws.read().expect("a frame") {
            Message::Text(t) => {
                frames.push(serde_json::from_str::<serde_json::Value>(t.as_str()).expect("json"))
            }
            _ => continue,
        }
    }
    assert_eq!(frames[0]["skipped"], 15, "{:?}", frames[0]);
    assert_eq!(frames[1]["seq"], 20);
    assert_eq!(frames[10]["seq"], 29);
    assert_eq!(d.status()["counters"]["skipped_followers"], 15);
}

#[test]
fn a_follower_without_a_cursor_is_told_of_no_gap() {
    let d = daemon().args(&["-buffer-size", "10"]).start();
    for i in 0..30 {
        d.send_unix(format!("<14>1 - h app - - - m{i}").as_bytes());
    }
    d.wait_stored(30);
    let stream = UnixStream::connect(&d.query).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (mut ws, _) = tungstenite::client::client("ws://localhost/ws?fmt=json&l=3", stream)
        .expect("websocket handshake");
    let mut first = None;
    while first.is_none() {
        if let Message::Text(t) = ws.read().expect("a frame") {
            first = Some(serde_json::from_str::<serde_json::Value>(t.as_str()).expect("json"));
        }
    }
    let first = first.expect("a frame");
    assert_eq!(first["seq"], 27, "{first:?}");
    assert_eq!(d.status()["counters"]["skipped_followers"], 0);
}
