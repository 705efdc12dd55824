//! The manual pages and shell completions of the three binaries, and the
//! long help they share with them.
//!
//! Every binary answers `--generate man` with its page (roff) and
//! `--generate complete-bash|complete-zsh|complete-fish` with its shell
//! completion script, both made from its clap definition. What the flags
//! cannot say (sockets, APIs, signals, examples) is written once, here, as
//! [`Section`]s: the page renders them as its own sections, and `--help`
//! prints them after the flags ([`after_long_help`]), so that neither says
//! less than the other.
//!
//! A section's body is plain text in three kinds of blocks, separated by
//! blank lines: a paragraph; a literal block, whose lines start with four
//! spaces (commands, configuration); an item, whose first line starts with
//! `* ` and names the term, and whose next lines describe it.

use std::io::{self, Write};

use clap_mangen::roff::{self, Roff, roman};

use super::params;

/// What `--generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// The manual page, in roff (`man -l -` shows it)
    Man,
    /// The bash completion script
    CompleteBash,
    /// The zsh completion script
    CompleteZsh,
    /// The fish completion script
    CompleteFish,
    /// The parts of docs/reference.md made from the flags, in Markdown
    #[value(hide = true)]
    Reference,
}

/// A part of a manual page beyond the flags.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// In capitals, as a manual page's sections are.
    pub title: &'static str,
    pub body: &'static str,
}

/// Writes what `what` asks for `cmd` (the binary's clap command, with
/// [`after_long_help`] of `sections` already set) to `out`.
pub fn generate(
    what: Generate,
    mut cmd: clap::Command,
    sections: &[Section],
    out: &mut dyn Write,
) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    let shell = match what {
        Generate::Man => return man(cmd, sections, out),
        Generate::Reference => return out.write_all(reference(&cmd).as_bytes()),
        Generate::CompleteBash => clap_complete::Shell::Bash,
        Generate::CompleteZsh => clap_complete::Shell::Zsh,
        Generate::CompleteFish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name.clone(), &mut script);
    let script = String::from_utf8_lossy(&script);
    let script = match what {
        Generate::CompleteBash => bash_script(&name, &script),
        Generate::CompleteFish => fish_script(&script),
        _ => script.into_owned(),
    };
    out.write_all(script.as_bytes())
}

/// clap's bash script, mended, and taught the one-dash long flags.
///
/// For a binary whose name has a dash (`circolog-ctl`), clap names the
/// subcommands' cases `circolog__subcmd__ctl__subcmd__pause` but looks for
/// `circolog__ctl__subcmd__pause`: nothing after a subcommand completed.
/// The one-dash forms (`-buffer-s` TAB) are completed as their two-dash
/// forms, then given back with one dash; a value after one (`-fmt` TAB)
/// as after its two-dash form.
fn bash_script(name: &str, script: &str) -> String {
    let function = format!("_{}", name.replace('-', "__"));
    let wrapper = format!("{function}__one_dash");
    let mut script = script.replace(&name.replace('-', "__subcmd__"), &function[1..]);
    script = script.replace(
        &format!("complete -F {function} "),
        &format!("complete -F {wrapper} "),
    );
    script.push_str(&format!(
        r#"
# Long flags may be written with one dash (-buffer-size): complete those as
# their two-dash forms.
{wrapper}() {{
    local cur="$2" prev="$3"
    case "${{prev}}" in
        -[!-]?*) prev="-${{prev}}" ;;
    esac
    case "${{cur}}" in
        -[!-]?*)
            {function} "$1" "-${{cur}}" "${{prev}}"
            COMPREPLY=( "${{COMPREPLY[@]/#--/-}}" )
            ;;
        *)
            {function} "$1" "${{cur}}" "${{prev}}"
            ;;
    esac
}}
"#
    ));
    script
}

