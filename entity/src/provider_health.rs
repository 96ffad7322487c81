//! `provider_health`: each provider's health, updated in the transaction that records each of
//! its jobs' outcome (see `query::provider_health`), so reading it costs a row per provider.

use sea_orm::entity::prelude::*;

use crate::{ErrorKind, JobId, ProviderId};

/// A provider's health summary.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_health")]
pub struct Model {
    /// Its provider.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: ProviderId,
    /// Its last finished jobs (at most 100), newest first: `c` (completed) or `f` (failed),
    /// then the duration in milliseconds, comma-separated.
    #[sea_orm(column_type = "Text")]
    pub recent: String,
    /// When it last completed a job.
    pub last_success_at: Option<DateTimeUtc>,
    /// Its last completed job that read a changed feed found the feed empty.
    pub last_feed_empty: bool,
    /// Its last finished job (completed or failed; not a key: retention may have pruned it).
    pub last_finished_job_id: Option<JobId>,
    /// When that job finished.
    pub last_finished_at: Option<DateTimeUtc>,
    /// Its last failed job (not a key: retention may have pruned it).
    pub last_error_job_id: Option<JobId>,
    /// When that job failed.
    pub last_error_at: Option<DateTimeUtc>,
    /// Why it failed.
    pub last_error_kind: Option<ErrorKind>,
    /// What failed, in words for an operator.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error_message: Option<String>,
    /// Consecutive failed collections (a tick's retries count once) since its last success or
    /// since it was last enabled; failures that are not the provider's doing (interrupted,
    /// cancelled, database) do not count.
    pub failed_collections: i32,
    /// The collection last counted in `failed_collections` (its `scheduled_for`).
    pub last_failed_collection: Option<DateTimeUtc>,
    /// Until when the scheduler skips its ticks; set while it backs off.
    pub backing_off_until: Option<DateTimeUtc>,
    /// Ticks skipped by the current backoff.
    pub skipped_ticks: i64,
    /// The last tick skipped (each is counted once, however many schedulers skip it).
    pub last_skipped_tick: Option<DateTimeUtc>,
    /// When it was paused for failing `pause_after` times in a row; cleared when enabled.
    pub paused_at: Option<DateTimeUtc>,
    /// Why it was paused, in words for an operator.
    #[sea_orm(column_type = "Text", nullable)]
    pub pause_reason: Option<String>,
}

/// Relations of a health summary.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its provider.
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderId",
        to = "super::provider::Column::Id",
        on_delete = "Cascade"
    )]
    Provider,
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
