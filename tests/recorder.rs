//! The flight recorder over real sockets: timed pause, followers told of
//! pause and resume, snapshots, triggers.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{daemon, url};

const CTL: &str = env!("CARGO_BIN_EXE_circolog-ctl");

fn msg(i: u32) -> Vec<u8> {
    format!("<13>1 - host app - - - message {i}").into_bytes()
}

/// Polls `/status` until `check` holds, failing after 10 s.
fn wait_status(d: &crate::util::Daemon, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = d.status();
        if check(&st) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_timed_pause_resumes_by_itself() {
    let d = daemon().start();
    d.send_unix(&msg(0));
    d.wait_stored(1);
    let st = d.ctl("POST", "/pause?for=2s");
    assert_eq!(st["paused"], true);
    assert!(st["resume_at"].is_string(), "{st}");
    let left = st["resumes_in_seconds"].as_f64().expect("seconds");
    assert!(left > 0.0 && left <= 2.0, "{st}");
    d.send_unix(&msg(1));
    wait_status(&d, "dropped while paused", |s| {
        s["counters"]["dropped_paused"] == 1
    });
    // Nobody resumes it: the daemon does, and says so.
    wait_status(&d, "resumed by itself", |s| s["paused"] == false);
    assert!(d.status()["resume_at"].is_null());
    d.send_unix(&msg(2));
    d.wait_stored(2);
    let texts: Vec<_> = d.json("").iter().map(|m| m["message"].clone()).collect();
    assert_eq!(texts, ["message 0", "message 2"]);
}

#[test]
fn a_plain_pause_or_resume_cancels_the_timer() {
    let d = daemon().start();
    d.ctl("POST", "/pause?for=1s");
    assert_eq!(
        d.ctl("POST", "/pause")["resume_at"],
        serde_json::Value::Null
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.status()["paused"], true, "the plain pause stays");
}

#[test]
fn a_bad_pause_duration_is_a_400_with_a_reason() {
    let d = daemon().start();
    for bad in ["for=", "for=0s", "for=10y", "for=soon", "until=1m"] {
        let out = d.curl(
            &d.ctl,
            &[
                "-X",
                "POST",
                "-w",
                "%{http_code}",
                &url(&format!("/pause?{bad}")),
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let (reason, code) = text.rsplit_once('\n').expect("a line then the code");
        assert_eq!(code, "400", "{bad}: {text}");
        assert!(
            !reason.is_empty() && !reason.contains('\n'),
            "{bad}: {text}"
        );
    }
    assert_eq!(d.status()["paused"], false);
}

#[test]
fn circolog_ctl_pauses_for_a_while() {
    let d = daemon().start();
    let out = Command::new(CTL)
        .args(["--socket"])
        .arg(&d.ctl)
        .args(["pause", "--for", "10m"])
        .output()
        .expect("circolog-ctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("paused"), "{text}");
    assert!(text.contains("resumes by itself at"), "{text}");
    let left = d.status()["resumes_in_seconds"].as_f64().expect("timed");
    assert!(left > 590.0 && left <= 600.0, "{left}");
    let out = Command::new(CTL)
        .args(["--socket"])
        .arg(&d.ctl)
        .args(["pause", "--for", "ten"])
        .output()
        .expect("circolog-ctl");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad duration"), "{err}");
}
