//! Which events a completed job touched, kind by kind: the first [`LISTED`] ids of each, in
//! feed order (stopped ones by id). The counts are the outcome's; this keeps the names.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use crate::{
    EventId, JobId,
    job_change::{ActiveModel, Column, Entity},
};

/// Ids kept per kind: enough to see what a change was about, small enough that a busy
/// provider's jobs do not store their catalogue again (at most 4 × 20 ids a job). It is also
/// the size the GraphQL cost model gives a list it knows nothing about (`ChangedEvents.events`
/// is costed as a page of 20), so a query's cost stays what it reads.
pub const LISTED: usize = 20;

/// The first ids of each kind of change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedIds {
    /// Stored for the first time.
    pub inserted: Vec<EventId>,
    /// Carried again with other content.
    pub updated: Vec<EventId>,
    /// Carried again as they were.
    pub unchanged: Vec<EventId>,
    /// Listed by the previous feed, not by this one.
    pub stopped: Vec<EventId>,
}

/// Records `ids` for `job`.
pub async fn insert(db: &impl ConnectionTrait, job: JobId, ids: &ChangedIds) -> Result<(), DbErr> {
    let json = serde_json::to_string(ids).map_err(|e| DbErr::Json(e.to_string()))?;
    Entity::insert(ActiveModel {
        job_id: Set(job),
        ids: Set(json),
    })
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// The changes of these jobs (those that have any), for batched loading.
pub async fn find_many(
    db: &impl ConnectionTrait,
    jobs: impl IntoIterator<Item = JobId>,
) -> Result<Vec<(JobId, ChangedIds)>, DbErr> {
    let rows = Entity::find()
        .filter(Column::JobId.is_in(jobs))
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            serde_json::from_str(&row.ids)
                .map(|ids| (row.job_id, ids))
                .map_err(|e| DbErr::Json(e.to_string()))
        })
        .collect()
}
