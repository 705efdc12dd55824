//! `POST /restart`'s own part of the kernel's work: executing the daemon's
//! file again with what [`Handover`] holds. Which file and which
//! environment are [`crate::daemon::restart`]'s decisions.

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::daemon::listen::RESTART_REPLY;
use crate::daemon::restart::{self, Handover};

/// The file this process was started from (`restart::program_path`), from
/// its `argv[0]`, the working directory and `PATH`: to be called at
/// start-up, before anything could change the working directory.
pub fn this_program() -> Option<PathBuf> {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let cwd = std::env::current_dir().ok();
    let path = std::env::var_os("PATH");
    restart::program_path(&argv0, cwd.as_deref(), path.as_deref(), |p| {
        rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_ok() && p.is_file()
    })
}

/// Executes `program` with `h`'s arguments, handing over `h`'s descriptors
/// and `reply` (the control connection that asked, for the new process to
/// answer) by `LISTEN_FDS`. Returns only when that failed, with why,
/// everything as it was.
pub fn exec_again(program: &Path, h: &Handover, reply: RawFd) -> io::Error {
    let mut fds: Vec<_> = h.handover.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
    let mut names: Vec<&str> = h.handover.iter().map(|(_, name)| *name).collect();
    fds.push(reply);
    names.push(RESTART_REPLY);
    let (set, remove) = restart::environment(&names, std::process::id(), &h.socket_files);
    super::exec_with_fds(&fds, || {
        let mut cmd = std::process::Command::new(program);
        cmd.args(&h.args).envs(set);
        for name in remove {
            cmd.env_remove(name);
        }
        cmd.exec()
    })
}
