//! Command-line conventions shared by the three binaries: Go-style single-dash
//! long flags, sizes and durations, and the default socket paths.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// The long flags of a binary, as its clap definition names them, that
/// may also be written Go-style with one dash (`-buffer-size 10`,
/// `-buffer-size=10`). Users of the original circolog have these command
/// lines in their unit files; they keep working unchanged.
///
/// Derived, never listed: every long name and alias of every argument of
/// the command and of its subcommands, so that a flag added to the
/// definition takes one dash too.
#[derive(Clone, Debug)]
pub struct LongFlags {
    names: Vec<String>,
    /// The command has no short flag of its own: then every `-word` is a
    /// long flag, and an unknown one is reported by its whole name
    /// (`--no-such-flag`, not `-n`).
    every_word: bool,
}

impl LongFlags {
    /// The long flags of `cmd` and of all its subcommands, clap's own
    /// `--help` and `--version` included.
    pub fn of(cmd: &clap::Command) -> LongFlags {
        let mut built = cmd.clone();
        built.build();
        let mut flags = LongFlags {
            names: Vec::new(),
            every_word: !has_short(cmd),
        };
        flags.add(&built);
        flags.names.sort();
        flags.names.dedup();
        flags
    }

    fn add(&mut self, cmd: &clap::Command) {
        for arg in cmd.get_arguments() {
            self.names.extend(arg.get_long().map(str::to_string));
            let aliases = arg.get_all_aliases().into_iter().flatten();
            self.names.extend(aliases.map(str::to_string));
        }
        for sub in cmd.get_subcommands() {
            self.add(sub);
        }
    }

    /// Whether every `-word` is a long flag: the command has no short flag.
    pub fn every_word(&self) -> bool {
        self.every_word
    }

    /// Every long name, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Rewrites Go-style `-flag` / `-flag=value` arguments into `--flag`
    /// for clap. Arguments after `--` are left alone, and so is anything
    /// that is not a long flag (`-n 5`, `-f` and negative numbers keep
    /// their meaning), unless the command has no short flags at all.
    pub fn rewrite(&self, args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
        let mut out = Vec::new();
        let mut rest = false;
        for arg in args {
            let long = !rest && arg.to_str().is_some_and(|s| self.is_one_dash_long(s));
            rest |= arg == "--";
            if long {
                let mut a = OsString::from("-");
                a.push(&arg);
                out.push(a);
            } else {
                out.push(arg);
            }
        }
        out
    }

    fn is_one_dash_long(&self, arg: &str) -> bool {
        let Some(body) = arg.strip_prefix('-').filter(|b| !b.starts_with('-')) else {
            return false;
        };
        let name = body.split_once('=').map_or(body, |(n, _)| n);
        if self.every_word {
            // `-h`, `-V` and `-5` stay what they are.
            name.len() > 1 && name.starts_with(|c: char| c.is_ascii_alphabetic())
        } else {
            self.names.iter().any(|n| n == name)
        }
    }
}

/// Whether the definition of `cmd` or of a subcommand has a short flag
/// (clap's own `-h` and `-V`, added when it is built, do not count).
fn has_short(cmd: &clap::Command) -> bool {
    cmd.get_arguments().any(|a| a.get_short().is_some()) || cmd.get_subcommands().any(has_short)
}

/// Parses the process's command line into `P`, one-dash long flags
/// included (see [`LongFlags`]); exits with clap's message on a bad one.
pub fn parse<P: clap::Parser>() -> P {
    P::parse_from(LongFlags::of(&P::command()).rewrite(std::env::args_os()))
}

/// The long flags of `cmd` (and of its subcommands) whose one-dash forms
/// are not parsed exactly as their two-dash forms, each with both
/// outcomes: empty when [`LongFlags`] covers every flag. Each flag is
/// tried alone, after the subcommands that lead to it, with the value `1`
/// when it takes one, both as `-flag 1` and `-flag=1` (a bad value must
/// fail the same way too).
pub fn one_dash_differences(cmd: &clap::Command) -> Vec<String> {
    let mut built = cmd.clone();
    built.build();
    differences(&built, &LongFlags::of(cmd))
}

