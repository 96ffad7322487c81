//! `job_outcome.empty_feed`: a well-formed feed that listed no events.
//!
//! Why: a provider whose feed suddenly lists nothing completes its job like any other, and
//! nothing else tells an operator (stored events are kept, as a feed lists only what is on
//! sale now). The flag lets health checks and the API show it. Existing rows get `false`:
//! what past runs saw is not known.
//!
//! One `ALTER TABLE ... ADD COLUMN` with a constant default works on both databases; the
//! column keeps its default, so rows written by an older ingestor during a rolling deploy are
//! valid too. `DROP COLUMN` needs SQLite 3.35 (the bundled one is newer).

use sea_orm_migration::prelude::*;

/// Adds `job_outcome.empty_feed` (boolean, not null, default false).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(JobOutcome::Table)
                    .add_column(
                        ColumnDef::new(JobOutcome::EmptyFeed)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(JobOutcome::Table)
                    .drop_column(JobOutcome::EmptyFeed)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum JobOutcome {
    Table,
    EmptyFeed,
}
