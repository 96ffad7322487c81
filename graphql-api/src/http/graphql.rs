//! GraphQL over HTTP: `POST /graphql` (JSON), `GET /graphql` (GraphiQL, or a read-only query in
//! the query string). The request goes through the one door of `graphql::executor`; the answer
//! is written here, refused past the response cap.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use axum::{
    Json,
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use crate::{graphql::executor::encode_within, state::AppState};

/// `POST /graphql`: one GraphQL request as JSON (batches are refused).
///
/// Only `application/json` bodies are read: a form or `text/plain` post, which a browser sends
/// cross-site without a preflight, is refused, so the API has no CSRF path.
pub(crate) async fn graphql_post(
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
pub(crate) async fn graphql_get(
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
