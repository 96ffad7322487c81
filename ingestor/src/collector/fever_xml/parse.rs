//! Streaming parse of a Fever XML feed into raw records, without building a document tree.
//!
//! Both dialects seen in the wild are read: `eventList/…/base_event/event/zone` and the newer
//! `planList/…/base_plan/plan/zone`, whose attributes are named `plan_*` where the older
//! ones say `event_*`. Elements and attributes we do not know are skipped (their children are
//! still read, so a wrapper such as `<output>` is transparent). Values are kept as text:
//! validating them is the next, separate step. A feed that is not well-formed, is truncated,
//! or has an unknown root fails as a whole.
//!
//! The same reading runs over a body in memory ([`parse_feed`], [`parse_region`]) or over a
//! stream ([`parse_stream`]), which holds only the event being read: the collector reads feeds
//! as they arrive from the network, without keeping them.

use std::io::BufRead;

use quick_xml::{
    Reader,
    events::{BytesStart, Event},
};

/// The two feed dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `<eventList>` with `base_event` and `event` elements.
    EventList,
    /// `<planList>` with `base_plan` and `plan` elements.
    PlanList,
}

impl Dialect {
    fn base(self) -> &'static str {
        match self {
            Self::EventList => "base_event",
            Self::PlanList => "base_plan",
        }
    }

    fn event(self) -> &'static str {
        match self {
            Self::EventList => "event",
            Self::PlanList => "plan",
        }
    }
}

/// One attribute's text, if the element had it. Its buffer is reused from record to record,
/// so reading a large feed does not allocate per attribute.
#[derive(Debug, Clone, Default)]
pub struct Field {
    text: String,
    present: bool,
}

impl Field {
    /// The attribute's value, if present.
    pub fn get(&self) -> Option<&str> {
        self.present.then_some(self.text.as_str())
    }

    /// An attribute that was not there.
    pub fn absent() -> Self {
        Self::default()
    }

    fn set(&mut self, value: &str) {
        self.text.clear();
        self.text.push_str(value);
        self.present = true;
    }

    fn clear(&mut self) {
        self.present = false;
    }

    /// Makes this a copy of `other`, reusing this one's buffer.
    pub fn copy_from(&mut self, other: &Self) {
        match other.get() {
            Some(value) => self.set(value),
            None => self.clear(),
        }
    }
}

impl From<&str> for Field {
    fn from(value: &str) -> Self {
        let mut field = Self::default();
        field.set(value);
        field
    }
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Field {}

/// A base event's attributes, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBase {
    /// `base_event_id` / `base_plan_id`.
    pub base_event_id: Field,
    /// `title`.
    pub title: Field,
    /// `sell_mode`.
    pub sell_mode: Field,
    /// `organizer_company_id`.
    pub organizer_company_id: Field,
}

impl RawBase {
    /// Makes this a copy of `other`, reusing this one's buffers.
    pub fn copy_from(&mut self, other: &Self) {
        self.base_event_id.copy_from(&other.base_event_id);
        self.title.copy_from(&other.title);
        self.sell_mode.copy_from(&other.sell_mode);
        self.organizer_company_id
            .copy_from(&other.organizer_company_id);
    }
}

/// An event's attributes and zones, as text.
#[derive(Debug, Clone, Default)]
pub struct RawEvent {
    /// `event_id` / `plan_id`.
    pub event_id: Field,
    /// `event_start_date` / `plan_start_date`.
    pub start: Field,
    /// `event_end_date` / `plan_end_date`.
    pub end: Field,
    /// `sell_from`.
    pub sell_from: Field,
    /// `sell_to`.
    pub sell_to: Field,
    /// `sold_out`.
    pub sold_out: Field,
    // Zone buffers are reused: only the first `zone_count` belong to this event.
    zones: Vec<RawZone>,
    zone_count: usize,
    // Zones past the parser's limit: counted, not kept, so a record with millions of zones
    // costs no memory before validation rejects it.
    zones_dropped: usize,
}

