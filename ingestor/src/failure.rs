//! Why a job failed, whatever failed: the fetch, the feed, the provider's settings, the store,
//! or the worker itself. Its outcome records it, and its retry is decided from it.

use chrono::{DateTime, Utc};
use entity::{
    ErrorKind,
    feed_snapshot::Compressed,
    query::job_outcome::{Finished, Phases},
};

/// Why a job failed, with what the provider had said by then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The kind the job outcome records (and the retry policy reads).
    pub kind: ErrorKind,
    /// What happened, for an operator. Never the URL's query string nor the database's words.
    pub message: String,
    /// The provider's status, when it answered.
    pub http_status: Option<u16>,
    /// When the provider asked us to come back.
    pub retry_after: Option<DateTime<Utc>>,
    /// Bytes received before the failure.
    pub bytes: u64,
    /// Where the job's time went before the failure.
    pub phases: Phases,
    /// The body the parser read before it failed, compressed, to keep with the job.
    pub snapshot: Option<Box<Compressed>>,
}

impl Failure {
    /// A failure of `kind` before the provider answered.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            http_status: None,
            retry_after: None,
            bytes: 0,
            phases: Phases::default(),
            snapshot: None,
        }
    }

    /// The same failure, with the body the parser read.
    pub fn with_snapshot(self, snapshot: Option<Compressed>) -> Self {
        Self {
            snapshot: snapshot.map(Box::new),
            ..self
        }
    }

    /// The same failure, after the provider answered `status` and sent `bytes`.
    pub fn answered(self, status: u16, bytes: u64) -> Self {
        Self {
            http_status: Some(status),
            bytes,
            ..self
        }
    }

    /// The same failure, with the time each phase took before it.
    pub fn timed(self, phases: Phases) -> Self {
        Self { phases, ..self }
    }

    /// What the job's outcome records of it, finished at `now`.
    pub fn finished(&self, now: DateTime<Utc>) -> Finished {
        Finished {
            finished_at: now,
            error: Some((self.kind, self.message.clone())),
            http_status: self.http_status,
            bytes: Some(self.bytes).filter(|b| *b > 0),
            retry_after: self.retry_after,
            phases: self.phases,
            ..Finished::default()
        }
    }
}
