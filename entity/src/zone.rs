//! `zone`: the priced zones of an event, as the feed gives them (zone ids may repeat).

use sea_orm::entity::prelude::*;

use crate::EventId;

/// A zone row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "zone")]
pub struct Model {
    /// The event it belongs to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: EventId,
    /// Its place in the feed's list, from 0.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    /// The provider's zone id; not unique within an event.
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

/// Relations of a zone.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The event it belongs to.
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::EventId",
        to = "super::event::Column::Id"
    )]
    Event,
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