impl RawEvent {
    /// Its `zone` children, in order.
    pub fn zones(&self) -> &[RawZone] {
        &self.zones[..self.zone_count]
    }

    /// How many `zone` children it had, including those past the parser's limit (which
    /// [`Self::zones`] does not hold).
    pub fn zones_seen(&self) -> usize {
        self.zone_count + self.zones_dropped
    }

    /// Its zones, to change them (building records by hand, in tests).
    pub fn zones_mut(&mut self) -> &mut [RawZone] {
        &mut self.zones[..self.zone_count]
    }

    /// Appends a zone (building records by hand, in tests).
    pub fn push_zone(&mut self, zone: RawZone) {
        self.zones.truncate(self.zone_count);
        self.zones.push(zone);
        self.zone_count += 1;
    }

    /// Counts `n` zones past the parser's limit (building records by hand, in tests).
    pub fn drop_zones(&mut self, n: usize) {
        self.zones_dropped += n;
    }

    /// A reused slot for the next zone, cleared; `None` past `limit` zones (the zone is
    /// counted only).
    fn next_zone(&mut self, limit: usize) -> Option<&mut RawZone> {
        if self.zone_count >= limit {
            self.zones_dropped += 1;
            return None;
        }
        if self.zone_count == self.zones.len() {
            self.zones.push(RawZone::default());
        }
        let zone = &mut self.zones[self.zone_count];
        self.zone_count += 1;
        zone.clear();
        Some(zone)
    }

    fn clear(&mut self) {
        for field in [
            &mut self.event_id,
            &mut self.start,
            &mut self.end,
            &mut self.sell_from,
            &mut self.sell_to,
            &mut self.sold_out,
        ] {
            field.clear();
        }
        self.zone_count = 0;
        self.zones_dropped = 0;
    }
}

impl PartialEq for RawEvent {
    fn eq(&self, other: &Self) -> bool {
        self.event_id == other.event_id
            && self.start == other.start
            && self.end == other.end
            && self.sell_from == other.sell_from
            && self.sell_to == other.sell_to
            && self.sold_out == other.sold_out
            && self.zones() == other.zones()
            && self.zones_dropped == other.zones_dropped
    }
}

impl Eq for RawEvent {}

/// A zone's attributes, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawZone {
    /// `zone_id`.
    pub zone_id: Field,
    /// `name`.
    pub name: Field,
    /// `capacity`.
    pub capacity: Field,
    /// `price`.
    pub price: Field,
    /// `numbered`.
    pub numbered: Field,
}

impl RawZone {
    fn clear(&mut self) {
        for field in [
            &mut self.zone_id,
            &mut self.name,
            &mut self.capacity,
            &mut self.price,
            &mut self.numbered,
        ] {
            field.clear();
        }
    }
}

/// Why a feed cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body has no root element.
    #[error("the feed is empty")]
    Empty,
    /// The body is not UTF-8 (the only encoding the feeds use).
    #[error("the feed is not valid UTF-8 (first bad byte at offset {0})")]
    Encoding(usize),
    /// The XML is malformed.
    #[error("the feed is not well-formed XML at byte {position}: {message}")]
    Malformed {
        /// Byte offset where the reader stopped.
        position: u64,
        /// What the reader found.
        message: String,
    },
    /// The document ends with elements still open.
    #[error("the feed ends before its root element is closed (truncated at byte {0})")]
    Truncated(u64),
    /// The root is neither `eventList` nor `planList`.
    #[error("unknown feed dialect: root element <{0}> (expected <eventList> or <planList>)")]
    UnknownDialect(String),
}

/// What a successful parse saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseSummary {
    /// The dialect of the root element.
    pub dialect: Dialect,
    /// Event records handed to the callback.
    pub events: usize,
}

