//! The worker's housekeeping: the rescuer, which fails running jobs whose lease expired (their
//! worker was killed or lost) and schedules their retries, then prunes the log of job changes
//! (kept [`query::job_transition::KEPT`], for live updates); and retention, which prunes old
//! finished jobs with their outcomes. Events are never pruned. The rescuer also drops events
//! staged by jobs that are no longer running (their worker died before its commit).
//!
//! Both are safe to run in every ingestor process at once: the rescuer's update only matches
//! jobs still running with an expired lease, so each is rescued once; the prunes delete by
//! age or id. Both loops stop when their cancellation token fires.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    ErrorKind, JobId,
    feed_snapshot::Directory,
    query::{
        self,
        job::{NewJob, Stranded},
        job_outcome::Finished,
    },
    time,
};
use sea_orm::{DatabaseConnection, DbErr};
use tokio_util::sync::CancellationToken;

use crate::{jobs, retry};

/// Fails every running job whose lease expired before `now`, records why, and creates the
/// retries the policy allows, all in one transaction. Returns how many jobs it rescued.
pub async fn rescue_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, DbErr> {
    rescue(db, now, None).await
}

/// The same for the running jobs of `worker_id` (a worker that could not record its own
/// interrupted jobs at shutdown).
pub async fn rescue_held_by(
    db: &DatabaseConnection,
    worker_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    rescue(db, now, Some(worker_id)).await
}

async fn rescue(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    held_by: Option<&str>,
) -> Result<usize, DbErr> {
    let txn = query::begin_write(db).await?;
    let which = held_by.map_or(Stranded::LeaseExpired, Stranded::HeldBy);
    let rescued = query::job::fail_running(&txn, which, now).await?;
    if rescued.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let providers: HashMap<_, _> =
        query::provider::find_by_ids(&txn, rescued.iter().map(|j| j.provider_id))
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
    let mut retries = Vec::new();
    for job in &rescued {
        let worker = job.worker_id.as_deref().unwrap_or("unknown");
        let message = match held_by {
            None => format!("the lease expired: worker {worker} stopped renewing it"),
            Some(_) => format!("worker {worker} shut down before the job finished"),
        };
        let finished = Finished {
            finished_at: now,
            error: Some((ErrorKind::Interrupted, message)),
            ..Finished::default()
        };
        let standing = query::job_outcome::record_finished(&txn, job, &finished).await?;
        let Some(provider) = providers.get(&job.provider_id) else {
            continue;
        };
        if standing.holds_retries() {
            continue;
        }
        let next_tick = jobs::next_tick(provider, now);
        let at = retry::retry_at(
            job,
            provider,
            ErrorKind::Interrupted,
            None,
            next_tick,
            now,
            fastrand::f64(),
        );
        if let Some(at) = at
            && let Some(retry) = query::job::enqueue_in(&txn, NewJob::retry(job, at)).await?
        {
            retries.push((job.id, retry.id, provider.name.clone()));
        }
    }
    txn.commit().await?;
    for job in &rescued {
        tracing::warn!(
            job.id = %job.id,
            provider.id = %job.provider_id,
            provider = providers.get(&job.provider_id).map_or("", |p| p.name.as_str()),
            job.attempt = job.attempt,
            worker = job.worker_id.as_deref().unwrap_or("unknown"),
            error.kind = "interrupted",
            "job rescued as interrupted"
        );
    }
    for (failed, retry, provider) in retries {
        tracing::info!(job.id = %failed, retry.job_id = %retry, provider = %provider, "retry scheduled");
    }
    Ok(rescued.len())
}

/// Rescues expired jobs, prunes the log of job changes and drops abandoned staged events,
/// every `every` until `stop` fires.
pub async fn run_rescuer(db: DatabaseConnection, every: Duration, stop: CancellationToken) {
    crate::worker::repeat(every, stop, "rescuer", || async {
        let now = time::now();
        rescue_expired(&db, now).await?;
        query::job_transition::prune(&db, now - query::job_transition::KEPT).await?;
        let cleared = query::event::clear_abandoned_stages(&db).await?;
        if cleared > 0 {
            tracing::info!(
                rows = cleared,
                "events staged by jobs no longer running dropped"
            );
        }
        Ok(None)
    })
    .await;
}

/// How many finished jobs retention deletes per statement.
const PRUNE_BATCH: u64 = 5_000;

/// Deletes finished jobs (and their outcomes) and error-group hours older than `keep`, and
/// workers silent for [`WORKER_RETENTION`]; returns how many jobs.
pub async fn prune(
    db: &DatabaseConnection,
    keep: TimeDelta,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let before = now - keep;
    let mut total = 0;
    loop {
        let deleted = query::job::prune_finished(db, before, PRUNE_BATCH).await?;
        total += usize::try_from(deleted).unwrap_or(usize::MAX);
        if deleted < PRUNE_BATCH {
            break;
        }
    }
    let groups = query::error_group::prune(db, before).await?;
    let workers = query::worker::prune(db, now - WORKER_RETENTION).await?;
    if total > 0 || groups > 0 || workers > 0 {
        tracing::info!(
            jobs.pruned = total,
            error_group_hours.pruned = groups,
            workers.pruned = workers,
            before = %before.to_rfc3339(),
            "old jobs pruned"
        );
    }
    Ok(total)
}

