//! Start-up checks of the daemon's flags against themselves and the host:
//! limits that would make it unusable, tables larger than memory, clients
//! that cannot fit in the descriptor limit. Each is plain arithmetic on
//! numbers the caller read (the flags, `/proc`, `getrlimit`), and each
//! failure is one line naming the flags as the user writes them. So are
//! the lines for what the host refuses (io_uring, `mlock`, a group). At
//! the end, the few probes that read those numbers from the host
//! ([`memory`], [`raise_nofile`], [`check_io_uring`], [`lock_heap`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::config::{format_size, size_flag};

/// The documented defaults of the flags the event loop takes them from.
pub const DEFAULT_MAX_SENDERS: u64 = 1024;
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The smallest `-max-head-bytes`: a browser's upgrade request with a few
/// cookies takes about this much, and every request below it would be 431.
pub const MIN_HEAD_BYTES: usize = 1024;

/// The smallest `-max-ws-frame`: the largest payload of a control frame
/// (RFC 6455 §5.5), which every peer may send (a ping, a close with a reason).
pub const MIN_WS_FRAME: usize = 125;

/// The client limits, as the flags set them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_clients: u64,
    pub max_head_bytes: usize,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_ws_frame: usize,
}

/// Refuses limits with which no client could be served (`-max-clients 0`:
/// the owner gets 503 on every control call; `-max-head-bytes 0`: every
/// request is 431; a zero timeout closes every connection at once).
pub fn check_limits(l: &Limits) -> Result<(), String> {
    if l.max_clients == 0 {
        return Err("-max-clients 0 would refuse every client (503): it must be at least 1".into());
    }
    if l.max_head_bytes < MIN_HEAD_BYTES {
        return Err(format!(
            "-max-head-bytes {} would refuse most requests (431): it must be at least {}",
            size_flag(l.max_head_bytes as u64),
            size_flag(MIN_HEAD_BYTES as u64)
        ));
    }
    if l.max_ws_frame < MIN_WS_FRAME {
        return Err(format!(
            "-max-ws-frame {} would close followers on a ping (1009): it must be at least {MIN_WS_FRAME}",
            size_flag(l.max_ws_frame as u64)
        ));
    }
    for (flag, d) in [
        ("-head-timeout", l.head_timeout),
        ("-idle-timeout", l.idle_timeout),
        ("-write-timeout", l.write_timeout),
    ] {
        if d.is_zero() {
            return Err(format!(
                "{flag} 0 would close every connection at once: it must be more than 0"
            ));
        }
    }
    Ok(())
}

/// A table the daemon allocates at start-up, sized by flags.
#[derive(Clone, Debug)]
pub struct Table {
    /// What it is, e.g. "the arena".
    pub what: &'static str,
    /// The flags that size it, as written on a command line
    /// (`-buffer-bytes 64M`).
    pub flags: String,
    pub bytes: u64,
}

/// How much memory the daemon may use, as far as it can tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `MemTotal` of `/proc/meminfo`.
    pub host: Option<u64>,
    /// The lowest `memory.max` of the daemon's cgroup and its ancestors.
    pub cgroup: Option<u64>,
}

