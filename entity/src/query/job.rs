//! Queries over `job`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, TryInsertResult, sea_query::OnConflict,
};

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
    let now = time::now();
    let row = ActiveModel {
        provider_id: Set(new.provider_id),
        state: Set(JobState::Pending),
        trigger: Set(new.trigger),
        tick: Set(new.tick.map(time::truncate)),
        scheduled_for: Set(time::truncate(new.scheduled_for)),
        attempt: Set(new.attempt),
        retry_of: Set(new.retry_of),
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
        .exec(&txn)
        .await?;
    let TryInsertResult::Inserted(inserted) = inserted else {
        txn.rollback().await?;
        return Ok(Enqueued::Conflict);
    };
    let job = Entity::find_by_id(inserted.last_insert_id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the job just inserted".to_owned()))?;
    super::job_outcome::insert_pending(&txn, &job).await?;
    txn.commit().await?;
    Ok(Enqueued::Created(job))
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
