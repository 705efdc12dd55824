//! Gaps are told: a resume from a cursor the ring has already overtaken
//! says how many messages it cannot give, in a dump's header and in a
//! follower's first frame.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use tungstenite::Message;

use crate::util::{Daemon, daemon, url};

/// A daemon with a ring of 10 that has seen 30 messages: seqs 0..=19 are
/// gone.
fn lapped() -> Daemon {
    let d = daemon().args(&["-buffer-size", "10"]).start();
    for i in 0..30 {
        d.send_unix(format!("<14>1 - h app - - - m{i}").as_bytes());
    }
    d.wait_stored(30);
    d
}

/// The first `n` JSON text frames of `GET /ws?PARAMS` on the query socket.
fn follow(d: &Daemon, params: &str, n: usize) -> Vec<serde_json::Value> {
    let stream = UnixStream::connect(&d.query).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (mut ws, _) = tungstenite::client::client(format!("ws://localhost/ws?{params}"), stream)
        .expect("websocket handshake");
    let mut frames = Vec::new();
    while frames.len() < n {
        if let Message::Text(t) = ws.read().expect("a frame") {
            frames.push(serde_json::from_str(t.as_str()).expect("json"));
        }
    }
    frames
}

/// Headers and body of `GET PATH` on the query socket.
fn dump(d: &Daemon, path: &str) -> String {
    let out = d.curl(&d.query, &["-sS", "-D", "-", &url(path)]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_dump_since_an_evicted_seq_says_how_many_are_lost() {
    let d = lapped();
    // The caller had seen up to 4: 15 are lost.
    let text = dump(&d, "/?since=4");
    assert!(text.contains("X-Circolog-Skipped: 15\r\n"), "{text}");
    assert!(text.contains("m20\n") && text.contains("m29\n"), "{text}");
    assert!(!text.contains("m19\n"), "{text}");
    // Nothing lost: the header says 0.
    let text = dump(&d, "/?since=25");
    assert!(text.contains("X-Circolog-Skipped: 0\r\n"), "{text}");
    // No resume, no header.
    assert!(!dump(&d, "/").contains("X-Circolog-Skipped"));
}

#[test]
fn a_follower_resuming_after_evicted_messages_is_told_first() {
    let d = lapped();
    let frames = follow(&d, "fmt=json&since=4", 11);
    assert_eq!(frames[0]["skipped"], 15, "{:?}", frames[0]);
    assert_eq!(frames[1]["seq"], 20);
    assert_eq!(frames[10]["seq"], 29);
    assert_eq!(d.status()["counters"]["skipped_followers"], 15);
}

#[test]
fn a_follower_without_a_cursor_is_told_of_no_gap() {
    let d = lapped();
    let frames = follow(&d, "fmt=json&l=3", 1);
    assert_eq!(frames[0]["seq"], 27, "{:?}", frames[0]);
    assert_eq!(d.status()["counters"]["skipped_followers"], 0);
}
