//! `event`: every event a provider's feed ever carried, with its latest values.

use sea_orm::entity::prelude::*;

use crate::{EventId, ProviderId};

/// An event row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    /// UUID v5 of (provider name, base event id, event id).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: EventId,
    /// The provider whose feed carries it.
    pub provider_id: ProviderId,
    /// The provider's id of the base event (the show).
    pub base_event_id: String,
    /// The provider's id of the event (one session of the show); repeats across base events.
    pub event_id: String,
    /// Title of the base event.
    pub title: String,
    /// The title folded for search: lowercase, accents dropped ([`crate::search::fold`]).
    pub title_folded: String,
    /// `online`, `offline`, or whatever the provider says.
    pub sell_mode: String,
    /// The organiser, when the feed names one.
    pub organizer_company_id: Option<String>,
    /// Whether it was ever offered online; set once, never cleared. Search shows only these.
    pub ever_online: bool,
    /// Start as the provider wrote it, in its local time.
    pub starts_local: DateTime,
    /// End as the provider wrote it, in its local time.
    pub ends_local: DateTime,
    /// Start as an instant.
    pub starts_at: DateTimeUtc,
    /// End as an instant.
    pub ends_at: DateTimeUtc,
    /// Sales open.
    pub sell_from: Option<DateTimeUtc>,
    /// Sales close.
    pub sell_to: Option<DateTimeUtc>,
    /// Whether the provider says it is sold out.
    pub sold_out: bool,
    /// Lowest zone price, in cents; none without zones.
    pub min_price_cents: Option<i64>,
    /// Highest zone price, in cents; none without zones.
    pub max_price_cents: Option<i64>,
    /// Hash of the stored content; an identical record is not rewritten.
    pub content_hash: i64,
    /// First feed that carried it.
    pub first_seen_at: DateTimeUtc,
    /// Last feed that carried it.
    pub last_seen_at: DateTimeUtc,
    /// Whether its provider's latest parsed feed carries it (a feed lists what is on sale
    /// now; one that drops the event clears this, and the job counts it as stopped).
    pub listed: bool,
    /// Last change of its content.
    pub updated_at: DateTimeUtc,
    /// The catalogue version of its last change, which the search index follows.
    pub catalog_version: i64,
    /// Its zones in feed order, as a JSON array (see [`crate::record::ZoneRecord`]).
    #[sea_orm(column_type = "Text")]
    pub zones: String,
}

/// Relations of an event.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The provider whose feed carries it.
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderId",
        to = "super::provider::Column::Id"
    )]
    Provider,
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The zones stored with the event, in feed order.
    pub fn zone_records(&self) -> Result<Vec<crate::record::ZoneRecord>, serde_json::Error> {
        serde_json::from_str(&self.zones)
    }
}
