//! What circologd takes from systemd and says to it, as text and numbers:
//! the sockets it passes (`LISTEN_FDS`, `LISTEN_FDNAMES`) and what each is
//! for, by its name and kind; the `sd_notify(3)` states and the watchdog's
//! period (`WATCHDOG_USEC`). [`crate::daemon::listen`] looks at the
//! descriptors and sets them up; the binary reads the variables, takes the
//! descriptors and sends the datagrams.

use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::time::Duration;

use rustix::net::{AddressFamily, SocketType};

use crate::store::ring::Transport;

/// The sockets systemd passed, from `LISTEN_PID`, `LISTEN_FDS` and
/// `LISTEN_FDNAMES` (`me` is this process's id): how many, from fd 3 on,
/// and their names in order (fewer than the sockets, or none, when
/// `LISTEN_FDNAMES` says less; an empty name is no name). `None` when they
/// are not this process's.
pub fn passed_sockets(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    names: Option<&str>,
    me: u32,
) -> Option<(i32, Vec<Option<String>>)> {
    let ours = listen_pid.and_then(|p| p.parse::<u32>().ok()) == Some(me);
    let n = listen_fds.and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    if !ours || n <= 0 {
        return None;
    }
    let names = names
        .map(|v| {
            v.split(':')
                .map(|name| (!name.is_empty()).then(|| name.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Some((n, names))
}

/// An inherited socket, by its family and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UnixDgram,
    Udp,
    Tcp,
    UnixStream,
}

impl Kind {
    /// The kind of a socket of this family and type; `None` for those
    /// circologd has no use for.
    pub fn of(family: AddressFamily, kind: SocketType) -> Option<Kind> {
        let ip = family == AddressFamily::INET || family == AddressFamily::INET6;
        let unix = family == AddressFamily::UNIX;
        match kind {
            SocketType::DGRAM if unix => Some(Kind::UnixDgram),
            SocketType::DGRAM if ip => Some(Kind::Udp),
            SocketType::STREAM if ip => Some(Kind::Tcp),
            SocketType::STREAM if unix => Some(Kind::UnixStream),
            _ => None,
        }
    }

    /// What the socket is, for the listening lines and errors.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::UnixDgram => "unix datagram",
            Kind::Udp => "UDP",
            Kind::Tcp => "TCP",
            Kind::UnixStream => "unix stream",
        }
    }
}

/// Why an inherited socket cannot be used at all.
pub fn unsupported(name: &str) -> String {
    format!("the inherited socket {name} is neither unix, UDP nor TCP")
}

/// The name systemd gives the socket of its own `syslog.socket`
/// (`/run/systemd/journal/syslog`, where journald forwards with
/// `ForwardToSyslog=yes`) when it activates the service that holds the name
/// `syslog.service`: a syslog input, named at start-up with its path.
pub const SYSLOG_SOCKET: &str = "syslog.socket";

/// What an inherited socket is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The query API, on a unix or (`tcp`) a TCP listener.
    Query { tcp: bool },
    /// The control API, on a unix listener.
    Control,
    /// Syslog datagrams, read as circologd's own input sockets are.
    Datagrams {
        transport: Transport,
        /// Unix datagram sockets carry `SCM_CREDENTIALS`.
        credentials: bool,
    },
    /// Syslog senders over TCP.
    Senders,
}

