//! The first schema: providers, jobs and their outcomes, events and their zones, and the
//! catalogue version the search index follows.
//!
//! Written once for PostgreSQL and SQLite. The traps this avoids (see DESIGN.md):
//! - prices are integer cents (`BIGINT`), never `DECIMAL`, which SQLite turns into a float;
//! - timestamps have no database default: every one is written from Rust in UTC, so the text
//!   SQLite stores always has one format and compares correctly as a string;
//! - every foreign key is declared in `CREATE TABLE`, as SQLite cannot add one later;
//! - the partial unique index is written in SQL both databases accept, as the query builder
//!   has no `WHERE` for indexes.

use sea_orm_migration::prelude::*;

/// Creates every table of the data model.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(provider_table()).await?;
        manager.create_table(job_table()).await?;
        manager.create_table(job_outcome_table()).await?;
        manager.create_table(event_table()).await?;
        manager.create_table(zone_table()).await?;
        manager.create_table(catalog_version_table()).await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
        let db = manager.get_connection();
        // At most one pending or running job per provider. Both PostgreSQL and SQLite (3.8+)
        // have partial indexes with this exact syntax.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX job_one_active_per_provider ON job (provider_id) \
             WHERE state IN ('pending', 'running')",
        )
        .await?;
        // The rescuer scans running jobs by lease expiry; no other state needs it.
        db.execute_unprepared(
            "CREATE INDEX job_running_lease ON job (lease_expires_at) WHERE state = 'running'",
        )
        .await?;
        // Search reads only events that were ever online.
        db.execute_unprepared(
            "CREATE INDEX event_searchable_start ON event (starts_at, ends_at) \
             WHERE ever_online",
        )
        .await?;
        let insert = Query::insert()
            .into_table(CatalogVersion::Table)
            .columns([
                CatalogVersion::Id,
                CatalogVersion::Version,
                CatalogVersion::UpdatedAt,
            ])
            .values_panic([1.into(), 0i64.into(), now().into()])
            .to_owned();
        manager.exec_stmt(insert).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so foreign keys never block a drop.
        for table in [
            CatalogVersion::Table.into_iden(),
            Zone::Table.into_iden(),
            Event::Table.into_iden(),
            JobOutcome::Table.into_iden(),
            Job::Table.into_iden(),
            Provider::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The current instant, truncated to microseconds as PostgreSQL keeps it.
fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// A `bigint` identity key (`integer primary key autoincrement` on SQLite).
fn id_column<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

fn instant<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

fn optional_instant<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

/// A text column restricted to the given values (the string form of a Rust enum).
fn one_of<T: IntoIden + Copy + 'static>(name: T, values: &[&str]) -> ColumnDef {
    ColumnDef::new(name)
        .string_len(16)
        .not_null()
        .check(Expr::col(name).is_in(values.iter().copied()))
        .take()
}

fn counter<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().take()
}

fn provider_table() -> TableCreateStatement {
    Table::create()
        .table(Provider::Table)
        .col(id_column(Provider::Id))
        .col(
            ColumnDef::new(Provider::Name)
                .string_len(100)
                .not_null()
                .unique_key(),
        )
        .col(ColumnDef::new(Provider::Kind).string_len(32).not_null())
        .col(ColumnDef::new(Provider::Url).text().not_null())
        .col(
            ColumnDef::new(Provider::Schedule)
                .string_len(200)
                .not_null(),
        )
        .col(ColumnDef::new(Provider::Enabled).boolean().not_null())
        .col(ColumnDef::new(Provider::TimeZone).string_len(64).not_null())
        .col(
            ColumnDef::new(Provider::ConnectTimeoutMs)
                .integer()
                .not_null(),
        )
        .col(ColumnDef::new(Provider::ReadTimeoutMs).integer().not_null())
        .col(
            ColumnDef::new(Provider::TotalTimeoutMs)
                .integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Provider::MaxBodyBytes)
                .big_integer()
                .not_null(),
        )
        .col(ColumnDef::new(Provider::MaxAttempts).integer().not_null())
        .col(
            ColumnDef::new(Provider::RetryBaseDelayMs)
                .integer()
                .not_null(),
        )
        .col(ColumnDef::new(Provider::Etag).text().null())
        .col(ColumnDef::new(Provider::LastModified).text().null())
        .col(ColumnDef::new(Provider::BodyHash).string_len(64).null())
        .col(instant(Provider::CreatedAt))
        .col(instant(Provider::UpdatedAt))
        .to_owned()
}

