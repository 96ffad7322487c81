//! Hand-written queries, one module per table. Each is an async function over
//! `&impl ConnectionTrait`, so the same function runs on the pool or inside a transaction.

pub mod catalog_version;
pub mod event;
pub mod job;
pub mod job_outcome;
pub mod provider;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
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

/// Whether `err` is a unique-constraint violation (as classified by the driver, not by text).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
