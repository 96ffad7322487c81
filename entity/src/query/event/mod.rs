//! Queries over `event`: `read.rs` for lookups and the search projection, `write.rs` for the
//! batched writes of a collected feed. What a row holds is decided once: the reads select
//! the fields of their projections ([`EventSummary`], [`StoredState`]), and every write
//! statement is built from the entity's own column list.

mod read;
mod write;

pub use read::{
    EventSummary, StoredState, changed_between, count_for_provider, find_by_base_event,
    find_summaries, find_summary, list_for_provider, search, stored_states, summary_stream,
    zones_of,
};
pub use write::{
    EventWrite, Staged, clear_abandoned_stages, discard, stage, touch_seen, unlist, write_many,
};

/// Ids per `IN (...)` list.
const ID_BATCH: usize = 5_000;
