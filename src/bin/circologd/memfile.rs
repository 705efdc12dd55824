//! The memory file: made of the kind `-memory` asks for, sized for the
//! ring's sections (`circolog::store::file`) and, after them, the datagram
//! receive buffers, and mapped in those two parts.

use std::os::fd::OwnedFd;

use circolog::daemon::args::Args;
use circolog::store::file::{Memory, PAGE};
use circolog::store::ring::Ring;
use memmap2::MmapMut;

use crate::sys::{self, RecvBatch};

/// What start-up made.
pub struct Made {
    pub ring: Ring,
    /// The receive buffers' part of the file.
    pub buffers: MmapMut,
    /// The file itself, kept open for as long as the process runs.
    pub file: OwnedFd,
    /// The start-up line that says which kind and why, for `-memory auto`.
    pub said: Option<String>,
}

/// Makes the memory file, of the best kind `args` allows, and a fresh
/// ring in it.
pub fn make(args: &Args, max_message: usize) -> Result<Made, String> {
    let config = args.ring_config();
    let layout = Ring::layout(&config).map_err(|e| args.ring_error(e))?;
    let ring_bytes = layout.file_bytes();
    let buffer_bytes = RecvBatch::bytes_for(max_message + 1)
        .ok()
        .and_then(|n| n.checked_next_multiple_of(PAGE))
        .ok_or("the receive buffers are larger than circolog supports")?;
    let total = ring_bytes
        .checked_add(buffer_bytes)
        .ok_or("the ring is larger than circolog supports")?;
    let tries = args.memory.tries(args.lock_memory == Some(true));
    let mut failed = Vec::new();
    for &kind in tries {
        match file_of(kind, ring_bytes, total) {
            Ok((file, ring_mem, buffers)) => {
                let mut ring =
                    Ring::with_memory(config, ring_mem).map_err(|e| args.ring_error(e))?;
                ring.set_memory_kind(kind);
                let said = (args.memory == circolog::store::file::Choice::Auto)
                    .then(|| said(kind, &failed));
                return Ok(Made {
                    ring,
                    buffers,
                    file,
                    said,
                });
            }
            Err(e) => failed.push((kind, e)),
        }
    }
    let (kind, e) = failed.pop().expect("every choice tries one kind at least");
    Err(why_not(kind, total, &e))
}

/// The file of `kind`, `total` bytes, mapped in two parts: the ring's
/// `ring_bytes`, then the rest.
fn file_of(
    kind: Memory,
    ring_bytes: usize,
    total: usize,
) -> std::io::Result<(OwnedFd, MmapMut, MmapMut)> {
    let file = sys::memory_file(kind == Memory::Secret)?;
    rustix::fs::ftruncate(&file, total as u64)?;
    let ring = sys::map_file(&file, 0, ring_bytes)?;
    let buffers = sys::map_file(&file, ring_bytes as u64, total - ring_bytes)?;
    if kind == Memory::Locked {
        ring.lock()?;
        buffers.lock()?;
    }
    Ok((file, ring, buffers))
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
    let size = circolog::cli::config::format_size(bytes as u64);
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
        Some(n) => format!("{} now", circolog::cli::config::format_size(n)),
    }
}
