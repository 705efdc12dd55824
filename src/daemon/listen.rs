//! Where circologd listens, in two halves.
//!
//! The plan is pure: [`Plan`] says which sockets the command line asks
//! for, or the defaults when it names none and systemd passed none;
//! [`Inherited`] matches the sockets systemd passed to what was asked (by a
//! flag's path or address, then by `FileDescriptorName=`, then by kind);
//! [`bind_pair`] gives `-syslog-addr` one port for UDP and TCP, trying
//! again when the kernel's UDP choice for `:0` is taken on TCP.
//!
//! [`open`] carries the plan out: it binds unix paths (a stale socket file
//! is replaced, a live one refused), UDP and TCP addresses, and sets up
//! the inherited sockets; every failure is one line for the user. It is
//! safe code over `std` and `rustix`; taking the descriptors systemd
//! passed is the binary's (it names them by number).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::net::{AddressFamily, SocketType};

use crate::cli::config::DefaultPaths;
use crate::daemon::args::{Args, Opened};
use crate::daemon::startup::bind_error;
use crate::daemon::systemd::{self, Kind, Role};
use crate::store::ring::Transport;

/// One socket the command line (or the defaults) asks for, in the order
/// they are opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// `-syslogd-socket PATH`: syslog datagrams on a unix socket.
    Syslog(PathBuf),
    /// `-syslog-addr HOST:PORT`: syslog on UDP and TCP, one port.
    SyslogNet(String),
    /// `-query-socket PATH`.
    Query(PathBuf),
    /// `-query-addr HOST:PORT`.
    QueryNet(String),
    /// `-ctl-socket PATH`.
    Control(PathBuf),
}

/// What to listen on, before any socket is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The defaults' private directory, to create (or check) first.
    pub private_dir: Option<PathBuf>,
    /// Flags first, in this order: every `-syslogd-socket`, every
    /// `-syslog-addr`, `-query-socket`, `-query-addr`, `-ctl-socket`. What
    /// systemd passed and no flag claims comes after them ([`Inherited`]).
    pub wants: Vec<Want>,
}

impl Plan {
    /// The sockets `args` asks for. With no listener flag at all and no
    /// socket from systemd (`inherited` is false), the defaults the clients
    /// also look for (`defaults` is only asked then).
    pub fn new(args: &Args, inherited: bool, defaults: impl FnOnce() -> DefaultPaths) -> Plan {
        let mut syslog = args.syslogd_socket.clone();
        let mut query = args.query_socket.clone();
        let mut ctl = args.ctl_socket.clone();
        let mut private_dir = None;
        if !args.names_listeners() && !inherited {
            let d = defaults();
            private_dir = d.dir;
            syslog.push(d.syslog);
            query = Some(d.query);
            ctl = Some(d.ctl);
        }
        let wants = (syslog.into_iter().map(Want::Syslog))
            .chain(args.syslog_addr.iter().cloned().map(Want::SyslogNet))
            .chain(query.map(Want::Query))
            .chain(args.query_addr.clone().map(Want::QueryNet))
            .chain(ctl.map(Want::Control))
            .collect();
        Plan { private_dir, wants }
    }
}

/// Where an inherited socket is bound, as `getsockname` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Local {
    /// A unix socket's path (none for an unnamed or abstract one).
    Unix(Option<Vec<u8>>),
    Ip(SocketAddr),
    /// Neither, or unknown.
    Other,
}

/// What is known of one socket systemd passed, without touching it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    /// `FileDescriptorName=`.
    pub name: Option<String>,
    pub family: Option<AddressFamily>,
    pub kind: Option<SocketType>,
    pub local: Local,
}

/// The sockets systemd passed (`T`: the descriptor), consumed as the plan
/// claims them: first by a flag's path or address, then by name in the
/// order `query`, `ctl`, `syslog`, then the rest (by kind: see
/// [`systemd::role`]).
pub struct Inherited<T> {
    passed: Vec<(T, Passed)>,
    /// Handed over by a circologd that restarted into this process, not
    /// by systemd: the start-up lines say so.
    restart: bool,
}

impl<T> Inherited<T> {
    pub fn new(passed: Vec<(T, Passed)>) -> Inherited<T> {
        Inherited {
            passed,
            restart: false,
        }
    }

    /// These were handed over by a restart ([`RESTART_REPLY`] was among
    /// them).
    pub fn from_restart(&mut self) {
        self.restart = true;
    }

