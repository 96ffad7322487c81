//! The HTTP server: routes, middleware, and how it starts and stops.
//!
//! `run` serves until its cancellation token fires, then stops accepting connections and
//! gives in-flight requests the configured grace period before returning.

use std::{sync::Arc, time::Duration};

use async_graphql::http::GraphiQLSource;
use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderName, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    config::ServeConfig,
    schema::{self, ApiSchema},
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schema, with the database in its data.
    pub schema: ApiSchema,
    /// The database pool.
    pub db: DatabaseConnection,
    /// The server's settings.
    pub config: Arc<ServeConfig>,
}

impl AppState {
    /// The state for `db` and `config`.
    pub fn new(db: DatabaseConnection, config: ServeConfig) -> Self {
        Self {
            schema: schema::build(db.clone(), config.limits),
            db,
            config: Arc::new(config),
        }
    }
}

/// The API's routes and middleware.
pub fn router(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(config.max_request_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves the API on `listener` until `shutdown` is cancelled, then drains in-flight
/// requests for at most the configured grace period.
pub async fn run(
    config: ServeConfig,
    db: DatabaseConnection,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let grace = config.shutdown_grace;
    let app = router(AppState::new(db, config));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "graphql-api listening");
    }
    let stopping = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(stopping.cancelled_owned());
    drain_within(server.into_future(), &shutdown, grace).await
}

/// Runs `server` to completion, but once `shutdown` fires gives it only `grace` to finish.
async fn drain_within(
    server: impl Future<Output = std::io::Result<()>>,
    shutdown: &CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "requests still running after the grace period; stopping anyway"
            );
            Ok(())
        }
    }
}

/// `POST /graphql`: one GraphQL request as JSON.
///
/// Only `application/json` bodies are read: a form or `text/plain` post, which a browser sends
/// cross-site without a preflight, is refused, so the API has no CSRF path.
async fn graphql(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_json(&headers) {
        return graphql_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "send the GraphQL request as JSON with Content-Type: application/json",
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return graphql_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request: {err}"),
            );
        }
    };
    let response = state.schema.execute(request).await;
    Json(response).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || mime.eq_ignore_ascii_case("application/graphql-response+json")
        })
}

/// A GraphQL-shaped error for a request that never reached the executor.
fn graphql_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// `GET /graphql`: GraphiQL, to explore the API in a browser.
async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Fever API")
            .finish(),
    )
}

/// `GET /livez`: the process is up.
async fn livez() -> impl IntoResponse {
    Json(json!({ "status": "live" }))
}

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /readyz`: the API can serve, which needs the database.
async fn readyz(State(state): State<AppState>) -> Response {
    let ready = tokio::time::timeout(READY_TIMEOUT, entity::db::ping(&state.db))
        .await
        .unwrap_or(false);
    if ready {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
        )
            .into_response()
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "data": null, "error": { "code": "NOT_FOUND", "message": "no such route" } })),
    )
        .into_response()
}
