//! The `Job` and `JobOutcome` types and their filters.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, dataloader::DataLoader};
use entity::{job, job_outcome, query};

use super::{
    ids::GlobalId,
    job_changes::JobChanges,
    loaders::{ChangesOf, DbLoader, FeedBodyOf, OutcomeOf},
    provider::Provider,
    scalars::Instant,
};
use crate::error::ApiError;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum JobState {
    /// Waiting for a worker.
    Pending,
    /// Claimed by a worker.
    Running,
    /// Finished and stored its feed.
    Completed,
    /// Finished without storing anything.
    Failed,
}

impl JobState {
    /// The label used in metrics.
    pub fn as_label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

impl From<entity::JobState> for JobState {
    fn from(state: entity::JobState) -> Self {
        match state {
            entity::JobState::Pending => Self::Pending,
            entity::JobState::Running => Self::Running,
            entity::JobState::Completed => Self::Completed,
            entity::JobState::Failed => Self::Failed,
        }
    }
}

impl From<JobState> for entity::JobState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Pending => Self::Pending,
            JobState::Running => Self::Running,
            JobState::Completed => Self::Completed,
            JobState::Failed => Self::Failed,
        }
    }
}

/// What created a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum JobTrigger {
    /// A tick of the provider's schedule.
    Schedule,
    /// An operator.
    Manual,
    /// The retry of a failed job.
    Retry,
    /// An earlier job's stored feed body parsed again (`replayJob`), without contacting the
    /// provider; `replayOf` names that job.
    Replay,
}

impl From<entity::JobTrigger> for JobTrigger {
    fn from(trigger: entity::JobTrigger) -> Self {
        match trigger {
            entity::JobTrigger::Schedule => Self::Schedule,
            entity::JobTrigger::Manual => Self::Manual,
            entity::JobTrigger::Retry => Self::Retry,
            entity::JobTrigger::Replay => Self::Replay,
        }
    }
}

impl From<JobTrigger> for entity::JobTrigger {
    fn from(trigger: JobTrigger) -> Self {
        match trigger {
            JobTrigger::Schedule => Self::Schedule,
            JobTrigger::Manual => Self::Manual,
            JobTrigger::Retry => Self::Retry,
            JobTrigger::Replay => Self::Replay,
        }
    }
}

/// Why a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ErrorKind {
    /// The provider did not answer in time.
    Timeout,
    /// The provider could not be reached.
    Connect,
    /// The provider answered with an error status.
    HttpStatus,
    /// The feed was over the size cap.
    TooLarge,
    /// The feed is not well-formed, truncated, or of no known dialect.
    Parse,
    /// Storing the feed failed.
    Database,
    /// Its worker stopped before it finished.
    Interrupted,
    /// An operator cancelled it (`cancelJob`); its message names the token.
    Cancelled,
    /// The provider's configuration cannot be used.
    Config,
    /// The provider's address (or one it resolved or redirected to) is not public, and
    /// private destinations are not allowed.
    Destination,
}

impl From<ErrorKind> for entity::ErrorKind {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Timeout => Self::Timeout,
            ErrorKind::Connect => Self::Connect,
            ErrorKind::HttpStatus => Self::HttpStatus,
            ErrorKind::TooLarge => Self::TooLarge,
            ErrorKind::Parse => Self::Parse,
            ErrorKind::Database => Self::Database,
            ErrorKind::Interrupted => Self::Interrupted,
            ErrorKind::Cancelled => Self::Cancelled,
            ErrorKind::Config => Self::Config,
            ErrorKind::Destination => Self::Destination,
        }
    }
}

impl From<entity::ErrorKind> for ErrorKind {
    fn from(kind: entity::ErrorKind) -> Self {
        match kind {
            entity::ErrorKind::Timeout => Self::Timeout,
            entity::ErrorKind::Connect => Self::Connect,
            entity::ErrorKind::HttpStatus => Self::HttpStatus,
            entity::ErrorKind::TooLarge => Self::TooLarge,
            entity::ErrorKind::Parse => Self::Parse,
            entity::ErrorKind::Database => Self::Database,
            entity::ErrorKind::Interrupted => Self::Interrupted,
            entity::ErrorKind::Cancelled => Self::Cancelled,
            entity::ErrorKind::Config => Self::Config,
            entity::ErrorKind::Destination => Self::Destination,
        }
    }
}

/// Which jobs (or outcomes) to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct JobFilter {
    /// Only this provider's (by name).
    pub provider: Option<String>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs with this trigger.
    pub trigger: Option<JobTrigger>,
    /// Only jobs created at or after this instant.
    pub from: Option<Instant>,
    /// Only jobs created at or before this instant.
    pub to: Option<Instant>,
    /// Only failed jobs with this error kind.
    pub error_kind: Option<ErrorKind>,
    /// Only failed jobs of this error group (an `ErrorGroup.id`): its provider's failures of
    /// the same kind and normalised message.
    pub error_group: Option<ID>,
}

/// One attempt to collect one provider's feed.
#[derive(Debug, Clone)]
pub struct Job(pub job::Model);

