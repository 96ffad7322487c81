//! The scheduler: turns each enabled provider's cron schedule into jobs, one per tick.
//!
//! It only inserts rows. Several ingestor processes may run it at once with no leader: the
//! unique key on (provider, tick) lets exactly one insert per tick succeed, and the partial
//! unique index keeps at most one pending or running job per provider (a tick that finds one
//! is skipped). Providers are re-read on every pass, so enabling, disabling or editing one
//! takes effect without a restart. After downtime only the latest missed tick gets a job:
//! one catch-up run, not a backlog. A provider that keeps failing backs off: its ticks before
//! the end of its backoff (`provider_health.backing_off_until`, set as its jobs fail) are
//! skipped and counted, and create no job.
//!
//! It stops when its cancellation token fires.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::{
    ProviderId, provider,
    query::{
        self,
        job::{Enqueued, NewJob},
    },
    settings::{CronSchedule, TimeZone},
    time,
};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Creates schedule jobs for due ticks.
pub struct Scheduler {
    db: DatabaseConnection,
    /// The last tick this process knows has a job (its own, or another process's).
    last_tick: Mutex<HashMap<ProviderId, DateTime<Utc>>>,
    /// Woken when a job is created, so the processor starts it without waiting for its poll.
    created: Arc<Notify>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Jobs created.
    pub created: usize,
    /// Due ticks that another process had already taken, or that found an active job.
    pub skipped: usize,
    /// Due ticks skipped because their provider backs off (counted in its health).
    pub backed_off: usize,
    /// The earliest next tick of any enabled provider.
    pub next_tick: Option<DateTime<Utc>>,
}

impl Scheduler {
    /// A scheduler writing to `db`, waking `created` after creating jobs.
    pub fn new(db: DatabaseConnection, created: Arc<Notify>) -> Self {
        Self {
            db,
            last_tick: Mutex::default(),
            created,
        }
    }

    /// Runs passes until `stop` fires: at every provider's next tick, and at least every
    /// `interval` (which is how soon an edited provider is seen). Database errors are logged
    /// and the next pass tries again.
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        crate::worker::repeat(interval, stop, "scheduler", || async {
            let now = time::now();
            let pass = self.pass(now).await?;
            Ok(pass
                .next_tick
                .map(|t| (t - now).to_std().unwrap_or_default()))
        })
        .await;
    }

    /// Creates the jobs due at `now`.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<Pass, DbErr> {
        let mut pass = Pass::default();
        let backoffs = query::provider_health::backoffs(&self.db).await?;
        for provider in query::provider::list_enabled(&self.db).await? {
            let next = crate::jobs::next_tick(&provider, now);
            pass.next_tick = match (pass.next_tick, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let Some(since) = self.since(&provider).await? else {
                continue;
            };
            let Some(tick) = due_tick(&provider, since, now) else {
                continue;
            };
            if let Some(until) = backoffs.get(&provider.id).filter(|until| tick < **until) {
                query::provider_health::skip_tick(&self.db, provider.id, tick).await?;
                pass.backed_off += 1;
                tracing::info!(
                    provider = %provider.name,
                    tick = %tick.to_rfc3339(),
                    backing_off_until = %until.to_rfc3339(),
                    "tick skipped: the provider backs off after failing collections"
                );
                self.remember(provider.id, tick);
                continue;
            }
            match query::job::enqueue(&self.db, NewJob::scheduled(provider.id, tick)).await? {
                Enqueued::Created(job) => {
                    pass.created += 1;
                    tracing::info!(
                        provider = %provider.name,
                        job.id = %job.id,
                        tick = %tick.to_rfc3339(),
                        "job scheduled"
                    );
                }
                Enqueued::Conflict => {
                    pass.skipped += 1;
                    tracing::debug!(provider = %provider.name, tick = %tick.to_rfc3339(), "tick already taken, or a job is active");
                }
            }
            self.remember(provider.id, tick);
        }
        if pass.created > 0 {
            self.created.notify_one();
        }
        Ok(pass)
    }

    /// The instant after which the provider's next tick is due: its last scheduled tick, or
    /// its creation for a provider never scheduled.
    async fn since(&self, provider: &provider::Model) -> Result<Option<DateTime<Utc>>, DbErr> {
        let known = self.ticks().get(&provider.id).copied();
        if let Some(last) = known {
            return Ok(Some(last));
        }
        let last = query::job::latest_scheduled(&self.db, provider.id)
            .await?
            .and_then(|job| job.tick)
            .unwrap_or(provider.created_at);
        self.remember(provider.id, last);
        Ok(Some(last))
    }

    fn remember(&self, provider: ProviderId, tick: DateTime<Utc>) {
        self.ticks().insert(provider, tick);
    }

    fn ticks(&self) -> std::sync::MutexGuard<'_, HashMap<ProviderId, DateTime<Utc>>> {
        self.last_tick
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The latest tick of `provider`'s schedule in `(since, now]`, if any: the one job to create.
pub fn due_tick(
    provider: &provider::Model,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let schedule: CronSchedule = match provider.schedule.parse() {
        Ok(schedule) => schedule,
        Err(err) => {
            tracing::warn!(provider = %provider.name, error = %err, "unusable schedule; not scheduling");
            return None;
        }
    };
    let zone: TimeZone = provider.time_zone.parse().ok()?;
    schedule.latest_between(since, now, zone)
}
