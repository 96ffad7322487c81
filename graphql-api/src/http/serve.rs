//! Accepting connections with the limits a public server needs, which `axum::serve` does not
//! set: a cap on open connections, and a header read timeout (hyper's needs a timer, which
//! `axum::serve` does not give it, so a slowloris client or an idle keep-alive connection
//! stayed open for ever).
//!
//! - At most `max_connections` connections are served at once; past that the listener stops
//!   accepting (the kernel's backlog holds the rest) until one closes.
//! - HTTP/1: a connection that does not send a complete request head within
//!   `header_read_timeout` is closed: a client dripping a header byte at a time, and a
//!   keep-alive connection left idle after its last response (hyper starts the same timer
//!   while it waits for the next request).
//! - HTTP/2: pings detect a dead peer; streams per connection are capped.
//!
//! It stops accepting when `shutdown` fires, asks every connection to finish its in-flight
//! requests, and gives them `grace` to do so. Upgraded connections (WebSockets) leave this
//! loop once upgraded: they have their own cap and stop with the same token.

use std::{sync::Arc, time::Duration};

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Longest a client may take to send a request head, or stay idle between requests.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1_024,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// HTTP/2 streams one connection may run at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 128;
/// How often an HTTP/2 connection is pinged, and how long the answer may take.
const H2_PING: Duration = Duration::from_secs(20);

/// Serves `app` on `listener` until `shutdown`, then drains within `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            // Before the first byte, hyper's header timer has not started (the protocol is
            // not known yet): a connection that never sends anything is closed here.
            let mut first = [0u8; 1];
            let first_byte =
                tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first));
            if !matches!(first_byte.await, Ok(Ok(1..))) {
                return;
            }
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
                .keep_alive_interval(H2_PING)
                .keep_alive_timeout(H2_PING);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                }
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            "requests still running after the grace period; stopping anyway"
        );
    }
}
