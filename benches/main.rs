//! `cargo bench`: the real `circologd` against the kernel's limit (a bare
//! `recvmmsg` receiver) and against its peers, measured side by side in the
//! same run. Prints one table; see `benches/README.md` for how to read it.
//!
//! `cargo bench -- SECTION…` runs only some of `ingest peers dump fanout
//! memory scan query journald restart tail`; `CIRCOLOG_BENCH_QUICK=1` makes every count small and runs once.

#[path = "circolog/drain.rs"]
mod drain;
#[path = "circolog/follow.rs"]
mod follow;
#[path = "circolog/harness.rs"]
mod harness;
#[path = "circolog/journald.rs"]
mod journald;
#[path = "circolog/multishot.rs"]
mod multishot;
#[path = "circolog/peers.rs"]
mod peers;
#[path = "circolog/query.rs"]
mod query;
#[path = "circolog/restart.rs"]
mod restart;
#[path = "circolog/send.rs"]
mod send;
// The half of it that holds its `unsafe`.
#[path = "circolog/sink.rs"]
mod sink;
#[path = "circolog/table.rs"]
mod table;
#[path = "circolog/tail.rs"]
mod tail;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use drain::{Bare, DgramDrain, TcpDrain, UringDrain};
use follow::{DumpLoop, Followers};
use harness::{Circolog, Sample, Sink, summarize};
use send::{Dest, Mode, Size, Spec};
use table::{Table, fmt_bytes, fmt_count, fmt_rate};

const SECTIONS: [&str; 10] = [
    "ingest", "peers", "dump", "fanout", "memory", "scan", "query", "journald", "restart", "tail",
];

/// How much to measure.
struct Config {
    quick: bool,
    /// Runs per figure (its median is shown).
    runs: usize,
    /// Aimed duration of one run; the count is calibrated to it.
    secs: f64,
    /// Messages of a calibration run.
    calibration: u64,
    /// Messages in the ring that is dumped.
    dump_ring: u64,
    /// Messages in the ring that is searched (section 7).
    query_ring: u64,
    /// Messages in the ring `circolog-tail` reads (section 10).
    tail_ring: u64,
    /// Messages through the ring for the memory figure, and after how many
    /// the first reading is taken.
    memory_total: u64,
    memory_first: u64,
    /// Duration of one paced latency run, and its rate.
    latency_secs: f64,
    latency_rate: u64,
    /// Followers of the latency figure.
    latency_followers: usize,
    followers: Vec<usize>,
    /// Messages in the ring that is adopted after a kill, and its arena.
    restart_ring: u64,
    restart_bytes: &'static str,
    /// Kills under the flood, and the flood's rate.
    restart_kills: usize,
    flood_rate: u64,
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::var("CIRCOLOG_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut c = if quick {
            Config {
                quick,
                runs: 1,
                secs: 0.3,
                calibration: 10_000,
                dump_ring: 200_000,
                query_ring: 100_000,
                tail_ring: 100_000,
                memory_total: 1_000_000,
                memory_first: 200_000,
                latency_secs: 1.0,
                latency_rate: 50_000,
                latency_followers: 100,
                followers: vec![1, 100, 1000],
                restart_ring: 100_000,
                restart_bytes: "32M",
                restart_kills: 3,
                flood_rate: 20_000,
            }
        } else {
            Config {
                quick,
                runs: 5,
                secs: 2.0,
                calibration: 30_000,
                dump_ring: 1_000_000,
                query_ring: 1_000_000,
                tail_ring: 1_000_000,
                memory_total: 10_000_000,
                memory_first: 1_000_000,
                latency_secs: 3.0,
                latency_rate: 50_000,
                latency_followers: 100,
                followers: vec![1, 100, 1000],
                restart_ring: 1_000_000,
                restart_bytes: "256M",
                restart_kills: 10,
                flood_rate: 50_000,
            }
        };
        if let Some(n) = std::env::var("CIRCOLOG_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            c.runs = n.max(1);
        }
        // The latency figure at another rate or follower count, to find
        // what a machine holds (CIRCOLOG_BENCH_LATENCY=FOLLOWERSxRATE).
        if let Some((n, r)) = std::env::var("CIRCOLOG_BENCH_LATENCY")
            .ok()
            .and_then(|v| {
                v.split_once('x')
                    .map(|(n, r)| (n.parse().ok(), r.parse().ok()))
            })
            .and_then(|(n, r)| n.zip(r))
        {
            c.latency_followers = n;
            c.latency_rate = r;
        }
        // Which follower counts the fan-out section measures ingest with
        // (comma-separated; empty: only the latency figure).
        if let Ok(v) = std::env::var("CIRCOLOG_BENCH_FOLLOWERS") {
            c.followers = v.split(',').filter_map(|n| n.trim().parse().ok()).collect();
        }
        c
    }

    /// How long a sender may run: a run is meant to take `secs`, but a
    /// receiver held back by what is measured (followers) may be far slower.
    fn limit(&self) -> Duration {
        Duration::from_secs_f64(self.secs * 5.0 + 2.0)
    }

    /// Limit for the long fills.
    fn long_limit(&self) -> Duration {
        Duration::from_secs(240)
    }

    /// The count for a run of about `secs`, from a calibration run.
    fn count_for(&self, sink: &mut dyn Sink, spec: &Spec, lossy: bool) -> Result<u64, String> {
        let probe = Spec {
            count: self.calibration,
            ..spec.clone()
        };
        let s = harness::run(sink, &probe, lossy)?;
        Ok(((s.rate() * self.secs) as u64).clamp(self.calibration, 20_000_000))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(send::ROLE) {
        std::process::exit(send::child_main(&args[2..]));
    }
    // `cargo test --benches` runs this without --bench: nothing to do there.
    if !args.iter().any(|a| a == "--bench") {
        println!("circolog benchmark: run it with `cargo bench`");
        return;
    }
    let wanted: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for w in &wanted {
        if !SECTIONS.contains(w) {
            eprintln!("unknown section {w:?}; sections: {}", SECTIONS.join(" "));
            std::process::exit(2);
        }
    }
    raise_fd_limit();
    let cfg = Config::from_env();
    let started = Instant::now();
    let mut table = Table::default();
    match harness::circologd_path() {
        Ok(p) => eprintln!("circolog benchmark: {}", p.display()),
        Err(e) => {
            eprintln!("circolog benchmark: {e}");
            std::process::exit(1);
        }
    }
    for name in SECTIONS {
        if !wanted.is_empty() && !wanted.contains(&name) {
            continue;
        }
        eprintln!("== {name}");
        table.section(section_title(name));
        let t = Instant::now();
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| match name {
            "ingest" => ingest(&cfg, &mut table),
            "peers" => peers(&cfg, &mut table),
            "dump" => dump(&cfg, &mut table),
            "fanout" => fanout(&cfg, &mut table),
            "scan" => scan(&cfg, &mut table),
            "query" => query(&cfg, &mut table),
            "journald" => through_journald(&cfg, &mut table),
            "restart" => restarts(&cfg, &mut table),
            "tail" => tail_rows(&cfg, &mut table),
            _ => memory(&cfg, &mut table),
        }));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => table.error(&e),
            Err(_) => table.error("panicked (see above)"),
        }
        eprintln!("   ({:.0} s)", t.elapsed().as_secs_f64());
    }
    let header = format!(
        "circolog benchmark ({}): median of {} run{} per figure; Linux {}, {} CPUs; \
         net.unix.max_dgram_qlen={}, net.core.rmem_max={}",
        if cfg.quick { "quick" } else { "full" },
        cfg.runs,
        if cfg.runs == 1 { "" } else { "s" },
        harness::sysctl("kernel/osrelease"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        harness::sysctl("net/unix/max_dgram_qlen"),
        harness::sysctl("net/core/rmem_max"),
    );
    println!();
    println!("{header}");
    table.print();
    println!("took {:.0} s", started.elapsed().as_secs_f64());
}

