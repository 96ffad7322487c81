//! Stored feed bodies: written in the transaction that ends the job that parsed them, read to
//! replay that job or to download the body, and pruned by age and by total size.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QuerySelect, Statement,
};

use crate::{
    JobId, ProviderId,
    feed_snapshot::{ActiveModel, Column, Compressed, Entity, Model},
    time,
};

/// Keeps `body`, the feed `job` of `provider` parsed, at `at`: in the row, or, when `file` names
/// where a snapshot directory keeps it already, its sizes and that name.
pub async fn insert(
    db: &impl ConnectionTrait,
    job: JobId,
    provider: ProviderId,
    at: DateTime<Utc>,
    body: &Compressed,
    file: Option<String>,
) -> Result<(), DbErr> {
    let size = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Entity::insert(ActiveModel {
        job_id: Set(job),
        provider_id: Set(provider),
        created_at: Set(time::truncate(at)),
        raw_bytes: Set(size(body.raw_bytes)),
        stored_bytes: Set(size(body.body.len() as u64)),
        body: Set(if file.is_some() {
            Vec::new()
        } else {
            body.body.clone()
        }),
        file: Set(file),
    })
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// The body `job` parsed, if it is still kept.
pub async fn find(db: &impl ConnectionTrait, job: JobId) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(job).one(db).await
}

/// Job `job`, if it still exists and its body is still kept: a job a replay can read.
pub async fn replayable(
    db: &impl ConnectionTrait,
    job: JobId,
) -> Result<Option<crate::job::Model>, DbErr> {
    if info_many(db, [job]).await?.is_empty() {
        return Ok(None);
    }
    super::job::find(db, job).await
}

/// What is known of a stored body without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct SnapshotInfo {
    /// Its job.
    pub job_id: JobId,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// The body's size.
    pub raw_bytes: i64,
    /// Its compressed size.
    pub stored_bytes: i64,
}

/// The sizes of the bodies these jobs parsed, for those still kept (never the bodies).
pub async fn info_many(
    db: &impl ConnectionTrait,
    jobs: impl IntoIterator<Item = JobId>,
) -> Result<Vec<SnapshotInfo>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::JobId)
        .column(Column::CreatedAt)
        .column(Column::RawBytes)
        .column(Column::StoredBytes)
        .filter(Column::JobId.is_in(jobs))
        .into_model::<SnapshotInfo>()
        .all(db)
        .await
}

/// What [`prune`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Bodies older than the retention.
    pub expired: u64,
    /// The oldest bodies past the size cap.
    pub over_cap: u64,
}

/// Drops the bodies stored before `before`, then the oldest ones until those left weigh at
/// most `max_total_bytes` (compressed): the newest are kept.
pub async fn prune(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    max_total_bytes: u64,
) -> Result<Pruned, DbErr> {
    let expired = Entity::delete_many()
        .filter(Column::CreatedAt.lt(time::truncate(before)))
        .exec(db)
        .await?
        .rows_affected;
    // Newest first, a running total of the sizes; every body from the one that passes the cap
    // on is dropped. Both databases run window functions.
    let cap = i64::try_from(max_total_bytes).unwrap_or(i64::MAX);
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "DELETE FROM feed_snapshot WHERE job_id IN (SELECT job_id FROM (SELECT job_id, \
             SUM(stored_bytes) OVER (ORDER BY created_at DESC, job_id DESC) AS kept \
             FROM feed_snapshot) newest WHERE kept > $1)"
        }
        _ => {
            "DELETE FROM feed_snapshot WHERE job_id IN (SELECT job_id FROM (SELECT job_id, \
             SUM(stored_bytes) OVER (ORDER BY created_at DESC, job_id DESC) AS kept \
             FROM feed_snapshot) newest WHERE kept > ?)"
        }
    };
    let over_cap = db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [cap.into()]))
        .await?
        .rows_affected();
    Ok(Pruned { expired, over_cap })
}

/// Which of `jobs` still have a kept body (to sweep a snapshot directory's files whose rows
/// are gone).
pub async fn kept_among(
    db: &impl ConnectionTrait,
    jobs: impl IntoIterator<Item = JobId>,
) -> Result<Vec<JobId>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::JobId)
        .filter(Column::JobId.is_in(jobs))
        .into_tuple()
        .all(db)
        .await
}

/// How many bodies are kept, and what they weigh together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Bodies kept.
    pub count: i64,
    /// Their compressed size, in the database or in files (what the size cap bounds).
    pub stored_bytes: i64,
}

/// How many bodies are kept, and their compressed size.
pub async fn totals(db: &impl ConnectionTrait) -> Result<Totals, DbErr> {
    // PostgreSQL counts and sums a bigint as bigint and numeric: cast both.
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT) \
             FROM feed_snapshot",
        ))
        .await?;
    match row {
        Some(row) => Ok(Totals {
            count: row.try_get_by_index(0)?,
            stored_bytes: row.try_get_by_index(1)?,
        }),
        None => Ok(Totals::default()),
    }
}

/// The compressed size of every body kept.
pub async fn total_bytes(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(totals(db).await?.stored_bytes)
}
