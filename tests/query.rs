//! The query API: every parameter and format, headers, HTTP behaviour.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::util::{Daemon, daemon, raw_http, url};

/// Seven messages of varied severity, facility, host and app.
fn seeded() -> Daemon {
    let d = daemon().start();
    for m in [
        // 0: kern.crit from a 5424 sender with structured data
        &b"<2>1 2026-11-24T10:00:00.5+01:00 alpha kernel - - [origin ip=\"10.0.0.1\"] disk on fire"
            [..],
        // 1: user.notice, glibc form
        b"<13>Nov 24 10:00:01 app1[11]: plain notice",
        // 2: auth.info, 3164 with host
        b"<38>Nov 24 10:00:02 beta sshd[22]: Accepted key",
        // 3: local0.err
        b"<131>1 2026-11-24T10:00:03Z alpha web 33 REQ - request failed: timeout",
        // 4: local0.debug
        b"<135>1 2026-11-24T10:00:04Z beta web 33 REQ - cache miss",
        // 5: daemon.warning
        b"<28>1 2026-11-24T10:00:05Z gamma cron - - - job slow",
        // 6: local7.emerg
        b"<184>1 2026-11-24T10:00:06Z alpha web - - - everything is down",
    ] {
        d.send_unix(m);
    }
    d.wait_stored(7);
    d
}

fn seqs(d: &Daemon, params: &str) -> Vec<u64> {
    d.json(params)
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

#[test]
fn json_fields_one_by_one() {
    let d = seeded();
    let ms = d.json("");
    assert_eq!(ms.len(), 7);
    let m = &ms[0];
    assert_eq!(m["seq"], 0);
    assert_eq!(m["facility"], "kern");
    assert_eq!(m["severity"], "crit");
    assert_eq!(m["hostname"], "alpha");
    assert_eq!(m["app_name"], "kernel");
    assert_eq!(m["proc_id"], serde_json::Value::Null);
    assert_eq!(m["msg_id"], serde_json::Value::Null);
    assert_eq!(m["structured_data"]["origin"]["ip"], "10.0.0.1");
    assert_eq!(m["message"], "disk on fire");
    assert_eq!(m["timestamp"], "2026-11-24T10:00:00.500000+01:00");
    let received = m["received"].as_str().expect("received");
    assert!(
        received.ends_with('Z') && received.len() == 27,
        "{received}"
    );
    assert!(
        m["epoch"]
            .as_i64()
            .is_some_and(|e| e > 1_700_000_000_000_000)
    );
    assert_eq!(m["transport"], "unix");
    assert!(m["cred_pid"].as_u64().is_some());
    assert!(m.get("truncated").is_none() && m.get("malformed").is_none());

    let m = &ms[1];
    assert_eq!(m["facility"], "user");
    assert_eq!(m["severity"], "notice");
    // No hostname, on the local unix socket: this host's.
    assert_eq!(m["hostname"], crate::util::host_name().as_str());
    assert_eq!(m["app_name"], "app1");
    assert_eq!(m["proc_id"], "11");
    assert_eq!(m["structured_data"], serde_json::Value::Null);

    let m = &ms[3];
    assert_eq!(
        (m["facility"].as_str(), m["severity"].as_str()),
        (Some("local0"), Some("err"))
    );
    assert_eq!(m["msg_id"], "REQ");
    assert_eq!(m["proc_id"], "33");
    assert_eq!(m["timestamp"], "2026-11-24T10:00:03.000000Z");
}

#[test]
fn syslog_format_is_one_rfc5424_line_each() {
    let d = seeded();
    let body = d.get("/");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(
        lines[0],
        "<2>1 2026-11-24T10:00:00.500000+01:00 alpha kernel - - [origin ip=\"10.0.0.1\"] disk on fire"
    );
    assert_eq!(
        lines[3],
        "<131>1 2026-11-24T10:00:03.000000Z alpha web 33 REQ - request failed: timeout"
    );
    // The same as fmt=syslog explicitly.
    assert_eq!(d.get("/?fmt=syslog"), body);
}

#[test]
fn raw_format_is_the_bytes_as_received() {
    let d = seeded();
    let body = d.get("/?fmt=raw");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[1], "<13>Nov 24 10:00:01 app1[11]: plain notice");
    assert_eq!(
        lines[6],
        "<184>1 2026-11-24T10:00:06Z alpha web - - - everything is down"
    );
}

#[test]
fn limit_takes_the_last_n_matching() {
    let d = seeded();
    assert_eq!(seqs(&d, "l=2"), [5, 6]);
    assert_eq!(seqs(&d, "l=-1").len(), 7);
    assert_eq!(seqs(&d, "l=0"), Vec::<u64>::new());
    assert_eq!(seqs(&d, "l=100").len(), 7);
    // The last 2 of those matching the filter, not the last 2 overall.
    assert_eq!(seqs(&d, "l=2&app=web"), [4, 6]);
}