    pub fn is_empty(&self) -> bool {
        self.passed.is_empty()
    }

    /// The one bound to this unix path, of this type, if any.
    pub fn take_path(&mut self, path: &Path, kind: SocketType) -> Option<T> {
        let want = path.as_os_str().as_encoded_bytes();
        self.take(|p| {
            p.family == Some(AddressFamily::UNIX)
                && p.kind == Some(kind)
                && matches!(&p.local, Local::Unix(Some(at)) if at == want)
        })
    }

    /// The one bound to this IP address, of this type, if any.
    /// After a restart, port 0 (any port) is the one the process that
    /// restarted was given for that address, else a restart would add a
    /// socket on a new port beside the kept one.
    pub fn take_addr(&mut self, addr: SocketAddr, kind: SocketType) -> Option<T> {
        let any_port = self.restart && addr.port() == 0;
        self.take(|p| {
            p.kind == Some(kind)
                && match p.local {
                    Local::Ip(at) if any_port => at.ip() == addr.ip(),
                    Local::Ip(at) => at == addr,
                    _ => false,
                }
        })
    }

    fn take(&mut self, found: impl Fn(&Passed) -> bool) -> Option<T> {
        let pos = self.passed.iter().position(|(_, p)| found(p))?;
        Some(self.passed.swap_remove(pos).0)
    }

    /// Those named `name`, in the order they are taken.
    pub fn take_named(&mut self, name: &str) -> Vec<(T, Passed)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.passed.len() {
            if self.passed[i].1.name.as_deref() == Some(name) {
                out.push(self.passed.swap_remove(i));
            } else {
                i += 1;
            }
        }
        out
    }

    /// The inherited memory file named [`RING`], if any: not a socket, so
    /// taken out before the sockets are looked at.
    pub fn take_ring(&mut self) -> Option<T> {
        self.take(|p| p.name.as_deref() == Some(RING))
    }

    /// The control connection that asked for a restart, named
    /// [`RESTART_REPLY`] by the process that handed it over: the new one
    /// answers it. Not a listener, so taken out before the sockets are
    /// looked at.
    pub fn take_reply(&mut self) -> Option<T> {
        self.take(|p| p.name.as_deref() == Some(RESTART_REPLY))
    }

    /// What no flag and no name claimed.
    pub fn take_rest(&mut self) -> Vec<(T, Passed)> {
        std::mem::take(&mut self.passed)
    }
}

/// The name the memory file is handed over by (`FDNAME=`, `LISTEN_FDNAMES`).
pub const RING: &str = "ring";

/// The name of the control connection a restart hands over with the
/// sockets (`POST /restart` is answered by the new process).
pub const RESTART_REPLY: &str = "restart-reply";

/// The names an inherited socket is claimed by, in this order.
/// `syslog.socket` is systemd's own (`/run/systemd/journal/syslog`),
/// which journald forwards to.
pub const NAMES: [&str; 4] = ["query", "ctl", "syslog", systemd::SYSLOG_SOCKET];

/// How many ports `-syslog-addr HOST:0` tries at most.
pub const PAIR_TRIES: usize = 8;

