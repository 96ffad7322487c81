//! `ingestor run`: the worker. It runs, side by side, the scheduler (jobs for due cron ticks),
//! the job processor (a bounded pool of concurrent jobs, claimed from the database), the
//! rescuer (fails jobs whose lease expired and retries them) and retention (prunes old
//! finished jobs).
//!
//! How it stops: when `shutdown` fires it stops scheduling and claiming; jobs in flight get
//! the grace period to finish; then the rest are interrupted (each fails as `interrupted`,
//! with a retry, through the normal job path), and `run` returns. If even that cannot be
//! recorded (the database is gone), their leases expire and another worker's rescuer fails
//! them.

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use entity::{query, query::job::Claim, time};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    collector::Fetcher,
    jobs::{JobRunner, RunnerSettings},
    maintenance,
    scheduler::Scheduler,
};

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// This process's name in the `job.worker_id` column and in logs.
    pub worker_id: String,
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// How often the processor looks for due jobs when nothing wakes it.
    pub poll_interval: Duration,
    /// How often the scheduler looks for due ticks.
    pub scheduler_interval: Duration,
    /// Whether this process schedules jobs at all (a worker may only process).
    pub schedule: bool,
    /// How jobs run: lease, heartbeat, retries.
    pub runner: RunnerSettings,
    /// How often the rescuer looks for expired leases.
    pub rescue_interval: Duration,
    /// How long jobs in flight may finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long finished jobs are kept.
    pub retention: TimeDelta,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// How long and how much of the feed bodies kept.
    pub snapshots: maintenance::SnapshotRetention,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            worker_id: default_worker_id(),
            concurrency: 4,
            poll_interval: Duration::from_millis(500),
            scheduler_interval: Duration::from_millis(250),
            schedule: true,
            runner: RunnerSettings::default(),
            rescue_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            retention: TimeDelta::days(30),
            retention_interval: Duration::from_secs(3600),
            snapshots: maintenance::SnapshotRetention::default(),
        }
    }
}

/// `host-pid-xxxx`: unique enough to tell workers apart in `job.worker_id`.
pub fn default_worker_id() -> String {
    format!(
        "{}-{}-{:04x}",
        host_name(),
        std::process::id(),
        fastrand::u16(..)
    )
}

/// This machine's host name (`worker` when it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}

/// How long interrupted jobs get to record themselves after the grace period.
const INTERRUPT_WAIT: Duration = Duration::from_secs(10);

/// Runs the worker until `shutdown` fires and its jobs are finished or interrupted.
pub async fn run(db: DatabaseConnection, settings: WorkerSettings, shutdown: CancellationToken) {
    tracing::info!(
        worker = %settings.worker_id,
        concurrency = settings.concurrency,
        scheduling = settings.schedule,
        "ingestor worker started"
    );
    // The heartbeat goes on while jobs drain: the worker is alive until `run` returns.
    let beating = CancellationToken::new();
    let heartbeat = tokio::spawn(announce(db.clone(), me(&settings), beating.clone()));
    let created = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    if settings.schedule {
        let scheduler = Scheduler::new(db.clone(), Arc::clone(&created));
        tasks.spawn(scheduler.run(settings.scheduler_interval, shutdown.child_token()));
    }
    tasks.spawn(maintenance::run_rescuer(
        db.clone(),
        settings.rescue_interval,
        shutdown.child_token(),
    ));
    tasks.spawn(maintenance::run_retention(
        db.clone(),
        settings.retention,
        settings.retention_interval,
        shutdown.child_token(),
    ));
    tasks.spawn(maintenance::run_snapshot_retention(
        db.clone(),
        settings.snapshots,
        settings.runner.collect.snapshot_dir.clone(),
        shutdown.child_token(),
    ));
    process(db.clone(), &settings, created, shutdown).await;
    while tasks.join_next().await.is_some() {}
    beating.cancel();
    let _ = heartbeat.await;
    if let Err(err) = query::worker::stopped(&db, &settings.worker_id, time::now()).await {
        tracing::warn!(error = %err, "cannot record that this worker stopped; it will show as lost");
    }
    tracing::info!(worker = %settings.worker_id, "ingestor worker stopped");
}

