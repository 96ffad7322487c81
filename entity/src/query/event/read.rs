//! Reads of `event`: what the store compares a feed against, the search projection the API's
//! index is built from, and lookups. Each projection is a struct whose fields are the columns
//! it selects (`DerivePartialModel`), so no column list is written out here.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::Stream;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, DerivePartialModel, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, StreamTrait,
    sea_query::{Expr, ExprTrait as _},
};

use crate::{
    EventId, ProviderId,
    event::{Column, Entity, Model},
    search::{DateRange, Direction, EventFilter, EventOrder, OrderField},
};

/// What is stored of an event already, to decide whether a record changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct StoredState {
    /// Its id.
    pub id: EventId,
    /// Hash of its stored content.
    pub content_hash: i64,
    /// When a feed last carried it.
    pub last_seen_at: DateTime<Utc>,
    /// Whether the provider's latest feed carries it.
    pub listed: bool,
}

/// The stored state of every event of a provider, by id.
pub async fn stored_states(
    db: &impl ConnectionTrait,
    provider_id: ProviderId,
) -> Result<HashMap<EventId, StoredState>, DbErr> {
    let rows = Entity::find()
        .filter(Column::ProviderId.eq(provider_id))
        .into_partial_model::<StoredState>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// An event as search lists it, without its zones (a page of events reads those only when
/// asked): what the API's search index keeps.
#[derive(Debug, Clone, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct EventSummary {
    /// Id.
    pub id: EventId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Title.
    pub title: String,
    /// Title, folded for search.
    pub title_folded: String,
    /// Sell mode.
    pub sell_mode: String,
    /// Whether it was ever online (search shows only those).
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

/// Every searchable (ever online) event, in no order, as one scan whose rows are decoded as
/// they arrive: the database produces rows while the caller builds, and the caller holds what
/// it keeps, not a page. (Pages by id were four times slower on a million events: each page
/// was an index scan in random heap order, and the two sides took turns.)
pub async fn summary_stream<'a, C>(
    db: &'a C,
) -> Result<impl Stream<Item = Result<EventSummary, DbErr>> + Send + 'a, DbErr>
where
    C: ConnectionTrait + StreamTrait + Send,
{
    Entity::find()
        .filter(Column::EverOnline.eq(true))
        .into_partial_model::<EventSummary>()
        .stream(db)
        .await
}

/// Events whose last change has a catalogue version in `(after, upto]`, searchable or not
/// (the index decides what to keep), as a stream (see [`summary_stream`]).
pub async fn changed_between<'a, C>(
    db: &'a C,
    after: i64,
    upto: i64,
) -> Result<impl Stream<Item = Result<EventSummary, DbErr>> + Send + 'a, DbErr>
where
    C: ConnectionTrait + StreamTrait + Send,
{
    Entity::find()
        .filter(Column::CatalogVersion.gt(after))
        .filter(Column::CatalogVersion.lte(upto))
        .into_partial_model::<EventSummary>()
        .stream(db)
        .await
}

/// The event with this id as search lists it (online or not).
pub async fn find_summary(
    db: &impl ConnectionTrait,
    id: EventId,
) -> Result<Option<EventSummary>, DbErr> {
    Entity::find()
        .filter(Column::Id.eq(id))
        .into_partial_model::<EventSummary>()
        .one(db)
        .await
}

/// These events as search lists them (online or not), in no particular order: for batched
/// loading.
pub async fn find_summaries(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = EventId>,
) -> Result<Vec<EventSummary>, DbErr> {
    Entity::find()
        .filter(Column::Id.is_in(ids))
        .into_partial_model::<EventSummary>()
        .all(db)
        .await
}

/// The searchable events in `range` that `filter` keeps, in `order`, at most `limit` of them:
/// the database's answer to a search, which the API's in-memory index must match (a test
/// compares them), and the same search for anyone reading the database directly.
///
/// Titles compare byte by byte (`COLLATE "C"` on PostgreSQL, SQLite's default), as Rust's
/// strings do.
pub async fn search(
    db: &impl ConnectionTrait,
    range: &DateRange,
    filter: &EventFilter,
    order: EventOrder,
    limit: Option<u64>,
) -> Result<Vec<EventSummary>, DbErr> {
    let backend = db.get_database_backend();
    let mut select = Entity::find().filter(Column::EverOnline.eq(true));
    if let Some(from) = range.from() {
        select = select.filter(Column::StartsAt.gte(crate::time::truncate(from)));
    }
    if let Some(to) = range.to() {
        select = select.filter(Column::EndsAt.lte(crate::time::truncate(to)));
    }
    if let Some(providers) = &filter.providers {
        if providers.is_empty() {
            // `IN ()`, which PostgreSQL refuses: no provider, no event.
            return Ok(Vec::new());
        }
        select = select.filter(Column::ProviderId.is_in(providers.iter().copied()));
    }
    if let Some(min) = filter.min_price_cents {
        select = select.filter(Column::MaxPriceCents.gte(min));
    }
    if let Some(max) = filter.max_price_cents {
        select = select.filter(Column::MinPriceCents.lte(max));
    }
    if let Some(sold_out) = filter.sold_out {
        select = select.filter(Column::SoldOut.eq(sold_out));
    }
    if let Some(needle) = &filter.title {
        let position = match backend {
            DbBackend::Postgres => "strpos(title_folded, $1) > 0",
            _ => "instr(title_folded, ?) > 0",
        };
        select = select.filter(Expr::cust_with_values(position, [needle.as_str()]));
    }
    let way = match order.direction {
        Direction::Asc => Order::Asc,
        Direction::Desc => Order::Desc,
    };
    select = match order.field {
        OrderField::Start => select.order_by(Column::StartsAt, way.clone()),
        OrderField::Price => select
            // Without a price last, whichever the direction.
            .order_by(Expr::col(Column::MinPriceCents).is_null(), Order::Asc)
            .order_by(Column::MinPriceCents, way.clone()),
        OrderField::Title => {
            let title = match backend {
                DbBackend::Postgres => Expr::cust("title_folded COLLATE \"C\""),
                _ => Expr::col(Column::TitleFolded),
            };
            select.order_by(title, way.clone())
        }
    };
    select
        .order_by(Column::Id, way)
        .limit(limit)
        .into_partial_model::<EventSummary>()
        .all(db)
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

/// A provider's events with this base event id (tests and tools).
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
