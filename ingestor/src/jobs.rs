//! Running one claimed job: collect the provider's feed while keeping the job's lease alive,
//! then end the job in one short transaction (see [`crate::store`]).
//!
//! A job stops early when its `stop` token fires (the worker's grace period is over: the job
//! fails as `interrupted` and is retried) or when a heartbeat finds the lease lost (the
//! rescuer already failed it: nothing more is written).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    ErrorKind, JobId, JobTrigger, job, job_outcome, provider,
    query::{self, job::NewJob},
    time,
};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{
    collector::{self, CollectSettings, Fetcher},
    failure::Failure,
    retry,
    store::{self, Committed},
};

/// How jobs are run.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often a running job renews its lease.
    pub heartbeat: Duration,
    /// Whether a failed job may get a retry job.
    pub retries: bool,
    /// Where feeds may be fetched from and what a record may carry.
    pub collect: CollectSettings,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            retries: true,
            collect: CollectSettings::default(),
        }
    }
}

/// Runs claimed jobs. Clone it freely.
#[derive(Clone)]
pub struct JobRunner {
    db: DatabaseConnection,
    fetcher: Fetcher,
    settings: RunnerSettings,
}

/// How a run ended.
#[derive(Debug)]
pub struct JobReport {
    /// The job as claimed.
    pub job: job::Model,
    /// Whether the end was recorded, or the lease had been lost.
    pub committed: Committed,
    /// The retry created for a failed job.
    pub retry: Option<job::Model>,
}

enum Run {
    Collected(Box<Result<collector::Collected, Failure>>),
    Stopped,
    LeaseLost,
}

impl JobRunner {
    /// A runner writing to `db`.
    pub fn new(db: DatabaseConnection, fetcher: Fetcher, settings: RunnerSettings) -> Self {
        Self {
            db,
            fetcher,
            settings,
        }
    }

