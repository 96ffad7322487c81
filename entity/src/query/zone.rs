//! Queries over `zone`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::{
    EventId,
    zone::{Column, Entity, Model},
};

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
