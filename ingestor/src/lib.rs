//! The Fever ingestor: a worker that collects providers' XML feeds into the database.
//!
//! - [`cli`]: the operator interface (`migrate`, `provider add|list`), parsed and validated
//!   once, and the code each subcommand runs.
//! - [`providers`]: creating, updating and listing providers.

pub mod cli;
pub mod providers;

/// Why an ingestor command failed; shown to the operator as one line.
#[derive(Debug, thiserror::Error)]
pub enum IngestorError {
    /// The database could not be opened or its schema is not usable.
    #[error(transparent)]
    Open(#[from] service::database::OpenError),
    /// A migration failed.
    #[error(transparent)]
    Schema(#[from] migration::SchemaError),
    /// A provider could not be created or updated.
    #[error(transparent)]
    Provider(#[from] providers::AddProviderError),
    /// The database failed during a command.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}
