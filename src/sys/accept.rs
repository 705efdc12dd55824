//! What the accept loops ask of an accepted connection.

#![forbid(unsafe_code)]

use std::io;

/// `accept` failed for want of descriptors (`EMFILE`, `ENFILE`).
pub fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Whether this unix peer may use the socket ([`crate::serve::access::allowed`]).
pub fn peer_allowed(stream: &std::os::unix::net::UnixStream, gid: Option<u32>) -> bool {
    let Ok(cred) = rustix::net::sockopt::socket_peercred(stream) else {
        return false;
    };
    let peer = crate::serve::access::PeerCred {
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    };
    // Supplementary groups of the peer process, as the kernel lists them.
    let status =
        || std::fs::read_to_string(format!("/proc/{}/status", cred.pid.as_raw_nonzero())).ok();
    crate::serve::access::allowed(peer, rustix::process::geteuid().as_raw(), gid, status)
}
