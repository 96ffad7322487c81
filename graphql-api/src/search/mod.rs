//! Event search from memory: the index ([`index`]), kept in step with the database
//! ([`refresh`]), and the date, time and price formatting the answers share ([`format`]).
//! What a search means (its range, filter and order) is `entity::search`, which the SQL
//! search shares.

pub(crate) mod format;
pub mod index;
pub mod refresh;

pub use index::{
    DateRange, Direction, EventFilter, EventOrder, EventSummary, Folded, InvertedRange, OrderField,
    Position, SearchIndex, Snapshot, key, parse_instant,
};
