//! How lists are ordered: `events(orderBy:)` and `jobs(orderBy:)`.

use async_graphql::{Enum, InputObject};
use entity::search;

/// Which way a list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum OrderDirection {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

impl From<OrderDirection> for search::Direction {
    fn from(direction: OrderDirection) -> Self {
        match direction {
            OrderDirection::Asc => Self::Asc,
            OrderDirection::Desc => Self::Desc,
        }
    }
}

/// What events are ordered by; the id breaks ties, so paging never skips or repeats one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum EventOrderField {
    /// When it starts.
    #[default]
    StartsAt,
    /// Its lowest price; events without prices come last either way.
    Price,
    /// Its title, ignoring case and accents.
    Title,
}

/// How `events` are ordered (default: by start, earliest first). A cursor belongs to the
/// order it was read in: page with the same `orderBy`.
#[derive(Debug, Clone, Copy, Default, InputObject)]
pub struct EventOrder {
    /// By what.
    pub field: EventOrderField,
    /// Which way (default `ASC`).
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl From<EventOrder> for search::EventOrder {
    fn from(order: EventOrder) -> Self {
        Self {
            field: match order.field {
                EventOrderField::StartsAt => search::OrderField::Start,
                EventOrderField::Price => search::OrderField::Price,
                EventOrderField::Title => search::OrderField::Title,
            },
            direction: order.direction.into(),
        }
    }
}
