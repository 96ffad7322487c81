//! Compiled plans: the hot operations answered straight from the search index.
//!
//! Nearly every request a frontend or the playground sends is one shape: `events(...)` with
//! some of its connection (`totalCount`, `pageInfo`, `edges { cursor node }`, `nodes`) and of
//! the event's own fields. The general executor answers it at a fraction of REST's speed: a
//! future per field, validation and a value tree per request. A plan is that shape compiled
//! once per document: the selections with fragments inlined and fields typed, which a request
//! then runs by reading its arguments, taking one page from the index ([`super::events`], as
//! the resolver does) and writing the JSON itself ([`run`]).
//!
//! A plan never decides anything the executor would decide differently; it only answers what it
//! is sure of, and hands everything else to the executor:
//! - a document gets a plan only if every selection is one it knows (no `zones`, no operator
//!   fields, no other directive than `@skip`/`@include`, fragments on the right types), within
//!   a budget of inlined selections ([`compile`]);
//! - a plan runs only once the executor has answered its document without an error (so the
//!   document passed validation; nothing of validation depends on the request but the
//!   variables' values, which the plan reads as strictly);
//! - any argument, variable or condition it cannot read exactly as the executor would, or that
//!   the search refuses, sends the request to the executor, which writes the error.
//!
//! A property test runs random documents through both paths and compares the answers byte for
//! byte.

mod compile;
pub(crate) mod run;

use async_graphql::{Name, Positioned, parser::types::VariableDefinition};
use async_graphql_value::Value as InputValue;
use std::sync::Arc;

pub(crate) use compile::compile;

/// A compiled document: its one query operation's selections, typed, fragments inlined.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The operation's name, if it has one (a request naming another is not this plan's).
    operation: Option<Name>,
    /// Its variable definitions (for their defaults).
    variables: Vec<Positioned<VariableDefinition>>,
    /// The root selections, in document order.
    selections: Vec<Selection>,
    /// The selections grouped by response key, when no `@skip`/`@include` makes them depend on
    /// a request (then they are grouped once, here, instead of per request).
    fixed: Option<Vec<Chosen>>,
}

impl Plan {
    /// Whether a request naming `operation` (or none) runs this plan's operation.
    pub(crate) fn serves(&self, operation: Option<&str>) -> bool {
        match operation {
            None => true,
            Some(name) => self.operation.as_deref() == Some(name),
        }
    }
}

/// One field selected, with its `@skip`/`@include` conditions (its own and those of the
/// fragments it came through).
#[derive(Debug, Clone)]
struct Selection {
    /// The response key: its alias or its name.
    key: Name,
    /// What it reads.
    field: Field,
    /// When it is selected.
    when: Vec<Condition>,
    /// Its arguments, as written (`events` only).
    arguments: Arc<[(Name, InputValue)]>,
    /// Its sub-selections.
    children: Vec<Selection>,
}

/// `@include(if:)` (`include`) or `@skip(if:)`, with its value as written.
#[derive(Debug, Clone)]
struct Condition {
    include: bool,
    value: InputValue,
}

/// Selections kept for one request and grouped by response key (same-key fields merged, as
/// the executor merges them), in the order their keys first appear.
#[derive(Debug)]
pub(crate) struct Chosen {
    key: Name,
    field: Field,
    arguments: Arc<[(Name, InputValue)]>,
    children: Vec<Chosen>,
}

/// Every field a plan can answer, by the type it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `__typename` of an object of this type.
    Typename(&'static str),
    /// `Query.events`.
    Events,
    /// `EventConnection.totalCount`.
    TotalCount,
    /// `EventConnection.pageInfo`.
    PageInfo,
    /// `EventConnection.edges`.
    Edges,
    /// `EventConnection.nodes`.
    Nodes,
    /// `PageInfo.hasPreviousPage`.
    HasPreviousPage,
    /// `PageInfo.hasNextPage`.
    HasNextPage,
    /// `PageInfo.startCursor`.
    StartCursor,
    /// `PageInfo.endCursor`.
    EndCursor,
    /// `EventEdge.cursor`.
    Cursor,
    /// `EventEdge.node`.
    Node,
    /// A field of `Event` read from the index.
    Event(EventField),
    /// `Event.provider`.
    Provider,
    /// `Provider.id`.
    ProviderId,
    /// `Provider.name`.
    ProviderName,
}

