//! Heap buffers that hold message bytes, zeroed when they are freed.
//!
//! docs/reference.md, "Storage": once the clients that were reading a cleared message have
//! gone, no byte of it remains in the process's memory. A `Vec<u8>` leaves
//! its bytes behind twice: when it is dropped, and when it grows (the old
//! allocation is freed as it was). [`SecretBuf`] owns its growth: it moves
//! into a new allocation and zeroes the old one, and it zeroes what it frees
//! and what it discards (consumed, truncated, cleared bytes).
//!
//! The zeroing is `zeroize`'s: a plain `fill(0)` just before a free is a dead
//! store the optimizer may remove, and this library has no `unsafe` of its
//! own to write volatile stores with; `zeroize` is small, has no
//! dependencies and is what the Rust cryptography crates use for this.
//! [`Zeroizing`] is re-exported for values that never grow (a `Vec` filled
//! within its capacity, a `String` built once).

use std::fmt;

pub use zeroize::{Zeroize, Zeroizing};

/// The smallest allocation a growing buffer takes.
const MIN_CAPACITY: usize = 64;

/// A byte buffer for message bytes: zeroed when freed, when it grows, and
/// where bytes are discarded. Reads go into [`SecretBuf::spare_mut`] and are
/// kept with [`SecretBuf::commit`]; writes append ([`SecretBuf::extend_from_slice`],
/// `std::io::Write`, or [`SecretBuf::with_vec`] for code that writes into a
/// `&mut Vec<u8>`).
#[derive(Default)]
pub struct SecretBuf {
    /// INVARIANT: every byte is initialized and `buf[len..]` is all zero, so
    /// that spare room can be lent as `&mut [u8]` and nothing stale hides
    /// past the end.
    buf: Vec<u8>,
    len: usize,
}

impl SecretBuf {
    /// An empty buffer; allocates nothing.
    pub const fn new() -> SecretBuf {
        SecretBuf {
            buf: Vec::new(),
            len: 0,
        }
    }

    pub fn with_capacity(capacity: usize) -> SecretBuf {
        SecretBuf {
            buf: vec![0; capacity],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes it can hold without growing.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Makes room for `additional` more bytes. Growing moves the bytes into
    /// a new allocation (at least twice as large) and zeroes the old one.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len.saturating_add(additional);
        if needed <= self.buf.len() {
            return;
        }
        let capacity = needed
            .max(self.buf.len().saturating_mul(2))
            .max(MIN_CAPACITY);
        let mut grown = vec![0; capacity];
        grown[..self.len].copy_from_slice(&self.buf[..self.len]);
        let mut old = std::mem::replace(&mut self.buf, grown);
        old.zeroize();
    }

    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.reserve(data.len());
        self.buf[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
    }

    /// Room for at least `at_least` more bytes, all zero, to read into; then
    /// [`SecretBuf::commit`] what was read.
    pub fn spare_mut(&mut self, at_least: usize) -> &mut [u8] {
        self.reserve(at_least);
        &mut self.buf[self.len..]
    }

    /// Keeps `n` bytes written into [`SecretBuf::spare_mut`] (at most the
    /// spare room).
    pub fn commit(&mut self, n: usize) {
        debug_assert!(
            n <= self.buf.len() - self.len,
            "committed past the spare room"
        );
        self.len = (self.len + n).min(self.buf.len());
    }

    /// Drops the first `n` bytes (all of them when `n` is larger), moving
    /// the rest to the front and zeroing where they were.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.buf.copy_within(n..self.len, 0);
        let kept = self.len - n;
        self.buf[kept..self.len].zeroize();
        self.len = kept;
    }

