//! `worker`: the `ingestor run` processes, as they announce themselves.
//!
//! Why: an operator could not tell which workers were running, since when, or whether one had
//! died: only the `worker_id` of the jobs each claimed (issue 14). Each worker now writes its
//! row when it starts, renews `heartbeat_at` every `heartbeat_every_ms`, and sets `stopped_at`
//! when it stops cleanly; a row whose heartbeat is late without a stop is a worker that was
//! lost (killed, or cut off from the database). Rows are pruned a week after their last
//! heartbeat.

use sea_orm_migration::prelude::*;

/// Creates `worker`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let at = |column: Worker| {
            ColumnDef::new(column)
                .timestamp_with_time_zone()
                .not_null()
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(Worker::Table)
                    .col(
                        ColumnDef::new(Worker::Id)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Worker::Host).string_len(255).not_null())
                    .col(ColumnDef::new(Worker::Pid).big_integer().not_null())
                    .col(ColumnDef::new(Worker::Version).string_len(64).not_null())
                    .col(ColumnDef::new(Worker::Concurrency).integer().not_null())
                    .col(ColumnDef::new(Worker::Schedules).boolean().not_null())
                    .col(
                        ColumnDef::new(Worker::HeartbeatEveryMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(at(Worker::StartedAt))
                    .col(at(Worker::HeartbeatAt))
                    .col(
                        ColumnDef::new(Worker::StoppedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("worker_heartbeat_at")
                    .table(Worker::Table)
                    .col(Worker::HeartbeatAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Worker::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Worker {
    Table,
    Id,
    Host,
    Pid,
    Version,
    Concurrency,
    Schedules,
    HeartbeatEveryMs,
    StartedAt,
    HeartbeatAt,
    StoppedAt,
}
