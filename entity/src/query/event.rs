//! Queries over `event`: lookups, and the batched writes of a collected feed.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::Stream;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, StreamTrait, Value,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SimpleExpr},
};
use serde::{Deserialize, Serialize};

use crate::{
    EventId, ProviderId,
    event::{Column, Entity, Model},
};

/// Ids per `IN (...)` list.
const ID_BATCH: usize = 5_000;

/// One event as a feed gives it, validated: what the store writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The provider's id of the base event.
    pub base_event_id: String,
    /// The provider's id of the event.
    pub event_id: String,
    /// Title of the base event.
    pub title: String,
    /// `online`, `offline`, ...
    pub sell_mode: String,
    /// The organiser, when given.
    pub organizer_company_id: Option<String>,
    /// Start in the provider's local time, as written.
    pub starts_local: NaiveDateTime,
    /// End in the provider's local time, as written.
    pub ends_local: NaiveDateTime,
    /// Start as an instant.
    pub starts_at: DateTime<Utc>,
    /// End as an instant.
    pub ends_at: DateTime<Utc>,
    /// Sales open.
    pub sell_from: Option<DateTime<Utc>>,
    /// Sales close.
    pub sell_to: Option<DateTime<Utc>>,
    /// Whether it is sold out.
    pub sold_out: bool,
    /// Its zones, in feed order.
    pub zones: Vec<ZoneRecord>,
}

/// One zone of an event, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRecord {
    /// The provider's zone id (not unique within an event).
    pub zone_id: String,
    /// Its name.
    pub name: String,
    /// Seats left.
    pub capacity: i32,
    /// Price in cents.
    pub price_cents: i64,
    /// Whether seats are numbered.
    pub numbered: bool,
}

impl EventRecord {
    /// Whether the provider offers it online now.
    pub fn is_online(&self) -> bool {
        self.sell_mode.eq_ignore_ascii_case("online")
    }

    /// Lowest zone price; none without zones.
    pub fn min_price_cents(&self) -> Option<i64> {
        self.zones.iter().map(|z| z.price_cents).min()
    }

    /// Highest zone price; none without zones.
    pub fn max_price_cents(&self) -> Option<i64> {
        self.zones.iter().map(|z| z.price_cents).max()
    }

    /// The id this record is stored under, for the provider called `provider`.
    pub fn id(&self, provider: &str) -> EventId {
        EventId::derive(provider, &self.base_event_id, &self.event_id)
    }

    /// A hash of everything stored about the record: equal hashes mean nothing to rewrite.
    ///
    /// Each field is written with its length, so no two different records hash the same
    /// input; the algorithm (XXH3) is fixed, so hashes stay valid across releases.
    pub fn content_hash(&self) -> i64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut text = |s: &str| {
            hasher.update(&(s.len() as u64).to_le_bytes());
            hasher.update(s.as_bytes());
        };
        text(&self.base_event_id);
        text(&self.event_id);
        text(&self.title);
        text(&self.sell_mode);
        text(self.organizer_company_id.as_deref().unwrap_or("\u{0}"));
        for instant in [self.starts_local, self.ends_local] {
            hasher.update(&instant.and_utc().timestamp_micros().to_le_bytes());
        }
        for instant in [
            Some(self.starts_at),
            Some(self.ends_at),
            self.sell_from,
            self.sell_to,
        ] {
            hasher.update(
                &instant
                    .map_or(i64::MIN, |t| t.timestamp_micros())
                    .to_le_bytes(),
            );
        }
        hasher.update(&[u8::from(self.sold_out)]);
        hasher.update(&(self.zones.len() as u64).to_le_bytes());
        for zone in &self.zones {
            for s in [&zone.zone_id, &zone.name] {
                hasher.update(&(s.len() as u64).to_le_bytes());
                hasher.update(s.as_bytes());
            }
            hasher.update(&zone.capacity.to_le_bytes());
            hasher.update(&zone.price_cents.to_le_bytes());
            hasher.update(&[u8::from(zone.numbered)]);
        }
        // The bits are the hash; the sign means nothing.
        i64::from_le_bytes(hasher.digest().to_le_bytes())
    }
}

/// What is stored of an event already, to decide whether a record changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct StoredState {
    /// Its id.
    pub id: EventId,
    /// Hash of its stored content.
    pub content_hash: i64,
    /// When a feed last carried it.
    pub last_seen_at: DateTime<Utc>,
}