#[test]
fn severity_at_or_above() {
    let d = seeded();
    assert_eq!(seqs(&d, "sev=err"), [0, 3, 6]);
    assert_eq!(seqs(&d, "sev=error"), [0, 3, 6]);
    assert_eq!(seqs(&d, "sev=3"), [0, 3, 6]);
    assert_eq!(seqs(&d, "sev=warn"), [0, 3, 5, 6]);
    assert_eq!(seqs(&d, "sev=emerg"), [6]);
    assert_eq!(seqs(&d, "sev=debug").len(), 7);
}

#[test]
fn facility_list() {
    let d = seeded();
    assert_eq!(seqs(&d, "fac=local0"), [3, 4]);
    assert_eq!(seqs(&d, "fac=kern,auth"), [0, 2]);
    assert_eq!(seqs(&d, "fac=23,daemon"), [5, 6]);
}

#[test]
fn host_app_grep_and_since() {
    let d = seeded();
    assert_eq!(seqs(&d, "host=alpha"), [0, 3, 6]);
    assert_eq!(seqs(&d, "app=sshd"), [2]);
    assert_eq!(seqs(&d, "grep=fail"), [3]);
    // Case-sensitive bytes, with percent-encoding.
    assert_eq!(seqs(&d, "grep=Fail"), Vec::<u64>::new());
    assert_eq!(seqs(&d, "grep=on%20fire"), [0]);
    assert_eq!(seqs(&d, "since=4"), [5, 6]);
    assert_eq!(seqs(&d, "since=4&host=alpha"), [6]);
    assert_eq!(seqs(&d, "host=beta&sev=info&fac=auth"), [2]);
}

#[test]
fn response_headers_carry_last_seq_and_epoch() {
    let d = seeded();
    let out = d.curl(&d.query, &["-D", "-", "-o", "/dev/null", &url("/?l=1")]);
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("x-circolog-last-seq: 6\r\n"), "{head}");
    let epoch = d.status()["epoch"].as_i64().expect("epoch");
    assert!(
        head.contains(&format!("x-circolog-epoch: {epoch}\r\n")),
        "{head}"
    );
    let out = d.curl(
        &d.query,
        &["-D", "-", "-o", "/dev/null", &url("/?fmt=json")],
    );
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/x-ndjson"),
        "{head}"
    );
}

