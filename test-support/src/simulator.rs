//! A provider simulator: a real HTTP server on loopback that serves feeds in sequence and, on
//! demand, misbehaves the ways real providers do.
//!
//! Each request for the feed (`GET /feed.xml`) serves the current feed and moves to the next
//! one (staying on the last). It answers `304 Not Modified` when the request's
//! `If-None-Match` names the current feed's `ETag`, and gzip-encodes when asked to and the
//! client accepts it. A [`Fault`] replaces the normal answer until it is cleared. The same
//! controls are reachable over HTTP (`PUT /_sim/fault`, `PUT /_sim/feeds`), so a simulator
//! running as a separate process (the `provider-simulator` binary) can be driven too.

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// A way to misbehave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum Fault {
    /// Behave.
    None,
    /// Wait this long before answering.
    Slow {
        /// The wait, in milliseconds.
        delay_ms: u64,
    },
    /// Send the feed one byte at a time, pausing between bytes.
    Drip {
        /// The pause, in milliseconds.
        pause_ms: u64,
    },
    /// Answer 200 with the first half of the feed: a truncated document.
    Truncate,
    /// Answer 200 with a body that is not well-formed XML.
    Malformed,
    /// Answer with this status.
    Status {
        /// The status code.
        status: u16,
    },
    /// Answer 429 Too Many Requests with a `Retry-After` in seconds.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after_secs: u32,
    },
    /// Answer 200 with a body this large (the feed, padded with whitespace).
    Oversized {
        /// The body size in bytes.
        bytes: usize,
    },
    /// Answer 200 with a gzip body that decompresses to this many bytes of whitespace.
    GzipBomb {
        /// The decompressed size in bytes.
        bytes: usize,
    },
    /// Promise the whole feed in `Content-Length`, then drop the connection half-way.
    CutMidBody,
    /// Accept the connection and never answer.
    Hang,
    /// Answer `302 Found` pointing at `location` (which a test must never let a client reach
    /// unless it is on loopback).
    Redirect {
        /// The `Location` header.
        location: String,
    },
}

struct SimState {
    feeds: Vec<Bytes>,
    current: usize,
    fault: Fault,
    gzip: bool,
    requests: Vec<HeaderMap>,
}

/// A running simulator; it stops when dropped.
pub struct ProviderSimulator {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    stop: CancellationToken,
}

impl Drop for ProviderSimulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ProviderSimulator {
    /// Starts a simulator on `127.0.0.1` (port chosen by the system) serving `feeds`.
    pub async fn start(feeds: Vec<Bytes>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("the simulator binds a loopback port: {e}"));
        Self::serve(listener, feeds)
    }

    /// Serves on `listener` (for the binary, which chooses its own address).
    pub fn serve(listener: tokio::net::TcpListener, feeds: Vec<Bytes>) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("a bound listener has an address: {e}"));
        let state = Arc::new(Mutex::new(SimState {
            feeds,
            current: 0,
            fault: Fault::None,
            gzip: false,
            requests: Vec::new(),
        }));
        let stop = CancellationToken::new();
        let app = Router::new()
            .route("/feed.xml", get(feed))
            .route("/_sim/fault", put(set_fault_http))
            .route("/_sim/feeds", put(set_feeds_http))
            .with_state(Arc::clone(&state));
        let stopped = stop.clone();
        tokio::spawn(async move {
            let server =
                axum::serve(listener, app).with_graceful_shutdown(stopped.cancelled_owned());
            if let Err(err) = server.await {
                tracing::warn!(error = %err, "provider simulator stopped");
            }
        });
        Self { addr, state, stop }
    }

    /// The feed's URL.
    pub fn url(&self) -> String {
        format!("http://{}/feed.xml", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the feeds and starts again from the first.
    pub fn set_feeds(&self, feeds: Vec<Bytes>) {
        let mut state = lock(&self.state);
        state.feeds = feeds;
        state.current = 0;
    }

    /// Misbehaves this way from now on (`Fault::None` to stop).
    pub fn set_fault(&self, fault: Fault) {
        lock(&self.state).fault = fault;
    }

    /// Gzip-encodes feeds for clients that accept it.
    pub fn set_gzip(&self, on: bool) {
        lock(&self.state).gzip = on;
    }

    /// How many feed requests it received.
    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// The headers of the last feed request.
    pub fn last_request(&self) -> Option<HeaderMap> {
        lock(&self.state).requests.last().cloned()
    }
}

fn lock(state: &Mutex<SimState>) -> std::sync::MutexGuard<'_, SimState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `ETag` the simulator gives a feed.
pub fn etag_of(feed: &[u8]) -> String {
    format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(feed))
}

