//! Hand-written queries, one module per table. Each is an async function over
//! `&impl ConnectionTrait`, so the same function runs on the pool or inside a transaction.

pub mod audit_log;
pub mod catalog_version;
pub mod chart;
pub mod error_group;
pub mod event;
pub mod feed_snapshot;
pub mod job;
pub mod job_change;
pub mod job_count;
pub mod job_outcome;
pub mod job_tally;
pub mod job_transition;
pub mod provider;
pub mod provider_health;
pub mod worker;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, SqlErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};

use crate::JobId;

/// Which page of an ordered list, next to a row: keyset pagination both ways. `C` names a
/// row's place in the list's order (a job id for the lists kept newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window<C = JobId> {
    /// The first rows after this one (from the first without one): a page forward.
    After(Option<C>),
    /// The last rows before this one (up to the last without one): a page backward.
    Before(Option<C>),
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
        Window::After(cursor) => {
            let select = match cursor {
                Some(cursor) => select.filter(id.lt(cursor)),
                None => select,
            };
            select.order_by_desc(id).limit(limit).all(db).await
        }
        Window::Before(cursor) => {
            let select = match cursor {
                Some(cursor) => select.filter(id.gt(cursor)),
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
