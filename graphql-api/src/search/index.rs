//! The in-memory search index: every event that was ever online, with its latest values,
//! sorted by start then id, so a date-range search is a binary search and a short scan, and
//! kept in price and title order too, for searches in those orders (what a search means, its
//! range, filter and order, is `entity::search`).
//!
//! A [`Snapshot`] is immutable; the index holds the current one behind an atomic pointer, so
//! readers never block and never see half a refresh. A refresh builds the next snapshot from
//! the current one and the events that changed (see `refresh`), sharing every unchanged event.

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;
use chrono::{DateTime, NaiveDateTime, Utc};
use entity::ProviderId;
use uuid::Uuid;

pub use entity::search::{
    DateRange, Direction, EventFilter, EventOrder, Folded, InvertedRange, OrderField, Position,
};

/// Reads a date-time parameter: RFC 3339 (`Z` or an offset), or a naive date-time read as UTC.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .map(|t| t.and_utc())
}

pub use entity::query::event::EventSummary;

/// The index's sort key: start, then id.
pub fn key(event: &EventSummary) -> (DateTime<Utc>, Uuid) {
    (event.starts_at, event.id.0)
}

/// An immutable view of the catalogue at one catalogue version.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The catalogue version it includes every change up to.
    pub version: i64,
    /// Every event, by start then id.
    events: Vec<Arc<EventSummary>>,
    /// The same events by lowest price (the unpriced last), then id.
    by_price: Vec<Arc<EventSummary>>,
    /// The same events by folded title, then id.
    by_title: Vec<Arc<EventSummary>>,
    providers: HashMap<ProviderId, Arc<str>>,
}

/// The orders a snapshot keeps its events in, smallest first.
const BY_START: EventOrder = EventOrder::START;
const BY_PRICE: EventOrder = EventOrder {
    field: OrderField::Price,
    direction: Direction::Asc,
};
const BY_TITLE: EventOrder = EventOrder {
    field: OrderField::Title,
    direction: Direction::Asc,
};

/// The events of an ordered search, from the front in order, from the back in reverse.
pub type Ordered<'a> = Box<dyn DoubleEndedIterator<Item = &'a Arc<EventSummary>> + Send + 'a>;

impl Snapshot {
    /// A snapshot of `events` at `version`. Every event given is indexed: the caller passes
    /// the searchable (ever online) ones.
    pub fn new(
        version: i64,
        events: impl IntoIterator<Item = EventSummary>,
        providers: HashMap<ProviderId, Arc<str>>,
    ) -> Self {
        Self::from_shared(
            version,
            events.into_iter().map(Arc::new).collect(),
            providers,
        )
    }

