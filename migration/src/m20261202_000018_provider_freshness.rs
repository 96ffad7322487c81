//! `provider.freshness_ms`: how old a provider's last successful collection may get before it
//! is overdue.
//!
//! Why: a provider that keeps failing, or that nothing collects any more (no worker runs, its
//! ticks are skipped), looks the same as a healthy one until someone reads its last success
//! (issue 15). With an expected freshness, `Health.overdue` and the `provider_overdue` metric
//! say it, and an alert can fire. Null (every existing provider) means the default: three
//! intervals of its schedule.

use sea_orm_migration::prelude::*;

/// Adds `provider.freshness_ms` (bigint, null).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Provider::Table)
                    .add_column(ColumnDef::new(Provider::FreshnessMs).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Provider::Table)
                    .drop_column(Provider::FreshnessMs)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Provider {
    Table,
    FreshnessMs,
}
