//! `event.title_folded`: the title folded for search (lowercase, accents dropped).
//!
//! Why: `events(filter: { titleContains })` matches titles without case or accents ("opera"
//! finds "Ópera"), and `orderBy: TITLE` orders them the same way. Neither database can fold
//! like that on its own (PostgreSQL's `unaccent` is an extension, SQLite has nothing), so the
//! writers store the folded title beside the title, the SQL search reads it, and the API's
//! index reads it instead of folding every title per search.
//!
//! Existing rows are folded here, in pages of events by id. The fold is a copy of
//! `entity::search::fold` as it was when this migration was written: a migration must keep
//! doing what it did when it shipped, whatever the code becomes. An ingestor older than this
//! migration, still writing during a rolling deploy, leaves new rows with `''`; the next
//! change of such an event writes the folded title.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement, TryGetable, prelude::Uuid},
};
use unicode_normalization::{UnicodeNormalization as _, char::is_combining_mark};

/// Adds `event.title_folded` (text, not null) and folds every stored title into it.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// Events folded per page.
const PAGE: u64 = 5_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Event::Table)
                    .add_column(
                        ColumnDef::new(Event::TitleFolded)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let mut after: Option<Uuid> = None;
        loop {
            let mut page = Query::select()
                .columns([Event::Id, Event::Title])
                .from(Event::Table)
                .order_by(Event::Id, Order::Asc)
                .limit(PAGE)
                .to_owned();
            if let Some(after) = after {
                page.and_where(Expr::col(Event::Id).gt(after));
            }
            let rows = db.query_all(&page).await?;
            let mut ids = Vec::with_capacity(rows.len());
            let mut folded = Vec::with_capacity(rows.len());
            for row in &rows {
                ids.push(Uuid::try_get(row, "", "id").map_err(DbErr::from)?);
                folded.push(fold(
                    &String::try_get(row, "", "title").map_err(DbErr::from)?,
                ));
            }
            match backend {
                DbBackend::Postgres if !ids.is_empty() => {
                    db.execute_raw(Statement::from_sql_and_values(
                        backend,
                        "UPDATE event SET title_folded = u.folded \
                         FROM UNNEST($1::uuid[], $2::text[]) AS u(id, folded) \
                         WHERE event.id = u.id",
                        [ids.clone().into(), folded.into()],
                    ))
                    .await?;
                }
                _ => {
                    for (id, folded) in ids.iter().zip(folded) {
                        let update = Query::update()
                            .table(Event::Table)
                            .value(Event::TitleFolded, folded)
                            .and_where(Expr::col(Event::Id).eq(*id))
                            .to_owned();
                        db.execute(&update).await?;
                    }
                }
            }
            after = ids.last().copied();
            if (rows.len() as u64) < PAGE {
                return Ok(());
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Event::Table)
                    .drop_column(Event::TitleFolded)
                    .to_owned(),
            )
            .await
    }
}

/// Lowercase, with combining marks removed after canonical decomposition ("Ópera" → "opera");
/// an ASCII text is only lowercased. (`entity::search::fold` when this migration shipped.)
fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(DeriveIden, Clone, Copy)]
enum Event {
    Table,
    Id,
    Title,
    TitleFolded,
}
