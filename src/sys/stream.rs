//! A connected query or control client on the event loop, over TCP or a
//! unix socket: tokio-uring's reads and writes, and a small answer written
//! straight to the socket when it takes it all.

#![forbid(unsafe_code)]

use std::io;

use bytes::Bytes;

use crate::daemon::driver;
use crate::serve::conn::Out;

/// Answers this small are written straight to the socket when it takes
/// them (see `Stream::write_out`).
const SMALL_ANSWER: usize = 16 * 1024;

/// A connected client, over TCP or a unix socket.
pub enum Stream {
    Tcp(tokio_uring::net::TcpStream),
    Unix(tokio_uring::net::UnixStream),
}

impl Stream {
    pub async fn read(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
        }
    }

    pub async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
        }
    }

    /// Writes every byte of `bufs`, in order, a vectored write at a time.
    pub async fn writev_all(&self, mut bufs: Vec<Bytes>) -> io::Result<()> {
        while !bufs.is_empty() {
            let (r, mut back) = match self {
                Stream::Tcp(s) => s.writev(bufs).await,
                Stream::Unix(s) => s.writev(bufs).await,
            };
            let n = r?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            driver::consume(&mut back, n);
            bufs = back;
        }
        Ok(())
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Writes `out` (its own bytes, then the shared slices) and empties it.
    /// A small answer goes straight to the socket when it takes it all;
    /// long streams go through the ring, whose waits let the others run.
    pub async fn write_out(&self, out: &mut Out) -> io::Result<()> {
        if out.shared.is_empty() && out.bytes.len() <= SMALL_ANSWER {
            let n = super::send_ready(self.raw_fd(), &out.bytes)?;
            out.bytes.drain(..n);
            if out.bytes.is_empty() {
                return Ok(());
            }
        }
        let bytes = std::mem::take(&mut out.bytes);
        if out.shared.is_empty() {
            let (r, b) = self.write_all(bytes).await;
            out.bytes = b;
            out.bytes.clear();
            return r;
        }
        let mut bufs = std::mem::take(&mut out.shared);
        if !bytes.is_empty() {
            bufs.insert(0, Bytes::copy_from_slice(&bytes));
        }
        out.bytes = bytes;
        out.bytes.clear();
        self.writev_all(bufs).await
    }

    pub fn shutdown(&self, how: std::net::Shutdown) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        };
    }
}

impl Drop for Stream {
    /// A read abandoned on a timeout stays in the kernel, and tokio-uring
    /// closes the fd only when it completes: shutting the socket down ends
    /// that read, so a client we give up on is really disconnected.
    fn drop(&mut self) {
        self.shutdown(std::net::Shutdown::Both);
    }
}