    /// When a claim made now expires.
    pub fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + TimeDelta::from_std(self.settings.lease).unwrap_or(TimeDelta::seconds(30))
    }

    /// Runs `job`, which this worker has just claimed, to its end, and logs each transition
    /// (one line when it starts, one when it ends).
    #[tracing::instrument(skip_all, fields(job.id = %job.id, provider.id = %job.provider_id, provider = tracing::field::Empty, job.attempt = job.attempt))]
    pub async fn run(&self, job: job::Model, stop: &CancellationToken) -> Result<JobReport, DbErr> {
        let started = std::time::Instant::now();
        // Every line of this job names its provider, not only its id.
        let provider = query::provider::find_by_id(&self.db, job.provider_id).await?;
        if let Some(provider) = &provider {
            tracing::Span::current().record("provider", provider.name.as_str());
        }
        let delay_ms = job
            .started_at
            .map_or(0, |s| (s - job.run_at).num_milliseconds().max(0));
        tracing::info!(job.trigger = ?job.trigger, delay_ms, "job running");
        let report = self.run_to_end(job, provider, stop).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match &report {
            Ok(JobReport {
                committed: Committed::Done(finished),
                retry,
                ..
            }) => match &finished.error {
                None => tracing::info!(
                    duration_ms,
                    rows.inserted = finished.inserted,
                    rows.updated = finished.updated,
                    rows.unchanged = finished.unchanged,
                    rows.stopped = finished.stopped,
                    rows.rejected = finished.rejected,
                    feed_unchanged = finished.feed_unchanged,
                    empty_feed = finished.empty_feed,
                    "job completed"
                ),
                Some((kind, message)) => tracing::warn!(
                    duration_ms,
                    error.kind = kind.as_str(),
                    error.message = %message,
                    retry.job_id = retry.as_ref().map(|r| r.id.0),
                    retry.run_at = retry.as_ref().map(|r| r.run_at.to_rfc3339()),
                    "job failed"
                ),
            },
            Ok(JobReport {
                committed: Committed::LeaseLost,
                ..
            }) => tracing::warn!(duration_ms, "job abandoned: its lease was lost"),
            Err(err) => {
                tracing::error!(duration_ms, error = %err, "job could not be recorded; the rescuer will fail it when its lease expires")
            }
        }
        report
    }

    async fn run_to_end(
        &self,
        job: job::Model,
        provider: Option<provider::Model>,
        stop: &CancellationToken,
    ) -> Result<JobReport, DbErr> {
        let Some(provider) = provider else {
            let error = Failure::new(ErrorKind::Config, "the provider no longer exists");
            return self.fail(job, None, error).await;
        };
        // Disabled (or paused) since the scheduler or a failure queued this job: an automatic
        // job does not contact it. An operator's own request (manual, replay) still runs.
        if !provider.enabled && matches!(job.trigger, JobTrigger::Schedule | JobTrigger::Retry) {
            let error = Failure::new(
                ErrorKind::Cancelled,
                "the provider was disabled before this job ran; nothing was fetched",
            );
            return self.fail(job, Some(&provider), error).await;
        }
        let run = tokio::select! {
            collected = self.collect(&job, &provider) => match collected {
                Ok(collected) => Run::Collected(Box::new(collected)),
                Err(err) => return Err(err),
            },
            () = self.keep_lease(&job) => Run::LeaseLost,
            () = stop.cancelled() => Run::Stopped,
        };
        match run {
            Run::Collected(collected) => match *collected {
                Ok(collected) => self.complete(job, &provider, collected).await,
                Err(error) => self.fail(job, Some(&provider), error).await,
            },
            Run::Stopped => {
                let error = Failure::new(
                    ErrorKind::Interrupted,
                    "the worker stopped before the job finished",
                );
                self.fail(job, Some(&provider), error).await
            }
            Run::LeaseLost => Ok(JobReport {
                job,
                committed: Committed::LeaseLost,
                retry: None,
            }),
        }
    }

    /// Fetches and reads the provider's feed; or, for a replay, reads the body the replayed
    /// job kept, without contacting the provider.
    async fn collect(
        &self,
        job: &job::Model,
        provider: &provider::Model,
    ) -> Result<Result<collector::Collected, Failure>, DbErr> {
        if job.trigger != JobTrigger::Replay {
            return Ok(collector::collect(&self.fetcher, provider, &self.settings.collect).await);
        }
        let Some(replayed) = job.replay_of else {
            return Ok(Err(Failure::new(
                ErrorKind::Config,
                "a replay job names no job to replay",
            )));
        };
        let Some(stored) = query::feed_snapshot::find(&self.db, replayed).await? else {
            return Ok(Err(Failure::new(
                ErrorKind::Config,
                format!(
                    "the feed body of job {replayed} is not kept (none was read, or retention dropped it)"
                ),
            )));
        };
        tracing::info!(replay_of = %replayed, bytes = stored.raw_bytes, "replaying a stored feed body");
        let directory = self.settings.collect.snapshot_dir.as_ref();
        let stored = match stored.with_frame(directory).await {
            Ok(stored) => stored,
            Err(err) => {
                return Ok(Err(Failure::new(
                    ErrorKind::Config,
                    format!("the feed body of job {replayed} cannot be read: {err}"),
                )));
            }
        };
        Ok(collector::replay(provider, stored, &self.settings.collect.records).await)
    }

    /// Stores what a collection brought and ends `job` as completed, or as failed when the
    /// store fails.
    async fn complete(
        &self,
        job: job::Model,
        provider: &provider::Model,
        collected: collector::Collected,
    ) -> Result<JobReport, DbErr> {
        let snapshot_dir = self.settings.collect.snapshot_dir.as_ref();
        match store::complete(
            &self.db,
            &job,
            provider,
            &collected,
            snapshot_dir,
            time::now(),
        )
        .await
        {
            Ok(committed) => Ok(JobReport {
                job,
                committed,
                retry: None,
            }),
            Err(err) => {
                // The outcome is shown to operators through the API: the database's own words
                // stay in this process's log.
                tracing::error!(error = %err, "storing the feed failed");
                let mut error = Failure::new(
                    ErrorKind::Database,
                    "storing the feed failed (database error; see the ingestor log)",
                )
                .timed(collected.phases)
                .with_snapshot(collected.snapshot);
                error.http_status = collected.http_status;
                error.bytes = collected.bytes;
                self.fail(job, Some(provider), error).await
            }
        }
    }

    /// Renews the lease until it is lost (then returns); runs alongside the collection.
    async fn keep_lease(&self, job: &job::Model) {
        loop {
            tokio::time::sleep(self.settings.heartbeat).await;
            let now = time::now();
            match query::job::heartbeat(&self.db, job, now, self.lease_until(now)).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("lease lost: another process failed this job; abandoning it");
                    return;
                }
                // The database may be back before the lease runs out: keep collecting.
                Err(err) => tracing::warn!(error = %err, "heartbeat failed; retrying"),
            }
        }
    }

    async fn fail(
        &self,
        job: job::Model,
        provider: Option<&provider::Model>,
        error: Failure,
    ) -> Result<JobReport, DbErr> {
        let now = time::now();
        let retry = provider
            .filter(|_| self.settings.retries)
            .and_then(|p| retry_for(&job, p, &error, now));
        let snapshot = error.snapshot.as_deref();
        let (committed, retry) = store::fail(
            &self.db,
            &job,
            error.finished(now),
            snapshot,
            self.settings.collect.snapshot_dir.as_ref(),
            retry,
        )
        .await?;
        Ok(JobReport {
            job,
            committed,
            retry,
        })
    }
}

/// The retry job for `job`, failed now with `error`, if the policy allows one.
fn retry_for(
    job: &job::Model,
    provider: &provider::Model,
    error: &Failure,
    now: DateTime<Utc>,
) -> Option<NewJob> {
    let next_tick = next_tick(provider, now);
    retry::retry_at(
        job,
        provider,
        error.kind,
        error.retry_after,
        next_tick,
        now,
        fastrand::f64(),
    )
    .map(|at| NewJob::retry(job, at))
}

pub use entity::settings::next_tick;

/// A job's outcome as `ingestor collect` prints it, one JSON object: the stored outcome row
/// as it is, then what the job adds to it (whose, why, which attempt, and the retry it caused).
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeReport {
    /// The stored outcome.
    #[serde(flatten)]
    pub outcome: job_outcome::Model,
    /// The provider's name.
    pub provider: String,
    /// What created the job.
    pub trigger: JobTrigger,
    /// The attempt number.
    pub attempt: i32,
    /// The retry job created, if any.
    pub retry_job_id: Option<JobId>,
    /// The job whose kept feed body a replay read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<JobId>,
}

impl OutcomeReport {
    /// The report of `job` from its stored outcome.
    pub fn new(
        job: &job::Model,
        provider: &str,
        outcome: job_outcome::Model,
        retry: Option<&job::Model>,
    ) -> Self {
        Self {
            outcome,
            provider: provider.to_owned(),
            trigger: job.trigger,
            attempt: job.attempt,
            retry_job_id: retry.map(|r| r.id),
            replay_of: job.replay_of,
        }
    }

    /// The first rejection reasons, as stored (none when nothing was rejected).
    pub fn rejections(&self) -> &[serde_json::Value] {
        self.outcome
            .rejections
            .as_ref()
            .and_then(serde_json::Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}