/// Binds `-syslog-addr`'s UDP and TCP sockets on one port of `addr`, with
/// `udp` and `tcp` (`local` says where a UDP socket got bound). With a
/// port, that one. With port 0, the port the kernel chooses for UDP; when
/// TCP has it taken already, again, up to [`PAIR_TRIES`] ports: the UDP
/// sockets refused are kept until the end, so that the kernel chooses
/// another port each time. Returns the sockets and the port that serves
/// both; a failure is the line for the user, naming the last port tried.
pub fn bind_pair<U, T>(
    addr: SocketAddr,
    mut udp: impl FnMut(SocketAddr) -> io::Result<U>,
    local: impl Fn(&U) -> Option<SocketAddr>,
    mut tcp: impl FnMut(SocketAddr) -> io::Result<T>,
) -> Result<(U, T, SocketAddr), String> {
    let mut refused = Vec::new();
    loop {
        let u = udp(addr).map_err(|e| bind_error(&format!("UDP {addr}"), &e))?;
        let at = local(&u).unwrap_or(addr);
        match tcp(at) {
            Ok(t) => return Ok((u, t, at)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == io::ErrorKind::AddrInUse
                    && refused.len() + 1 < PAIR_TRIES =>
            {
                refused.push(u);
            }
            Err(e) => return Err(bind_error(&format!("TCP {at}"), &e)),
        }
    }
}

/// A datagram socket the ingest path reads.
pub struct DgramSource {
    pub fd: OwnedFd,
    pub transport: Transport,
    /// Unix datagram sockets carry `SCM_CREDENTIALS` (`SO_PASSCRED` is set).
    pub credentials: bool,
}

/// Every socket circologd serves, opened.
#[derive(Default)]
pub struct Listeners {
    pub datagrams: Vec<DgramSource>,
    pub tcp_ingest: Vec<TcpListener>,
    pub query_unix: Vec<UnixListener>,
    pub query_tcp: Vec<TcpListener>,
    pub ctl_unix: Vec<UnixListener>,
    /// The start-up lines, after `circologd: listening: `.
    pub listening: Vec<String>,
}

impl Listeners {
    /// How many of each there are, for the descriptor budget.
    pub fn opened(&self) -> Opened {
        let query = self.query_unix.len() + self.query_tcp.len();
        let ctl = self.ctl_unix.len();
        Opened {
            query,
            ctl,
            tcp_ingest: self.tcp_ingest.len(),
            sockets: self.datagrams.len() + self.tcp_ingest.len() + query + ctl,
        }
    }

    /// What a restart hands the next process, each with its name: the
    /// memory file and every listening socket (copies, closed on exec
    /// unless handed).
    pub fn handover(&self, ring: BorrowedFd<'_>) -> Result<Vec<(OwnedFd, &'static str)>, String> {
        let copy = |fd: BorrowedFd<'_>, name: &'static str| {
            fd.try_clone_to_owned()
                .map(|fd| (fd, name))
                .map_err(|e| format!("cannot keep a descriptor for restarts: {e}"))
        };
        // Whole: a new kind of listener is not forgotten here.
        let Listeners {
            datagrams,
            tcp_ingest,
            query_unix,
            query_tcp,
            ctl_unix,
            listening: _,
        } = self;
        let mut fds = vec![copy(ring, RING)?];
        for d in datagrams {
            fds.push(copy(d.fd.as_fd(), "syslog")?);
        }
        for t in tcp_ingest {
            fds.push(copy(t.as_fd(), "syslog")?);
        }
        for q in query_unix {
            fds.push(copy(q.as_fd(), "query")?);
        }
        for q in query_tcp {
            fds.push(copy(q.as_fd(), "query")?);
        }
        for c in ctl_unix {
            fds.push(copy(c.as_fd(), "ctl")?);
        }
        Ok(fds)
    }
}

/// The descriptors the service manager (or the process that restarted
/// into this one) passed (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`),
/// taken from the environment; none when they are not this process's.
pub fn inherited_from_env() -> Inherited<OwnedFd> {
    let var = |name| std::env::var(name).ok();
    let passed = systemd::passed_sockets(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    );
    let (n, names) = passed.unwrap_or_default();
    inherited(crate::sys::take_listen_fds(n), &names)
}

/// Who may use a query or control socket file.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub mode: u32,
    pub gid: Option<u32>,
}

/// Receive buffer asked for on syslog input sockets, so that bursts wait in
/// the kernel rather than being dropped (UDP) or blocking senders (unix).
const RCVBUF: usize = 8 << 20;

/// The path a unix socket is bound to, if it is one bound to a path.
fn unix_path(fd: &OwnedFd) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let addr = rustix::net::getsockname(fd).ok()?;
    let unix = rustix::net::SocketAddrUnix::try_from(addr).ok()?;
    let path = unix.path()?;
    Some(std::ffi::OsStr::from_bytes(path.to_bytes()).into())
}

/// The sockets systemd passed, each with its index in `LISTEN_FDNAMES`
/// (`names`), described for [`Inherited`] and closed on exec.
pub fn inherited(fds: Vec<(usize, OwnedFd)>, names: &[Option<String>]) -> Inherited<OwnedFd> {
    let passed = fds
        .into_iter()
        .map(|(i, fd)| {
            let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
            let local = match rustix::net::getsockname(&fd) {
                Ok(a) if a.address_family() == AddressFamily::UNIX => Local::Unix(
                    rustix::net::SocketAddrUnix::try_from(a)
                        .ok()
                        .and_then(|u| u.path().map(|p| p.to_bytes().to_vec())),
                ),
                Ok(a) => SocketAddr::try_from(a).map_or(Local::Other, Local::Ip),
                Err(_) => Local::Other,
            };
            let passed = Passed {
                name: names.get(i).cloned().flatten(),
                family: rustix::net::getsockname(&fd)
                    .ok()
                    .map(|a| a.address_family()),
                kind: rustix::net::sockopt::socket_type(&fd).ok(),
                local,
            };
            (fd, passed)
        })
        .collect();
    Inherited::new(passed)
}

