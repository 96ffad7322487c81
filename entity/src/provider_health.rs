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