async fn feed(State(state): State<Arc<Mutex<SimState>>>, headers: HeaderMap) -> Response {
    let (fault, feed, gzip) = {
        let mut state = lock(&state);
        state.requests.push(headers.clone());
        let feed = state.feeds.get(state.current).cloned().unwrap_or_default();
        if state.fault == Fault::None && state.current + 1 < state.feeds.len() {
            state.current += 1;
        }
        (state.fault.clone(), feed, state.gzip)
    };
    match fault {
        Fault::None => normal(&feed, &headers, gzip),
        Fault::Slow { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            normal(&feed, &headers, gzip)
        }
        Fault::Drip { pause_ms } => {
            let bytes: Vec<u8> = feed.to_vec();
            let stream = futures::stream::iter(bytes).then(move |byte| async move {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                Ok::<_, std::io::Error>(Bytes::from(vec![byte]))
            });
            xml(Body::from_stream(stream))
        }
        Fault::Truncate => xml(Body::from(feed.slice(..feed.len() / 2))),
        Fault::Malformed => xml(Body::from(
            "<eventList><output><base_event base_event_id=\"1\" title=\"x\"></output></eventList>",
        )),
        Fault::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, "the simulated provider is failing").into_response()
        }
        Fault::TooManyRequests { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            "slow down",
        )
            .into_response(),
        Fault::Oversized { bytes } => {
            let mut body = feed.to_vec();
            body.resize(bytes.max(body.len()), b' ');
            xml(Body::from(body))
        }
        Fault::GzipBomb { bytes } => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let chunk = vec![b' '; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                let _ = encoder.write_all(&chunk[..n]);
                left -= n;
            }
            let body = encoder.finish().unwrap_or_default();
            let mut response = xml(Body::from(body));
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        Fault::CutMidBody => {
            let half = feed.slice(..feed.len() / 2);
            let length = feed.len();
            // The pause lets the head and the first half reach the client before the cut.
            let stream = futures::stream::iter([Ok(half), Err(())]).then(|item| async move {
                match item {
                    Ok(bytes) => Ok(bytes),
                    Err(()) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "cut",
                        ))
                    }
                }
            });
            let mut response = xml(Body::from_stream(stream));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            response
        }
        Fault::Hang => std::future::pending().await,
        Fault::Redirect { location } => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
    }
}

fn normal(feed: &Bytes, headers: &HeaderMap, gzip: bool) -> Response {
    let etag = etag_of(feed);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let mut response = if gzip && accepts_gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(feed);
        let mut response = xml(Body::from(encoder.finish().unwrap_or_default()));
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        xml(Body::from(feed.clone()))
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn xml(body: Body) -> Response {
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn set_fault_http(
    State(state): State<Arc<Mutex<SimState>>>,
    Json(fault): Json<Fault>,
) -> StatusCode {
    lock(&state).fault = fault;
    StatusCode::NO_CONTENT
}

/// The body of `PUT /_sim/feeds`: the feeds to serve, as text.
#[derive(Debug, Deserialize)]
struct FeedsBody {
    feeds: Vec<String>,
}

async fn set_feeds_http(
    State(state): State<Arc<Mutex<SimState>>>,
    Json(body): Json<FeedsBody>,
) -> StatusCode {
    let mut state = lock(&state);
    state.feeds = body.feeds.into_iter().map(Bytes::from).collect();
    state.current = 0;
    StatusCode::NO_CONTENT
}