/// The stored state of every event of a provider, by id.
pub async fn stored_states(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
) -> Result<HashMap<EventId, StoredState>, DbErr> {
    let rows = Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::ContentHash)
        .column(Column::LastSeenAt)
        .filter(Column::ProviderId.eq(provider_id))
        .into_model::<StoredState>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

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

impl EventRecord {
    /// The zones as stored in `event.zones`.
    pub fn zones_json(&self) -> String {
        // Strings, integers and booleans always serialise.
        serde_json::to_string(&self.zones).unwrap_or_else(|_| "[]".to_owned())
    }
}

impl Model {
    /// The zones stored with the event, in feed order.
    pub fn zone_records(&self) -> Result<Vec<ZoneRecord>, serde_json::Error> {
        serde_json::from_str(&self.zones)
    }
}

/// Rows per statement on PostgreSQL: large enough to amortise the round trip, small enough
/// to keep each statement's memory modest. A statement's bound arrays cost about 3.5 KB a row
/// in this process (each value boxed, then encoded): 25 000 rows added ~90 MiB to the peak of
/// a large collection, on top of its records; 5 000 add a fifth of that, and wrote 300 000
/// rows no slower (6.0 s against 7.4 s, one run each; see `docs/benchmarks.md`).
const UNNEST_BATCH: usize = 5_000;

/// The columns written for an event, in the order of the statements below.
const EVENT_COLUMNS: &str = "id, provider_id, base_event_id, event_id, title, sell_mode, \
    organizer_company_id, ever_online, starts_local, ends_local, starts_at, ends_at, \
    sell_from, sell_to, sold_out, min_price_cents, max_price_cents, content_hash, zones, \
    first_seen_at, last_seen_at, updated_at, catalog_version";

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
    if db.get_database_backend() != DbBackend::Postgres {
        let all: Vec<EventWrite<'_>> = new.iter().chain(changed).copied().collect();
        return upsert_values(db, provider_id, &all, now, catalog_version).await;
    }
    for chunk in new.chunks(UNNEST_BATCH) {
        let sql = format!(
            "INSERT INTO event ({EVENT_COLUMNS}) \
             SELECT u.id, $1, u.base_event_id, u.event_id, u.title, u.sell_mode, \
                NULLIF(u.organizer, ''), u.online, u.starts_local, u.ends_local, u.starts_at, \
                u.ends_at, CASE WHEN u.has_sell_from THEN u.sell_from END, \
                CASE WHEN u.has_sell_to THEN u.sell_to END, u.sold_out, \
                CASE WHEN u.has_prices THEN u.min_price END, \
                CASE WHEN u.has_prices THEN u.max_price END, u.content_hash, u.zones, \
                $2, $2, $2, $3 \
             FROM {UNNEST_ROWS}"
        );
        execute_unnest(db, &sql, provider_id, chunk, now, catalog_version).await?;
    }
    for chunk in changed.chunks(UNNEST_BATCH) {
        let sql = format!(
            "UPDATE event SET title = u.title, sell_mode = u.sell_mode, \
                organizer_company_id = NULLIF(u.organizer, ''), \
                ever_online = event.ever_online OR u.online, \
                starts_local = u.starts_local, ends_local = u.ends_local, \
                starts_at = u.starts_at, ends_at = u.ends_at, \
                sell_from = CASE WHEN u.has_sell_from THEN u.sell_from END, \
                sell_to = CASE WHEN u.has_sell_to THEN u.sell_to END, sold_out = u.sold_out, \
                min_price_cents = CASE WHEN u.has_prices THEN u.min_price END, \
                max_price_cents = CASE WHEN u.has_prices THEN u.max_price END, \
                content_hash = u.content_hash, zones = u.zones, last_seen_at = $2, \
                updated_at = $2, catalog_version = $3 \
             FROM {UNNEST_ROWS} \
             WHERE event.id = u.id AND event.provider_id = $1"
        );
        execute_unnest(db, &sql, provider_id, chunk, now, catalog_version).await?;
    }
    Ok(())
}

/// The rows of a batch as arrays, `$4` onwards (`$1` provider, `$2` now, `$3` version).
const UNNEST_ROWS: &str = "UNNEST($4::uuid[], $5::text[], $6::text[], $7::text[], \
    $8::text[], $9::text[], $10::bool[], $11::timestamp[], $12::timestamp[], \
    $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::bool[], \
    $17::timestamptz[], $18::bool[], $19::bool[], $20::int8[], $21::int8[], $22::bool[], \
    $23::int8[], $24::text[]) \
    AS u(id, base_event_id, event_id, title, sell_mode, organizer, online, starts_local, \
    ends_local, starts_at, ends_at, sell_from, has_sell_from, sell_to, has_sell_to, \
    sold_out, min_price, max_price, has_prices, content_hash, zones)";