/// Refuses tables that together do not fit in memory, before any is
/// allocated (an allocation that fails aborts the process; one that the
/// kernel overcommits is killed later, with the ring lost).
pub fn check_memory(tables: &[Table], memory: Memory) -> Result<(), String> {
    let total = tables
        .iter()
        .fold(0u64, |sum, t| sum.saturating_add(t.bytes));
    let (limit, whose) = match (memory.host, memory.cgroup) {
        (Some(h), Some(c)) if c < h => (c, "the memory limit of its cgroup"),
        (Some(h), _) => (h, "this host's memory"),
        (None, Some(c)) => (c, "the memory limit of its cgroup"),
        (None, None) => return Ok(()),
    };
    if total < limit {
        return Ok(());
    }
    // The largest first: it is the one to lower. Tables too small to
    // matter are left out of the line.
    let mut parts: Vec<&Table> = tables.iter().collect();
    parts.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    parts.retain(|t| t.bytes >= total / 100);
    let mut list = parts
        .iter()
        .map(|t| {
            // The size is said once when the flag already says it.
            let size = format_size(t.bytes);
            match t.flags.ends_with(&format!(" {size}")) {
                true => format!("{} ({})", t.what, t.flags),
                false => format!("{} ({}: {size})", t.what, t.flags),
            }
        })
        .collect::<Vec<_>>();
    let last = list.pop().unwrap_or_default();
    let list = if list.is_empty() {
        last
    } else {
        format!("{} and {last}", list.join(", "))
    };
    let verb = if parts.len() > 1 { "need" } else { "needs" };
    let fix = parts
        .first()
        .and_then(|t| t.flags.split(' ').next())
        .map(|flag| format!(": lower {flag}"))
        .unwrap_or_default();
    Err(format!(
        "{list} {verb} {}, larger than {whose} ({}){fix}",
        format_size(total),
        format_size(limit)
    ))
}

/// `MemTotal` in bytes, from the text of `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .and_then(|kb| kb.checked_mul(1024))
}

/// The cgroup v2 directories whose `memory.max` bounds this process, from
/// the text of `/proc/self/cgroup` (its own, then each ancestor's).
pub fn cgroup_dirs(self_cgroup: &str) -> Vec<PathBuf> {
    let Some(path) = self_cgroup.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Vec::new();
    };
    let mut dir = PathBuf::from("/sys/fs/cgroup").join(path.trim().trim_start_matches('/'));
    let mut dirs = Vec::new();
    while dir.starts_with("/sys/fs/cgroup") && dir != std::path::Path::new("/sys/fs/cgroup") {
        dirs.push(dir.clone());
        if !dir.pop() {
            break;
        }
    }
    dirs
}

/// A `memory.max` value in bytes; `max` is no limit.
pub fn parse_memory_max(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// What the daemon may hold open at once, as the flags and listeners set it.
#[derive(Clone, Copy, Debug)]
pub struct Descriptors {
    /// `-max-clients` for the query API (0 when nothing serves it).
    pub query_clients: u64,
    /// `-max-clients` for the control API (0 without a control socket).
    pub ctl_clients: u64,
    /// `-max-senders` (0 without a TCP syslog listener).
    pub senders: u64,
    /// Listening and receiving sockets.
    pub listeners: u64,
}

/// Descriptors kept apart from the limits above: standard streams, the
/// io_uring instances, eventfds and signal handling, a refused client while
/// it is told 503, and the control socket's share at EMFILE.
pub const DESCRIPTOR_RESERVE: u64 = 64;

/// How many descriptors these limits may need at once.
pub fn descriptors_needed(d: &Descriptors) -> u64 {
    d.query_clients
        .saturating_add(d.ctl_clients)
        .saturating_add(d.senders)
        .saturating_add(d.listeners)
        .saturating_add(DESCRIPTOR_RESERVE)
}

/// Refuses client limits that do not fit in `RLIMIT_NOFILE` (`limit`, the
/// soft limit once raised; `None` is unlimited), saying which flag to lower
/// and to what.
pub fn check_descriptors(d: &Descriptors, limit: Option<u64>) -> Result<(), String> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let needed = descriptors_needed(d);
    if needed <= limit {
        return Ok(());
    }
    let over = needed - limit;
    let mut fixes = Vec::new();
    // -max-clients counts once for each API that has clients.
    let apis = u64::from(d.query_clients > 0) + u64::from(d.ctl_clients > 0);
    let clients = d.query_clients.max(d.ctl_clients);
    if apis > 0 {
        let lower = over.div_ceil(apis);
        if lower < clients {
            fixes.push(format!("-max-clients to {}", clients - lower));
        }
    }
    if over < d.senders {
        fixes.push(format!("-max-senders to {}", d.senders - over));
    }
    let fix = if fixes.is_empty() {
        "lower -max-clients and -max-senders".to_string()
    } else {
        format!("lower {}", fixes.join(" or "))
    };
    Err(format!(
        "-max-clients {clients} and -max-senders {} need up to {needed} open files, more than \
         the limit of {limit} (RLIMIT_NOFILE): {fix}, or raise the limit (LimitNOFILE= in the unit)",
        d.senders
    ))
}

