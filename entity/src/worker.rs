//! `worker`: an `ingestor run` process, as it announced itself (see `query::worker`).

use sea_orm::entity::prelude::*;

/// A worker row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "worker")]
pub struct Model {
    /// Its id, as `job.worker_id` names it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
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
    /// How often it renews `heartbeat_at`, in milliseconds.
    pub heartbeat_every_ms: i64,
    /// When it started.
    pub started_at: DateTimeUtc,
    /// Its last heartbeat.
    pub heartbeat_at: DateTimeUtc,
    /// When it stopped cleanly; `None` while it runs, or when it was lost.
    pub stopped_at: Option<DateTimeUtc>,
}

/// A worker has no relations: jobs name it by id, and outlive its row.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