/// What this worker says of itself in the `worker` table.
fn me(settings: &WorkerSettings) -> query::worker::Announce {
    query::worker::Announce {
        id: settings.worker_id.clone(),
        host: host_name(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        concurrency: u32::try_from(settings.concurrency).unwrap_or(u32::MAX),
        schedules: settings.schedule,
        heartbeat_every: settings.runner.heartbeat,
        started_at: time::now(),
    }
}

/// Announces this worker, then renews its heartbeat at the job heartbeat's pace until `stop`.
async fn announce(db: DatabaseConnection, me: query::worker::Announce, stop: CancellationToken) {
    let every = me.heartbeat_every;
    repeat(every, stop, "worker heartbeat", || async {
        query::worker::beat(&db, &me, time::now())
            .await
            .map(|()| None)
    })
    .await;
}

/// The job processor: claims due jobs while it has free slots, runs each on its own task,
/// and on shutdown drains them (see the module documentation).
async fn process(
    db: DatabaseConnection,
    settings: &WorkerSettings,
    created: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let runner = JobRunner::new(
        db.clone(),
        Fetcher::new(settings.runner.collect.destinations),
        settings.runner.clone(),
    );
    // Fires when the grace period is over: jobs still running stop and record themselves.
    let interrupt = CancellationToken::new();
    let mut in_flight = JoinSet::new();
    let mut failing = false;
    while !shutdown.is_cancelled() {
        let free = settings.concurrency.saturating_sub(in_flight.len());
        if free > 0 {
            let now = time::now();
            let claim = Claim {
                worker_id: &settings.worker_id,
                now,
                lease_until: runner.lease_until(now),
            };
            match query::job::claim_next(&db, &claim, u32::try_from(free).unwrap_or(u32::MAX)).await
            {
                Ok(jobs) => {
                    if failing {
                        tracing::info!("processor: database reachable again");
                        failing = false;
                    }
                    for job in jobs {
                        let runner = runner.clone();
                        let stop = interrupt.clone();
                        in_flight.spawn(async move { runner.run(job, &stop).await });
                    }
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "processor: cannot claim jobs; retrying");
                    }
                    failing = true;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            () = created.notified() => {}
            () = tokio::time::sleep(settings.poll_interval) => {}
        }
    }
    drain(&db, settings, in_flight, interrupt).await;
}

async fn drain(
    db: &DatabaseConnection,
    settings: &WorkerSettings,
    mut in_flight: JoinSet<Result<crate::jobs::JobReport, DbErr>>,
    interrupt: CancellationToken,
) {
    if in_flight.is_empty() {
        return;
    }
    tracing::info!(
        jobs = in_flight.len(),
        grace_ms = settings.shutdown_grace.as_millis() as u64,
        "shutting down: letting jobs in flight finish"
    );
    if tokio::time::timeout(settings.shutdown_grace, join_all(&mut in_flight))
        .await
        .is_ok()
    {
        return;
    }
    tracing::warn!(
        jobs = in_flight.len(),
        "grace period over: interrupting the jobs still running"
    );
    interrupt.cancel();
    if tokio::time::timeout(INTERRUPT_WAIT, join_all(&mut in_flight))
        .await
        .is_ok()
    {
        return;
    }
    // They could not record themselves (the database is slow or gone): try once more in one
    // statement; if that fails too, their leases expire and another worker rescues them.
    in_flight.abort_all();
    match maintenance::rescue_held_by(db, &settings.worker_id, time::now()).await {
        Ok(n) => tracing::warn!(jobs = n, "jobs failed as interrupted at shutdown"),
        Err(err) => {
            tracing::error!(error = %err, "cannot record interrupted jobs; their leases will expire")
        }
    }
}

async fn join_all<T: 'static>(set: &mut JoinSet<T>) {
    while set.join_next().await.is_some() {}
}

/// Calls `task` every `every` (or sooner, when the task says its next run is due before)
/// until `stop` fires; a failure is logged once per outage (the database being unreachable is
/// the usual one), and the loop goes on.
pub(crate) async fn repeat<F, Fut>(
    every: Duration,
    stop: CancellationToken,
    name: &'static str,
    mut task: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Duration>, DbErr>>,
{
    let mut failing = false;
    loop {
        let mut wait = every;
        match task().await {
            Ok(sooner) => {
                if failing {
                    tracing::info!(task = name, "database reachable again");
                    failing = false;
                }
                wait = sooner.map_or(every, |s| s.min(every));
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(task = name, error = %err, "database unavailable; retrying");
                }
                failing = true;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
