//! How lists are ordered: `events(orderBy:)` and `jobs(orderBy:)`.

use async_graphql::{Enum, InputObject};
use entity::{query::job, search};

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

/// What jobs are ordered by; the id breaks ties. Jobs not finished yet have no finish or
/// duration: they come last, whichever the direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum JobOrderField {
    /// When it was created.
    #[default]
    CreatedAt,
    /// When it finished.
    FinishedAt,
    /// How long it took (its outcome's `durationMs`).
    Duration,
}

/// How `jobs` are ordered (default: newest first).
#[derive(Debug, Clone, Copy, InputObject)]
pub struct JobOrder {
    /// By what.
    pub field: JobOrderField,
    /// Which way (default `DESC`: newest, latest or longest first).
    #[graphql(default_with = "OrderDirection::Desc")]
    pub direction: OrderDirection,
}

impl Default for JobOrder {
    fn default() -> Self {
        Self {
            field: JobOrderField::CreatedAt,
            direction: OrderDirection::Desc,
        }
    }
}

impl From<JobOrder> for job::JobOrder {
    fn from(order: JobOrder) -> Self {
        Self {
            field: match order.field {
                JobOrderField::CreatedAt => job::JobOrderField::Created,
                JobOrderField::FinishedAt => job::JobOrderField::Finished,
                JobOrderField::Duration => job::JobOrderField::Duration,
            },
            direction: order.direction.into(),
        }
    }
}
