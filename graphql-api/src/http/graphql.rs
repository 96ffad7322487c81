//! GraphQL over HTTP: `POST /graphql` (JSON), `GET /graphql` (GraphiQL, or a read-only query in
//! the query string). The request goes through the one door of `graphql::executor`; the answer
//! is written here, refused past the response cap.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::Request,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{access::Access, state::AppState};

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
    execute(&state, request, state.access(&headers, false)).await
}

/// `GET /graphql`: GraphiQL in a browser; with `query` (or a persisted query's `extensions`)
/// in the query string, a read-only GraphQL request (mutations are refused over GET).
pub(crate) async fn graphql_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(query) = query.filter(|q| q.contains("query=") || q.contains("extensions=")) else {
        return super::ui::graphiql::page();
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
    execute(&state, request, state.access(&headers, true)).await
}

/// Runs a request and writes its answer (refused past the response cap).
async fn execute(state: &AppState, request: async_graphql::Request, access: Access) -> Response {
    let body = state.graphql.respond(request, access).await;
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
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// Transport faults on `/graphql` as GraphQL-shaped JSON with a code, instead of the plain text
/// of the middleware that produced them: a body over the limit (413, `PAYLOAD_TOO_LARGE`) and a
/// request cut by the backstop timeout (503, `TIMEOUT`).
pub(crate) async fn transport_errors(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let graphql = request.uri().path() == "/graphql";
    let response = next.run(request).await;
    let is_json_already = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !graphql || is_json_already {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => graphql_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            &format!(
                "the request body is over the limit of {} bytes",
                state.config.max_request_bytes
            ),
        ),
        StatusCode::SERVICE_UNAVAILABLE => graphql_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            &format!(
                "the request took longer than {} ms",
                state.config.limits.request_timeout.as_millis()
            ),
        ),
        _ => response,
    }
}
