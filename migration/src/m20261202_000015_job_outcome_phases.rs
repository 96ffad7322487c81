//! `job_outcome.fetch_ms`, `parse_ms` and `store_ms`: where a job's time went.
//!
//! Why: `duration_ms` says how long a job took, not why. A slow provider, a feed that is slow
//! to parse and a store held up by the database look the same in it, and each asks for a
//! different fix. Existing rows keep nulls: what their phases took is not known.
//!
//! Nullable columns added by `ALTER TABLE ... ADD COLUMN` work on both databases, and rows
//! written by an older ingestor during a rolling deploy are valid too.

use sea_orm_migration::prelude::*;

/// Adds the three phase timings of `job_outcome` (bigint, null).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const PHASES: [JobOutcome; 3] = [
    JobOutcome::FetchMs,
    JobOutcome::ParseMs,
    JobOutcome::StoreMs,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for phase in PHASES {
            manager
                .alter_table(
                    Table::alter()
                        .table(JobOutcome::Table)
                        .add_column(ColumnDef::new(phase).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for phase in PHASES {
            manager
                .alter_table(
                    Table::alter()
                        .table(JobOutcome::Table)
                        .drop_column(phase)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum JobOutcome {
    Table,
    FetchMs,
    ParseMs,
    StoreMs,
}