/// The fields of `Event` the index holds (all but `zones`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventField {
    Id,
    Title,
    SellMode,
    StartsAt,
    EndsAt,
    StartDate,
    StartTime,
    EndDate,
    EndTime,
    SellFrom,
    SellTo,
    SoldOut,
    MinPrice,
    MaxPrice,
    FirstSeenAt,
    LastSeenAt,
    UpdatedAt,
}

/// The object types a plan walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Query,
    Connection,
    Edge,
    PageInfo,
    Event,
    Provider,
}

impl Type {
    /// Its name in the schema.
    fn name(self) -> &'static str {
        match self {
            Self::Query => "Query",
            Self::Connection => "EventConnection",
            Self::Edge => "EventEdge",
            Self::PageInfo => "PageInfo",
            Self::Event => "Event",
            Self::Provider => "Provider",
        }
    }

    /// Whether a fragment on `condition` applies to an object of this type.
    fn admits(self, condition: &str) -> bool {
        condition == self.name()
            || (condition == "Node" && matches!(self, Self::Event | Self::Provider))
    }

    /// The field `name` of this type a plan answers, and the type of its object (none for a
    /// leaf).
    fn field(self, name: &str) -> Option<(Field, Option<Type>)> {
        use EventField as E;
        let leaf = |field| Some((field, None));
        match (self, name) {
            (Self::Query, "events") => Some((Field::Events, Some(Self::Connection))),
            (Self::Connection, "totalCount") => leaf(Field::TotalCount),
            (Self::Connection, "pageInfo") => Some((Field::PageInfo, Some(Self::PageInfo))),
            (Self::Connection, "edges") => Some((Field::Edges, Some(Self::Edge))),
            (Self::Connection, "nodes") => Some((Field::Nodes, Some(Self::Event))),
            (Self::PageInfo, "hasPreviousPage") => leaf(Field::HasPreviousPage),
            (Self::PageInfo, "hasNextPage") => leaf(Field::HasNextPage),
            (Self::PageInfo, "startCursor") => leaf(Field::StartCursor),
            (Self::PageInfo, "endCursor") => leaf(Field::EndCursor),
            (Self::Edge, "cursor") => leaf(Field::Cursor),
            (Self::Edge, "node") => Some((Field::Node, Some(Self::Event))),
            (Self::Event, "provider") => Some((Field::Provider, Some(Self::Provider))),
            (Self::Provider, "id") => leaf(Field::ProviderId),
            (Self::Provider, "name") => leaf(Field::ProviderName),
            (Self::Event, name) => {
                let field = match name {
                    "id" => E::Id,
                    "title" => E::Title,
                    "sellMode" => E::SellMode,
                    "startsAt" => E::StartsAt,
                    "endsAt" => E::EndsAt,
                    "startDate" => E::StartDate,
                    "startTime" => E::StartTime,
                    "endDate" => E::EndDate,
                    "endTime" => E::EndTime,
                    "sellFrom" => E::SellFrom,
                    "sellTo" => E::SellTo,
                    "soldOut" => E::SoldOut,
                    "minPrice" => E::MinPrice,
                    "maxPrice" => E::MaxPrice,
                    "firstSeenAt" => E::FirstSeenAt,
                    "lastSeenAt" => E::LastSeenAt,
                    "updatedAt" => E::UpdatedAt,
                    _ => return None,
                };
                leaf(Field::Event(field))
            }
            _ => None,
        }
    }
}