/// How long a worker that stopped (or was lost) stays listed after its last heartbeat.
pub const WORKER_RETENTION: TimeDelta = TimeDelta::days(7);

/// Prunes every `every` until `stop` fires.
pub async fn run_retention(
    db: DatabaseConnection,
    keep: TimeDelta,
    every: Duration,
    stop: CancellationToken,
) {
    crate::worker::repeat(every, stop, "retention", || async {
        prune(&db, keep, time::now()).await.map(|_| None)
    })
    .await;
}

/// How long, and how much of, the feed bodies jobs parsed are kept (for replays and
/// downloads): the older ones go first, then the oldest past the size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRetention {
    /// Bodies older than this are dropped.
    pub keep: TimeDelta,
    /// The most all bodies kept may weigh, compressed.
    pub max_total_bytes: u64,
    /// How often the bodies are pruned.
    pub every: Duration,
}

impl Default for SnapshotRetention {
    fn default() -> Self {
        Self {
            keep: TimeDelta::days(7),
            max_total_bytes: 1024 * 1024 * 1024,
            every: Duration::from_secs(60),
        }
    }
}

/// Drops the feed bodies past `retention`'s age, then the oldest past its size cap.
pub async fn prune_snapshots(
    db: &DatabaseConnection,
    retention: SnapshotRetention,
    now: DateTime<Utc>,
) -> Result<query::feed_snapshot::Pruned, DbErr> {
    let pruned =
        query::feed_snapshot::prune(db, now - retention.keep, retention.max_total_bytes).await?;
    if pruned != query::feed_snapshot::Pruned::default() {
        tracing::info!(
            snapshots.expired = pruned.expired,
            snapshots.over_cap = pruned.over_cap,
            max_total_bytes = retention.max_total_bytes,
            "feed snapshots pruned"
        );
    }
    Ok(pruned)
}

/// How long a body's file may wait for its row before a sweep takes it for an orphan: the file
/// is written just before the transaction that records it, which is short.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(600);

/// Ids per lookup of the rows a directory's files belong to.
const SWEEP_BATCH: usize = 1_000;

/// Deletes the files of `directory` whose rows are gone (pruned by retention or the size cap,
/// pruned with their job, or never committed) and that are older than `grace`; returns how
/// many it deleted.
pub async fn sweep_snapshot_files(
    db: &DatabaseConnection,
    directory: &Directory,
    grace: Duration,
) -> Result<u64, DbErr> {
    let listing = directory.clone();
    let files = tokio::task::spawn_blocking(move || listing.list())
        .await
        .map_err(std::io::Error::other)
        .flatten()
        .map_err(|e| DbErr::Custom(format!("listing the snapshot directory: {e}")))?;
    let settled = std::time::SystemTime::now() - grace;
    let old: Vec<JobId> = files
        .into_iter()
        .filter(|(_, written)| *written < settled)
        .map(|(job, _)| job)
        .collect();
    let mut orphans = Vec::new();
    for batch in old.chunks(SWEEP_BATCH) {
        let kept: HashSet<JobId> = query::feed_snapshot::kept_among(db, batch.iter().copied())
            .await?
            .into_iter()
            .collect();
        orphans.extend(batch.iter().copied().filter(|job| !kept.contains(job)));
    }
    if orphans.is_empty() {
        return Ok(0);
    }
    let removing = directory.clone();
    let removed = tokio::task::spawn_blocking(move || {
        let mut removed = 0;
        for job in orphans {
            match removing.remove(job) {
                Ok(()) => removed += 1,
                Err(err) => {
                    tracing::warn!(job.id = %job, error = %err, "snapshot file not removed")
                }
            }
        }
        removed
    })
    .await
    .map_err(|e| DbErr::Custom(format!("sweeping the snapshot directory: {e}")))?;
    tracing::info!(files = removed, directory = %directory.path().display(), "snapshot files swept");
    Ok(removed)
}

/// Prunes the feed bodies every `retention.every` until `stop` fires, and sweeps the files of
/// `directory` whose rows are gone.
pub async fn run_snapshot_retention(
    db: DatabaseConnection,
    retention: SnapshotRetention,
    directory: Option<Directory>,
    stop: CancellationToken,
) {
    crate::worker::repeat(retention.every, stop, "snapshot retention", || async {
        prune_snapshots(&db, retention, time::now()).await?;
        if let Some(directory) = &directory {
            sweep_snapshot_files(&db, directory, ORPHAN_GRACE).await?;
        }
        Ok(None)
    })
    .await;
}