/// One attempt to collect one provider's feed.
#[Object]
impl Job {
    /// Its global id.
    pub async fn id(&self) -> ID {
        GlobalId::Job(self.0.id).to_id()
    }

    /// Its number in the database, as the ingestor's logs print it (`job.id=`).
    async fn database_id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The provider it collects.
    async fn provider(&self, ctx: &Context<'_>) -> Result<Provider, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        loader
            .load_one(self.0.provider_id)
            .await?
            .map(Provider::from)
            .ok_or_else(|| ApiError::NotFound("the job's provider no longer exists".to_owned()))
    }

    /// `PENDING -> RUNNING -> COMPLETED | FAILED`.
    async fn state(&self) -> JobState {
        self.0.state.into()
    }

    /// What created it.
    async fn trigger(&self) -> JobTrigger {
        self.0.trigger.into()
    }

    /// The cron tick it was created for (schedule jobs).
    async fn tick(&self) -> Option<Instant> {
        self.0.tick.map(Instant)
    }

    /// When it was meant to happen.
    async fn scheduled_for(&self) -> Instant {
        self.0.scheduled_for.into()
    }

    /// 1 for a first attempt, one more per retry.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }

    /// The failed job it retries (its global id).
    async fn retry_of(&self) -> Option<ID> {
        self.0.retry_of.map(|id| GlobalId::Job(id).to_id())
    }

    /// The job whose kept feed body this replay parses again (its global id; replays only).
    async fn replay_of(&self) -> Option<ID> {
        self.0.replay_of.map(|id| GlobalId::Job(id).to_id())
    }

    /// The feed body it parsed, as kept (compressed) for replays and downloads; null when it
    /// read no changed feed (a 304, the same body, a failed fetch, a replay) or retention
    /// dropped it. Read by key for every job of the answer at once, without the bodies.
    async fn feed_body(&self, ctx: &Context<'_>) -> Result<Option<FeedBody>, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        let kept = loader.load_one(FeedBodyOf(self.0.id)).await?;
        Ok(kept.map(|info| FeedBody {
            raw_bytes: info.raw_bytes,
            stored_bytes: info.stored_bytes,
            kept_at: info.created_at.into(),
            download_path: format!("/jobs/{}/body", self.0.id.0),
        }))
    }

    /// What its feed did to the provider's events: which it inserted, changed, left
    /// unchanged, and which stopped appearing since the previous feed. Null unless it completed
    /// on a changed feed (a 304 or an identical body changes nothing), and for jobs recorded
    /// before changes were.
    async fn changes(&self, ctx: &Context<'_>) -> Result<Option<JobChanges>, ApiError> {
        if self.0.state != entity::JobState::Completed {
            return Ok(None);
        }
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        let (ids, outcome) = tokio::try_join!(
            loader.load_one(ChangesOf(self.0.id)),
            loader.load_one(OutcomeOf(self.0.id)),
        )?;
        Ok(ids.zip(outcome).map(|(ids, outcome)| JobChanges {
            provider: self.0.provider_id,
            outcome,
            ids,
        }))
    }

    /// Every attempt of the same collection, first to last, this one included: the first
    /// job, its retries, theirs (at most 100; retention may have pruned older ones).
    async fn attempts(&self, ctx: &Context<'_>) -> Result<Vec<Job>, ApiError> {
        let db = super::db(ctx).await?;
        let all = query::job::attempts_of(&*db, &self.0).await?;
        Ok(all.into_iter().map(Job).collect())
    }

    /// Not started before this instant.
    async fn run_at(&self) -> Instant {
        self.0.run_at.into()
    }

    /// When a worker claimed it.
    async fn started_at(&self) -> Option<Instant> {
        self.0.started_at.map(Instant)
    }

    /// When it ended: when its results were written (its transaction committed just after).
    async fn finished_at(&self) -> Option<Instant> {
        self.0.finished_at.map(Instant)
    }

    /// The worker that claimed it.
    async fn worker_id(&self) -> Option<&str> {
        self.0.worker_id.as_deref()
    }

    /// When it was created.
    async fn created_at(&self) -> Instant {
        self.0.created_at.into()
    }

    /// What it did (every job has exactly one outcome).
    async fn outcome(&self, ctx: &Context<'_>) -> Result<JobOutcome, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        loader
            .load_one(OutcomeOf(self.0.id))
            .await?
            .map(JobOutcome)
            .ok_or_else(|| ApiError::NotFound("the job's outcome was pruned".to_owned()))
    }
}

/// A rejected feed record.
#[derive(Debug, Clone, SimpleObject, serde::Deserialize)]
pub struct Rejection {
    /// Its base event id, when usable.
    pub base_event_id: Option<String>,
    /// Its event id, when usable.
    pub event_id: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// What a job did.
#[derive(Debug, Clone)]
pub struct JobOutcome(pub job_outcome::Model);

/// What a job did: when, how long, what failed, and what it stored.
#[Object]
impl JobOutcome {
    /// Its global id.
    pub async fn id(&self) -> ID {
        GlobalId::JobOutcome(self.0.job_id).to_id()
    }

