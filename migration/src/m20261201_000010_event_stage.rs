//! `event_stage`: where a collection stages the events it writes, on PostgreSQL.
//!
//! Why: a large write (a provider's first feed, or a feed whose every event changed) spent as
//! long in PostgreSQL decoding the statement's array parameters as in inserting the rows
//! (issue 13: a first 100k-event ingest at 0.74 × the speed of a plain `COPY`). Now the worker
//! sends the rows with `COPY ... FROM STDIN (FORMAT binary)` into this table before its
//! transaction begins, and the transaction moves them into `event` with one set-based insert
//! and one update, then deletes them.
//!
//! - Unlogged: staged rows are transient (a crash loses them, and nothing needs them after
//!   one), so they cost no write-ahead log.
//! - `event`'s columns (`LIKE event`: names, types, not-null), plus the job that staged them
//!   and whether each row is new or a change; no key, no default, no index but the job's. A
//!   column added to `event` must be added here in the same migration: the stage is written
//!   from `event`'s column list, and a missing column fails every large write loudly.
//! - SQLite, embedded and single-writer, keeps its multi-row upserts: nothing is created there.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// Creates `event_stage` (PostgreSQL only).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNLOGGED TABLE event_stage \
             (job_id bigint NOT NULL, is_new boolean NOT NULL, LIKE event)",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX event_stage_job ON event_stage (job_id)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE event_stage")
            .await?;
        Ok(())
    }
}
