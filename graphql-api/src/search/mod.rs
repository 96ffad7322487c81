//! Event search from memory: the index ([`index`]), kept in step with the database
//! ([`refresh`]), what a search keeps beyond its dates ([`filter`]), and the date, time and
//! price formatting the answers share ([`format`]).

pub mod filter;
pub(crate) mod format;
pub mod index;
pub mod refresh;

pub use index::{
    DateRange, EventSummary, InvertedRange, SearchIndex, Snapshot, key, parse_instant,
};
