//! Opening the sockets: unix paths (a stale socket file is replaced, a live
//! one refused), TCP and UDP addresses, and sockets handed over by systemd
//! (`LISTEN_FDS`; what each is for is [`circolog::daemon::systemd::role`]). Every
//! failure is one line for the user.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use circolog::daemon::startup::bind_error;
use circolog::daemon::systemd::{self, Kind, Role};
use rustix::net::{AddressFamily, SocketType};

/// Receive buffer asked for on syslog input sockets, so that bursts wait in
/// the kernel rather than being dropped (UDP) or blocking senders (unix).
const RCVBUF: usize = 8 << 20;

/// Sockets systemd passed to this process, consumed as listeners claim them.
pub struct Inherited {
    fds: Vec<(OwnedFd, Option<String>)>,
}

impl Inherited {
    /// Takes the sockets of `LISTEN_FDS` when `LISTEN_PID` is this process.
    pub fn from_env() -> Inherited {
        let mut fds = Vec::new();
        let var = |name| std::env::var(name).ok();
        let passed = systemd::passed_sockets(
            var("LISTEN_PID").as_deref(),
            var("LISTEN_FDS").as_deref(),
            var("LISTEN_FDNAMES").as_deref(),
            std::process::id(),
        );
        if let Some((n, names)) = passed {
            for (i, fd) in crate::sys::take_listen_fds(n) {
                let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
                fds.push((fd, names.get(i).cloned().flatten()));
            }
        }
        Inherited { fds }
    }

    /// The inherited socket bound to this unix path, if any.
    fn take_path(&mut self, path: &Path, kind: SocketType) -> Option<OwnedFd> {
        let pos = self.fds.iter().position(|(fd, _)| {
            socket_kind(fd) == Some((AddressFamily::UNIX, kind))
                && rustix::net::getsockname(fd).ok().is_some_and(|a| {
                    rustix::net::SocketAddrUnix::try_from(a)
                        .ok()
                        .and_then(|u| u.path().map(|p| p.to_bytes().to_vec()))
                        .is_some_and(|p| p == path.as_os_str().as_encoded_bytes())
                })
        })?;
        Some(self.fds.swap_remove(pos).0)
    }

    /// The inherited socket bound to this IP address, if any.
    fn take_addr(&mut self, addr: SocketAddr, kind: SocketType) -> Option<OwnedFd> {
        let pos = self.fds.iter().position(|(fd, _)| {
            socket_kind(fd).is_some_and(|(_, k)| k == kind)
                && local_ip_addr(fd).is_some_and(|a| a == addr)
        })?;
        Some(self.fds.swap_remove(pos).0)
    }

