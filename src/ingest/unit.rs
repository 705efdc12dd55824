//! Who sent it: the systemd unit of a local sender, read from the cgroup of
//! its kernel-verified pid (`/proc/PID/cgroup`), as journald's
//! `_SYSTEMD_UNIT` names it: `nginx.service`, `session-4.scope`,
//! `user@1000.service`.
//!
//! [`unit_of_cgroup`] reads the file's text without copying; [`Units`] is
//! the bounded per-pid cache in front of it, so that a flood from one
//! process costs one look-up a second, and a message none. The reading
//! itself is the caller's (a closure that fills a buffer), so this module
//! does no I/O and is tested on text.

/// The longest unit name there is (systemd's `UNIT_NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// The longest unit name kept: every one, so that what is stored with a
/// message is the name the unit has (the cache's table is that much
/// larger, about a megabyte at the daemon's 4096 pids).
pub const UNIT_MAX: usize = NAME_MAX;

/// How long a pid's unit is trusted before it is read again, µs: at most
/// one look-up per pid per second.
pub const TTL_US: i64 = 1_000_000;

/// Bytes of `/proc/PID/cgroup` read at most; a longer file (a cgroup v1
/// host with every controller) is read that far, which holds its systemd
/// lines in practice.
pub const FILE_MAX: usize = 4096;

/// Ways of each set of [`Units`]: a pid is forgotten before its second is
/// up only when this many others that hash alike come within it.
const WAYS: usize = 4;

/// Fills the buffer with `/proc/PID/cgroup` of a pid and returns its
/// length; `None` when it cannot be read (the process is gone). The
/// daemon's reads the file; tests give text.
pub type CgroupReader = fn(u32, &mut [u8]) -> Option<usize>;

/// The unit named by the text of a `/proc/PID/cgroup` file: the cgroup v2
/// line (`0::/system.slice/nginx.service`), else the v1 `name=systemd` one
/// of a hybrid host. `None` when the process is in no unit.
pub fn unit_of_cgroup(file: &[u8]) -> Option<&[u8]> {
    let mut v1 = None;
    for line in file.split(|&b| b == b'\n') {
        let mut parts = line.splitn(3, |&b| b == b':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == b"0" && controllers.is_empty() {
            if let Some(unit) = unit_of_path(path) {
                return Some(unit);
            }
        } else if controllers == b"name=systemd" {
            v1 = unit_of_path(path);
        }
    }
    v1
}

/// The unit of a cgroup path, as systemd reads it: slices are skipped, and
/// the first other component is the unit if it is a unit's name.
pub fn unit_of_path(path: &[u8]) -> Option<&[u8]> {
    let first = path
        .split(|&b| b == b'/')
        .find(|c| !c.is_empty() && !c.ends_with(b".slice"))?;
    is_unit_name(first).then_some(first)
}

/// The kinds of unit a process can be in, as its cgroup names them.
const KINDS: [&[u8]; 2] = [b".service", b".scope"];

/// A unit name: `NAME.KIND` (or a template's `NAME@INSTANCE.KIND`), of
/// the characters systemd allows, [`NAME_MAX`] bytes at most.
pub fn is_unit_name(s: &[u8]) -> bool {
    let Some(kind) = KINDS.iter().find(|k| s.ends_with(k)) else {
        return false;
    };
    let name = &s[..s.len() - kind.len()];
    !name.is_empty()
        && s.len() <= NAME_MAX
        && name.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'\\' | b'-' | b'@')
        })
}

/// A unit name kept inline: at most [`UNIT_MAX`] bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitName {
    /// INVARIANT: `len <= UNIT_MAX`, and `bytes[len..]` is zero.
    len: u8,
    bytes: [u8; UNIT_MAX],
}

