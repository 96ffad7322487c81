//! Backoff and auto-pause: two thresholds on `provider`, and where each provider stands in
//! `provider_health`.
//!
//! Why: a provider that refuses connections got three fetches per tick forever, and nothing
//! changed until an operator noticed (issue 15). Now, after `backoff_after` consecutive failed
//! collections (default 3) the scheduler stretches the provider's interval, doubling it with
//! each further failure, and after `pause_after` (default 30) the provider is paused with its
//! reason; 0 turns either off. `provider_health` keeps the count (`failed_collections`, and the
//! collection last counted, so the retries of one tick count once), the end of the current
//! backoff, the ticks it skipped, and the pause. Existing providers start at zero failed
//! collections: the backoff begins with their next failures.

use sea_orm_migration::prelude::*;

/// Adds the thresholds to `provider` and the standing to `provider_health`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

fn provider_columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef::new(Provider::BackoffAfter)
            .integer()
            .not_null()
            .default(3)
            .to_owned(),
        ColumnDef::new(Provider::PauseAfter)
            .integer()
            .not_null()
            .default(30)
            .to_owned(),
    ]
}

fn health_columns() -> Vec<ColumnDef> {
    let at = |column: ProviderHealth| {
        ColumnDef::new(column)
            .timestamp_with_time_zone()
            .null()
            .to_owned()
    };
    vec![
        ColumnDef::new(ProviderHealth::FailedCollections)
            .integer()
            .not_null()
            .default(0)
            .to_owned(),
        at(ProviderHealth::LastFailedCollection),
        at(ProviderHealth::BackingOffUntil),
        ColumnDef::new(ProviderHealth::SkippedTicks)
            .big_integer()
            .not_null()
            .default(0)
            .to_owned(),
        at(ProviderHealth::LastSkippedTick),
        at(ProviderHealth::PausedAt),
        ColumnDef::new(ProviderHealth::PauseReason)
            .text()
            .null()
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in provider_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Provider::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in health_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(ProviderHealth::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Every scheduler pass (four a second) reads the providers backing off: a few rows
        // out of thousands, found by this index.
        manager
            .create_index(
                Index::create()
                    .name("provider_health_backing_off_until")
                    .table(ProviderHealth::Table)
                    .col(ProviderHealth::BackingOffUntil)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("provider_health_backing_off_until")
                    .table(ProviderHealth::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ProviderHealth::PauseReason,
            ProviderHealth::PausedAt,
            ProviderHealth::LastSkippedTick,
            ProviderHealth::SkippedTicks,
            ProviderHealth::BackingOffUntil,
            ProviderHealth::LastFailedCollection,
            ProviderHealth::FailedCollections,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ProviderHealth::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Provider::PauseAfter, Provider::BackoffAfter] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Provider::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Provider {
    Table,
    BackoffAfter,
    PauseAfter,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderHealth {
    Table,
    FailedCollections,
    LastFailedCollection,
    BackingOffUntil,
    SkippedTicks,
    LastSkippedTick,
    PausedAt,
    PauseReason,
}
