//! Queries over `job_outcome`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QuerySelect, sea_query::Expr,
};

use crate::{
    ErrorKind, JobId, JobState, ProviderId, job,
    job_outcome::{ActiveModel, Column, Entity, Model},
    query::job::JobFilter,
    time,
};

/// Creates the outcome of a new job, in the job's transaction: status pending, no counts.
pub async fn insert_pending(db: &impl ConnectionTrait, job: &job::Model) -> Result<Model, DbErr> {
    ActiveModel {
        job_id: Set(job.id),
        provider_id: Set(job.provider_id),
        status: Set(JobState::Pending),
        created_at: Set(job.created_at),
        processed_at: Set(None),
        finished_at: Set(None),
        duration_ms: Set(None),
        fetch_ms: Set(None),
        parse_ms: Set(None),
        store_ms: Set(None),
        error_kind: Set(None),
        error_message: Set(None),
        error_group: Set(None),
        http_status: Set(None),
        bytes: Set(None),
        retry_after: Set(None),
        feed_unchanged: Set(false),
        empty_feed: Set(false),
        seen: Set(0),
        inserted: Set(0),
        updated: Set(0),
        unchanged: Set(0),
        stopped: Set(0),
        rejected: Set(0),
        rejections: Set(None),
    }
    .insert(db)
    .await
}

/// Marks the outcomes of just-claimed jobs as running since `now`.
pub async fn mark_running(
    db: &impl ConnectionTrait,
    job_ids: impl IntoIterator<Item = JobId>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(JobState::Running))
        .col_expr(Column::ProcessedAt, Expr::value(time::truncate(now)))
        .filter(Column::JobId.is_in(job_ids))
        .exec(db)
        .await
        .map(|_| ())
}

/// How a job ended, as its outcome records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    /// When processing ended.
    pub finished_at: DateTime<Utc>,
    /// Why it failed; `None` for a completed job.
    pub error: Option<(ErrorKind, String)>,
    /// The provider's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Bytes of feed received.
    pub bytes: Option<u64>,
    /// When the provider asked us to come back.
    pub retry_after: Option<DateTime<Utc>>,
    /// The feed had not changed (304 or an identical body).
    pub feed_unchanged: bool,
    /// The feed was well-formed but listed no events.
    pub empty_feed: bool,
    /// Event records in the feed.
    pub seen: u32,
    /// New events stored.
    pub inserted: u32,
    /// Known events whose content changed.
    pub updated: u32,
    /// Known events with the same content.
    pub unchanged: u32,
    /// Events the previous feed listed that this one does not.
    pub stopped: u32,
    /// Records rejected by validation.
    pub rejected: u32,
    /// The first rejection reasons (a JSON array).
    pub rejections: Option<serde_json::Value>,
    /// Where its time went, as far as it got.
    pub phases: Phases,
}

/// Where a job's time went, phase by phase; a phase it did not reach is `None`. The feed is
/// parsed as it arrives, so fetch and parse overlap: their sum is not the job's duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Waiting on the provider: connecting, its answer's headers and the body's bytes.
    pub fetch: Option<std::time::Duration>,
    /// The parser at work (reading and validating records), waits for bytes excluded.
    pub parse: Option<std::time::Duration>,
    /// From the end of the collection to the commit.
    pub store: Option<std::time::Duration>,
}

