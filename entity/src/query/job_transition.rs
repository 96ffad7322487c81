//! Queries over `job_transition`: following the log of job state changes, and pruning it.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::{
    ProviderId, job,
    job_transition::{Column, Entity, Model},
    time,
};

/// How long changes stay in the log: the API resumes a subscription over the last
/// [`RESUMABLE`], and the rest is margin for clocks that differ between processes.
pub const KEPT: TimeDelta = TimeDelta::minutes(15);

/// How far back a reconnecting subscriber may resume.
pub const RESUMABLE: TimeDelta = TimeDelta::minutes(10);

/// A state change and the job it changed, as the job was when the change was read (it may
/// have changed again since: the change's own state is [`Model::state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The change.
    pub change: Model,
    /// The job, read with it.
    pub job: job::Model,
}

/// The newest change's number (0 when the log is empty).
pub async fn latest(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let latest: Option<Option<i64>> = Entity::find()
        .select_only()
        .column_as(Column::Seq.max(), "seq")
        .into_tuple()
        .one(db)
        .await?;
    Ok(latest.flatten().unwrap_or(0))
}

/// Up to `limit` changes numbered above `high` or among `late` (numbers a reader skipped,
/// which a transaction still open may yet commit), lowest first, with their jobs. A change
/// whose job was deleted since is left out.
pub async fn following(
    db: &impl ConnectionTrait,
    high: i64,
    late: &[i64],
    limit: u64,
) -> Result<Vec<Transition>, DbErr> {
    let mut which = Condition::any().add(Column::Seq.gt(high));
    if !late.is_empty() {
        which = which.add(Column::Seq.is_in(late.iter().copied()));
    }
    with_jobs(db, which, limit).await
}

/// Up to `limit` changes numbered above `after` that happened at or after `since`, lowest
/// first, with their jobs; only `provider`'s with one.
pub async fn replay(
    db: &impl ConnectionTrait,
    after: i64,
    since: DateTime<Utc>,
    provider: Option<ProviderId>,
    limit: u64,
) -> Result<Vec<Transition>, DbErr> {
    let mut which = Condition::all()
        .add(Column::Seq.gt(after))
        .add(Column::At.gte(time::truncate(since)));
    if let Some(provider) = provider {
        which = which.add(Column::ProviderId.eq(provider));
    }
    with_jobs(db, which, limit).await
}

/// When change `seq` happened, if it is still in the log.
pub async fn find(db: &impl ConnectionTrait, seq: i64) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(seq).one(db).await
}

/// Deletes the changes that happened before `before`, except the newest, whose number a
/// reader starting on an idle log must learn ([`latest`]); how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let newest = latest(db).await?;
    let deleted = Entity::delete_many()
        .filter(Column::At.lt(time::truncate(before)))
        .filter(Column::Seq.lt(newest))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

async fn with_jobs(
    db: &impl ConnectionTrait,
    which: Condition,
    limit: u64,
) -> Result<Vec<Transition>, DbErr> {
    let rows = Entity::find()
        .filter(which)
        .find_also_related(job::Entity)
        .order_by_asc(Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(change, job)| Some(Transition { change, job: job? }))
        .collect())
}
