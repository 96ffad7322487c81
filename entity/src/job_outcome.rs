//! `job_outcome`: what a job did, one per job, created with it and updated as it runs.

use sea_orm::entity::prelude::*;

use crate::{ErrorKind, JobId, JobState, ProviderId};

/// A job outcome row. It serialises as stored (`ingestor collect` prints it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "job_outcome")]
pub struct Model {
    /// The job it belongs to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: JobId,
    /// The job's provider (kept here so outcomes filter without a join).
    pub provider_id: ProviderId,
    /// The job's state, mirrored.
    pub status: JobState,
    /// When the job (and this row) was created.
    pub created_at: DateTimeUtc,
    /// When processing started.
    pub processed_at: Option<DateTimeUtc>,
    /// When processing ended.
    pub finished_at: Option<DateTimeUtc>,
    /// `finished_at - processed_at`.
    pub duration_ms: Option<i64>,
    /// Milliseconds spent waiting on the provider: connecting, its answer's headers and the
    /// body's bytes (the feed is parsed as it arrives: this overlaps `parse_ms`).
    pub fetch_ms: Option<i64>,
    /// Milliseconds the parser worked (reading and validating records), waits for bytes
    /// excluded.
    pub parse_ms: Option<i64>,
    /// Milliseconds from the end of the collection to the commit: comparing with what is
    /// stored, staging and writing.
    pub store_ms: Option<i64>,
    /// Why it failed.
    pub error_kind: Option<ErrorKind>,
    /// What failed, in words for an operator.
    pub error_message: Option<String>,
    /// The failure's group: the fingerprint of its kind and normalised message
    /// (`query::error_group`).
    pub error_group: Option<i64>,
    /// The provider's HTTP status, when it answered.
    pub http_status: Option<i32>,
    /// Bytes of feed received (decompressed).
    pub bytes: Option<i64>,
    /// The provider's `Retry-After`, as an instant.
    pub retry_after: Option<DateTimeUtc>,
    /// The provider said the feed had not changed (304 or an identical body).
    pub feed_unchanged: bool,
    /// The feed was well-formed but listed no events (the job completed with a warning).
    pub empty_feed: bool,
    /// Event records in the feed.
    pub seen: i32,
    /// New events stored.
    pub inserted: i32,
    /// Known events whose content changed.
    pub updated: i32,
    /// Known events with the same content.
    pub unchanged: i32,
    /// Events the previous feed listed that this one does not.
    pub stopped: i32,
    /// Records rejected by validation.
    pub rejected: i32,
    /// The first rejection reasons, as a JSON array.
    pub rejections: Option<Json>,
}

/// Relations of a job outcome.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its job.
    #[sea_orm(
        belongs_to = "super::job::Entity",
        from = "Column::JobId",
        to = "super::job::Column::Id"
    )]
    Job,
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
