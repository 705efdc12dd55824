//! `POST /restart` without a service manager: the daemon executes its own
//! file again, with the same arguments, and hands the new process the
//! memory file and every listening socket by systemd's protocol
//! (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`), so that the new process
//! takes the one adopt path there is. What is pure of it is here: which
//! file to execute, what is handed over ([`Handover`]), and the
//! environment that says so. [`crate::sys::exec_again`] places the
//! descriptors and calls `execve`.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Why `POST /restart` is refused under a service manager: there its own
/// restart keeps the ring, through its file descriptor store, and knows of
/// it.
pub const UNDER_SYSTEMD: &str = "circologd runs under a service manager (NOTIFY_SOCKET is set): \
     restart it with the service manager (systemctl restart), which keeps the ring through \
     its file descriptor store";

/// The variable that names, one per line, the socket files the process
/// that restarted had created: the new one removes them when it stops, as
/// the old one would have.
pub const SOCKET_FILES: &str = "CIRCOLOGD_SOCKET_FILES";

/// What `POST /restart` needs to execute the daemon again.
pub struct Handover {
    /// The file to execute (`restart::program_path`); `None`: unknown.
    pub program: Option<PathBuf>,
    /// This process's arguments, after the program's name.
    pub args: Vec<OsString>,
    /// The memory file and every listening socket, each with its name.
    pub handover: Vec<(OwnedFd, &'static str)>,
    /// The socket files this process removes when it stops.
    pub socket_files: Vec<PathBuf>,
    /// `NOTIFY_SOCKET` is set: the service manager restarts, not this.
    pub under_service_manager: bool,
    /// The control connection of the restart that started this process,
    /// to answer once it serves.
    pub reply: Option<OwnedFd>,
}

/// The file this process was started from, as an absolute path, from its
/// `argv[0]`: relative to `cwd` when it has a slash, else looked up in
/// `path` (`PATH`) as the shell did (`is_program` says whether a candidate
/// is an executable file). Taken at start-up, before anything could change
/// the working directory; `None` when it names nothing found.
///
/// Not `/proc/self/exe`: once an upgrade has replaced the file (a new file
/// renamed over the old name, as package managers do), that link names the
/// old, deleted inode, and executing it would run the old version.
pub fn program_path(
    argv0: &OsStr,
    cwd: Option<&Path>,
    path: Option<&OsStr>,
    is_program: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if argv0.is_empty() {
        return None;
    }
    let given = Path::new(argv0);
    if argv0.as_bytes().contains(&b'/') {
        return match given.is_absolute() {
            true => Some(given.to_path_buf()),
            false => cwd.map(|d| d.join(given)),
        };
    }
    let path = path?;
    path.as_bytes()
        .split(|&b| b == b':')
        .filter_map(|dir| match dir.is_empty() {
            // An empty entry is the working directory.
            true => cwd.map(|d| d.join(given)),
            false => Some(Path::new(OsStr::from_bytes(dir)).join(given)),
        })
        .find(|candidate| is_program(candidate))
        .and_then(|p| match p.is_absolute() {
            true => Some(p),
            false => cwd.map(|d| d.join(p)),
        })
}

/// The environment that hands `names` (in the order of descriptors 3, 4,
/// …) to process `pid` (the same after `execve`), and the socket files it
/// is to remove when it stops: the variables to set, and those to remove.
pub fn environment(
    names: &[&str],
    pid: u32,
    socket_files: &[PathBuf],
) -> (Vec<(&'static str, OsString)>, Vec<&'static str>) {
    let mut set = vec![
        ("LISTEN_PID", pid.to_string().into()),
        ("LISTEN_FDS", names.len().to_string().into()),
        ("LISTEN_FDNAMES", names.join(":").into()),
    ];
    let mut remove = Vec::new();
    match socket_files_value(socket_files) {
        Some(v) => set.push((SOCKET_FILES, v)),
        None => remove.push(SOCKET_FILES),
    }
    (set, remove)
}

/// [`SOCKET_FILES`]'s value: one path a line (a path with a newline in it
/// is left out: it would be read as two).
fn socket_files_value(paths: &[PathBuf]) -> Option<OsString> {
    let mut v = Vec::new();
    for p in paths {
        let bytes = p.as_os_str().as_bytes();
        if bytes.contains(&b'\n') || bytes.is_empty() {
            continue;
        }
        if !v.is_empty() {
            v.push(b'\n');
        }
        v.extend_from_slice(bytes);
    }
    (!v.is_empty()).then(|| OsString::from_vec(v))
}

/// The socket files [`SOCKET_FILES`] names.
pub fn socket_files(value: Option<&OsStr>) -> Vec<PathBuf> {
    value
        .map(|v| {
            v.as_bytes()
                .split(|&b| b == b'\n')
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(OsStr::from_bytes(p)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn the_program_is_argv0_made_absolute_at_start() {
        let cwd = Some(Path::new("/srv"));
        let never = |_: &Path| false;
        assert_eq!(
            program_path(os("/usr/sbin/circologd"), cwd, None, never),
            Some("/usr/sbin/circologd".into())
        );
        assert_eq!(
            program_path(os("./bin/circologd"), cwd, None, never),
            Some("/srv/./bin/circologd".into())
        );
        let found = |p: &Path| p == Path::new("/usr/local/bin/circologd");
        assert_eq!(
            program_path(
                os("circologd"),
                cwd,
                Some(os("/usr/bin:/usr/local/bin")),
                found
            ),
            Some("/usr/local/bin/circologd".into())
        );
        assert_eq!(
            program_path(os("circologd"), cwd, Some(os("/usr/bin")), never),
            None
        );
        let here = |p: &Path| p == Path::new("/srv/circologd");
        assert_eq!(
            program_path(os("circologd"), cwd, Some(os("/usr/bin::")), here),
            Some("/srv/circologd".into())
        );
        assert_eq!(program_path(os(""), cwd, None, never), None);
    }

    #[test]
    fn the_environment_names_every_descriptor_and_the_socket_files() {
        let files = [
            "/run/a.sock".into(),
            "/run/b\nc.sock".into(),
            "/run/d".into(),
        ];
        let (set, remove) = environment(&["ring", "syslog", "ctl"], 42, &files);
        let get = |name| set.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        assert_eq!(get("LISTEN_PID"), Some("42".into()));
        assert_eq!(get("LISTEN_FDS"), Some("3".into()));
        assert_eq!(get("LISTEN_FDNAMES"), Some("ring:syslog:ctl".into()));
        assert!(remove.is_empty());
        assert_eq!(
            socket_files(get(SOCKET_FILES).as_deref()),
            vec![PathBuf::from("/run/a.sock"), PathBuf::from("/run/d")]
        );
        let (set, remove) = environment(&["ring"], 1, &[]);
        assert!(set.iter().all(|(n, _)| *n != SOCKET_FILES));
        assert_eq!(remove, vec![SOCKET_FILES]);
        assert!(socket_files(None).is_empty());
    }
}
