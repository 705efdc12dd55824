//! The daemon's heap allocator: the system's, except that every block is
//! zeroed before it is given back. Message bytes pass through many heap
//! buffers (reads, TCP framing, rendered dumps and frames, the clients'
//! queues) and a buffer that grows is moved by `realloc`, which frees the
//! old copy as it was; with this allocator no freed block keeps a message
//! (SPEC "Storage": once its readers have gone, no byte of a cleared
//! message remains in the process's memory). The cost is a `memset` of
//! what is freed; ingestion allocates nothing, so it pays nothing.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct Zeroing;

// SAFETY: every method forwards to `System` with the caller's layout, and
// only writes to the block the caller gives back (which it owns until then).
unsafe impl GlobalAlloc for Zeroing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes from this
        // allocator, the caller's until this call. `explicit_bzero` is the
        // C library's zeroing that the compiler may not drop as dead.
        unsafe {
            libc::explicit_bzero(ptr.cast(), layout.size());
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A new block, the bytes copied, the old one wiped and freed:
        // `System.realloc` could move the bytes and free the old block as
        // it was.
        // SAFETY: `layout` with `new_size` is valid (the caller's contract);
        // `ptr` holds `layout.size()` initialized-or-not bytes we may copy.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Overwrites a stretch of the stack below the caller: buffers that held
/// message bytes in deeper calls (a parse, a read) leave them in stack
/// memory nothing reuses until the next deep call.
#[inline(never)]
pub fn scrub_stack() {
    let mut area = [0u8; 256 * 1024];
    std::hint::black_box(&mut area);
}