/// Reads `body` and calls `on_event` with each event and its base event, in feed order. An
/// event keeps at most `max_zones` zones; further ones are only counted
/// ([`RawEvent::zones_seen`]), so memory stays bounded whatever a record holds.
///
/// The callback sees every record of a well-formed feed; if the feed turns out to be broken
/// further on, an error is returned, and the caller must discard what it collected. The
/// callback may swap the event out (with `std::mem::swap`) to keep it without copying; the
/// parser then fills whatever event it is given back.
pub fn parse_feed(
    body: &[u8],
    max_zones: usize,
    on_event: impl FnMut(&RawBase, &mut RawEvent),
) -> Result<ParseSummary, ParseError> {
    let text = utf8(body)?;
    let end = parse_region(text, None, max_zones, on_event)?;
    if !end.open.is_empty() {
        return Err(ParseError::Truncated(text.len() as u64));
    }
    Ok(ParseSummary {
        dialect: end.dialect,
        events: end.events,
    })
}

/// `body` as text: the feeds are UTF-8.
pub fn utf8(body: &[u8]) -> Result<&str, ParseError> {
    // The SIMD check is several times faster; on failure the standard one says where.
    simdutf8::basic::from_utf8(body).map_err(|_| {
        ParseError::Encoding(
            std::str::from_utf8(body)
                .err()
                .map_or(0, |e| e.valid_up_to()),
        )
    })
}

/// How a region of a document ended (see [`parse_region`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEnd {
    /// The document's dialect.
    pub dialect: Dialect,
    /// Event records read.
    pub events: usize,
    /// Elements still open at the end of the region, outermost first.
    pub open: Vec<String>,
    /// End tags of elements opened before the region, in the order they came.
    pub closed_before: Vec<String>,
    /// Text other than whitespace came after the last of `closed_before`.
    pub trailing_text: bool,
}

/// Elements deeper than this are never open at a region boundary (which falls between two
/// base events); their names are not kept.
const TRACKED_DEPTH: usize = 8;

/// Reads a region of a document: the whole of it when `inside` is `None`, or a part that
/// starts between two base events of a document of that dialect. A region may end with
/// elements open, and a later one may close elements it did not open; [`RegionEnd`] says
/// which, so the caller can check that consecutive regions fit together. Events keep at most
/// `max_zones` zones, as in [`parse_feed`].
pub fn parse_region(
    text: &str,
    inside: Option<Dialect>,
    max_zones: usize,
    on_event: impl FnMut(&RawBase, &mut RawEvent),
) -> Result<RegionEnd, ParseError> {
    let mut reader = Reader::from_str(text);
    configure(reader.config_mut(), inside);
    read_events(&mut InMemory(reader), inside, max_zones, on_event)
}

/// Reads a whole document from `input` as [`parse_feed`] reads a body, holding only the
/// event being read (a tag, or a run of text) besides what `input` buffers. Whitespace
/// between elements is skipped without being held.
pub fn parse_stream(
    input: impl BufRead,
    max_zones: usize,
    on_event: impl FnMut(&RawBase, &mut RawEvent),
) -> Result<ParseSummary, ParseError> {
    let mut reader = Reader::from_reader(input);
    configure(reader.config_mut(), None);
    let mut source = Buffered {
        reader,
        event: Vec::new(),
    };
    let end = read_events(&mut source, None, max_zones, on_event)?;
    if !end.open.is_empty() {
        return Err(ParseError::Truncated(source.position()));
    }
    Ok(ParseSummary {
        dialect: end.dialect,
        events: end.events,
    })
}

fn configure(config: &mut quick_xml::reader::Config, inside: Option<Dialect>) {
    config.check_end_names = true;
    config.allow_unmatched_ends = inside.is_some();
    config.trim_text(true);
}

/// Where [`read_events`] takes its events from.
trait EventSource {
    /// The next event.
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>>;
    /// Bytes read so far.
    fn position(&self) -> u64;
}

/// A document in memory: events borrow from it.
struct InMemory<'a>(Reader<&'a [u8]>);

impl EventSource for InMemory<'_> {
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>> {
        self.0.read_event()
    }

    fn position(&self) -> u64 {
        self.0.buffer_position()
    }
}

