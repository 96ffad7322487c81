//! `provider_health` also keeps each provider's last finished job and its last error.
//!
//! Why: the monitoring page's provider row showed the state of the newest job as the last run,
//! so a provider that never succeeded read "pending" (its queued retry), and nothing on the row
//! said why it fails (issue 14). Now the summary row, updated in the transaction that records
//! each outcome, also holds the last finished job (`last_finished_job_id`, `last_finished_at`)
//! and the last failed one with its error (`last_error_*`), so a row of the page still costs one
//! read per provider.
//!
//! The job ids are not foreign keys: retention prunes old jobs, and the last error of a
//! provider that has not failed for a month is worth keeping after its job is gone.
//!
//! Existing rows are filled from the stored outcomes with one statement per column group
//! (correlated subqueries both databases run); a provider with many outcomes and no failure
//! reads its outcomes once through `job_outcome (provider_id, finished_at)`.

use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};

/// Adds the last finished job and the last error to `provider_health`, and fills them.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The columns added, in order.
fn columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef::new(ProviderHealth::LastFinishedJobId)
            .big_integer()
            .null()
            .to_owned(),
        ColumnDef::new(ProviderHealth::LastFinishedAt)
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new(ProviderHealth::LastErrorJobId)
            .big_integer()
            .null()
            .to_owned(),
        ColumnDef::new(ProviderHealth::LastErrorAt)
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new(ProviderHealth::LastErrorKind)
            .string_len(32)
            .null()
            .to_owned(),
        ColumnDef::new(ProviderHealth::LastErrorMessage)
            .text()
            .null()
            .to_owned(),
    ]
}

/// Fills the new columns from `job_outcome`: the newest finished outcome of each provider, then
/// its newest failed one (ties on the instant go to the higher job id, as the live updates'
/// commit order would).
const FILL: [&str; 2] = [
    "UPDATE provider_health SET
        last_finished_job_id = (SELECT o.job_id FROM job_outcome o
            WHERE o.provider_id = provider_health.provider_id AND o.finished_at IS NOT NULL
            ORDER BY o.finished_at DESC, o.job_id DESC LIMIT 1),
        last_error_job_id = (SELECT o.job_id FROM job_outcome o
            WHERE o.provider_id = provider_health.provider_id AND o.finished_at IS NOT NULL
              AND o.status = 'failed'
            ORDER BY o.finished_at DESC, o.job_id DESC LIMIT 1)",
    "UPDATE provider_health SET
        last_finished_at = (SELECT o.finished_at FROM job_outcome o
            WHERE o.job_id = provider_health.last_finished_job_id),
        last_error_at = (SELECT o.finished_at FROM job_outcome o
            WHERE o.job_id = provider_health.last_error_job_id),
        last_error_kind = (SELECT o.error_kind FROM job_outcome o
            WHERE o.job_id = provider_health.last_error_job_id),
        last_error_message = (SELECT o.error_message FROM job_outcome o
            WHERE o.job_id = provider_health.last_error_job_id)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(ProviderHealth::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        for sql in FILL {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ProviderHealth::LastErrorMessage,
            ProviderHealth::LastErrorKind,
            ProviderHealth::LastErrorAt,
            ProviderHealth::LastErrorJobId,
            ProviderHealth::LastFinishedAt,
            ProviderHealth::LastFinishedJobId,
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
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderHealth {
    Table,
    LastFinishedJobId,
    LastFinishedAt,
    LastErrorJobId,
    LastErrorAt,
    LastErrorKind,
    LastErrorMessage,
}
