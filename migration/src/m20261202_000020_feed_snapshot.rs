//! `feed_snapshot`: the raw body of each feed a job parsed, compressed; and `job.replay_of`,
//! the job whose body a replay job parsed.
//!
//! Why: when a parser bug was fixed, a past collection could not be run again on the body it
//! fetched: the provider had to be asked again, and its old snapshot was gone for good (issue
//! 15). Now every body the parser read (a changed feed: a 304 or an identical body keeps
//! nothing) is kept with its job, zstd-compressed, and `ingestor replay JOB_ID` or
//! `replayJob(id)` runs a new job (trigger `replay`) on it without contacting the provider.
//!
//! - `job_id` is the key, and a foreign key: a snapshot goes with its job when retention
//!   prunes the job. Snapshots have their own, shorter retention (days) and a total size cap,
//!   oldest dropped first: `created_at` is indexed for both.
//! - `raw_bytes` is the body's size as the parser read it, `body` its zstd frame, whose size
//!   is `stored_bytes` (kept so the cap is a sum over one column).
//! - `job.replay_of` is not a key: the replayed job may be pruned before its replay.
//! - `job.trigger` takes a fourth value, `replay`. Its check is replaced on PostgreSQL. SQLite
//!   cannot alter a check, and rebuilding `job` (dropping it would cascade to every outcome)
//!   is not an option: its stored definition is widened in place, the procedure SQLite's
//!   documentation gives for loosening a CHECK (existing rows satisfy the wider one).

use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};

/// The trigger check before and after, as both databases store it.
const TRIGGERS_BEFORE: &str = "'schedule', 'manual', 'retry')";
const TRIGGERS_AFTER: &str = "'schedule', 'manual', 'retry', 'replay')";

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Replaces `job`'s trigger check with `triggers` (the values' list, closing parenthesis
/// included).
async fn set_trigger_check(manager: &SchemaManager<'_>, from: &str, to: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            db.execute_unprepared(&format!(
                "ALTER TABLE job DROP CONSTRAINT job_trigger_check, \
                 ADD CONSTRAINT job_trigger_check CHECK (\"trigger\" IN ({to})"
            ))
            .await?;
        }
        _ => {
            let version: i64 = db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    "PRAGMA schema_version",
                ))
                .await?
                .ok_or_else(|| DbErr::Migration("no schema_version".to_owned()))?
                .try_get_by_index(0)?;
            db.execute_unprepared("PRAGMA writable_schema = ON").await?;
            let changed = db
                .execute_unprepared(&format!(
                    "UPDATE sqlite_master SET sql = replace(sql, {from}, {to}) \
                     WHERE type = 'table' AND name = 'job' AND instr(sql, {from}) > 0",
                    from = literal(from),
                    to = literal(to),
                ))
                .await?
                .rows_affected();
            db.execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1))
                .await?;
            db.execute_unprepared("PRAGMA writable_schema = OFF")
                .await?;
            if changed != 1 {
                return Err(DbErr::Migration(format!(
                    "job's trigger check was not found as `{from}`"
                )));
            }
        }
    }
    Ok(())
}

/// Creates `feed_snapshot` and adds `job.replay_of`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FeedSnapshot::Table)
                    .col(
                        ColumnDef::new(FeedSnapshot::JobId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(FeedSnapshot::ProviderId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FeedSnapshot::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FeedSnapshot::RawBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FeedSnapshot::StoredBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FeedSnapshot::Body).blob().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(FeedSnapshot::Table, FeedSnapshot::JobId)
                            .to(Job::Table, Job::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("feed_snapshot_created_at")
                    .table(FeedSnapshot::Table)
                    .col(FeedSnapshot::CreatedAt)
                    .col(FeedSnapshot::JobId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Job::Table)
                    .add_column(ColumnDef::new(Job::ReplayOf).big_integer().null())
                    .to_owned(),
            )
            .await?;
        set_trigger_check(manager, TRIGGERS_BEFORE, TRIGGERS_AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM job WHERE \"trigger\" = 'replay'")
            .await?;
        set_trigger_check(manager, TRIGGERS_AFTER, TRIGGERS_BEFORE).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Job::Table)
                    .drop_column(Job::ReplayOf)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(FeedSnapshot::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum FeedSnapshot {
    Table,
    JobId,
    ProviderId,
    CreatedAt,
    RawBytes,
    StoredBytes,
    Body,
}

#[derive(DeriveIden, Clone, Copy)]
enum Job {
    Table,
    Id,
    ReplayOf,
}