/// Opens what `plan` asks for, in its order, then takes what systemd
/// passed and no flag claimed. Unix socket files it creates are listed in
/// `created` as they are (to be removed at exit, or at once on failure);
/// `warn` hears what start-up warns of.
pub fn open(
    plan: &Plan,
    inherited: &mut Inherited<OwnedFd>,
    access: Access,
    created: &mut Vec<PathBuf>,
    mut warn: impl FnMut(String),
) -> Result<Listeners, String> {
    let mut l = Listeners::default();
    for want in &plan.wants {
        match want {
            Want::Syslog(path) => {
                let fd = unix_dgram(path, inherited, created)?;
                l.datagrams.push(DgramSource {
                    fd,
                    transport: Transport::Unix,
                    credentials: true,
                });
                l.listening
                    .push(format!("syslog unix datagram {}", path.display()));
            }
            Want::SyslogNet(spec) => {
                let addr = resolve(spec)?;
                let cell = std::cell::RefCell::new(&mut *inherited);
                let (fd, tcp, at) = bind_pair(
                    addr,
                    |a| udp(a, &mut cell.borrow_mut()),
                    |fd| local_addr(fd),
                    |a| tcp_listener(a, &mut cell.borrow_mut()),
                )?;
                tcp.set_nonblocking(true)
                    .map_err(|e| format!("cannot set up TCP {at}: {e}"))?;
                l.datagrams.push(DgramSource {
                    fd,
                    transport: Transport::Udp,
                    credentials: false,
                });
                l.tcp_ingest.push(tcp);
                l.listening.push(format!("syslog UDP and TCP {at}"));
            }
            Want::Query(path) => {
                l.query_unix
                    .push(unix_stream(path, access, inherited, created)?);
                l.listening.push(format!("query {}", path.display()));
            }
            Want::QueryNet(spec) => {
                let addr = resolve(spec)?;
                let listener = tcp_listener(addr, inherited)
                    .map_err(|e| bind_error(&format!("TCP {addr}"), &e))?;
                listener
                    .set_nonblocking(true)
                    .map_err(|e| format!("cannot set up TCP {addr}: {e}"))?;
                let addr = listener.local_addr().unwrap_or(addr);
                l.query_tcp.push(listener);
                l.listening.push(format!("query http://{addr}/"));
                if !addr.ip().is_loopback() {
                    warn(format!(
                        "the query API on {addr} is not on loopback: anyone who can reach it \
                         can read these logs"
                    ));
                }
            }
            Want::Control(path) => {
                l.ctl_unix
                    .push(unix_stream(path, access, inherited, created)?);
                l.listening.push(format!("control {}", path.display()));
            }
        }
    }
    // Sockets from systemd, by name, then what is left by kind.
    let mut taken = Vec::new();
    for name in NAMES {
        let named = inherited
            .take_named(name)
            .into_iter()
            .map(|(fd, p)| set_up(fd, &p, name))
            .collect::<Result<Vec<_>, _>>()?;
        for (fd, kind) in named {
            taken.push((fd, systemd::role(Some(name), kind)?, Some(name)));
        }
    }
    for (fd, p) in inherited.take_rest() {
        let (fd, kind) = set_up(fd, &p, p.name.as_deref().unwrap_or("(unnamed)"))?;
        taken.push((fd, systemd::role(p.name.as_deref(), kind)?, None));
    }
    let restart = inherited.restart;
    for (fd, role, name) in taken {
        let mut line = match restart {
            true => kept(&fd, role),
            false => systemd::listening(name, role),
        };
        // systemd's syslog.socket: say the path journald forwards to.
        if name == Some(systemd::SYSLOG_SOCKET)
            && let Some(path) = unix_path(&fd)
        {
            line = format!("{line} at {}", path.display());
        }
        l.listening.push(line);
        match role {
            Role::Query { tcp: false } => l.query_unix.push(UnixListener::from(fd)),
            Role::Query { tcp: true } => l.query_tcp.push(TcpListener::from(fd)),
            Role::Control => l.ctl_unix.push(UnixListener::from(fd)),
            Role::Senders => l.tcp_ingest.push(TcpListener::from(fd)),
            Role::Datagrams {
                transport,
                credentials,
            } => l.datagrams.push(DgramSource {
                fd,
                transport,
                credentials,
            }),
        }
    }
    Ok(l)
}

