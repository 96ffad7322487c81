//! Queries over `job`: creating jobs, claiming them, and the guarded state transitions; the
//! listings monitoring pages through are in [`list`].
//!
//! A job moves `pending -> running -> completed | failed`. A worker claims pending jobs and
//! gets a random lease token; every later transition of that job names the token and the
//! `running` state in its `WHERE`, so a worker whose lease expired (and whose job the rescuer
//! already failed) changes nothing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TryInsertResult,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

mod list;
mod retry;

pub use list::{JobFilter, JobKey, JobOrder, JobOrderField, JobPosition, count, list};
pub use retry::{MAX_MATCHED, RetryTally, retry_failed};

use crate::{
    JobId, JobState, JobTrigger, ProviderId,
    job::{ActiveModel, Column, Entity, Model},
    time,
};

/// A job to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The provider to collect.
    pub provider_id: ProviderId,
    /// What creates it.
    pub trigger: JobTrigger,
    /// The cron tick, for schedule jobs: at most one job per provider and tick.
    pub tick: Option<DateTime<Utc>>,
    /// When it was meant to happen.
    pub scheduled_for: DateTime<Utc>,
    /// Not claimed before this instant.
    pub run_at: DateTime<Utc>,
    /// 1 for a first attempt.
    pub attempt: i32,
    /// The failed job it retries.
    pub retry_of: Option<JobId>,
    /// The job whose stored feed body it parses again.
    pub replay_of: Option<JobId>,
}

impl NewJob {
    /// A job for the cron tick `tick`, due at once.
    pub fn scheduled(provider_id: ProviderId, tick: DateTime<Utc>) -> Self {
        Self {
            provider_id,
            trigger: JobTrigger::Schedule,
            tick: Some(tick),
            scheduled_for: tick,
            run_at: tick,
            attempt: 1,
            retry_of: None,
            replay_of: None,
        }
    }

    /// A job an operator asked for, due now.
    pub fn manual(provider_id: ProviderId, now: DateTime<Utc>) -> Self {
        Self {
            provider_id,
            trigger: JobTrigger::Manual,
            tick: None,
            scheduled_for: now,
            run_at: now,
            attempt: 1,
            retry_of: None,
            replay_of: None,
        }
    }

    /// The retry of `failed`, due at `run_at` (a replay's retry replays the same body).
    pub fn retry(failed: &Model, run_at: DateTime<Utc>) -> Self {
        Self {
            provider_id: failed.provider_id,
            trigger: if failed.replay_of.is_some() {
                JobTrigger::Replay
            } else {
                JobTrigger::Retry
            },
            tick: None,
            scheduled_for: failed.scheduled_for,
            run_at,
            attempt: failed.attempt + 1,
            retry_of: Some(failed.id),
            replay_of: failed.replay_of,
        }
    }

    /// A job that parses the stored feed body of `job` again, due now.
    pub fn replay(job: &Model, now: DateTime<Utc>) -> Self {
        Self {
            provider_id: job.provider_id,
            trigger: JobTrigger::Replay,
            tick: None,
            scheduled_for: now,
            run_at: now,
            attempt: 1,
            retry_of: None,
            replay_of: Some(job.id),
        }
    }
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The job and its pending outcome were created.
    Created(Model),
    /// Nothing was created: the provider already has a pending or running job, or a job for
    /// this tick exists (another scheduler got there first).
    Conflict,
}

/// Creates a job and its outcome in one transaction, unless the database's unique keys say
/// it would be a second active job for the provider or a second job for the tick.
///
/// The insert uses `ON CONFLICT DO NOTHING` without a target, which both databases apply to
/// every unique index (the partial one included), so the race between schedulers is a normal
/// outcome, not an error that aborts a transaction.
pub async fn enqueue(db: &DatabaseConnection, new: NewJob) -> Result<Enqueued, DbErr> {
    let txn = super::begin_write(db).await?;
    match enqueue_in(&txn, new).await? {
        Some(job) => {
            txn.commit().await?;
            Ok(Enqueued::Created(job))
        }
        None => {
            txn.rollback().await?;
            Ok(Enqueued::Conflict)
        }
    }
}