/// A document read from a stream: each event is copied into a buffer, reused.
struct Buffered<R> {
    reader: Reader<R>,
    event: Vec<u8>,
}

/// An event buffer grown past this (a huge tag or text) is not kept for the next event.
const KEPT_EVENT_BUFFER: usize = 64 * 1024;

impl<R: BufRead> EventSource for Buffered<R> {
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>> {
        if self.event.capacity() > KEPT_EVENT_BUFFER {
            self.event = Vec::new();
        }
        self.event.clear();
        self.reader.read_event_into(&mut self.event)
    }

    fn position(&self) -> u64 {
        self.reader.buffer_position()
    }
}

fn read_events(
    source: &mut impl EventSource,
    inside: Option<Dialect>,
    max_zones: usize,
    mut on_event: impl FnMut(&RawBase, &mut RawEvent),
) -> Result<RegionEnd, ParseError> {
    let mut dialect = inside;
    let mut root_closed = false;
    let mut names: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut closed_before = Vec::new();
    let mut trailing_text = false;
    let mut base = RawBase::default();
    let mut base_depth = None;
    let mut event = RawEvent::default();
    let mut event_depth = None;
    let mut events = 0usize;

    loop {
        let position = source.position();
        let malformed = |message: String| ParseError::Malformed { position, message };
        let item = source.next_event().map_err(|e| malformed(e.to_string()))?;
        match item {
            Event::Start(ref element) | Event::Empty(ref element) => {
                let is_empty = matches!(item, Event::Empty(_));
                if root_closed || !closed_before.is_empty() {
                    return Err(malformed("content after the root element".to_owned()));
                }
                let name = element.local_name();
                let name = name.as_ref();
                let Some(current) = dialect else {
                    dialect = Some(root_dialect(name)?);
                    if is_empty {
                        root_closed = true;
                    } else {
                        depth += 1;
                        names.push(name.to_owned());
                    }
                    continue;
                };
                if name == current.base() && base_depth.is_none() {
                    read_base(element, current, &mut base).map_err(&malformed)?;
                    if !is_empty {
                        base_depth = Some(depth);
                    }
                } else if name == current.event() && base_depth.is_some() && event_depth.is_none() {
                    read_event(element, current, &mut event).map_err(&malformed)?;
                    if is_empty {
                        events += 1;
                        on_event(&base, &mut event);
                    } else {
                        event_depth = Some(depth);
                    }
                } else if name == "zone"
                    && event_depth.is_some()
                    && let Some(zone) = event.next_zone(max_zones)
                {
                    read_zone(element, zone).map_err(&malformed)?;
                }
                if !is_empty {
                    if depth < TRACKED_DEPTH {
                        names.push(name.to_owned());
                    }
                    depth += 1;
                }
            }
            Event::End(ref element) => {
                if depth == 0 {
                    // Closes an element opened before this region.
                    closed_before.push(element.local_name().as_ref().to_owned());
                    trailing_text = false;
                    continue;
                }
                depth -= 1;
                if depth < TRACKED_DEPTH {
                    names.pop();
                }
                if event_depth == Some(depth) {
                    event_depth = None;
                    events += 1;
                    on_event(&base, &mut event);
                } else if base_depth == Some(depth) {
                    base_depth = None;
                }
                if depth == 0 && inside.is_none() {
                    root_closed = true;
                }
            }
            Event::Eof => {
                let Some(dialect) = dialect else {
                    return Err(ParseError::Empty);
                };
                if depth > TRACKED_DEPTH || base_depth.is_some() {
                    return Err(ParseError::Truncated(position));
                }
                return Ok(RegionEnd {
                    dialect,
                    events,
                    open: names,
                    closed_before,
                    trailing_text,
                });
            }
            // Only whitespace may surround the root (trimmed text arrives empty).
            Event::Text(ref t)
                if (root_closed || (dialect.is_none() && inside.is_none()))
                    && !t.as_ref().trim().is_empty() =>
            {
                return Err(malformed("text outside the root element".to_owned()));
            }
            Event::Text(ref t) if !closed_before.is_empty() && !t.as_ref().trim().is_empty() => {
                trailing_text = true;
            }
            _ => {}
        }
    }
}

