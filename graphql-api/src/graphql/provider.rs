//! The `Provider` type, with its health.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject, dataloader::DataLoader};
use entity::{JobId, ProviderId, provider, provider_health, query::provider_health::WINDOW};
use tokio::sync::OnceCell;

use super::{
    ids::GlobalId,
    job::{ErrorKind, Job, JobState},
    loaders::{DbLoader, HealthData, HealthOf},
    scalars::Instant,
};
use crate::{access::ViewerGuard, error::ApiError};

/// Which collector reads a provider's feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ProviderKind {
    /// The Fever XML feed (`eventList` or `planList` dialect).
    FeverXml,
}

impl From<entity::ProviderKind> for ProviderKind {
    fn from(kind: entity::ProviderKind) -> Self {
        match kind {
            entity::ProviderKind::FeverXml => Self::FeverXml,
        }
    }
}

impl From<ProviderKind> for entity::ProviderKind {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::FeverXml => Self::FeverXml,
        }
    }
}

/// A source of events. Its id and name are public (every event names its provider); its
/// settings and health are operator data, for a viewer token, read from the database the
/// first time a field asks for them.
#[derive(Debug, Clone)]
pub struct Provider {
    id: ProviderId,
    name: Arc<str>,
    row: OnceCell<provider::Model>,
}

impl From<provider::Model> for Provider {
    fn from(row: provider::Model) -> Self {
        Self {
            id: row.id,
            name: Arc::from(row.name.as_str()),
            row: OnceCell::new_with(Some(row)),
        }
    }
}

impl Provider {
    /// The provider with this id and name; its settings are read when first asked for.
    pub(crate) fn named(id: ProviderId, name: Arc<str>) -> Self {
        Self {
            id,
            name,
            row: OnceCell::new(),
        }
    }

    /// Its stored settings.
    async fn row(&self, ctx: &Context<'_>) -> Result<&provider::Model, ApiError> {
        self.row
            .get_or_try_init(|| async {
                ctx.data_unchecked::<DataLoader<DbLoader>>()
                    .load_one(self.id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("the provider no longer exists".to_owned()))
            })
            .await
    }
}

/// A source of events: its feed, schedule, limits and health. `id` and `name` are public; the
/// other fields need a viewer token.
#[Object]
impl Provider {
    /// Its global id.
    pub async fn id(&self) -> ID {
        GlobalId::Provider(self.id).to_id()
    }

    /// Unique name; part of every event id.
    async fn name(&self) -> &str {
        &self.name
    }

    /// The collector that reads its feed.
    #[graphql(guard = "ViewerGuard")]
    async fn kind(&self, ctx: &Context<'_>) -> Result<ProviderKind, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.kind.into())
    }

    /// The feed's address, with its userinfo and query values shown as `***` (they may hold
    /// the provider's credentials; the full URL is write-only).
    #[graphql(guard = "ViewerGuard")]
    async fn url(&self, ctx: &Context<'_>) -> Result<String, ApiError> {
        let row = self.row(ctx).await?;
        Ok(entity::settings::redact_url(&row.url))
    }

    /// Cron expression (with seconds), read in `timeZone`.
    #[graphql(guard = "ViewerGuard")]
    async fn schedule(&self, ctx: &Context<'_>) -> Result<&str, ApiError> {
        let row = self.row(ctx).await?;
        Ok(&row.schedule)
    }

    /// IANA time zone of the feed's timestamps and of the schedule.
    #[graphql(guard = "ViewerGuard")]
    async fn time_zone(&self, ctx: &Context<'_>) -> Result<&str, ApiError> {
        let row = self.row(ctx).await?;
        Ok(&row.time_zone)
    }