/// [`enqueue`] inside the caller's transaction: `None` when a unique key refused the job.
pub async fn enqueue_in(db: &impl ConnectionTrait, new: NewJob) -> Result<Option<Model>, DbErr> {
    let now = time::now();
    let row = ActiveModel {
        provider_id: Set(new.provider_id),
        state: Set(JobState::Pending),
        trigger: Set(new.trigger),
        tick: Set(new.tick.map(time::truncate)),
        scheduled_for: Set(time::truncate(new.scheduled_for)),
        attempt: Set(new.attempt),
        retry_of: Set(new.retry_of),
        replay_of: Set(new.replay_of),
        run_at: Set(time::truncate(new.run_at)),
        started_at: Set(None),
        finished_at: Set(None),
        worker_id: Set(None),
        lease_token: Set(None),
        lease_expires_at: Set(None),
        heartbeat_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    };
    let inserted = Entity::insert(row)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .try_insert()
        .exec(db)
        .await?;
    let TryInsertResult::Inserted(inserted) = inserted else {
        return Ok(None);
    };
    let job = Entity::find_by_id(inserted.last_insert_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the job just inserted".to_owned()))?;
    super::job_outcome::insert_pending(db, &job).await?;
    Ok(Some(job))
}

/// Who claims and for how long.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// The claiming worker's id.
    pub worker_id: &'a str,
    /// The claim instant.
    pub now: DateTime<Utc>,
    /// When the lease expires unless a heartbeat renews it.
    pub lease_until: DateTime<Utc>,
}

/// Claims up to `limit` due pending jobs, oldest due first, and marks their outcomes running.
///
/// One statement claims them. On PostgreSQL it selects with `FOR UPDATE SKIP LOCKED` in a
/// CTE, so concurrent workers take different jobs without waiting. SQLite has no row locks
/// (and SeaORM would silently drop the clause): there the single `UPDATE ... WHERE id IN
/// (SELECT ...) RETURNING` runs inside a `BEGIN IMMEDIATE` transaction, under the one write
/// lock, so two claimers can never take the same job.
pub async fn claim_next(
    db: &DatabaseConnection,
    claim: &Claim<'_>,
    limit: u32,
) -> Result<Vec<Model>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "WITH next AS ( \
                SELECT id FROM job WHERE state = 'pending' AND run_at <= $1 \
                ORDER BY run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
             UPDATE job SET state = 'running', started_at = $1, worker_id = $3, \
                lease_token = $4, lease_expires_at = $5, heartbeat_at = $1 \
             FROM next WHERE job.id = next.id \
             RETURNING job.*"
        }
        _ => {
            "UPDATE job SET state = 'running', started_at = ?1, worker_id = ?3, \
                lease_token = ?4, lease_expires_at = ?5, heartbeat_at = ?1 \
             WHERE id IN (SELECT id FROM job WHERE state = 'pending' AND run_at <= ?1 \
                ORDER BY run_at, id LIMIT ?2) \
             RETURNING *"
        }
    };
    let token = Uuid::new_v4();
    let statement = Statement::from_sql_and_values(
        backend,
        sql,
        [
            time::truncate(claim.now).into(),
            i64::from(limit).into(),
            claim.worker_id.into(),
            token.into(),
            time::truncate(claim.lease_until).into(),
        ],
    );
    let txn = super::begin_write(db).await?;
    let jobs = Entity::find().from_raw_sql(statement).all(&txn).await?;
    if !jobs.is_empty() {
        // Ids collected first: an iterator borrowing `jobs` across an await would make this
        // future not `Send` for every lifetime, which spawned callers need.
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        super::job_outcome::mark_running(&txn, ids, claim.now).await?;
    }
    txn.commit().await?;
    Ok(jobs)
}

/// Claims the pending job `id` (for `ingestor collect`, which runs a job it just created);
/// `None` if it is not pending any more.
pub async fn claim_by_id(
    db: &DatabaseConnection,
    id: JobId,
    claim: &Claim<'_>,
) -> Result<Option<Model>, DbErr> {
    let txn = super::begin_write(db).await?;
    let claimed = Entity::update_many()
        .col_expr(Column::State, Expr::value(JobState::Running))
        .col_expr(Column::StartedAt, Expr::value(time::truncate(claim.now)))
        .col_expr(Column::WorkerId, Expr::value(claim.worker_id))
        .col_expr(Column::LeaseToken, Expr::value(Uuid::new_v4()))
        .col_expr(
            Column::LeaseExpiresAt,
            Expr::value(time::truncate(claim.lease_until)),
        )
        .col_expr(Column::HeartbeatAt, Expr::value(time::truncate(claim.now)))
        .filter(Column::Id.eq(id))
        .filter(Column::State.eq(JobState::Pending))
        .exec_with_returning(&txn)
        .await?
        .pop();
    if let Some(job) = &claimed {
        super::job_outcome::mark_running(&txn, [job.id], claim.now).await?;
    }
    txn.commit().await?;
    Ok(claimed)
}

