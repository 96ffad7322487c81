//! What a search keeps beyond its date range: some providers, a price range, sold out or not,
//! and words of the title, matched without case or accents ("opera" finds "Ópera").

use std::collections::HashSet;

use entity::ProviderId;
use unicode_normalization::{UnicodeNormalization as _, char::is_combining_mark};

use super::EventSummary;

/// The conditions an event must meet, all of them; an empty filter keeps every event.
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
                .is_none_or(|needle| needle.is_in(&event.title))
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

    /// Whether `text`, folded, contains it. An ASCII text is compared in place, without
    /// folding it into a new string.
    pub fn is_in(&self, text: &str) -> bool {
        if text.is_ascii() {
            let needle = self.0.as_bytes();
            return needle.is_empty()
                || text
                    .as_bytes()
                    .windows(needle.len())
                    .any(|window| window.eq_ignore_ascii_case(needle));
        }
        fold(text).contains(&self.0)
    }
}

/// Lowercase, with combining marks removed after canonical decomposition ("Ópera" → "opera").
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_match_without_case_or_accents() {
        for (title, needle) in [
            ("Ópera de Madrid", "opera"),
            ("ÓPERA", "ópera"),
            ("Camela en concierto", "CONCIERTO"),
            ("Niño Josele", "nino"),
            ("Café Müller", "cafe mu"),
            ("anything", ""),
        ] {
            assert!(Folded::new(needle).is_in(title), "{needle} in {title}");
        }
        for (title, needle) in [("Opera", "operas"), ("Camela", "ñ"), ("abc", "abcd")] {
            assert!(!Folded::new(needle).is_in(title), "{needle} not in {title}");
        }
    }
}
