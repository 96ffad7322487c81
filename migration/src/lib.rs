//! The schema of the Fever events-integration service, and the rules for changing it.
//!
//! Every schema change is a migration here; nothing else issues DDL. Binaries call
//! [`prepare`] at start-up: the embedded SQLite default applies what is pending, while a
//! PostgreSQL deployment refuses to start until `ingestor migrate` (see [`apply_pending`]) has
//! brought the schema up to date, because replicas start concurrently and sea-orm-migration
//! takes no lock of its own.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
pub use sea_orm_migration::MigratorTrait;

/// The job-duration histogram's bounds (ms) as `job_tally`'s migration filled it; the
/// entity crate's copy must be equal (its tests check).
pub use m20261201_000013_job_tally::BOUNDS_MS as JOB_TALLY_BOUNDS_MS;
use sea_orm_migration::{MigrationStatus, MigrationTrait};

mod m20261125_000001_create_tables;
mod m20261125_000002_inline_zones;
mod m20261201_000003_job_outcome_empty_feed;
mod m20261201_000004_job_transition;
mod m20261201_000005_event_title_folded;
mod m20261201_000006_job_order_indexes;
mod m20261201_000007_job_provider_indexes;
mod m20261201_000008_provider_health;
mod m20261201_000009_job_count;
mod m20261201_000010_event_stage;
mod m20261201_000011_event_provider_check;
mod m20261201_000012_provider_health_last;
mod m20261201_000013_job_tally;
mod m20261201_000014_audit_log;
mod m20261202_000015_job_outcome_phases;
mod m20261202_000016_error_group;
mod m20261202_000017_worker;
mod m20261202_000018_provider_freshness;
mod m20261202_000019_provider_backoff;
mod m20261202_000020_feed_snapshot;
mod m20261202_000021_job_changes;
mod m20261202_000022_feed_snapshot_file;

/// Every migration, in the order it applies.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tables::Migration),
            Box::new(m20261125_000002_inline_zones::Migration),
            Box::new(m20261201_000003_job_outcome_empty_feed::Migration),
            Box::new(m20261201_000004_job_transition::Migration),
            Box::new(m20261201_000005_event_title_folded::Migration),
            Box::new(m20261201_000006_job_order_indexes::Migration),
            Box::new(m20261201_000007_job_provider_indexes::Migration),
            Box::new(m20261201_000008_provider_health::Migration),
            Box::new(m20261201_000009_job_count::Migration),
            Box::new(m20261201_000010_event_stage::Migration),
            Box::new(m20261201_000011_event_provider_check::Migration),
            Box::new(m20261201_000012_provider_health_last::Migration),
            Box::new(m20261201_000013_job_tally::Migration),
            Box::new(m20261201_000014_audit_log::Migration),
            Box::new(m20261202_000015_job_outcome_phases::Migration),
            Box::new(m20261202_000016_error_group::Migration),
            Box::new(m20261202_000017_worker::Migration),
            Box::new(m20261202_000018_provider_freshness::Migration),
            Box::new(m20261202_000019_provider_backoff::Migration),
            Box::new(m20261202_000020_feed_snapshot::Migration),
            Box::new(m20261202_000021_job_changes::Migration),
            Box::new(m20261202_000022_feed_snapshot_file::Migration),
        ]
    }
}

/// The PostgreSQL advisory lock that serialises migrations across processes
/// (`fever-mi` in ASCII, so it is recognisable in `pg_locks`).
const MIGRATION_LOCK_KEY: i64 = 0x6665_7665_722d_6d69;

/// Why the schema cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Migrations this binary knows are not applied yet.
    #[error(
        "the database schema is behind this binary: {} pending migration(s) ({}); run `ingestor migrate` first",
        pending.len(),
        pending.join(", ")
    )]
    Behind {
        /// Names of the pending migrations, oldest first.
        pending: Vec<String>,
    },
    /// The database records migrations this binary does not know: it is older than the schema.
    #[error(
        "the database schema is newer than this binary (unknown migration(s): {}); deploy the newer binary",
        unknown.join(", ")
    )]
    Ahead {
        /// Names of the applied migrations this binary does not have.
        unknown: Vec<String>,
    },
    /// The database failed while reading or changing the schema.
    #[error("schema check failed: {0}")]
    Database(#[from] DbErr),
}

/// One migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name, which sorts in apply order.
    pub name: String,
    /// Whether it is applied.
    pub applied: bool,
}

