//! `/graphql/ws`: GraphQL over a WebSocket (the `graphql-transport-ws` protocol, and the older
//! `graphql-ws`), with what a stranger's socket must not be able to do:
//!
//! - be opened from another site's page: the `Origin` must be this server's own, or one
//!   allowed for CORS (a browser sends it; other clients may leave it out);
//! - be kept open without saying who it is: `connection_init` must arrive within the init
//!   timeout, and a token in it that matches nothing closes the socket;
//! - send a message larger than an HTTP body may be;
//! - add up: a process serves at most `max_websockets` sockets at once.
//!
//! Its requests go through the same door as HTTP ones (`executor`): cost limits, timeouts,
//! response cap. A socket ends when the client leaves, or when the server's cancellation
//! token fires.

use std::sync::Arc;

use async_graphql::{Data, http::ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{State, WebSocketUpgrade, ws::WebSocket},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio::sync::OwnedSemaphorePermit;

use crate::{access::bearer, http::graphql::graphql_error, state::AppState};

/// `GET /graphql/ws`: checks the origin and the socket cap, then upgrades.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.config.cors_origins) {
        return graphql_error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this origin may not open a WebSocket here",
        );
    }
    let Ok(permit) = Arc::clone(&state.websockets).try_acquire_owned() else {
        return graphql_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "too many WebSocket connections; retry later",
        );
    };
    // A client outside a browser may authenticate the upgrade itself.
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_owned);
    let max = state.config.max_request_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(socket, protocol, state, permit, header_token))
        .into_response()
}

async fn serve(
    socket: WebSocket,
    protocol: GraphQLProtocol,
    state: Arc<AppState>,
    permit: OwnedSemaphorePermit,
    header_token: Option<String>,
) {
    let (initialised, init) = tokio::sync::oneshot::channel::<()>();
    let tokens = state.tokens.clone();
    let socket = GraphQLWebSocket::new(socket, state.graphql.clone(), protocol)
        .on_connection_init(move |payload| async move {
            let _ = initialised.send(());
            let token = init_token(&payload).or(header_token);
            let access = tokens.access(token.as_deref(), false);
            if access.token_rejected {
                return Err(async_graphql::Error::new(
                    "FORBIDDEN: the token is not valid",
                ));
            }
            let mut data = Data::default();
            data.insert(access);
            Ok(data)
        })
        .serve();
    tokio::pin!(socket);
    let stop = state.stop.clone();
    tokio::select! {
        () = &mut socket => return,
        () = stop.cancelled() => return,
        said = tokio::time::timeout(state.config.websocket_init_timeout, init) => {
            if !matches!(said, Ok(Ok(()))) {
                tracing::debug!("WebSocket closed: no connection_init in time");
                return;
            }
        }
    }
    tokio::select! {
        () = socket => {}
        () = stop.cancelled() => {}
    }
    drop(permit);
}

/// The token a `connection_init` payload carries: `{"Authorization": "Bearer ..."}` (any case),
/// the same under `headers`, or `{"token": "..."}`.
fn init_token(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    let authorization = |fields: &serde_json::Map<String, serde_json::Value>| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
            .and_then(bearer)
            .map(str::to_owned)
    };
    authorization(object)
        .or_else(|| {
            object
                .get("headers")
                .and_then(|h| h.as_object())
                .and_then(authorization)
        })
        .or_else(|| {
            object
                .get("token")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
}

/// Whether a request's `Origin` may open a socket: none given (not a browser), this server's
/// own (same host and port as the `Host` header), or one of the CORS origins (`*`: any).
pub fn origin_allowed(headers: &HeaderMap, cors_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if cors_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn only_the_same_origin_or_an_allowed_one_may_open_a_socket() {
        let own = headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert!(origin_allowed(&own, &[]));
        assert!(origin_allowed(&headers(None, "127.0.0.1:8080"), &[]));
        let foreign = headers(Some("https://evil.example"), "127.0.0.1:8080");
        assert!(!origin_allowed(&foreign, &[]));
        assert!(origin_allowed(
            &foreign,
            &["https://evil.example".to_owned()]
        ));
        assert!(origin_allowed(&foreign, &["*".to_owned()]));
        let other_port = headers(Some("http://127.0.0.1:9999"), "127.0.0.1:8080");
        assert!(!origin_allowed(&other_port, &[]));
        let null = headers(Some("null"), "127.0.0.1:8080");
        assert!(!origin_allowed(&null, &[]));
    }

    #[test]
    fn the_token_is_read_from_the_init_payload_in_its_usual_places() {
        let token = "a-token-of-sixteen-chars";
        for payload in [
            json!({ "Authorization": format!("Bearer {token}") }),
            json!({ "authorization": format!("bearer {token}") }),
            json!({ "headers": { "Authorization": format!("Bearer {token}") } }),
            json!({ "token": token }),
        ] {
            assert_eq!(init_token(&payload).as_deref(), Some(token), "{payload}");
        }
        assert_eq!(init_token(&json!({})), None);
        assert_eq!(init_token(&json!(null)), None);
    }
}
