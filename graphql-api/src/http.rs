//! The HTTP server: routes, middleware, and how it starts and stops.
//!
//! `run` loads the search index, starts the change feed and the index refresher, and serves
//! until its cancellation token fires; then it stops accepting connections, gives in-flight
//! requests the configured grace period, and stops its background tasks.

use std::{sync::Arc, time::Duration};

use async_graphql::http::GraphiQLSource;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{
    access::{Access, SearchAccess, Tokens, bearer},
    catalog::{self, CatalogStatus, ChangeFeed},
    config::{ApiRunError, ServeConfig},
    database::Database,
    executor::{GraphQl, encode_within},
    metrics::{self, Metrics},
    rest,
    schema::{self, SchemaData},
    search::SearchIndex,
    serve::serve,
    websocket,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares.
pub struct AppState {
    /// The GraphQL schema behind its checks.
    pub graphql: GraphQl,
    /// The database, with its breaker.
    pub database: Arc<Database>,
    /// The search index.
    pub index: Arc<SearchIndex>,
    /// How fresh the index is.
    pub catalog: Arc<CatalogStatus>,
    /// Request counters.
    pub metrics: Arc<Metrics>,
    /// The API tokens and their roles.
    pub tokens: Tokens,
    /// Large `/search` answers being streamed at once.
    pub large_searches: Arc<Semaphore>,
    /// Open WebSockets.
    pub websockets: Arc<Semaphore>,
    /// The server's settings.
    pub config: Arc<ServeConfig>,
    /// Fires when the server stops (ends the WebSockets).
    pub stop: CancellationToken,
}

impl AppState {
    /// What a request with these headers may do.
    pub fn access(&self, headers: &HeaderMap, via_get: bool) -> Access {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        self.tokens.access(token, via_get)
    }
}

/// The API's routes and middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let config = Arc::clone(&state.config);
    let mut router = Router::new()
        .route("/", get(crate::ui::monitor))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(websocket::upgrade))
        .route("/search", get(rest::search))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(config.max_request_bytes))
        // A backstop: GraphQL stops its own execution at the request timeout and answers
        // `TIMEOUT`; anything else still running a little later is cut with a 503.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout + Duration::from_millis(250),
        ))
        // Outside the timeout, so a request it cuts is counted (as 503).
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::track,
        ))
        .with_state(state);
    if let Some(cors) = cors_layer(&config.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    // Debug level: at the default filter, a request costs no span.
                    tracing::debug_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
    )
}

/// Loads the index, then serves the API on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: ServeConfig,
    db: DatabaseConnection,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ApiRunError> {
    let grace = config.shutdown_grace;
    let started = std::time::Instant::now();
    let snapshot = catalog::load(&db).await.map_err(ApiRunError::LoadIndex)?;
    tracing::info!(
        events = snapshot.len(),
        catalog.version = snapshot.version,
        load_ms = started.elapsed().as_millis() as u64,
        "search index loaded"
    );
    let index = Arc::new(SearchIndex::new(snapshot));
    let status = Arc::new(CatalogStatus::default());
    let background = shutdown.child_token();
    let changes = ChangeFeed::start(&db, config.refresh_interval, &background);
    let refresher = tokio::spawn(catalog::run_refresher(
        db.clone(),
        Arc::clone(&index),
        Arc::clone(&status),
        changes.subscribe(),
        config.refresh_interval,
        background.clone(),
    ));
    let database = Database::new(db);
    let prober = tokio::spawn(Arc::clone(&database).run_prober(background.clone()));
    let schema = schema::build(
        SchemaData {
            database: Arc::clone(&database),
            index: Arc::clone(&index),
            changes,
            search_access: SearchAccess {
                requires_viewer: config.search_requires_viewer,
            },
            destinations: config.destinations,
        },
        config.limits,
    );
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(AppState {
        graphql: GraphQl::new(
            schema,
            config.limits,
            Arc::clone(&database),
            Arc::clone(&metrics),
        ),
        database,
        index,
        catalog: status,
        metrics,
        tokens: config.tokens.clone(),
        large_searches: Arc::new(Semaphore::new(config.max_concurrent_large_searches.max(1))),
        websockets: Arc::new(Semaphore::new(config.max_websockets.max(1))),
        stop: background.clone(),
        config: Arc::new(config),
    });
    let connections = state.config.connections;
    let app = router(state);
    let addr = listener.local_addr().ok();
    match addr {
        Some(addr) => tracing::info!(%addr, "graphql-api listening"),
        None => tracing::info!("graphql-api listening"),
    }
    serve(listener, app, connections, shutdown, grace).await;
    background.cancel();
    let _ = refresher.await;
    let _ = prober.await;
    Ok(())
}

/// `POST /graphql`: one GraphQL request as JSON (batches are refused).
///
/// Only `application/json` bodies are read: a form or `text/plain` post, which a browser sends
/// cross-site without a preflight, is refused, so the API has no CSRF path.
async fn graphql_post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return graphql_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "send the GraphQL request as JSON with Content-Type: application/json",
        );
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return graphql_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "batched requests are not supported",
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
    execute(&state, request.data(state.access(&headers, false))).await
}

/// `GET /graphql`: GraphiQL in a browser; with `query` (or a persisted query's `extensions`)
/// in the query string, a read-only GraphQL request (mutations are refused over GET).
async fn graphql_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(query) = query.filter(|q| q.contains("query=") || q.contains("extensions=")) else {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .title("Fever API")
                .finish(),
        )
        .into_response();
    };
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(request) => request,
        Err(err) => {
            return graphql_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("bad GraphQL GET request: {err}"),
            );
        }
    };
    execute(&state, request.data(state.access(&headers, true))).await
}

/// Runs a request and writes its answer, refused past the response cap.
async fn execute(state: &AppState, request: async_graphql::Request) -> Response {
    let response = state.graphql.run(request).await;
    let cap = state.config.limits.max_response_bytes;
    let body = encode_within(&response, cap)
        .or_else(|| encode_within(&state.graphql.too_large(), cap))
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
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
pub fn graphql_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// `GET /livez`: the process is up.
async fn livez() -> impl IntoResponse {
    Json(json!({ "status": "live" }))
}

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /readyz`: the API can serve. Search is served from the index, which survives a
/// database outage, so the API stays ready then and says the database is down.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let database_up =
        tokio::time::timeout(READY_TIMEOUT, entity::db::ping(state.database.connection()))
            .await
            .unwrap_or(false);
    Json(json!({
        "status": "ready",
        "database": if database_up { "up" } else { "down" },
        "search_index": {
            "events": state.index.snapshot().len(),
            "version": state.index.snapshot().version,
            "age_seconds": state.catalog.age().as_secs_f64(),
        },
    }))
    .into_response()
}

async fn not_found() -> Response {
    rest::error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}
