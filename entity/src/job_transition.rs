//! `job_transition`: each state a job entered, numbered in the order the changes happened.
//!
//! Triggers on `job` write it (see the `migration` crate); nothing in Rust inserts into it.
//! The ingestor prunes it after minutes: it serves live updates and short resumes, not
//! history (the job and its outcome are the history).

use sea_orm::entity::prelude::*;

use crate::{JobId, JobState, ProviderId};

/// A job's state change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_transition")]
pub struct Model {
    /// Grows with every change; per job, in the order the changes committed.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The job that changed.
    pub job_id: JobId,
    /// Its provider.
    pub provider_id: ProviderId,
    /// The state the change produced.
    pub state: JobState,
    /// When: the job's `created_at`, `started_at` or `finished_at` for that state.
    pub at: DateTimeUtc,
}

/// Relations of a change.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The job that changed (no foreign key: the log outlives no job for long).
    #[sea_orm(
        belongs_to = "super::job::Entity",
        from = "Column::JobId",
        to = "super::job::Column::Id"
    )]
    Job,
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
