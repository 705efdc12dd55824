//! Manual pages and shell completions: each binary's `--generate` output
//! as `man`, `groff` and the shells read it, and its `--help` saying the
//! same things.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::DAEMON;

const TAIL: &str = env!("CARGO_BIN_EXE_circolog-tail");
const CTL: &str = env!("CARGO_BIN_EXE_circolog-ctl");

/// Each binary, its manual section, and what its page must say: section
/// headings (alone on a line) and phrases.
const PAGES: [(&str, &str, &[&str], &[&str]); 3] = [
    (
        DAEMON,
        "8",
        &[
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SOCKETS",
            "INPUT",
            "QUERY API",
            "CONTROL API",
            "SIGNALS",
            "SYSTEMD",
            "EXAMPLES",
        ],
        &[
            "/run/circolog-query.sock",
            "$XDG_RUNTIME_DIR/circolog/",
            "--buffer-bytes <SIZE>",
            "[default: 64M]",
            "SIGUSR1",
            "POST /pause/toggle",
            "GET /metrics",
            "X-Circolog-Last-Seq",
            "FileDescriptorName=",
            // Every query parameter, and what lists share.
            "not=TEXT",
            "re=REGEX",
            "from=TIME, until=TIME",
            "sev=!LEVEL",
            "(app=!cron,anacron)",
            // A flag that takes a value shows it in the synopsis.
            "[--buffer-bytes SIZE]",
            "[--trigger QUERY]...",
            "[--lock-memory[=BOOL]]",
            "circologd -syslogd-socket /run/circolog-syslog.sock -query-socket /run/circolog-query.sock",
        ],
    ),
    (
        TAIL,
        "1",
        &[
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "FOLLOWING",
            "FORMATS",
            "SOCKETS",
            "EXIT STATUS",
            "EXAMPLES",
        ],
        &[
            "--fmt <FORMAT>",
            "[-o|--fmt FORMAT]",
            "[--socket PATH]...",
            "[default: 10]",
            "reconnects",
            "Ctrl-Z",
            "$XDG_RUNTIME_DIR/circolog/circolog-query.sock",
            "circolog-tail -f --fmt json | jq .message",
        ],
    ),
    (
        CTL,
        "1",
        &[
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SUBCOMMANDS",
            "COMMAND DETAILS",
            "SOCKETS",
            "EXIT STATUS",
            "EXAMPLES",
        ],
        &[
            "POST /logs/clear",
            "circolog-ctl [OPTIONS] pause [--for DURATION]",
            "circolog-ctl [OPTIONS] snapshot-delete ID",
            "kill -USR1 PID",
            "$XDG_RUNTIME_DIR/circolog/circolog-ctl.sock",
            "circolog-ctl status --json",
        ],
    ),
];

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn generate(bin: &str, what: &str) -> Vec<u8> {
    run(Command::new(bin).args(["--generate", what])).stdout
}

fn name_of(bin: &str) -> &str {
    Path::new(bin)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
}

