//! Hand-written queries, one module per table. Each is an async function over
//! `&impl ConnectionTrait`, so the same function runs on the pool or inside a transaction.

pub mod catalog_version;
pub mod event;
pub mod job;
pub mod job_outcome;
pub mod job_transition;
pub mod provider;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, SqlErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};

use crate::JobId;

/// Which page of a list kept newest first (jobs, outcomes), next to a job: keyset pagination
/// both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The newest ones older than this job (from the newest without one): a page forward.
    Older(Option<JobId>),
    /// The oldest ones newer than this job (from the oldest without one): a page backward.
    Newer(Option<JobId>),
}

/// Up to `limit` rows of `select` in `window` of the list ordered by `id` newest first,
/// returned newest first whichever way the page goes.
pub(crate) async fn newest_first<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id: E::Column,
    window: Window,
    limit: u64,
) -> Result<Vec<E::Model>, DbErr> {
    match window {
        Window::Older(before) => {
            let select = match before {
                Some(before) => select.filter(id.lt(before)),
                None => select,
            };
            select.order_by_desc(id).limit(limit).all(db).await
        }
        Window::Newer(after) => {
            let select = match after {
                Some(after) => select.filter(id.gt(after)),
                None => select,
            };
            let mut rows = select.order_by_asc(id).limit(limit).all(db).await?;
            rows.reverse();
            Ok(rows)
        }
    }
}

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
/// The triggers that log each change in `job_transition` notify it, on every write path.
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