    /// Whether the scheduler creates jobs for it.
    #[graphql(guard = "ViewerGuard")]
    async fn enabled(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.enabled)
    }

    /// Limit for connecting to the provider, in milliseconds.
    #[graphql(guard = "ViewerGuard")]
    async fn connect_timeout_ms(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.connect_timeout_ms)
    }

    /// Limit between two reads of the feed, in milliseconds.
    #[graphql(guard = "ViewerGuard")]
    async fn read_timeout_ms(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.read_timeout_ms)
    }

    /// Limit for a whole fetch, in milliseconds.
    #[graphql(guard = "ViewerGuard")]
    async fn total_timeout_ms(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.total_timeout_ms)
    }

    /// Largest feed accepted, in bytes.
    #[graphql(guard = "ViewerGuard")]
    async fn max_body_bytes(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.max_body_bytes)
    }

    /// Attempts per tick, the first one included.
    #[graphql(guard = "ViewerGuard")]
    async fn max_attempts(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.max_attempts)
    }

    /// Backoff before the first retry, in milliseconds.
    #[graphql(guard = "ViewerGuard")]
    async fn retry_base_delay_ms(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.retry_base_delay_ms)
    }

    /// How old its last successful collection may get before it is overdue, in milliseconds;
    /// null: the default, three intervals of its schedule (`health { freshnessMs }` says what
    /// that is now).
    #[graphql(guard = "ViewerGuard")]
    async fn freshness_ms(&self, ctx: &Context<'_>) -> Result<Option<i64>, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.freshness_ms)
    }

    /// Consecutive failed collections after which its schedule is stretched (×2 with each
    /// further failure, up to 64 intervals or an hour) and its retries stop; 0: never.
    #[graphql(guard = "ViewerGuard")]
    async fn backoff_after(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.backoff_after)
    }

    /// Consecutive failed collections after which it is paused until enabled again; 0: never.
    #[graphql(guard = "ViewerGuard")]
    async fn pause_after(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.pause_after)
    }

    /// When it was created.
    #[graphql(guard = "ViewerGuard")]
    async fn created_at(&self, ctx: &Context<'_>) -> Result<Instant, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.created_at.into())
    }

    /// When its settings last changed.
    #[graphql(guard = "ViewerGuard")]
    async fn updated_at(&self, ctx: &Context<'_>) -> Result<Instant, ApiError> {
        let row = self.row(ctx).await?;
        Ok(row.updated_at.into())
    }

    /// How its collections have been going.
    #[graphql(guard = "ViewerGuard")]
    async fn health(&self, ctx: &Context<'_>) -> Result<Health, ApiError> {
        let row = self.row(ctx).await?;
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        let data = loader
            .load_one(HealthOf(self.id))
            .await?
            .unwrap_or_default();
        Ok(Health::compute(row, &data))
    }
}

/// A provider's health, over its last finished jobs (up to 100).
#[derive(Debug, Clone, SimpleObject)]
pub struct Health {
    /// State of its newest job.
    pub last_job_state: Option<JobState>,
    /// When its newest job was created.
    pub last_job_at: Option<Instant>,
    /// When it last completed a job.
    pub last_success_at: Option<Instant>,
    /// Failed jobs since the last completed one (counted within the window).
    pub consecutive_failures: i32,
    /// Share of completed jobs in the window, from 0 to 1; null without finished jobs.
    pub success_rate: Option<f64>,
    /// 95th percentile of job duration in the window, in milliseconds.
    pub p95_duration_ms: Option<i64>,
    /// Finished jobs the window holds.
    pub window_jobs: i32,
    /// Its next tick that will be collected: after its backoff, if it backs off; null when
    /// disabled.
    pub next_tick_at: Option<Instant>,
    /// A warning: its last completed collection read a well-formed feed that listed no
    /// events (a provider whose catalogue suddenly empties deserves a look).
    pub last_feed_empty: bool,
    /// State of its last finished job, `COMPLETED` or `FAILED` (its last run; `lastJobState`
    /// may be a queued retry).
    pub last_finished_state: Option<JobState>,
    /// When its last finished job ended.
    pub last_finished_at: Option<Instant>,
    /// Its last failure, however long ago (null if it never failed).
    pub last_error: Option<LastError>,
    /// How old its last success may get: its `freshnessMs`, or three intervals of its
    /// schedule; null when its schedule no longer parses.
    pub freshness_ms: Option<i64>,
    /// Its last successful collection (its creation, if it never succeeded) is older than
    /// its freshness. Never for a disabled provider.
    pub overdue: bool,
    /// Since when it is overdue.
    pub overdue_since: Option<Instant>,
    /// Consecutive failed collections (a tick's retries count once) since its last success or
    /// since it was last enabled. Interrupted, cancelled and database failures are ours, not
    /// the provider's: they do not count.
    pub failed_collections: i32,
    /// Until when the scheduler skips its ticks, while it backs off (null when it does not:
    /// fewer than `backoffAfter` failed collections, or a success since).
    pub backing_off_until: Option<Instant>,
    /// Why it backs off, in words; null when it does not.
    pub backoff_reason: Option<String>,
    /// Ticks the current backoff skipped (no job was created for them).
    pub skipped_ticks: i64,
    /// When it was paused for failing `pauseAfter` collections in a row; null once enabled
    /// again.
    pub paused_at: Option<Instant>,
    /// Why it was paused, with the last error; null when it is not.
    pub pause_reason: Option<String>,
}

