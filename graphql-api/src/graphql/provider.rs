//! The `Provider` type, with its health.

use async_graphql::{Context, Enum, ID, Object, SimpleObject, dataloader::DataLoader};
use entity::{JobState as StoredState, provider};

use super::{
    ids::GlobalId,
    job::JobState,
    loaders::{DbLoader, HEALTH_WINDOW, HealthData, HealthOf},
    scalars::Instant,
};
use crate::error::ApiError;

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

/// A source of events: its feed, schedule, limits and health.
#[derive(Debug, Clone)]
pub struct Provider(pub provider::Model);

/// A source of events: its feed, schedule, limits and health.
#[Object]
impl Provider {
    /// Its global id.
    pub async fn id(&self) -> ID {
        GlobalId::Provider(self.0.id).to_id()
    }

    /// Unique name; part of every event id.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The collector that reads its feed.
    async fn kind(&self) -> ProviderKind {
        self.0.kind.into()
    }

    /// The feed's address, with its userinfo and query values shown as `***` (they may hold
    /// the provider's credentials; the full URL is write-only).
    async fn url(&self) -> String {
        entity::settings::redact_url(&self.0.url)
    }

    /// Cron expression (with seconds), read in `timeZone`.
    async fn schedule(&self) -> &str {
        &self.0.schedule
    }

    /// IANA time zone of the feed's timestamps and of the schedule.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// Whether the scheduler creates jobs for it.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Limit for connecting to the provider, in milliseconds.
    async fn connect_timeout_ms(&self) -> i32 {
        self.0.connect_timeout_ms
    }

    /// Limit between two reads of the feed, in milliseconds.
    async fn read_timeout_ms(&self) -> i32 {
        self.0.read_timeout_ms
    }

    /// Limit for a whole fetch, in milliseconds.
    async fn total_timeout_ms(&self) -> i32 {
        self.0.total_timeout_ms
    }

    /// Largest feed accepted, in bytes.
    async fn max_body_bytes(&self) -> i64 {
        self.0.max_body_bytes
    }

    /// Attempts per tick, the first one included.
    async fn max_attempts(&self) -> i32 {
        self.0.max_attempts
    }

    /// Backoff before the first retry, in milliseconds.
    async fn retry_base_delay_ms(&self) -> i32 {
        self.0.retry_base_delay_ms
    }

    /// When it was created.
    async fn created_at(&self) -> Instant {
        self.0.created_at.into()
    }

    /// When its settings last changed.
    async fn updated_at(&self) -> Instant {
        self.0.updated_at.into()
    }

    /// How its collections have been going.
    async fn health(&self, ctx: &Context<'_>) -> Result<Health, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        let data = loader
            .load_one(HealthOf(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(Health::compute(&self.0, &data))
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
    /// Its next scheduled tick; null when disabled.
    pub next_tick_at: Option<Instant>,
    /// A warning: its last completed collection read a well-formed feed that listed no
    /// events (a provider whose catalogue suddenly empties deserves a look).
    pub last_feed_empty: bool,
}

impl Health {
    fn compute(provider: &provider::Model, data: &HealthData) -> Self {
        let finished = &data.recent;
        let completed = finished
            .iter()
            .filter(|o| o.status == StoredState::Completed)
            .count();
        let consecutive_failures = finished
            .iter()
            .take_while(|o| o.status == StoredState::Failed)
            .count();
        let mut durations: Vec<i64> = finished.iter().filter_map(|o| o.duration_ms).collect();
        durations.sort_unstable();
        let p95 = (!durations.is_empty()).then(|| {
            let index = ((durations.len() as f64) * 0.95).ceil() as usize;
            durations[index.saturating_sub(1).min(durations.len() - 1)]
        });
        let count = |n: usize| i32::try_from(n.min(HEALTH_WINDOW as usize)).unwrap_or(i32::MAX);
        Self {
            last_job_state: data.latest.as_ref().map(|j| j.state.into()),
            last_job_at: data.latest.as_ref().map(|j| j.created_at.into()),
            last_success_at: data.last_success.map(Instant),
            consecutive_failures: count(consecutive_failures),
            success_rate: (!finished.is_empty()).then(|| completed as f64 / finished.len() as f64),
            p95_duration_ms: p95,
            window_jobs: count(finished.len()),
            next_tick_at: entity::settings::next_tick(provider, chrono::Utc::now()).map(Instant),
            last_feed_empty: finished
                .iter()
                .find(|o| o.status == StoredState::Completed && !o.feed_unchanged)
                .is_some_and(|o| o.empty_feed),
        }
    }
}