    /// The inherited sockets named `name` with `FileDescriptorName=`, with
    /// what each is for ([`systemd::role`]).
    pub fn take_named(&mut self, name: &str) -> Result<Vec<(OwnedFd, Role)>, String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.fds.len() {
            if self.fds[i].1.as_deref() == Some(name) {
                let (fd, _) = self.fds.swap_remove(i);
                out.push(set_up(fd, name)?);
            } else {
                i += 1;
            }
        }
        out.into_iter()
            .map(|(fd, kind)| systemd::role(Some(name), kind).map(|r| (fd, r)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Inherited sockets that no flag and no name asked for: datagram ones
    /// are syslog input; stream ones cannot be told apart and are refused
    /// ([`systemd::role`]).
    pub fn take_rest(&mut self) -> Result<Vec<(OwnedFd, Role)>, String> {
        let mut dgrams = Vec::new();
        for (fd, name) in self.fds.drain(..) {
            let (fd, kind) = set_up(fd, name.as_deref().unwrap_or("(unnamed)"))?;
            dgrams.push((fd, systemd::role(name.as_deref(), kind)?));
        }
        Ok(dgrams)
    }
}

/// The path a unix socket is bound to, if it is one bound to a path.
pub fn unix_path(fd: &OwnedFd) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let addr = rustix::net::getsockname(fd).ok()?;
    let unix = rustix::net::SocketAddrUnix::try_from(addr).ok()?;
    let path = unix.path()?;
    Some(std::ffi::OsStr::from_bytes(path.to_bytes()).into())
}

/// An inherited socket, set up for what its family and type make it:
/// datagram inputs as circologd's own are (`SO_PASSCRED` on unix ones, a
/// large receive buffer), listeners made ready for tokio.
fn set_up(fd: OwnedFd, name: &str) -> Result<(OwnedFd, Kind), String> {
    let kind = socket_kind(&fd)
        .and_then(|(family, kind)| Kind::of(family, kind))
        .ok_or_else(|| systemd::unsupported(name))?;
    if kind == Kind::UnixDgram {
        crate::dgram::pass_credentials(&fd)
            .map_err(|e| format!("cannot enable SO_PASSCRED on {name}: {e}"))?;
    }
    let (fd, ready) = match kind {
        Kind::UnixDgram | Kind::Udp => {
            let ready = prepare_input(&fd);
            (fd, ready)
        }
        Kind::Tcp => {
            let l = TcpListener::from(fd);
            let ready = l.set_nonblocking(true).map_err(|e| e.to_string());
            (OwnedFd::from(l), ready)
        }
        Kind::UnixStream => {
            let l = UnixListener::from(fd);
            let ready = l.set_nonblocking(true).map_err(|e| e.to_string());
            (OwnedFd::from(l), ready)
        }
    };
    ready.map_err(|e| format!("cannot set up the inherited socket {name}: {e}"))?;
    Ok((fd, kind))
}

fn socket_kind(fd: impl AsFd) -> Option<(AddressFamily, SocketType)> {
    let kind = rustix::net::sockopt::socket_type(&fd).ok()?;
    let addr = rustix::net::getsockname(&fd).ok()?;
    Some((addr.address_family(), kind))
}

/// The address a socket is bound to: the real port when `:0` was asked.
pub fn local_addr(fd: impl AsFd) -> Option<SocketAddr> {
    local_ip_addr(fd)
}

fn local_ip_addr(fd: impl AsFd) -> Option<SocketAddr> {
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

/// Who may use a query or control socket file.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub mode: u32,
    pub gid: Option<u32>,
}

/// A unix datagram socket for syslog input, with `SO_PASSCRED` and a large
/// receive buffer. Anyone may write to it, as to `/dev/log`.
pub fn unix_dgram(
    path: &Path,
    inherited: &mut Inherited,
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
    prepare_input(&fd)?;
    crate::dgram::pass_credentials(&fd)
        .map_err(|e| format!("cannot enable SO_PASSCRED on {}: {e}", path.display()))?;
    Ok(fd)
}

/// A UDP socket for syslog input.
pub fn udp(addr: SocketAddr, inherited: &mut Inherited) -> Result<OwnedFd, String> {
    let fd = match inherited.take_addr(addr, SocketType::DGRAM) {
        Some(fd) => fd,
        None => OwnedFd::from(
            UdpSocket::bind(addr).map_err(|e| bind_error(&format!("UDP {addr}"), &e))?,
        ),
    };
    prepare_input(&fd)?;
    Ok(fd)
}

/// Blocking mode (io_uring waits for data itself) and a large receive buffer.
fn prepare_input(fd: &OwnedFd) -> Result<(), String> {
    let _ = rustix::io::ioctl_fionbio(fd, false);
    // Beyond net.core.rmem_max only root may go (SO_RCVBUFFORCE); either way
    // a smaller buffer still works, it only absorbs shorter bursts.
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(fd, RCVBUF).is_err() {
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(fd, RCVBUF);
    }
    Ok(())
}

/// A TCP listener (for syslog input or the query API), ready for tokio.
pub fn tcp(addr: SocketAddr, inherited: &mut Inherited) -> Result<TcpListener, String> {
    let listener = match inherited.take_addr(addr, SocketType::STREAM) {
        Some(fd) => TcpListener::from(fd),
        None => TcpListener::bind(addr).map_err(|e| bind_error(&format!("TCP {addr}"), &e))?,
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot set up TCP {addr}: {e}"))?;
    Ok(listener)
}

/// A unix stream listener for the query or control API, created with the
/// given permissions.
pub fn unix_stream(
    path: &Path,
    access: Access,
    inherited: &mut Inherited,
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