    /// The same, from events already shared (building a large index without holding two
    /// copies of it).
    pub fn from_shared(
        version: i64,
        mut events: Vec<Arc<EventSummary>>,
        providers: HashMap<ProviderId, Arc<str>>,
    ) -> Self {
        events.sort_unstable_by_key(|e| key(e));
        let sorted = |order: EventOrder| {
            let mut events = events.clone();
            events.sort_unstable_by(|a, b| order.compare(a, b));
            events
        };
        Self {
            version,
            by_price: sorted(BY_PRICE),
            by_title: sorted(BY_TITLE),
            events,
            providers,
        }
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The provider called `name`, if the snapshot knows one.
    pub fn provider_id(&self, name: &str) -> Option<ProviderId> {
        self.providers
            .iter()
            .find_map(|(id, known)| (&**known == name).then_some(*id))
    }

    /// The provider's name.
    pub fn provider_name(&self, id: ProviderId) -> Arc<str> {
        self.providers
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    /// The events in `range`, by start then id, strictly between the events with keys `after`
    /// and `before` (either optional). Read it from the front to page forward, from the back
    /// (`rev`) to page backward.
    pub fn search<'a>(
        &'a self,
        range: &DateRange,
        after: Option<(DateTime<Utc>, Uuid)>,
        before: Option<(DateTime<Utc>, Uuid)>,
    ) -> impl DoubleEndedIterator<Item = &'a Arc<EventSummary>> + Send + 'a {
        let mut positions = self.candidates(range);
        if let Some(after) = after {
            positions.start = positions
                .start
                .max(self.events.partition_point(|e| key(e) <= after));
        }
        if let Some(before) = before {
            positions.end = positions
                .end
                .min(self.events.partition_point(|e| key(e) < before));
        }
        let range = *range;
        self.events[positions.start..positions.end.max(positions.start)]
            .iter()
            .filter(move |e| range.admits_end(e))
    }

    /// The events in `range` that `filter` keeps, in `order`, strictly between the positions
    /// `after` and `before` (either optional; positions of `order`'s field). Read it from the
    /// front to page forward, from the back to page backward.
    ///
    /// By start, it is [`Self::search`]. By price or title, a range holding few events is
    /// sorted on the spot; otherwise the snapshot's own order for that field is walked, and
    /// only the events in range kept. Sorting costs `m log m` for `m` events in range,
    /// walking about `page × n / m` of the `n` events to fill a page: a range is sorted when
    /// it holds at most `sqrt(64 n)` events (or at most 256).
    pub fn ordered<'a>(
        &'a self,
        range: &DateRange,
        filter: &'a EventFilter,
        order: EventOrder,
        after: Option<Position>,
        before: Option<Position>,
    ) -> Ordered<'a> {
        let start_key = |position: Option<&Position>| match position {
            Some(Position::Start(start, id)) => Some((*start, *id)),
            _ => None,
        };
        if order.field == OrderField::Start {
            let kept = move |e: &&Arc<EventSummary>| filter.admits(e);
            return match order.direction {
                Direction::Asc => Box::new(
                    self.search(range, start_key(after.as_ref()), start_key(before.as_ref()))
                        .filter(kept),
                ),
                Direction::Desc => Box::new(
                    self.search(range, start_key(before.as_ref()), start_key(after.as_ref()))
                        .rev()
                        .filter(kept),
                ),
            };
        }
        let range = *range;
        let kept = move |e: &&Arc<EventSummary>| {
            range.admits(e)
                && filter.admits(e)
                && after
                    .as_ref()
                    .is_none_or(|at| order.compare_to(e, at).is_gt())
                && before
                    .as_ref()
                    .is_none_or(|at| order.compare_to(e, at).is_lt())
        };
        let span = self.candidates(&range);
        if sort_on_the_spot(span.len(), self.events.len()) {
            let mut found: Vec<&Arc<EventSummary>> =
                self.events[span].iter().filter(kept).collect();
            found.sort_unstable_by(|a, b| order.compare(a, b));
            return Box::new(found.into_iter());
        }
        let sorted = match order.field {
            OrderField::Price => &self.by_price,
            _ => &self.by_title,
        };
        match (order.field, order.direction) {
            (_, Direction::Asc) => Box::new(sorted.iter().filter(kept)),
            (OrderField::Price, Direction::Desc) => {
                // The unpriced stay last: each part is read backward.
                let priced = sorted.partition_point(|e| e.min_price_cents.is_some());
                let (priced, unpriced) = sorted.split_at(priced);
                Box::new(
                    priced
                        .iter()
                        .rev()
                        .chain(unpriced.iter().rev())
                        .filter(kept),
                )
            }
            (_, Direction::Desc) => Box::new(sorted.iter().rev().filter(kept)),
        }
    }

    /// Where the events of a search for `range` are among [`Self::events`]: every match lies
    /// in this span, and an event of the span matches if [`DateRange::admits_end`] says so.
    pub fn candidates(&self, range: &DateRange) -> std::ops::Range<usize> {
        let start = range.from().map_or(0, |from| {
            self.events.partition_point(|e| e.starts_at < from)
        });
        // Ends are never before starts, so nothing that starts past `to` ends before it.
        let end = range.to().map_or(self.events.len(), |to| {
            self.events.partition_point(|e| e.starts_at <= to)
        });
        start..end.max(start)
    }

    /// Every event, by start then id.
    pub fn events(&self) -> &[Arc<EventSummary>] {
        &self.events
    }

    /// The next snapshot, at `version`: each of `changed` replaces its previous version or is
    /// added (the caller passes searchable events only; `ever_online` is never cleared, so a
    /// searchable event never leaves). Each order is merged, not sorted again.
    pub fn apply(
        &self,
        version: i64,
        changed: Vec<EventSummary>,
        providers: HashMap<ProviderId, Arc<str>>,
    ) -> Self {
        let replaced: std::collections::HashSet<Uuid> = changed.iter().map(|e| e.id.0).collect();
        let added: Vec<Arc<EventSummary>> = changed.into_iter().map(Arc::new).collect();
        Self {
            version,
            events: merged(&self.events, &replaced, &added, BY_START),
            by_price: merged(&self.by_price, &replaced, &added, BY_PRICE),
            by_title: merged(&self.by_title, &replaced, &added, BY_TITLE),
            providers,
        }
    }
}

