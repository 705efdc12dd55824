//! The sender's credentials a unix datagram carries (`SCM_CREDENTIALS`,
//! with `SO_PASSCRED` on the socket), read from the bytes of its control
//! message: the kernel's word on who sent it, which the sender cannot fake.

use std::mem::{offset_of, size_of};

use crate::store::ring::Cred;

/// Where a control message's data starts: its header, aligned as the
/// kernel aligns it (`CMSG_LEN(0)`).
const DATA: usize = size_of::<libc::cmsghdr>().next_multiple_of(size_of::<usize>());

/// Reads `SCM_CREDENTIALS` from a control message buffer (`None`: another
/// message, too short, or no credentials taken).
pub fn parse(control: &[u8]) -> Option<Cred> {
    // struct cmsghdr { cmsg_len; cmsg_level; cmsg_type; } then struct ucred.
    let word = |at: usize| -> Option<[u8; 4]> { control.get(at..at + 4)?.try_into().ok() };
    let level = i32::from_ne_bytes(word(offset_of!(libc::cmsghdr, cmsg_level))?);
    let kind = i32::from_ne_bytes(word(offset_of!(libc::cmsghdr, cmsg_type))?);
    if level != libc::SOL_SOCKET || kind != libc::SCM_CREDENTIALS {
        return None;
    }
    let field = |at: usize| word(DATA + at).map(u32::from_ne_bytes);
    let pid = field(offset_of!(libc::ucred, pid))?;
    // A datagram queued before SO_PASSCRED was set (the one that woke a
    // socket-activated daemon) carries pid 0 and the overflow ids: no
    // credentials were taken, and none are stored rather than made-up ones.
    if pid == 0 {
        return None;
    }
    Some(Cred {
        pid,
        uid: field(offset_of!(libc::ucred, uid))?,
        gid: field(offset_of!(libc::ucred, gid))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scm_credentials() {
        assert_eq!(DATA, 16, "64-bit Linux");
        let mut c = vec![0u8; 32];
        c[0..8].copy_from_slice(&28usize.to_ne_bytes());
        c[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        c[12..16].copy_from_slice(&libc::SCM_CREDENTIALS.to_ne_bytes());
        c[16..20].copy_from_slice(&4242u32.to_ne_bytes());
        c[20..24].copy_from_slice(&1000u32.to_ne_bytes());
        c[24..28].copy_from_slice(&100u32.to_ne_bytes());
        assert_eq!(
            parse(&c),
            Some(Cred {
                pid: 4242,
                uid: 1000,
                gid: 100
            })
        );
        assert_eq!(parse(&c[..20]), None);
        let mut none = c.clone();
        none[16..20].fill(0);
        assert_eq!(parse(&none), None, "pid 0: no credentials taken");
        c[12] = 9;
        assert_eq!(parse(&c), None);
    }
}