/// The start-up line of a socket a restart handed over: what it is for
/// and where, as the line of the process that opened it said.
fn kept(fd: &OwnedFd, role: Role) -> String {
    let at = match (unix_path(fd), local_addr(fd)) {
        (Some(path), _) => path.display().to_string(),
        (None, Some(addr)) => addr.to_string(),
        (None, None) => "(unnamed)".to_string(),
    };
    let what = match role {
        Role::Query { tcp: false } => "query".to_string(),
        Role::Query { tcp: true } => return format!("query http://{at}/ (kept across a restart)"),
        Role::Control => "control".to_string(),
        Role::Datagrams { transport, .. } => format!("syslog {} datagram", transport.name()),
        Role::Senders => "syslog TCP".to_string(),
    };
    format!("{what} {at} (kept across a restart)")
}

/// An inherited socket, set up for what its family and type make it:
/// datagram inputs as circologd's own are (`SO_PASSCRED` on unix ones, a
/// large receive buffer), listeners made ready for tokio.
fn set_up(fd: OwnedFd, p: &Passed, name: &str) -> Result<(OwnedFd, Kind), String> {
    let kind = p
        .family
        .zip(p.kind)
        .and_then(|(family, kind)| Kind::of(family, kind))
        .ok_or_else(|| systemd::unsupported(name))?;
    if kind == Kind::UnixDgram {
        pass_credentials(&fd).map_err(|e| format!("cannot enable SO_PASSCRED on {name}: {e}"))?;
    }
    let (fd, ready) = match kind {
        Kind::UnixDgram | Kind::Udp => {
            prepare_input(&fd);
            (fd, Ok(()))
        }
        Kind::Tcp => {
            let l = TcpListener::from(fd);
            let ready = l.set_nonblocking(true);
            (OwnedFd::from(l), ready)
        }
        Kind::UnixStream => {
            let l = UnixListener::from(fd);
            let ready = l.set_nonblocking(true);
            (OwnedFd::from(l), ready)
        }
    };
    ready.map_err(|e| format!("cannot set up the inherited socket {name}: {e}"))?;
    Ok((fd, kind))
}

/// Turns on `SO_PASSCRED` so that each datagram carries its sender's
/// credentials, as the kernel saw them.
pub fn pass_credentials(fd: impl AsFd) -> io::Result<()> {
    rustix::net::sockopt::set_socket_passcred(fd, true)?;
    Ok(())
}

/// The address a socket is bound to: the real port when `:0` was asked.
fn local_addr(fd: impl AsFd) -> Option<SocketAddr> {
    let addr = rustix::net::getsockname(&fd).ok()?;
    SocketAddr::try_from(addr).ok()
}

/// Resolves `HOST:PORT` to one address.
pub fn resolve(spec: &str) -> Result<SocketAddr, String> {
    spec.to_socket_addrs()
        .map_err(|e| format!("bad address {spec:?}: {e} (expected HOST:PORT)"))?
        .next()
        .ok_or_else(|| format!("address {spec:?} resolves to nothing"))
}

/// Makes `path` free for a new socket: a stale socket file left by a dead
/// daemon is removed; a socket some live process answers on is refused, and
/// so is anything that is not a socket.
fn clear_path(path: &Path, dgram: bool) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot use {}: {e}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{} exists and is not a socket; refusing to replace it",
            path.display()
        ));
    }
    let live = if dgram {
        UnixDatagram::unbound()
            .and_then(|s| s.connect(path))
            .is_ok()
    } else {
        UnixStream::connect(path).is_ok()
    };
    if live {
        return Err(format!(
            "{} is in use by a running process (another circologd?)",
            path.display()
        ));
    }
    std::fs::remove_file(path)
        .map_err(|e| format!("cannot remove the stale socket {}: {e}", path.display()))
}

/// Creates the private directory that holds the default sockets of a
/// non-root user, or checks that an existing one is ours and private.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) => {
            use std::os::unix::fs::MetadataExt;
            if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
                return Err(format!(
                    "{} is not a directory owned by this user; refusing to put sockets there",
                    dir.display()
                ));
            }
            if meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| format!("cannot make {} private: {e}", dir.display()))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display())),
        Err(e) => Err(format!("cannot use {}: {e}", dir.display())),
    }
}

