//! Queries over `event`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use crate::{
    EventId, ProviderId,
    event::{Column, Entity, Model},
};

/// The event with id `id`.
pub async fn find(db: &impl ConnectionTrait, id: EventId) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
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