/// clap's fish script, with every long flag offered with one dash too
/// (fish's old-style options, `-o`).
fn fish_script(script: &str) -> String {
    let mut out = String::with_capacity(script.len() * 2);
    for line in script.split_inclusive('\n') {
        let head = line.find(" -d '").unwrap_or(line.len());
        let long = line
            .starts_with("complete -c ")
            .then(|| line[..head].find(" -l "))
            .flatten();
        match long {
            Some(at) => {
                let start = at + " -l ".len();
                let end = line[start..].find(' ').map_or(line.len(), |e| start + e);
                out.push_str(&line[..end]);
                out.push_str(" -o ");
                out.push_str(&line[start..end]);
                out.push_str(&line[end..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

fn man(cmd: clap::Command, sections: &[Section], out: &mut dyn Write) -> io::Result<()> {
    // The sections are rendered below; the page's EXTRA section would
    // repeat them as they are printed by --help.
    let cmd = cmd.after_long_help(None::<&str>).after_help(None::<&str>);
    let page = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("circolog")
        .source(format!("circolog {}", env!("CARGO_PKG_VERSION")));
    let page = if cmd.get_name() == "circologd" {
        page
    } else {
        page.section("1")
    };
    page.render_title(out)?;
    page.render_name_section(out)?;
    out.write_all(synopsis(&cmd).as_bytes())?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;
    if cmd.has_subcommands() {
        page.render_subcommands_section(out)?;
    }
    let mut roff = Roff::new();
    for section in sections {
        roff.control("SH", [section.title]);
        for block in blocks(section.body) {
            match block {
                Block::Paragraph(text) => {
                    roff.control("PP", []).text([roman(text)]);
                }
                Block::Literal(lines) => {
                    roff.control("PP", [])
                        .control("RS", ["4"])
                        .control("nf", []);
                    for line in lines {
                        roff.text([roman(line)]);
                    }
                    roff.control("fi", []).control("RE", []);
                }
                Block::Item(term, text) => {
                    roff.control("TP", [])
                        .text([roff::bold(term)])
                        .text([roman(text)]);
                }
            }
        }
    }
    roff.to_writer(out)?;
    if cmd.get_version().is_some() {
        page.render_version_section(out)?;
    }
    Ok(())
}

/// The SYNOPSIS, in roff: every flag with its value (`[--buffer-size N]`,
/// not `[--buffer-size]`), `...` after those that may be repeated. A
/// bracket is never broken across lines, nor a word hyphenated.
fn synopsis(cmd: &clap::Command) -> String {
    let lines = synopsis_lines(cmd, Style::Roff);
    format!(
        ".SH SYNOPSIS\n.nh\n.ad l\n{}\n.ad\n.hy\n",
        lines.join("\n.br\n")
    )
}

/// How the synopsis marks flags and values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Bold flags, italic values, a space that does not break between.
    Roff,
    /// As typed, for a code block, long flags with these dashes.
    Plain(&'static str),
}

impl Style {
    fn flag(self, s: &str) -> String {
        match self {
            Style::Roff => format!("\\fB{}\\fR", roff_escape(s)),
            Style::Plain(dash) => match s.strip_prefix("--") {
                Some(long) => format!("{dash}{long}"),
                None => s.to_string(),
            },
        }
    }

    fn value(self, s: &str) -> String {
        match self {
            Style::Roff => format!("\\fI{}\\fR", roff_escape(s)),
            Style::Plain(_) => s.to_string(),
        }
    }

    fn space(self) -> &'static str {
        match self {
            Style::Roff => "\\ ",
            // Wrapping (see `reference`) breaks between words only.
            Style::Plain(_) => "\u{a0}",
        }
    }
}

/// The binary's line, with its commands' lines after it.
fn synopsis_lines(cmd: &clap::Command, style: Style) -> Vec<String> {
    let mut built = cmd.clone();
    built.build();
    let mut lines = vec![synopsis_line(&[built.get_name()], &built, style)];
    if built.has_subcommands() {
        lines[0].push_str(&format!(" {}", style.value("COMMAND")));
        // Each command with its own flags; the definition's, not the
        // `help` clap adds.
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            lines.push(synopsis_line(&[cmd.get_name(), sub.get_name()], sub, style));
        }
    }
    lines
}

/// `names` (the binary, then a command) and the flags of `cmd`.
fn synopsis_line(names: &[&str], cmd: &clap::Command, style: Style) -> String {
    let mut words: Vec<String> = names.iter().map(|n| style.flag(n)).collect();
    if names.len() > 1 {
        words.insert(1, format!("[{}]", style.value("OPTIONS")));
    }
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let flags: Vec<String> = arg
            .get_short()
            .map(|s| format!("-{s}"))
            .into_iter()
            .chain(arg.get_long().map(|l| format!("--{l}")))
            .map(|n| style.flag(&n))
            .collect();
        let mut word = match value_name(arg) {
            Some(v) if flags.is_empty() => style.value(&v),
            Some(v) if optional_value(arg) => {
                format!("[{}[={}]]", flags.join("|"), style.value(&v))
            }
            Some(v) => format!("[{}{}{}]", flags.join("|"), style.space(), style.value(&v)),
            None => format!("[{}]", flags.join("|")),
        };
        if matches!(arg.get_action(), clap::ArgAction::Append) {
            word.push_str("...");
        }
        words.push(word);
    }
    words.join(" ")
}

/// `SIZE`, for a flag that takes a value.
fn value_name(arg: &clap::Arg) -> Option<String> {
    arg.get_value_names()
        .map(|v| v.join(" "))
        .filter(|_| arg.get_action().takes_values())
}

/// `-lock-memory` alone, or `-lock-memory=false`.
fn optional_value(arg: &clap::Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.min_values() == 0)
}

fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('-', "\\-")
}

// ---- the reference ----

/// The parts of docs/reference.md that are made from `cmd`'s definition,
/// each between the markers [`splice`] looks for: its synopsis (a code
/// block) and its flags (a table).
///
/// A binary whose every flag is a word (no short flag, no command:
/// circologd) is documented as it is written in unit files, with one
/// dash; the clients with two.
pub fn reference(cmd: &clap::Command) -> String {
    let name = cmd.get_name();
    let dash = if super::config::LongFlags::of(cmd).every_word() && !cmd.has_subcommands() {
        "-"
    } else {
        "--"
    };
    let mut synopsis = String::from("```\n");
    for line in synopsis_lines(cmd, Style::Plain(dash)) {
        let mut col = 0;
        for word in line.split(' ') {
            let width = word.chars().count();
            if col > 0 && col + 1 + width > 80 {
                synopsis.push_str("\n   ");
                col = 3;
            }
            if col > 0 {
                synopsis.push(' ');
                col += 1;
            }
            synopsis.push_str(word);
            col += width;
        }
        synopsis.push('\n');
    }
    synopsis = synopsis.replace('\u{a0}', " ");
    synopsis.push_str("```\n");
    let mut flags = String::from("| flag | default | meaning |\n|---|---|---|\n");
    let mut commands = vec![(String::new(), cmd)];
    commands.extend(
        cmd.get_subcommands()
            .map(|s| (format!("{} ", s.get_name()), s)),
    );
    for (prefix, c) in commands {
        for arg in c.get_arguments().filter(|a| !a.is_hide_set()) {
            // Positional words are in the synopsis; a flag has a letter,
            // a name or both.
            let forms: Vec<String> = arg
                .get_short()
                .map(|s| format!("-{s}"))
                .into_iter()
                .chain(arg.get_long().map(|long| format!("{dash}{long}")))
                .collect();
            if forms.is_empty() {
                continue;
            }
            let value = match (value_name(arg), optional_value(arg)) {
                (Some(v), true) => format!("[={v}]"),
                (Some(v), false) => format!(" {v}"),
                (None, _) => String::new(),
            };
            let forms: Vec<String> = forms
                .iter()
                .map(|f| format!("`{prefix}{f}{value}`"))
                .collect();
            let default = match arg.get_action() {
                clap::ArgAction::SetTrue => String::new(),
                _ => arg
                    .get_default_values()
                    .iter()
                    .map(|v| format!("`{}`", v.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            // Paragraphs run on in one cell: the help's first line, a
            // title without its stop, gets one.
            let mut meaning = help
                .split("\n\n")
                .map(|p| {
                    let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
                    match p.ends_with(['.', ':', ')', '!', '?']) {
                        true => p,
                        false => p + ".",
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            if arg.get_long_help().is_none() {
                // One line alone reads as before, without a stop.
                meaning = meaning.trim_end_matches('.').to_string();
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| format!("`{}`", v.get_name()))
                .collect();
            if !values.is_empty()
                && !arg.is_hide_possible_values_set()
                && arg.get_action().takes_values()
            {
                meaning = format!("{}: {}", meaning.trim_end_matches('.'), values.join(", "));
            }
            flags.push_str(&format!(
                "| {} | {default} | {} |\n",
                forms.join(", ").replace('|', "\\|"),
                meaning.replace('|', "\\|")
            ));
        }
    }
    format!(
        "{}{synopsis}{END}\n{}{flags}{END}\n",
        begin(&format!("{name} synopsis")),
        begin(&format!("{name} flags")),
    )
}

/// Where a generated part begins: `<!-- generated: NAME -->`.
fn begin(name: &str) -> String {
    format!("<!-- generated: {name} -->\n")
}

/// Where every generated part ends.
const END: &str = "<!-- end of generated part -->";

/// Named parts, each between its [`begin`] and [`END`].
pub fn fragment(name: &str, body: &str) -> String {
    format!("{}{body}{END}\n", begin(name))
}

/// `doc` with each of `parts` (as [`reference`] and [`fragment`] write
/// them) in place of the part of the same name; an error names a part
/// that `doc` has no place for.
pub fn splice(doc: &str, parts: &str) -> Result<String, String> {
    let mut doc = doc.to_string();
    let mut rest = parts;
    while let Some(at) = rest.find("<!-- generated: ") {
        let head_end = rest[at..].find(" -->\n").ok_or("an unended marker")? + at + 5;
        let head = &rest[at..head_end];
        let body_end = rest[head_end..].find(END).ok_or("a part without its end")? + head_end;
        let body = &rest[head_end..body_end];
        rest = &rest[body_end + END.len()..];
        let start = doc
            .find(head)
            .ok_or_else(|| format!("no place for {}", head.trim_end()))?
            + head.len();
        let end = doc[start..]
            .find(END)
            .ok_or_else(|| format!("{} has no end", head.trim_end()))?
            + start;
        doc.replace_range(start..end, body);
    }
    Ok(doc)
}

/// The text `--help` prints after the flags: every section, wrapped to 80
/// columns, in the layout clap uses for the flags.
pub fn after_long_help(sections: &[Section]) -> String {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&heading(section.title));
        out.push_str(":\n");
        for (j, block) in blocks(section.body).into_iter().enumerate() {
            if j > 0 {
                out.push('\n');
            }
            match block {
                Block::Paragraph(text) => wrap(&text, 2, &mut out),
                Block::Literal(lines) => {
                    for line in lines {
                        out.push_str("      ");
                        out.push_str(line);
                        out.push('\n');
                    }
                }
                Block::Item(term, text) => {
                    out.push_str("  ");
                    out.push_str(&term);
                    out.push('\n');
                    wrap(&text, 10, &mut out);
                }
            }
        }
    }
    out
}

/// `SIGNALS` as `Signals`, as clap writes `Options`.
fn heading(title: &str) -> String {
    let mut chars = title.chars();
    chars
        .next()
        .map(|c| c.to_string() + &chars.as_str().to_lowercase())
        .unwrap_or_default()
}

/// Appends `text` wrapped to 80 columns, each line indented by `indent`.
fn wrap(text: &str, indent: usize, out: &mut String) {
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > indent && col + 1 + word.len() > 80 {
            out.push('\n');
            col = 0;
        }
        if col == 0 {
            out.extend(std::iter::repeat_n(' ', indent));
            col = indent;
        } else {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.chars().count();
    }
    if col > 0 {
        out.push('\n');
    }
}

enum Block<'a> {
    Paragraph(String),
    Literal(Vec<&'a str>),
    Item(String, String),
}

/// A chunk that is only this stands for the query parameters
/// ([`params::QUERY_PARAMETERS`]): one item each, and what the lists share.
const QUERY_PARAMETERS: &str = "@query-parameters";

fn blocks(body: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    for chunk in body.split("\n\n") {
        if chunk.trim() == QUERY_PARAMETERS {
            for p in params::QUERY_PARAMETERS {
                out.push(Block::Item(params::plain(p.usage), sentence(p.text)));
            }
            out.push(Block::Paragraph(params::plain(params::LISTS)));
            continue;
        }
        let lines: Vec<&str> = chunk.lines().filter(|l| !l.trim().is_empty()).collect();
        let Some(first) = lines.first() else {
            continue;
        };
        if let Some(term) = first.strip_prefix("* ") {
            out.push(Block::Item(term.to_string(), join(&lines[1..])));
        } else if first.starts_with("    ") {
            out.push(Block::Literal(
                lines
                    .iter()
                    .map(|l| l.strip_prefix("    ").unwrap_or(l))
                    .collect(),
            ));
        } else {
            out.push(Block::Paragraph(join(&lines)));
        }
    }
    out
}

/// `the last N` as `The last N.`, without its backticks.
fn sentence(text: &str) -> String {
    let text = params::plain(text);
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

fn join(lines: &[&str]) -> String {
    lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
}

// ---- circologd ----

/// `circologd --help`'s description, and its page's.
pub const CIRCOLOGD_ABOUT: &str = "\
circologd keeps the most recent syslog messages in RAM only and serves them \
over HTTP and websocket. A host's main syslog daemon (syslog-ng, rsyslog), or \
any program that sends syslog, forwards messages to it; it keeps them in an \
arena allocated at start-up, evicting the oldest, and never writes one to \
disk. The arena is excluded from core dumps, the process is not dumpable, and \
with -lock-memory the arena is never swapped out. Detailed logs, kept briefly.

Every flag may be written -flag VALUE (as in the original Go circolog, whose \
command lines are in users' unit files), --flag VALUE or --flag=VALUE.";

/// What `circologd`'s page says beyond its flags.
pub const CIRCOLOGD: &[Section] = &[
    Section {
        title: "SOCKETS",
        body: "\
With no listener flag at all (-syslogd-socket, -syslog-addr, -query-socket, \
-query-addr, -ctl-socket) circologd listens on its defaults and prints them. As \
root: /run/circolog-syslog.sock, /run/circolog-query.sock and \
/run/circolog-ctl.sock. Otherwise the same three names under \
$XDG_RUNTIME_DIR/circolog/, or under /tmp/circolog-UID/ when XDG_RUNTIME_DIR is \
unset (a directory created private, mode 0700). circolog-tail and circolog-ctl \
look in the same places, so on a fresh machine circologd in one terminal and \
circolog-tail -f in another just work.

When listener flags are given but no -ctl-socket, there is no control socket, \
and start-up says so; the signals still work.

Every line printed at start-up names the real address: a port 0 is printed as \
the port the kernel chose. A socket file left behind by a daemon that died is \
replaced; one that a live process answers on is refused, and so is a path that \
is not a socket.

The syslog datagram socket is mode 0666, like /dev/log. The query and control \
sockets are created 0600 (0660 with -socket-group; -socket-mode overrides), and \
every connection is checked with SO_PEERCRED whatever the file mode: root and \
the daemon's own user always, members of -socket-group when given, nobody else \
(403). A -query-addr off loopback is warned about at start-up: anyone who can \
reach it can read the logs.",
    },
    Section {
        title: "INPUT",
        body: "\
One datagram is one message; trailing line feeds, carriage returns and NUL \
bytes are trimmed. Over TCP (-syslog-addr) each frame is octet-counted (RFC \
6587, LEN SP MSG) or newline-framed, detected per frame; one slow or broken \
sender never stalls the others.

RFC 5424, RFC 3164 (with the variants devices send: no PRI, no timestamp or \
hostname, an RFC 3339 time, a year, Cisco forms) and the form glibc syslog(3) \
writes to /dev/log are recognised per message. A message that parses as \
neither is stored anyway, whole, as user.notice marked malformed. RFC 3164 \
dates carry no year and no zone: the year nearest to now is taken, and the \
zone from -tz.

On unix datagram sockets the sender's pid, uid and gid come from the kernel \
(SO_PASSCRED) and are stored with the message. Every message gets a seq, \
strictly increasing for the life of the process and never reused, and a \
receive time; each process has an epoch (its start time in microseconds), so \
that a client seeing a new one knows the seqs started again. A message longer \
than -max-message-size is truncated and marked. While paused, every message \
is still read, so that senders never block, and discarded, and counted.

A message received on a local unix socket without a hostname (glibc \
syslog(3), journald's forward) is shown with this host's name, and host= \
sees that name.

With -kmsg the kernel's log buffer, /dev/kmsg, is read too (journald does not \
forward kernel messages): facility and severity from the record, app kernel, \
this host's name, the record's own time (its monotonic stamp plus the boot \
time), transport kmsg, continuation lines kept as the structured-data element \
kmsg. Records the kernel overwrote before they were read are counted and said \
in one line. After a restart that keeps the ring, reading goes on after the \
last record the old process read: none is stored twice. At start, one warning line says when net.unix.max_dgram_qlen is \
below 512 and a unix datagram input exists: senders that do not wait, such as \
journald, lose bursts with a shorter queue.

With -rate-limit N/DURATION (e.g. 1000/10s; off by default) each sender may \
store N messages per DURATION. Who a sender is, -rate-limit-by says: app (the \
default: the message's hostname and app-name, which a relay such as \
syslog-ng or journald keeps), unit (the systemd unit of the pid on unix \
datagram sockets, from its cgroup), pid (the pid on unix datagram sockets, \
from SO_PASSCRED; unit and pid fall back to the source address on UDP and \
TCP, whatever the port) or host (the hostname); the notice names it that \
way (app sshd on web01, unit nginx.service, pid 4242). \
More are read and dropped, and when the sender's window ends one notice is \
stored in their place: syslog.warning, app circologd, MSGID suppressed, \
\"suppressed N messages from SENDER\". Messages at or above -rate-limit-keep \
(default crit) are never limited. At most 4096 senders are tracked, the least \
recently seen forgotten first; suppressed messages are counted per transport \
in /status and /metrics.",
    },
    Section {
        title: "QUERY API",
        body: "\
HTTP/1.1 on the query socket (-query-socket) or address (-query-addr), with \
keep-alive, pipelining and HEAD.

* GET /
The messages in memory, oldest first, streamed in pieces: a large dump never \
holds up ingestion or other clients. A dump whose messages are cleared (or \
whose snapshot is deleted) while it is read ends without its last chunk, and \
the connection closes: the client sees an error, not a complete answer.

* GET /ws
A websocket (RFC 6455): the backlog, then every new matching message as it \
arrives, one text frame each. A follower that reads slower than messages \
arrive is a cursor into the ring: it never slows ingestion, and when the ring \
overwrites what it has not read yet it skips ahead and is told how many it \
missed. It is also told of every pause, resume and snapshot taken: in json \
{\"paused\":true,\"epoch\":E}, {\"paused\":false,...} and \
{\"snapshot\":ID,\"why\":W,...}; otherwise a syslog.info line from app \
circologd with MSGID paused, resumed or snapshot.

* GET /histogram
How many messages matched, per time bucket, by severity, as JSON: \
{\"from\": T, \"until\": T, \"bucket_us\": N, \"buckets\": [{\"start\": T, \
\"counts\": {\"emerg\": N, ..., \"debug\": N}}, ...], \"paused\": B, \
\"resumes_at\": T, \"paused_by\": H, \"paused_by_trigger\": Q}. buckets=N \
equal spans (default 60, 1 to 1000, else 400) between from= and until= \
(default: the oldest and newest message); every parameter of GET / applies, \
l=N counts the last N matches, fmt= is ignored. Empty: buckets [] and from, \
until null. Counted from the index a slice at a time. Also \
GET /snapshots/ID/histogram.

* GET /ui
The live viewer page (no external assets) that follows /ws: a volume chart \
by severity from /histogram (drag to select a time range, click a bar to \
zoom), every filter in a bar that folds on a narrow screen and in the page's \
address, click a host, app, unit or severity to filter by it, the daemon's \
state (live, paused and until when, disconnected), and the snapshots.

* GET /snapshots/ID/
Snapshot ID, dumped like GET / with the same parameters: 404 when there is \
no such snapshot, 503 while it is still being taken. GET /snapshots lists \
them, as on the control socket.

They take these parameters, as do -trigger and -export-query:

@query-parameters

JSON fields: seq, epoch, received, transport, timestamp (or null), facility, \
severity, hostname, app_name, proc_id, msg_id, cred_pid, cred_uid, cred_gid \
and unit (when known), truncated and malformed (when true), structured_data (an object \
of objects, or null) and message. Responses carry X-Circolog-Last-Seq (the \
newest seq given when the response started, also after a clear; absent \
while no message was ever stored) and \
X-Circolog-Epoch; a dump asked since a seq whose successors were already \
evicted carries X-Circolog-Skipped: N. Over TCP, a /ws or /ui request whose \
Origin does not match its Host is refused (403).",
    },
    Section {
        title: "CONTROL API",
        body: "\
HTTP/1.1 on the control socket (-ctl-socket). Every answer is the JSON of \
GET /status after the change (the snapshot requests: the snapshot, or the \
list); circolog-ctl is its client.

* POST /pause/toggle
Toggle pause (the original circolog's endpoint).

* POST /pause, POST /resume
Set it; idempotent.

* POST /pause?for=DURATION
Pause, and resume by itself after DURATION (90s, 10m, 1h); /status shows \
resume_at. A bad duration is a 400. /status says how a pause came in \
paused_by: signal (SIGUSR1), api (this API) or trigger (paused_by_trigger \
names it).

* POST /logs/clear
Discard every message and overwrite its bytes; seqs go on; followers stay \
connected and are told.

* GET /status
Version, paused, uptime, capacity and use (messages, bytes), first and last \
seq (last_seq is the newest seq ever given, also after a clear; absent, like \
first_seq, when there is none), oldest_received (when the oldest stored \
message was received, absent when the ring is empty), counters (received by \
transport, dropped while paused, truncated, malformed, skipped for \
followers, clears, evicted by room or age) and clients.

* GET /metrics
The same counters in the Prometheus text format.

* POST /snapshot?note=TEXT
Take a snapshot now; answers its row (id, why, taken at, first and last seq, \
messages, bytes, note, what did not fit).

* GET /snapshots
The list of snapshots, oldest first, streamed a slice of rows at a time \
like a dump.

* DELETE /snapshots/ID, POST /snapshots/clear
Delete one (404 when unknown) or all, overwriting their bytes.",
    },
    Section {
        title: "SNAPSHOTS AND TRIGGERS",
        body: "\
A snapshot is a copy of the ring's messages with their seqs, in a second \
arena of -snapshot-bytes (default 16M; 0 disables snapshots) allocated at \
start-up, excluded from core dumps and locked with -lock-memory like the \
ring's; never on disk. At most what fits is kept, the newest, and at most \
-snapshots (default 8, at most 1024), the oldest going first. The event loop copies about \
1 MiB a turn, so ingestion never waits longer. Snapshots survive \
POST /logs/clear. They are taken by POST /snapshot, by SIGUSR2 and by \
triggers, and read with GET /snapshots/ID/ on the query socket or \
circolog-tail --snapshot ID.

-trigger QUERY (repeatable; the query parameters of GET /, e.g. sev=crit or \
app=kernel&grep=Oops) fires on a stored message that matches. After its \
post-roll, -trigger-after N more messages or a DURATION (default 100), it \
acts as -trigger-action says: snapshot (the default; why trigger, with the \
message's seq and the query) or pause. It does not fire again within \
-trigger-holdoff (default 60s) of acting, and a pause trigger never pauses \
a paused daemon again. Firings and held-off matches are in /status and \
/metrics.",
    },
    Section {
        title: "SIGNALS",
        body: "\
* SIGUSR1
Toggle pause, as POST /pause/toggle.

* SIGUSR2
Take a snapshot.

* SIGHUP
Ignored (said on standard error): circologd keeps no file to reopen.

* SIGTERM, SIGINT
Stop: followers get a close frame, the socket files circologd created are \
removed, and it exits 0.",
    },
    Section {
        title: "SYSTEMD",
        body: "\
Sockets passed by systemd (LISTEN_FDS, LISTEN_FDNAMES) are used: by their \
FileDescriptorName= (syslog, query, ctl; syslog.socket, the name of systemd's \
own syslog.socket, is a syslog input named with its path at start-up), else \
by matching the path or address \
of a flag, else by kind (datagram sockets are syslog inputs); unix datagram \
inputs get SO_PASSCRED. With NOTIFY_SOCKET set it sends READY=1 once it \
serves, STOPPING=1 on stop, and WATCHDOG=1 at half of WATCHDOG_USEC from the \
event loop itself. The repository \
ships circologd.socket and circologd.service (dist/systemd/), which work as \
they are: Type=notify, the three sockets with their names and modes, a \
dedicated user, and the hardening a log daemon deserves; and \
circologd-journal.service, which makes circologd the host's syslog.service \
where journald is the main logger (Alias=syslog.service, activated by \
systemd's syslog.socket, with -kmsg), not enabled by default.",
    },
    Section {
        title: "ERRORS AND LIMITS",
        body: "\
Start-up errors are one line and a non-zero exit: an address or socket in use, \
no permission, io_uring not available (and why: kernel too old, \
kernel.io_uring_disabled, a seccomp profile), an arena larger than memory, a \
lock that RLIMIT_MEMLOCK refuses. Sizes are written as -buffer-bytes takes \
them (64M, 1G). Bad input from anyone is a clear error, never a crash: a \
request head over -max-head-bytes is a 431; a client that has not sent its \
head within -head-timeout, or idles on keep-alive for -idle-timeout, is \
closed; a request body must arrive within -head-timeout too; a client that \
takes none of a response for -write-timeout is closed; past -max-clients new \
clients get 503, past -max-senders new TCP senders are closed at once; a \
websocket frame over -max-ws-frame closes with 1009, an upgrade without \
Sec-WebSocket-Version 13 is 426. On a loopback -query-addr, a request whose \
Host is not a loopback name is 403. At start-up the soft RLIMIT_NOFILE is \
raised to the hard limit, and limits that cannot fit it, or that make the \
daemon unusable (-max-clients 0), are refused. A bad -trigger query, post-roll, action or \
holdoff, a bad -rate-limit, -snapshots 0 or over 1024, or a snapshot trigger with \
-snapshot-bytes 0 is a start-up error.",
    },
    Section {
        title: "EXAMPLES",
        body: "\
The original circolog's command line works unchanged:

    circologd -syslogd-socket /run/circolog-syslog.sock -query-socket /run/circolog-query.sock

Feed it from syslog-ng, then read it:

    destination d_circolog { unix-dgram(\"/run/circolog-syslog.sock\" flags(syslog-protocol)); };
    logger -u /run/circolog-syslog.sock 'hello'
    curl --unix-socket /run/circolog-query.sock 'localhost/?l=50&sev=err&fmt=json'

A query address for the browser, and the live page:

    circologd -query-addr 127.0.0.1:8514
    xdg-open http://127.0.0.1:8514/ui

Pause while looking, then resume:

    curl --unix-socket /run/circolog-ctl.sock -X POST localhost/pause
    kill -USR1 $(pidof circologd)

Catch the minute around a kernel oops by itself, and read it later:

    circologd -trigger 'app=kernel&grep=Oops' -trigger-after 1m
    circolog-tail --snapshot 1 --sev warning",
    },
    Section {
        title: "SEE ALSO",
        body: "circolog-tail(1), circolog-ctl(1), logger(1), syslog-ng(8), rsyslogd(8)",
    },
];

// ---- circolog-tail ----

/// `circolog-tail --help`'s description, and its page's.
pub const TAIL_ABOUT: &str = "\
circolog-tail prints the last messages in circologd's memory, like tail, or \
follows new ones as they arrive, like tail -f, with filters and colour. \
Without -f it prints the last N (default 10, -n -1 for all) and exits. With \
-f it follows the websocket on the query socket (the reason this client \
exists: common websocket clients cannot speak over a unix socket).

Long flags may also be written with one dash (-fmt json), as in the original \
circolog.";

/// What `circolog-tail`'s page says beyond its flags.
pub const TAIL: &[Section] = &[
    Section {
        title: "FOLLOWING",
        body: "\
With -f, -n N (default 10) is the backlog shown first, as with tail -f; -n 0 \
shows only new messages. If the daemon goes away, circolog-tail reconnects \
with backoff (100 ms doubling to 5 s) and resumes: after the last message it \
printed when the daemon is the same (same epoch), from the start of the new \
daemon's buffer when it restarted. Nothing is printed twice, nothing still in \
the ring is skipped, in every format; a resume that finds messages already \
evicted says how many are lost. Started before the daemon is up, it says so \
once and waits for it. Stopped with Ctrl-Z and continued with fg, it loses \
nothing and prints nothing about a connection. A follower that hears nothing \
for 30 s pings the daemon; no answer within 30 s more is a lost connection.

Notices (skipped messages, a cleared buffer, a pause or resume, a snapshot \
taken) go to standard output in json, and to standard error otherwise, as do \
the lines about the connection.",
    },
    Section {
        title: "SNAPSHOTS",
        body: "\
--snapshot ID prints snapshot ID (circolog-ctl snapshots lists them) instead \
of the buffer, with every filter and format; not with -f. A snapshot still \
being taken, or one that is not there, is an error line.",
    },
    Section {
        title: "FORMATS",
        body: "\
* short
The traditional Mmm dd hh:mm:ss host app[pid]: message, in the local time \
zone: the message's own time, else its receive time. The hostname is left out \
when the message has none (as logread does). The pid is the message's own, \
else the sender's as the kernel told circologd (a message on a local unix \
socket); [pid] is left out when there is neither. Control characters are escaped, so a message cannot drive the terminal.

* syslog
One RFC 5424 line per message, as circologd writes it, control characters \
escaped.

* json
One JSON object per line, as circologd writes it (see circologd(8)).

* raw
The bytes as received.

Colour (short and syslog) is on when standard output is a terminal, unless \
--color never, NO_COLOR or TERM=dumb; --color always forces it.",
    },
    Section {
        title: "SOCKETS",
        body: "\
The query socket is, by default, /run/circolog-query.sock as root, else \
$XDG_RUNTIME_DIR/circolog/circolog-query.sock, or \
/tmp/circolog-UID/circolog-query.sock when XDG_RUNTIME_DIR is unset: where \
circologd puts it when started without listener flags. --socket PATH names \
another, --addr HOST:PORT a -query-addr over TCP. Given the wrong socket (the \
control socket, a syslog input, a URL), circolog-tail says what it is; when \
nothing is there, it says which circologd runs instead, and where.",
    },
    Section {
        title: "EXIT STATUS",
        body: "\
0, also when standard output is closed early (circolog-tail | head); 2 with \
one line on standard error for anything else.",
    },
    Section {
        title: "EXAMPLES",
        body: "    circolog-tail                      # the last 10 messages
    circolog-tail -n 100 --sev warning --app nginx
    circolog-tail -f                   # follow; reconnects if the daemon restarts
    circolog-tail -f --fmt json | jq .message
    circolog-tail --socket /run/circolog-query.sock -f --grep 'Out of memory'
    circolog-tail --addr 127.0.0.1:8514 -f --fac auth,authpriv",
    },
    Section {
        title: "SEE ALSO",
        body: "circologd(8), circolog-ctl(1), tail(1), journalctl(1)",
    },
];

// ---- circolog-ctl ----

/// `circolog-ctl --help`'s description, and its page's.
pub const CTL_ABOUT: &str = "\
circolog-ctl controls circologd through its control socket: pause and resume \
storing messages, clear them, take, list and delete snapshots, or show the \
daemon's status and metrics. Every \
command prints the state after it: one line (for status, a short summary) for \
people, or with --json the daemon's JSON answer as it is. metrics prints the \
Prometheus text whatever --json says.

Long flags may also be written with one dash (-socket PATH), as in the \
original circolog.";

/// What `circolog-ctl`'s page says beyond its flags.
pub const CTL: &[Section] = &[
    Section {
        title: "COMMAND DETAILS",
        body: "\
* pause, resume, toggle
POST /pause, /resume, /pause/toggle. While paused, circologd still reads every \
message (senders never block) and discards it, and counts it; what was stored \
before stays. pause --for DURATION (90s, 10m, 1h) resumes by itself after \
DURATION.

* clear
POST /logs/clear: discard every message in memory and overwrite its bytes. \
Seqs go on; followers stay connected and are told.

* status
GET /status, summarised: paused or not (by what, until when), the memory and \
what a restart restored, how full the buffer is and how far back it reaches, \
seqs, received and the rate, the last hour's volume as a one-line chart (GET \
/histogram on the same daemon's query socket, when it has one), counters, \
suppressed messages, snapshots, triggers, the export and the clients. A part \
the daemon does not report is left out.

* metrics
GET /metrics: the counters in the Prometheus text format.

* snapshot [--note TEXT]
POST /snapshot: copy the buffer into a snapshot now, with an optional note; \
read it with circolog-tail --snapshot ID.

* snapshots
GET /snapshots: one line per snapshot: id, when, why, messages and seqs, \
bytes, note.

* snapshot-delete ID
DELETE /snapshots/ID: delete it, overwriting its bytes.",
    },
    Section {
        title: "SOCKETS",
        body: "\
The control socket is, by default, /run/circolog-ctl.sock as root, else \
$XDG_RUNTIME_DIR/circolog/circolog-ctl.sock, or \
/tmp/circolog-UID/circolog-ctl.sock when XDG_RUNTIME_DIR is unset. A circologd \
started with listener flags but no -ctl-socket has none: circolog-ctl then \
says so, with the signal that still works (kill -USR1 PID toggles pause). \
Given the query socket or a syslog input instead, it says what that is.",
    },
    Section {
        title: "EXIT STATUS",
        body: "\
0 on success; 2 with one line on standard error when the daemon is not there, \
the socket is not ours to use, or the daemon answers with an error.",
    },
    Section {
        title: "EXAMPLES",
        body: "    circolog-ctl status
    circolog-ctl pause            # look at the logs in peace
    circolog-ctl resume
    circolog-ctl pause --for 10m
    circolog-ctl snapshot --note 'before the upgrade'
    circolog-ctl snapshots
    circolog-ctl clear
    circolog-ctl status --json | jq .counters
    circolog-ctl --socket /run/circolog-ctl.sock metrics",
    },
    Section {
        title: "SEE ALSO",
        body: "circologd(8), circolog-tail(1)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[Section] = &[Section {
        title: "SIGNALS",
        body: "\
A paragraph that is long enough to be wrapped by the help text, since it goes \
well past eighty columns of text.

* SIGUSR1
Toggle pause.

    kill -USR1 $(pidof circologd)",
    }];

    #[test]
    fn help_text_is_wrapped_and_laid_out_as_clap_does() {
        let text = after_long_help(SAMPLE);
        assert!(text.starts_with("Signals:\n  A paragraph"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(
            text.contains("\n  SIGUSR1\n          Toggle pause.\n"),
            "{text}"
        );
        assert!(
            text.contains("\n      kill -USR1 $(pidof circologd)\n"),
            "{text}"
        );
    }

    #[test]
    fn the_page_has_the_sections() {
        let cmd = clap::Command::new("circologd")
            .about("the daemon")
            .arg(clap::Arg::new("tz").long("tz").help("zone"));
        let mut page = Vec::new();
        generate(Generate::Man, cmd, SAMPLE, &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH circologd 8"), "{page}");
        assert!(page.contains(".SH SIGNALS"), "{page}");
        assert!(
            page.contains(".TP\n\\fBSIGUSR1\\fR\nToggle pause."),
            "{page}"
        );
        assert!(page.contains(".nf\nkill \\-USR1"), "{page}");
        assert!(!page.contains("EXTRA"), "{page}");
    }

    #[test]
    fn generated_parts_replace_theirs_and_nothing_else() {
        let doc = "# t\n\n<!-- generated: a -->\nold\n<!-- end of generated part -->\n\ntail\n";
        let parts = fragment("a", "new\n");
        assert_eq!(
            splice(doc, &parts).unwrap(),
            "# t\n\n<!-- generated: a -->\nnew\n<!-- end of generated part -->\n\ntail\n"
        );
        assert_eq!(
            splice(doc, &fragment("b", "x\n")).unwrap_err(),
            "no place for <!-- generated: b -->"
        );
    }

    #[test]
    fn the_reference_writes_flags_as_they_are_typed() {
        use clap::{Arg, ArgAction, Command};
        let daemon = Command::new("d")
            .arg(
                Arg::new("tz")
                    .long("tz")
                    .value_name("ZONE")
                    .default_value("local")
                    .help("Zone"),
            )
            .arg(
                Arg::new("t")
                    .long("trigger")
                    .value_name("A|B")
                    .action(ArgAction::Append),
            );
        let text = reference(&daemon);
        assert!(
            text.contains("\nd [-tz ZONE] [-trigger A|B]... [-h|-help]\n"),
            "{text}"
        );
        assert!(
            text.contains("\n| `-tz ZONE` | `local` | Zone |\n"),
            "{text}"
        );
        assert!(text.contains("\n| `-trigger A\\|B` |  |  |\n"), "{text}");
        let client = daemon.arg(Arg::new("n").short('n').long("lines").value_name("N"));
        let text = reference(&client);
        assert!(text.contains("\n| `-n N`, `--lines N` |  |  |\n"), "{text}");
        // What the page's SYNOPSIS says, in roff.
        assert!(
            synopsis(&client).contains("[\\fB\\-\\-tz\\fR\\ \\fIZONE\\fR]"),
            "{}",
            synopsis(&client)
        );
    }

    #[test]
    fn every_section_renders() {
        for sections in [CIRCOLOGD, TAIL, CTL] {
            let text = after_long_help(sections);
            assert!(
                text.lines()
                    .all(|l| l.chars().count() <= 80 || l.starts_with("      "))
            );
            for s in sections {
                assert!(!blocks(s.body).is_empty(), "{}", s.title);
            }
        }
    }
}