    /// Keeps the first `len` bytes and zeroes the rest.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.buf[len..self.len].zeroize();
            self.len = len;
        }
    }

    /// Zeroes the bytes and keeps the allocation for reuse.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Zeroes and frees the allocation: an idle connection holds no buffer.
    pub fn release(&mut self) {
        self.buf.zeroize();
        self.buf = Vec::new();
        self.len = 0;
    }

    /// Lends the bytes as a `Vec<u8>` to code that appends to one (the
    /// renderers, [`crate::http::write_head`]), after making room for
    /// `reserve` more bytes. That code must write at most `reserve` bytes:
    /// past them the `Vec` would grow by itself and free its old allocation
    /// without zeroing it (a debug build panics when that happens, so that
    /// tests find a reserve that is too small).
    pub fn with_vec<R>(&mut self, reserve: usize, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        self.reserve(reserve);
        let mut v = std::mem::take(&mut self.buf);
        let (capacity, allocated) = (v.len(), v.capacity());
        v.truncate(self.len);
        let result = f(&mut v);
        // Grown in place or moved, it was luck either way.
        debug_assert!(
            v.capacity() == allocated,
            "with_vec: more was written than reserved"
        );
        self.len = v.len();
        // Back to the invariant: the spare room is zero, whatever `f` wrote
        // there and took back.
        let total = v.capacity().max(capacity);
        v.resize(total, 0);
        v[self.len..].zeroize();
        self.buf = v;
        result
    }
}

impl std::ops::Deref for SecretBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::ops::DerefMut for SecretBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl std::io::Write for SecretBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// The length only: the bytes are what must not leak.
impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBuf({} of {} bytes)", self.len, self.buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The invariant: spare room is zero.
    fn spare_is_zero(b: &SecretBuf) -> bool {
        b.buf[b.len..].iter().all(|x| *x == 0)
    }

    #[test]
    fn appends_grow_and_keep_the_bytes() {
        let mut b = SecretBuf::new();
        assert_eq!(b.capacity(), 0);
        for i in 0..100u8 {
            b.extend_from_slice(&[i; 7]);
        }
        assert_eq!(b.len(), 700);
        assert!(b.chunks(7).enumerate().all(|(i, c)| c == [i as u8; 7]));
        assert!(spare_is_zero(&b));
        write!(b, "{}", 42).unwrap();
        assert!(b.ends_with(b"42"));
    }

    #[test]
    fn reads_go_into_zeroed_spare_room() {
        let mut b = SecretBuf::with_capacity(8);
        let spare = b.spare_mut(100);
        assert!(spare.len() >= 100 && spare.iter().all(|x| *x == 0));
        spare[..5].copy_from_slice(b"hello");
        b.commit(5);
        assert_eq!(&b[..], b"hello");
        assert!(spare_is_zero(&b));
    }

    #[test]
    fn discarded_bytes_are_zeroed() {
        let mut b = SecretBuf::new();
        b.extend_from_slice(b"secret one|secret two");
        b.consume(11);
        assert_eq!(&b[..], b"secret two");
        assert!(spare_is_zero(&b));
        b.truncate(6);
        assert_eq!(&b[..], b"secret");
        assert!(spare_is_zero(&b));
        b.consume(100);
        assert!(b.is_empty() && spare_is_zero(&b));
        b.extend_from_slice(b"again");
        let capacity = b.capacity();
        b.clear();
        assert!(b.is_empty() && spare_is_zero(&b));
        assert_eq!(b.capacity(), capacity);
        b.release();
        assert_eq!(b.capacity(), 0);
        assert_eq!(format!("{b:?}"), "SecretBuf(0 of 0 bytes)");
    }

    #[test]
    fn vec_writers_append_within_the_reserve() {
        let mut b = SecretBuf::new();
        b.extend_from_slice(b"head|");
        let n = b.with_vec(64, |v| {
            v.extend_from_slice(b"rendered");
            v.len()
        });
        assert_eq!(n, 13);
        assert_eq!(&b[..], b"head|rendered");
        assert!(spare_is_zero(&b));
        // What the writer wrote and took back is zeroed too.
        b.with_vec(64, |v| {
            v.extend_from_slice(b"tmp");
            v.truncate(5);
        });
        assert_eq!(&b[..], b"head|");
        assert!(spare_is_zero(&b));
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "more was written than reserved")]
    fn a_writer_past_the_reserve_is_caught_in_debug_builds() {
        let mut b = SecretBuf::new();
        b.with_vec(1, |v| v.extend_from_slice(&[1; 4096]));
    }
}
