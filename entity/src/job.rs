//! `job`: one attempt to collect one provider's feed.

use sea_orm::entity::prelude::*;

use crate::{JobId, JobState, JobTrigger, ProviderId};

/// A job row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job")]
pub struct Model {
    /// Database id, growing with creation order.
    #[sea_orm(primary_key)]
    pub id: JobId,
    /// The provider it collects.
    pub provider_id: ProviderId,
    /// `pending -> running -> completed | failed`.
    pub state: JobState,
    /// What created it.
    pub trigger: JobTrigger,
    /// The cron tick it was created for (schedule jobs only); unique per provider.
    pub tick: Option<DateTimeUtc>,
    /// When it was meant to happen: the tick, the operator's request, or the retried tick.
    pub scheduled_for: DateTimeUtc,
    /// 1 for a first attempt, then one more per retry.
    pub attempt: i32,
    /// The failed job this one retries.
    pub retry_of: Option<JobId>,
    /// The job whose stored feed body this one parses again (replay jobs only).
    pub replay_of: Option<JobId>,
    /// Not claimed before this instant (retry backoff).
    pub run_at: DateTimeUtc,
    /// When a worker claimed it.
    pub started_at: Option<DateTimeUtc>,
    /// When it completed or failed.
    pub finished_at: Option<DateTimeUtc>,
    /// The worker that claimed it.
    pub worker_id: Option<String>,
    /// Random token of the claim; every later transition must present it.
    pub lease_token: Option<Uuid>,
    /// A running job whose lease expires without a heartbeat is rescued as interrupted.
    pub lease_expires_at: Option<DateTimeUtc>,
    /// Last heartbeat of its worker.
    pub heartbeat_at: Option<DateTimeUtc>,
    /// When it was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a job.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The provider it collects.
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderId",
        to = "super::provider::Column::Id"
    )]
    Provider,
    /// Its outcome (exactly one).
    #[sea_orm(has_one = "super::job_outcome::Entity")]
    JobOutcome,
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl Related<super::job_outcome::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::JobOutcome.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