fn differences(cmd: &clap::Command, flags: &LongFlags) -> Vec<String> {
    let outcome = |argv: &[String]| match cmd.clone().try_get_matches_from(argv) {
        Ok(m) => format!("{m:?}"),
        Err(e) => e.to_string(),
    };
    let mut out = Vec::new();
    let mut commands = vec![(vec![cmd.get_name().to_string()], cmd)];
    while let Some((path, sub)) = commands.pop() {
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            let takes_value = arg.get_action().takes_values()
                && arg.get_num_args().is_none_or(|n| n.min_values() > 0);
            let forms: Vec<Vec<String>> = match (takes_value, arg.is_require_equals_set()) {
                (false, _) => vec![vec![long.to_string()]],
                (true, true) => vec![vec![format!("{long}=1")]],
                (true, false) => vec![
                    vec![long.to_string(), "1".into()],
                    vec![format!("{long}=1")],
                ],
            };
            for form in forms {
                let with = |dashes: &str| -> Vec<String> {
                    let flag = format!("{dashes}{}", form[0]);
                    path.iter()
                        .cloned()
                        .chain(std::iter::once(flag))
                        .chain(form[1..].iter().cloned())
                        .collect()
                };
                let (two, one) = (with("--"), with("-"));
                let rewritten: Vec<String> = flags
                    .rewrite(one.iter().map(OsString::from))
                    .into_iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                let (want, got) = (outcome(&two), outcome(&rewritten));
                if want != got || want.contains("unexpected argument") {
                    out.push(format!("{one:?}: {got}\nwhile {two:?}: {want}"));
                }
            }
        }
        for s in sub.get_subcommands() {
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            commands.push((p, s));
        }
    }
    out
}

/// A value parser that accepts what `P` accepts, with `P`'s own errors,
/// and offers `values` to shell completion: a flag such as `--sev`, which
/// takes the names of a fixed set and more (`!err`, `3`, `warn`),
/// completes the names instead of file names. Give its argument
/// `hide_possible_values`, so that the help keeps its own words.
#[derive(Clone, Debug)]
pub struct Suggest<P> {
    parser: P,
    values: &'static [&'static str],
}

impl<P> Suggest<P> {
    pub const fn new(parser: P, values: &'static [&'static str]) -> Self {
        Suggest { parser, values }
    }
}

/// `--sev`'s names, as a string.
pub fn suggest_str(values: &'static [&'static str]) -> Suggest<clap::builder::StringValueParser> {
    Suggest::new(clap::builder::StringValueParser::new(), values)
}

impl<P> clap::builder::TypedValueParser for Suggest<P>
where
    P: clap::builder::TypedValueParser,
{
    type Value = P::Value;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        self.parser.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            self.values
                .iter()
                .map(|v| clap::builder::PossibleValue::new(*v)),
        ))
    }
}

/// Splits `64M` into 64 and `M`.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    Some((num.parse().ok()?, unit))
}

/// Parses a size such as `64M`, `1G`, `16K`, `2048`, `64MiB` (binary units).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let (n, unit) = number_and_unit(s)
        .ok_or_else(|| format!("bad size {s:?}: expected a number with an optional K, M or G"))?;
    let mult: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => {
            return Err(format!(
                "bad size {s:?}: unknown unit {unit:?} (use K, M or G)"
            ));
        }
    };
    n.checked_mul(mult)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| format!("size {s:?} is too large"))
}

const UNITS: [(u64, &str); 4] = [
    (1 << 40, "T"),
    (1 << 30, "G"),
    (1 << 20, "M"),
    (1 << 10, "K"),
];

/// A size as a flag takes it, exactly: `64M`, `16K`, or plain bytes when no
/// unit divides it (`parse_size` reads it back to the same number).
pub fn size_flag(bytes: u64) -> String {
    UNITS
        .iter()
        .find(|(mult, _)| bytes >= *mult && bytes.is_multiple_of(*mult))
        .map_or_else(
            || bytes.to_string(),
            |(mult, unit)| format!("{}{unit}", bytes / mult),
        )
}

/// A size the way a user writes one (`500G`, `64M`, `1025K`): a whole
/// number of the largest binary unit that gives a short one, else one
/// decimal of the largest unit it exceeds (`23.5G`). Errors that mention a
/// size use this, so that `-buffer-bytes 500G` is not echoed back as
/// `536870912000`.
pub fn format_size(bytes: u64) -> String {
    let Some(largest) = UNITS.iter().position(|(size, _)| bytes >= *size) else {
        return format!("{bytes} bytes");
    };
    let whole = UNITS[largest..]
        .iter()
        .enumerate()
        .find(|(i, (size, _))| bytes.is_multiple_of(*size) && (*i == 0 || bytes / size < 10_000));
    if let Some((_, (size, unit))) = whole {
        return format!("{}{unit}", bytes / size);
    }
    let (size, unit) = UNITS[largest];
    let tenths = (u128::from(bytes) * 10 + u128::from(size) / 2) / u128::from(size);
    format!("{}.{}{unit}", tenths / 10, tenths % 10)
}

