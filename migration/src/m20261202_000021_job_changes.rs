//! What changed in a feed: `event.listed`, `job_outcome.stopped` and `job_change`.
//!
//! Why: a job said how many events it inserted, changed and left unchanged, but not which,
//! and nothing said which events a provider stopped listing (issue 15). A feed lists what is
//! on sale now, so an event that drops out of it is news for an operator.
//!
//! - `event.listed`: whether the provider's latest parsed feed carries the event. A changed
//!   feed sets it on what it carries and clears it on what it no longer does: those are the
//!   job's "stopped" events. Existing rows start unlisted, so the first feed after the upgrade
//!   lists what it carries and reports nothing stopped (what the previous feed carried is not
//!   known). `event_stage` gets the column too: it mirrors `event` (see its migration).
//! - `job_outcome.stopped`: how many events stopped appearing, beside the other counts.
//! - `job_change`: the ids of a job's events in each of the four kinds, the first few of each
//!   (the cap is the store's), as one JSON object. It is a table of its own so that lists of
//!   jobs and outcomes never read it; it goes with its job.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// Adds `event.listed`, `job_outcome.stopped` and `job_change`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Event::Table)
                    .add_column(
                        ColumnDef::new(Event::Listed)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE event_stage ADD COLUMN listed boolean NOT NULL")
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(JobOutcome::Table)
                    .add_column(
                        ColumnDef::new(JobOutcome::Stopped)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JobChange::Table)
                    .col(
                        ColumnDef::new(JobChange::JobId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(JobChange::Ids).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(JobChange::Table, JobChange::JobId)
                            .to(Job::Table, Job::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobChange::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(JobOutcome::Table)
                    .drop_column(JobOutcome::Stopped)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE event_stage DROP COLUMN listed")
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Event::Table)
                    .drop_column(Event::Listed)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Event {
    Table,
    Listed,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobOutcome {
    Table,
    Stopped,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobChange {
    Table,
    JobId,
    Ids,
}

#[derive(DeriveIden, Clone, Copy)]
enum Job {
    Table,
    Id,
}