fn section_title(name: &str) -> &'static str {
    match name {
        "ingest" => "1. ingest: messages/s stored, as a ratio to a bare recvmmsg drain",
        "peers" => "2. peers: messages/s taken in, as a ratio to the bare drain (same runs)",
        "dump" => "3. dump: GET / of a full ring, and ingest while dumps run",
        "fanout" => "4. fan-out: websocket followers (fmt=json)",
        "scan" => "6. scans: the control socket while dumps that match nothing scan the ring",
        "journald" => {
            "8. journald: N messages through the real journald into its volatile journal and \
             the ring; circolog-tail against journalctl -D on them (ms, process start-up included)"
        }
        "tail" => {
            "10. circolog-tail against curl asking the daemon for the same (ms, process start-up \
             included, output to /dev/null)"
        }
        "query" => {
            "7. queries of a full ring of realistic messages, against GNU grep and cat on the same bytes in a file"
        }
        "restart" => {
            "9. restarts: a full ring adopted after kill -9 and after circolog-ctl restart, \
             against a fresh start; messages lost per kill under a flood"
        }
        _ => "5. memory",
    }
}

/// Followers and dumps need many descriptors, in this process and in the
/// daemon, which inherits the limit.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if let Some(max) = l.maximum {
        l.current = Some(max.min(65536));
        let _ = setrlimit(Resource::Nofile, l);
    }
}

/// A sender of fixed-size messages, stopped after `limit` whatever its count.
fn spec(dest: Dest, mode: Mode, size: usize, limit: Duration) -> Spec {
    Spec {
        dest,
        mode,
        size: Size::Fixed(size),
        count: 0,
        rate: None,
        first: 0,
        limit,
    }
}

/// Measures each target `runs` times, interleaved, with its count of messages.
fn side_by_side(
    targets: &mut [(&mut dyn Sink, Dest)],
    base: &Spec,
    counts: &[u64],
    lossy: bool,
    runs: usize,
) -> Result<Vec<Vec<Sample>>, String> {
    let n = targets.len();
    let mut out = vec![Vec::new(); n];
    for run in 0..runs {
        // Each run starts with the next target: none is always first.
        for k in 0..n {
            let i = (run + k) % n;
            let (sink, dest) = &mut targets[i];
            let s = Spec {
                dest: dest.clone(),
                count: counts[i],
                ..base.clone()
            };
            out[i].push(harness::run(&mut **sink, &s, lossy)?);
        }
    }
    Ok(out)
}

fn cpu_note(name: &str, s: &harness::Summary) -> String {
    s.cpu_us.map_or(String::new(), |c| format!("{name} {c:.2}"))
}

// ---------------------------------------------------------------- 1. ingest

fn ingest(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let mut d = Circolog::start(&[], true)?;
    let dir = harness::tempdir()?;
    let mut plain = DgramDrain::unix(&dir.path().join("drain.sock"), false)?;
    let mut cred = DgramDrain::unix(&dir.path().join("drain-cred.sock"), true)?;
    let mut udp = DgramDrain::udp()?;
    let mut tcp = TcpDrain::start()?;
    let mut uring = UringDrain::unix(&dir.path().join("uring.sock"), Bare::Circologd)?;
    let taskrun = multishot::TaskRun::from_env();
    let mut multi = UringDrain::unix(
        &dir.path().join("uring-multishot.sock"),
        Bare::Multishot(taskrun),
    )?;
    let (uring_path, multi_path) = (uring.path.clone(), multi.path.clone());
    let (plain_path, cred_path) = (
        plain.path.clone().unwrap_or_default(),
        cred.path.clone().unwrap_or_default(),
    );
    let d_addr = d.addr.ok_or("no -syslog-addr")?;
    let d_sock = d.syslog.clone();

    for (size, mode) in [
        (120, Mode::Send),
        (120, Mode::Mmsg),
        (1000, Mode::Send),
        (1000, Mode::Mmsg),
    ] {
        let call = if mode == Mode::Send {
            "send()"
        } else {
            "sendmmsg()"
        };
        let label = format!("unix dgram {size} B, {call}");
        let base = spec(Dest::Unix(d_sock.clone()), mode, size, cfg.limit());
        let count = cfg.count_for(&mut d, &base, false)?;
        let mut targets: Vec<(&mut dyn Sink, Dest)> = vec![
            (&mut plain, Dest::Unix(plain_path.clone())),
            (&mut cred, Dest::Unix(cred_path.clone())),
            (&mut d, Dest::Unix(d_sock.clone())),
            (&mut uring, Dest::Unix(uring_path.clone())),
            (&mut multi, Dest::Unix(multi_path.clone())),
        ];
        let n = targets.len();
        let r = side_by_side(&mut targets, &base, &vec![count; n], false, cfg.runs)?;
        let (p, c, ours, u) = (
            summarize(&r[0]),
            summarize(&r[1]),
            summarize(&r[2]),
            summarize(&r[3]),
        );
        table.row(
            &label,
            &fmt_rate(ours.rate),
            &format!("drain {}", fmt_rate(p.rate)),
            Some(ours.rate / p.rate),
            &format!(
                "÷ drain+SO_PASSCRED ({}): {:.2}; ÷ bare io_uring ({}): {:.2}; \
                 CPU µs/msg: {}, {}, {}, {}; {count} msgs/run",
                fmt_rate(c.rate),
                ours.rate / c.rate,
                fmt_rate(u.rate),
                ours.rate / u.rate,
                cpu_note("circologd", &ours),
                cpu_note("drain", &p),
                cpu_note("drain+cred", &c),
                cpu_note("io_uring", &u),
            ),
        );
        eprintln!(
            "   {label}: circologd {}, drain {}, drain+cred {}, io_uring {}",
            fmt_rate(ours.rate),
            fmt_rate(p.rate),
            fmt_rate(c.rate),
            fmt_rate(u.rate),
        );
        if size == 120 {
            let extra = match (c.cpu_us, p.cpu_us) {
                (Some(a), Some(b)) => format!(
                    "receiver CPU {:+.0} ns/msg ({a:.2} vs {b:.2} µs)",
                    (a - b) * 1e3
                ),
                _ => String::new(),
            };
            table.row(
                &format!("  SO_PASSCRED cost, bare drain, {call}"),
                &format!("with {}", fmt_rate(c.rate)),
                &format!("without {}", fmt_rate(p.rate)),
                Some(c.rate / p.rate),
                &extra,
            );
        }
        // A bare receiver's row: its rate against the drain's.
        let mut bare_row = |what: &str, x: &harness::Summary, note: String| {
            table.row(
                &format!("  {what}, {size} B, {call}"),
                &fmt_rate(x.rate),
                &format!("drain {}", fmt_rate(p.rate)),
                Some(x.rate / p.rate),
                &note,
            );
        };
        bare_row(
            "bare io_uring receiver",
            &u,
            format!(
                "circologd's receive path (io_uring poll, then recvmmsg; COOP_TASKRUN, \
                 SO_PASSCRED) in a blocking loop; {}",
                cpu_note("CPU µs/msg", &u)
            ),
        );
        let x = summarize(&r[4]);
        bare_row(
            "bare multishot receiver",
            &x,
            format!(
                "the first design (benches/circolog/multishot.rs): multishot RecvMsgMulti \
                 into {} provided buffers ({}, SO_PASSCRED); circologd ÷ it: {:.2}; {}",
                multishot::BUFFERS,
                taskrun.name(),
                ours.rate / x.rate,
                cpu_note("CPU µs/msg", &x)
            ),
        );
    }

    // The OTLP exporter on, a tenth of the messages (those whose counter
    // ends in 0) exported to a local receiver that answers at once.
    let otlp = sink::Sink::start().map_err(|e| format!("OTLP sink: {e}"))?;
    let url = otlp.url();
    let mut dx = Circolog::start(
        &["-export-otlp", &url, "-export-query", "re=n.[0-9]{9}0 "],
        false,
    )?;
    let dx_sock = dx.syslog.clone();
    let base = spec(Dest::Unix(dx_sock.clone()), Mode::Send, 120, cfg.limit());
    let count = cfg.count_for(&mut dx, &base, false)?;
    let mut targets: Vec<(&mut dyn Sink, Dest)> = vec![
        (&mut plain, Dest::Unix(plain_path.clone())),
        (&mut dx, Dest::Unix(dx_sock.clone())),
    ];
    let r = side_by_side(&mut targets, &base, &[count; 2], false, cfg.runs)?;
    let (p, ours) = (summarize(&r[0]), summarize(&r[1]));
    let status = dx.status()?;
    let x = &status["export"];
    table.row(
        "unix dgram 120 B, send(), exporting 10 % over OTLP",
        &fmt_rate(ours.rate),
        &format!("drain {}", fmt_rate(p.rate)),
        Some(ours.rate / p.rate),
        &format!(
            "-export-query 're=n.[0-9]{{9}}0 ' to a local receiver answering 200; exported {}, \
             dropped {}, {} requests; target ≥ 0.9",
            x["exported"],
            x["dropped"],
            otlp.requests.load(std::sync::atomic::Ordering::Relaxed)
        ),
    );
    eprintln!(
        "   exporting 10 %: circologd {} ({}), drain {}",
        fmt_rate(ours.rate),
        cpu_note("CPU µs/msg", &ours),
        fmt_rate(p.rate)
    );
    drop(dx);

    // The flight recorder's costs at ingest: three triggers matched against
    // every stored message, and the per-sender rate limiter on (one sender,
    // under its limit, so that every message is still stored).
    for (what, args) in [
        (
            "three triggers",
            vec![
                "-trigger",
                "sev=emerg",
                "-trigger",
                "app=kernel&grep=Oops",
                "-trigger",
                "re=segfault at [0-9a-f]+",
            ],
        ),
        ("the rate limiter on", vec!["-rate-limit", "100000000/1s"]),
    ] {
        let mut dr = Circolog::start(&args, false)?;
        let dr_sock = dr.syslog.clone();
        let base = spec(Dest::Unix(dr_sock.clone()), Mode::Send, 120, cfg.limit());
        let count = cfg.count_for(&mut dr, &base, false)?;
        // With circologd on its defaults in the same runs: what the
        // feature itself costs, apart from how busy the machine is.
        let mut targets: Vec<(&mut dyn Sink, Dest)> = vec![
            (&mut plain, Dest::Unix(plain_path.clone())),
            (&mut dr, Dest::Unix(dr_sock.clone())),
            (&mut d, Dest::Unix(d_sock.clone())),
        ];
        let r = side_by_side(&mut targets, &base, &[count; 3], false, cfg.runs)?;
        let (p, ours, without) = (summarize(&r[0]), summarize(&r[1]), summarize(&r[2]));
        table.row(
            &format!("unix dgram 120 B, send(), {what}"),
            &fmt_rate(ours.rate),
            &format!("drain {}", fmt_rate(p.rate)),
            Some(ours.rate / p.rate),
            &format!(
                "{}; ÷ circologd without it, same runs ({}): {:.2}; CPU µs/msg: {}, {}, {}; \
                 target ≥ 0.9",
                args.join(" "),
                fmt_rate(without.rate),
                ours.rate / without.rate,
                cpu_note("circologd", &ours),
                cpu_note("without", &without),
                cpu_note("drain", &p)
            ),
        );
        eprintln!(
            "   {what}: circologd {} ({}), without it {} ({}), drain {}",
            fmt_rate(ours.rate),
            cpu_note("CPU µs/msg", &ours),
            fmt_rate(without.rate),
            cpu_note("CPU µs/msg", &without),
            fmt_rate(p.rate)
        );
    }

    // UDP: what is stored versus what was sent.
    let base = spec(Dest::Udp(d_addr), Mode::Send, 120, cfg.limit());
    let count = cfg.count_for(&mut d, &base, true)?;
    let udp_addr = udp.addr.ok_or("udp drain")?;
    let mut targets: Vec<(&mut dyn Sink, Dest)> =
        vec![(&mut udp, Dest::Udp(udp_addr)), (&mut d, Dest::Udp(d_addr))];
    let r = side_by_side(&mut targets, &base, &[count; 2], true, cfg.runs)?;
    let (p, ours) = (summarize(&r[0]), summarize(&r[1]));
    table.row(
        "UDP 120 B, send()",
        &fmt_rate(ours.rate),
        &format!("drain {}", fmt_rate(p.rate)),
        Some(ours.rate / p.rate),
        &format!(
            "lost: circologd {:.1} %, drain {:.1} %; CPU µs/msg: {}, {}; {count} sent/run \
             (when nothing is lost, the sender is the limit)",
            ours.loss * 100.0,
            p.loss * 100.0,
            cpu_note("circologd", &ours),
            cpu_note("drain", &p),
        ),
    );
    eprintln!(
        "   UDP: circologd {}, drain {}",
        fmt_rate(ours.rate),
        fmt_rate(p.rate)
    );

    for conns in [1, 16] {
        let base = spec(Dest::Tcp(d_addr, conns), Mode::Send, 120, cfg.limit());
        let count = cfg.count_for(&mut d, &base, false)?;
        let t_addr = tcp.addr;
        let mut targets: Vec<(&mut dyn Sink, Dest)> = vec![
            (&mut tcp, Dest::Tcp(t_addr, conns)),
            (&mut d, Dest::Tcp(d_addr, conns)),
        ];
        let r = side_by_side(&mut targets, &base, &[count; 2], false, cfg.runs)?;
        let (p, ours) = (summarize(&r[0]), summarize(&r[1]));
        let label = format!(
            "TCP 120 B, {conns} connection{}, newline framing",
            if conns == 1 { "" } else { "s" }
        );
        table.row(
            &label,
            &fmt_rate(ours.rate),
            &format!("read() drain {}", fmt_rate(p.rate)),
            Some(ours.rate / p.rate),
            &format!(
                "CPU µs/msg: {}; {count} msgs/run",
                cpu_note("circologd", &ours)
            ),
        );
        eprintln!(
            "   {label}: circologd {}, drain {}",
            fmt_rate(ours.rate),
            fmt_rate(p.rate)
        );
    }
    table.row(
        "circologd RSS after these runs",
        &fmt_bytes(d.rss_kib().unwrap_or(0) * 1024),
        "",
        None,
        "default ring: 100 000 messages, 64 MiB arena",
    );
    Ok(())
}

