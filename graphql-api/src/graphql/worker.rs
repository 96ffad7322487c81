//! Workers: the `ingestor run` processes, live or recently gone.

use async_graphql::{Enum, SimpleObject};
use entity::query::worker::Liveness;

use super::Instant;

/// How a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum WorkerState {
    /// Its heartbeat is on time.
    Live,
    /// It stopped cleanly (its jobs finished, or failed as interrupted and were retried).
    Stopped,
    /// Its heartbeat is three intervals late and it never said it stopped: killed, or cut
    /// off from the database. Its running jobs fail as interrupted when their leases expire.
    Lost,
}

impl From<Liveness> for WorkerState {
    fn from(liveness: Liveness) -> Self {
        match liveness {
            Liveness::Live => Self::Live,
            Liveness::Stopped => Self::Stopped,
            Liveness::Lost => Self::Lost,
        }
    }
}

/// An `ingestor run` process.
#[derive(Debug, Clone, SimpleObject)]
pub struct Worker {
    /// Its id, as `Job.workerId` names it.
    pub id: String,
    /// How it is doing now.
    pub state: WorkerState,
    /// The host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: i64,
    /// The ingestor's version.
    pub version: String,
    /// Jobs it runs at once.
    pub concurrency: i32,
    /// Whether it schedules jobs (or only processes them).
    pub schedules: bool,
    /// When it started.
    pub started_at: Instant,
    /// Its last heartbeat.
    pub last_heartbeat_at: Instant,
    /// How often it beats, in milliseconds.
    pub heartbeat_every_ms: i64,
    /// When it stopped cleanly.
    pub stopped_at: Option<Instant>,
    /// Jobs running now under its leases.
    pub running_jobs: i64,
}

impl Worker {
    /// `row` as of `now`, running `running_jobs`.
    pub(super) fn new(
        row: entity::worker::Model,
        now: chrono::DateTime<chrono::Utc>,
        running_jobs: i64,
    ) -> Self {
        Self {
            state: entity::query::worker::liveness(&row, now).into(),
            id: row.id,
            host: row.host,
            pid: row.pid,
            version: row.version,
            concurrency: row.concurrency,
            schedules: row.schedules,
            started_at: Instant(row.started_at),
            last_heartbeat_at: Instant(row.heartbeat_at),
            heartbeat_every_ms: row.heartbeat_every_ms,
            stopped_at: row.stopped_at.map(Instant),
            running_jobs,
        }
    }
}