/// Renews the lease of a running job; `false` if the worker no longer holds it.
pub async fn heartbeat(
    db: &impl ConnectionTrait,
    job: &Model,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::HeartbeatAt, Expr::value(time::truncate(now)))
        .col_expr(
            Column::LeaseExpiresAt,
            Expr::value(time::truncate(lease_until)),
        )
        .filter(held(job))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Whether the worker still holds `job` (running, under its lease token), locking its row
/// until the transaction ends so no one else (the rescuer) changes it meanwhile. On SQLite the
/// transaction's write lock (`BEGIN IMMEDIATE`) already keeps everyone else out.
pub async fn hold(db: &impl ConnectionTrait, job: &Model) -> Result<bool, DbErr> {
    let held = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(held(job))
        .lock_exclusive()
        .into_tuple::<JobId>()
        .one(db)
        .await?;
    Ok(held.is_some())
}

/// Moves a running job to `completed` or `failed`; `false` (and nothing changed) if the
/// worker no longer holds it. Call it last in the job's commit transaction, with the instant
/// its work ended (a long write first takes the row with [`hold`]).
pub async fn finish(
    db: &impl ConnectionTrait,
    job: &Model,
    state: JobState,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    debug_assert!(matches!(state, JobState::Completed | JobState::Failed));
    let result = end_as(state, now).filter(held(job)).exec(db).await?;
    Ok(result.rows_affected == 1)
}

/// An update that ends jobs in `state` at `now` and drops their lease; the caller says which
/// jobs.
fn end_as(state: JobState, now: DateTime<Utc>) -> sea_orm::UpdateMany<Entity> {
    Entity::update_many()
        .col_expr(Column::State, Expr::value(state))
        .col_expr(Column::FinishedAt, Expr::value(time::truncate(now)))
        .col_expr(
            Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

/// The condition that `job` is still running under the claim its worker holds.
fn held(job: &Model) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::Id.eq(job.id))
        .add(Column::State.eq(JobState::Running))
        .add(Column::LeaseToken.eq(job.lease_token))
}

/// Which running jobs to fail (see [`fail_running`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stranded<'a> {
    /// Those whose lease expired: their worker stopped heartbeating.
    LeaseExpired,
    /// Those a worker holds (it is shutting down past its grace period).
    HeldBy(&'a str),
}

/// Fails the running jobs `which` names, at `now`, and returns them, so the caller can record
/// why and schedule retries.
pub async fn fail_running(
    db: &impl ConnectionTrait,
    which: Stranded<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Model>, DbErr> {
    let now = time::truncate(now);
    let which = match which {
        Stranded::LeaseExpired => Column::LeaseExpiresAt.lt(now),
        Stranded::HeldBy(worker_id) => Column::WorkerId.eq(worker_id),
    };
    end_as(JobState::Failed, now)
        .filter(Column::State.eq(JobState::Running))
        .filter(which)
        .exec_with_returning(db)
        .await
}

/// What [`cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// The job ended, as it is now; it was in `was`.
    Now {
        /// The job, failed with a `cancelled` outcome.
        job: Model,
        /// Its state before: pending or running.
        was: JobState,
    },
    /// It had already ended.
    AlreadyEnded(Model),
    /// No job has that id.
    NotFound,
}

/// Cancels job `id` for `by` (who asked, for the outcome's message), at `now`: a pending or
/// running job fails with a `cancelled` outcome in one transaction, and is not retried. A
/// running job's worker loses its lease with it: its next heartbeat abandons the collection,
/// and its commit, which checks the lease, writes nothing.
pub async fn cancel(
    db: &DatabaseConnection,
    id: JobId,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Cancelled, DbErr> {
    let txn = super::begin_write(db).await?;
    let Some(before) = Entity::find_by_id(id).lock_exclusive().one(&txn).await? else {
        return Ok(Cancelled::NotFound);
    };
    if !matches!(before.state, JobState::Pending | JobState::Running) {
        return Ok(Cancelled::AlreadyEnded(before));
    }
    end_as(JobState::Failed, now)
        .filter(Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let was = if before.state == JobState::Pending {
        "pending"
    } else {
        "running"
    };
    let finished = super::job_outcome::Finished {
        finished_at: now,
        error: Some((
            crate::ErrorKind::Cancelled,
            format!("cancelled by {by} while {was}"),
        )),
        ..Default::default()
    };
    super::job_outcome::record_finished(&txn, &before, &finished).await?;
    let job = Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("job {id}")))?;
    txn.commit().await?;
    Ok(Cancelled::Now {
        job,
        was: before.state,
    })
}