/// Where to cut `text` in two regions that [`parse_region`] can read in parallel: right
/// after the first end of a base event past the middle. `None` when there is no such place.
pub fn split_point(text: &str) -> Option<(Dialect, usize)> {
    let dialect = peek_dialect(text)?;
    let closing = match dialect {
        Dialect::EventList => "</base_event",
        Dialect::PlanList => "</base_plan",
    };
    let middle = text.len() / 2;
    let from = (middle..text.len()).find(|&i| text.is_char_boundary(i))?;
    let at = from + text[from..].find(closing)?;
    let end = at + memchr::memchr(b'>', &text.as_bytes()[at..])? + 1;
    Some((dialect, end))
}

/// The dialect named by the document's root element.
fn peek_dialect(text: &str) -> Option<Dialect> {
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => return root_dialect(e.local_name().as_ref()).ok(),
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn root_dialect(name: &str) -> Result<Dialect, ParseError> {
    match name {
        "eventList" => Ok(Dialect::EventList),
        "planList" => Ok(Dialect::PlanList),
        other => Err(ParseError::UnknownDialect(other.to_owned())),
    }
}

/// Calls `visit` with each attribute's name and value (entities decoded, whitespace
/// normalised as XML requires).
///
/// The attribute list is scanned here rather than with quick-xml's general iterator, which
/// costs more than everything else in reading a zone; the grammar is small: `name = "value"`
/// or `name = 'value'`, separated by whitespace, with no `<` in a value. Repeated attributes
/// are caught by `set_once` for the attributes we read (unknown ones are ignored anyway).
fn for_each_attribute(
    element: &BytesStart<'_>,
    mut visit: impl FnMut(&str, &str),
) -> Result<(), String> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let trim_start = |text: &str| -> usize {
        text.bytes()
            .position(|b| !is_space(b))
            .unwrap_or(text.len())
    };
    let mut rest = element.attributes_raw();
    loop {
        rest = &rest[trim_start(rest)..];
        if rest.is_empty() {
            return Ok(());
        }
        let eq = memchr::memchr(b'=', rest.as_bytes())
            .ok_or_else(|| format!("attribute without a value near `{}`", preview(rest)))?;
        let name = rest[..eq].trim_end_matches([' ', '\t', '\n', '\r']);
        if name.is_empty()
            || name
                .bytes()
                .any(|b| is_space(b) || matches!(b, b'"' | b'\'' | b'<'))
        {
            return Err(format!("malformed attribute name near `{}`", preview(rest)));
        }
        let after = &rest[eq + 1..];
        let after = &after[trim_start(after)..];
        let quote = match after.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(format!("attribute `{name}` has an unquoted value")),
        };
        let body = &after[1..];
        let end = memchr::memchr(quote, body.as_bytes())
            .ok_or_else(|| format!("attribute `{name}` has an unterminated value"))?;
        let raw = &body[..end];
        let mut plain = true;
        for b in raw.bytes() {
            match b {
                b'<' => return Err(format!("attribute `{name}` contains `<`")),
                b'&' | b'\t' | b'\n' | b'\r' => plain = false,
                _ => {}
            }
        }
        if plain {
            visit(name, raw);
        } else {
            visit(
                name,
                &normalize(raw).map_err(|e| format!("attribute `{name}`: {e}"))?,
            );
        }
        rest = &body[end + 1..];
        if rest.as_bytes().first().is_some_and(|&b| !is_space(b)) {
            return Err(format!(
                "attributes must be separated by whitespace after `{name}`"
            ));
        }
    }
}

/// An attribute value as XML reads it: references decoded, each tab or line break a space.
fn normalize(raw: &str) -> Result<String, String> {
    let spaced: std::borrow::Cow<'_, str> =
        if raw.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
            raw.replace(['\t', '\n', '\r'], " ").into()
        } else {
            raw.into()
        };
    quick_xml::escape::unescape(&spaced)
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| e.to_string())
}

