//! `circolog-tail`: the last messages in circologd's ring, like `tail`, or
//! every new one as it arrives, like `tail -f`, with filters and colour.
//!
//! This file is its arguments; what it does with them is in
//! [`circolog::client`]. Without `-f` it is one `GET /` on the query socket
//! ([`circolog::client::dump`]). With `-f` it follows `/ws` over the unix
//! socket (or TCP with `--addr`), and when the daemon goes away it
//! reconnects with backoff and resumes where it was
//! ([`circolog::client::follow`], [`circolog::client::plan`]); started
//! before the daemon, it waits for it.
//!
//! Formats: `short` (the default, see [`circolog::client::render_short`]),
//! `json` and, with `-f`, `syslog` are rendered from `fmt=json`, which
//! carries every message's seq and the daemon's epoch, so that a resume
//! starts exactly after the last line printed. `raw` (the bytes as
//! received, which the JSON does not carry) follows `fmt=json` too, for
//! the seqs, and fetches the raw lines of what it announces with `GET
//! /?since=SEQ&fmt=raw`: each fetch ends at a known seq. Colour applies to
//! `short` and `syslog` lines, by severity.
//!
//! Several sources (repeated `--socket`/`--addr`, `--source NAME=…`) are
//! merged by receive time and labelled: without `-f` the last N of all of
//! them ([`circolog::client::dump_many`]), with `-f` each followed on its
//! own thread and merged within `--merge-window`
//! ([`circolog::client::follow_many`]); `-n` is then the backlog of each.
//! One that is down, stalls or answers badly is said on standard error
//! and, with `-f`, tried again while the others go on.
//!
//! Interrupted system calls (Ctrl-Z, then `fg`) are retried: a stop is not
//! a lost connection.
//!
//! Exit status: 0, also when standard output is closed early (`| head`);
//! 2 with one line on standard error for anything else.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use jiff::tz::TimeZone;

use circolog::cli::config::suggest_str;
use circolog::cli::manual;
use circolog::client::{
    self, ColorChoice, Failure, Filters, Fmt, Output, Result, Source, Start, Target,
};
use circolog::ingest::syslog::{FACILITY_NAMES, SEVERITY_NAMES};
use circolog::store::ring::Seq;

#[derive(Parser, Debug)]
#[command(
    name = "circolog-tail",
    version,
    about = "Print the last messages in circologd's memory, or follow new ones",
    long_about = manual::TAIL_ABOUT,
    after_help = "Long flags may also be written with one dash (-fmt json), as in the original circolog.",
    after_long_help = manual::after_long_help(manual::TAIL)
)]
struct Args {
    /// Print the manual page or a shell completion script, and exit
    #[arg(long, value_enum, value_name = "WHAT")]
    generate: Option<manual::Generate>,