/// Whether an ordered search over `span` of `total` events sorts the span (see
/// [`Snapshot::ordered`]).
fn sort_on_the_spot(span: usize, total: usize) -> bool {
    span <= 256 || span.saturating_mul(span) <= total.saturating_mul(64)
}

/// `kept` (in `order`) without the `replaced` events, with `added` merged in.
fn merged(
    kept: &[Arc<EventSummary>],
    replaced: &std::collections::HashSet<Uuid>,
    added: &[Arc<EventSummary>],
    order: EventOrder,
) -> Vec<Arc<EventSummary>> {
    let mut added = added.to_vec();
    added.sort_unstable_by(|a, b| order.compare(a, b));
    let mut events = Vec::with_capacity(kept.len() + added.len());
    let mut added = added.into_iter().peekable();
    for kept in kept.iter().filter(|e| !replaced.contains(&e.id.0)) {
        while let Some(next) = added.next_if(|a| order.compare(a, kept).is_lt()) {
            events.push(next);
        }
        events.push(Arc::clone(kept));
    }
    events.extend(added);
    events
}

/// The current snapshot, swapped atomically on refresh.
pub struct SearchIndex {
    current: ArcSwap<Snapshot>,
}

impl SearchIndex {
    /// An index serving `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The snapshot to answer one request with.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Serves `snapshot` from now on.
    pub fn replace(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_instant(text).unwrap()
    }

    fn event(n: u128, start: &str, end: &str) -> EventSummary {
        EventSummary {
            id: entity::EventId(Uuid::from_u128(n)),
            provider_id: ProviderId(1),
            title: format!("event {n}"),
            title_folded: format!("event {n}"),
            sell_mode: "online".into(),
            ever_online: true,
            starts_local: at(start).naive_utc(),
            ends_local: at(end).naive_utc(),
            starts_at: at(start),
            ends_at: at(end),
            sell_from: None,
            sell_to: None,
            sold_out: false,
            min_price_cents: None,
            max_price_cents: None,
            first_seen_at: at(start),
            last_seen_at: at(start),
            updated_at: at(start),
        }
    }