async fn execute_unnest(
    db: &impl ConnectionTrait,
    sql: &str,
    provider_id: ProviderId,
    writes: &[EventWrite<'_>],
    now: DateTime<Utc>,
    catalog_version: i64,
) -> Result<(), DbErr> {
    // The driver cannot bind NULL inside an array, so optional values travel with a presence
    // flag (or, for the organiser, as the empty string, which validation never lets through).
    fn column<T: Into<Value>>(writes: &[EventWrite<'_>], f: impl Fn(&EventWrite<'_>) -> T) -> Value
    where
        Vec<T>: Into<Value>,
    {
        writes.iter().map(f).collect::<Vec<T>>().into()
    }
    let text = |f: fn(&EventRecord) -> &str| column(writes, |w| f(w.record).to_owned());
    let values: Vec<Value> = vec![
        provider_id.0.into(),
        now.into(),
        catalog_version.into(),
        column(writes, |w| w.id.0),
        text(|r| &r.base_event_id),
        text(|r| &r.event_id),
        text(|r| &r.title),
        text(|r| &r.sell_mode),
        text(|r| r.organizer_company_id.as_deref().unwrap_or_default()),
        column(writes, |w| w.record.is_online()),
        column(writes, |w| w.record.starts_local),
        column(writes, |w| w.record.ends_local),
        column(writes, |w| w.record.starts_at),
        column(writes, |w| w.record.ends_at),
        column(writes, |w| w.record.sell_from.unwrap_or(now)),
        column(writes, |w| w.record.sell_from.is_some()),
        column(writes, |w| w.record.sell_to.unwrap_or(now)),
        column(writes, |w| w.record.sell_to.is_some()),
        column(writes, |w| w.record.sold_out),
        column(writes, |w| w.record.min_price_cents().unwrap_or(0)),
        column(writes, |w| w.record.max_price_cents().unwrap_or(0)),
        column(writes, |w| !w.record.zones.is_empty()),
        column(writes, |w| w.content_hash),
        column(writes, |w| w.record.zones_json()),
    ];
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .map(|_| ())
}

/// Events per multi-row statement on SQLite: 23 parameters each stays under its limit of
/// 32 766.
const EVENT_BATCH: usize = 1_000;

async fn upsert_values(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
    writes: &[EventWrite<'_>],
    now: DateTime<Utc>,
    catalog_version: i64,
) -> Result<(), DbErr> {
    let columns = [
        Column::Id,
        Column::ProviderId,
        Column::BaseEventId,
        Column::EventId,
        Column::Title,
        Column::SellMode,
        Column::OrganizerCompanyId,
        Column::EverOnline,
        Column::StartsLocal,
        Column::EndsLocal,
        Column::StartsAt,
        Column::EndsAt,
        Column::SellFrom,
        Column::SellTo,
        Column::SoldOut,
        Column::MinPriceCents,
        Column::MaxPriceCents,
        Column::ContentHash,
        Column::Zones,
        Column::FirstSeenAt,
        Column::LastSeenAt,
        Column::UpdatedAt,
        Column::CatalogVersion,
    ];
    let mut on_conflict =
        OnConflict::columns([Column::ProviderId, Column::BaseEventId, Column::EventId]);
    on_conflict
        .update_columns([
            Column::Title,
            Column::SellMode,
            Column::OrganizerCompanyId,
            Column::StartsLocal,
            Column::EndsLocal,
            Column::StartsAt,
            Column::EndsAt,
            Column::SellFrom,
            Column::SellTo,
            Column::SoldOut,
            Column::MinPriceCents,
            Column::MaxPriceCents,
            Column::ContentHash,
            Column::Zones,
            Column::LastSeenAt,
            Column::UpdatedAt,
            Column::CatalogVersion,
        ])
        .value(
            Column::EverOnline,
            Expr::col((Entity, Column::EverOnline))
                .or(Expr::col((Alias::new("excluded"), Column::EverOnline))),
        );
    for chunk in writes.chunks(EVENT_BATCH) {
        let mut insert = Query::insert();
        insert.into_table(Entity).columns(columns);
        for write in chunk {
            let r = write.record;
            let row: [SimpleExpr; 23] = [
                write.id.into(),
                provider_id.into(),
                r.base_event_id.as_str().into(),
                r.event_id.as_str().into(),
                r.title.as_str().into(),
                r.sell_mode.as_str().into(),
                r.organizer_company_id.clone().into(),
                r.is_online().into(),
                r.starts_local.into(),
                r.ends_local.into(),
                r.starts_at.into(),
                r.ends_at.into(),
                r.sell_from.into(),
                r.sell_to.into(),
                r.sold_out.into(),
                r.min_price_cents().into(),
                r.max_price_cents().into(),
                write.content_hash.into(),
                r.zones_json().into(),
                now.into(),
                now.into(),
                now.into(),
                catalog_version.into(),
            ];
            insert
                .values(row)
                .map_err(|e| DbErr::Custom(format!("event insert: {e}")))?;
        }
        insert.on_conflict(on_conflict.clone());
        db.execute(&insert).await?;
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

/// The event with id `id`.
pub async fn find(db: &impl ConnectionTrait, id: EventId) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// A provider's events with these base event ids (tests and tools).
pub async fn find_by_base_event(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
    base_event_id: &str,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::ProviderId.eq(provider_id))
        .filter(Column::BaseEventId.eq(base_event_id))
        .all(db)
        .await
}

/// How many events a provider has stored.
pub async fn count_for_provider(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::ProviderId.eq(provider_id))
        .count(db)
        .await
}

/// Every event of a provider (tests and tools; the API reads through its own queries).
pub async fn list_for_provider(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::ProviderId.eq(provider_id))
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EventRecord {
        let start = chrono::NaiveDate::from_ymd_opt(2021, 6, 30)
            .unwrap()
            .and_hms_opt(21, 0, 0)
            .unwrap();
        EventRecord {
            base_event_id: "291".into(),
            event_id: "291".into(),
            title: "Camela en concierto".into(),
            sell_mode: "online".into(),
            organizer_company_id: None,
            starts_local: start,
            ends_local: start,
            starts_at: start.and_utc(),
            ends_at: start.and_utc(),
            sell_from: None,
            sell_to: None,
            sold_out: false,
            zones: vec![
                ZoneRecord {
                    zone_id: "40".into(),
                    name: "Platea".into(),
                    capacity: 243,
                    price_cents: 2000,
                    numbered: true,
                },
                ZoneRecord {
                    zone_id: "38".into(),
                    name: "Grada 2".into(),
                    capacity: 100,
                    price_cents: 1500,
                    numbered: false,
                },
            ],
        }
    }

    #[test]
    fn prices_span_the_zones() {
        let r = record();
        assert_eq!(r.min_price_cents(), Some(1500));
        assert_eq!(r.max_price_cents(), Some(2000));
        let no_zones = EventRecord {
            zones: vec![],
            ..record()
        };
        assert_eq!(no_zones.min_price_cents(), None);
    }

    #[test]
    fn the_hash_changes_with_any_stored_field_and_only_then() {
        let base = record();
        assert_eq!(base.content_hash(), record().content_hash());
        let mut capacity = record();
        capacity.zones[0].capacity = 240;
        let mut title = record();
        title.title.push('!');
        let mut boundary = record();
        boundary.zones[0].zone_id = "4".into();
        boundary.zones[0].name = "0Platea".into();
        for changed in [capacity, title, boundary] {
            assert_ne!(base.content_hash(), changed.content_hash());
        }
    }
}

/// What the search index keeps of an event (no zones: they are read per page).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Searchable {
    /// Id.
    pub id: EventId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Title.
    pub title: String,
    /// Sell mode.
    pub sell_mode: String,
    /// Whether it was ever online (the index keeps only those).
    pub ever_online: bool,
    /// Local start.
    pub starts_local: NaiveDateTime,
    /// Local end.
    pub ends_local: NaiveDateTime,
    /// Start instant.
    pub starts_at: DateTime<Utc>,
    /// End instant.
    pub ends_at: DateTime<Utc>,
    /// Sales open.
    pub sell_from: Option<DateTime<Utc>>,
    /// Sales close.
    pub sell_to: Option<DateTime<Utc>>,
    /// Sold out.
    pub sold_out: bool,
    /// Lowest price in cents.
    pub min_price_cents: Option<i64>,
    /// Highest price in cents.
    pub max_price_cents: Option<i64>,
    /// First seen.
    pub first_seen_at: DateTime<Utc>,
    /// Last seen.
    pub last_seen_at: DateTime<Utc>,
    /// Last content change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Model> for Searchable {
    fn from(e: &Model) -> Self {
        Self {
            id: e.id,
            provider_id: e.provider_id,
            title: e.title.clone(),
            sell_mode: e.sell_mode.clone(),
            ever_online: e.ever_online,
            starts_local: e.starts_local,
            ends_local: e.ends_local,
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            sell_from: e.sell_from,
            sell_to: e.sell_to,
            sold_out: e.sold_out,
            min_price_cents: e.min_price_cents,
            max_price_cents: e.max_price_cents,
            first_seen_at: e.first_seen_at,
            last_seen_at: e.last_seen_at,
            updated_at: e.updated_at,
        }
    }
}

