//! `provider_health`: each provider's health, kept up to date as its jobs finish.
//!
//! Why: the monitoring page shows every provider's health (success rate and p95 duration over
//! its last 100 finished jobs, failures since the last success, the last success). Computed
//! from `job_outcome` per request, that read the last 100 outcomes of every provider with a
//! window function: 3.6–4.3 s per request at 2M jobs over 500 providers (issue 13), polled
//! every 3 s. Now each finished job updates its provider's row in the transaction that records
//! its outcome, and the page reads one row per provider.
//!
//! `recent` holds the last 100 finished jobs, newest first, as `c` (completed) or `f` (failed)
//! followed by the duration in milliseconds, comma-separated (`c120,f3050,c98`). Existing
//! outcomes are summed up here, provider by provider, with a copy of that format as it was
//! when this migration was written. An ingestor older than this migration, still finishing
//! jobs during a rolling deploy, leaves its providers' rows behind until their next job
//! finishes under the new one.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, TryGetable},
};

/// Creates `provider_health` and fills it from the stored outcomes.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// Finished jobs the summary keeps per provider.
const WINDOW: u64 = 100;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderHealth::Table)
                    .col(
                        ColumnDef::new(ProviderHealth::ProviderId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ProviderHealth::Recent)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(ProviderHealth::LastSuccessAt).timestamp_with_time_zone())
                    .col(
                        ColumnDef::new(ProviderHealth::LastFeedEmpty)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProviderHealth::Table, ProviderHealth::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let providers = db
            .query_all(
                &Query::select()
                    .column(Provider::Id)
                    .from(Provider::Table)
                    .to_owned(),
            )
            .await?;
        for row in providers {
            let provider = i64::try_get(&row, "", "id").map_err(DbErr::from)?;
            let recent = db
                .query_all(
                    &Query::select()
                        .columns([JobOutcome::Status, JobOutcome::DurationMs])
                        .from(JobOutcome::Table)
                        .and_where(Expr::col(JobOutcome::ProviderId).eq(provider))
                        .and_where(Expr::col(JobOutcome::FinishedAt).is_not_null())
                        .order_by(JobOutcome::FinishedAt, Order::Desc)
                        .order_by(JobOutcome::JobId, Order::Desc)
                        .limit(WINDOW)
                        .to_owned(),
                )
                .await?;
            let mut entries = Vec::with_capacity(recent.len());
            for outcome in &recent {
                let status = String::try_get(outcome, "", "status").map_err(DbErr::from)?;
                let duration =
                    Option::<i64>::try_get(outcome, "", "duration_ms").map_err(DbErr::from)?;
                entries.push(entry(&status, duration));
            }
            let completed = || {
                Query::select()
                    .from(JobOutcome::Table)
                    .and_where(Expr::col(JobOutcome::ProviderId).eq(provider))
                    .and_where(Expr::col(JobOutcome::Status).eq("completed"))
                    .and_where(Expr::col(JobOutcome::FinishedAt).is_not_null())
                    .order_by(JobOutcome::FinishedAt, Order::Desc)
                    .limit(1)
                    .to_owned()
            };
            let last_success = db
                .query_one(&completed().column(JobOutcome::FinishedAt).to_owned())
                .await?;
            let last_success_at = match last_success {
                Some(row) => Some(
                    chrono::DateTime::<chrono::Utc>::try_get(&row, "", "finished_at")
                        .map_err(DbErr::from)?,
                ),
                None => None,
            };
            let last_changed = db
                .query_one(
                    &completed()
                        .column(JobOutcome::EmptyFeed)
                        .and_where(Expr::col(JobOutcome::FeedUnchanged).eq(false))
                        .to_owned(),
                )
                .await?;
            let last_feed_empty = match last_changed {
                Some(row) => bool::try_get(&row, "", "empty_feed").map_err(DbErr::from)?,
                None => false,
            };
            db.execute(
                &Query::insert()
                    .into_table(ProviderHealth::Table)
                    .columns([
                        ProviderHealth::ProviderId,
                        ProviderHealth::Recent,
                        ProviderHealth::LastSuccessAt,
                        ProviderHealth::LastFeedEmpty,
                    ])
                    .values_panic([
                        provider.into(),
                        entries.join(",").into(),
                        last_success_at.into(),
                        last_feed_empty.into(),
                    ])
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProviderHealth::Table).to_owned())
            .await
    }
}

/// One finished job in `recent`: `c` or `f`, then its duration in milliseconds if known.
fn entry(status: &str, duration_ms: Option<i64>) -> String {
    let letter = if status == "completed" { 'c' } else { 'f' };
    match duration_ms {
        Some(ms) => format!("{letter}{ms}"),
        None => letter.to_string(),
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderHealth {
    Table,
    ProviderId,
    Recent,
    LastSuccessAt,
    LastFeedEmpty,
}

#[derive(DeriveIden, Clone, Copy)]
enum Provider {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobOutcome {
    Table,
    JobId,
    ProviderId,
    Status,
    FinishedAt,
    DurationMs,
    FeedUnchanged,
    EmptyFeed,
}
