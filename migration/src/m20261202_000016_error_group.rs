//! `error_group`: failures grouped by provider, error kind and normalised message, counted by
//! the hour; and `job_outcome.error_group`, the group of each failed outcome.
//!
//! Why: a failing provider leaves hundreds of failed jobs whose messages differ only by an
//! address, a byte offset or a status code; an operator wants the handful of distinct
//! problems, how often each happened and when (issue 14). Grouping the outcomes at read time
//! would scan every failure of the range (millions at the deployment's size); this table is
//! kept as failures are recorded, in their transaction, one row per group and hour, so a
//! range reads `groups × hours` rows.
//!
//! - `fingerprint` is a hash of the error kind and the normalised message (the entity crate's
//!   `query::error_group::fingerprint`); the message is kept as normalised.
//! - `job_outcome.error_group` holds the fingerprint, so the jobs of a group can be listed and
//!   retried; indexed with the job id, like `error_kind`, so either filter reads newest first.
//! - Outcomes recorded before this migration have no group: their messages would need the
//!   normaliser, which lives in Rust, over every stored failure. Groups start empty.

use sea_orm_migration::prelude::*;

/// Creates `error_group`, and adds `job_outcome.error_group` with its indexes.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ErrorGroup::Table)
                    .col(
                        ColumnDef::new(ErrorGroup::ProviderId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ErrorGroup::Fingerprint)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ErrorGroup::Hour)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ErrorGroup::ErrorKind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ErrorGroup::Message).text().not_null())
                    .col(
                        ColumnDef::new(ErrorGroup::Failures)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ErrorGroup::FirstSeen)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ErrorGroup::LastSeen)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ErrorGroup::LastJobId)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ErrorGroup::ProviderId)
                            .col(ErrorGroup::Fingerprint)
                            .col(ErrorGroup::Hour),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ErrorGroup::Table, ErrorGroup::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("error_group_hour")
                    .table(ErrorGroup::Table)
                    .col(ErrorGroup::Hour)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(JobOutcome::Table)
                    .add_column(ColumnDef::new(JobOutcome::ErrorGroup).big_integer().null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("job_outcome_error_kind", JobOutcome::ErrorKind),
            ("job_outcome_error_group", JobOutcome::ErrorGroup),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(JobOutcome::Table)
                        .col(column)
                        .col(JobOutcome::JobId)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["job_outcome_error_kind", "job_outcome_error_group"] {
            manager
                .drop_index(Index::drop().name(name).table(JobOutcome::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(JobOutcome::Table)
                    .drop_column(JobOutcome::ErrorGroup)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ErrorGroup::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ErrorGroup {
    Table,
    ProviderId,
    Fingerprint,
    Hour,
    ErrorKind,
    Message,
    Failures,
    FirstSeen,
    LastSeen,
    LastJobId,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobOutcome {
    Table,
    JobId,
    ErrorKind,
    ErrorGroup,
}

#[derive(DeriveIden, Clone, Copy)]
enum Provider {
    Table,
    Id,
}
