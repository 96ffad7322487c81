//! Event search from memory: the index ([`index`]), kept in step with the database
//! ([`refresh`]), and the date, time and price formatting the answers share ([`format`]).

pub(crate) mod format;
pub mod index;
pub mod refresh;

pub use index::{
    DateRange, EventSummary, InvertedRange, SearchIndex, Snapshot, key, parse_instant,
};
