//! Telling systemd how the daemon is (`sd_notify(3)`), without libsystemd:
//! one datagram on the unix socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name written `@name`) for each state.
//!
//! * `READY=1` once circologd serves (its sockets are open and the loop
//!   runs), so that `Type=notify` units start what comes after it then;
//! * `STOPPING=1` when it begins to stop;
//! * `WATCHDOG=1` from the event loop at [`watchdog_period`], half of
//!   `WATCHDOG_USEC` (`WatchdogSec=`): a loop that stalls stops sending,
//!   and systemd restarts the daemon;
//! * `FDSTORE=1` with the memory file, at start, so that the ring outlives
//!   the process.
//!
//! Without `$NOTIFY_SOCKET` (not under systemd, or `Type=simple`) there is
//! no [`Notifier`], and nothing is sent. A send that fails is not an error
//! of the daemon's: systemd went away, or will say itself that it heard
//! nothing.
//!
//! The states' text, the address and the period are read in
//! [`crate::daemon::systemd`]; this module sends.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use crate::daemon::systemd;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

/// A datagram socket to systemd's notification socket.
pub struct Notifier {
    sock: UnixDatagram,
    to: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names, if it is set and usable.
    pub fn from_env() -> Option<Notifier> {
        let to = systemd::notify_address(&std::env::var_os("NOTIFY_SOCKET")?)?;
        let sock = UnixDatagram::unbound().ok()?;
        Some(Notifier { sock, to })
    }

    /// `READY=1`: call once the sockets are open and the event loop runs.
    pub fn ready(&self) {
        let _ = self.send(systemd::READY);
    }

    /// `STOPPING=1`: call when SIGTERM or SIGINT has been received.
    pub fn stopping(&self) {
        let _ = self.send(systemd::STOPPING);
    }

    /// `WATCHDOG=1`: call from the event loop itself at
    /// [`watchdog_period`], so that it is only sent while the loop turns.
    pub fn watchdog(&self) {
        let _ = self.send(systemd::WATCHDOG);
    }

    /// `FDSTORE=1`: hands `fd` to the service manager's file descriptor
    /// store under `name`, so that it outlives this process (a restart or a
    /// crash hands it back in `LISTEN_FDS`).
    pub fn store(&self, fd: BorrowedFd<'_>, name: &str) -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        sock.connect_addr(&self.to)?;
        let text = format!("FDSTORE=1\nFDNAME={name}\n");
        let fds = [fd];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        control.push(SendAncillaryMessage::ScmRights(&fds));
        rustix::net::sendmsg(
            &sock,
            &[IoSlice::new(text.as_bytes())],
            &mut control,
            SendFlags::empty(),
        )?;
        Ok(())
    }

    /// `FDSTOREREMOVE=1`: takes what is stored under `name` out of the store.
    pub fn unstore(&self, name: &str) {
        let _ = self.send(&format!("FDSTOREREMOVE=1\nFDNAME={name}\n"));
    }

    fn send(&self, state: &str) -> io::Result<()> {
        self.sock
            .send_to_addr(state.as_bytes(), &self.to)
            .map(|_| ())
    }
}

/// How often the event loop sends `WATCHDOG=1` ([`systemd::watchdog_period`]
/// of this process's environment).
pub fn watchdog_period() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    systemd::watchdog_period(usec.as_deref(), pid.as_deref(), std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let heard = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            sock: UnixDatagram::unbound().unwrap(),
            to: systemd::notify_address(path.as_os_str()).unwrap(),
        };
        let mut buf = [0u8; 256];
        for (send, want) in [
            (
                Notifier::ready as fn(&Notifier),
                "READY=1\nSTATUS=serving\n",
            ),
            (Notifier::watchdog, "WATCHDOG=1\n"),
            (Notifier::stopping, "STOPPING=1\nSTATUS=stopping\n"),
        ] {
            send(&n);
            let len = heard.recv(&mut buf).unwrap();
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), want);
        }
    }
}
