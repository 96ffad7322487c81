//! The Fever ingestor: a worker that collects providers' XML feeds into the database.
//!
//! - [`cli`]: the operator interface (`migrate`, `provider add|list`), parsed and validated
//!   once, and the code each subcommand runs.
//! - [`providers`]: creating, updating and listing providers.
//! - [`collector`]: fetching a feed and reading it (no database).
//! - [`failure`]: why a job failed, whatever failed, as its outcome records it.
//! - [`store`]: the one short transaction that ends a job.
//! - [`jobs`]: running one claimed job; [`retry`]: when a failed one runs again.
//! - [`collect`]: `ingestor collect NAME`, one job now in the foreground.
//! - [`worker`]: `ingestor run`, with the [`scheduler`], the job processor, and the rescuer
//!   and retention of [`maintenance`].

pub mod cli;
pub mod collect;
pub mod collector;
pub mod failure;
pub mod jobs;
pub mod maintenance;
pub mod providers;
pub mod retry;
pub mod scheduler;
pub mod store;
pub mod worker;

/// Why an ingestor command failed; shown to the operator as one line.
#[derive(Debug, thiserror::Error)]
pub enum IngestorError {
    /// The database could not be opened or its schema is not usable.
    #[error(transparent)]
    Open(#[from] lifecycle::database::OpenError),
    /// A migration failed.
    #[error(transparent)]
    Schema(#[from] migration::SchemaError),
    /// A provider could not be created or updated.
    #[error(transparent)]
    Provider(#[from] providers::AddProviderError),
    /// A setting is invalid.
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// No provider has that name.
    #[error("no provider is called `{0}` (see `ingestor provider list`)")]
    UnknownProvider(String),
    /// There is no such job, or its feed body is not kept.
    #[error(
        "job {0} has no feed body kept to replay (no such job, it read no changed feed, or retention dropped its body)"
    )]
    NothingToReplay(i64),
    /// The provider already has a job waiting or running.
    #[error(
        "provider `{provider}` already has a {state} job (id {job_id}); try again when it ends"
    )]
    Busy {
        /// The provider.
        provider: String,
        /// Its active job.
        job_id: i64,
        /// `pending` or `running`.
        state: &'static str,
    },
    /// The database failed during a command.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}
