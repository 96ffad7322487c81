//! Indexes for listing jobs by when they finished and by how long they took.
//!
//! Why: `jobs(orderBy: { field: FINISHED_AT | DURATION })` reads a page as a row comparison
//! `(value, id) > (cursor)` in the order of `(value, id)`; without an index each page sorts
//! every job (tens of millions after a month). Jobs without a value (not finished) are read
//! by `value IS NULL` in id order, which the same indexes answer.

use sea_orm_migration::prelude::*;

/// Creates `job_finished` on `job (finished_at, id)` and `job_outcome_duration` on
/// `job_outcome (duration_ms, job_id)`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("job_finished")
                    .table(Job::Table)
                    .col(Job::FinishedAt)
                    .col(Job::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("job_outcome_duration")
                    .table(JobOutcome::Table)
                    .col(JobOutcome::DurationMs)
                    .col(JobOutcome::JobId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("job_finished", Job::Table.into_iden()),
            ("job_outcome_duration", JobOutcome::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Job {
    Table,
    Id,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobOutcome {
    Table,
    JobId,
    DurationMs,
}