// ----------------------------------------------------------------- 2. peers

fn peers(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let mut d = Circolog::start(&[], false)?;
    let dir = harness::tempdir()?;
    let mut drain = DgramDrain::unix(&dir.path().join("drain.sock"), false)?;
    let drain_path = drain.path.clone().unwrap_or_default();
    let d_sock = d.syslog.clone();
    let mut peers: Vec<peers::Peer> = Vec::new();
    type Start = fn() -> Result<peers::Peer, String>;
    let starts: [(&str, Start); 4] = [
        ("busybox syslogd -C", peers::busybox),
        ("rsyslog", peers::rsyslog),
        ("syslog-ng, credentials on", || peers::syslog_ng(true)),
        ("syslog-ng, credentials off", || peers::syslog_ng(false)),
    ];
    for (name, start) in starts {
        match start() {
            Ok(p) => peers.push(p),
            Err(e) => {
                eprintln!("   {name}: {e}");
                table.row(name, "-", "", None, &format!("skipped: {e}"));
            }
        }
    }
    for (size, mode) in [(120, Mode::Send), (120, Mode::Mmsg), (1000, Mode::Send)] {
        let call = if mode == Mode::Send {
            "send()"
        } else {
            "sendmmsg()"
        };
        let sender = format!("unix dgram {size} B, {call}");
        let base = spec(Dest::Unix(drain_path.clone()), mode, size, cfg.limit());
        // Each receiver gets a count that takes it about `secs`.
        let mut targets: Vec<(&mut dyn Sink, Dest)> = vec![
            (&mut drain, Dest::Unix(drain_path.clone())),
            (&mut d, Dest::Unix(d_sock.clone())),
        ];
        for p in peers.iter_mut() {
            let dest = Dest::Unix(p.socket.clone());
            targets.push((p, dest));
        }
        let mut counts = Vec::new();
        for (sink, dest) in targets.iter_mut() {
            let b = Spec {
                dest: dest.clone(),
                ..base.clone()
            };
            counts.push(cfg.count_for(&mut **sink, &b, false)?);
        }
        let r = side_by_side(&mut targets, &base, &counts, false, cfg.runs)?;
        drop(targets);
        let (drain_s, ours, theirs) = (&r[0], &r[1], &r[2..]);
        let dr = summarize(drain_s);
        let o = summarize(ours);
        table.row(
            &format!("{sender}: circologd"),
            &fmt_rate(o.rate),
            &format!("drain {}", fmt_rate(dr.rate)),
            Some(o.rate / dr.rate),
            &format!(
                "RSS {}; CPU µs/msg {}",
                fmt_bytes(d.rss_kib().unwrap_or(0) * 1024),
                o.cpu_us.map_or("-".into(), |c| format!("{c:.2}"))
            ),
        );
        eprintln!(
            "   {sender}: drain {}, circologd {}",
            fmt_rate(dr.rate),
            fmt_rate(o.rate)
        );
        for (i, p) in peers.iter().enumerate() {
            let t = summarize(&theirs[i]);
            let how = if p.name.starts_with("busybox") {
                "sender's time (blocking sends); "
            } else {
                ""
            };
            table.row(
                &format!("{sender}: {}", p.name),
                &fmt_rate(t.rate),
                &format!("drain {}", fmt_rate(dr.rate)),
                Some(t.rate / dr.rate),
                &format!(
                    "{how}{:.2} × circologd; RSS {}; CPU µs/msg {}",
                    t.rate / o.rate,
                    fmt_bytes(p.rss_kib().unwrap_or(0) * 1024),
                    t.cpu_us.map_or("-".into(), |c| format!("{c:.2}"))
                ),
            );
            eprintln!("   {sender}: {} {}", p.name, fmt_rate(t.rate));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ 3. dump

/// A daemon whose ring holds `cfg.dump_ring` messages of 120 B, and how
/// many it holds.
fn full_ring(cfg: &Config) -> Result<(Circolog, u64), String> {
    let ring = cfg.dump_ring;
    let mut d = Circolog::start(
        &["-buffer-size", &ring.to_string(), "-buffer-bytes", "256M"],
        false,
    )?;
    let fill = Spec {
        count: ring,
        ..spec(
            Dest::Unix(d.syslog.clone()),
            Mode::Mmsg,
            120,
            cfg.long_limit(),
        )
    };
    harness::run(&mut d, &fill, false)?;
    let held = d.status()?["used"]["messages"].as_u64().unwrap_or(0);
    eprintln!("   ring holds {held} messages");
    Ok((d, held))
}

fn dump(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let (mut d, held) = full_ring(cfg)?;
    let mut buf = vec![0u8; 1 << 20];
    let fmts = ["syslog", "json"];
    let mut dumps: Vec<Vec<follow::Dump>> = vec![Vec::new(); fmts.len()];
    for _ in 0..cfg.runs {
        for (i, fmt) in fmts.iter().enumerate() {
            dumps[i].push(follow::dump(&d.query, fmt, &mut buf).map_err(|e| e.to_string())?);
        }
    }
    for (i, fmt) in fmts.iter().enumerate() {
        let ds = &dumps[i];
        let mbps = harness::median(ds.iter().map(|x| x.bytes as f64 / 1e6 / x.secs).collect());
        let mps = harness::median(ds.iter().map(|x| x.lines as f64 / x.secs).collect());
        let last = ds.last().copied().unwrap_or_default();
        table.row(
            &format!("GET /?fmt={fmt} of a ring of {held} messages"),
            &format!("{mbps:.0} MB/s"),
            "",
            None,
            &format!(
                "{} lines/s; {} lines, {:.0} MB, {:.2} s per dump",
                fmt_count(mps),
                last.lines,
                last.bytes as f64 / 1e6,
                last.secs
            ),
        );
        eprintln!("   dump {fmt}: {mbps:.0} MB/s");
    }

    // Ingest while dumps run one after another, against ingest without.
    let base = spec(Dest::Unix(d.syslog.clone()), Mode::Send, 120, cfg.limit());
    let count = cfg.count_for(&mut d, &base, false)?;
    let s = Spec {
        count,
        ..base.clone()
    };
    let mut alone = Vec::new();
    let mut during: Vec<Vec<Sample>> = vec![Vec::new(); fmts.len()];
    let mut completed = vec![0u64; fmts.len()];
    for _ in 0..cfg.runs {
        alone.push(harness::run(&mut d, &s, false)?);
        for (i, fmt) in fmts.iter().enumerate() {
            let l = DumpLoop::start(&d.query, fmt);
            // Let the first dump get going.
            std::thread::sleep(Duration::from_millis(100));
            let r = harness::run(&mut d, &s, false);
            completed[i] += l.stop()?.0;
            during[i].push(r?);
        }
    }
    let a = summarize(&alone);
    for (i, fmt) in fmts.iter().enumerate() {
        let w = summarize(&during[i]);
        table.row(
            &format!("ingest 120 B send() while dumping fmt={fmt} continuously"),
            &fmt_rate(w.rate),
            &format!("alone {}", fmt_rate(a.rate)),
            Some(w.rate / a.rate),
            &format!(
                "{} dumps completed during the runs; target ratio > 0.8",
                completed[i]
            ),
        );
        eprintln!(
            "   ingest while dumping {fmt}: {} vs {}",
            fmt_rate(w.rate),
            fmt_rate(a.rate)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- 4. fanout

fn fanout(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let mut alone = Circolog::start(&[], false)?;
    let mut followed = Circolog::start(&[], false)?;
    // Both rings full, so that both evict as they store.
    for d in [&mut alone, &mut followed] {
        let fill = Spec {
            count: 100_000,
            ..spec(
                Dest::Unix(d.syslog.clone()),
                Mode::Mmsg,
                120,
                cfg.long_limit(),
            )
        };
        harness::run(d, &fill, false)?;
    }
    let base = spec(
        Dest::Unix(alone.syslog.clone()),
        Mode::Send,
        120,
        cfg.limit(),
    );
    let count = cfg.count_for(&mut alone, &base, false)?;
    let params = "fmt=json&l=0";
    for &n in &cfg.followers {
        let f = Followers::connect(&followed.query, n, params)?;
        std::thread::sleep(Duration::from_millis(200));
        let m0 = (f.messages(), f.skipped());
        let mut a = Vec::new();
        let mut b = Vec::new();
        for _ in 0..cfg.runs {
            let s = Spec {
                count,
                dest: Dest::Unix(alone.syslog.clone()),
                ..base.clone()
            };
            a.push(harness::run(&mut alone, &s, false)?);
            let s = Spec {
                count,
                dest: Dest::Unix(followed.syslog.clone()),
                ..base.clone()
            };
            b.push(harness::run(&mut followed, &s, false)?);
        }
        // What the followers got of what was stored while they followed.
        std::thread::sleep(Duration::from_millis(300));
        let got = f.messages() - m0.0;
        let skipped = f.skipped() - m0.1;
        let closed = f.closed();
        drop(f);
        followers_gone(&followed);
        let stored: u64 = b.iter().map(|s| s.stored).sum::<u64>() * n as u64;
        let (a, b) = (summarize(&a), summarize(&b));
        table.row(
            &format!(
                "ingest 120 B send() with {n} follower{}",
                if n == 1 { "" } else { "s" }
            ),
            &fmt_rate(b.rate),
            &format!("none {}", fmt_rate(a.rate)),
            Some(b.rate / a.rate),
            &format!(
                "followers got {:.1} % of the messages ({} skipped{}); CPU µs/msg {} vs {}",
                got as f64 * 100.0 / stored.max(1) as f64,
                skipped,
                if closed > 0 {
                    format!(", {closed} closed")
                } else {
                    String::new()
                },
                b.cpu_us.map_or("-".into(), |c| format!("{c:.2}")),
                a.cpu_us.map_or("-".into(), |c| format!("{c:.2}")),
            ),
        );
        eprintln!(
            "   {n} followers: {} vs {}",
            fmt_rate(b.rate),
            fmt_rate(a.rate)
        );
    }

    // Delivery latency at a fixed rate, 100 followers.
    let n = cfg.latency_followers;
    let rate = cfg.latency_rate;
    let f = Followers::connect(&followed.query, n, params)?;
    std::thread::sleep(Duration::from_millis(200));
    let count = (rate as f64 * cfg.latency_secs) as u64;
    let s = Spec {
        count,
        rate: Some(rate),
        ..spec(
            Dest::Unix(followed.syslog.clone()),
            Mode::Send,
            120,
            Duration::from_secs_f64(cfg.latency_secs * 3.0 + 2.0),
        )
    };
    // One paced run; with `stall_ms`, the reader stops reading that long
    // once, a third of the way in. Returns its latencies, sorted, the rate
    // the sender achieved and the share of messages delivered.
    let run = |followed: &mut Circolog, stall_ms: u64| -> Result<(Vec<u32>, f64, f64), String> {
        let m0 = f.messages();
        f.take_samples();
        f.take_backlog_max();
        if stall_ms > 0 {
            f.stall_once(m0 + count * n as u64 / 3, stall_ms);
        }
        f.record(true);
        let r = harness::run(followed, &s, false)?;
        // Wait (a bounded time) for the followers to catch up.
        let deadline = Instant::now() + Duration::from_secs(5);
        while f.messages() - m0 < count * n as u64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        f.record(false);
        let mut lat = f.take_samples();
        lat.sort_unstable();
        let delivered = (f.messages() - m0) as f64 / (count * n as u64) as f64;
        eprintln!(
            "   run: p99 {:.2} ms, delivered {:.1} %, most bytes unread in the followers' \
             sockets at once {} KiB",
            follow::percentile(&lat, 99.0) / 1e3,
            delivered * 100.0,
            f.take_backlog_max() / 1024
        );
        Ok((lat, r.rate(), delivered))
    };
    let (mut p50, mut p99, mut max, mut achieved, mut delivered) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.runs {
        let (lat, rate, got) = run(&mut followed, 0)?;
        p50.push(follow::percentile(&lat, 50.0));
        p99.push(follow::percentile(&lat, 99.0));
        max.push(lat.last().map_or(f64::NAN, |&m| f64::from(m)));
        achieved.push(rate);
        delivered.push(got);
    }
    // The same runs with the reader favoured by the scheduler: what is left
    // of the p99 when the reader is never the one waiting for a core.
    let mut favoured = Vec::new();
    let favour = f.nice(FAVOURED_NICE);
    if favour.is_ok() {
        for _ in 0..cfg.runs {
            let (lat, _, _) = run(&mut followed, 0)?;
            favoured.push(follow::percentile(&lat, 99.0));
        }
        if let Err(e) = f.nice(0) {
            eprintln!("   {e}");
        }
    }
    let mut stalled = Vec::new();
    for _ in 0..cfg.runs.min(3) {
        let (lat, _, _) = run(&mut followed, STALL_MS)?;
        stalled.push(follow::percentile(&lat, 99.0));
    }
    let each = each_ms(&p99, 1);
    let p99m = harness::median(p99);
    let ms = |us: f64| {
        if us < 10_000.0 {
            format!("{:.2} ms", us / 1e3)
        } else {
            format!("{:.0} ms", us / 1e3)
        }
    };
    let label = format!("delivery latency, {n} followers, {rate} msg/s paced");
    table.row(
        &format!("{label}, p50"),
        &ms(harness::median(p50)),
        "",
        None,
        &format!(
            "sender achieved {}; followers got {:.1} %",
            fmt_rate(harness::median(achieved)),
            harness::median(delivered) * 100.0
        ),
    );
    table.row(
        &format!("{label}, p99"),
        &ms(p99m),
        "target < 5 ms",
        None,
        &format!(
            "max {}; p99 of each run (ms): {}",
            ms(harness::median(max)),
            each
        ),
    );
    match &favour {
        Ok(()) => {
            table.row(
                &format!("{label}, p99, reader at nice {FAVOURED_NICE}"),
                &ms(harness::median(favoured.clone())),
                "",
                None,
                &format!(
                    "the same runs with the benchmark's reader favoured by the scheduler; \
                     p99 of each run (ms): {}",
                    each_ms(&favoured, 1)
                ),
            );
        }
        Err(e) => table.row(
            &format!("{label}, p99, reader at nice {FAVOURED_NICE}"),
            "skipped",
            "",
            None,
            e,
        ),
    }
    table.row(
        &format!("{label}, p99 with a {STALL_MS} ms reader stall"),
        &ms(harness::median(stalled.clone())),
        &format!("stall {STALL_MS} ms"),
        None,
        &format!(
            "the reader stops once per run; p99 of each run (ms): {}; near the stall: the \
             followers caught up within the run; seconds: they did not",
            each_ms(&stalled, 0)
        ),
    );
    eprintln!("   latency p99 {:.2} ms", p99m / 1e3);
    Ok(())
}

/// Latencies in µs, as milliseconds with `decimals` decimals, comma-separated.
fn each_ms(us: &[f64], decimals: usize) -> String {
    let each: Vec<String> = us
        .iter()
        .map(|us| format!("{:.*}", decimals, us / 1e3))
        .collect();
    each.join(", ")
}

/// The reader's nice value in the favoured latency runs.
const FAVOURED_NICE: i32 = -10;

/// How long the follower reader stops in the stalled latency runs: longer
/// than the 0.2 s a frame log holds at 50 000 messages/s.
const STALL_MS: u64 = 300;

/// Waits (a bounded time) until the daemon has let go of the followers of
/// the previous step, so that their leftover work is not measured next.
fn followers_gone(d: &Circolog) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match d.status() {
            Ok(s) if s["clients"]["followers"].as_u64() == Some(0) => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return,
        }
    }
    eprintln!("   (followers still connected after 30 s)");
}

// ---------------------------------------------------------------- 5. memory

fn memory(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let mut d = Circolog::start(&[], false)?;
    let idle = d.rss_kib().unwrap_or(0);
    let base = Spec {
        size: Size::Mix,
        ..spec(
            Dest::Unix(d.syslog.clone()),
            Mode::Mmsg,
            0,
            cfg.long_limit(),
        )
    };
    let first = Spec {
        count: cfg.memory_first,
        ..base.clone()
    };
    harness::run(&mut d, &first, false)?;
    let after_first = d.rss_kib().unwrap_or(0);
    let rest = Spec {
        count: cfg.memory_total - cfg.memory_first,
        first: cfg.memory_first,
        ..base.clone()
    };
    let r = harness::run(&mut d, &rest, false)?;
    let after_all = d.rss_kib().unwrap_or(0);
    let st = d.status()?;
    let used_msgs = st["used"]["messages"].as_u64().unwrap_or(0);
    let used_bytes = st["used"]["bytes"].as_u64().unwrap_or(0);
    let total = cfg.memory_total;
    let raw: u64 = (total.saturating_sub(used_msgs)..total)
        .map(|i| send::mix_size(i) as u64)
        .sum();
    table.row(
        &format!("RSS after {} messages (mix)", total),
        &fmt_bytes(after_all * 1024),
        &format!(
            "after {}: {}",
            cfg.memory_first,
            fmt_bytes(after_first * 1024)
        ),
        Some(after_all as f64 / after_first.max(1) as f64),
        &format!(
            "change {:+} KiB (target ± 1024); idle at start {}; ingest {}",
            after_all as i64 - after_first as i64,
            fmt_bytes(idle * 1024),
            fmt_rate(r.rate())
        ),
    );
    let per_msg = used_bytes as f64 / used_msgs.max(1) as f64;
    let avg = raw as f64 / used_msgs.max(1) as f64;
    table.row(
        "arena bytes per stored message (mix)",
        &format!("{per_msg:.0} B"),
        &format!("message {avg:.0} B"),
        Some(per_msg / avg),
        &format!(
            "{used_msgs} messages in {}; target ratio ≤ 1.5",
            fmt_bytes(used_bytes)
        ),
    );
    eprintln!("   RSS {idle} → {after_first} → {after_all} KiB; {per_msg:.0} B/msg for {avg:.0} B");
    Ok(())
}

// ------------------------------------------------------------------ 6. scan

/// Dumps that scan the whole ring: `/status` latency while this many run at
/// once, each matching nothing.
const SCANNERS: usize = 60;

fn scan(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let (d, held) = full_ring(cfg)?;
    let probes = if cfg.quick { 50 } else { 100 * cfg.runs };
    // Each probe is one /status on a new connection, as circolog-ctl does.
    let probe = |d: &Circolog| -> Result<Vec<u32>, String> {
        let mut lat = Vec::with_capacity(probes);
        for _ in 0..probes {
            let t = Instant::now();
            let (code, _) = harness::http_get(&d.ctl, "/status", Duration::from_secs(30))
                .map_err(|e| format!("/status: {e}"))?;
            if code != 200 {
                return Err(format!("/status: HTTP {code}"));
            }
            lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            std::thread::sleep(Duration::from_millis(10));
        }
        lat.sort_unstable();
        Ok(lat)
    };
    let alone = probe(&d)?;
    let loops: Vec<DumpLoop> = (0..SCANNERS)
        .map(|_| DumpLoop::start(&d.query, "syslog&grep=NO-SUCH-TEXT-ANYWHERE"))
        .collect();
    // Let every scan get going.
    std::thread::sleep(Duration::from_millis(300));
    let during = probe(&d);
    let mut dumps = 0;
    for l in loops {
        dumps += l.stop()?.0;
    }
    let during = during?;
    let ms = |lat: &[u32], pct: f64| follow::percentile(lat, pct) / 1000.0;
    table.row(
        &format!("/status while {SCANNERS} dumps ?grep=NOMATCH scan {held} messages"),
        &format!("p99 {:.2} ms", ms(&during, 99.0)),
        &format!("alone p99 {:.2} ms", ms(&alone, 99.0)),
        None,
        &format!(
            "p50 {:.2} ms, max {:.1} ms over {} probes; {dumps} scans completed; \
             target p99 < 10 ms",
            ms(&during, 50.0),
            ms(&during, 100.0),
            during.len()
        ),
    );
    eprintln!(
        "   /status under {SCANNERS} scans: p50 {:.2} ms, p99 {:.2} ms (alone p99 {:.2} ms)",
        ms(&during, 50.0),
        ms(&during, 99.0),
        ms(&alone, 99.0)
    );
    Ok(())
}

// ----------------------------------------------------------------- 7. query

/// `circolog-tail` against `curl` on the same ring, in the same run,
/// alternately, both as processes (start-up included): the client renders
/// what the daemon already did, so it should cost about as much as
/// reading the daemon's own lines. Left out, said, when curl is not
/// installed.
fn tail_against_curl(cfg: &Config, d: &Circolog, table: &mut Table) -> Result<(), String> {
    let tail = harness::circologd_path()?.with_file_name("circolog-tail");
    let tail = tail.to_str().ok_or("the binary's path is not UTF-8")?;
    let socket = d.query.to_str().ok_or("the socket's path is not UTF-8")?;
    if query::timed("curl", &["--version"]).is_err() {
        eprintln!("   circolog-tail against curl: curl is not installed, left out");
        return Ok(());
    }
    // (row, circolog-tail's arguments, curl's query, target)
    let pairs: [(&str, &[&str], &str, &str); 4] = [
        (
            "circolog-tail -n -1 (short)",
            &["-n", "-1"],
            "fmt=syslog",
            "≤ 1.5",
        ),
        (
            "circolog-tail -n -1 --fmt json",
            &["-n", "-1", "--fmt", "json"],
            "fmt=json",
            "≤ 1.5",
        ),
        (
            "circolog-tail -n 100",
            &["-n", "100"],
            "fmt=syslog&l=100",
            "≤ 1.5",
        ),
        (
            "circolog-tail -n -1 --grep NEEDLE",
            &["-n", "-1", "--grep", query::NEEDLE],
            "fmt=syslog&grep=NEEDLE",
            "≤ 1.5",
        ),
    ];
    let ms = |s: f64| format!("{:.0} ms", s * 1000.0);
    for (name, args, q, target) in pairs {
        let q = q.replace("NEEDLE", query::NEEDLE);
        let url = format!("http://localhost/?{q}");
        let mut tail_args = vec!["--socket", socket];
        tail_args.extend_from_slice(args);
        let curl_args = ["-s", "--unix-socket", socket, &url];
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..cfg.runs.max(3) {
            ours.push(to_null(tail, &tail_args)?);
            theirs.push(to_null("curl", &curl_args)?);
        }
        let (ours, theirs) = (harness::median(ours), harness::median(theirs));
        table.row(
            name,
            &ms(ours),
            &format!("curl ?{q} {}", ms(theirs)),
            Some(ours / theirs),
            &format!("target {target} × curl, same ring, same run"),
        );
        eprintln!("   {name}: {} ({:.2} × curl)", ms(ours), ours / theirs);
    }
    Ok(())
}

/// How long `program args` takes, its output to `/dev/null` as a user's
/// `> /dev/null` would send it.
fn to_null(program: &str, args: &[&str]) -> Result<f64, String> {
    let t = Instant::now();
    let status = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    if !status.success() {
        return Err(format!("{program} {args:?}: {status}"));
    }
    Ok(t.elapsed().as_secs_f64())
}

/// What a query's time is compared with.
#[derive(Clone, Copy)]
enum Baseline {
    /// `grep -c NEEDLE FILE`.
    Grep,
    /// `cat FILE | cat > /dev/null`.
    Cat,
}

fn query(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let ring = cfg.query_ring;
    let d = Circolog::start(
        &["-buffer-size", &ring.to_string(), "-buffer-bytes", "512M"],
        false,
    )?;
    let dir = harness::tempdir()?;
    let file = dir.path().join("messages.log");
    let file_arg = file
        .to_str()
        .ok_or("the temporary file's path is not UTF-8")?;
    let t = Instant::now();
    let bytes = query::fill(&d.syslog, &file, ring).map_err(|e| format!("fill: {e}"))?;
    // Every send has returned; wait until every message is stored.
    let deadline = Instant::now() + cfg.long_limit();
    let status = loop {
        let s = d.status()?;
        if s["last_seq"].as_u64().is_some_and(|l| l + 1 >= ring) {
            break s;
        }
        if Instant::now() > deadline {
            return Err(format!("the ring did not fill: {}", s["last_seq"]));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let fill_secs = t.elapsed().as_secs_f64();
    // `from=1s` is to find by binary search that nothing is that recent, not
    // to render the end of the fill.
    std::thread::sleep(Duration::from_millis(1200));
    let held = status["used"]["messages"].as_u64().unwrap_or(0);
    let arena = status["used"]["bytes"].as_u64().unwrap_or(0);
    if held != ring {
        return Err(format!("the ring holds {held} of {ring} messages"));
    }
    eprintln!(
        "   ring holds {held} messages, {} of them ({} in the arena); filled in {fill_secs:.1} s",
        fmt_bytes(bytes),
        fmt_bytes(arena)
    );
    table.row(
        &format!("a ring of {held} realistic messages, and the same in a file"),
        &fmt_bytes(bytes),
        &format!("arena {}", fmt_bytes(arena)),
        Some(arena as f64 / bytes as f64),
        &format!(
            "ten apps, RFC 5424 and 3164, every severity; {} emerg and {} {} (ratio: arena to message bytes)",
            query::RARE,
            query::RARE,
            query::NEEDLE
        ),
    );
    let queries: [(&str, &str, Baseline, &str); 6] = [
        (
            "?grep=NEEDLE",
            "syslog&grep=NEEDLE",
            Baseline::Grep,
            "≤ 0.8",
        ),
        ("?sev=emerg", "syslog&sev=emerg", Baseline::Grep, "≤ 0.3"),
        (
            "?l=10&grep=NEEDLE",
            "syslog&l=10&grep=NEEDLE",
            Baseline::Grep,
            "≤ 0.8",
        ),
        (
            "?from=1s (an age: 1 s ago)",
            "syslog&from=1s",
            Baseline::Grep,
            "≤ 0.1",
        ),
        ("?fmt=raw, whole ring", "raw", Baseline::Cat, "≤ 1.5"),
        ("?fmt=json, whole ring", "json", Baseline::Cat, "≤ 4"),
    ];
    let mut buf = vec![0u8; 1 << 20];
    let (mut grep, mut cat) = (Vec::new(), Vec::new());
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
    let mut lines = vec![0u64; queries.len()];
    let mut grep_count = String::new();
    // The picture of the whole ring, and of one app's messages.
    let histograms: [(&str, &str); 2] = [
        ("/histogram?buckets=60, whole ring", "buckets=60"),
        ("/histogram?buckets=60&app=sshd", "buckets=60&app=sshd"),
    ];
    let mut hist_times: Vec<Vec<f64>> = vec![Vec::new(); histograms.len()];
    let mut hist_counts = vec![0u64; histograms.len()];
    for _ in 0..cfg.runs {
        for (i, (_, params)) in histograms.iter().enumerate() {
            let (total, secs) = query::histogram(&d.query, params)?;
            hist_times[i].push(secs);
            hist_counts[i] = total;
        }
        let (count, secs) = query::timed("grep", &["-c", query::NEEDLE, file_arg])?;
        grep.push(secs);
        grep_count = count;
        let (_, secs) = query::timed(
            "sh",
            &["-c", "cat \"$1\" | cat > /dev/null", "sh", file_arg],
        )?;
        cat.push(secs);
        for (i, (_, q, _, _)) in queries.iter().enumerate() {
            let got = follow::dump(&d.query, q, &mut buf).map_err(|e| format!("?{q}: {e}"))?;
            times[i].push(got.secs);
            lines[i] = got.lines;
        }
    }
    if grep_count != query::RARE.to_string() {
        return Err(format!(
            "grep -c {} found {grep_count} lines, not {}",
            query::NEEDLE,
            query::RARE
        ));
    }
    let grep = harness::median(grep);
    let cat = harness::median(cat);
    let ms = |s: f64| format!("{:.0} ms", s * 1000.0);
    tail_against_curl(cfg, &d, table)?;
    for (i, (name, _, base, target)) in queries.iter().enumerate() {
        let t = harness::median(times[i].clone());
        let (reference, against, base_name) = match base {
            Baseline::Grep => (format!("grep -c {}", ms(grep)), grep, "grep"),
            Baseline::Cat => (format!("cat|cat {}", ms(cat)), cat, "cat|cat"),
        };
        table.row(
            name,
            &ms(t),
            &reference,
            Some(t / against),
            &format!("{} lines; target {target} × {base_name}", lines[i]),
        );
        eprintln!(
            "   {name}: {} ({:.2} × {base_name}), {} lines",
            ms(t),
            t / against,
            lines[i]
        );
    }
    if hist_counts[0] != ring {
        return Err(format!(
            "/histogram counted {} of {ring} messages",
            hist_counts[0]
        ));
    }
    for (i, (name, _)) in histograms.iter().enumerate() {
        let t = harness::median(hist_times[i].clone());
        table.row(
            name,
            &ms(t),
            &format!("grep -c {}", ms(grep)),
            Some(t / grep),
            &format!("{} messages counted; target ≤ 0.3 × grep", hist_counts[i]),
        );
        eprintln!(
            "   {name}: {} ({:.2} × grep), {} counted",
            ms(t),
            t / grep,
            hist_counts[i]
        );
    }
    Ok(())
}

/// Section 8 (`benches/circolog/journald.rs`): as many messages as the
/// query section's ring through the real journald, how many reach the ring
/// at qlen 512, then each query as a user types it, `circolog-tail`
/// against `journalctl`.
fn through_journald(cfg: &Config, table: &mut Table) -> Result<(), String> {
    use std::process::Command;
    let n = cfg.query_ring;
    let s = journald::Setup::start(n)?;
    let t = Instant::now();
    s.fill(n)?;
    // journald has forwarded all of them once its journal holds them all;
    // then circologd reads what waits in its socket.
    let deadline = Instant::now() + cfg.long_limit();
    while s.journaled()? < n {
        if Instant::now() > deadline {
            return Err(format!(
                "journald's journal holds {} of {n}",
                s.journaled()?
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut stored = s.stored()?;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = s.stored()?;
        if now == stored {
            break;
        }
        stored = now;
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!("   {stored} of {n} in the ring, through journald in {secs:.1} s");
    table.row(
        &format!("{n} messages sent to journald, forwarded at qlen 512"),
        &format!("{stored} in the ring"),
        &format!("{n} in journald's journal"),
        Some(stored as f64 / n as f64),
        &format!(
            "{secs:.1} s; {}; circologd pid {}",
            journald::limits(),
            s.circologd_pid()
        ),
    );
    if journald::burst_only() {
        return Ok(());
    }

    let tail_bin = tail::tail_path()?;
    let query = s.query();
    let journal = s.journal();
    let tail = |args: &[&str]| {
        let mut c = Command::new(&tail_bin);
        c.arg("--socket")
            .arg(&query)
            .args(["--color", "never"])
            .args(args);
        c
    };
    let journalctl = |args: &[&str]| {
        let mut c = Command::new("journalctl");
        c.args(["-q", "--no-pager", "-D", &journal]).args(args);
        c
    };
    // The 1,000th newest message's seq, for circolog-tail, and its time,
    // for journalctl.
    let (code, body) = harness::http_get(&query, "/?fmt=json&l=1000", Duration::from_secs(60))
        .map_err(|e| format!("GET /: {e}"))?;
    let first: serde_json::Value = body
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| serde_json::from_slice(l).ok())
        .ok_or(format!("GET /: HTTP {code}, no message"))?;
    let after = first["seq"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(1)
        .to_string();
    let since_us: i64 = first["received"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_microsecond());
    let since = format!("@{}.{:06}", since_us / 1_000_000, since_us % 1_000_000);
    let runs = cfg.runs.max(1);
    let rows: [(&str, Command, Command); 7] = [
        (
            "the last 100",
            tail(&["-n", "100"]),
            journalctl(&["-n", "100"]),
        ),
        (
            "-p emerg (10 matches)",
            tail(&["-n", "-1", "--sev", "emerg"]),
            journalctl(&["-p", "emerg"]),
        ),
        (
            "-t nginx (10 %)",
            tail(&["-n", "-1", "--app", "nginx"]),
            journalctl(&["-t", "nginx"]),
        ),
        (
            "-g NEEDLE (10 matches)",
            tail(&["-n", "-1", "--re", "NEEDLE"]),
            journalctl(&["-g", "NEEDLE"]),
        ),
        (
            "since the last 1,000",
            tail(&["--after-seq", &after]),
            journalctl(&["--since", &since]),
        ),
        (
            "the whole ring, short",
            tail(&["-n", "-1", "--fmt", "short"]),
            journalctl(&["-o", "short"]),
        ),
        (
            "the whole ring, JSON",
            tail(&["-n", "-1", "--fmt", "json"]),
            journalctl(&["-o", "json"]),
        ),
    ];
    for (what, ours, theirs) in rows {
        let (a, b) = journald::time_pair(ours, theirs, runs)?;
        eprintln!("   {what}: circolog-tail {a:.1} ms, journalctl {b:.1} ms");
        table.row(
            what,
            &format!("circolog-tail {a:.1} ms"),
            &format!("journalctl {b:.1} ms"),
            Some(b / a),
            "ratio: journalctl's time / circolog-tail's",
        );
    }
    Ok(())
}

// --------------------------------------------------------------- 9. restart

/// Section 9 (`benches/circolog/restart.rs`): the time from `kill -9` to
/// the first `GET /status` answered with a full ring adopted, and from
/// `circolog-ctl restart` to it, each against a fresh start of the same
/// flags in alternate runs; then messages lost per kill under a flood.
fn restarts(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let ring = cfg.restart_ring.to_string();
    let args = [
        "-buffer-size",
        ring.as_str(),
        "-buffer-bytes",
        cfg.restart_bytes,
    ];
    let fill = |dest: Dest, sink: &mut dyn Sink| -> Result<u64, String> {
        let s = Spec {
            count: cfg.restart_ring,
            ..spec(dest, Mode::Mmsg, 120, cfg.long_limit())
        };
        harness::run(sink, &s, false)?;
        Ok(sink.count()?.unwrap_or(0))
    };
    let ms = |d: &[Duration]| harness::median(d.iter().map(|d| d.as_secs_f64() * 1e3).collect());

    // kill -9 → serving, the full ring adopted; a fresh start alternately.
    let mut kept = restart::Managed::start(&args)?;
    fill(Dest::Unix(kept.syslog_path.clone()), &mut kept)?;
    let st = kept.status()?;
    let held = st["used"]["messages"].as_u64().unwrap_or(0);
    let memory = st["memory"].as_str().unwrap_or("?").to_string();
    eprintln!("   ring holds {held} messages, in {memory} memory");
    let mut fresh = restart::Managed::start(&args)?;
    let (mut adopted, mut cold) = (Vec::new(), Vec::new());
    for _ in 0..cfg.runs {
        let (t, st) = kept.kill_and_restart(true)?;
        if st["restored"]["messages"].as_u64() != Some(held) {
            return Err(format!("after kill -9: restored {}", st["restored"]));
        }
        adopted.push(t);
        let (t, st) = fresh.kill_and_restart(false)?;
        if !st["restored"].is_null() {
            return Err(format!("a fresh start restored {}", st["restored"]));
        }
        cold.push(t);
    }
    drop(fresh);
    drop(kept);
    let (a, c) = (ms(&adopted), ms(&cold));
    let each = |d: &[Duration]| {
        d.iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!("   kill -9 → serving: {a:.0} ms adopted, {c:.0} ms fresh");
    table.row(
        &format!("kill -9 → serving, {held} messages adopted"),
        &format!("{a:.0} ms"),
        &format!("fresh start {c:.0} ms"),
        Some(a / c),
        &format!(
            "to the first GET /status answered; -buffer-bytes {}, {memory} memory; runs (ms) {}; \
             fresh {}",
            cfg.restart_bytes,
            each(&adopted),
            each(&cold)
        ),
    );

    // circolog-ctl restart → serving, without a service manager.
    let ctl_bin = harness::circologd_path()?.with_file_name("circolog-ctl");
    let mut d = Circolog::start(&args, false)?;
    fill(Dest::Unix(d.syslog.clone()), &mut d)?;
    let held = d.status()?["used"]["messages"].as_u64().unwrap_or(0);
    let mut restarted = Vec::new();
    for _ in 0..cfg.runs {
        let t0 = Instant::now();
        let out = std::process::Command::new(&ctl_bin)
            .arg("--socket")
            .arg(&d.ctl)
            .args(["restart", "--json"])
            .output()
            .map_err(|e| format!("{}: {e}", ctl_bin.display()))?;
        let st = restart::serving(&d.ctl, t0)?;
        restarted.push(t0.elapsed());
        let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if !out.status.success() || said["restored"]["messages"].as_u64() != Some(held) {
            return Err(format!(
                "circolog-ctl restart: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if st["restored"]["messages"].as_u64() != Some(held) {
            return Err(format!("after a restart: restored {}", st["restored"]));
        }
    }
    drop(d);
    let r = ms(&restarted);
    eprintln!("   circolog-ctl restart → serving: {r:.0} ms");
    table.row(
        &format!("circolog-ctl restart → serving, {held} messages kept"),
        &format!("{r:.0} ms"),
        &format!("fresh start {c:.0} ms"),
        Some(r / c),
        &format!(
            "the command's process included; runs (ms) {}",
            each(&restarted)
        ),
    );

    // Messages lost per kill -9 under a flood: what the sender counted it
    // sent against what the ring holds, and where the gaps are.
    let seed = std::env::var("CIRCOLOG_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(harness::now_us);
    let mut rng = restart::Rng(seed);
    let kills = cfg.restart_kills;
    let mut m = restart::Managed::start(&args)?;
    // About a second a kill, within the ring.
    let count = (cfg.flood_rate * (kills as u64 + 2)).min(cfg.restart_ring * 9 / 10);
    let flood = Spec {
        count,
        rate: Some(cfg.flood_rate),
        ..spec(
            Dest::Unix(m.syslog_path.clone()),
            Mode::Send,
            120,
            cfg.long_limit(),
        )
    };
    let mut sender = send::Sender::start(&flood)?;
    sender.go()?;
    let mut dropped = 0;
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.below(1000)));
        let (_, st) = m.kill_and_restart(true)?;
        dropped += st["restored"]["dropped"].as_u64().unwrap_or(0);
    }
    let sent = sender.wait_done(cfg.long_limit())?.sent;
    // Everything sent is read once the count settles.
    let mut last = m.count()?;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = m.count()?;
        if now == last {
            break;
        }
        last = now;
    }
    let numbers = restart::numbers(&m.query)?;
    let mut gaps = Vec::new();
    let mut want = 0u64;
    for &n in &numbers {
        if n < want {
            return Err(format!("out of order: {n} after {want}"));
        }
        if n > want {
            gaps.push(n - want);
        }
        want = n + 1;
    }
    if want < sent {
        gaps.push(sent - want);
    }
    let lost: u64 = gaps.iter().sum();
    if numbers.len() as u64 + lost != sent {
        return Err(format!(
            "sent {sent}, the ring holds {} and lost {lost}",
            numbers.len()
        ));
    }
    let per_kill = lost as f64 / kills as f64;
    let max = gaps.iter().copied().max().unwrap_or(0);
    eprintln!("   flood: {lost} of {sent} lost over {kills} kills, gaps {gaps:?}");
    table.row(
        &format!(
            "messages lost per kill -9 under a flood of {} 120 B/s",
            fmt_count(cfg.flood_rate as f64)
        ),
        &format!("{per_kill:.1}"),
        "at most one batch (64)",
        None,
        &format!(
            "{kills} kills at seeded instants (CIRCOLOG_BENCH_SEED={seed}); \
             gaps {gaps:?}, largest {max}; sent {sent}, held {}; {dropped} dropped as invalid",
            numbers.len()
        ),
    );
    Ok(())
}

// ----------------------------------------------------------------- 10. tail

/// A ring of section 7's messages, then what a user types of circolog-tail
/// against curl asking the daemon for the same (the query circolog-tail
/// sends), taking turns, each as a process writing to /dev/null; both must
/// print as many lines.
fn tail_rows(cfg: &Config, table: &mut Table) -> Result<(), String> {
    let ring = cfg.tail_ring;
    let d = Circolog::start(
        &["-buffer-size", &ring.to_string(), "-buffer-bytes", "256M"],
        false,
    )?;
    let t = Instant::now();
    query::fill(&d.syslog, std::path::Path::new("/dev/null"), ring)
        .map_err(|e| format!("fill: {e}"))?;
    let deadline = Instant::now() + cfg.long_limit();
    while d.stored()? < ring {
        if Instant::now() > deadline {
            return Err(format!("the ring did not fill: {} of {ring}", d.stored()?));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let held = d.status()?["used"]["messages"].as_u64().unwrap_or(0);
    if held != ring {
        return Err(format!("the ring holds {held} of {ring} messages"));
    }
    eprintln!(
        "   ring holds {held} messages, filled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let since = tail::received_of_last(&d.query, 1000)?;
    let needle = query::NEEDLE;
    // (row, circolog-tail's arguments, curl's query: the one circolog-tail sends)
    let rows: [(&str, Vec<&str>, String); 7] = [
        ("-n 100", vec!["-n", "100"], "l=100&fmt=json".into()),
        (
            "-p emerg (10 matches)",
            vec!["-n", "-1", "-p", "emerg"],
            "fmt=json&sev=emerg".into(),
        ),
        (
            "-t nginx (10 %)",
            vec!["-n", "-1", "-t", "nginx"],
            "fmt=json&app=nginx".into(),
        ),
        (
            "-g NEEDLE (10 matches)",
            vec!["-n", "-1", "-g", needle],
            format!("fmt=json&re={needle}"),
        ),
        (
            "--since the 1,000th newest",
            vec!["-n", "-1", "--since", &since],
            format!("fmt=json&from={}", since.replace(':', "%3A")),
        ),
        ("the whole ring, short", vec!["-n", "-1"], "fmt=json".into()),
        (
            "the whole ring, -o json",
            vec!["-n", "-1", "-o", "json"],
            "fmt=json".into(),
        ),
    ];
    let socket = d.query.to_str().ok_or("the socket's path is not UTF-8")?;
    let bin = tail::tail_path()?;
    for (name, args, q) in rows {
        let mut ours = std::process::Command::new(&bin);
        ours.args(["--socket", socket, "--color", "never"])
            .args(&args);
        let mut theirs = std::process::Command::new("curl");
        theirs.args([
            "-s",
            "--unix-socket",
            socket,
            &format!("http://localhost/?{q}"),
        ]);
        let (lines, curl_lines) = (tail::lines(&mut ours)?, tail::lines(&mut theirs)?);
        if lines != curl_lines {
            return Err(format!(
                "{name}: circolog-tail printed {lines} lines, curl ?{q} {curl_lines}"
            ));
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for run in 0..cfg.runs {
            // Taking turns: neither is always first.
            if run % 2 == 0 {
                a.push(tail::run(&mut ours)?);
                b.push(tail::run(&mut theirs)?);
            } else {
                b.push(tail::run(&mut theirs)?);
                a.push(tail::run(&mut ours)?);
            }
        }
        let (ours, theirs) = (tail::Run::median(&a), tail::Run::median(&b));
        table.row(
            name,
            &format!("circolog-tail {:.0} ms", ours.wall_ms),
            &format!("curl {:.0} ms", theirs.wall_ms),
            Some(ours.wall_ms / theirs.wall_ms),
            &format!(
                "target ≤ 1.5; CPU {:.0} ms and {:.0} ms; {lines} lines; curl ?{q}",
                ours.cpu_ms, theirs.cpu_ms
            ),
        );
        eprintln!(
            "   {name}: circolog-tail {:.0} ms (CPU {:.0}), curl {:.0} ms (CPU {:.0}): {:.2}",
            ours.wall_ms,
            ours.cpu_ms,
            theirs.wall_ms,
            theirs.cpu_ms,
            ours.wall_ms / theirs.wall_ms
        );
    }
    Ok(())
}
