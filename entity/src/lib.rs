//! The data layer of the Fever events-integration service.
//!
//! - One module per table with its SeaORM entity ([`provider`], [`job`], [`job_outcome`],
//!   [`job_transition`], [`job_count`], [`job_tally`], [`error_group`], [`provider_health`], [`audit_log`], [`worker`], [`event`], [`catalog_version`]), kept in the shape `sea-orm-cli` generates. An event's
//!   zones are a JSON array in its row (`zone` is a view over it, for SQL readers).
//! - [`query`]: the hand-written queries over them, one module per table, as async functions
//!   over `&impl ConnectionTrait` so each works on the pool and inside a transaction alike.
//! - [`destination`]: which provider addresses may be fetched (public only by default).
//! - [`search`]: what an event search means (range, filter, order), for the API's index and
//!   the SQL search alike.
//! - [`record`]: the feed's domain record (an event as a feed gives it, validated) and its
//!   content hash; the collector builds these and never needs [`query`].
//! - Parse-once domain types: [`ids`], [`settings`] (what a provider is configured with, and
//!   [`settings::redact_url`] for showing a URL),
//!   [`time`] (the one timestamp format written to both databases).
//!
//! The schema itself lives in the `migration` crate.

pub mod audit_log;
pub mod catalog_version;
pub mod destination;
pub mod error_group;
pub mod event;
pub mod feed_snapshot;
pub mod ids;
pub mod job;
pub mod job_change;
pub mod job_count;
pub mod job_outcome;
pub mod job_tally;
pub mod job_transition;
pub mod provider;
pub mod provider_health;
pub mod query;
pub mod record;
pub mod sea_orm_active_enums;
pub mod search;
pub mod settings;
pub mod time;
pub mod worker;

pub use ids::{EventId, JobId, ProviderId};
pub use sea_orm_active_enums::{ErrorKind, JobState, JobTrigger, ProviderKind};
