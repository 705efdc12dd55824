//! A local OTLP/HTTP receiver that takes every request and answers `200`
//! at once, reading and discarding the bodies: what the exporter's cost is
//! measured against, without a collector's own cost in the way.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Sink {
    pub addr: SocketAddr,
    /// Requests answered.
    pub requests: Arc<AtomicU64>,
}

impl Sink {
    pub fn start() -> io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let count = requests.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let count = count.clone();
                std::thread::spawn(move || {
                    let _ = serve(s, &count);
                });
            }
        });
        Ok(Sink { addr, requests })
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/logs", self.addr)
    }
}

/// Answers each request once its body is read. The exporter sends one
/// request at a time and waits for the answer, so nothing of the next
/// request comes before it.
fn serve(mut s: TcpStream, count: &AtomicU64) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut have = 0;
    loop {
        let Some(end) = memchr::memmem::find(&buf[..have], b"\r\n\r\n") else {
            if have == buf.len() {
                return Err(io::Error::other("request head too long"));
            }
            let n = s.read(&mut buf[have..])?;
            if n == 0 {
                return Ok(());
            }
            have += n;
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut left = (end + 4 + len).saturating_sub(have);
        while left > 0 {
            let n = s.read(&mut buf[..left.min(64 << 10)])?;
            if n == 0 {
                return Ok(());
            }
            left -= n;
        }
        have = 0;
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
        )?;
        count.fetch_add(1, Ordering::Relaxed);
    }
}