    /// Print the last N matching messages (with -f: before following); -1 for all of them
    ///
    /// With --after-seq SEQ: the last N of the messages after SEQ.
    #[arg(
        short = 'n',
        long = "lines",
        value_name = "N",
        default_value = "10",
        allow_negative_numbers = true,
        value_parser = parse_lines
    )]
    lines: Lines,

    /// Keep printing new messages as they arrive (reconnecting if circologd restarts)
    #[arg(short = 'f', long)]
    follow: bool,

    /// Newest first
    ///
    /// The same lines as without it, in the opposite order, as journalctl -r: they are held until
    /// the answer ends. Not with -f.
    #[arg(short = 'r', long, conflicts_with = "follow")]
    reverse: bool,

    /// Output format
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = Fmt::Short)]
    fmt: Fmt,

    /// Colour lines by severity
    #[arg(long, alias = "colour", value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto)]
    color: ColorArg,

    /// Only messages of severity LEVEL or more important (emerg … debug, or 0-7; !LEVEL: less severe)
    #[arg(short = 'p', long, value_name = "LEVEL", hide_possible_values = true,
          value_parser = suggest_str(&SEVERITY_NAMES))]
    sev: Option<String>,

    /// Only these facilities (kern, user, auth, local0, … or numbers; comma-separated,
    /// repeatable; a leading ! leaves them out)
    #[arg(long, value_name = "F[,F…]", hide_possible_values = true,
          value_parser = suggest_str(&FACILITY_NAMES))]
    fac: Vec<String>,

    /// Only messages from these hostnames (`-`: those without one; comma-separated,
    /// repeatable; a leading ! leaves them out)
    #[arg(long, value_name = "HOST[,HOST…]")]
    host: Vec<String>,

    /// Only messages from these app-names (`-`: those without one; comma-separated,
    /// repeatable; a leading ! leaves them out)
    #[arg(short = 't', long, value_name = "APP[,APP…]")]
    app: Vec<String>,

    /// Only messages from these systemd units
    ///
    /// As journalctl -u: a name without a suffix is NAME.service. Comma-separated, repeatable; a
    /// leading ! leaves them out.
    #[arg(short = 'u', long, value_name = "UNIT[,UNIT…]")]
    unit: Vec<String>,

    /// Only messages from these process ids
    ///
    /// The sender's pid as the kernel gave it on a unix socket, else the message's PROCID.
    /// Comma-separated, repeatable; a leading ! leaves them out.
    #[arg(long, value_name = "PID[,PID…]")]
    pid: Vec<String>,

    /// Only messages from these user ids
    ///
    /// The sender's uid as the kernel gave it on a unix socket. Comma-separated, repeatable; a
    /// leading ! leaves them out.
    #[arg(long, value_name = "UID[,UID…]")]
    uid: Vec<String>,

    /// Only kernel messages
    ///
    /// As journalctl -k: the messages of app kernel, the name circologd's -kmsg input gives
    /// kernel records and the one rsyslog and syslog-ng forward the kernel's lines with.
    #[arg(short = 'k', long = "dmesg", conflicts_with = "app")]
    kernel: bool,

    /// Only messages whose text contains TEXT (case-sensitive)
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,

    /// Only messages whose text matches the regular expression (Rust regex syntax; (?i) ignores case)
    #[arg(long, value_name = "REGEX")]
    re: Option<String>,

    /// Only messages whose text matches the regular expression, as journalctl -g
    ///
    /// As --re, but a pattern without a capital letter ignores case, as journalctl's --grep
    /// does by default; --case-sensitive says otherwise.
    #[arg(short = 'g', value_name = "REGEX", conflicts_with = "re")]
    journal_re: Option<String>,

    /// Whether -g's pattern is matched with case (as journalctl's --case-sensitive)
    ///
    /// Given alone, true. Without it, -g ignores case when its pattern has no capital letter.
    #[arg(
        long = "case-sensitive",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        requires = "journal_re"
    )]
    case_sensitive: Option<bool>,

    /// Only messages whose text does not contain TEXT
    #[arg(long, value_name = "TEXT")]
    not: Option<String>,

    /// Only messages received at or after TIME: RFC 3339 (2026-12-01T05:00:00Z) or an age (30s, 10m, 2h, 1d)
    ///
    /// Also journalctl's forms: now, today, yesterday, tomorrow, -2h (an age), YYYY-MM-DD and
    /// YYYY-MM-DD HH:MM[:SS], in the local zone.
    #[arg(short = 'S', long, value_name = "TIME", allow_hyphen_values = true)]
    since: Option<String>,

    /// Only messages received before TIME: RFC 3339 or an age
    ///
    /// Also journalctl's forms, as --since takes them.
    #[arg(short = 'U', long, value_name = "TIME", allow_hyphen_values = true)]
    until: Option<String>,

    /// Start after the message with this seq (a cursor from X-Circolog-Last-Seq or a json line)
    ///
    /// Every message after it, or with -n N the last N of them.
    #[arg(long, value_name = "SEQ")]
    after_seq: Option<u64>,

    /// circologd's query socket [default: /run/circolog-query.sock as root, else
    /// $XDG_RUNTIME_DIR/circolog/circolog-query.sock or /tmp/circolog-UID/circolog-query.sock];
    /// repeatable, with --addr and --source: several daemons, merged
    #[arg(long, value_name = "PATH")]
    socket: Vec<PathBuf>,

    /// circologd's query address on TCP (its -query-addr), instead of the unix socket; repeatable
    #[arg(long, value_name = "HOST:PORT", value_parser = client::parse_addr)]
    addr: Vec<String>,

    /// With -f over several sources: how long a line is held so that one from another source
    /// received earlier can be printed before it (ms, or with a unit: 200ms, 1s)
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_window)]
    merge_window: Duration,

    /// One of several daemons, named: its lines are labelled [NAME] (a "source" field in json); repeatable
    #[arg(long, value_name = "NAME=SOCKET|HOST:PORT", value_parser = parse_source)]
    source: Vec<Source>,

    /// Print snapshot ID (circolog-ctl snapshots lists them) instead of the
    /// buffer; the filters and formats apply
    #[arg(long, value_name = "ID", conflicts_with = "follow")]
    snapshot: Option<u64>,
}