/// What the inherited socket named `name` (`FileDescriptorName=`; `None`:
/// unnamed) of this kind is for: `query` and `ctl` name the APIs, `syslog`
/// an input of any kind but a unix stream; a socket no name claims is an
/// input if it is a datagram one. Anything else is the error to print.
pub fn role(name: Option<&str>, kind: Kind) -> Result<Role, String> {
    let datagrams = |transport, credentials| {
        Ok(Role::Datagrams {
            transport,
            credentials,
        })
    };
    match (name, kind) {
        (Some("query"), Kind::UnixStream) => Ok(Role::Query { tcp: false }),
        (Some("query"), Kind::Tcp) => Ok(Role::Query { tcp: true }),
        (Some("query"), other) => Err(format!(
            "the inherited socket named query is a {} socket: the query API needs a stream \
             socket (ListenStream=)",
            other.describe()
        )),
        (Some("ctl"), Kind::UnixStream) => Ok(Role::Control),
        (Some("ctl"), other) => Err(format!(
            "the inherited socket named ctl is a {} socket: the control API needs a unix \
             stream socket",
            other.describe()
        )),
        (Some("syslog" | SYSLOG_SOCKET), Kind::Tcp) => Ok(Role::Senders),
        (Some("syslog" | SYSLOG_SOCKET), Kind::UnixStream) => Err(format!(
            "the inherited socket {} is a unix stream socket: syslog input is read from \
             datagram sockets (ListenDatagram=) or TCP",
            from(name)
        )),
        (_, Kind::UnixDgram) => datagrams(Transport::Unix, true),
        (_, Kind::Udp) => datagrams(Transport::Udp, false),
        (name, Kind::Tcp | Kind::UnixStream) => Err(format!(
            "cannot tell what the inherited stream socket {} is for: name it with \
             FileDescriptorName=syslog, query or ctl",
            name.unwrap_or("(unnamed)")
        )),
    }
}

/// Where an input socket came from, as its lines say.
fn from(name: Option<&str>) -> &'static str {
    match name {
        Some("syslog") => "named syslog from systemd",
        Some(SYSLOG_SOCKET) => "syslog.socket from systemd",
        _ => "from systemd",
    }
}

/// The start-up line of an inherited socket used in `role` (after
/// `circologd: listening: `).
pub fn listening(name: Option<&str>, role: Role) -> String {
    match role {
        Role::Query { .. } => "query socket from systemd".into(),
        Role::Control => "control socket from systemd".into(),
        Role::Datagrams { transport, .. } => {
            format!("syslog {} socket {}", transport.name(), from(name))
        }
        Role::Senders => format!("syslog TCP socket {}", from(name)),
    }
}

/// `sd_notify` states: once circologd serves (its sockets are open and the
/// loop runs), when it begins to stop, and from the loop at the watchdog's
/// period.
pub const READY: &str = "READY=1\nSTATUS=serving\n";
pub const STOPPING: &str = "STOPPING=1\nSTATUS=stopping\n";
pub const WATCHDOG: &str = "WATCHDOG=1\n";

/// The address `$NOTIFY_SOCKET` names: an absolute path, or `@name` for
/// the abstract socket `name`. Anything else (a relative path, `vsock:`)
/// is not one circologd can use.
pub fn notify_address(value: &OsStr) -> Option<SocketAddr> {
    let bytes = value.as_bytes();
    match bytes.first()? {
        b'/' => SocketAddr::from_pathname(value).ok(),
        b'@' => SocketAddr::from_abstract_name(&bytes[1..]).ok(),
        _ => None,
    }
}

