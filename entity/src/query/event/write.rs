//! The writes of a collected feed: new and changed events in batches, and "seen again".
//!
//! Every statement is built from the entity's own column list (`Column::iter()`) and two
//! exhaustive matches: [`rewrite`] says which columns a changed record rewrites, [`pg_value`]
//! and [`sqlite_value`] say what each column is written from. A column added to the table
//! does not compile until both say how it is written.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable, QueryFilter,
    Statement, Value,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SimpleExpr},
};

use super::ID_BATCH;
use crate::{
    EventId, ProviderId,
    event::{Column, Entity},
    record::EventRecord,
    search::fold,
};

/// An event to insert or update, with what the store computed about it.
#[derive(Debug, Clone, Copy)]
pub struct EventWrite<'a> {
    /// Its id.
    pub id: EventId,
    /// The record.
    pub record: &'a EventRecord,
    /// `record.content_hash()`.
    pub content_hash: i64,
}

/// What a feed that carries a stored event again with other content does to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    /// Kept: the identity and the first sighting.
    Keep,
    /// Replaced by the record's value.
    Replace,
    /// Turned on, never off (`ever_online`).
    Sticky,
}

fn rewrite(column: Column) -> Rewrite {
    use Column as C;
    match column {
        C::Id | C::ProviderId | C::BaseEventId | C::EventId | C::FirstSeenAt => Rewrite::Keep,
        C::EverOnline => Rewrite::Sticky,
        C::Title
        | C::TitleFolded
        | C::SellMode
        | C::OrganizerCompanyId
        | C::StartsLocal
        | C::EndsLocal
        | C::StartsAt
        | C::EndsAt
        | C::SellFrom
        | C::SellTo
        | C::SoldOut
        | C::MinPriceCents
        | C::MaxPriceCents
        | C::ContentHash
        | C::LastSeenAt
        | C::UpdatedAt
        | C::CatalogVersion
        | C::Zones => Rewrite::Replace,
    }
}

/// Rows per statement on PostgreSQL: large enough to amortise the round trip, small enough
/// to keep each statement's memory modest. A statement's bound arrays cost about 3.5 KB a row
/// in this process (each value boxed, then encoded): 25 000 rows added ~90 MiB to the peak of
/// a large collection, on top of its records; 5 000 add a fifth of that, and wrote 300 000
/// rows no slower (6.0 s against 7.4 s, one run each; see `docs/benchmarks.md`).
const UNNEST_BATCH: usize = 5_000;

/// Events per multi-row statement on SQLite: 24 parameters each stays under its limit of
/// 32 766.
const SQLITE_BATCH: usize = 1_000;

