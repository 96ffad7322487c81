//! What an event search means, in one place: its date range, its filter, its order, and how an
//! event meets them. The API's in-memory index applies these; [`crate::query::event::search`]
//! says the same in SQL; a test holds the two to the same answers.
//!
//! Titles are matched and ordered folded ([`fold`]: lowercase, accents dropped), which the
//! writers store beside each title (`event.title_folded`), so neither side folds per search.

use std::{cmp::Ordering, collections::HashSet};

use chrono::{DateTime, Utc};
use unicode_normalization::{UnicodeNormalization as _, char::is_combining_mark};
use uuid::Uuid;

use crate::{ProviderId, query::event::EventSummary};

/// A date range for search: `from <= start` and `end <= to`, both bounds inclusive and each
/// optional. An inverted range cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateRange {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// `starts_at` is after `ends_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("starts_at ({from}) is after ends_at ({to})")]
pub struct InvertedRange {
    /// The lower bound given.
    pub from: DateTime<Utc>,
    /// The upper bound given.
    pub to: DateTime<Utc>,
}

impl DateRange {
    /// The range, unless `from` is after `to`.
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Self, InvertedRange> {
        match (from, to) {
            (Some(from), Some(to)) if from > to => Err(InvertedRange { from, to }),
            _ => Ok(Self { from, to }),
        }
    }

    /// The lower bound on the start.
    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.from
    }

    /// The upper bound on the end.
    pub fn to(&self) -> Option<DateTime<Utc>> {
        self.to
    }

    /// Whether an event that starts within the range also ends within it.
    pub fn admits_end(&self, event: &EventSummary) -> bool {
        self.to.is_none_or(|to| event.ends_at <= to)
    }

    /// Whether `event` lies within the range.
    pub fn admits(&self, event: &EventSummary) -> bool {
        self.from.is_none_or(|from| event.starts_at >= from) && self.admits_end(event)
    }
}

/// What a search keeps beyond its date range, all conditions together; the default keeps
/// every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only these providers' events.
    pub providers: Option<HashSet<ProviderId>>,
    /// Only events with a ticket at or above this price (their highest price is).
    pub min_price_cents: Option<i64>,
    /// Only events with a ticket at or below this price (their lowest price is).
    pub max_price_cents: Option<i64>,
    /// Only events sold out (or not).
    pub sold_out: Option<bool>,
    /// Only events whose folded title contains this folded text.
    pub title: Option<Folded>,
}

impl EventFilter {
    /// Whether `event` meets every condition. An event without prices meets no price bound.
    pub fn admits(&self, event: &EventSummary) -> bool {
        self.providers
            .as_ref()
            .is_none_or(|p| p.contains(&event.provider_id))
            && self
                .min_price_cents
                .is_none_or(|min| event.max_price_cents.is_some_and(|price| price >= min))
            && self
                .max_price_cents
                .is_none_or(|max| event.min_price_cents.is_some_and(|price| price <= max))
            && self
                .sold_out
                .is_none_or(|sold_out| event.sold_out == sold_out)
            && self
                .title
                .as_ref()
                .is_none_or(|needle| event.title_folded.contains(needle.as_str()))
    }
}

/// Text folded for matching: lowercase, accents dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded(String);

impl Folded {
    /// `text`, folded.
    pub fn new(text: &str) -> Self {
        Self(fold(text))
    }

    /// The folded text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lowercase, with combining marks removed after canonical decomposition ("Ópera" → "opera");
/// an ASCII text is only lowercased.
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// What a search orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderField {
    /// The start (then the id): the index's own order.
    #[default]
    Start,
    /// The lowest price (then the id); events without prices come last either way.
    Price,
    /// The folded title, byte by byte (then the id).
    Title,
}

/// Which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// A search's order: a field and a direction. Every order is total (the id breaks ties), so
/// a page boundary is a [`Position`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventOrder {
    /// By what.
    pub field: OrderField,
    /// Which way.
    pub direction: Direction,
}

/// Where an event stands in an order: its value of the order's field, and its id. A cursor
/// names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// In start order.
    Start(DateTime<Utc>, Uuid),
    /// In price order.
    Price(Option<i64>, Uuid),
    /// In title order.
    Title(String, Uuid),
}

/// A position, borrowed from an event or from a [`Position`].
#[derive(Clone, Copy)]
enum Key<'a> {
    Start(DateTime<Utc>, Uuid),
    Price(Option<i64>, Uuid),
    Title(&'a str, Uuid),
}

impl EventOrder {
    /// The order by start, earliest first: what a search without an order uses.
    pub const START: Self = Self {
        field: OrderField::Start,
        direction: Direction::Asc,
    };

    /// Whether `a` comes before (`Less`) or after `b`.
    pub fn compare(&self, a: &EventSummary, b: &EventSummary) -> Ordering {
        self.compare_keys(self.key(a), self.key(b))
    }