fn searchable_select() -> sea_orm::Select<Entity> {
    Entity::find().select_only().columns([
        Column::Id,
        Column::ProviderId,
        Column::Title,
        Column::SellMode,
        Column::EverOnline,
        Column::StartsLocal,
        Column::EndsLocal,
        Column::StartsAt,
        Column::EndsAt,
        Column::SellFrom,
        Column::SellTo,
        Column::SoldOut,
        Column::MinPriceCents,
        Column::MaxPriceCents,
        Column::FirstSeenAt,
        Column::LastSeenAt,
        Column::UpdatedAt,
    ])
}

/// Every searchable (ever online) event, in no order, as one scan whose rows are decoded as
/// they arrive: the database produces rows while the caller builds, and the caller holds what
/// it keeps, not a page. (Pages by id were four times slower on a million events: each page
/// was an index scan in random heap order, and the two sides took turns.)
pub async fn searchable_stream<'a, C>(
    db: &'a C,
) -> Result<impl Stream<Item = Result<Searchable, DbErr>> + Send + 'a, DbErr>
where
    C: ConnectionTrait + StreamTrait + Send,
{
    searchable_select()
        .filter(Column::EverOnline.eq(true))
        .into_model::<Searchable>()
        .stream(db)
        .await
}

/// Events whose last change has a catalogue version in `(after, upto]`, searchable or not
/// (the index decides what to keep), as a stream (see [`searchable_stream`]).
pub async fn changed_between<'a, C>(
    db: &'a C,
    after: i64,
    upto: i64,
) -> Result<impl Stream<Item = Result<Searchable, DbErr>> + Send + 'a, DbErr>
where
    C: ConnectionTrait + StreamTrait + Send,
{
    searchable_select()
        .filter(Column::CatalogVersion.gt(after))
        .filter(Column::CatalogVersion.lte(upto))
        .into_model::<Searchable>()
        .stream(db)
        .await
}

