//! Hand-written queries, one module per table. Each is an async function over
//! `&impl ConnectionTrait`, so the same function runs on the pool or inside a transaction.

pub mod catalog_version;
pub mod event;
pub mod job;
pub mod job_outcome;
pub mod provider;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

/// Begins a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: the single write lock is taken at once (waiting up to
/// the busy timeout), so the transaction never reads a snapshot it later fails to upgrade.
/// PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(options).await
}

/// The PostgreSQL notification channel that announces a new catalogue version (payload: the
/// version).
pub const CATALOG_CHANNEL: &str = "fever_catalog";
/// The PostgreSQL notification channel that announces a job's change (payload: the job id).
pub const JOB_CHANNEL: &str = "fever_job";

/// Announces a change to listeners (the API's search index and job subscriptions). On
/// PostgreSQL this is `pg_notify`, delivered when the transaction commits; SQLite has no
/// notifications, and its readers poll.
pub async fn notify(db: &impl ConnectionTrait, channel: &str, payload: &str) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    );
    db.execute_raw(statement).await.map(|_| ())
}

/// Whether `err` is a unique-constraint violation (as classified by the driver, not by text).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