/// A provider's last failed job: why, when, and the job.
#[derive(Debug, Clone)]
pub struct LastError {
    kind: ErrorKind,
    message: String,
    at: Instant,
    job: JobId,
}

/// A provider's last failed job: why, when, and the job.
#[Object]
impl LastError {
    /// Why it failed.
    async fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What failed, in words for an operator.
    async fn message(&self) -> &str {
        &self.message
    }

    /// When it failed.
    async fn at(&self) -> Instant {
        self.at
    }

    /// The failed job; null once retention has pruned it.
    async fn job(&self, ctx: &Context<'_>) -> Result<Option<Job>, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        Ok(loader.load_one(self.job).await?.map(Job))
    }
}

impl LastError {
    fn of(summary: &provider_health::Model) -> Option<Self> {
        Some(Self {
            kind: summary.last_error_kind?.into(),
            message: summary.last_error_message.clone().unwrap_or_default(),
            at: Instant(summary.last_error_at?),
            job: summary.last_error_job_id?,
        })
    }
}

impl Health {
    fn compute(provider: &provider::Model, data: &HealthData) -> Self {
        let finished = data
            .summary
            .as_ref()
            .map(provider_health::Model::recent)
            .unwrap_or_default();
        let completed = finished.iter().filter(|f| f.completed).count();
        let consecutive_failures = finished.iter().take_while(|f| !f.completed).count();
        let mut durations: Vec<i64> = finished.iter().filter_map(|f| f.duration_ms).collect();
        let p95 = entity::query::chart::p95(&mut durations);
        let count = |n: usize| i32::try_from(n.min(WINDOW)).unwrap_or(i32::MAX);
        let now = chrono::Utc::now();
        let last_success = data.summary.as_ref().and_then(|s| s.last_success_at);
        let overdue_since = entity::settings::overdue_since(provider, last_success, now);
        let backing_off = data.summary.as_ref().and_then(|s| s.backing_off_until);
        Self {
            freshness_ms: entity::settings::freshness(provider, now).map(|f| f.num_milliseconds()),
            overdue: overdue_since.is_some(),
            overdue_since: overdue_since.map(Instant),
            last_job_state: data.latest.as_ref().map(|j| j.state.into()),
            last_job_at: data.latest.as_ref().map(|j| j.created_at.into()),
            last_success_at: last_success.map(Instant),
            consecutive_failures: count(consecutive_failures),
            success_rate: (!finished.is_empty()).then(|| completed as f64 / finished.len() as f64),
            p95_duration_ms: p95,
            window_jobs: count(finished.len()),
            next_tick_at: entity::settings::next_tick(provider, after_backoff(now, backing_off))
                .map(Instant),
            last_feed_empty: data.summary.as_ref().is_some_and(|s| s.last_feed_empty),
            last_finished_state: finished.first().map(|f| {
                if f.completed {
                    JobState::Completed
                } else {
                    JobState::Failed
                }
            }),
            last_finished_at: data
                .summary
                .as_ref()
                .and_then(|s| s.last_finished_at)
                .map(Instant),
            last_error: data.summary.as_ref().and_then(LastError::of),
            failed_collections: data.summary.as_ref().map_or(0, |s| s.failed_collections),
            backing_off_until: backing_off.map(Instant),
            backoff_reason: backing_off.map(|_| {
                format!(
                    "{} consecutive failed collections (backs off from {})",
                    data.summary.as_ref().map_or(0, |s| s.failed_collections),
                    provider.backoff_after
                )
            }),
            skipped_ticks: data.summary.as_ref().map_or(0, |s| s.skipped_ticks),
            paused_at: data.summary.as_ref().and_then(|s| s.paused_at).map(Instant),
            pause_reason: data.summary.as_ref().and_then(|s| s.pause_reason.clone()),
        }
    }
}

/// The instant after which its next collected tick comes: the end of its backoff, if later
/// than `now` (a tick at that very end runs).
fn after_backoff(
    now: chrono::DateTime<chrono::Utc>,
    backing_off: Option<chrono::DateTime<chrono::Utc>>,
) -> chrono::DateTime<chrono::Utc> {
    match backing_off {
        Some(until) if until > now => until - chrono::TimeDelta::microseconds(1),
        _ => now,
    }
}