impl UnitName {
    pub fn new(name: &[u8]) -> UnitName {
        let len = name.len().min(UNIT_MAX);
        let mut bytes = [0; UNIT_MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        UnitName {
            len: len as u8,
            bytes,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for UnitName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[derive(Clone, Copy)]
struct Slot {
    /// 0: empty (no process has pid 0).
    pid: u32,
    /// When it was read, µs.
    read_us: i64,
    /// `None`: the process was in no unit, or gone.
    unit: Option<UnitName>,
}

/// The per-pid cache of units: a fixed table of sets of [`WAYS`] pids,
/// allocated at start, each pid read again once its second is up. Pids are
/// reused by the kernel: a new process with an old pid has the old one's
/// unit for at most that second.
pub struct Units {
    /// INVARIANT: a power of two times `WAYS` long.
    slots: Box<[Slot]>,
    /// Where the file is read.
    file: Box<[u8]>,
    /// Files read since start.
    reads: u64,
}

impl Units {
    /// A cache of about `capacity` pids (at least `WAYS`).
    pub fn new(capacity: usize) -> Units {
        let sets = (capacity / WAYS).max(1).next_power_of_two();
        let empty = Slot {
            pid: 0,
            read_us: 0,
            unit: None,
        };
        Units {
            slots: vec![empty; sets * WAYS].into_boxed_slice(),
            file: vec![0; FILE_MAX].into_boxed_slice(),
            reads: 0,
        }
    }

    /// The unit of `pid` at `now_us`: from the cache when it was read less
    /// than a second ago, else read with `read` (which fills the buffer
    /// with `/proc/PID/cgroup` and returns its length; `None`: the process
    /// is gone). Allocates nothing.
    pub fn lookup(
        &mut self,
        pid: u32,
        now_us: i64,
        read: impl FnOnce(u32, &mut [u8]) -> Option<usize>,
    ) -> Option<UnitName> {
        if pid == 0 {
            return None;
        }
        let sets = self.slots.len() / WAYS;
        // Fibonacci hashing: consecutive pids go to different sets.
        let set = (u64::from(pid).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & (sets - 1);
        let ways = &mut self.slots[set * WAYS..(set + 1) * WAYS];
        let fresh = |s: &Slot| now_us >= s.read_us && now_us - s.read_us < TTL_US;
        let way = match ways.iter().position(|s| s.pid == pid) {
            Some(w) if fresh(&ways[w]) => return ways[w].unit,
            Some(w) => w,
            // An empty way, else the one read longest ago.
            None => (0..WAYS)
                .min_by_key(|&w| (ways[w].pid != 0, ways[w].read_us))
                .unwrap_or(0),
        };
        self.reads += 1;
        let unit = read(pid, &mut self.file)
            .and_then(|n| unit_of_cgroup(&self.file[..n.min(FILE_MAX)]))
            .map(UnitName::new);
        self.slots[set * WAYS + way] = Slot {
            pid,
            read_us: now_us,
            unit,
        };
        unit
    }

    /// Files read since start.
    pub fn reads(&self) -> u64 {
        self.reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit(file: &str) -> Option<&str> {
        unit_of_cgroup(file.as_bytes()).map(|u| std::str::from_utf8(u).unwrap())
    }

    #[test]
    fn the_unit_of_a_cgroup_v2_path() {
        assert_eq!(
            unit("0::/system.slice/nginx.service\n"),
            Some("nginx.service")
        );
        assert_eq!(
            unit("0::/user.slice/user-1000.slice/session-4.scope\n"),
            Some("session-4.scope")
        );
        // A user's own units are under their manager's: journald's
        // _SYSTEMD_UNIT is the manager.
        assert_eq!(
            unit("0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n"),
            Some("user@1000.service")
        );
        assert_eq!(unit("0::/init.scope\n"), Some("init.scope"));
        assert_eq!(
            unit("0::/circolog-test.slice/foo.service"),
            Some("foo.service")
        );
        assert_eq!(
            unit("0::/system.slice/getty@tty1.service\n"),
            Some("getty@tty1.service")
        );
        // A service's own sub-cgroups do not change it.
        assert_eq!(
            unit("0::/system.slice/docker.service/payload\n"),
            Some("docker.service")
        );
    }

    #[test]
    fn no_unit() {
        assert_eq!(unit("0::/\n"), None);
        assert_eq!(unit("0::/user.slice\n"), None);
        assert_eq!(unit("0::/docker/0123abcd\n"), None);
        assert_eq!(unit("0::/lxc.payload.c1/system.slice/x.service\n"), None);
        assert_eq!(unit(""), None);
        assert_eq!(unit("garbage"), None);
        assert_eq!(unit("0::/.service\n"), None);
        assert_eq!(unit("0::/bad name.service\n"), None);
    }

    #[test]
    fn a_hybrid_host_falls_back_to_name_systemd() {
        let hybrid = "12:cpu:/\n1:name=systemd:/system.slice/cron.service\n0::/\n";
        assert_eq!(unit(hybrid), Some("cron.service"));
        let both = "1:name=systemd:/system.slice/old.service\n0::/system.slice/new.service\n";
        assert_eq!(unit(both), Some("new.service"));
    }

    fn reader<'a>(
        text: &'static str,
        calls: &'a mut u32,
    ) -> impl FnOnce(u32, &mut [u8]) -> Option<usize> + 'a {
        move |_, buf| {
            *calls += 1;
            let n = text.len().min(buf.len());
            buf[..n].copy_from_slice(&text.as_bytes()[..n]);
            Some(n)
        }
    }

    #[test]
    fn one_look_up_per_pid_per_second() {
        let mut u = Units::new(64);
        let mut calls = 0;
        let nginx = Some(UnitName::new(b"nginx.service"));
        for t in 0..10 {
            let got = u.lookup(
                42,
                t * 100_000,
                reader("0::/system.slice/nginx.service\n", &mut calls),
            );
            assert_eq!(got, nginx);
        }
        assert_eq!(calls, 1, "read once in its second");
        let got = u.lookup(
            42,
            TTL_US,
            reader("0::/system.slice/other.service\n", &mut calls),
        );
        assert_eq!(
            got,
            Some(UnitName::new(b"other.service")),
            "read again after it"
        );
        assert_eq!(calls, 2);
        // A clock that steps back reads again rather than trusting forever.
        let _ = u.lookup(42, 0, reader("0::/\n", &mut calls));
        assert_eq!(calls, 3);
        // Gone: no unit, and that is cached too.
        assert_eq!(u.lookup(7, 0, |_, _| None), None);
        assert_eq!(u.lookup(7, 1, |_, _| panic!("cached")), None);
        assert_eq!(u.lookup(0, 0, |_, _| panic!("pid 0 is nobody")), None);
        assert_eq!(u.reads(), 4);
    }

    #[test]
    fn a_long_name_is_cut_and_a_long_file_is_read_so_far() {
        let long = format!("0::/system.slice/{}.service\n", "a".repeat(300));
        let got = unit_of_cgroup(long.as_bytes());
        assert_eq!(got, None, "over systemd's 255");
        let name = format!("{}.service", "b".repeat(300));
        assert_eq!(UnitName::new(name.as_bytes()).as_bytes().len(), UNIT_MAX);
    }

    proptest! {
        #[test]
        fn any_file_is_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Some(u) = unit_of_cgroup(&bytes) {
                prop_assert!(u.ends_with(b".service") || u.ends_with(b".scope"));
            }
        }

        /// Under pid churn the table stays its size, and a pid looked up
        /// again within its second is read again only when more than WAYS
        /// others of its set came between.
        #[test]
        fn churn_is_bounded(pids in proptest::collection::vec(1u32..100_000, 1..2000)) {
            let mut u = Units::new(4096);
            let slots = u.slots.len();
            for (i, &pid) in pids.iter().enumerate() {
                let _ = u.lookup(pid, i as i64, |_, buf| {
                    buf[..4].copy_from_slice(b"0::/");
                    Some(4)
                });
            }
            prop_assert_eq!(u.slots.len(), slots);
            prop_assert!(u.reads() <= pids.len() as u64);
        }
    }
}
