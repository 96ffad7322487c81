//! The GraphQL side of the API: the schema and the one door requests go through, the roots,
//! and the output types, which are never the database entities.
//!
//! - [`schema`] builds the schema (and its readable SDL); [`limits`] and [`cost`] bound what a
//!   document may ask; [`documents`] resolves persisted queries and caches parsed documents;
//!   [`executor`] is the door every request goes through, over HTTP and WebSocket.
//! - `query`, `mutation`, `subscription`: the roots.
//! - `event`, `job`, `error_group`, `worker`, `chart`, `provider`, `stats`, `scalars`: the types; `order`: how lists are
//!   ordered; `cursors`: opaque connection cursors; `loaders`: batched loading.

mod chart;
pub mod cost;
pub(crate) mod cursors;
pub mod documents;
mod error_group;
mod event;
mod events;
pub mod executor;
mod ids;
mod job;
mod job_changes;
pub mod limits;
mod loaders;
mod mutation;
mod order;
mod paging;
pub(crate) mod plan;
mod provider;
mod query;
mod scalars;
pub mod schema;
mod stats;
mod subscription;
mod worker;

use std::sync::Arc;

use async_graphql::Context;

pub use chart::{ChartPoint, JobChart};
pub use error_group::{ErrorGroup, RetryReport};
pub use event::{Event, EventFilter, Node, SellMode, Totals, Zone};
pub use job::{ErrorKind, Job, JobCounts, JobFilter, JobOutcome, JobState, JobTrigger, Rejection};
pub use loaders::DbLoader;
pub use mutation::{MutationRoot, ProviderInput};
pub use order::{EventOrder, EventOrderField, JobOrder, JobOrderField, OrderDirection};
pub use provider::{Health, Provider, ProviderKind};
pub use query::{QueryRoot, RequestLimits, Viewer};
pub use scalars::Instant;
pub use stats::ProviderStats;
pub use subscription::SubscriptionRoot;
pub use worker::{Worker, WorkerState};

use crate::{
    database::{self, Database, RequestConnections},
    error::ApiError,
};

/// The database for one query of this request: `UNAVAILABLE` at once while it is known to be
/// down, and never more than the request's share of connections at a time.
pub(crate) async fn db<'a>(ctx: &Context<'a>) -> Result<database::Connection<'a>, ApiError> {
    ctx.data_unchecked::<Arc<Database>>()
        .for_request(ctx.data_opt::<RequestConnections>())
        .await
}

/// The provider called `name`; `NOT_FOUND` when there is none.
pub(crate) async fn provider_named(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
) -> Result<entity::provider::Model, ApiError> {
    entity::query::provider::find_by_name(db, name)
        .await?
        .ok_or_else(|| ApiError::unknown_provider(name))
}
