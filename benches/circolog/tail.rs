//! Section 10's runs: a client as a process, its output to `/dev/null`,
//! timed from start to exit, with the CPU it took.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness;

/// One run of a client.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub wall_ms: f64,
    /// User and system time of the process.
    pub cpu_ms: f64,
}

impl Run {
    /// The median of each figure on its own.
    pub fn median(runs: &[Run]) -> Run {
        Run {
            wall_ms: harness::median(runs.iter().map(|r| r.wall_ms).collect()),
            cpu_ms: harness::median(runs.iter().map(|r| r.cpu_ms).collect()),
        }
    }
}

/// `circolog-tail`, next to `circologd`.
pub fn tail_path() -> Result<PathBuf, String> {
    let p = harness::circologd_path()?.with_file_name("circolog-tail");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release --bins`",
            p.display()
        ))
    }
}

/// The CPU time of the children waited for so far (`cutime` and `cstime`
/// of `/proc/self/stat`, in clock ticks of 10 ms).
fn children_cpu_ms() -> Result<f64, String> {
    let stat =
        std::fs::read_to_string("/proc/self/stat").map_err(|e| format!("/proc/self/stat: {e}"))?;
    // Fields after the command name, which is in parentheses and may
    // contain spaces: state is field 3, cutime 16, cstime 17.
    let ticks = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 2..))
        .map(|rest| {
            rest.split(' ')
                .skip(13)
                .take(2)
                .filter_map(|f| f.parse::<f64>().ok())
                .sum::<f64>()
        })
        .ok_or("/proc/self/stat: no cutime")?;
    Ok(ticks * 10.0)
}

/// Runs `cmd` with its output to `/dev/null`; it must succeed.
pub fn run(cmd: &mut Command) -> Result<Run, String> {
    let before = children_cpu_ms()?;
    let t = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let wall_ms = t.elapsed().as_secs_f64() * 1e3;
    if !status.success() {
        return Err(format!("{cmd:?}: {status}"));
    }
    Ok(Run {
        wall_ms,
        cpu_ms: children_cpu_ms()? - before,
    })
}

/// How many lines `cmd` prints; it must succeed.
pub fn lines(cmd: &mut Command) -> Result<usize, String> {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", out.status));
    }
    Ok(memchr::memchr_iter(b'\n', &out.stdout).count())
}

/// The receive time of the `n`th newest message in the ring of `query`.
pub fn received_of_last(query: &Path, n: u64) -> Result<String, String> {
    let (code, body) =
        harness::http_get(query, &format!("/?fmt=json&l={n}"), Duration::from_secs(60))
            .map_err(|e| format!("GET /: {e}"))?;
    let first: serde_json::Value = body
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| serde_json::from_slice(l).ok())
        .ok_or(format!("GET /?l={n}: HTTP {code}, no message"))?;
    first["received"]
        .as_str()
        .map(str::to_string)
        .ok_or(format!("GET /?l={n}: no received time"))
}
