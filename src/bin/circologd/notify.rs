//! Telling systemd how the daemon is (`sd_notify(3)`), without libsystemd:
//! one datagram on the unix socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name written `@name`) for each state.
//!
//! * `READY=1` once circologd serves (its sockets are open and the loop
//!   runs), so that `Type=notify` units start what comes after it then;
//! * `STOPPING=1` when it begins to stop;
//! * `WATCHDOG=1` from the event loop at [`watchdog_period`], half of
//!   `WATCHDOG_USEC` (`WatchdogSec=`): a loop that stalls stops sending,
//!   and systemd restarts the daemon.
//!
//! Without `$NOTIFY_SOCKET` (not under systemd, or `Type=simple`) there is
//! no [`Notifier`], and nothing is sent. A send that fails is not an error
//! of the daemon's: systemd went away, or will say itself that it heard
//! nothing.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A datagram socket to systemd's notification socket.
pub struct Notifier {
    sock: UnixDatagram,
    to: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names, if it is set and usable.
    pub fn from_env() -> Option<Notifier> {
        let to = notify_address(&std::env::var_os("NOTIFY_SOCKET")?)?;
        let sock = UnixDatagram::unbound().ok()?;
        Some(Notifier { sock, to })
    }

    /// `READY=1`: call once the sockets are open and the event loop runs.
    pub fn ready(&self) {
        let _ = self.send("READY=1\nSTATUS=serving\n");
    }

    /// `STOPPING=1`: call when SIGTERM or SIGINT has been received.
    pub fn stopping(&self) {
        let _ = self.send("STOPPING=1\nSTATUS=stopping\n");
    }

    /// `WATCHDOG=1`: call from the event loop itself at
    /// [`watchdog_period`], so that it is only sent while the loop turns.
    pub fn watchdog(&self) {
        let _ = self.send("WATCHDOG=1\n");
    }

    fn send(&self, state: &str) -> io::Result<()> {
        self.sock
            .send_to_addr(state.as_bytes(), &self.to)
            .map(|_| ())
    }
}

/// The address `$NOTIFY_SOCKET` names: an absolute path, or `@name` for
/// the abstract socket `name`. Anything else (a relative path, `vsock:`)
/// is not one circologd can use.
fn notify_address(value: &OsStr) -> Option<SocketAddr> {
    let bytes = value.as_bytes();
    match bytes.first()? {
        b'/' => SocketAddr::from_pathname(value).ok(),
        b'@' => SocketAddr::from_abstract_name(&bytes[1..]).ok(),
        _ => None,
    }
}

/// How often the event loop sends `WATCHDOG=1`: half of `WATCHDOG_USEC`,
/// when it is set and `WATCHDOG_PID` is unset or this process.
pub fn watchdog_period() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    half_of_watchdog(usec.as_deref(), pid.as_deref(), std::process::id())
}

fn half_of_watchdog(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(me)
    {
        return None;
    }
    let usec = usec?.trim().parse::<u64>().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_paths_and_abstract_names() {
        let a = notify_address(OsStr::new("/run/systemd/notify")).unwrap();
        assert_eq!(
            a.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        let a = notify_address(OsStr::new("@/org/freedesktop/systemd1/notify/1")).unwrap();
        assert_eq!(
            a.as_abstract_name(),
            Some(&b"/org/freedesktop/systemd1/notify/1"[..])
        );
        assert!(notify_address(OsStr::new("")).is_none());
        assert!(notify_address(OsStr::new("relative/notify")).is_none());
        assert!(notify_address(OsStr::new("vsock:2:1234")).is_none());
    }

    #[test]
    fn the_watchdog_is_half_of_its_timeout_and_ours_only() {
        let half = |u, p| half_of_watchdog(u, p, 42);
        assert_eq!(half(Some("30000000"), None), Some(Duration::from_secs(15)));
        assert_eq!(
            half(Some("30000000"), Some("42")),
            Some(Duration::from_secs(15))
        );
        assert_eq!(half(Some("30000000"), Some("41")), None);
        assert_eq!(half(Some("0"), None), None);
        assert_eq!(half(Some("soon"), None), None);
        assert_eq!(half(None, Some("42")), None);
    }

    #[test]
    fn states_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            sock: UnixDatagram::unbound().unwrap(),
            to: notify_address(path.as_os_str()).unwrap(),
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
            let len = systemd.recv(&mut buf).unwrap();
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), want);
        }
    }
}