/// A unix datagram socket for syslog input, with `SO_PASSCRED` and a large
/// receive buffer. Anyone may write to it, as to `/dev/log`.
fn unix_dgram(
    path: &Path,
    inherited: &mut Inherited<OwnedFd>,
    created: &mut Vec<PathBuf>,
) -> Result<OwnedFd, String> {
    let fd = match inherited.take_path(path, SocketType::DGRAM) {
        Some(fd) => fd,
        None => {
            clear_path(path, true)?;
            let sock = UnixDatagram::bind(path)
                .map_err(|e| bind_error(&path.display().to_string(), &e))?;
            created.push(path.to_owned());
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666));
            OwnedFd::from(sock)
        }
    };
    prepare_input(&fd);
    pass_credentials(&fd)
        .map_err(|e| format!("cannot enable SO_PASSCRED on {}: {e}", path.display()))?;
    Ok(fd)
}

/// A UDP socket for syslog input.
fn udp(addr: SocketAddr, inherited: &mut Inherited<OwnedFd>) -> io::Result<OwnedFd> {
    let fd = match inherited.take_addr(addr, SocketType::DGRAM) {
        Some(fd) => fd,
        None => OwnedFd::from(UdpSocket::bind(addr)?),
    };
    prepare_input(&fd);
    Ok(fd)
}

/// Blocking mode (io_uring waits for data itself) and a large receive buffer.
fn prepare_input(fd: &OwnedFd) {
    let _ = rustix::io::ioctl_fionbio(fd, false);
    // Beyond net.core.rmem_max only root may go (SO_RCVBUFFORCE); either way
    // a smaller buffer still works, it only absorbs shorter bursts.
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(fd, RCVBUF).is_err() {
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(fd, RCVBUF);
    }
}

/// A TCP listener (for syslog input or the query API), inherited or bound.
fn tcp_listener(addr: SocketAddr, inherited: &mut Inherited<OwnedFd>) -> io::Result<TcpListener> {
    match inherited.take_addr(addr, SocketType::STREAM) {
        Some(fd) => Ok(TcpListener::from(fd)),
        None => TcpListener::bind(addr),
    }
}

