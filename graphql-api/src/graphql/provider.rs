//! The `Provider` type.

use async_graphql::{Enum, SimpleObject};
use chrono::{DateTime, Utc};

/// Which collector reads a provider's feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ProviderKind {
    /// The Fever XML feed (`eventList` or `planList` dialect).
    FeverXml,
}

impl From<entity::ProviderKind> for ProviderKind {
    fn from(kind: entity::ProviderKind) -> Self {
        match kind {
            entity::ProviderKind::FeverXml => Self::FeverXml,
        }
    }
}

/// A source of events: its feed, schedule and limits.
#[derive(Debug, Clone, SimpleObject)]
pub struct Provider {
    /// Database id.
    pub id: i64,
    /// Unique name; part of every event id.
    pub name: String,
    /// The collector that reads its feed.
    pub kind: ProviderKind,
    /// The feed's address.
    pub url: String,
    /// Cron expression (with seconds), read in `timeZone`.
    pub schedule: String,
    /// IANA time zone of the feed's timestamps and of the schedule.
    pub time_zone: String,
    /// Whether the scheduler creates jobs for it.
    pub enabled: bool,
    /// Limit for connecting to the provider, in milliseconds.
    pub connect_timeout_ms: i32,
    /// Limit between two reads of the feed, in milliseconds.
    pub read_timeout_ms: i32,
    /// Limit for a whole fetch, in milliseconds.
    pub total_timeout_ms: i32,
    /// Largest feed accepted, in bytes.
    pub max_body_bytes: i64,
    /// Attempts per tick, the first one included.
    pub max_attempts: i32,
    /// Backoff before the first retry, in milliseconds.
    pub retry_base_delay_ms: i32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its settings last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<entity::provider::Model> for Provider {
    fn from(p: entity::provider::Model) -> Self {
        Self {
            id: p.id.0,
            name: p.name,
            kind: p.kind.into(),
            url: p.url,
            schedule: p.schedule,
            time_zone: p.time_zone,
            enabled: p.enabled,
            connect_timeout_ms: p.connect_timeout_ms,
            read_timeout_ms: p.read_timeout_ms,
            total_timeout_ms: p.total_timeout_ms,
            max_body_bytes: p.max_body_bytes,
            max_attempts: p.max_attempts,
            retry_base_delay_ms: p.retry_base_delay_ms,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}
