//! The memory file: made of the kind `-memory` asks for, sized for the
//! ring's and the snapshots' sections (`crate::store::file`) and, after
//! them, the datagram receive buffers, and mapped in those three parts.

#![forbid(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};

use crate::daemon::args::Args;
use crate::store::file::{Memory, PAGE, SnapshotSpace};
use crate::store::ring::{Refused, Ring};
use crate::store::snapshot::Snapshots;
use memmap2::MmapMut;

use crate::sys::{self, RecvBatch};

/// What start-up made.
pub struct Made {
    pub ring: Ring,
    /// The receive buffers' part of the file.
    pub buffers: MmapMut,
    /// The snapshot store, in its part of the file.
    pub snapshots: Snapshots,
    /// The file itself, kept open for as long as the process runs.
    pub file: OwnedFd,
    /// The start-up lines: which kind and why, for `-memory auto`; that an
    /// inherited file was not a ring.
    pub said: Option<String>,
    /// An inherited file that was not adopted (its contents overwritten):
    /// to be taken out of the service manager's store.
    pub replaced: Option<OwnedFd>,
}

/// The memory file: `inherited` (a ring handed over by the service
/// manager or a previous process) adopted when it is of the kind and
/// geometry `args` ask for; else a new one of the best kind `args` allows,
/// holding a copy of the newest messages of `inherited` that fit, or a
/// fresh ring. Whatever is not kept of `inherited` is overwritten.
pub fn open(args: &Args, max_message: usize, inherited: Option<OwnedFd>) -> Result<Made, String> {
    let Some(old) = inherited else {
        return make(args, max_message);
    };
    let config = args.ring_config();
    let sizes = Sizes::of(args, max_message)?;
    let size = rustix::fs::fstat(&old)
        .map(|s| s.st_size as u64)
        .unwrap_or(0);
    let kind = kind_of(&old, args);
    let allowed = args.memory.tries(args.lock_memory == Some(true));
    if size == sizes.total as u64 && allowed.contains(&kind) {
        let ring_mem = sys::map_file(&old, 0, sizes.ring).map_err(|e| e.to_string())?;
        match Ring::adopt(config, sizes.space, ring_mem) {
            Ok((mut ring, _)) => {
                let lock = kind == Memory::Locked;
                let locked = |e| why_not(Memory::Locked, sizes.total, &e);
                ring.set_memory_kind(kind);
                if lock {
                    ring.lock_memory().map_err(locked)?;
                }
                let (buffers, part) = sizes.map_rest(&old, lock).map_err(locked)?;
                let snapshots =
                    Snapshots::adopt(args.snapshot_config(), part).map_err(|e| e.to_string())?;
                return Ok(Made {
                    ring,
                    buffers,
                    snapshots,
                    file: old,
                    said: None,
                    replaced: None,
                });
            }
            Err(Refused::Geometry { .. } | Refused::Foreign { .. }) => {}
        }
    }
    // Another geometry or kind, or not a ring: a new file.
    let mut made = make(args, max_message)?;
    let whole = usize::try_from(size).unwrap_or(0);
    let said = match (whole >= PAGE).then(|| sys::map_file(&old, 0, whole)) {
        Some(Ok(mut mem)) => {
            let said = match made.ring.copy_from(&mem) {
                Ok(_) => {
                    made.snapshots.copy_from(&mem);
                    None
                }
                Err(why) => Some(format!(
                    "circologd: the inherited ring is overwritten: {why}"
                )),
            };
            mem.fill(0);
            said
        }
        Some(Err(e)) => Some(format!(
            "circologd: the inherited ring is overwritten: it cannot be read ({e})"
        )),
        None => Some(
            "circologd: the inherited ring is overwritten: it is shorter than a ring's header"
                .to_string(),
        ),
    };
    made.said = match (made.said.take(), said) {
        (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
        (a, b) => a.or(b),
    };
    made.replaced = Some(old);
    Ok(made)
}

/// What kind of memory an inherited file is: secret when the kernel says
/// so, else locked or plain as `args` ask.
fn kind_of(file: &OwnedFd, args: &Args) -> Memory {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if link.starts_with("/secretmem") {
        Memory::Secret
    } else if args.memory.tries(args.lock_memory == Some(true)) == [Memory::Locked] {
        Memory::Locked
    } else {
        Memory::Plain
    }
}

/// Where the parts of the file lie: the ring's `0..ring`, the snapshots'
/// `snapshots`, then the buffers' `buffers` bytes to the end, `total`.
#[derive(Clone)]
struct Sizes {
    ring: usize,
    space: SnapshotSpace,
    snapshots: std::ops::Range<usize>,
    buffers: usize,
    total: usize,
}

impl Sizes {
    fn of(args: &Args, max_message: usize) -> Result<Sizes, String> {
        let space = Snapshots::space(&args.snapshot_config()).map_err(|e| e.to_string())?;
        let layout = Ring::layout(&args.ring_config(), space).map_err(|e| args.ring_error(e))?;
        let too_large = || "the memory file is larger than circolog supports".to_string();
        let buffers = RecvBatch::bytes_for(max_message + 1)
            .ok()
            .and_then(|n| n.checked_next_multiple_of(PAGE))
            .ok_or_else(too_large)?;
        let total = layout
            .file_bytes()
            .checked_add(buffers)
            .ok_or_else(too_large)?;
        Ok(Sizes {
            ring: layout.ring_bytes(),
            space,
            snapshots: layout.snapshot_part(),
            buffers,
            total,
        })
    }

    /// The buffers' and the snapshots' parts of `file`.
    fn map_rest(&self, file: &OwnedFd, lock: bool) -> std::io::Result<(MmapMut, Option<MmapMut>)> {
        let at = self.snapshots.end as u64;
        let buffers = sys::map_file(file, at, self.buffers)?;
        let snapshots = match self.snapshots.len() {
            0 => None,
            len => Some(sys::map_file(file, self.snapshots.start as u64, len)?),
        };
        if lock {
            buffers.lock()?;
            if let Some(s) = &snapshots {
                s.lock()?;
            }
        }
        Ok((buffers, snapshots))
    }
}

/// Makes the memory file, of the best kind `args` allows, and a fresh
/// ring in it.
fn make(args: &Args, max_message: usize) -> Result<Made, String> {
    let config = args.ring_config();
    let sizes = Sizes::of(args, max_message)?;
    let tries = args.memory.tries(args.lock_memory == Some(true));
    let mut failed = Vec::new();
    for &kind in tries {
        match file_of(kind, &sizes) {
            Ok((file, ring_mem, buffers, arena)) => {
                let mut ring = Ring::with_memory(config, sizes.space, ring_mem)
                    .map_err(|e| args.ring_error(e))?;
                ring.set_memory_kind(kind);
                let snapshots = Snapshots::with_memory(args.snapshot_config(), arena)
                    .map_err(|e| e.to_string())?;
                let said =
                    (args.memory == crate::store::file::Choice::Auto).then(|| said(kind, &failed));
                return Ok(Made {
                    ring,
                    buffers,
                    snapshots,
                    file,
                    said,
                    replaced: None,
                });
            }
            Err(e) => failed.push((kind, e)),
        }
    }
    let (kind, e) = failed.pop().expect("every choice tries one kind at least");
    Err(why_not(kind, sizes.total, &e))
}

/// A new file of `kind`, mapped in its three parts.
fn file_of(
    kind: Memory,
    sizes: &Sizes,
) -> std::io::Result<(OwnedFd, MmapMut, MmapMut, Option<MmapMut>)> {
    let file = sys::memory_file(kind == Memory::Secret)?;
    rustix::fs::ftruncate(&file, sizes.total as u64)?;
    let ring = sys::map_file(&file, 0, sizes.ring)?;
    let lock = kind == Memory::Locked;
    if lock {
        ring.lock()?;
    }
    let (buffers, arena) = sizes.map_rest(&file, lock)?;
    Ok((file, ring, buffers, arena))
}

/// The one start-up line of `-memory auto`.
fn said(kind: Memory, failed: &[(Memory, std::io::Error)]) -> String {
    match failed.first() {
        None => format!(
            "circologd: memory: {} (memfd_secret: out of the kernel's direct map, never \
             swapped, unreadable through /proc even by root)",
            kind.name()
        ),
        Some((_, e)) => format!(
            "circologd: memory: {}: secret memory cannot be had ({}; it counts against \
             RLIMIT_MEMLOCK, {})",
            kind.name(),
            e,
            memlock()
        ),
    }
}

/// Why no kind `-memory` allows could be had, naming the limit.
fn why_not(kind: Memory, bytes: usize, e: &std::io::Error) -> String {
    let size = crate::cli::config::format_size(bytes as u64);
    match kind {
        Memory::Secret => format!(
            "cannot have {size} of secret memory (memfd_secret): {e} (it counts against \
             RLIMIT_MEMLOCK, {}: raise it, e.g. LimitMEMLOCK=infinity in the unit; it needs \
             Linux 5.14 or later; or run with -memory auto)",
            memlock()
        ),
        Memory::Locked => format!(
            "cannot lock {size} of memory in RAM: {e} (RLIMIT_MEMLOCK is {}: raise it, e.g. \
             LimitMEMLOCK=infinity in the unit, or run without -lock-memory)",
            memlock()
        ),
        Memory::Plain => format!("cannot allocate {size} of memory for the ring: {e}"),
    }
}

/// RLIMIT_MEMLOCK as a person reads it.
fn memlock() -> String {
    match rustix::process::getrlimit(rustix::process::Resource::Memlock).current {
        None => "unlimited now".to_string(),
        Some(n) => format!("{} now", crate::cli::config::format_size(n)),
    }
}
