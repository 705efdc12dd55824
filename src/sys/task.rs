//! Waiting on the event loop, as its tasks must.

#![forbid(unsafe_code)]

/// Lets every other task run, and the I/O they asked for start. A plain
/// `yield_now` is not enough: tokio-uring submits queued operations only
/// when the thread parks, and a loop of clients that keep yielding never
/// parks, so a control client's read would wait until every scan is done.
/// A no-op operation makes this task wait on the ring like the others; once
/// every busy task waits, the thread parks and everything queued goes in.
pub async fn yield_to_io() {
    if tokio_uring::no_op().await.is_err() {
        tokio::task::yield_now().await;
    }
}

/// Sleeps until `deadline`; forever without one.
pub async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
