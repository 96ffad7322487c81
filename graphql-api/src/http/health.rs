//! `/livez` and `/readyz`, and the JSON 404 of unknown routes.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{http::rest, state::AppState};

/// `GET /livez`: the process is up.
pub(crate) async fn livez() -> impl IntoResponse {
    Json(json!({ "status": "live" }))
}

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /readyz`: the API can serve. Search is served from the index, which survives a
/// database outage, so the API stays ready then and says the database is down.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let database_up = tokio::time::timeout(
        READY_TIMEOUT,
        lifecycle::database::ping(state.database.connection()),
    )
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

pub(crate) async fn not_found() -> Response {
    rest::error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}
