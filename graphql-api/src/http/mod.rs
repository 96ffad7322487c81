//! The HTTP server: routes, middleware, and how it starts and stops.
//!
//! `run` loads the search index, starts the change feed and the index refresher, and serves
//! until its cancellation token fires; then it stops accepting connections, gives in-flight
//! requests the configured grace period, and stops its background tasks.

pub mod feed_body;
pub mod graphql;
pub mod health;
pub mod metrics;
mod process;
pub mod rest;
pub mod serve;
pub mod ui;
pub mod websocket;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    routing::get,
};
use sea_orm::DatabaseConnection;
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
    access::SearchAccess,
    changes::ChangeFeed,
    config::{ApiRunError, ServeConfig},
    counters::Metrics,
    database::Database,
    graphql::{
        executor::GraphQl,
        schema::{self, SchemaData},
    },
    search::{
        SearchIndex,
        refresh::{self, CatalogStatus},
    },
    state::AppState,
};

use self::serve::serve;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API's routes and middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let config = Arc::clone(&state.config);
    let mut router = Router::new()
        .route("/", get(ui::monitor))
        // A job's detail: the same page, which reads the id from its address.
        .route("/jobs/{id}", get(ui::monitor))
        .route("/jobs/{id}/body", get(feed_body::download))
        .route(
            "/graphql",
            get(graphql::graphql_get).post(graphql::graphql_post),
        )
        .route("/graphql/ws", get(websocket::upgrade))
        .route("/graphiql/{tag}/{name}", get(ui::graphiql::asset))
        .route("/search", get(rest::search))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(health::not_found)
        .layer(RequestBodyLimitLayer::new(config.max_request_bytes))
        // A backstop: GraphQL stops its own execution at the request timeout and answers
        // `TIMEOUT`; anything else still running a little later is cut with a 503.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.limits.request_timeout + Duration::from_millis(250),
        ))
        // Outside the body limit and the timeout: their plain-text answers become GraphQL
        // errors with a code on /graphql.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            graphql::transport_errors,
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
    let snapshot = refresh::load(&db).await.map_err(ApiRunError::LoadIndex)?;
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
    let refresher = tokio::spawn(refresh::run_refresher(
        db.clone(),
        Arc::clone(&index),
        Arc::clone(&status),
        changes.catalog(),
        config.refresh_interval,
        background.clone(),
    ));
    let database = Database::new(db);
    let prober = tokio::spawn(Arc::clone(&database).run_prober(background.clone()));
    let search_access = SearchAccess {
        requires_viewer: config.search_requires_viewer,
    };
    let schema = schema::build(
        SchemaData {
            database: Arc::clone(&database),
            index: Arc::clone(&index),
            changes,
            search_access,
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
            Arc::clone(&index),
            search_access,
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