    /// Whether `event` comes before (`Less`) or after the position `at`. A position of
    /// another field is an error of the caller's: it compares as if every event came after.
    pub fn compare_to(&self, event: &EventSummary, at: &Position) -> Ordering {
        let at = match (self.field, at) {
            (OrderField::Start, Position::Start(start, id)) => Key::Start(*start, *id),
            (OrderField::Price, Position::Price(price, id)) => Key::Price(*price, *id),
            (OrderField::Title, Position::Title(title, id)) => Key::Title(title, *id),
            _ => return Ordering::Greater,
        };
        self.compare_keys(self.key(event), at)
    }

    /// Where `event` stands in this order.
    pub fn position(&self, event: &EventSummary) -> Position {
        match self.key(event) {
            Key::Start(start, id) => Position::Start(start, id),
            Key::Price(price, id) => Position::Price(price, id),
            Key::Title(title, id) => Position::Title(title.to_owned(), id),
        }
    }

    fn key<'a>(&self, event: &'a EventSummary) -> Key<'a> {
        let id = event.id.0;
        match self.field {
            OrderField::Start => Key::Start(event.starts_at, id),
            OrderField::Price => Key::Price(event.min_price_cents, id),
            OrderField::Title => Key::Title(&event.title_folded, id),
        }
    }

    fn compare_keys(&self, a: Key<'_>, b: Key<'_>) -> Ordering {
        let directed = |ordering: Ordering| match self.direction {
            Direction::Asc => ordering,
            Direction::Desc => ordering.reverse(),
        };
        match (a, b) {
            (Key::Start(a, a_id), Key::Start(b, b_id)) => directed((a, a_id).cmp(&(b, b_id))),
            (Key::Title(a, a_id), Key::Title(b, b_id)) => directed((a, a_id).cmp(&(b, b_id))),
            // Without a price last, whichever the direction.
            (Key::Price(a, a_id), Key::Price(b, b_id)) => match (a, b) {
                (Some(a), Some(b)) => directed((a, a_id).cmp(&(b, b_id))),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => directed(a_id.cmp(&b_id)),
            },
            // Keys of one order are of one kind.
            _ => Ordering::Equal,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn event(n: u128, title: &str, price: Option<i64>) -> EventSummary {
        let at = Utc.with_ymd_and_hms(2021, 6, 30, 21, 0, 0).unwrap();
        EventSummary {
            id: crate::EventId(Uuid::from_u128(n)),
            provider_id: ProviderId(1),
            title: title.to_owned(),
            title_folded: fold(title),
            sell_mode: "online".into(),
            ever_online: true,
            starts_local: at.naive_utc(),
            ends_local: at.naive_utc(),
            starts_at: at,
            ends_at: at,
            sell_from: None,
            sell_to: None,
            sold_out: false,
            min_price_cents: price,
            max_price_cents: price,
            first_seen_at: at,
            last_seen_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn titles_fold_without_case_or_accents() {
        for (title, needle) in [
            ("Ópera de Madrid", "opera"),
            ("ÓPERA", "ópera"),
            ("Camela en concierto", "CONCIERTO"),
            ("Niño Josele", "nino"),
            ("Café Müller", "cafe mu"),
            ("anything", ""),
        ] {
            assert!(
                fold(title).contains(Folded::new(needle).as_str()),
                "{needle} in {title}"
            );
        }
        for (title, needle) in [("Opera", "operas"), ("Camela", "ñ"), ("abc", "abcd")] {
            assert!(
                !fold(title).contains(Folded::new(needle).as_str()),
                "{needle} not in {title}"
            );
        }
    }

    fn sorted(order: EventOrder, events: &[EventSummary]) -> Vec<u128> {
        let mut events: Vec<&EventSummary> = events.iter().collect();
        events.sort_by(|a, b| order.compare(a, b));
        events.iter().map(|e| e.id.0.as_u128()).collect()
    }

    #[test]
    fn prices_order_both_ways_with_the_unpriced_last() {
        let events = [
            event(1, "a", Some(500)),
            event(2, "b", None),
            event(3, "c", Some(100)),
            event(4, "d", Some(500)),
            event(5, "e", None),
        ];
        let by = |direction| EventOrder {
            field: OrderField::Price,
            direction,
        };
        assert_eq!(sorted(by(Direction::Asc), &events), [3, 1, 4, 2, 5]);
        assert_eq!(sorted(by(Direction::Desc), &events), [4, 1, 3, 5, 2]);
    }

    #[test]
    fn titles_order_folded_and_a_position_splits_the_order() {
        let events = [
            event(1, "Zarzuela", None),
            event(2, "ópera", None),
            event(3, "Ballet", None),
            event(4, "Opera", None),
        ];
        let order = EventOrder {
            field: OrderField::Title,
            direction: Direction::Asc,
        };
        assert_eq!(
            sorted(order, &events),
            [3, 2, 4, 1],
            "\"opera\" twice, by id"
        );
        let at = order.position(&events[1]);
        let after: Vec<u128> = events
            .iter()
            .filter(|e| order.compare_to(e, &at) == Ordering::Greater)
            .map(|e| e.id.0.as_u128())
            .collect();
        assert_eq!(after, [1, 4]);
        assert_eq!(
            EventOrder::START.compare_to(&events[0], &at),
            Ordering::Greater,
            "a position of another order"
        );
    }
}
