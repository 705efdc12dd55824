//! `GET /histogram` over the real query socket, with curl: the picture of
//! the ring agrees with the lines `GET /` sends.

use crate::util::daemon;

fn counts(h: &serde_json::Value) -> Vec<u64> {
    h["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            let c = b["counts"].as_object().expect("counts");
            assert_eq!(c.len(), 8, "every severity: {b}");
            c.values().map(|n| n.as_u64().expect("a count")).sum()
        })
        .collect()
}

#[test]
fn histogram_counts_what_a_dump_sends_and_refuses_bad_buckets() {
    let d = daemon().args(&["-snapshot-bytes", "1M"]).start();
    for i in 0..300 {
        let (pri, app) = if i % 10 == 0 { (11, "db") } else { (14, "web") };
        d.send_unix(format!("<{pri}>1 - host1 {app} - - - request {i}").as_bytes());
    }
    d.wait_stored(300);

    let h: serde_json::Value = serde_json::from_str(&d.get("/histogram")).expect("JSON");
    let c = counts(&h);
    assert_eq!(c.len(), 60, "60 buckets by default");
    assert_eq!(c.iter().sum::<u64>(), 300);
    assert!(h["from"].as_str().is_some_and(|t| t.ends_with('Z')), "{h}");
    assert!(h["bucket_us"].as_i64().is_some_and(|b| b >= 1), "{h}");
    assert_eq!(h["paused"], false);

    for q in ["app=db", "sev=err", "grep=request%201", "app=!db&not=7"] {
        let h: serde_json::Value =
            serde_json::from_str(&d.get(&format!("/histogram?buckets=7&{q}"))).expect("JSON");
        let c = counts(&h);
        assert_eq!(c.len(), 7);
        assert_eq!(c.iter().sum::<u64>(), d.json(q).len() as u64, "{q}");
    }
    let h: serde_json::Value =
        serde_json::from_str(&d.get("/histogram?buckets=1&sev=err")).expect("JSON");
    assert_eq!(h["buckets"][0]["counts"]["err"], 30);

    // A bad buckets value: a 400 with one line, and the daemon serves on.
    for bad in ["0", "1001", "ten", "-1"] {
        let out = d.curl(
            &d.query,
            &[
                "-w",
                "%{http_code}",
                &crate::util::url(&format!("/histogram?buckets={bad}")),
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.ends_with("400"), "{bad}: {text}");
        assert_eq!(text.lines().count(), 2, "one line and the code: {text}");
        assert!(text.starts_with("bad buckets"), "{text}");
    }

    // On a snapshot: what the ring held when it was taken.
    let snap = d.ctl("POST", "/snapshot");
    let id = snap["id"].as_u64().expect("an id");
    d.send_unix(b"<14>1 - host1 web - - - after the snapshot");
    d.wait_stored(301);
    let path = format!("/snapshots/{id}/histogram?buckets=3");
    let mut tries = 0;
    let h: serde_json::Value = loop {
        let out = d.curl(&d.query, &["-f", &crate::util::url(&path)]);
        if out.status.success() {
            break serde_json::from_slice(&out.stdout).expect("JSON");
        }
        tries += 1;
        assert!(tries < 100, "snapshot {id} never readable");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(counts(&h).iter().sum::<u64>(), 300);
    let h: serde_json::Value = serde_json::from_str(&d.get("/histogram?buckets=3")).expect("JSON");
    assert_eq!(counts(&h).iter().sum::<u64>(), 301);
}
