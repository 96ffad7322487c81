//! What every HTTP handler shares: the GraphQL door, the database, the search index, the
//! counters, the tokens, the settings, and the token that stops the server.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::{
    access::{Access, Tokens, bearer},
    config::ServeConfig,
    counters::Metrics,
    database::Database,
    graphql::executor::GraphQl,
    search::{SearchIndex, refresh::CatalogStatus},
};

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