    /// Its job's global id.
    async fn job_id(&self) -> ID {
        GlobalId::Job(self.0.job_id).to_id()
    }

    /// Its job.
    async fn job(&self, ctx: &Context<'_>) -> Result<Job, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        loader
            .load_one(self.0.job_id)
            .await?
            .map(Job)
            .ok_or_else(|| ApiError::NotFound("the outcome's job no longer exists".to_owned()))
    }

    /// The job's state.
    async fn status(&self) -> JobState {
        self.0.status.into()
    }

    /// When processing started.
    async fn processed_at(&self) -> Option<Instant> {
        self.0.processed_at.map(Instant)
    }

    /// When processing ended, its writes included.
    async fn finished_at(&self) -> Option<Instant> {
        self.0.finished_at.map(Instant)
    }

    /// How long it took, in milliseconds, from its claim to the end of its writes (fetch,
    /// parse, validation and store).
    async fn duration_ms(&self) -> Option<i64> {
        self.0.duration_ms
    }

    /// Milliseconds spent waiting on the provider: connecting, its answer's headers and the
    /// body's bytes. The feed is parsed as it arrives, so this overlaps `parseMs`: the phases
    /// do not add up to `durationMs`. Null for a phase the job did not reach, and for jobs
    /// recorded before phases were.
    async fn fetch_ms(&self) -> Option<i64> {
        self.0.fetch_ms
    }

    /// Milliseconds the parser worked (reading and validating the records), waits for the
    /// provider's bytes excluded.
    async fn parse_ms(&self) -> Option<i64> {
        self.0.parse_ms
    }

    /// Milliseconds from the end of the collection to the commit: comparing the records with
    /// what is stored, staging them and writing them with the job's end.
    async fn store_ms(&self) -> Option<i64> {
        self.0.store_ms
    }

    /// Why it failed.
    async fn error_kind(&self) -> Option<ErrorKind> {
        self.0.error_kind.map(Into::into)
    }

    /// What failed, for an operator.
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }

    /// The provider's HTTP status.
    async fn http_status(&self) -> Option<i32> {
        self.0.http_status
    }

    /// Bytes of feed received.
    async fn bytes(&self) -> Option<i64> {
        self.0.bytes
    }

    /// When the provider asked to be called back (`Retry-After`).
    async fn retry_after(&self) -> Option<Instant> {
        self.0.retry_after.map(Instant)
    }

    /// The feed had not changed (304, or an identical body).
    async fn feed_unchanged(&self) -> bool {
        self.0.feed_unchanged
    }

    /// A warning: the feed was well-formed but listed no events (stored events are kept).
    async fn empty_feed(&self) -> bool {
        self.0.empty_feed
    }

    /// Event records in the feed.
    async fn seen(&self) -> i32 {
        self.0.seen
    }

    /// New events stored.
    async fn inserted(&self) -> i32 {
        self.0.inserted
    }

    /// Known events whose content changed.
    async fn updated(&self) -> i32 {
        self.0.updated
    }

    /// Known events with the same content.
    async fn unchanged(&self) -> i32 {
        self.0.unchanged
    }

    /// Events the provider's previous feed listed that this one does not (see `Job.changes`).
    async fn stopped(&self) -> i32 {
        self.0.stopped
    }

    /// Records rejected by validation.
    async fn rejected(&self) -> i32 {
        self.0.rejected
    }

    /// The first rejection reasons.
    async fn rejections(&self) -> Vec<Rejection> {
        self.0
            .rejections
            .clone()
            .and_then(|json| serde_json::from_value(json).ok())
            .unwrap_or_default()
    }
}

pub(super) use super::ids::job_id;

/// How many jobs are in each state, from counts the database keeps as jobs change (not a count
/// of the job table per request).
#[derive(Debug, Clone, SimpleObject)]
pub struct JobCounts {
    /// Waiting for a worker.
    pub pending: i64,
    /// Claimed by a worker.
    pub running: i64,
    /// Finished and stored.
    pub completed: i64,
    /// Finished without storing.
    pub failed: i64,
    /// All of them.
    pub total: i64,
    /// When the counts were read: they are exact as of then.
    pub as_of: Instant,
}

impl JobCounts {
    /// The counts of `by_state` (a state absent is 0), read at `as_of`.
    pub(crate) fn new(
        by_state: &std::collections::HashMap<entity::JobState, i64>,
        as_of: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let n = |state| by_state.get(&state).copied().unwrap_or(0);
        Self {
            pending: n(entity::JobState::Pending),
            running: n(entity::JobState::Running),
            completed: n(entity::JobState::Completed),
            failed: n(entity::JobState::Failed),
            total: by_state.values().sum(),
            as_of: Instant(as_of),
        }
    }
}

/// A feed body a job kept: what the provider sent, byte for byte.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct FeedBody {
    /// Its size, as the parser read it.
    pub raw_bytes: i64,
    /// Its size as kept (zstd).
    pub stored_bytes: i64,
    /// When it was kept.
    pub kept_at: Instant,
    /// Where to download it (`GET`, with a viewer token): the body as the provider sent it.
    pub download_path: String,
}