/// The event with this id as search shows it (online or not), without its zones: a page of
/// events never reads their zones unless asked.
pub async fn find_searchable(
    db: &impl ConnectionTrait,
    id: EventId,
) -> Result<Option<Searchable>, DbErr> {
    searchable_select()
        .filter(Column::Id.eq(id))
        .into_model::<Searchable>()
        .one(db)
        .await
}

/// The stored zones (JSON text) of the events with these ids.
pub async fn zones_of(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = EventId>,
) -> Result<Vec<(EventId, String)>, DbErr> {
    Entity::find()
        .select_only()
        .columns([Column::Id, Column::Zones])
        .filter(Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await
}

/// The events with these ids, in no particular order (for batched loading).
pub async fn find_many(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = EventId>,
) -> Result<Vec<Model>, DbErr> {
    Entity::find().filter(Column::Id.is_in(ids)).all(db).await
}

/// Searchable events in `[from, to]` by containment, ordered by start then id: the
/// database's answer to a search, which the in-memory index must match.
pub async fn search(
    db: &impl ConnectionTrait,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<Searchable>, DbErr> {
    let mut select = searchable_select().filter(Column::EverOnline.eq(true));
    if let Some(from) = from {
        select = select.filter(Column::StartsAt.gte(crate::time::truncate(from)));
    }
    if let Some(to) = to {
        select = select.filter(Column::EndsAt.lte(crate::time::truncate(to)));
    }
    select
        .order_by_asc(Column::StartsAt)
        .order_by_asc(Column::Id)
        .into_model::<Searchable>()
        .all(db)
        .await
}