/// A unix stream listener for the query or control API, created with the
/// given permissions.
fn unix_stream(
    path: &Path,
    access: Access,
    inherited: &mut Inherited<OwnedFd>,
    created: &mut Vec<PathBuf>,
) -> Result<UnixListener, String> {
    let listener = match inherited.take_path(path, SocketType::STREAM) {
        Some(fd) => UnixListener::from(fd),
        None => {
            clear_path(path, false)?;
            // Create it private, then open it up to what was asked: no
            // moment when it is wider than that.
            let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
            let bound = UnixListener::bind(path);
            rustix::process::umask(old);
            let listener = bound.map_err(|e| bind_error(&path.display().to_string(), &e))?;
            created.push(path.to_owned());
            if let Some(gid) = access.gid {
                rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
                    .map_err(|e| format!("cannot give {} to group {gid}: {e}", path.display()))?;
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode))
                .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
            listener
        }
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot set up {}: {e}", path.display()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &[&str]) -> Args {
        let argv = std::iter::once("circologd").chain(line.iter().copied());
        let flags = crate::cli::config::LongFlags::of(&<Args as clap::CommandFactory>::command());
        Args::try_parse_from(flags.rewrite(argv.map(Into::into))).expect("a good command line")
    }

    fn defaults() -> DefaultPaths {
        DefaultPaths {
            dir: Some("/tmp/circolog-1000".into()),
            syslog: "/tmp/circolog-1000/circolog-syslog.sock".into(),
            query: "/tmp/circolog-1000/circolog-query.sock".into(),
            ctl: "/tmp/circolog-1000/circolog-ctl.sock".into(),
        }
    }

    fn plan(line: &[&str], inherited: bool) -> Plan {
        Plan::new(&args(line), inherited, || {
            assert!(!inherited, "defaults asked for beside systemd's sockets");
            defaults()
        })
    }

    fn path(p: &str) -> PathBuf {
        PathBuf::from(p)
    }

    #[test]
    fn no_listener_flag_and_nothing_passed_listens_on_the_defaults() {
        let d = defaults();
        assert_eq!(
            plan(&["-buffer-size", "10"], false),
            Plan {
                private_dir: d.dir,
                wants: vec![
                    Want::Syslog(d.syslog),
                    Want::Query(d.query),
                    Want::Control(d.ctl)
                ],
            }
        );
    }

    #[test]
    fn sockets_from_systemd_replace_the_defaults() {
        assert_eq!(
            plan(&[], true),
            Plan {
                private_dir: None,
                wants: vec![],
            }
        );
    }

    #[test]
    fn every_listener_flag_in_the_order_it_is_opened() {
        let p = plan(
            &[
                "-ctl-socket",
                "/c",
                "-query-addr",
                "127.0.0.1:0",
                "-syslog-addr",
                "[::1]:514",
                "-syslogd-socket",
                "/a",
                "-query-socket",
                "/q",
                "--syslogd-socket=/b",
                "-syslog-addr",
                "127.0.0.1:0",
            ],
            false,
        );
        assert_eq!(
            p.wants,
            [
                Want::Syslog(path("/a")),
                Want::Syslog(path("/b")),
                Want::SyslogNet("[::1]:514".into()),
                Want::SyslogNet("127.0.0.1:0".into()),
                Want::Query(path("/q")),
                Want::QueryNet("127.0.0.1:0".into()),
                Want::Control(path("/c")),
            ]
        );
        assert_eq!(p.private_dir, None);
        // Each listener flag alone is all that is opened, with or without
        // sockets from systemd beside it.
        for (line, want) in [
            (["-syslogd-socket", "/a"], Want::Syslog(path("/a"))),
            (["-syslog-addr", "h:1"], Want::SyslogNet("h:1".into())),
            (["-query-socket", "/q"], Want::Query(path("/q"))),
            (["-query-addr", "h:2"], Want::QueryNet("h:2".into())),
            (["-ctl-socket", "/c"], Want::Control(path("/c"))),
        ] {
            for inherited in [false, true] {
                assert_eq!(
                    plan(&line, inherited).wants,
                    std::slice::from_ref(&want),
                    "{line:?}"
                );
            }
        }
    }

    fn passed(name: Option<&str>, family: AddressFamily, kind: SocketType, local: Local) -> Passed {
        Passed {
            name: name.map(str::to_owned),
            family: Some(family),
            kind: Some(kind),
            local,
        }
    }

    fn unix_at(p: &str) -> Local {
        Local::Unix(Some(p.as_bytes().to_vec()))
    }

    fn ip(a: &str) -> Local {
        Local::Ip(a.parse().expect("address"))
    }

    /// A socket-activation mix: sockets matched by a flag's path or
    /// address, by name, and the rest, each taken once.
    #[test]
    fn inherited_sockets_are_matched_by_path_address_name_then_kind() {
        use AddressFamily as F;
        use SocketType as T;
        let mut inh = Inherited::new(vec![
            (
                "log",
                passed(None, F::UNIX, T::DGRAM, unix_at("/run/log.sock")),
            ),
            (
                "q-by-path",
                passed(Some("x"), F::UNIX, T::STREAM, unix_at("/run/q.sock")),
            ),
            ("udp", passed(None, F::INET, T::DGRAM, ip("127.0.0.1:514"))),
            ("tcp", passed(None, F::INET, T::STREAM, ip("127.0.0.1:514"))),
            (
                "ctl",
                passed(Some("ctl"), F::UNIX, T::STREAM, Local::Unix(None)),
            ),
            (
                "query",
                passed(Some("query"), F::INET6, T::STREAM, ip("[::1]:80")),
            ),
            (
                "syslog",
                passed(Some("syslog"), F::INET, T::STREAM, ip("0.0.0.0:601")),
            ),
            (
                "other",
                passed(Some("other"), F::UNIX, T::DGRAM, Local::Unix(None)),
            ),
            (
                "journal",
                passed(
                    Some("syslog.socket"),
                    F::UNIX,
                    T::DGRAM,
                    Local::Unix(Some(b"/run/systemd/journal/syslog".to_vec())),
                ),
            ),
        ]);
        assert!(!inh.is_empty());
        // A path of the other type, or an address of the other type, is no match.
        assert_eq!(inh.take_path(Path::new("/run/log.sock"), T::STREAM), None);
        assert_eq!(
            inh.take_path(Path::new("/run/log.sock"), T::DGRAM),
            Some("log")
        );
        assert_eq!(
            inh.take_path(Path::new("/run/log.sock"), T::DGRAM),
            None,
            "taken once"
        );
        assert_eq!(
            inh.take_path(Path::new("/run/q.sock"), T::STREAM),
            Some("q-by-path")
        );
        let a: SocketAddr = "127.0.0.1:514".parse().expect("address");
        assert_eq!(inh.take_addr(a, T::DGRAM), Some("udp"));
        assert_eq!(inh.take_addr(a, T::STREAM), Some("tcp"));
        assert_eq!(
            inh.take_addr("127.0.0.1:0".parse().expect("a"), T::DGRAM),
            None
        );
        // A restart's kept socket is what port 0 was given.
        let mut kept = Inherited::new(vec![(
            "udp",
            passed(None, AddressFamily::INET, T::DGRAM, ip("127.0.0.1:5140")),
        )]);
        let any: SocketAddr = "127.0.0.1:0".parse().expect("a");
        assert_eq!(kept.take_addr(any, T::DGRAM), None, "not from systemd");
        kept.from_restart();
        assert_eq!(
            kept.take_addr("10.0.0.1:0".parse().expect("a"), T::DGRAM),
            None
        );
        assert_eq!(kept.take_addr(any, T::DGRAM), Some("udp"));
        let named: Vec<Vec<&str>> = NAMES
            .iter()
            .map(|n| inh.take_named(n).into_iter().map(|(t, _)| t).collect())
            .collect();
        assert_eq!(
            named,
            [vec!["query"], vec!["ctl"], vec!["syslog"], vec!["journal"]]
        );
        let rest: Vec<&str> = inh.take_rest().into_iter().map(|(t, _)| t).collect();
        assert_eq!(rest, ["other"]);
        assert!(inh.is_empty());
    }

    fn addr(a: &str) -> SocketAddr {
        a.parse().expect("address")
    }

    fn in_use() -> io::Error {
        io::ErrorKind::AddrInUse.into()
    }

    type Paired = Result<(u16, u16, SocketAddr), String>;

    /// The kernel's UDP choices, in order, and the TCP ports taken: what
    /// `bind_pair` tries, and what it ends with.
    fn pair(ask: &str, udp_ports: &[u16], tcp_taken: &[u16]) -> (Paired, Vec<u16>) {
        let mut choices = udp_ports.iter().copied();
        let mut tried = Vec::new();
        let got = bind_pair(
            addr(ask),
            |a| match a.port() {
                0 => choices.next().ok_or_else(in_use),
                p => Ok(p),
            },
            |&p| Some(SocketAddr::new(addr(ask).ip(), p)),
            |a| {
                tried.push(a.port());
                if tcp_taken.contains(&a.port()) {
                    Err(in_use())
                } else {
                    Ok(a.port())
                }
            },
        );
        (got, tried)
    }

    #[test]
    fn port_0_tries_again_when_tcp_has_the_kernels_udp_choice() {
        let (got, tried) = pair("127.0.0.1:0", &[40000, 40001], &[40000]);
        assert_eq!(got, Ok((40001, 40001, addr("127.0.0.1:40001"))));
        assert_eq!(tried, [40000, 40001]);
        // The first choice free for both is taken at once.
        let (got, tried) = pair("[::1]:0", &[5000], &[]);
        assert_eq!(got, Ok((5000, 5000, addr("[::1]:5000"))));
        assert_eq!(tried, [5000]);
    }

    #[test]
    fn port_0_gives_up_after_a_few_ports_naming_the_last() {
        let ports: Vec<u16> = (40000..40100).collect();
        let (got, tried) = pair("127.0.0.1:0", &ports, &ports);
        assert_eq!(tried.len(), PAIR_TRIES);
        assert_eq!(
            got,
            Err(format!(
                "TCP 127.0.0.1:{} is already in use",
                40000 + PAIR_TRIES - 1
            ))
        );
        // No UDP port left at all: the UDP error.
        let (got, _) = pair("127.0.0.1:0", &[40000], &[40000]);
        assert_eq!(got, Err("UDP 127.0.0.1:0 is already in use".into()));
    }

    #[test]
    fn a_port_given_is_that_port_or_an_error() {
        let (got, tried) = pair("127.0.0.1:514", &[], &[514]);
        assert_eq!(got, Err("TCP 127.0.0.1:514 is already in use".into()));
        assert_eq!(tried, [514], "no other port for a port given");
        let (got, _) = pair("127.0.0.1:514", &[], &[]);
        assert_eq!(got, Ok((514, 514, addr("127.0.0.1:514"))));
    }
}