#[test]
fn head_gives_headers_without_a_body() {
    let d = seeded();
    let out = d.curl(&d.query, &["-I", &url("/")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("x-circolog-last-seq: 6"));
    assert!(!text.contains("disk on fire"));
}

#[test]
fn bad_parameters_are_400_with_a_one_line_reason() {
    let d = seeded();
    for bad in [
        "sev=loud", "fac=nope", "l=abc", "fmt=xml", "since=-3", "bogus=1",
    ] {
        let out = d.curl(&d.query, &["-w", "%{http_code}", &url(&format!("/?{bad}"))]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.ends_with("400"), "{bad}: {text}");
        let body = text.trim_end_matches("400");
        assert_eq!(body.lines().count(), 1, "{bad}: {body}");
    }
}

#[test]
fn unknown_paths_404_and_wrong_methods_405() {
    let d = seeded();
    let code = |args: &[&str]| {
        let mut a = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        a.extend_from_slice(args);
        String::from_utf8(d.curl(&d.query, &a).stdout).expect("code")
    };
    assert_eq!(code(&[&url("/nope")]), "404");
    assert_eq!(code(&["-X", "POST", &url("/")]), "405");
    assert_eq!(code(&["-X", "DELETE", &url("/")]), "405");
}

#[test]
fn keep_alive_and_pipelining() {
    let d = seeded();
    // Two requests in one write: both answered, in order, on one connection.
    let out = raw_http(
        &d.query,
        b"GET /?fmt=raw&l=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /?fmt=raw&app=sshd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    let first = text.find("everything is down").expect("first answer");
    let second = text.find("Accepted key").expect("second answer");
    assert!(first < second);

    // Keep-alive: a second request later on the same connection works.
    let mut s = UnixStream::connect(&d.query).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for _ in 0..2 {
        s.write_all(b"GET /?l=1&fmt=raw HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&got).contains("everything is down"));
    }
}

#[test]
fn http10_gets_a_close_delimited_body() {
    let d = seeded();
    let out = raw_http(
        &d.query,
        b"GET /?fmt=raw&l=1 HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );
    assert!(text.ends_with("everything is down\n"), "{text}");
}

#[test]
fn an_empty_ring_dumps_nothing() {
    let d = daemon().start();
    assert_eq!(d.get("/"), "");
    let out = d.curl(&d.query, &["-D", "-", "-o", "/dev/null", &url("/")]);
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    // No message was ever stored: there is no seq to resume after.
    assert!(!head.contains("x-circolog-last-seq"), "{head}");
}

/// `GET /?fmt=json` with each `name=value` encoded by curl, as a user
/// writes it: `curl -G --data-urlencode 're=(?i)fail'`. Returns the status
/// and the body.
fn get_encoded(d: &Daemon, params: &[&str]) -> (u16, String) {
    let mut args = vec!["-G", "-w", "\n%{http_code}", "--data-urlencode", "fmt=json"];
    for p in params {
        args.extend(["--data-urlencode", p]);
    }
    let u = url("/");
    args.push(&u);
    let out = d.curl(&d.query, &args);
    let text = String::from_utf8(out.stdout).expect("utf-8 body");
    let (body, code) = text.rsplit_once('\n').expect("a status line");
    (code.parse().expect("status"), body.trim_end().to_string())
}

/// The seqs `GET /` gives for `params`, encoded by curl; fails the test
/// unless the answer is a 200.
fn seqs_encoded(d: &Daemon, params: &[&str]) -> Vec<u64> {
    let (code, body) = get_encoded(d, params);
    assert_eq!(code, 200, "{params:?}: {body}");
    body.lines()
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            m["seq"].as_u64().expect("seq")
        })
        .collect()
}

#[test]
fn host_app_and_fac_take_lists_and_negation() {
    let d = seeded();
    assert_eq!(seqs(&d, "app=sshd,cron"), [2, 5]);
    assert_eq!(seqs(&d, "app=!web"), [0, 1, 2, 5]);
    assert_eq!(seqs(&d, "app=!web,kernel"), [1, 2, 5]);
    // `-` is the messages without the field, in a list too; 1, from the
    // local socket without one, is this host's, as it is shown.
    let here = crate::util::host_name();
    assert_eq!(seqs(&d, "host=-,beta"), [2, 4]);
    assert_eq!(seqs(&d, &format!("host={here},beta")), [1, 2, 4]);
    assert_eq!(seqs(&d, "host=!alpha"), [1, 2, 4, 5]);
    assert_eq!(seqs(&d, "host=!-"), [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(seqs(&d, "fac=!local0,local7"), [0, 1, 2, 5]);
    assert_eq!(seqs(&d, "fac=!auth,authpriv"), [0, 1, 3, 4, 5, 6]);
    // Less severe than err.
    assert_eq!(seqs(&d, "sev=!err"), [1, 2, 4, 5]);
    assert_eq!(seqs(&d, "sev=!warning&fac=local0"), [4]);
    assert_eq!(seqs(&d, "app=web&host=!beta"), [3, 6]);
    // Encoded by curl (`!` and `,` become %21 and %2C) they mean the same.
    assert_eq!(seqs_encoded(&d, &["app=!web,kernel"]), [1, 2, 5]);
    assert_eq!(
        seqs_encoded(&d, &[&format!("host={here},beta"), "sev=!crit"]),
        [1, 2, 4]
    );
}

#[test]
fn re_and_not() {
    let d = seeded();
    assert_eq!(seqs_encoded(&d, &["re=(?i)^(DISK|cache)"]), [0, 4]);
    assert_eq!(seqs_encoded(&d, &["re=fail(ed|ure)?: "]), [3]);
    assert_eq!(seqs_encoded(&d, &["re=^[a-z]+ (on|is) "]), [0, 6]);
    assert_eq!(seqs_encoded(&d, &["re=\\bdown$"]), [6]);
    // Case matters unless the pattern says otherwise.
    assert_eq!(seqs_encoded(&d, &["re=^accepted"]), Vec::<u64>::new());
    assert_eq!(seqs_encoded(&d, &["re=(?i)^accepted"]), [2]);
    assert_eq!(seqs_encoded(&d, &["not=e"]), [5]);
    assert_eq!(seqs_encoded(&d, &["not=o"]), [2, 4]);
    assert_eq!(seqs_encoded(&d, &["grep=i", "not=s"]), [1]);
    assert_eq!(seqs_encoded(&d, &["re=e", "not=fire", "app=!web"]), [1, 2]);
    // The last 2 of those matching.
    assert_eq!(seqs_encoded(&d, &["l=2", "not=slow"]), [4, 6]);
}

#[test]
fn from_and_until_with_times_and_ages() {
    let d = daemon().start();
    d.send_unix(b"<13>1 2026-11-24T10:00:00Z h app - - - early one");
    d.send_unix(b"<13>1 2026-11-24T10:00:00Z h app - - - early two");
    d.wait_stored(2);
    // Ages are in whole seconds: the late ones come well after `2s` ago,
    // the early ones well before.
    std::thread::sleep(Duration::from_secs(3));
    d.send_unix(b"<13>1 2026-11-24T10:00:00Z h app - - - late one");
    d.send_unix(b"<13>1 2026-11-24T10:00:00Z h app - - - late two");
    d.wait_stored(4);

    let ms = d.json("");
    let received = ms[2]["received"].as_str().expect("received").to_string();
    // The same instant written with an offset: from is inclusive, until not.
    let t: jiff::Timestamp = received.parse().expect("RFC 3339");
    let offset = jiff::tz::Offset::from_seconds(5 * 3600 + 1800).expect("offset");
    let shifted = t.display_with_offset(offset).to_string();
    assert!(shifted.contains("+05:30"), "{shifted}");
    assert_eq!(seqs_encoded(&d, &[&format!("from={received}")]), [2, 3]);
    assert_eq!(seqs_encoded(&d, &[&format!("from={shifted}")]), [2, 3]);
    assert_eq!(seqs_encoded(&d, &[&format!("until={shifted}")]), [0, 1]);
    // Received in that very µs: the first late one, and the second when
    // both came in one read.
    let same: Vec<u64> = (2..4)
        .filter(|&i| ms[i]["received"] == ms[2]["received"])
        .map(|i| i as u64)
        .collect();
    let next = (t + jiff::SignedDuration::from_micros(1)).to_string();
    assert_eq!(
        seqs_encoded(&d, &[&format!("from={received}"), &format!("until={next}")]),
        same
    );

    assert_eq!(seqs(&d, "from=2s"), [2, 3]);
    assert_eq!(seqs(&d, "until=2s"), [0, 1]);
    assert_eq!(seqs(&d, "from=10m"), [0, 1, 2, 3]);
    assert_eq!(seqs(&d, "from=1d&until=10m"), Vec::<u64>::new());
    assert_eq!(seqs(&d, "until=1h"), Vec::<u64>::new());
    assert_eq!(seqs(&d, "l=1&until=2s"), [1]);
    assert_eq!(seqs(&d, "since=0&from=1h&grep=two"), [1, 3]);
}

#[test]
fn bad_new_parameters_are_400_with_a_one_line_reason() {
    let d = seeded();
    for (param, reason) in [
        ("app=", "bad app \"\": expected names"),
        ("app=!", "bad app \"!\": an empty list after !"),
        (
            "host=web1,,web2",
            "bad host \"web1,,web2\": an empty item in the list",
        ),
        (
            "fac=kern,bogus",
            "bad fac \"bogus\": expected facility names",
        ),
        ("fac=", "bad fac \"\": expected facility names"),
        ("sev=!", "bad sev \"!\": expected emerg"),
        ("re=(", "bad re \"(\": unclosed group"),
        (
            "re=\\w{100}",
            "bad re \"\\\\w{100}\": too big once compiled",
        ),
        (
            "from=2026-12-01T05:00:00",
            "bad from \"2026-12-01T05:00:00\": a time needs its offset",
        ),
        ("until=10x", "bad until \"10x\": unknown unit"),
        ("from=10", "bad from \"10\": an age needs a unit"),
        (
            "from=yesterday",
            "bad from \"yesterday\": expected an RFC 3339 time",
        ),
        ("from=1h&until=2h", "from ("),
        ("not=a&not=b", "repeated parameter \"not\""),
        (
            "regex=a",
            "unknown parameter \"regex\": expected l, fmt, sev, fac, host, app, grep, not, re, unit, pid, uid, since, from or until",
        ),
    ] {
        let params: Vec<&str> = param.split('&').collect();
        let (code, body) = get_encoded(&d, &params);
        assert_eq!(code, 400, "{param}: {body}");
        assert_eq!(body.lines().count(), 1, "{param}: {body}");
        assert!(body.starts_with(reason), "{param}: {body}");
    }
}

/// Issue 13, defect 8: `since=18446744073709551615` gave the whole ring, as
/// the seq after it wrapped to 0 (a panic in a debug build).
#[test]
fn since_and_l_that_overflow_are_400() {
    let d = seeded();
    for (param, reason) in [
        (
            "since=18446744073709551615",
            "bad since \"18446744073709551615\": no seq comes after it",
        ),
        (
            "since=18446744073709551616",
            "bad since \"18446744073709551616\": more than 18446744073709551615",
        ),
        (
            "l=18446744073709551616",
            "bad l \"18446744073709551616\": more than 18446744073709551615",
        ),
    ] {
        let (code, body) = get_encoded(&d, &[param]);
        assert_eq!((code, body.as_str()), (400, reason), "{param}");
    }
    assert_eq!(seqs(&d, "since=18446744073709551614"), Vec::<u64>::new());
    assert_eq!(seqs(&d, "l=18446744073709551615").len(), 7);
    // The daemon goes on answering.
    assert_eq!(seqs(&d, "since=5"), [6]);
}