fn preview(text: &str) -> &str {
    let end = text.char_indices().nth(24).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// Sets `slot` unless this element already set it: a repeated attribute makes the element,
/// and so the feed, not well-formed.
fn set_once(slot: &mut Field, value: &str, name: &str, duplicate: &mut Option<String>) {
    if slot.get().is_some() {
        duplicate.get_or_insert_with(|| format!("duplicate attribute `{name}`"));
    }
    slot.set(value);
}

fn read_base(element: &BytesStart<'_>, dialect: Dialect, base: &mut RawBase) -> Result<(), String> {
    for field in [
        &mut base.base_event_id,
        &mut base.title,
        &mut base.sell_mode,
        &mut base.organizer_company_id,
    ] {
        field.clear();
    }
    let id_name = match dialect {
        Dialect::EventList => "base_event_id",
        Dialect::PlanList => "base_plan_id",
    };
    let mut duplicate = None;
    for_each_attribute(element, |key, value| {
        let slot = match key {
            k if k == id_name => &mut base.base_event_id,
            "title" => &mut base.title,
            "sell_mode" => &mut base.sell_mode,
            "organizer_company_id" => &mut base.organizer_company_id,
            _ => return,
        };
        set_once(slot, value, key, &mut duplicate);
    })?;
    duplicate.map_or(Ok(()), Err)
}

fn read_event(
    element: &BytesStart<'_>,
    dialect: Dialect,
    event: &mut RawEvent,
) -> Result<(), String> {
    event.clear();
    let (id, start, end) = match dialect {
        Dialect::EventList => ("event_id", "event_start_date", "event_end_date"),
        Dialect::PlanList => ("plan_id", "plan_start_date", "plan_end_date"),
    };
    let mut duplicate = None;
    for_each_attribute(element, |key, value| {
        let slot = match key {
            k if k == id => &mut event.event_id,
            k if k == start => &mut event.start,
            k if k == end => &mut event.end,
            "sell_from" => &mut event.sell_from,
            "sell_to" => &mut event.sell_to,
            "sold_out" => &mut event.sold_out,
            _ => return,
        };
        set_once(slot, value, key, &mut duplicate);
    })?;
    duplicate.map_or(Ok(()), Err)
}

fn read_zone(element: &BytesStart<'_>, zone: &mut RawZone) -> Result<(), String> {
    let mut duplicate = None;
    for_each_attribute(element, |key, value| {
        let slot = match key {
            "zone_id" => &mut zone.zone_id,
            "name" => &mut zone.name,
            "capacity" => &mut zone.capacity,
            "price" => &mut zone.price,
            "numbered" => &mut zone.numbered,
            _ => return,
        };
        set_once(slot, value, key, &mut duplicate);
    })?;
    duplicate.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &str) -> Result<(ParseSummary, Vec<(RawBase, RawEvent)>), ParseError> {
        let mut records = Vec::new();
        let summary = parse_feed(body.as_bytes(), usize::MAX, |b, e| {
            records.push((b.clone(), e.clone()))
        })?;
        Ok((summary, records))
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/../fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn reads_every_event_of_the_sample_with_its_base_and_zones() {
        let (summary, records) = collect(&fixture("response_1.xml")).unwrap();
        assert_eq!(summary.dialect, Dialect::EventList);
        assert_eq!(summary.events, 3);
        let ids: Vec<_> = records
            .iter()
            .map(|(b, e)| {
                (
                    b.base_event_id.get().unwrap().to_owned(),
                    e.event_id.get().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [("291", "291"), ("322", "1642"), ("1591", "1642")]
                .map(|(b, e)| (b.to_owned(), e.to_owned()))
        );
        let (base, event) = &records[0];
        assert_eq!(base.title.get(), Some("Camela en concierto"));
        assert_eq!(base.sell_mode.get(), Some("online"));
        assert_eq!(event.start.get(), Some("2021-06-30T21:00:00"));
        assert_eq!(event.zones().len(), 3);
        assert_eq!(event.zones()[1].price.get(), Some("15.00"));
        assert_eq!(records[2].1.zones().len(), 2, "repeated zone ids are kept");
    }

    #[test]
    fn reads_the_plan_dialect_into_the_same_records() {
        let (summary, records) = collect(&fixture("plan_format/response_1.xml")).unwrap();
        assert_eq!(summary.dialect, Dialect::PlanList);
        assert_eq!(summary.events, 4);
        let (base, event) = &records[1];
        assert_eq!(base.base_event_id.get(), Some("322"));
        assert_eq!(event.event_id.get(), Some("1642"));
        assert_eq!(event.end.get(), Some("2021-02-10T21:30:00"));
        let (event_list, _) = collect(&fixture("response_1.xml")).unwrap();
        assert_eq!(event_list.events, 3);
        let (_, classic) = collect(&fixture("response_1.xml")).unwrap();
        assert_eq!(
            records[0], classic[0],
            "the same event reads the same in both dialects"
        );
    }

    #[test]
    fn unknown_elements_and_attributes_are_skipped_and_entities_decoded() {
        let body = r#"<?xml version="1.0"?>
            <eventList extra="1"><meta><x/></meta><output>
              <base_event base_event_id = '1' title="Rock &amp; Roll &#233;" sell_mode="online" colour="red">
                <poster url="x"/>
                <event event_id="2" event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" unknown="y">
                  <zone zone_id="3" price="1.5" capacity="1" name="A&#9;B
 C" numbered="false" seat_map="z"/>
                  <notes>ignored <b>text</b></notes>
                </event>
                <event event_id="4" event_start_date="2021-01-02T10:00:00" event_end_date="2021-01-02T11:00:00"/>
              </base_event>
            </output></eventList>"#;
        let (summary, records) = collect(body).unwrap();
        assert_eq!(summary.events, 2);
        assert_eq!(records[0].0.title.get(), Some("Rock & Roll é"));
        assert_eq!(records[0].1.zones().len(), 1);
        assert_eq!(
            records[0].1.zones()[0].name.get(),
            Some("A\tB  C"),
            "a tab reference stays, raw breaks become spaces"
        );
        assert_eq!(
            records[0].0.base_event_id.get(),
            Some("1"),
            "single quotes and spaces around ="
        );
        assert_eq!(records[1].1.event_id.get(), Some("4"));
        assert!(
            records[1].1.zones().is_empty(),
            "zones do not leak into the next event"
        );
        assert_eq!(records[1].0.organizer_company_id.get(), None);
    }

    #[test]
    fn broken_feeds_fail_as_a_whole() {
        let full = fixture("response_1.xml");
        let truncated = &full[..full.len() / 2];
        assert!(matches!(
            collect(truncated),
            Err(ParseError::Truncated(_)) | Err(ParseError::Malformed { .. })
        ));
        let unclosed = full.replace("</eventList>", "");
        assert!(matches!(collect(&unclosed), Err(ParseError::Truncated(_))));
        let mismatched = full.replace("</event>", "</evnt>");
        assert!(matches!(
            collect(&mismatched),
            Err(ParseError::Malformed { .. })
        ));
        assert_eq!(collect("").unwrap_err(), ParseError::Empty);
        assert_eq!(collect("   \n").unwrap_err(), ParseError::Empty);
        assert!(
            matches!(collect("<html><body/></html>"), Err(ParseError::UnknownDialect(n)) if n == "html")
        );
        assert!(matches!(
            collect("<eventList/><eventList/>"),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            parse_feed(b"<eventList>\xff</eventList>", usize::MAX, |_, _| {}),
            Err(ParseError::Encoding(11))
        ));
        let bad_entity = full.replace("Camela", "Camela &nope;");
        assert!(matches!(
            collect(&bad_entity),
            Err(ParseError::Malformed { .. })
        ));
    }
}
