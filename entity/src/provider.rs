//! `provider`: a source of events, with its feed address, schedule and fetch limits.

use sea_orm::entity::prelude::*;

use crate::{ProviderId, ProviderKind};

/// A provider row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider")]
pub struct Model {
    /// Database id.
    #[sea_orm(primary_key)]
    pub id: ProviderId,
    /// Unique operator-facing name; part of every event id.
    #[sea_orm(unique)]
    pub name: String,
    /// The collector that reads its feed.
    pub kind: ProviderKind,
    /// The feed's address (http or https).
    pub url: String,
    /// Cron expression with a seconds field, read in `time_zone`.
    pub schedule: String,
    /// Whether the scheduler creates jobs for it.
    pub enabled: bool,
    /// IANA time zone of the feed's naive timestamps and of its schedule.
    pub time_zone: String,
    /// Limit for establishing the connection.
    pub connect_timeout_ms: i32,
    /// Limit between two reads of the body.
    pub read_timeout_ms: i32,
    /// Limit for the whole fetch, body included.
    pub total_timeout_ms: i32,
    /// Largest body accepted, compressed or decompressed.
    pub max_body_bytes: i64,
    /// Attempts per tick, the first one included.
    pub max_attempts: i32,
    /// Backoff before the first retry; doubled for each further one.
    pub retry_base_delay_ms: i32,
    /// How old its last successful collection may get before it is overdue, in milliseconds;
    /// `None`: three intervals of its schedule (`settings::freshness`).
    pub freshness_ms: Option<i64>,
    /// Consecutive failed collections after which the scheduler backs off (0: never).
    pub backoff_after: i32,
    /// Consecutive failed collections after which it is paused (0: never).
    pub pause_after: i32,
    /// `ETag` of the last feed stored, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// `Last-Modified` of the last feed stored, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// Hash of the last feed body stored; an identical body writes nothing.
    pub body_hash: Option<String>,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When its settings last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations of a provider.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its jobs.
    #[sea_orm(has_many = "super::job::Entity")]
    Job,
    /// Its events.
    #[sea_orm(has_many = "super::event::Entity")]
    Event,
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
