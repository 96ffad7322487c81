//! The HTTP server: routes, middleware, and how it starts and stops.
//!
//! `run` loads the search index, starts the change feed and the index refresher, and serves
//! until its cancellation token fires; then it stops accepting connections, gives in-flight
//! requests the configured grace period, and stops its background tasks.

use std::{sync::Arc, time::Duration};

use async_graphql::{ErrorExtensions as _, ServerError, Value, http::GraphiQLSource};
use async_graphql_axum::GraphQLSubscription;
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
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{
    catalog::{self, CatalogStatus, ChangeFeed},
    config::{ApiRunError, ServeConfig},
    documents::Documents,
    graphql::{AdminToken, Credentials},
    metrics::{self, Metrics},
    rest,
    schema::{self, ApiSchema, SchemaData},
    search::SearchIndex,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schema, with its data.
    pub schema: ApiSchema,
    /// The database pool.
    pub db: DatabaseConnection,
    /// The search index.
    pub index: Arc<SearchIndex>,
    /// How fresh the index is.
    pub catalog: Arc<CatalogStatus>,
    /// Request counters.
    pub metrics: Arc<Metrics>,
    /// Persisted queries and parsed documents.
    pub documents: Arc<Documents>,
    /// The server's settings.
    pub config: Arc<ServeConfig>,
}

/// The API's routes and middleware.
pub fn router(state: AppState) -> Router {
    // Handlers share one `Arc`: extracting the state clones a pointer, not every field.
    let state = Arc::new(state);
    let config = Arc::clone(&state.config);
    let subscriptions = GraphQLSubscription::new(state.schema.clone());
    let mut router = Router::new()
        .route("/", get(crate::ui::monitor))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route_service("/graphql/ws", subscriptions)
        .route("/playground", get(playground))
        .route("/search", get(rest::search))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::track,
        ))
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(config.max_request_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ));
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
    let schema = schema::build(
        SchemaData {
            db: db.clone(),
            index: Arc::clone(&index),
            changes,
            admin_token: AdminToken(config.admin_token.clone()),
        },
        config.limits,
    );
    let state = AppState {
        schema,
        db,
        index,
        catalog: status,
        metrics: Arc::new(Metrics::default()),
        documents: Arc::new(Documents::new(config.limits.persisted_queries)),
        config: Arc::new(config),
    };
    let app = router(state);
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "graphql-api listening");
    let stopping = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(stopping.cancelled_owned());
    let served = drain_within(server.into_future(), &shutdown, grace).await;
    background.cancel();
    let _ = refresher.await;
    served.map_err(|source| ApiRunError::Serve { source })
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

fn credentials(headers: &HeaderMap, via_get: bool) -> Credentials {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    Credentials { bearer, via_get }
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
    execute(&state, request.data(credentials(&headers, false))).await
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
    execute(&state, request.data(credentials(&headers, true))).await
}

async fn execute(state: &AppState, request: async_graphql::Request) -> Response {
    let mut response = match state.documents.prepare(request) {
        Ok(request) => state.schema.execute(request).await,
        Err(error) => async_graphql::Response::from_errors(vec![error]),
    };
    for error in &mut response.errors {
        let code = normalize(error);
        state.metrics.record_graphql_error(&code);
    }
    Json(response).into_response()
}

/// Gives every error a stable `extensions.code`: resolver errors carry theirs; parse and
/// validation errors, including the query limits, get one here.
fn normalize(error: &mut ServerError) -> String {
    if let Some(Value::String(code)) = error.extensions.as_ref().and_then(|e| e.get("code")) {
        return code.clone();
    }
    let code = if error.message.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else if error.message.contains("nested too deep") {
        "QUERY_TOO_DEEP"
    } else if error.message.contains("not supported on this transport") {
        // A subscription posted over HTTP: it belongs on /graphql/ws.
        "BAD_REQUEST"
    } else if error.message.starts_with("Failed to parse")
        || error.message.starts_with("Invalid value for argument")
        || (error.path.is_empty()
            && (error.message.contains("argument") || error.message.contains("variable")))
    {
        // An argument or variable of the wrong type or format.
        "BAD_USER_INPUT"
    } else if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        // A resolver error without a code comes from the library, not our resolvers: show
        // nothing of it.
        tracing::error!(message = %error.message, "GraphQL error without a code");
        error.message = "internal error".to_owned();
        "INTERNAL"
    };
    let extended =
        async_graphql::Error::new(error.message.clone()).extend_with(|_, e| e.set("code", code));
    error.extensions = extended.extensions;
    code.to_owned()
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

/// `GET /playground`: GraphQL Playground.
async fn playground() -> Html<String> {
    Html(async_graphql::http::playground_source(
        async_graphql::http::GraphQLPlaygroundConfig::new("/graphql")
            .subscription_endpoint("/graphql/ws"),
    ))
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
    let database_up = tokio::time::timeout(READY_TIMEOUT, entity::db::ping(&state.db))
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