/// `--merge-window`: milliseconds, or a number with `ms` or `s`.
fn parse_window(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1e-3)
    };
    match num.trim().parse::<f64>().map(|v| v * scale) {
        Ok(secs) if (0.0..=60.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err("expected a duration: 200 or 200ms, 1s (at most 60 s)".to_string()),
    }
}

/// `--source NAME=SOCKET|HOST:PORT`: a path (with a `/`) is a unix socket,
/// anything else a TCP address.
fn parse_source(s: &str) -> Result<Source, String> {
    let Some((name, place)) = s.split_once('=') else {
        return Err("takes NAME=SOCKET or NAME=HOST:PORT".to_string());
    };
    if name.is_empty() || name.contains(['[', ']']) || name.chars().any(char::is_control) {
        return Err(format!(
            "the name before = is a label: not empty, no brackets or control characters, not {name:?}"
        ));
    }
    let target = if place.contains('/') {
        Target::Unix(PathBuf::from(place))
    } else {
        Target::Tcp(client::parse_addr(place)?)
    };
    Ok(Source {
        name: name.to_string(),
        target,
    })
}

/// `-n`: how many of the last messages; `None` for all.
#[derive(Clone, Copy, Debug)]
struct Lines(Option<u64>);

fn parse_lines(s: &str) -> Result<Lines, String> {
    match s.trim().parse::<i64>() {
        Ok(-1) => Ok(Lines(None)),
        Ok(n) if n >= 0 => Ok(Lines(Some(n.unsigned_abs()))),
        _ => Err("expected a number of messages, or -1 for all of them".to_string()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ColorArg {
    /// When standard output is a terminal and NO_COLOR is not set
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let long_flags = circolog::cli::config::LongFlags::of(&Args::command());
    let matches = Args::command().get_matches_from(long_flags.rewrite(argv.iter().cloned()));
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let lines_given = matches.value_source("lines") == Some(clap::parser::ValueSource::CommandLine);
    let result = match args.generate {
        Some(what) => manual::generate(what, Args::command(), manual::TAIL, &mut io::stdout())
            .map_err(client::output_failed),
        None => run(&args, lines_given, &argv),
    };
    match result {
        Ok(()) | Err(Failure::Quiet) => ExitCode::SUCCESS,
        Err(Failure::Told) => ExitCode::from(2),
        Err(Failure::Error(msg)) => {
            let _ = writeln!(io::stderr(), "circolog-tail: {msg}");
            ExitCode::from(2)
        }
    }
}

/// `args` as given on the command line `argv`; `lines_given` when `-n`
/// was given there rather than left at its default.
fn run(args: &Args, lines_given: bool, argv: &[OsString]) -> Result<()> {
    let mut sources: Vec<Source> = args
        .socket
        .iter()
        .map(|p| Source {
            name: p.display().to_string(),
            target: Target::Unix(p.clone()),
        })
        .chain(args.addr.iter().map(|a| Source {
            name: a.clone(),
            target: Target::Tcp(a.clone()),
        }))
        .chain(args.source.iter().cloned())
        .collect();
    for (i, s) in sources.iter().enumerate() {
        if sources[..i].iter().any(|o| o.name == s.name) {
            return Err(Failure::Error(format!(
                "two sources named {:?}: each needs its own name (--source NAME=…)",
                s.name
            )));
        }
    }
    if sources.is_empty() {
        sources.push(Source {
            name: String::new(),
            target: Target::Unix(circolog::cli::config::default_paths().query),
        });
    }
    let choice = match args.color {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    };
    let color = client::use_color(
        choice,
        io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    );
    let filters = filters(args, argv).map_err(Failure::Error)?;
    let initial = match (args.after_seq.map(Seq::new), args.lines.0) {
        (Some(seq), Some(n)) if lines_given => Start::LastAfter(n, seq),
        (Some(seq), _) => Start::Since(seq),
        (None, n) => n.map_or(Start::All, Start::Last),
    };
    let mut out = Output::new(args.fmt, color, args.follow, args.reverse);
    if let [one] = sources.as_slice() {
        return if args.follow {
            client::follow(&one.target, &filters, initial, &mut out, false)
        } else {
            client::dump(one, &filters, initial, args.snapshot, &mut out)
        };
    }
    if args.snapshot.is_some() {
        let why = "--snapshot reads one daemon's snapshot: give one source";
        return Err(Failure::Error(why.to_string()));
    }
    // Several daemons: seqs are each daemon's own, and the raw bytes carry
    // no receive time to merge by.
    let refuse = if args.after_seq.is_some() {
        Some("--after-seq is a seq of one daemon: it takes one source")
    } else if args.fmt == Fmt::Raw {
        Some("--fmt raw takes one source: the bytes as received carry no receive time to merge by")
    } else {
        None
    };
    if let Some(why) = refuse {
        return Err(Failure::Error(why.to_string()));
    }
    if args.follow {
        client::follow_many(&sources, &filters, initial, args.merge_window, &mut out)
    } else {
        client::dump_many(&sources, &filters, initial, &mut out)
    }
}

/// The query's filters, as the daemon takes them: list flags joined, `-k`
/// as `app=kernel`, times turned into the daemon's (an error names the
/// flag as the user typed it, from `argv`).
fn filters(args: &Args, argv: &[OsString]) -> Result<Filters, String> {
    let command = <Args as clap::CommandFactory>::command();
    let longs: Vec<&str> = command
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .collect();
    let now = jiff::Timestamp::now();
    let tz = TimeZone::system();
    let time = |text: &Option<String>, short: char, long: &str| {
        text.as_deref()
            .map(|t| {
                client::journal_time(&client::typed_flag(argv, &longs, short, long), t, now, &tz)
            })
            .transpose()
    };
    let from = time(&args.since, 'S', "since")?;
    let until = time(&args.until, 'U', "until")?;
    if let (Some(from), Some(until)) = (&from, &until) {
        let since_flag = client::typed_flag(argv, &longs, 'S', "since");
        let until_flag = client::typed_flag(argv, &longs, 'U', "until");
        client::check_order((&since_flag, from), (&until_flag, until), now)?;
    }
    let app = if args.kernel {
        Some("kernel".to_string())
    } else {
        client::join_list(&client::typed_flag(argv, &longs, 't', "app"), &args.app)?
    };
    Ok(Filters {
        sev: args.sev.clone(),
        fac: client::join_list("--fac", &args.fac)?,
        host: client::join_list("--host", &args.host)?,
        app,
        grep: args.grep.clone(),
        re: args.re.clone().or_else(|| {
            args.journal_re
                .as_deref()
                .map(|p| client::journal_pattern(p, args.case_sensitive))
        }),
        not: args.not.clone(),
        from,
        until,
        unit: client::join_list(&client::typed_flag(argv, &longs, 'u', "unit"), &args.unit)?,
        pid: client::join_list("--pid", &args.pid)?,
        uid: client::join_list("--uid", &args.uid)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every long flag takes one dash, as the help says, from the clap
    /// definition itself: a new flag is covered without a word here.
    #[test]
    fn every_long_flag_takes_one_dash() {
        let differences = circolog::cli::config::one_dash_differences(&Args::command());
        assert!(differences.is_empty(), "{}", differences.join("\n"));
    }
}