/// Writes events a feed brought: `new` ones (not stored yet) are inserted, `changed` ones
/// (stored with another content hash) rewritten with the latest values. `ever_online` is
/// only ever set, never cleared; `first_seen_at` keeps its first value. No triple may repeat.
///
/// On PostgreSQL each batch is one statement over arrays (`INSERT ... SELECT FROM UNNEST`, or
/// `UPDATE ... FROM UNNEST`): a few array parameters instead of 23 per row, parsed and planned
/// once, and no `ON CONFLICT` arbitration, whose speculative insertion costs about as much as
/// the insert itself. The split is safe because a provider's events are only written by its
/// one running job, whose lease guards the transaction. SQLite, which has no arrays, gets
/// multi-row upserts keyed on the identity triple.
pub async fn write_many(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
    new: &[EventWrite<'_>],
    changed: &[EventWrite<'_>],
    now: DateTime<Utc>,
    catalog_version: i64,
) -> Result<(), DbErr> {
    let stamp = Stamp {
        provider_id,
        now,
        catalog_version,
    };
    if db.get_database_backend() != DbBackend::Postgres {
        let all: Vec<EventWrite<'_>> = new.iter().chain(changed).copied().collect();
        return upsert_values(db, &all, stamp).await;
    }
    for chunk in new.chunks(UNNEST_BATCH) {
        execute_unnest(db, &PG_INSERT, chunk, stamp).await?;
    }
    for chunk in changed.chunks(UNNEST_BATCH) {
        execute_unnest(db, &PG_UPDATE, chunk, stamp).await?;
    }
    Ok(())
}

/// Marks events a feed carried again without changes as seen now.
pub async fn touch_seen(
    db: &impl ConnectionTrait,
    ids: &[EventId],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for chunk in ids.chunks(ID_BATCH) {
        Entity::update_many()
            .col_expr(Column::LastSeenAt, Expr::value(now))
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What a whole batch shares: whose events, when, and under which catalogue version.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    provider_id: ProviderId,
    now: DateTime<Utc>,
    catalog_version: i64,
}

// PostgreSQL: one statement per batch over arrays.

/// One array bound to a PostgreSQL batch statement: its name in `u`, its element type, and
/// how it is filled from the batch.
struct Input {
    name: &'static str,
    sql_type: &'static str,
    values: fn(&[EventWrite<'_>], DateTime<Utc>) -> Value,
}

/// The arrays of a batch, bound from `$4` on (`$1` provider, `$2` now, `$3` version). The
/// driver cannot bind NULL inside an array, so an optional value travels with a presence flag
/// (or, for the organiser, as the empty string, which validation never lets through).
const INPUTS: [Input; 22] = [
    input("id", "uuid", |w, _| column(w, |w| w.id.0)),
    input("base_event_id", "text", |w, _| {
        text(w, |r| &r.base_event_id)
    }),
    input("event_id", "text", |w, _| text(w, |r| &r.event_id)),
    input("title", "text", |w, _| text(w, |r| &r.title)),
    input("title_folded", "text", |w, _| {
        column(w, |w| fold(&w.record.title))
    }),
    input("sell_mode", "text", |w, _| text(w, |r| &r.sell_mode)),
    input("organizer", "text", |w, _| {
        text(w, |r| r.organizer_company_id.as_deref().unwrap_or_default())
    }),
    input("online", "bool", |w, _| column(w, |w| w.record.is_online())),
    input("starts_local", "timestamp", |w, _| {
        column(w, |w| w.record.starts_local)
    }),
    input("ends_local", "timestamp", |w, _| {
        column(w, |w| w.record.ends_local)
    }),
    input("starts_at", "timestamptz", |w, _| {
        column(w, |w| w.record.starts_at)
    }),
    input("ends_at", "timestamptz", |w, _| {
        column(w, |w| w.record.ends_at)
    }),
    input("sell_from", "timestamptz", |w, now| {
        column(w, |w| w.record.sell_from.unwrap_or(now))
    }),
    input("has_sell_from", "bool", |w, _| {
        column(w, |w| w.record.sell_from.is_some())
    }),
    input("sell_to", "timestamptz", |w, now| {
        column(w, |w| w.record.sell_to.unwrap_or(now))
    }),
    input("has_sell_to", "bool", |w, _| {
        column(w, |w| w.record.sell_to.is_some())
    }),
    input("sold_out", "bool", |w, _| column(w, |w| w.record.sold_out)),
    input("min_price", "int8", |w, _| {
        column(w, |w| w.record.min_price_cents().unwrap_or(0))
    }),
    input("max_price", "int8", |w, _| {
        column(w, |w| w.record.max_price_cents().unwrap_or(0))
    }),
    input("has_prices", "bool", |w, _| {
        column(w, |w| !w.record.zones.is_empty())
    }),
    input("content_hash", "int8", |w, _| column(w, |w| w.content_hash)),
    input("zones", "text", |w, _| column(w, |w| w.record.zones_json())),
];

const fn input(
    name: &'static str,
    sql_type: &'static str,
    values: fn(&[EventWrite<'_>], DateTime<Utc>) -> Value,
) -> Input {
    Input {
        name,
        sql_type,
        values,
    }
}

fn column<T>(writes: &[EventWrite<'_>], f: impl Fn(&EventWrite<'_>) -> T) -> Value
where
    Vec<T>: Into<Value>,
{
    writes.iter().map(f).collect::<Vec<T>>().into()
}

fn text(writes: &[EventWrite<'_>], f: impl Fn(&EventRecord) -> &str) -> Value {
    column(writes, |w| f(w.record).to_owned())
}

/// What a column is written from in a PostgreSQL batch: an expression over the row `u` of
/// [`INPUTS`], or the batch's own parameters.
fn pg_value(column: Column) -> &'static str {
    use Column as C;
    match column {
        C::Id => "u.id",
        C::ProviderId => "$1",
        C::BaseEventId => "u.base_event_id",
        C::EventId => "u.event_id",
        C::Title => "u.title",
        C::TitleFolded => "u.title_folded",
        C::SellMode => "u.sell_mode",
        C::OrganizerCompanyId => "NULLIF(u.organizer, '')",
        C::EverOnline => "u.online",
        C::StartsLocal => "u.starts_local",
        C::EndsLocal => "u.ends_local",
        C::StartsAt => "u.starts_at",
        C::EndsAt => "u.ends_at",
        C::SellFrom => "CASE WHEN u.has_sell_from THEN u.sell_from END",
        C::SellTo => "CASE WHEN u.has_sell_to THEN u.sell_to END",
        C::SoldOut => "u.sold_out",
        C::MinPriceCents => "CASE WHEN u.has_prices THEN u.min_price END",
        C::MaxPriceCents => "CASE WHEN u.has_prices THEN u.max_price END",
        C::ContentHash => "u.content_hash",
        C::FirstSeenAt | C::LastSeenAt | C::UpdatedAt => "$2",
        C::CatalogVersion => "$3",
        C::Zones => "u.zones",
    }
}

/// `UNNEST($4::uuid[], ...) AS u(id, ...)`, from [`INPUTS`].
fn unnest_rows() -> String {
    let arrays: Vec<String> = INPUTS
        .iter()
        .enumerate()
        .map(|(i, input)| format!("${}::{}[]", i + 4, input.sql_type))
        .collect();
    let names: Vec<&str> = INPUTS.iter().map(|input| input.name).collect();
    format!("UNNEST({}) AS u({})", arrays.join(", "), names.join(", "))
}

/// Inserts a batch of new events.
static PG_INSERT: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = Column::iter().map(|c| c.as_str()).collect();
    let values: Vec<&str> = Column::iter().map(pg_value).collect();
    format!(
        "INSERT INTO event ({}) SELECT {} FROM {}",
        columns.join(", "),
        values.join(", "),
        unnest_rows()
    )
});

/// Rewrites a batch of changed events.
static PG_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = Column::iter()
        .filter_map(|c| match rewrite(c) {
            Rewrite::Keep => None,
            Rewrite::Replace => Some(format!("{} = {}", c.as_str(), pg_value(c))),
            Rewrite::Sticky => Some(format!("{0} = event.{0} OR {1}", c.as_str(), pg_value(c))),
        })
        .collect();
    format!(
        "UPDATE event SET {} FROM {} WHERE event.id = u.id AND event.provider_id = $1",
        sets.join(", "),
        unnest_rows()
    )
});

async fn execute_unnest(
    db: &impl ConnectionTrait,
    sql: &str,
    writes: &[EventWrite<'_>],
    stamp: Stamp,
) -> Result<(), DbErr> {
    let mut values: Vec<Value> = Vec::with_capacity(3 + INPUTS.len());
    values.extend([
        stamp.provider_id.0.into(),
        stamp.now.into(),
        stamp.catalog_version.into(),
    ]);
    values.extend(INPUTS.iter().map(|input| (input.values)(writes, stamp.now)));
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .map(|_| ())
}

// SQLite: multi-row upserts.

/// What a column is written from in a SQLite upsert.
fn sqlite_value(column: Column, write: &EventWrite<'_>, stamp: Stamp) -> SimpleExpr {
    use Column as C;
    let r = write.record;
    match column {
        C::Id => write.id.into(),
        C::ProviderId => stamp.provider_id.into(),
        C::BaseEventId => r.base_event_id.as_str().into(),
        C::EventId => r.event_id.as_str().into(),
        C::Title => r.title.as_str().into(),
        C::TitleFolded => fold(&r.title).into(),
        C::SellMode => r.sell_mode.as_str().into(),
        C::OrganizerCompanyId => r.organizer_company_id.clone().into(),
        C::EverOnline => r.is_online().into(),
        C::StartsLocal => r.starts_local.into(),
        C::EndsLocal => r.ends_local.into(),
        C::StartsAt => r.starts_at.into(),
        C::EndsAt => r.ends_at.into(),
        C::SellFrom => r.sell_from.into(),
        C::SellTo => r.sell_to.into(),
        C::SoldOut => r.sold_out.into(),
        C::MinPriceCents => r.min_price_cents().into(),
        C::MaxPriceCents => r.max_price_cents().into(),
        C::ContentHash => write.content_hash.into(),
        C::FirstSeenAt | C::LastSeenAt | C::UpdatedAt => stamp.now.into(),
        C::CatalogVersion => stamp.catalog_version.into(),
        C::Zones => r.zones_json().into(),
    }
}

async fn upsert_values(
    db: &impl ConnectionTrait,
    writes: &[EventWrite<'_>],
    stamp: Stamp,
) -> Result<(), DbErr> {
    let mut on_conflict =
        OnConflict::columns([Column::ProviderId, Column::BaseEventId, Column::EventId]);
    on_conflict.update_columns(Column::iter().filter(|&c| rewrite(c) == Rewrite::Replace));
    for sticky in Column::iter().filter(|&c| rewrite(c) == Rewrite::Sticky) {
        on_conflict.value(
            sticky,
            Expr::col((Entity, sticky)).or(Expr::col((Alias::new("excluded"), sticky))),
        );
    }
    for chunk in writes.chunks(SQLITE_BATCH) {
        let mut insert = Query::insert();
        insert.into_table(Entity).columns(Column::iter());
        for write in chunk {
            let row = Column::iter().map(|c| sqlite_value(c, write, stamp));
            insert
                .values(row)
                .map_err(|e| DbErr::Custom(format!("event insert: {e}")))?;
        }
        insert.on_conflict(on_conflict.clone());
        db.execute(&insert).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_writes_every_column_and_an_update_never_rewrites_the_identity() {
        let insert = &*PG_INSERT;
        let listed = insert
            .strip_prefix("INSERT INTO event (")
            .and_then(|rest| rest.split_once(") SELECT "))
            .map(|(columns, _)| columns.split(", ").count());
        assert_eq!(listed, Some(Column::iter().count()), "{insert}");
        assert!(insert.contains("$25::text[]) AS u(id, "), "{insert}");

        let update = &*PG_UPDATE;
        let set: Vec<&str> = update
            .strip_prefix("UPDATE event SET ")
            .and_then(|rest| rest.split_once(" FROM UNNEST"))
            .map(|(sets, _)| {
                sets.split(", ")
                    .map(|s| s.split(" = ").next().unwrap_or(s))
                    .collect()
            })
            .unwrap_or_default();
        for kept in [
            "id",
            "provider_id",
            "base_event_id",
            "event_id",
            "first_seen_at",
        ] {
            assert!(!set.contains(&kept), "{kept} rewritten: {update}");
        }
        assert!(
            set.contains(&"zones") && set.contains(&"last_seen_at"),
            "{update}"
        );
        assert!(
            update.contains("ever_online = event.ever_online OR u.online"),
            "{update}"
        );
    }
}
