//! The feed's domain record: one event as a provider's feed gives it, once validated, and the
//! hash that says whether it changes what is stored. The collector builds these; the store
//! writes them (`query::event::write_many`). Nothing here touches the database.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::EventId;

/// One event as a feed gives it, validated: what the store writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The provider's id of the base event.
    pub base_event_id: String,
    /// The provider's id of the event.
    pub event_id: String,
    /// Title of the base event.
    pub title: String,
    /// `online`, `offline`, ...
    pub sell_mode: String,
    /// The organiser, when given.
    pub organizer_company_id: Option<String>,
    /// Start in the provider's local time, as written.
    pub starts_local: NaiveDateTime,
    /// End in the provider's local time, as written.
    pub ends_local: NaiveDateTime,
    /// Start as an instant.
    pub starts_at: DateTime<Utc>,
    /// End as an instant.
    pub ends_at: DateTime<Utc>,
    /// Sales open.
    pub sell_from: Option<DateTime<Utc>>,
    /// Sales close.
    pub sell_to: Option<DateTime<Utc>>,
    /// Whether it is sold out.
    pub sold_out: bool,
    /// Its zones, in feed order.
    pub zones: Vec<ZoneRecord>,
}

/// One zone of an event, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRecord {
    /// The provider's zone id (not unique within an event).
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

impl EventRecord {
    /// Whether the provider offers it online now.
    pub fn is_online(&self) -> bool {
        self.sell_mode.eq_ignore_ascii_case("online")
    }

    /// Lowest zone price; none without zones.
    pub fn min_price_cents(&self) -> Option<i64> {
        self.zones.iter().map(|z| z.price_cents).min()
    }

    /// Highest zone price; none without zones.
    pub fn max_price_cents(&self) -> Option<i64> {
        self.zones.iter().map(|z| z.price_cents).max()
    }

    /// The id this record is stored under, for the provider called `provider`.
    pub fn id(&self, provider: &str) -> EventId {
        EventId::derive(provider, &self.base_event_id, &self.event_id)
    }

    /// A hash of everything stored about the record: equal hashes mean nothing to rewrite.
    ///
    /// Each field is written with its length, so no two different records hash the same
    /// input; the algorithm (XXH3) is fixed, so hashes stay valid across releases.
    pub fn content_hash(&self) -> i64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut text = |s: &str| {
            hasher.update(&(s.len() as u64).to_le_bytes());
            hasher.update(s.as_bytes());
        };
        text(&self.base_event_id);
        text(&self.event_id);
        text(&self.title);
        text(&self.sell_mode);
        text(self.organizer_company_id.as_deref().unwrap_or("\u{0}"));
        for instant in [self.starts_local, self.ends_local] {
            hasher.update(&instant.and_utc().timestamp_micros().to_le_bytes());
        }
        for instant in [
            Some(self.starts_at),
            Some(self.ends_at),
            self.sell_from,
            self.sell_to,
        ] {
            hasher.update(
                &instant
                    .map_or(i64::MIN, |t| t.timestamp_micros())
                    .to_le_bytes(),
            );
        }
        hasher.update(&[u8::from(self.sold_out)]);
        hasher.update(&(self.zones.len() as u64).to_le_bytes());
        for zone in &self.zones {
            for s in [&zone.zone_id, &zone.name] {
                hasher.update(&(s.len() as u64).to_le_bytes());
                hasher.update(s.as_bytes());
            }
            hasher.update(&zone.capacity.to_le_bytes());
            hasher.update(&zone.price_cents.to_le_bytes());
            hasher.update(&[u8::from(zone.numbered)]);
        }
        // The bits are the hash; the sign means nothing.
        i64::from_le_bytes(hasher.digest().to_le_bytes())
    }
    /// The zones as stored in `event.zones`.
    pub fn zones_json(&self) -> String {
        // Strings, integers and booleans always serialise.
        serde_json::to_string(&self.zones).unwrap_or_else(|_| "[]".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EventRecord {
        let start = chrono::NaiveDate::from_ymd_opt(2021, 6, 30)
            .unwrap()
            .and_hms_opt(21, 0, 0)
            .unwrap();
        EventRecord {
            base_event_id: "291".into(),
            event_id: "291".into(),
            title: "Camela en concierto".into(),
            sell_mode: "online".into(),
            organizer_company_id: None,
            starts_local: start,
            ends_local: start,
            starts_at: start.and_utc(),
            ends_at: start.and_utc(),
            sell_from: None,
            sell_to: None,
            sold_out: false,
            zones: vec![
                ZoneRecord {
                    zone_id: "40".into(),
                    name: "Platea".into(),
                    capacity: 243,
                    price_cents: 2000,
                    numbered: true,
                },
                ZoneRecord {
                    zone_id: "38".into(),
                    name: "Grada 2".into(),
                    capacity: 100,
                    price_cents: 1500,
                    numbered: false,
                },
            ],
        }
    }

    #[test]
    fn prices_span_the_zones() {
        let r = record();
        assert_eq!(r.min_price_cents(), Some(1500));
        assert_eq!(r.max_price_cents(), Some(2000));
        let no_zones = EventRecord {
            zones: vec![],
            ..record()
        };
        assert_eq!(no_zones.min_price_cents(), None);
    }

    #[test]
    fn the_hash_changes_with_any_stored_field_and_only_then() {
        let base = record();
        assert_eq!(base.content_hash(), record().content_hash());
        let mut capacity = record();
        capacity.zones[0].capacity = 240;
        let mut title = record();
        title.title.push('!');
        let mut boundary = record();
        boundary.zones[0].zone_id = "4".into();
        boundary.zones[0].name = "0Platea".into();
        for changed in [capacity, title, boundary] {
            assert_ne!(base.content_hash(), changed.content_hash());
        }
    }
}