/// Writes how job `job` ended: its final status and everything known about the run; and
/// counts it in its provider's health summary, answering where the provider stands now (a
/// provider backing off or paused gets no retry).
pub async fn record_finished(
    db: &impl ConnectionTrait,
    job: &job::Model,
    finished: &Finished,
) -> Result<super::provider_health::Standing, DbErr> {
    let status = if finished.error.is_some() {
        JobState::Failed
    } else {
        JobState::Completed
    };
    let started = job.started_at.unwrap_or(finished.finished_at);
    let duration_ms = (finished.finished_at - started).num_milliseconds().max(0);
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let (error_kind, error_message) = finished
        .error
        .clone()
        .map_or((None, None), |(kind, message)| (Some(kind), Some(message)));
    let error_group = match &finished.error {
        Some((kind, message)) => Some(
            super::error_group::record(
                db,
                &super::error_group::Failure {
                    provider: job.provider_id,
                    job: job.id,
                    kind: *kind,
                    message,
                    at: finished.finished_at,
                },
            )
            .await?,
        ),
        None => None,
    };
    ActiveModel {
        job_id: Set(job.id),
        status: Set(status),
        finished_at: Set(Some(time::truncate(finished.finished_at))),
        duration_ms: Set(Some(duration_ms)),
        fetch_ms: Set(finished.phases.fetch.map(millis)),
        parse_ms: Set(finished.phases.parse.map(millis)),
        store_ms: Set(finished.phases.store.map(millis)),
        error_kind: Set(error_kind),
        error_message: Set(error_message),
        error_group: Set(error_group),
        http_status: Set(finished.http_status.map(i32::from)),
        bytes: Set(finished.bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX))),
        retry_after: Set(finished.retry_after.map(time::truncate)),
        feed_unchanged: Set(finished.feed_unchanged),
        empty_feed: Set(finished.empty_feed),
        seen: Set(count(finished.seen)),
        inserted: Set(count(finished.inserted)),
        updated: Set(count(finished.updated)),
        unchanged: Set(count(finished.unchanged)),
        stopped: Set(count(finished.stopped)),
        rejected: Set(count(finished.rejected)),
        rejections: Set(finished.rejections.clone()),
        ..Default::default()
    }
    .update(db)
    .await?;
    super::job_tally::record(
        db,
        job.provider_id,
        status,
        finished.error.as_ref().map(|(kind, _)| *kind),
        duration_ms,
    )
    .await?;
    let feed = (!finished.feed_unchanged).then_some(super::provider_health::FeedSeen {
        empty: finished.empty_feed,
    });
    super::provider_health::record(
        db,
        job.provider_id,
        &super::provider_health::JobEnd {
            job: job.id,
            collection: (job.trigger != crate::JobTrigger::Replay).then_some(job.scheduled_for),
            state: status,
            duration_ms: Some(duration_ms),
            finished_at: finished.finished_at,
            feed,
            error: finished
                .error
                .as_ref()
                .map(|(kind, message)| (*kind, message.as_str())),
        },
    )
    .await
}

fn millis(phase: std::time::Duration) -> i64 {
    i64::try_from(phase.as_millis()).unwrap_or(i64::MAX)
}

/// The outcome of job `job_id`.
pub async fn find(db: &impl ConnectionTrait, job_id: JobId) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(job_id).one(db).await
}

/// The outcomes of these jobs, in no particular order (for batched loading).
pub async fn find_many(
    db: &impl ConnectionTrait,
    job_ids: impl IntoIterator<Item = JobId>,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::JobId.is_in(job_ids))
        .all(db)
        .await
}

fn filtered(filter: &JobFilter) -> sea_orm::Select<Entity> {
    // An outcome mirrors its job's state and belongs to its provider; the trigger and the
    // creation time are the job's.
    Entity::find()
        .inner_join(job::Entity)
        .filter(filter.condition())
}

/// Up to `limit` outcomes whose job matches `filter`, in `window` of the list newest first,
/// newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &JobFilter,
    window: super::Window,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    super::newest_first(db, filtered(filter), Column::JobId, window, limit).await
}

/// How many outcomes match `filter`.
pub async fn count(db: &impl ConnectionTrait, filter: &JobFilter) -> Result<u64, DbErr> {
    sea_orm::PaginatorTrait::count(filtered(filter), db).await
}

/// Totals of a provider's finished jobs over a time range.
#[derive(Debug, Clone, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct ProviderTotals {
    /// The provider.
    pub provider_id: ProviderId,
    /// Finished jobs.
    pub jobs: i64,
    /// Completed jobs.
    pub completed: i64,
    /// Sum of their durations, in milliseconds.
    pub duration_ms: i64,
    /// Events inserted.
    pub inserted: i64,
    /// Events updated.
    pub updated: i64,
    /// Records rejected.
    pub rejected: i64,
}

/// Per-provider totals of the jobs that finished in `[from, to]`.
pub async fn totals_by_provider(
    db: &impl ConnectionTrait,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<ProviderTotals>, DbErr> {
    let sum = |column: &str| Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"));
    let mut select = Entity::find()
        .select_only()
        .column(Column::ProviderId)
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "jobs")
        .column_as(
            Expr::cust("CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT)"),
            "completed",
        )
        .column_as(sum("duration_ms"), "duration_ms")
        .column_as(sum("inserted"), "inserted")
        .column_as(sum("updated"), "updated")
        .column_as(sum("rejected"), "rejected")
        .filter(Column::FinishedAt.is_not_null());
    if let Some(from) = from {
        select = select.filter(Column::FinishedAt.gte(time::truncate(from)));
    }
    if let Some(to) = to {
        select = select.filter(Column::FinishedAt.lte(time::truncate(to)));
    }
    select
        .group_by(Column::ProviderId)
        .into_model::<ProviderTotals>()
        .all(db)
        .await
}
