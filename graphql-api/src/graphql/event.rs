//! The `Event` and `Zone` types, the `Node` interface, and event cursors.

use std::sync::Arc;

use async_graphql::{
    Context, Enum, ID, InputObject, Interface, Object, SimpleObject, dataloader::DataLoader,
};
use chrono::NaiveDateTime;

use super::{
    Job, JobOutcome, Provider,
    loaders::{DbLoader, ZonesOf},
    scalars::{Instant, money},
};
use crate::{
    error::ApiError,
    search::{EventSummary, format},
};

/// Most zones an event answers with: what ingestion accepts for one event.
pub(super) const MAX_ZONES: usize = 1_000;

/// Anything with a global id (see `ids`): `node(id:)` reads any of them back. Event ids are
/// UUIDs, unique across providers and databases; the others are opaque.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The global id."))]
pub enum Node {
    /// An event.
    Event(Event),
    /// A job.
    Job(Job),
    /// A job's outcome.
    JobOutcome(JobOutcome),
    /// A provider.
    Provider(Provider),
}

/// Which events a search keeps, all conditions together. Prices are exact decimals
/// (`"15.50"`).
#[derive(Debug, Clone, Default, InputObject)]
pub struct EventFilter {
    /// Only events that start at or after this instant.
    pub starts_at: Option<Instant>,
    /// Only events that end at or before this instant.
    pub ends_at: Option<Instant>,
    /// Only these providers' events (by name).
    pub providers: Option<Vec<String>>,
    /// Only events with a ticket at or above this price (their highest price is).
    pub min_price: Option<String>,
    /// Only events with a ticket at or below this price (their lowest price is).
    pub max_price: Option<String>,
    /// Only events sold out (`true`) or not (`false`).
    pub sold_out: Option<bool>,
    /// Only events whose title contains this text, ignoring case and accents ("opera" finds
    /// "Ópera").
    pub title_contains: Option<String>,
}

/// How a provider sells an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum SellMode {
    /// On sale online (search shows events that ever were).
    Online,
    /// Sold offline only.
    Offline,
    /// Anything else a provider says.
    Other,
}

impl SellMode {
    /// The mode a feed's `sell_mode` names (any case).
    pub(crate) fn of(text: &str) -> Self {
        if text.eq_ignore_ascii_case("online") {
            Self::Online
        } else if text.eq_ignore_ascii_case("offline") {
            Self::Offline
        } else {
            Self::Other
        }
    }
}

/// An event: one session of a show, as its provider last described it.
#[derive(Clone)]
pub struct Event {
    event: Arc<EventSummary>,
    provider: Arc<str>,
}

impl Event {
    /// The event `event` of the provider called `provider`.
    pub fn new(event: Arc<EventSummary>, provider: Arc<str>) -> Self {
        Self { event, provider }
    }
}

fn date(t: NaiveDateTime) -> String {
    format::to_string(t, format::write_date)
}

fn time(t: NaiveDateTime) -> String {
    format::to_string(t, format::write_time)
}

// Serial: every field but `zones` is ready at once, and resolving a page's fields one after
// the other skips a task set per event (measured on the `events` query; see
// docs/benchmarks.md). Events of a page still resolve concurrently, so zone loads batch.
/// An event: one session of a show, as its provider last described it.
#[Object(serial)]
impl Event {
    /// Stable id: a UUID v5 of (provider, base event id, event id).
    async fn id(&self) -> ID {
        ID(self.event.id.to_string())
    }

    /// Its provider: `id` and `name` for anyone, the rest for a viewer token.
    async fn provider(&self) -> Provider {
        Provider::named(self.event.provider_id, Arc::clone(&self.provider))
    }

    /// Title of the show.
    async fn title(&self) -> &str {
        &self.event.title
    }

    /// How the provider sells it now.
    async fn sell_mode(&self) -> SellMode {
        SellMode::of(&self.event.sell_mode)
    }

    /// Start, as an instant.
    async fn starts_at(&self) -> Instant {
        self.event.starts_at.into()
    }

    /// End, as an instant.
    async fn ends_at(&self) -> Instant {
        self.event.ends_at.into()
    }

    /// Start date in the provider's local time (`YYYY-MM-DD`).
    async fn start_date(&self) -> String {
        date(self.event.starts_local)
    }

    /// Start time in the provider's local time (`HH:MM:SS`).
    async fn start_time(&self) -> String {
        time(self.event.starts_local)
    }

    /// End date in the provider's local time.
    async fn end_date(&self) -> String {
        date(self.event.ends_local)
    }

    /// End time in the provider's local time.
    async fn end_time(&self) -> String {
        time(self.event.ends_local)
    }

    /// When sales open.
    async fn sell_from(&self) -> Option<Instant> {
        self.event.sell_from.map(Instant)
    }

    /// When sales close.
    async fn sell_to(&self) -> Option<Instant> {
        self.event.sell_to.map(Instant)
    }

    /// Whether the provider says it is sold out.
    async fn sold_out(&self) -> bool {
        self.event.sold_out
    }

    /// Lowest zone price, exact (`"15.00"`); null without zones.
    async fn min_price(&self) -> Option<String> {
        self.event.min_price_cents.map(money)
    }

    /// Highest zone price, exact; null without zones.
    async fn max_price(&self) -> Option<String> {
        self.event.max_price_cents.map(money)
    }

    /// Its zones, in the provider's order (read from the database); at most the first 1,000,
    /// as many as ingestion accepts for one event.
    async fn zones(&self, ctx: &Context<'_>) -> Result<Vec<Zone>, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        let zones = loader.load_one(ZonesOf(self.event.id)).await?;
        Ok(zones
            .unwrap_or_default()
            .into_iter()
            .map(|z| Zone {
                zone_id: z.zone_id,
                name: z.name,
                capacity: z.capacity,
                price: money(z.price_cents),
                numbered: z.numbered,
            })
            .collect())
    }

    /// When a feed first carried it.
    async fn first_seen_at(&self) -> Instant {
        self.event.first_seen_at.into()
    }

    /// When a feed last carried it (refreshed at most hourly while unchanged).
    async fn last_seen_at(&self) -> Instant {
        self.event.last_seen_at.into()
    }

    /// When its content last changed.
    async fn updated_at(&self) -> Instant {
        self.event.updated_at.into()
    }
}

/// A priced zone of an event.
#[derive(Debug, Clone, SimpleObject)]
pub struct Zone {
    /// The provider's zone id (not unique within an event).
    pub zone_id: String,
    /// Its name.
    pub name: String,
    /// Seats left.
    pub capacity: i32,
    /// Price, exact (`"20.00"`).
    pub price: String,
    /// Whether seats are numbered.
    pub numbered: bool,
}

/// The connection's totals.
#[derive(Debug, Clone, SimpleObject)]
pub struct Totals {
    /// How many items match, over all pages. Jobs filtered by at most a provider and a state
    /// are counted from kept counts (cheap at any size); any other job filter counts the
    /// matching jobs, which costs as many rows as match (seconds at a million failures of one
    /// error kind): ask for it only when it is needed.
    pub total_count: usize,
}

#[cfg(test)]
mod tests {
    use super::SellMode;

    #[test]
    fn sell_modes_are_read_in_any_case_and_the_rest_is_other() {
        assert_eq!(SellMode::of("online"), SellMode::Online);
        assert_eq!(SellMode::of("ONLINE"), SellMode::Online);
        assert_eq!(SellMode::of("Offline"), SellMode::Offline);
        assert_eq!(SellMode::of("box office"), SellMode::Other);
        assert_eq!(SellMode::of(""), SellMode::Other);
    }
}