/// How often the event loop sends `WATCHDOG=1`: half of `WATCHDOG_USEC`,
/// when it is set and `WATCHDOG_PID` is unset or `me`.
pub fn watchdog_period(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
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
    fn passed_sockets_are_only_those_for_this_process() {
        assert_eq!(
            passed_sockets(Some("42"), Some("2"), Some("ctl:query"), 42),
            Some((2, vec![Some("ctl".to_string()), Some("query".to_string())]))
        );
        assert_eq!(
            passed_sockets(Some("42"), Some("3"), Some("ctl::query"), 42),
            Some((
                3,
                vec![Some("ctl".to_string()), None, Some("query".to_string())]
            )),
            "an empty name is no name"
        );
        assert_eq!(
            passed_sockets(Some("42"), Some("1"), None, 42),
            Some((1, vec![]))
        );
        assert_eq!(passed_sockets(Some("41"), Some("2"), None, 42), None);
        assert_eq!(passed_sockets(None, Some("2"), None, 42), None);
        assert_eq!(passed_sockets(Some("42"), Some("0"), None, 42), None);
        assert_eq!(passed_sockets(Some("42"), Some("lots"), None, 42), None);
        assert_eq!(passed_sockets(Some("42"), None, None, 42), None);
    }

    #[test]
    fn kinds_by_family_and_type() {
        use AddressFamily as F;
        use SocketType as T;
        assert_eq!(Kind::of(F::UNIX, T::DGRAM), Some(Kind::UnixDgram));
        assert_eq!(Kind::of(F::INET, T::DGRAM), Some(Kind::Udp));
        assert_eq!(Kind::of(F::INET6, T::DGRAM), Some(Kind::Udp));
        assert_eq!(Kind::of(F::INET, T::STREAM), Some(Kind::Tcp));
        assert_eq!(Kind::of(F::INET6, T::STREAM), Some(Kind::Tcp));
        assert_eq!(Kind::of(F::UNIX, T::STREAM), Some(Kind::UnixStream));
        assert_eq!(Kind::of(F::UNIX, T::SEQPACKET), None);
        assert_eq!(Kind::of(F::NETLINK, T::DGRAM), None);
        assert_eq!(
            unsupported("syslog"),
            "the inherited socket syslog is neither unix, UDP nor TCP"
        );
    }

    #[test]
    fn names_say_what_a_socket_is_for_and_kinds_what_it_can_be() {
        let unix = Role::Datagrams {
            transport: Transport::Unix,
            credentials: true,
        };
        let udp = Role::Datagrams {
            transport: Transport::Udp,
            credentials: false,
        };
        for (name, kind, want, line) in [
            (
                Some("query"),
                Kind::UnixStream,
                Role::Query { tcp: false },
                "query socket from systemd",
            ),
            (
                Some("query"),
                Kind::Tcp,
                Role::Query { tcp: true },
                "query socket from systemd",
            ),
            (
                Some("ctl"),
                Kind::UnixStream,
                Role::Control,
                "control socket from systemd",
            ),
            (
                Some("syslog"),
                Kind::UnixDgram,
                unix,
                "syslog unix socket named syslog from systemd",
            ),
            (
                Some("syslog"),
                Kind::Udp,
                udp,
                "syslog udp socket named syslog from systemd",
            ),
            (
                Some("syslog"),
                Kind::Tcp,
                Role::Senders,
                "syslog TCP socket named syslog from systemd",
            ),
            (
                None,
                Kind::UnixDgram,
                unix,
                "syslog unix socket from systemd",
            ),
            (
                Some("other"),
                Kind::Udp,
                udp,
                "syslog udp socket from systemd",
            ),
            (
                Some("syslog.socket"),
                Kind::UnixDgram,
                unix,
                "syslog unix socket syslog.socket from systemd",
            ),
            (
                Some("syslog.socket"),
                Kind::Tcp,
                Role::Senders,
                "syslog TCP socket syslog.socket from systemd",
            ),
        ] {
            assert_eq!(role(name, kind), Ok(want), "{name:?} {kind:?}");
            assert_eq!(listening(name, want), line);
        }
    }

    #[test]
    fn a_socket_of_the_wrong_kind_for_its_name_is_one_line() {
        assert_eq!(
            role(Some("query"), Kind::Udp),
            Err(
                "the inherited socket named query is a UDP socket: the query API needs a \
                 stream socket (ListenStream=)"
                    .into()
            )
        );
        assert_eq!(
            role(Some("ctl"), Kind::Tcp),
            Err(
                "the inherited socket named ctl is a TCP socket: the control API needs a \
                 unix stream socket"
                    .into()
            )
        );
        assert_eq!(
            role(Some("syslog"), Kind::UnixStream),
            Err(
                "the inherited socket named syslog from systemd is a unix stream socket: \
                 syslog input is read from datagram sockets (ListenDatagram=) or TCP"
                    .into()
            )
        );
        assert_eq!(
            role(None, Kind::Tcp),
            Err(
                "cannot tell what the inherited stream socket (unnamed) is for: name it \
                 with FileDescriptorName=syslog, query or ctl"
                    .into()
            )
        );
        assert_eq!(
            role(Some("web"), Kind::UnixStream),
            Err(
                "cannot tell what the inherited stream socket web is for: name it with \
                 FileDescriptorName=syslog, query or ctl"
                    .into()
            )
        );
    }

    #[test]
    fn notify_addresses_are_paths_and_abstract_names() {
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
        let half = |u, p| watchdog_period(u, p, 42);
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
}
