//! `job_tally`: every finished job, counted for good, by provider, status, error kind and
//! duration bucket.
//!
//! Why: `/metrics` had job counts by state (which retention lowers as it prunes) and nothing
//! that only grows, so no rate of finished or failed jobs and no job-duration histogram could
//! be drawn or alerted on (issue 14). This table is the counter behind
//! `jobs_finished_total{provider,status,error_kind}` and `job_duration_seconds{provider}`:
//! each finished job adds one to its row (and its duration to the row's sum) in the transaction
//! that records its outcome, and nothing prunes it. It holds a few rows per provider (its
//! statuses, error kinds and the buckets its durations fell in), however many jobs it ran.
//!
//! - `error_kind` is `''` for a completed job (a key column cannot be null on PostgreSQL).
//! - `bucket` is the index of the first bound of [`BOUNDS_MS`] at or above the duration, or
//!   the bound count for longer jobs (`+Inf`); a copy of the bounds as they were when this
//!   migration was written, which the entity crate's copy must equal (a test checks it).
//! - The jobs retention kept are counted here once: the totals start with them.

use sea_orm_migration::prelude::*;

/// Creates `job_tally` and counts the finished jobs kept.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The histogram's upper bounds, in milliseconds.
pub const BOUNDS_MS: [i64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000,
];

/// `CASE` expression giving the bucket of `duration_ms`.
fn bucket_of(column: &str) -> String {
    let mut case = String::from("CASE");
    for (i, bound) in BOUNDS_MS.iter().enumerate() {
        case.push_str(&format!(" WHEN {column} <= {bound} THEN {i}"));
    }
    case.push_str(&format!(" ELSE {} END", BOUNDS_MS.len()));
    case
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobTally::Table)
                    .col(
                        ColumnDef::new(JobTally::ProviderId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(JobTally::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(JobTally::ErrorKind)
                            .string_len(32)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(JobTally::Bucket).small_integer().not_null())
                    .col(
                        ColumnDef::new(JobTally::Jobs)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(JobTally::DurationMs)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(JobTally::ProviderId)
                            .col(JobTally::Status)
                            .col(JobTally::ErrorKind)
                            .col(JobTally::Bucket),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(JobTally::Table, JobTally::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let duration = "COALESCE(duration_ms, 0)";
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO job_tally (provider_id, status, error_kind, bucket, jobs, duration_ms) \
                 SELECT provider_id, status, COALESCE(error_kind, ''), {bucket}, COUNT(*), \
                        SUM({duration}) \
                 FROM job_outcome WHERE finished_at IS NOT NULL \
                 GROUP BY provider_id, status, COALESCE(error_kind, ''), {bucket}",
                bucket = bucket_of(duration)
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobTally::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum JobTally {
    Table,
    ProviderId,
    Status,
    ErrorKind,
    Bucket,
    Jobs,
    DurationMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum Provider {
    Table,
    Id,
}
