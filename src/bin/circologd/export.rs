//! The OTLP exporter's driver: connects, writes and reads as
//! [`circolog::export::Exporter`] says, and honours every deadline it gives
//! (connecting, and the write and the response, which share one). The
//! decisions are the library's; this is I/O.
//!
//! The connection is a plain readiness socket (`tokio::net`, as for the TCP
//! syslog senders), not a tokio-uring one: waiting for readiness can be
//! given up at any moment without losing anything, where an io_uring read
//! or write given up in a `select!` keeps its buffer (and a request's
//! copies of messages) in flight until the kernel is done with it. Here
//! the request and the read buffer always stay in this task's hands, so a
//! deadline or a clear abandons a request at once and zeroes it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use circolog::export::{Action, Exporter};
use tokio::net::TcpStream;

use circolog::sys::task::{sleep_until_opt, yield_to_io};

use crate::serve::Ctx;

/// Bytes read from the endpoint per read: its answers are small.
const READ_CHUNK: usize = 16 * 1024;

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

/// What woke the loop.
enum Event {
    Connected(io::Result<TcpStream>),
    Writable(io::Result<()>),
    Readable(io::Result<()>),
    /// A deadline, new records, a clear: poll again.
    Poll,
}

/// Drives the exporter: queues what was stored since its last turn, then
/// connects, writes and reads as it says, polling it after each step. One
/// request at a time on one connection; a slow or dead endpoint only makes
/// its queue wait (and, full, drop its oldest records), never ingestion.
pub async fn run(ctx: Rc<Ctx>, addr: SocketAddr) {
    // The request being written, `written` bytes of it so far. It holds
    // copies of messages: zeroed once written or abandoned.
    let mut out = Vec::new();
    let mut written = 0;
    let mut conn: Option<TcpStream> = None;
    let mut connecting: Option<Connecting> = None;
    // What the endpoint answers; zeroed after each read.
    let mut buf = vec![0; READ_CHUNK];
    loop {
        let now = Instant::now();
        let more = ctx.with(|c| c.state.export_new(now));
        let Some(action) = with_exporter(&ctx, |x| x.poll(now, &mut out)) else {
            return;
        };
        let until = match action {
            Action::Connect => {
                connecting = Some(Box::pin(TcpStream::connect(addr)));
                continue;
            }
            Action::Send => {
                written = 0;
                continue;
            }
            Action::Close => {
                if let Some(s) = conn.take()
                    && written < out.len()
                {
                    // Unsent bytes of a request are discarded by the kernel
                    // too (a reset), not delivered after the fact.
                    let _ = rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO));
                }
                connecting = None;
                wipe(&mut out);
                written = 0;
                continue;
            }
            Action::Idle => None,
            Action::Wait { until } => Some(tokio::time::Instant::from_std(until)),
        };
        if more {
            yield_to_io().await;
            continue;
        }
        let event = {
            let notified = ctx.stored.notified();
            let connected = async {
                match connecting.as_mut() {
                    Some(c) => c.await,
                    None => std::future::pending().await,
                }
            };
            let sending = written < out.len();
            tokio::select! {
                biased;
                r = connected => Event::Connected(r),
                r = ready(&conn, tokio::io::Interest::WRITABLE), if sending => Event::Writable(r),
                r = ready(&conn, tokio::io::Interest::READABLE) => Event::Readable(r),
                () = sleep_until_opt(until) => Event::Poll,
                () = notified => Event::Poll,
            }
        };
        let now = Instant::now();
        match event {
            Event::Connected(r) => {
                connecting = None;
                match r {
                    Ok(s) => {
                        conn = Some(s);
                        with_exporter(&ctx, |x| x.handle_connected(now));
                    }
                    Err(e) => {
                        let why = format!("connecting to {addr}: {e}");
                        with_exporter(&ctx, |x| x.handle_error(now, &why));
                    }
                }
            }
            Event::Writable(r) => {
                let n = r.and_then(|()| match &conn {
                    Some(s) => s.try_write(&out[written..]),
                    None => Err(io::ErrorKind::NotConnected.into()),
                });
                match n {
                    Ok(n) => {
                        written += n;
                        if written == out.len() {
                            wipe(&mut out);
                            written = 0;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        let why = format!("writing to {addr}: {e}");
                        with_exporter(&ctx, |x| x.handle_error(now, &why));
                    }
                }
            }
            Event::Readable(r) => {
                let n = r.and_then(|()| match &conn {
                    Some(s) => s.try_read(&mut buf),
                    None => Err(io::ErrorKind::NotConnected.into()),
                });
                match n {
                    Ok(0) => {
                        with_exporter(&ctx, |x| x.handle_eof(now));
                    }
                    Ok(n) => {
                        with_exporter(&ctx, |x| x.handle_response(now, &buf[..n]));
                        buf[..n].fill(0);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        let why = format!("reading from {addr}: {e}");
                        with_exporter(&ctx, |x| x.handle_error(now, &why));
                    }
                }
            }
            Event::Poll => {}
        }
    }
}

/// Waits until the connection is ready for `interest`; never without one.
async fn ready(conn: &Option<TcpStream>, interest: tokio::io::Interest) -> io::Result<()> {
    match conn {
        Some(s) => s.ready(interest).await.map(|_| ()),
        None => std::future::pending().await,
    }
}

fn with_exporter<R>(ctx: &Ctx, f: impl FnOnce(&mut Exporter) -> R) -> Option<R> {
    ctx.with(|c| c.state.exporter_mut().map(f))
}

/// Zeroes `buf` and empties it.
fn wipe(buf: &mut Vec<u8>) {
    buf.fill(0);
    buf.clear();
}