/// The soft `RLIMIT_NOFILE` to set at start-up: the hard limit (capped by
/// the kernel's `nr_open` when the hard limit is unlimited). `None` when the
/// soft one is already as high.
pub fn raised_nofile(soft: Option<u64>, hard: Option<u64>, nr_open: Option<u64>) -> Option<u64> {
    let target = hard.or(nr_open)?;
    match soft {
        None => None,
        Some(s) if s >= target => None,
        Some(_) => Some(target),
    }
}

/// Why a socket could not be bound to `what` (a path, `UDP ADDR`, `TCP ADDR`).
pub fn bind_error(what: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::AddrInUse => format!("{what} is already in use"),
        ErrorKind::PermissionDenied => format!("no permission to listen on {what}: {e}"),
        ErrorKind::AddrNotAvailable => format!("{what} is not an address of this host"),
        _ => format!("cannot listen on {what}: {e}"),
    }
}

/// Why `-lock-memory` failed on one of the arenas (`what`, of `bytes`).
pub fn lock_error(what: &str, bytes: usize, e: &std::io::Error) -> String {
    format!(
        "cannot lock the {} {what} in RAM: {e} (raise RLIMIT_MEMLOCK, e.g. \
         LimitMEMLOCK=infinity in the unit, or run without -lock-memory)",
        format_size(bytes as u64)
    )
}

/// Why `-lock-memory` failed on the receive buffers.
pub fn lock_receive_error(e: &std::io::Error) -> String {
    format!(
        "cannot lock the receive buffers in RAM: {e} (raise RLIMIT_MEMLOCK, or run without \
         -lock-memory)"
    )
}

/// Why this process cannot use io_uring, from the error of setting one up
/// and `kernel.io_uring_disabled` (`/proc/sys/kernel/io_uring_disabled`,
/// 0 when it cannot be read).
pub fn io_uring_unavailable(err: &std::io::Error, disabled: u32) -> String {
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => {
            "the kernel has no io_uring (it needs Linux 6.0 or later, built with CONFIG_IO_URING)"
                .to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) if disabled == 2 => {
            "io_uring is disabled on this host (sysctl kernel.io_uring_disabled=2)".to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) if disabled == 1 => {
            "io_uring is restricted on this host (sysctl kernel.io_uring_disabled=1): run as \
             root or as a member of kernel.io_uring_group"
                .to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "io_uring is blocked for this process, probably by a seccomp profile (a container's \
             default profile blocks it)"
                .to_string()
        }
        Some(libc::ENOMEM) => {
            "the kernel could not allocate an io_uring (RLIMIT_MEMLOCK too low?)".to_string()
        }
        _ => err.to_string(),
    };
    format!("io_uring is not available: {why}")
}

/// The id of `-socket-group`, from its number or its name; `etc_group`
/// reads `/etc/group`, only when a name must be looked up.
pub fn group_id(
    name: &str,
    etc_group: impl FnOnce() -> std::io::Result<String>,
) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let groups =
        etc_group().map_err(|e| format!("cannot read /etc/group to find group {name:?}: {e}"))?;
    groups
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(name))
                .then(|| f.nth(1).and_then(|g| g.parse().ok()))
                .flatten()
        })
        .ok_or_else(|| format!("unknown group {name:?} for -socket-group"))
}

/// Fails with the reason when this process cannot use io_uring.
pub fn check_io_uring() -> Result<(), String> {
    let err = match io_uring::IoUring::new(2) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    Err(io_uring_unavailable(&err, disabled))
}