/// Parses a duration such as `10s`, `500ms`, `1m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = number_and_unit(s)
        .ok_or_else(|| format!("bad duration {s:?}: expected e.g. 10s, 500ms or 2m"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => n
            .checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("duration {s:?} is too large")),
        _ => Err(format!(
            "bad duration {s:?}: unknown unit {unit:?} (use ms, s or m)"
        )),
    }
}

/// Parses a file mode such as `0660` or `660` (octal).
pub fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("bad socket mode {s:?}: expected octal such as 0660"))
}

/// Where the three sockets are when no flag says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultPaths {
    /// The directory that holds them, when it is circolog's own (not `/run`).
    pub dir: Option<PathBuf>,
    pub syslog: PathBuf,
    pub query: PathBuf,
    pub ctl: PathBuf,
}

/// The file names of the three default sockets, the same in every place
/// they go, so that `ls` in any of them says what each socket is.
pub const SYSLOG_SOCKET: &str = "circolog-syslog.sock";
pub const QUERY_SOCKET: &str = "circolog-query.sock";
pub const CTL_SOCKET: &str = "circolog-ctl.sock";

/// The default socket paths, the same for the daemon and its clients: as
/// root `/run/circolog-{syslog,query,ctl}.sock`; otherwise the same names
/// under `$XDG_RUNTIME_DIR/circolog/`, or under the private
/// `/tmp/circolog-UID/` when `XDG_RUNTIME_DIR` is unset.
pub fn default_paths() -> DefaultPaths {
    let uid = rustix::process::geteuid();
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    default_paths_for(uid.is_root(), uid.as_raw(), xdg)
}

fn default_paths_for(root: bool, uid: u32, xdg: Option<OsString>) -> DefaultPaths {
    let (base, dir) = if root {
        (PathBuf::from("/run"), None)
    } else {
        let dir = match xdg {
            Some(x) => PathBuf::from(x).join("circolog"),
            None => PathBuf::from(format!("/tmp/circolog-{uid}")),
        };
        (dir.clone(), Some(dir))
    };
    DefaultPaths {
        syslog: base.join(SYSLOG_SOCKET),
        query: base.join(QUERY_SOCKET),
        ctl: base.join(CTL_SOCKET),
        dir,
    }
}

