//! `audit_log`: every action taken through the API's admin mutations.
//!
//! Why: operators trigger, retry and cancel jobs and change providers, and nothing recorded
//! who did what (issue 14). Each admin mutation adds one row when it ends: when, the token's
//! name (never the token), the action, what it acted on, and its result (`ok` or the error
//! code the client got, with the job it created or the client-safe message).
//!
//! Rows are kept for good (a few per operator action); `id` orders them.

use sea_orm_migration::prelude::*;

/// Creates `audit_log`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(
                        ColumnDef::new(AuditLog::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditLog::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditLog::Actor).string_len(100).not_null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::Target).text().not_null())
                    .col(ColumnDef::new(AuditLog::Result).string_len(32).not_null())
                    .col(ColumnDef::new(AuditLog::Detail).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    At,
    Actor,
    Action,
    Target,
    Result,
    Detail,
}