/// With `-lock-memory`, every copy of a message must stay out of swap, not
/// only the arenas and receive buffers: the heap's too (dump and frame
/// buffers, TCP framing, the export queue). All pages, now and later, are
/// locked when the process may lock without bound (root, or an unlimited
/// RLIMIT_MEMLOCK, as the shipped unit sets); else a later allocation
/// could fail, and the heap stays unlocked. Returns whether it is locked.
pub fn lock_heap() -> bool {
    use rustix::process::{Resource, getrlimit};
    let unlimited = getrlimit(Resource::Memlock).current.is_none();
    let root = rustix::process::geteuid().is_root();
    (unlimited || root)
        && rustix::mm::mlockall(
            rustix::mm::MlockAllFlags::CURRENT | rustix::mm::MlockAllFlags::FUTURE,
        )
        .is_ok()
}

/// How much memory this process may use, as `/proc` and its cgroups say.
pub fn memory() -> Memory {
    let read = |path: &std::path::Path| std::fs::read_to_string(path).ok();
    let host = read("/proc/meminfo".as_ref()).and_then(|t| parse_meminfo(&t));
    let cgroup = read("/proc/self/cgroup".as_ref())
        .map(|t| cgroup_dirs(&t))
        .unwrap_or_default()
        .iter()
        .filter_map(|dir| read(&dir.join("memory.max")))
        .filter_map(|t| parse_memory_max(&t))
        .min();
    Memory { host, cgroup }
}

/// Raises the soft descriptor limit to the hard one (systemd starts services
/// at 1024) and returns the limit in force (`None`: unlimited).
pub fn raise_nofile() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if let Some(raised) = raised_nofile(limit.current, limit.maximum, nr_open) {
        let old = limit.current;
        limit.current = Some(raised);
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit.current = old;
        }
    }
    limit.current
}

/// systemd's `net.unix.max_dgram_qlen`: at it, a burst of a million
/// messages forwarded by journald reaches the ring whole.
pub const MIN_DGRAM_QLEN: u64 = 512;

/// The warning to say at start when `net.unix.max_dgram_qlen` (`qlen`, as
/// read from `/proc/sys/net/unix/max_dgram_qlen` in the daemon's network
/// namespace; `None` when it could not be read) is below
/// [`MIN_DGRAM_QLEN`] and a unix datagram input exists: a sender that does
/// not wait (journald's forward) loses what does not fit in a queue that
/// short, on its side, before circologd can count it.
pub fn dgram_qlen_warning(qlen: Option<u64>, unix_dgram_input: bool) -> Option<String> {
    let qlen = qlen.filter(|&q| unix_dgram_input && q < MIN_DGRAM_QLEN)?;
    Some(format!(
        "warning: net.unix.max_dgram_qlen is {qlen}: a unix datagram socket queues that many \
         messages at most, and senders that do not wait (journald) lose bursts; set it to \
         {MIN_DGRAM_QLEN} (sysctl -w net.unix.max_dgram_qlen={MIN_DGRAM_QLEN}, or a sysctl.d file)"
    ))
}

/// `net.unix.max_dgram_qlen` of this process's network namespace (where
/// its sockets live), if it can be read.
pub fn dgram_qlen() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen").ok()?;
    parse_sysctl(&text)
}

