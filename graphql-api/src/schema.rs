//! The GraphQL schema, kept apart from the server wiring: [`sdl`] needs no database, and the
//! server adds its data when it builds the schema with [`build`].

use std::sync::Arc;

use async_graphql::{Schema, SchemaBuilder, dataloader::DataLoader};
use sea_orm::DatabaseConnection;

use crate::{
    catalog::ChangeFeed,
    graphql::{AdminToken, DbLoader, MutationRoot, QueryRoot, SubscriptionRoot},
    search::SearchIndex,
};

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_page_size: 100,
            persisted_queries: 1_000,
        }
    }
}

fn builder(limits: Limits) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16)
        // No extensions: with one, the executor sends every field through the extension
        // chain. Persisted queries are resolved before execution (`documents`).
        .data(limits)
}

/// What the schema's resolvers read.
pub struct SchemaData {
    /// The database.
    pub db: DatabaseConnection,
    /// The search index.
    pub index: Arc<SearchIndex>,
    /// Job and catalogue changes, for subscriptions.
    pub changes: ChangeFeed,
    /// The admin token mutations need.
    pub admin_token: AdminToken,
}

/// The schema the server runs.
pub fn build(data: SchemaData, limits: Limits) -> ApiSchema {
    let loader = DataLoader::new(DbLoader::new(data.db.clone()), tokio::spawn);
    builder(limits)
        .data(data.db)
        .data(data.index)
        .data(data.changes)
        .data(data.admin_token)
        .data(loader)
        .finish()
}

/// The schema's SDL, as `graphql-api export-schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder(Limits::default()).finish().sdl()
}
