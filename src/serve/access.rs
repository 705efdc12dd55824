//! Who may use the query and control sockets (README "Access"): root and
//! the daemon's own user always; members of `-socket-group`, as the peer's
//! primary or one of its supplementary groups, when it is given; nobody
//! else (the connection is answered `403`). The driver reads the peer's
//! credentials (`SO_PEERCRED`) and, only when they do not decide,
//! `/proc/PID/status`.

/// A unix socket's peer, as the kernel saw it when it connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    pub uid: u32,
    pub gid: u32,
}

/// Whether `peer` may use a socket of the daemon running as `daemon_uid`
/// with `-socket-group` `gid`. `proc_status` reads the text of the peer's
/// `/proc/PID/status`, for its supplementary groups; it is called only
/// when the rest does not decide.
pub fn allowed(
    peer: PeerCred,
    daemon_uid: u32,
    gid: Option<u32>,
    proc_status: impl FnOnce() -> Option<String>,
) -> bool {
    if peer.uid == 0 || peer.uid == daemon_uid {
        return true;
    }
    let Some(gid) = gid else { return false };
    if peer.gid == gid {
        return true;
    }
    proc_status().is_some_and(|s| in_groups(&s, gid))
}

/// Whether `gid` is on the `Groups:` line of a `/proc/PID/status` text.
fn in_groups(status: &str, gid: u32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .is_some_and(|g| g.split_whitespace().any(|g| g.parse() == Ok(gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tcurl\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n\
                          Groups:\t4 24 998 \nNSpid:\t4242\n";

    fn user(uid: u32, gid: u32) -> PeerCred {
        PeerCred { uid, gid }
    }

    fn unread() -> Option<String> {
        panic!("/proc read although the credentials decide")
    }

    #[test]
    fn root_and_the_daemons_own_user_always() {
        assert!(allowed(user(0, 0), 1000, None, unread));
        assert!(allowed(user(1000, 1000), 1000, None, unread));
        assert!(allowed(user(0, 0), 0, Some(998), unread));
    }

    #[test]
    fn anyone_else_only_through_the_socket_group() {
        // No -socket-group: nobody else, whatever the groups.
        assert!(!allowed(user(1001, 1001), 0, None, unread));
        // Its primary group.
        assert!(allowed(user(1001, 998), 0, Some(998), unread));
        // A supplementary group, from /proc.
        let status = || Some(STATUS.to_string());
        assert!(allowed(user(1001, 1001), 0, Some(998), status));
        assert!(allowed(user(1001, 1001), 0, Some(4), status));
        assert!(!allowed(user(1001, 1001), 0, Some(99), status));
        // A peer gone before its status could be read is refused.
        assert!(!allowed(user(1001, 1001), 0, Some(998), || None));
        // A status without a Groups: line names no group.
        assert!(!allowed(user(1001, 1001), 0, Some(998), || Some(
            "Name:\tx\n".into()
        )));
    }
}