    fn ids<'a>(found: impl Iterator<Item = &'a Arc<EventSummary>>) -> Vec<u128> {
        found.map(|e| e.id.0.as_u128()).collect()
    }

    fn snapshot() -> Snapshot {
        Snapshot::new(
            1,
            [
                event(3, "2021-07-31T20:00:00Z", "2021-07-31T21:00:00Z"),
                event(1, "2021-02-10T20:00:00Z", "2021-02-10T21:30:00Z"),
                event(2, "2021-06-30T21:00:00Z", "2021-06-30T22:00:00Z"),
                event(4, "2021-06-30T21:00:00Z", "2021-12-31T22:00:00Z"),
            ],
            HashMap::new(),
        )
    }

    #[test]
    fn search_is_containment_with_inclusive_optional_bounds() {
        let s = snapshot();
        let all = DateRange::default();
        assert_eq!(
            ids(s.search(&all, None, None)),
            [1, 2, 4, 3],
            "by start, then id"
        );
        let june = DateRange::new(
            Some(at("2021-06-30T21:00:00Z")),
            Some(at("2021-07-31T21:00:00Z")),
        )
        .unwrap();
        assert_eq!(
            ids(s.search(&june, None, None)),
            [2, 3],
            "both bounds inclusive; 4 ends too late"
        );
        let from = DateRange::new(Some(at("2021-06-30T21:00:01Z")), None).unwrap();
        assert_eq!(ids(s.search(&from, None, None)), [3]);
        let to = DateRange::new(None, Some(at("2021-02-10T21:30:00Z"))).unwrap();
        assert_eq!(ids(s.search(&to, None, None)), [1]);
    }

    #[test]
    fn an_inverted_range_cannot_be_built() {
        let err = DateRange::new(
            Some(at("2021-02-01T00:00:00Z")),
            Some(at("2021-01-01T00:00:00Z")),
        );
        assert!(err.is_err());
        assert!(
            DateRange::new(
                Some(at("2021-01-01T00:00:00Z")),
                Some(at("2021-01-01T00:00:00Z"))
            )
            .is_ok()
        );
    }

    #[test]
    fn pages_continue_after_their_cursor() {
        let s = snapshot();
        let all = DateRange::default();
        let first: Vec<_> = s.search(&all, None, None).take(2).collect();
        let after = key(first.last().unwrap());
        assert_eq!(ids(s.search(&all, Some(after), None)), [4, 3]);
    }

    /// Random events, filters and orders: the index's answer is the reference's (every
    /// event, kept by containment and the filter, sorted in the order), read forward and
    /// backward, whole and in pages continued from their last position.
    #[test]
    fn ordered_searches_match_a_sort_of_every_event() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let titles = [
            "Ópera",
            "opera prima",
            "Camela",
            "CAFÉ Müller",
            "Niño",
            "Los Morancos",
        ];
        let events: Vec<EventSummary> = (0..600u128)
            .map(|n| {
                let start =
                    DateTime::from_timestamp(1_600_000_000 + 3_600 * next(500) as i64, 0).unwrap();
                let mut e = event(n, "2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z");
                e.starts_at = start;
                e.ends_at = start + chrono::TimeDelta::hours(next(48) as i64);
                e.provider_id = ProviderId(next(3) as i64);
                e.title = titles[next(titles.len() as u64) as usize].to_owned();
                e.title_folded = entity::search::fold(&e.title);
                e.sold_out = next(2) == 0;
                if next(5) > 0 {
                    let low = next(50) as i64 * 100;
                    e.min_price_cents = Some(low);
                    e.max_price_cents = Some(low + next(5_000) as i64);
                }
                e
            })
            .collect();
        let snapshot = Snapshot::new(1, events.clone(), HashMap::new());
        let (mut sorted, mut walked) = (0, 0);
        for _ in 0..300 {
            let instant = |n: u64| DateTime::from_timestamp(1_600_000_000 + 3_600 * n as i64, 0);
            let from = (next(3) > 0).then(|| instant(next(500)).unwrap());
            let to = (next(3) > 0).then(|| instant(next(550)).unwrap());
            let Ok(range) = DateRange::new(from, to) else {
                continue;
            };
            let filter = EventFilter {
                providers: (next(2) == 0)
                    .then(|| (0..next(3)).map(|p| ProviderId(p as i64)).collect()),
                min_price_cents: (next(3) == 0).then(|| next(6_000) as i64),
                max_price_cents: (next(3) == 0).then(|| next(6_000) as i64),
                sold_out: (next(3) == 0).then(|| next(2) == 0),
                title: (next(3) == 0)
                    .then(|| Folded::new(["OPERA", "cafe", "nino", "o", "x"][next(5) as usize])),
            };
            let order = EventOrder {
                field: [OrderField::Start, OrderField::Price, OrderField::Title][next(3) as usize],
                direction: [Direction::Asc, Direction::Desc][next(2) as usize],
            };
            let span = snapshot.candidates(&range).len();
            if sort_on_the_spot(span, snapshot.len()) {
                sorted += 1;
            } else {
                walked += 1;
            }
            let mut expected: Vec<&EventSummary> = events
                .iter()
                .filter(|e| range.admits(e) && filter.admits(e))
                .collect();
            expected.sort_by(|a, b| order.compare(a, b));
            let expected: Vec<u128> = expected.iter().map(|e| e.id.0.as_u128()).collect();
            let context = format!("{range:?} {filter:?} {order:?}");
            let found = snapshot.ordered(&range, &filter, order, None, None);
            assert_eq!(ids(found), expected, "{context}");
            let mut backward = ids(snapshot.ordered(&range, &filter, order, None, None).rev());
            backward.reverse();
            assert_eq!(backward, expected, "{context}");

            let size = 1 + next(40) as usize;
            let mut paged = Vec::new();
            let mut after: Option<Position> = None;
            loop {
                let page: Vec<_> = snapshot
                    .ordered(&range, &filter, order, after.clone(), None)
                    .take(size)
                    .collect();
                let Some(last) = page.last() else { break };
                after = Some(order.position(last));
                paged.extend(ids(page.into_iter()));
            }
            assert_eq!(paged, expected, "forward pages of {size}: {context}");
            let mut paged = Vec::new();
            let mut before: Option<Position> = None;
            loop {
                let page: Vec<_> = snapshot
                    .ordered(&range, &filter, order, None, before.clone())
                    .rev()
                    .take(size)
                    .collect();
                let Some(first) = page.last() else { break };
                before = Some(order.position(first));
                paged.extend(ids(page.into_iter()));
            }
            paged.reverse();
            assert_eq!(paged, expected, "backward pages of {size}: {context}");
        }
        assert!(
            sorted > 30 && walked > 30,
            "both ways exercised: {sorted} sorted, {walked} walked"
        );
    }

    #[test]
    fn a_refresh_keeps_every_order() {
        let s = snapshot();
        let mut cheap = event(5, "2021-01-01T10:00:00Z", "2021-01-01T11:00:00Z");
        cheap.min_price_cents = Some(100);
        cheap.title_folded = "a".into();
        let mut dear = event(2, "2021-06-30T21:00:00Z", "2021-06-30T22:00:00Z");
        dear.min_price_cents = Some(900);
        let next = s.apply(2, vec![cheap, dear], HashMap::new());
        let all = DateRange::default();
        let filter = EventFilter::default();
        for (order, expected) in [(BY_PRICE, [5, 2, 1, 3, 4]), (BY_TITLE, [5, 1, 2, 3, 4])] {
            assert_eq!(
                ids(next.ordered(&all, &filter, order, None, None)),
                expected
            );
            let kept = if order == BY_PRICE {
                &next.by_price
            } else {
                &next.by_title
            };
            assert_eq!(ids(kept.iter()), expected, "{order:?} kept merged");
        }
    }

    #[test]
    fn pages_go_back_before_their_cursor() {
        let s = snapshot();
        let all = DateRange::default();
        let last = key(s.search(&all, None, None).next_back().unwrap());
        assert_eq!(ids(s.search(&all, None, Some(last))), [1, 2, 4]);
        let second = key(s.search(&all, None, None).nth(1).unwrap());
        assert_eq!(ids(s.search(&all, Some(second), Some(last))), [4]);
        assert_eq!(ids(s.search(&all, None, Some(second)).rev()), [1]);
    }

    #[test]
    fn a_refresh_replaces_changed_events_and_shares_the_rest() {
        let s = snapshot();
        let moved = event(1, "2021-09-01T10:00:00Z", "2021-09-01T11:00:00Z");
        let new = event(5, "2021-01-01T10:00:00Z", "2021-01-01T11:00:00Z");
        let next = s.apply(2, vec![moved, new], HashMap::new());
        assert_eq!(next.version, 2);
        assert_eq!(
            ids(next.search(&DateRange::default(), None, None)),
            [5, 2, 4, 3, 1]
        );
        assert_eq!(
            ids(s.search(&DateRange::default(), None, None)),
            [1, 2, 4, 3],
            "the old snapshot is unchanged"
        );
        let shared = next
            .search(&DateRange::default(), None, None)
            .find(|e| e.id.0.as_u128() == 2)
            .unwrap();
        let original = s
            .search(&DateRange::default(), None, None)
            .find(|e| e.id.0.as_u128() == 2)
            .unwrap();
        assert!(
            Arc::ptr_eq(shared, original),
            "unchanged events are shared, not copied"
        );
    }

    #[test]
    fn parameters_accept_offsets_and_naive_utc() {
        assert_eq!(at("2021-06-30T21:00:00+02:00"), at("2021-06-30T19:00:00Z"));
        assert_eq!(
            parse_instant("2021-06-30T19:00:00"),
            Some(at("2021-06-30T19:00:00Z"))
        );
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(parse_instant("2021-09-31T00:00:00Z"), None);
    }
}