/// What a binary does with the schema when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupMigrations {
    /// Apply pending migrations (under a lock on PostgreSQL).
    Apply,
    /// Refuse to start unless the schema is current.
    Require,
}

impl StartupMigrations {
    /// The default for a database: the embedded SQLite file migrates itself, a shared
    /// PostgreSQL database is migrated by the deploy step.
    pub fn default_for(backend: DbBackend) -> Self {
        match backend {
            DbBackend::Sqlite => Self::Apply,
            _ => Self::Require,
        }
    }
}

/// Brings the schema to what this binary needs, or says why it cannot start.
pub async fn prepare(
    db: &DatabaseConnection,
    policy: StartupMigrations,
) -> Result<(), SchemaError> {
    match policy {
        StartupMigrations::Apply => apply_pending(db).await.map(|_| ()),
        StartupMigrations::Require => ensure_current(db).await,
    }
}

/// Applies every pending migration and returns their names.
///
/// On PostgreSQL the whole run holds a transaction-scoped advisory lock, so concurrent
/// deploy steps or start-ups apply each migration once; the migrations themselves run as
/// savepoints inside that transaction, so a failure leaves the schema as it was. On SQLite the
/// run is one `BEGIN IMMEDIATE` transaction, which takes the single writer's lock.
pub async fn apply_pending(db: &DatabaseConnection) -> Result<Vec<String>, SchemaError> {
    let backend = db.get_database_backend();
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let txn = db.begin_with_options(options).await?;
    if backend == DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
        ))
        .await?;
    }
    Migrator::install(&txn).await?;
    let pending = pending_names(&txn).await?;
    if !pending.is_empty() {
        Migrator::up(&txn, None).await?;
    }
    txn.commit().await?;
    for name in &pending {
        tracing::info!(migration = %name, "migration applied");
    }
    Ok(pending)
}

/// Reverts the last `steps` applied migrations (all of them with `None`), under the same lock
/// and in one transaction, as [`apply_pending`] applies them. For tests and repairs by hand:
/// deployments only go forward.
pub async fn revert(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), SchemaError> {
    let txn = locked_transaction(db).await?;
    Migrator::down(&txn, steps).await?;
    txn.commit().await?;
    Ok(())
}

/// A transaction that alone may change the schema: it holds the migration advisory lock on
/// PostgreSQL, and SQLite's write lock (`BEGIN IMMEDIATE`).
async fn locked_transaction(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let txn = db.begin_with_options(options).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
        ))
        .await?;
    }
    Ok(txn)
}

/// Lists every migration this binary knows and whether it is applied, without changing
/// anything (a database that was never migrated has all of them pending).
pub async fn status(db: &impl ConnectionTrait) -> Result<Vec<MigrationState>, SchemaError> {
    let applied = applied_names(db).await?;
    let unknown: Vec<String> = applied
        .iter()
        .filter(|name| !Migrator::migrations().iter().any(|m| m.name() == *name))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(SchemaError::Ahead { unknown });
    }
    Ok(Migrator::migrations()
        .iter()
        .map(|m| MigrationState {
            name: m.name().to_owned(),
            applied: applied.iter().any(|name| name == m.name()),
        })
        .collect())
}

/// Succeeds when every migration this binary knows is applied, and no other.
pub async fn ensure_current(db: &impl ConnectionTrait) -> Result<(), SchemaError> {
    let pending: Vec<String> = status(db)
        .await?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| m.name)
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(SchemaError::Behind { pending })
    }
}

async fn pending_names(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_pending_migrations(db)
        .await?
        .into_iter()
        .filter(|m| m.status() == MigrationStatus::Pending)
        .map(|m| m.name().to_owned())
        .collect())
}

async fn applied_names(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    // The read-only listing never creates the bookkeeping table, so a status check works on
    // a database that was never migrated, and with a user that may not run DDL.
    let recorded = Migrator::get_migration_with_status_read_only(db).await;
    match recorded {
        Ok(migrations) => Ok(migrations
            .into_iter()
            .filter(|m| m.status() == MigrationStatus::Applied)
            .map(|m| m.name().to_owned())
            .collect()),
        // A migration recorded in the database but unknown here makes sea-orm-migration fail
        // the listing; read the raw records to say which.
        Err(DbErr::Custom(_)) => Ok(Migrator::get_migration_models(db)
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect()),
        Err(other) => Err(other),
    }
}
