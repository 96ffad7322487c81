//! The demo provider: the sample feeds of `fixtures/feeds`, served on loopback, moving from
//! one snapshot to the next as time passes, as a real provider's catalogue does.
//!
//! Two feeds: `/events.xml` walks through the three `eventList` snapshots; `/plans.xml` serves
//! the `planList` sample. Both answer `304 Not Modified` to their current `ETag`. The server
//! stops when its cancellation token fires.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const EVENT_SNAPSHOTS: [&str; 3] = [
    include_str!("../fixtures/feeds/response_1.xml"),
    include_str!("../fixtures/feeds/response_2.xml"),
    include_str!("../fixtures/feeds/response_3.xml"),
];
const PLANS: &str = include_str!("../fixtures/feeds/plan_format/response_1.xml");

#[derive(Clone)]
struct Demo {
    started: Instant,
    snapshot_every: Duration,
}

impl Demo {
    /// The snapshot the events feed serves now: the first, then the next every
    /// `snapshot_every`, then the last one for good.
    fn events(&self) -> (usize, &'static str) {
        let step = self.snapshot_every.as_millis().max(1);
        let index = (self.started.elapsed().as_millis() / step).min(2) as usize;
        (index, EVENT_SNAPSHOTS[index])
    }
}

/// Serves the demo feeds on `127.0.0.1` (a port the system chooses) until `stop` fires;
/// returns the base URL.
pub async fn start(snapshot_every: Duration, stop: CancellationToken) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let demo = Demo {
        started: Instant::now(),
        snapshot_every,
    };
    let app = Router::new()
        .route("/events.xml", get(events))
        .route("/plans.xml", get(plans))
        .with_state(demo);
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(err) = server.await {
            tracing::warn!(error = %err, "demo provider stopped");
        }
    });
    Ok(format!("http://{addr}"))
}

async fn events(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let (index, feed) = demo.events();
    xml(&headers, &format!("\"events-{index}\""), feed)
}

async fn plans(headers: HeaderMap) -> Response {
    xml(&headers, "\"plans-0\"", PLANS)
}

fn xml(headers: &HeaderMap, etag: &str, body: &'static str) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if fresh {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.to_owned())]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_owned(),
            ),
            (header::ETAG, etag.to_owned()),
        ],
        body,
    )
        .into_response()
}
