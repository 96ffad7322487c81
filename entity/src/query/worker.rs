//! Workers: each `ingestor run` announces itself, renews its heartbeat and says when it
//! stops; operators list them with what they run.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};

use crate::{
    JobState, job, time,
    worker::{ActiveModel, Column, Entity, Model},
};

/// A heartbeat this many intervals late means the worker was lost.
pub const LOST_AFTER_BEATS: i32 = 3;

/// What a worker says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Its id (`job.worker_id`).
    pub id: String,
    /// Its host.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The ingestor's version.
    pub version: String,
    /// Jobs it runs at once.
    pub concurrency: u32,
    /// Whether it schedules.
    pub schedules: bool,
    /// How often it beats.
    pub heartbeat_every: std::time::Duration,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// Writes the worker's row, or renews its heartbeat at `now` (a worker the database missed
/// for a while, or that was taken for lost, is live again). Every column is written each
/// time: a process started again under the same `WORKER_ID` replaces the old one's row.
pub async fn beat(
    db: &impl ConnectionTrait,
    me: &Announce,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let every = i64::try_from(me.heartbeat_every.as_millis()).unwrap_or(i64::MAX);
    Entity::insert(ActiveModel {
        id: Set(me.id.clone()),
        host: Set(me.host.chars().take(255).collect()),
        pid: Set(i64::from(me.pid)),
        version: Set(me.version.chars().take(64).collect()),
        concurrency: Set(i32::try_from(me.concurrency).unwrap_or(i32::MAX)),
        schedules: Set(me.schedules),
        heartbeat_every_ms: Set(every),
        started_at: Set(time::truncate(me.started_at)),
        heartbeat_at: Set(time::truncate(now)),
        stopped_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(Column::Id)
            .update_columns([
                Column::Host,
                Column::Pid,
                Column::Version,
                Column::Concurrency,
                Column::Schedules,
                Column::HeartbeatEveryMs,
                Column::StartedAt,
                Column::HeartbeatAt,
                Column::StoppedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// Records that worker `id` stopped cleanly at `now`.
pub async fn stopped(db: &impl ConnectionTrait, id: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::StoppedAt, Expr::value(time::truncate(now)))
        .col_expr(Column::HeartbeatAt, Expr::value(time::truncate(now)))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// How a worker is doing, as of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its heartbeat is on time.
    Live,
    /// It said it stopped.
    Stopped,
    /// Its heartbeat is [`LOST_AFTER_BEATS`] intervals late and it never said it stopped.
    Lost,
}

/// How `worker` is doing at `now`.
pub fn liveness(worker: &Model, now: DateTime<Utc>) -> Liveness {
    if worker.stopped_at.is_some() {
        return Liveness::Stopped;
    }
    let late = TimeDelta::milliseconds(
        worker
            .heartbeat_every_ms
            .saturating_mul(LOST_AFTER_BEATS.into()),
    );
    if now - worker.heartbeat_at > late {
        Liveness::Lost
    } else {
        Liveness::Live
    }
}

/// The most workers one listing returns.
pub const MAX_LISTED: u64 = 500;

/// Workers whose last heartbeat is at or after `since` (every live one, and those stopped or
/// lost since), the newest started first.
pub async fn recent(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::HeartbeatAt.gte(time::truncate(since)))
        .order_by_desc(Column::StartedAt)
        .order_by_asc(Column::Id)
        .limit(MAX_LISTED)
        .all(db)
        .await
}

/// Jobs running now under each of these workers' leases.
pub async fn running_jobs(
    db: &impl ConnectionTrait,
    workers: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, i64>, DbErr> {
    let counts: Vec<(Option<String>, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::WorkerId)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(job::Column::State.eq(JobState::Running))
        .filter(job::Column::WorkerId.is_in(workers))
        .group_by(job::Column::WorkerId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(counts
        .into_iter()
        .filter_map(|(worker, n)| worker.map(|w| (w, n)))
        .collect())
}

/// Drops the workers whose last heartbeat is before `before`.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    Entity::delete_many()
        .filter(Column::HeartbeatAt.lt(time::truncate(before)))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}
