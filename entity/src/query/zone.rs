//! Queries over `zone`.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Query, SimpleExpr},
};

use crate::{
    EventId,
    query::event::ZoneRecord,
    zone::{Column, Entity, Model},
};

/// Zones per multi-row insert (7 parameters each).
const ZONE_BATCH: usize = 4_000;
/// Ids per `IN (...)` list.
const ID_BATCH: usize = 5_000;

/// The zones of these events, by event and feed order (for batched loading).
pub async fn for_events(
    db: &impl ConnectionTrait,
    event_ids: impl IntoIterator<Item = EventId>,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::EventId.is_in(event_ids))
        .order_by_asc(Column::EventId)
        .order_by_asc(Column::Position)
        .all(db)
        .await
}

/// Removes every zone of these events.
pub async fn delete_for_events(
    db: &impl ConnectionTrait,
    event_ids: &[EventId],
) -> Result<(), DbErr> {
    for chunk in event_ids.chunks(ID_BATCH) {
        Entity::delete_many()
            .filter(Column::EventId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Inserts the zones of events, each event's zones at positions 0, 1, ... in the order given.
pub async fn insert_many<'a>(
    db: &impl ConnectionTrait,
    zones: impl IntoIterator<Item = (EventId, &'a [ZoneRecord])>,
) -> Result<(), DbErr> {
    let rows = zones.into_iter().flat_map(|(event_id, zones)| {
        zones
            .iter()
            .enumerate()
            .map(move |(position, zone)| (event_id, position, zone))
    });
    let mut batch = Vec::with_capacity(ZONE_BATCH);
    for row in rows {
        batch.push(row);
        if batch.len() == ZONE_BATCH {
            insert_batch(db, &batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert_batch(db, &batch).await?;
    }
    Ok(())
}

async fn insert_batch(
    db: &impl ConnectionTrait,
    rows: &[(EventId, usize, &ZoneRecord)],
) -> Result<(), DbErr> {
    let mut insert = Query::insert();
    insert.into_table(Entity).columns([
        Column::EventId,
        Column::Position,
        Column::ZoneId,
        Column::Name,
        Column::Capacity,
        Column::PriceCents,
        Column::Numbered,
    ]);
    for (event_id, position, zone) in rows {
        let position = i32::try_from(*position)
            .map_err(|_| DbErr::Custom("an event has more than 2^31 zones".to_owned()))?;
        let row: [SimpleExpr; 7] = [
            (*event_id).into(),
            position.into(),
            zone.zone_id.as_str().into(),
            zone.name.as_str().into(),
            zone.capacity.into(),
            zone.price_cents.into(),
            zone.numbered.into(),
        ];
        insert
            .values(row)
            .map_err(|e| DbErr::Custom(format!("zone insert: {e}")))?;
    }
    db.execute(&insert).await.map(|_| ())
}