/// The job with id `id`.
pub async fn find(db: &impl ConnectionTrait, id: JobId) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// The provider's pending or running job, if any (there is at most one).
pub async fn find_active(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::ProviderId.eq(provider_id))
        .filter(Column::State.is_in([JobState::Pending, JobState::Running]))
        .one(db)
        .await
}

/// The provider's most recent schedule job (by tick), if any.
pub async fn latest_scheduled(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::ProviderId.eq(provider_id))
        .filter(Column::Tick.is_not_null())
        .order_by_desc(Column::Tick)
        .one(db)
        .await
}

/// Most attempts [`attempts_of`] returns: automatic retries stop at the provider's
/// `max_attempts`, but an operator may retry a failed job again and again.
pub const MAX_ATTEMPTS_LISTED: usize = 100;

/// Every attempt of the collection `job` belongs to, first to last (by id): its first job, the
/// retries of it, theirs, and so on (retention may have pruned some). A few primary-key and
/// `retry_of` lookups, one per generation.
pub async fn attempts_of(db: &impl ConnectionTrait, job: &Model) -> Result<Vec<Model>, DbErr> {
    let mut first = job.clone();
    for _ in 0..MAX_ATTEMPTS_LISTED {
        let Some(parent) = first.retry_of else {
            break;
        };
        match find(db, parent).await? {
            Some(model) => first = model,
            None => break,
        }
    }
    let mut all = vec![first];
    let mut generation = vec![all[0].id];
    while !generation.is_empty() && all.len() < MAX_ATTEMPTS_LISTED {
        let children = Entity::find()
            .filter(Column::RetryOf.is_in(generation))
            .order_by_asc(Column::Id)
            .limit((MAX_ATTEMPTS_LISTED - all.len()) as u64)
            .all(db)
            .await?;
        generation = children.iter().map(|c| c.id).collect();
        all.extend(children);
    }
    all.sort_by_key(|j| j.id);
    Ok(all)
}

/// Deletes up to `limit` jobs (with their outcomes) that finished before `before`; returns
/// how many. Pending and running jobs are never touched, nor are events.
pub async fn prune_finished(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    let ids: Vec<JobId> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::State.is_in([JobState::Completed, JobState::Failed]))
        .filter(Column::FinishedAt.lt(time::truncate(before)))
        .order_by_asc(Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let result = Entity::delete_many()
        .filter(Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// A provider's jobs, newest first.
pub async fn list_for_provider(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::ProviderId.eq(provider_id))
        .order_by_desc(Column::Id)
        .all(db)
        .await
}

/// Sets a job's state without any guard: only for tests and repairs by hand. Workers use
/// the guarded transitions.
#[doc(hidden)]
pub async fn force_state(
    db: &impl ConnectionTrait,
    id: JobId,
    state: JobState,
) -> Result<Model, DbErr> {
    ActiveModel {
        id: Set(id),
        state: Set(state),
        ..Default::default()
    }
    .update(db)
    .await
}

/// The jobs with these ids, in no particular order (for batched loading).
pub async fn find_many(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = JobId>,
) -> Result<Vec<Model>, DbErr> {
    Entity::find().filter(Column::Id.is_in(ids)).all(db).await
}

/// The newest job of each of these providers: one probe of `job (provider_id, id)` per
/// provider (a `GROUP BY` over their jobs reads every one of them).
pub async fn latest_of(
    db: &impl ConnectionTrait,
    providers: impl IntoIterator<Item = ProviderId>,
) -> Result<Vec<Model>, DbErr> {
    let providers: Vec<ProviderId> = providers.into_iter().collect();
    if providers.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let placeholders: Vec<String> = (1..=providers.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect();
    let sql = format!(
        "SELECT * FROM job WHERE id IN (SELECT (SELECT max(newest.id) FROM job newest \
         WHERE newest.provider_id = provider.id) FROM provider WHERE provider.id IN ({}))",
        placeholders.join(", ")
    );
    let values = providers.iter().map(|p| sea_orm::Value::from(p.0));
    Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
}
