//! The GraphQL schema, kept apart from the server wiring: [`sdl`] needs no database, and the
//! server adds its data when it builds the schema with [`build`].

use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::graphql::QueryRoot;

/// The API's schema type.
pub type ApiSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// What a GraphQL request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest selection accepted.
    pub max_depth: usize,
    /// Highest complexity accepted.
    pub max_complexity: usize,
    /// Largest page a connection returns.
    pub max_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_page_size: 100,
        }
    }
}

fn builder(limits: Limits) -> SchemaBuilder<QueryRoot, EmptyMutation, EmptySubscription> {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .data(limits)
}

/// The schema the server runs, over `db`.
pub fn build(db: DatabaseConnection, limits: Limits) -> ApiSchema {
    builder(limits).data(db).finish()
}

/// The schema's SDL, as `graphql-api export-schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder(Limits::default()).finish().sdl()
}