fn job_table() -> TableCreateStatement {
    Table::create()
        .table(Job::Table)
        .col(id_column(Job::Id))
        .col(ColumnDef::new(Job::ProviderId).big_integer().not_null())
        .col(one_of(
            Job::State,
            &["pending", "running", "completed", "failed"],
        ))
        .col(one_of(Job::Trigger, &["schedule", "manual", "retry"]))
        .col(optional_instant(Job::Tick))
        .col(instant(Job::ScheduledFor))
        .col(ColumnDef::new(Job::Attempt).integer().not_null())
        .col(ColumnDef::new(Job::RetryOf).big_integer().null())
        .col(instant(Job::RunAt))
        .col(optional_instant(Job::StartedAt))
        .col(optional_instant(Job::FinishedAt))
        .col(ColumnDef::new(Job::WorkerId).string_len(128).null())
        .col(ColumnDef::new(Job::LeaseToken).uuid().null())
        .col(optional_instant(Job::LeaseExpiresAt))
        .col(optional_instant(Job::HeartbeatAt))
        .col(instant(Job::CreatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("job_provider_fk")
                .from(Job::Table, Job::ProviderId)
                .to(Provider::Table, Provider::Id)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .foreign_key(
            ForeignKey::create()
                .name("job_retry_of_fk")
                .from(Job::Table, Job::RetryOf)
                .to(Job::Table, Job::Id)
                .on_delete(ForeignKeyAction::SetNull),
        )
        .to_owned()
}

fn job_outcome_table() -> TableCreateStatement {
    Table::create()
        .table(JobOutcome::Table)
        .col(
            ColumnDef::new(JobOutcome::JobId)
                .big_integer()
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(JobOutcome::ProviderId)
                .big_integer()
                .not_null(),
        )
        .col(one_of(
            JobOutcome::Status,
            &["pending", "running", "completed", "failed"],
        ))
        .col(instant(JobOutcome::CreatedAt))
        .col(optional_instant(JobOutcome::ProcessedAt))
        .col(optional_instant(JobOutcome::FinishedAt))
        .col(ColumnDef::new(JobOutcome::DurationMs).big_integer().null())
        .col(ColumnDef::new(JobOutcome::ErrorKind).string_len(32).null())
        .col(ColumnDef::new(JobOutcome::ErrorMessage).text().null())
        .col(ColumnDef::new(JobOutcome::HttpStatus).integer().null())
        .col(ColumnDef::new(JobOutcome::Bytes).big_integer().null())
        .col(optional_instant(JobOutcome::RetryAfter))
        .col(
            ColumnDef::new(JobOutcome::FeedUnchanged)
                .boolean()
                .not_null(),
        )
        .col(counter(JobOutcome::Seen))
        .col(counter(JobOutcome::Inserted))
        .col(counter(JobOutcome::Updated))
        .col(counter(JobOutcome::Unchanged))
        .col(counter(JobOutcome::Rejected))
        .col(ColumnDef::new(JobOutcome::Rejections).json_binary().null())
        .foreign_key(
            ForeignKey::create()
                .name("job_outcome_job_fk")
                .from(JobOutcome::Table, JobOutcome::JobId)
                .to(Job::Table, Job::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name("job_outcome_provider_fk")
                .from(JobOutcome::Table, JobOutcome::ProviderId)
                .to(Provider::Table, Provider::Id)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

fn event_table() -> TableCreateStatement {
    Table::create()
        .table(Event::Table)
        .col(ColumnDef::new(Event::Id).uuid().not_null().primary_key())
        .col(ColumnDef::new(Event::ProviderId).big_integer().not_null())
        .col(ColumnDef::new(Event::BaseEventId).string_len(64).not_null())
        .col(ColumnDef::new(Event::EventId).string_len(64).not_null())
        .col(ColumnDef::new(Event::Title).text().not_null())
        .col(ColumnDef::new(Event::SellMode).string_len(32).not_null())
        .col(
            ColumnDef::new(Event::OrganizerCompanyId)
                .string_len(64)
                .null(),
        )
        .col(ColumnDef::new(Event::EverOnline).boolean().not_null())
        .col(ColumnDef::new(Event::StartsLocal).date_time().not_null())
        .col(ColumnDef::new(Event::EndsLocal).date_time().not_null())
        .col(instant(Event::StartsAt))
        .col(instant(Event::EndsAt))
        .col(optional_instant(Event::SellFrom))
        .col(optional_instant(Event::SellTo))
        .col(ColumnDef::new(Event::SoldOut).boolean().not_null())
        .col(ColumnDef::new(Event::MinPriceCents).big_integer().null())
        .col(ColumnDef::new(Event::MaxPriceCents).big_integer().null())
        .col(ColumnDef::new(Event::ContentHash).big_integer().not_null())
        .col(instant(Event::FirstSeenAt))
        .col(instant(Event::LastSeenAt))
        .col(instant(Event::UpdatedAt))
        .col(
            ColumnDef::new(Event::CatalogVersion)
                .big_integer()
                .not_null(),
        )
        .foreign_key(
            ForeignKey::create()
                .name("event_provider_fk")
                .from(Event::Table, Event::ProviderId)
                .to(Provider::Table, Provider::Id)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

pub(crate) fn zone_table() -> TableCreateStatement {
    Table::create()
        .table(Zone::Table)
        .col(ColumnDef::new(Zone::EventId).uuid().not_null())
        .col(ColumnDef::new(Zone::Position).integer().not_null())
        .col(ColumnDef::new(Zone::ZoneId).string_len(64).not_null())
        .col(ColumnDef::new(Zone::Name).text().not_null())
        .col(ColumnDef::new(Zone::Capacity).integer().not_null())
        .col(ColumnDef::new(Zone::PriceCents).big_integer().not_null())
        .col(ColumnDef::new(Zone::Numbered).boolean().not_null())
        .primary_key(Index::create().col(Zone::EventId).col(Zone::Position))
        .foreign_key(
            ForeignKey::create()
                .name("zone_event_fk")
                .from(Zone::Table, Zone::EventId)
                .to(Event::Table, Event::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

fn catalog_version_table() -> TableCreateStatement {
    Table::create()
        .table(CatalogVersion::Table)
        .col(
            ColumnDef::new(CatalogVersion::Id)
                .integer()
                .not_null()
                .primary_key()
                .check(Expr::col(CatalogVersion::Id).eq(1)),
        )
        .col(
            ColumnDef::new(CatalogVersion::Version)
                .big_integer()
                .not_null(),
        )
        .col(instant(CatalogVersion::UpdatedAt))
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        // One job per provider and cron tick, whatever the number of schedulers. Manual and
        // retry jobs have no tick; NULLs are distinct in both databases.
        Index::create()
            .name("job_one_per_tick")
            .table(Job::Table)
            .col(Job::ProviderId)
            .col(Job::Tick)
            .unique()
            .to_owned(),
        // The claim: the oldest due pending job.
        Index::create()
            .name("job_claim")
            .table(Job::Table)
            .col(Job::State)
            .col(Job::RunAt)
            .to_owned(),
        // Monitoring: a provider's jobs, newest first; and every job in a time range.
        Index::create()
            .name("job_provider_created")
            .table(Job::Table)
            .col(Job::ProviderId)
            .col(Job::CreatedAt)
            .to_owned(),
        Index::create()
            .name("job_created")
            .table(Job::Table)
            .col(Job::CreatedAt)
            .to_owned(),
        Index::create()
            .name("job_retry_of")
            .table(Job::Table)
            .col(Job::RetryOf)
            .to_owned(),
        Index::create()
            .name("job_outcome_provider_finished")
            .table(JobOutcome::Table)
            .col(JobOutcome::ProviderId)
            .col(JobOutcome::FinishedAt)
            .to_owned(),
        Index::create()
            .name("job_outcome_status_finished")
            .table(JobOutcome::Table)
            .col(JobOutcome::Status)
            .col(JobOutcome::FinishedAt)
            .to_owned(),
        // An event's identity: event ids repeat across base events, so the key is the triple.
        Index::create()
            .name("event_identity")
            .table(Event::Table)
            .col(Event::ProviderId)
            .col(Event::BaseEventId)
            .col(Event::EventId)
            .unique()
            .to_owned(),
        // The search index loads what changed since the version it holds.
        Index::create()
            .name("event_catalog_version")
            .table(Event::Table)
            .col(Event::CatalogVersion)
            .to_owned(),
    ]
}

#[derive(DeriveIden, Clone, Copy)]
enum Provider {
    Table,
    Id,
    Name,
    Kind,
    Url,
    Schedule,
    Enabled,
    TimeZone,
    ConnectTimeoutMs,
    ReadTimeoutMs,
    TotalTimeoutMs,
    MaxBodyBytes,
    MaxAttempts,
    RetryBaseDelayMs,
    Etag,
    LastModified,
    BodyHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Job {
    Table,
    Id,
    ProviderId,
    State,
    Trigger,
    Tick,
    ScheduledFor,
    Attempt,
    RetryOf,
    RunAt,
    StartedAt,
    FinishedAt,
    WorkerId,
    LeaseToken,
    LeaseExpiresAt,
    HeartbeatAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobOutcome {
    Table,
    JobId,
    ProviderId,
    Status,
    CreatedAt,
    ProcessedAt,
    FinishedAt,
    DurationMs,
    ErrorKind,
    ErrorMessage,
    HttpStatus,
    Bytes,
    RetryAfter,
    FeedUnchanged,
    Seen,
    Inserted,
    Updated,
    Unchanged,
    Rejected,
    Rejections,
}

// Column names mirror the feed (`event_id` in `event`, `zone_id` in `zone`).
#[expect(
    clippy::enum_variant_names,
    reason = "the columns are named as the feed names them"
)]
#[derive(DeriveIden, Clone, Copy)]
enum Event {
    Table,
    Id,
    ProviderId,
    BaseEventId,
    EventId,
    Title,
    SellMode,
    OrganizerCompanyId,
    EverOnline,
    StartsLocal,
    EndsLocal,
    StartsAt,
    EndsAt,
    SellFrom,
    SellTo,
    SoldOut,
    MinPriceCents,
    MaxPriceCents,
    ContentHash,
    FirstSeenAt,
    LastSeenAt,
    UpdatedAt,
    CatalogVersion,
}

#[expect(
    clippy::enum_variant_names,
    reason = "the columns are named as the feed names them"
)]
#[derive(DeriveIden, Clone, Copy)]
enum Zone {
    Table,
    EventId,
    Position,
    ZoneId,
    Name,
    Capacity,
    PriceCents,
    Numbered,
}

#[derive(DeriveIden, Clone, Copy)]
enum CatalogVersion {
    Table,
    Id,
    Version,
    UpdatedAt,
}