/// What start-up says when listener flags were given but no `-ctl-socket`:
/// `circolog-ctl` cannot reach this daemon, and the signals still work.
pub fn no_control_socket_notice(pid: u32) -> String {
    format!(
        "circologd: no control socket (no -ctl-socket given), so circolog-ctl cannot reach \
         this daemon; signals still work: kill -USR1 {pid} toggles pause, kill -TERM {pid} stops"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.into_string().expect("utf-8"))
            .collect()
    }

    /// A command with short flags, a subcommand and an alias, as the
    /// clients have.
    fn client() -> clap::Command {
        use clap::{Arg, ArgAction, Command};
        Command::new("client")
            .arg(
                Arg::new("lines")
                    .short('n')
                    .long("lines")
                    .allow_negative_numbers(true),
            )
            .arg(
                Arg::new("follow")
                    .short('f')
                    .long("follow")
                    .action(ArgAction::SetTrue),
            )
            .arg(Arg::new("color").long("color").alias("colour"))
            .arg(Arg::new("query-socket").long("query-socket"))
            .subcommand(Command::new("pause").arg(Arg::new("for").long("for")))
    }

    #[test]
    fn go_style_flags_become_long_flags() {
        let flags = LongFlags::of(&client());
        assert_eq!(
            flags.names(),
            [
                "color",
                "colour",
                "follow",
                "for",
                "help",
                "lines",
                "query-socket"
            ]
        );
        let args = [
            "client",
            "-query-socket",
            "/run/a.sock",
            "-colour=always",
            "--lines",
            "3",
            "-n",
            "-5",
            "-f",
            "-unknown",
            "pause",
            "-for",
            "10m",
            "--",
            "-query-socket",
        ]
        .map(OsString::from);
        assert_eq!(
            strs(flags.rewrite(args)),
            [
                "client",
                "--query-socket",
                "/run/a.sock",
                "--colour=always",
                "--lines",
                "3",
                "-n",
                "-5",
                "-f",
                "-unknown",
                "pause",
                "--for",
                "10m",
                "--",
                "-query-socket",
            ]
        );
        assert_eq!(one_dash_differences(&client()), Vec::<String>::new());
    }

    #[test]
    fn every_word_flag_is_long_without_short_flags() {
        let cmd = clap::Command::new("circologd").arg(clap::Arg::new("tz").long("tz"));
        let args = ["circologd", "-tz", "UTC", "-no-such", "-h", "--", "-x1"].map(OsString::from);
        assert_eq!(
            strs(LongFlags::of(&cmd).rewrite(args)),
            ["circologd", "--tz", "UTC", "--no-such", "-h", "--", "-x1"]
        );
    }

    /// What the check catches: a flag left out of the list, as
    /// `circolog-ctl pause -for` and `circolog-tail -merge-window` were.
    #[test]
    fn a_flag_left_out_is_a_difference() {
        let cmd = client();
        let mut flags = LongFlags::of(&cmd);
        flags.names.retain(|n| n != "for");
        let found = differences(&cmd, &flags);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with(
                r#"["client", "pause", "-for", "1"]: error: unexpected argument '-f'"#
            ),
            "{found:?}"
        );
    }

    /// Every long flag of circologd takes one dash; the clients check
    /// theirs in their own binaries.
    #[test]
    fn every_circologd_flag_takes_one_dash() {
        use clap::CommandFactory;
        let cmd = crate::daemon::args::Args::command();
        assert_eq!(one_dash_differences(&cmd), Vec::<String>::new());
        assert!(LongFlags::of(&cmd).names().len() > 30);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("16K"), Ok(16 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5Q").is_err());
        assert!(parse_size("99999999999999999999T").is_err());
    }

    #[test]
    fn sizes_are_printed_in_flag_units() {
        assert_eq!(size_flag(64 << 20), "64M");
        assert_eq!(size_flag(1 << 30), "1G");
        assert_eq!(size_flag(3 << 40), "3T");
        assert_eq!(size_flag(1000), "1000");
        assert_eq!(size_flag(1_000_000), "1000000");
        assert_eq!(size_flag(0), "0");
        for n in [0u64, 512, 1024, 1536, 64 << 20, 5 << 40] {
            assert_eq!(parse_size(&size_flag(n)), Ok(n as usize));
        }
    }

    #[test]
    fn sizes_are_written_back_as_users_write_them() {
        assert_eq!(format_size(536_870_912_000), "500G");
        assert_eq!(format_size(25_275_990_016), "23.5G");
        assert_eq!(format_size(64 << 20), "64M");
        assert_eq!(format_size(16 << 10), "16K");
        assert_eq!(format_size(3 << 40), "3T");
        assert_eq!(format_size(1536), "1.5K");
        assert_eq!(format_size(1025 << 10), "1025K");
        assert_eq!(format_size(1000), "1000 bytes");
        assert_eq!(format_size(u64::MAX), "16777216.0T");
        for s in ["500G", "64M", "16K", "3T"] {
            assert_eq!(format_size(parse_size(s).unwrap() as u64), s);
        }
    }

    #[test]
    fn durations_and_modes() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert!(parse_mode("0999").is_err());
    }

    #[test]
    fn default_paths_for_root_and_users() {
        let root = default_paths_for(true, 0, Some("/run/user/0".into()));
        assert_eq!(root.syslog, PathBuf::from("/run/circolog-syslog.sock"));
        assert_eq!(root.query, PathBuf::from("/run/circolog-query.sock"));
        assert_eq!(root.ctl, PathBuf::from("/run/circolog-ctl.sock"));
        assert_eq!(root.dir, None);
        let user = default_paths_for(false, 1000, Some("/run/user/1000".into()));
        assert_eq!(
            user.syslog,
            PathBuf::from("/run/user/1000/circolog/circolog-syslog.sock")
        );
        assert_eq!(
            user.query,
            PathBuf::from("/run/user/1000/circolog/circolog-query.sock")
        );
        assert_eq!(user.dir, Some(PathBuf::from("/run/user/1000/circolog")));
        let bare = default_paths_for(false, 1000, None);
        assert_eq!(
            bare.ctl,
            PathBuf::from("/tmp/circolog-1000/circolog-ctl.sock")
        );
    }
}
