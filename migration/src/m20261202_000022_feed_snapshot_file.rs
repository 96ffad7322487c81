//! `feed_snapshot.file`: a kept feed body may live in a directory instead of the database.
//!
//! Why: issue 15 keeps every parsed body, by default in the database; a deployment that would
//! rather not grow its database with them (or back them up with it) gives the ingestor and the
//! API a directory (`--snapshot-dir`). The row stays, with the sizes that retention and the
//! size cap sum, and names the file (`<job id>.zst`, relative to the directory, so the
//! directory may move); its `body` is then empty. Existing rows keep their bodies.

use sea_orm_migration::prelude::*;

/// Adds `feed_snapshot.file`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FeedSnapshot::Table)
                    .add_column(ColumnDef::new(FeedSnapshot::File).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Bodies kept as files cannot come back into rows here: their rows go.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM feed_snapshot WHERE file IS NOT NULL")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FeedSnapshot::Table)
                    .drop_column(FeedSnapshot::File)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum FeedSnapshot {
    Table,
    File,
}
