//! The GraphQL schema, kept apart from the server wiring: [`sdl`] needs no database, and the
//! server adds its data when it builds the schema with [`build`].

use std::{sync::Arc, time::Duration};

use entity::destination::DestinationPolicy;

use crate::{
    access::SearchAccess,
    catalog::ChangeFeed,
    database::Database,
    graphql::{DbLoader, MutationRoot, QueryRoot, SubscriptionRoot},
    search::SearchIndex,
};
use async_graphql::{Schema, SchemaBuilder, dataloader::DataLoader};

/// The API's schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What a GraphQL request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest selection accepted.
    pub max_depth: usize,
    /// Highest complexity accepted (a field costs 1; a connection, its page size times its
    /// children).
    pub max_complexity: usize,
    /// Largest page a connection returns.
    pub max_page_size: usize,
    /// Queries kept for automatic persisted queries (see `documents`).
    pub persisted_queries: usize,
    /// Largest answer sent, in bytes (JSON); a larger one is refused with
    /// `RESPONSE_TOO_LARGE`.
    pub max_response_bytes: usize,
    /// Longest a query or mutation may run.
    pub request_timeout: Duration,
    /// Most database connections one request holds at once.
    pub db_connections_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_page_size: 100,
            persisted_queries: 1_000,
            max_response_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            db_connections_per_request: 2,
        }
    }
}

fn builder(limits: Limits) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    // Depth and complexity are measured before the schema sees a document (`cost`), with
    // fragments costed once: async-graphql's own limits expand every spread first.
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_recursive_depth(32)
        .limit_directives(16)
        // No extensions: with one, the executor sends every field through the extension
        // chain. Persisted queries are resolved before execution (`documents`).
        .data(limits)
}

/// What the schema's resolvers read.
pub struct SchemaData {
    /// The database, with its breaker.
    pub database: Arc<Database>,
    /// The search index.
    pub index: Arc<SearchIndex>,
    /// Job and catalogue changes, for subscriptions.
    pub changes: ChangeFeed,
    /// Whether event search needs a viewer token.
    pub search_access: SearchAccess,
    /// Which provider addresses `upsertProvider` accepts.
    pub destinations: DestinationPolicy,
}

/// The schema the server runs.
pub fn build(data: SchemaData, limits: Limits) -> ApiSchema {
    let loader = DataLoader::new(DbLoader::new(Arc::clone(&data.database)), tokio::spawn);
    builder(limits)
        .data(data.database)
        .data(data.index)
        .data(data.changes)
        .data(data.search_access)
        .data(data.destinations)
        .data(loader)
        .finish()
}

/// The schema without data: enough to parse and validate documents (tests of error codes).
#[cfg(test)]
pub(crate) fn without_data() -> ApiSchema {
    builder(Limits::default()).finish()
}

/// The schema's SDL, as `graphql-api export-schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder(Limits::default()).finish().sdl()
}
