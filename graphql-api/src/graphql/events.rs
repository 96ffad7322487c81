//! Event search as both GraphQL paths run it: the `events` resolver of the schema and the
//! compiled plans of [`super::plan`] read the same arguments into the same page here, so they
//! cannot disagree on what a search returns or which arguments it refuses.

use std::sync::Arc;

use super::{EventFilter, EventOrder, Instant, cursors, paging::PageArgs, paging::Paging, scalars};
use crate::{
    error::ApiError,
    search::{self, DateRange, EventSummary, Snapshot},
};

/// The arguments of `events`, as the schema reads them.
#[derive(Debug, Default)]
pub(crate) struct EventsArgs {
    /// The deprecated top-level start bound.
    pub(crate) starts_at: Option<Instant>,
    /// The deprecated top-level end bound.
    pub(crate) ends_at: Option<Instant>,
    /// Which events.
    pub(crate) filter: Option<EventFilter>,
    /// In which order.
    pub(crate) order_by: Option<EventOrder>,
    /// Which page.
    pub(crate) page: PageArgs,
}

/// One page of a search, in its order.
pub(crate) struct EventsPage {
    /// The order it was read in (its cursors name positions in it).
    order: search::EventOrder,
    /// Its events.
    pub(crate) events: Vec<Arc<EventSummary>>,
    /// Whether events come before it.
    pub(crate) has_previous: bool,
    /// Whether events come after it.
    pub(crate) has_next: bool,
    /// How many events match over all pages (0 unless counted).
    pub(crate) total_count: usize,
}

impl EventsPage {
    /// The cursor of one of its events.
    pub(crate) fn cursor(&self, event: &EventSummary) -> String {
        cursors::event_cursor(&self.order.position(event))
    }
}

/// The page of events `args` asks for from `snapshot`, counting every match when `count`
/// (which walks the whole range). Arguments are checked in the order the schema always
/// checked them, so the first problem is the one reported.
pub(crate) fn page(
    snapshot: &Snapshot,
    max_page_size: usize,
    args: EventsArgs,
    count: bool,
) -> Result<EventsPage, ApiError> {
    let order = search::EventOrder::from(args.order_by.unwrap_or_default());
    let paging = args.page.paging(max_page_size, |c| {
        cursors::parse_event_cursor(order.field, c)
    })?;
    let (range, filter) = event_filter(snapshot, args.starts_at, args.ends_at, args.filter)?;
    let total_count = if count {
        snapshot
            .search(&range, None, None)
            .filter(|e| filter.admits(e))
            .count()
    } else {
        0
    };
    let (events, has_previous, has_next) = match paging {
        Paging::Forward { size, after } => {
            let has_previous = after.is_some();
            let mut found = snapshot.ordered(&range, &filter, order, after, None);
            let page: Vec<_> = found.by_ref().take(size).cloned().collect();
            (page, has_previous, found.next().is_some())
        }
        Paging::Backward { size, before } => {
            let has_next = before.is_some();
            let mut found = snapshot.ordered(&range, &filter, order, None, before).rev();
            let mut page: Vec<_> = found.by_ref().take(size).cloned().collect();
            page.reverse();
            (page, found.next().is_some(), has_next)
        }
    };
    Ok(EventsPage {
        order,
        events,
        has_previous,
        has_next,
        total_count,
    })
}

/// Most provider names an events filter lists.
const MAX_FILTER_PROVIDERS: usize = 100;

/// Longest text an events filter looks for in titles.
const MAX_TITLE_FILTER_CHARS: usize = 200;

/// The date range and the rest of an events filter, read against `snapshot` (provider names
/// to ids). The deprecated top-level dates and the filter's may not both be given.
fn event_filter(
    snapshot: &Snapshot,
    starts_at: Option<Instant>,
    ends_at: Option<Instant>,
    filter: Option<EventFilter>,
) -> Result<(DateRange, search::EventFilter), ApiError> {
    let filter = filter.unwrap_or_default();
    if (starts_at.is_some() || ends_at.is_some())
        && (filter.starts_at.is_some() || filter.ends_at.is_some())
    {
        return Err(ApiError::BadUserInput(
            "give the dates once: in `filter` (the top-level `startsAt`/`endsAt` are deprecated)"
                .to_owned(),
        ));
    }
    let from = starts_at.or(filter.starts_at).map(|t| t.0);
    let to = ends_at.or(filter.ends_at).map(|t| t.0);
    let range = DateRange::new(from, to).map_err(|e| ApiError::BadUserInput(e.to_string()))?;
    // Each name is looked up among the providers, and the text is matched against every
    // candidate's title: both are bounded.
    if filter
        .providers
        .as_ref()
        .is_some_and(|names| names.len() > MAX_FILTER_PROVIDERS)
    {
        return Err(ApiError::BadUserInput(format!(
            "`providers` lists at most {MAX_FILTER_PROVIDERS} names"
        )));
    }
    if filter
        .title_contains
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_TITLE_FILTER_CHARS)
    {
        return Err(ApiError::BadUserInput(format!(
            "`titleContains` is at most {MAX_TITLE_FILTER_CHARS} characters"
        )));
    }
    let providers = filter
        .providers
        .map(|names| {
            names
                .iter()
                .map(|name| {
                    snapshot
                        .provider_id(name)
                        .ok_or_else(|| ApiError::unknown_provider(name))
                })
                .collect::<Result<_, _>>()
        })
        .transpose()?;
    let price =
        |name: &str, text: Option<String>| text.map(|t| scalars::price_cents(name, &t)).transpose();
    Ok((
        range,
        search::EventFilter {
            providers,
            min_price_cents: price("minPrice", filter.min_price)?,
            max_price_cents: price("maxPrice", filter.max_price)?,
            sold_out: filter.sold_out,
            title: filter.title_contains.as_deref().map(search::Folded::new),
        },
    ))
}