#[test]
fn every_binary_has_a_manual_page_that_man_renders() {
    let dir = tempfile::tempdir().expect("dir");
    for (bin, section, headings, phrases) in PAGES {
        let file = dir.path().join(format!("{}.{section}", name_of(bin)));
        std::fs::write(&file, generate(bin, "man")).expect("write");
        // groff's own warnings: the roff is well formed.
        let out = run(Command::new("groff")
            .args(["-k", "-man", "-ww", "-z", "-Tutf8"])
            .arg(&file));
        assert!(
            out.stderr.is_empty(),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A wide page, so that no phrase is broken across lines.
        let out = run(Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANWIDTH", "200")
            .env("MANPAGER", "cat")
            .env("MAN_KEEP_FORMATTING", ""));
        let page = String::from_utf8(out.stdout).expect("utf-8");
        assert!(
            page.starts_with(&format!("{}({section})", name_of(bin))),
            "{page}"
        );
        for h in headings {
            assert!(
                page.lines().any(|l| l == *h),
                "{bin}: no {h} section:\n{page}"
            );
        }
        for p in phrases {
            assert!(page.contains(p), "{bin}: no {p:?}:\n{page}");
        }
    }
}

#[test]
fn help_says_what_the_page_says_and_go_style_works() {
    for (bin, _, headings, _) in PAGES {
        let long = String::from_utf8(run(Command::new(bin).arg("--help")).stdout).expect("utf-8");
        let short = String::from_utf8(run(Command::new(bin).arg("-h")).stdout).expect("utf-8");
        // The sections beyond the flags, as clap writes its own headings.
        for h in &headings[4..] {
            let mut chars = h.chars();
            let first = chars.next().expect("a heading");
            let heading = format!("{first}{}:", chars.as_str().to_lowercase());
            if *h == "SUBCOMMANDS" {
                continue;
            }
            assert!(
                long.lines().any(|l| l == heading),
                "{bin} --help has no {heading}:\n{long}"
            );
            assert!(!short.contains(&heading), "{bin} -h is the short help");
        }
        assert!(long.len() > 2 * short.len(), "{bin}");
    }
    // The query parameters, as the page has them.
    let long = String::from_utf8(run(Command::new(DAEMON).arg("--help")).stdout).expect("utf-8");
    for term in [
        "l=N",
        "not=TEXT",
        "re=REGEX",
        "from=TIME, until=TIME",
        "since=SEQ",
    ] {
        assert!(
            long.lines().any(|l| l == format!("  {term}")),
            "no {term}:\n{long}"
        );
    }
    // One dash, as every circologd flag may be written.
    let page = run(Command::new(DAEMON).args(["-generate", "man"])).stdout;
    assert!(String::from_utf8_lossy(&page).contains(".SH SIGNALS"));
    // circolog-ctl needs no command to print its page, and still wants one
    // otherwise.
    let out = Command::new(CTL).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a command is required"));
}

#[test]
fn completions_parse_and_complete() {
    for shell in ["zsh", "fish"] {
        assert!(
            Command::new(shell).arg("--version").output().is_ok(),
            "{shell} is missing: run `bash .ci/deps`"
        );
    }
    let dir = tempfile::tempdir().expect("dir");
    for bin in [DAEMON, TAIL, CTL] {
        let name = name_of(bin);
        for (shell, what, check) in [
            ("bash", "complete-bash", &["-n"][..]),
            ("zsh", "complete-zsh", &["-n"][..]),
            ("fish", "complete-fish", &["--no-execute"][..]),
        ] {
            let file = dir.path().join(format!("{name}.{shell}"));
            let script = generate(bin, what);
            assert!(
                String::from_utf8_lossy(&script).contains(name),
                "{bin} {what}"
            );
            std::fs::write(&file, script).expect("write");
            run(Command::new(shell).args(check).arg(&file));
        }
    }
    // What a user gets at a TAB in bash: the function `complete -p` names
    // for the binary, called as bash calls it.
    let complete = |bin: &str, words: &str| -> Vec<String> {
        let name = name_of(bin);
        let script = dir.path().join(format!("{name}.bash"));
        let line = format!(
            "source {}; spec=$(complete -p {name}); function=${{spec##*-F }}; \
             function=${{function%% *}}; COMP_WORDS=({name} {words}); \
             COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             $function {name} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = run(Command::new("bash").args(["-c", &line]));
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(complete(TAIL, "--fm"), ["--fmt"]);
    assert_eq!(
        complete(TAIL, "--fmt ''"),
        ["short", "syslog", "json", "raw"]
    );
    assert!(complete(CTL, "''").contains(&"status".to_string()));
    assert!(complete(DAEMON, "--lock").contains(&"--lock-memory".to_string()));
    // After a subcommand: its own flags (clap's case labels did not match
    // a name with a dash, and nothing was offered).
    assert_eq!(complete(CTL, "pause --f"), ["--for"]);
    assert_eq!(complete(CTL, "snapshot --n"), ["--note"]);
    // Flags with a fixed set of names complete them, not file names.
    let severities = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    assert_eq!(complete(TAIL, "--sev ''"), severities);
    assert_eq!(complete(TAIL, "-p e"), ["emerg", "err"]);
    assert_eq!(complete(TAIL, "--fac authp"), ["authpriv"]);
    assert_eq!(
        complete(DAEMON, "--trigger-action ''"),
        ["snapshot", "pause"]
    );
    assert_eq!(complete(DAEMON, "-rate-limit-keep cr"), ["crit"]);
    // One-dash long flags, as circologd's are written.
    assert_eq!(
        complete(DAEMON, "-buffer-"),
        ["-buffer-size", "-buffer-bytes"]
    );
    assert_eq!(complete(DAEMON, "-trigger-action p"), ["pause"]);
    assert_eq!(complete(TAIL, "-merge"), ["-merge-window"]);
    assert_eq!(complete(TAIL, "-fmt j"), ["json"]);
    assert_eq!(complete(CTL, "pause -fo"), ["-for"]);
    // fish: the same, through its own completion engine.
    let fish = |bin: &str, line: &str| -> Vec<String> {
        let script = dir.path().join(format!("{}.fish", name_of(bin)));
        let command = format!("source {}; complete -C '{line}'", script.display());
        let out = run(Command::new("fish").args(["--no-config", "-c", &command]));
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(fish(TAIL, "circolog-tail --sev e"), ["emerg", "err"]);
    assert_eq!(
        fish(DAEMON, "circologd --trigger-action "),
        ["pause", "snapshot"]
    );
    assert_eq!(fish(DAEMON, "circologd -buffer-s"), ["-buffer-size"]);
    assert_eq!(fish(CTL, "circolog-ctl pause --f"), ["--for"]);
}

/// The parts of docs/reference.md made from the binaries' definitions and
/// the query parameters' table are what the binaries say now. To write
/// them again: `CIRCOLOG_WRITE_REFERENCE=1 cargo test --test integration
/// manuals::the_reference`.
#[test]
fn the_reference_says_what_the_binaries_say() {
    let mut parts = String::new();
    for bin in [DAEMON, TAIL, CTL] {
        parts.push_str(&String::from_utf8(generate(bin, "reference")).expect("utf-8"));
    }
    parts.push_str(&circolog::cli::manual::fragment(
        "query parameters",
        &circolog::cli::params::markdown_table(),
    ));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md");
    let doc = std::fs::read_to_string(&path).expect("docs/reference.md");
    let made = circolog::cli::manual::splice(&doc, &parts).expect("a place for every part");
    if std::env::var_os("CIRCOLOG_WRITE_REFERENCE").is_some() {
        std::fs::write(&path, &made).expect("write docs/reference.md");
        return;
    }
    assert!(
        doc == made,
        "docs/reference.md is out of date: run CIRCOLOG_WRITE_REFERENCE=1 cargo test \
         --test integration manuals::the_reference"
    );
}