/// The number in a `/proc/sys` file.
pub fn parse_sysctl(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Adds the exporter `-export-otlp` asks for (with `-export-query`'s
/// filter) to `state`; returns it with the endpoint's address, resolved
/// once, here. `host_name` names this host in what is exported.
pub fn attach_export(
    args: &crate::daemon::args::Args,
    state: crate::daemon::State,
    epoch_us: i64,
    host_name: String,
) -> Result<(crate::daemon::State, Option<std::net::SocketAddr>), String> {
    let Some(endpoint) = &args.export_otlp else {
        return Ok((state, None));
    };
    let addr = endpoint.resolve()?;
    let filter = args.export_filter(epoch_us)?;
    let exporter = args.exporter(endpoint, host_name, epoch_us)?;
    let state = state.with_export(exporter, filter, args.export_snapshots);
    Ok((state, Some(addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_clients: 1024,
            max_head_bytes: 16 << 10,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_ws_frame: 64 << 10,
        }
    }

    #[test]
    fn the_defaults_and_small_sane_limits_are_accepted() {
        assert_eq!(check_limits(&limits()), Ok(()));
        let small = Limits {
            max_clients: 1,
            max_head_bytes: MIN_HEAD_BYTES,
            head_timeout: Duration::from_millis(1),
            idle_timeout: Duration::from_millis(1),
            write_timeout: Duration::from_millis(1),
            max_ws_frame: MIN_WS_FRAME,
        };
        assert_eq!(check_limits(&small), Ok(()));
    }

    #[test]
    fn unusable_limits_are_refused_naming_the_flag() {
        let refused = |l: Limits, flag: &str| {
            let e = check_limits(&l).unwrap_err();
            assert!(e.starts_with(flag), "{e}");
            assert!(!e.contains('\n'));
        };
        refused(
            Limits {
                max_clients: 0,
                ..limits()
            },
            "-max-clients 0 ",
        );
        refused(
            Limits {
                max_head_bytes: 0,
                ..limits()
            },
            "-max-head-bytes 0 ",
        );
        refused(
            Limits {
                max_head_bytes: 512,
                ..limits()
            },
            "-max-head-bytes 512 ",
        );
        refused(
            Limits {
                max_ws_frame: 0,
                ..limits()
            },
            "-max-ws-frame 0 ",
        );
        refused(
            Limits {
                head_timeout: Duration::ZERO,
                ..limits()
            },
            "-head-timeout 0 ",
        );
        refused(
            Limits {
                idle_timeout: Duration::ZERO,
                ..limits()
            },
            "-idle-timeout 0 ",
        );
        refused(
            Limits {
                write_timeout: Duration::ZERO,
                ..limits()
            },
            "-write-timeout 0 ",
        );
    }

    fn table(what: &'static str, flags: &str, bytes: u64) -> Table {
        Table {
            what,
            flags: flags.into(),
            bytes,
        }
    }

    #[test]
    fn tables_larger_than_memory_are_one_line_naming_the_largest() {
        let gib = 1u64 << 30;
        let host = Memory {
            host: Some(24 * gib),
            cgroup: None,
        };
        let tables = [
            table("the arena", "-buffer-bytes 64M", 64 << 20),
            table(
                "the seq table",
                "-buffer-size 1000000000000",
                4_000_000_000_000,
            ),
        ];
        let e = check_memory(&tables, host).unwrap_err();
        assert_eq!(
            e,
            "the seq table (-buffer-size 1000000000000: 3.6T) needs 3.6T, larger than this \
             host's memory (24G): lower -buffer-size"
        );
        assert_eq!(check_memory(&tables[..1], host), Ok(()));
        // A cgroup limit below the host's memory is the one that counts.
        let cgroup = Memory {
            host: Some(24 * gib),
            cgroup: Some(32 << 20),
        };
        let e = check_memory(&tables[..1], cgroup).unwrap_err();
        assert_eq!(
            e,
            "the arena (-buffer-bytes 64M) needs 64M, larger than the memory limit of \
             its cgroup (32M): lower -buffer-bytes"
        );
        // Three tables, the small one left out.
        let three = [
            table("the arena", "-buffer-bytes 20G", 20 * gib),
            table("the seq table", "-buffer-size 100000", 400_000),
            table("the receive buffers", "-max-message-size 64M", 4 * gib),
        ];
        let e = check_memory(&three, host).unwrap_err();
        assert!(
            e.starts_with(
                "the arena (-buffer-bytes 20G) and the receive buffers \
                 (-max-message-size 64M: 4G) need 24.0G"
            ),
            "{e}"
        );
        // Unknown memory: nothing to check against.
        assert_eq!(check_memory(&tables, Memory::default()), Ok(()));
        // Sums saturate.
        let huge = [table("a", "-a 1", u64::MAX), table("b", "-b 1", u64::MAX)];
        assert!(check_memory(&huge, host).is_err());
    }

    #[test]
    fn meminfo_and_cgroups() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some(24_576_000 * 1024));
        assert_eq!(parse_meminfo("nonsense"), None);
        assert_eq!(
            cgroup_dirs("0::/system.slice/circolog.service\n"),
            vec![
                PathBuf::from("/sys/fs/cgroup/system.slice/circolog.service"),
                PathBuf::from("/sys/fs/cgroup/system.slice"),
            ]
        );
        assert!(cgroup_dirs("0::/\n").is_empty());
        assert!(cgroup_dirs("12:memory:/x\n").is_empty());
        assert_eq!(parse_memory_max("max\n"), None);
        assert_eq!(parse_memory_max("536870912\n"), Some(512 << 20));
    }

    #[test]
    fn descriptors_must_fit_the_limit_and_the_error_says_what_to_lower() {
        let d = Descriptors {
            query_clients: 1024,
            ctl_clients: 1024,
            senders: 1024,
            listeners: 4,
        };
        assert_eq!(descriptors_needed(&d), 3072 + 4 + DESCRIPTOR_RESERVE);
        assert_eq!(check_descriptors(&d, Some(524_288)), Ok(()));
        assert_eq!(check_descriptors(&d, None), Ok(()));
        let e = check_descriptors(&d, Some(1024)).unwrap_err();
        assert_eq!(
            e,
            "-max-clients 1024 and -max-senders 1024 need up to 3140 open files, more than the \
             limit of 1024 (RLIMIT_NOFILE): lower -max-clients and -max-senders, or raise the \
             limit (LimitNOFILE= in the unit)"
        );
        // One flag alone can fix it: say to what.
        let e = check_descriptors(&d, Some(3000)).unwrap_err();
        assert!(
            e.contains("lower -max-clients to 954 or -max-senders to 884"),
            "{e}"
        );
        let fixed = Descriptors {
            query_clients: 954,
            ctl_clients: 954,
            ..d
        };
        assert_eq!(check_descriptors(&fixed, Some(3000)), Ok(()));
        let fixed = Descriptors { senders: 884, ..d };
        assert_eq!(check_descriptors(&fixed, Some(3000)), Ok(()));
        // Without a control socket, -max-clients counts once.
        let no_ctl = Descriptors {
            ctl_clients: 0,
            ..d
        };
        assert_eq!(check_descriptors(&no_ctl, Some(2116)), Ok(()));
        let e = check_descriptors(&no_ctl, Some(2115)).unwrap_err();
        assert!(
            e.contains("-max-clients to 1023 or -max-senders to 1023"),
            "{e}"
        );
    }

    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
        assert_eq!(
            raised_nofile(Some(1024), Some(524_288), Some(1 << 20)),
            Some(524_288)
        );
        assert_eq!(raised_nofile(Some(524_288), Some(524_288), None), None);
        assert_eq!(
            raised_nofile(Some(1024), None, Some(1_048_576)),
            Some(1_048_576)
        );
        assert_eq!(raised_nofile(Some(1024), None, None), None);
        assert_eq!(raised_nofile(None, None, Some(1 << 20)), None);
    }

    #[test]
    fn io_uring_refusals_say_why_in_the_hosts_terms() {
        let err = |errno| std::io::Error::from_raw_os_error(errno);
        assert_eq!(
            io_uring_unavailable(&err(libc::ENOSYS), 0),
            "io_uring is not available: the kernel has no io_uring (it needs Linux 6.0 or \
             later, built with CONFIG_IO_URING)"
        );
        assert_eq!(
            io_uring_unavailable(&err(libc::EPERM), 2),
            "io_uring is not available: io_uring is disabled on this host (sysctl \
             kernel.io_uring_disabled=2)"
        );
        assert_eq!(
            io_uring_unavailable(&err(libc::EACCES), 1),
            "io_uring is not available: io_uring is restricted on this host (sysctl \
             kernel.io_uring_disabled=1): run as root or as a member of kernel.io_uring_group"
        );
        assert!(
            io_uring_unavailable(&err(libc::EPERM), 0).ends_with(
                "probably by a seccomp profile (a container's default profile blocks it)"
            )
        );
        assert!(io_uring_unavailable(&err(libc::ENOMEM), 0).ends_with("(RLIMIT_MEMLOCK too low?)"));
        let other = err(libc::EINVAL);
        assert_eq!(
            io_uring_unavailable(&other, 0),
            format!("io_uring is not available: {other}")
        );
    }

    #[test]
    fn socket_groups_by_number_or_by_name() {
        let etc_group = || Ok("root:x:0:\nadm:x:4:syslog\ncircolog:x:998:alice,bob\n".to_string());
        assert_eq!(group_id("998", etc_group), Ok(998));
        assert_eq!(group_id("circolog", etc_group), Ok(998));
        assert_eq!(group_id("adm", etc_group), Ok(4));
        assert_eq!(
            group_id("wheel", etc_group),
            Err("unknown group \"wheel\" for -socket-group".to_string())
        );
        // A number needs no /etc/group.
        let unreadable = || Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(group_id("4", unreadable), Ok(4));
        let e = group_id("adm", unreadable).unwrap_err();
        assert!(
            e.starts_with("cannot read /etc/group to find group \"adm\": "),
            "{e}"
        );
    }

    #[test]
    fn a_lock_that_fails_names_the_table_and_the_fix() {
        let e = std::io::Error::from_raw_os_error(libc::ENOMEM);
        assert_eq!(
            lock_error("arena", 64 << 20, &e),
            format!(
                "cannot lock the 64M arena in RAM: {e} (raise RLIMIT_MEMLOCK, e.g. \
                 LimitMEMLOCK=infinity in the unit, or run without -lock-memory)"
            )
        );
        assert_eq!(
            lock_receive_error(&e),
            format!(
                "cannot lock the receive buffers in RAM: {e} (raise RLIMIT_MEMLOCK, or run \
                 without -lock-memory)"
            )
        );
    }

    #[test]
    fn a_socket_that_cannot_be_bound_says_why_in_a_users_words() {
        let err = |errno| std::io::Error::from_raw_os_error(errno);
        assert_eq!(
            bind_error("TCP 127.0.0.1:514", &err(libc::EADDRINUSE)),
            "TCP 127.0.0.1:514 is already in use"
        );
        assert_eq!(
            bind_error("UDP 192.0.2.1:514", &err(libc::EADDRNOTAVAIL)),
            "UDP 192.0.2.1:514 is not an address of this host"
        );
        let denied = err(libc::EACCES);
        assert_eq!(
            bind_error("TCP 0.0.0.0:514", &denied),
            format!("no permission to listen on TCP 0.0.0.0:514: {denied}")
        );
        let missing = err(libc::ENOENT);
        assert_eq!(
            bind_error("/nonexistent/q", &missing),
            "cannot listen on /nonexistent/q: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_short_dgram_queue_is_said_when_a_unix_datagram_input_exists() {
        let w = dgram_qlen_warning(Some(10), true).expect("a warning");
        assert!(
            w.starts_with("warning: net.unix.max_dgram_qlen is 10:"),
            "{w}"
        );
        assert!(w.contains("net.unix.max_dgram_qlen=512"), "{w}");
        assert!(!w.contains('\n'), "one line: {w}");
        assert!(dgram_qlen_warning(Some(511), true).is_some());
        assert_eq!(dgram_qlen_warning(Some(512), true), None);
        assert_eq!(dgram_qlen_warning(Some(4096), true), None);
        assert_eq!(
            dgram_qlen_warning(Some(10), false),
            None,
            "no unix datagram input"
        );
        assert_eq!(
            dgram_qlen_warning(None, true),
            None,
            "unreadable: nothing to say"
        );
        assert_eq!(parse_sysctl("512\n"), Some(512));
        assert_eq!(parse_sysctl("x"), None);
    }
}
