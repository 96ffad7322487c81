//! Streaming parse of a Fever XML feed into raw records, without building a document tree.
//!
//! Both dialects seen in the wild are read: `eventList/…/base_event/event/zone` and the newer
//! `planList/…/base_plan/plan/zone`, whose attributes are named `plan_*` where the older
//! ones say `event_*`. Elements and attributes we do not know are skipped (their children are
//! still read, so a wrapper such as `<output>` is transparent). Values are kept as text:
//! validating them is the next, separate step. A feed that is not well-formed, is truncated,
//! or has an unknown root fails as a whole.

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

/// A base event's attributes, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBase {
    /// `base_event_id` / `base_plan_id`.
    pub base_event_id: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// `sell_mode`.
    pub sell_mode: Option<String>,
    /// `organizer_company_id`.
    pub organizer_company_id: Option<String>,
}

/// An event's attributes and zones, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// `event_id` / `plan_id`.
    pub event_id: Option<String>,
    /// `event_start_date` / `plan_start_date`.
    pub start: Option<String>,
    /// `event_end_date` / `plan_end_date`.
    pub end: Option<String>,
    /// `sell_from`.
    pub sell_from: Option<String>,
    /// `sell_to`.
    pub sell_to: Option<String>,
    /// `sold_out`.
    pub sold_out: Option<String>,
    /// Its `zone` children, in order.
    pub zones: Vec<RawZone>,
}

/// A zone's attributes, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawZone {
    /// `zone_id`.
    pub zone_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `capacity`.
    pub capacity: Option<String>,
    /// `price`.
    pub price: Option<String>,
    /// `numbered`.
    pub numbered: Option<String>,
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

/// Reads `body` and calls `on_event` with each event and its base event, in feed order.
///
/// The callback sees every record of a well-formed feed; if the feed turns out to be broken
/// further on, an error is returned, and the caller must discard what it collected.
pub fn parse_feed(
    body: &[u8],
    mut on_event: impl FnMut(&RawBase, &RawEvent),
) -> Result<ParseSummary, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| ParseError::Encoding(e.valid_up_to()))?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.trim_text(true);

    let mut dialect = None;
    let mut root_closed = false;
    let mut depth = 0usize;
    let mut base = RawBase::default();
    let mut base_depth = None;
    let mut event = RawEvent::default();
    let mut event_depth = None;
    let mut events = 0usize;

    loop {
        let position = reader.buffer_position();
        let malformed = |message: String| ParseError::Malformed { position, message };
        let item = reader.read_event().map_err(|e| malformed(e.to_string()))?;
        match item {
            Event::Start(ref element) | Event::Empty(ref element) => {
                let is_empty = matches!(item, Event::Empty(_));
                if root_closed {
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
                        on_event(&base, &event);
                    } else {
                        event_depth = Some(depth);
                    }
                } else if name == "zone" && event_depth.is_some() {
                    event.zones.push(read_zone(element).map_err(&malformed)?);
                }
                if !is_empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if event_depth == Some(depth) {
                    event_depth = None;
                    events += 1;
                    on_event(&base, &event);
                } else if base_depth == Some(depth) {
                    base_depth = None;
                }
                if depth == 0 {
                    root_closed = true;
                }
            }
            Event::Eof => {
                return match dialect {
                    None => Err(ParseError::Empty),
                    Some(_) if !root_closed => Err(ParseError::Truncated(position)),
                    Some(dialect) => Ok(ParseSummary { dialect, events }),
                };
            }
            // Only whitespace may surround the root (trimmed text arrives empty).
            Event::Text(ref t)
                if (root_closed || dialect.is_none()) && !t.as_ref().trim().is_empty() =>
            {
                return Err(malformed("text outside the root element".to_owned()));
            }
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

/// Calls `visit` with each attribute's local name and unescaped value.
fn for_each_attribute(
    element: &BytesStart<'_>,
    mut visit: impl FnMut(&str, &str),
) -> Result<(), String> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        visit(attribute.key.local_name().as_ref(), &value);
    }
    Ok(())
}

fn read_base(element: &BytesStart<'_>, dialect: Dialect, base: &mut RawBase) -> Result<(), String> {
    *base = RawBase::default();
    let id_name = match dialect {
        Dialect::EventList => "base_event_id",
        Dialect::PlanList => "base_plan_id",
    };
    for_each_attribute(element, |key, value| {
        let slot = match key {
            k if k == id_name => &mut base.base_event_id,
            "title" => &mut base.title,
            "sell_mode" => &mut base.sell_mode,
            "organizer_company_id" => &mut base.organizer_company_id,
            _ => return,
        };
        *slot = Some(value.to_owned());
    })
}

fn read_event(
    element: &BytesStart<'_>,
    dialect: Dialect,
    event: &mut RawEvent,
) -> Result<(), String> {
    event.zones.clear();
    let zones = std::mem::take(&mut event.zones);
    *event = RawEvent {
        zones,
        ..RawEvent::default()
    };
    let (id, start, end) = match dialect {
        Dialect::EventList => ("event_id", "event_start_date", "event_end_date"),
        Dialect::PlanList => ("plan_id", "plan_start_date", "plan_end_date"),
    };
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
        *slot = Some(value.to_owned());
    })
}

fn read_zone(element: &BytesStart<'_>) -> Result<RawZone, String> {
    let mut zone = RawZone::default();
    for_each_attribute(element, |key, value| {
        let slot = match key {
            "zone_id" => &mut zone.zone_id,
            "name" => &mut zone.name,
            "capacity" => &mut zone.capacity,
            "price" => &mut zone.price,
            "numbered" => &mut zone.numbered,
            _ => return,
        };
        *slot = Some(value.to_owned());
    })?;
    Ok(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &str) -> Result<(ParseSummary, Vec<(RawBase, RawEvent)>), ParseError> {
        let mut records = Vec::new();
        let summary = parse_feed(body.as_bytes(), |b, e| records.push((b.clone(), e.clone())))?;
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
                    b.base_event_id.clone().unwrap(),
                    e.event_id.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [("291", "291"), ("322", "1642"), ("1591", "1642")]
                .map(|(b, e)| (b.to_owned(), e.to_owned()))
        );
        let (base, event) = &records[0];
        assert_eq!(base.title.as_deref(), Some("Camela en concierto"));
        assert_eq!(base.sell_mode.as_deref(), Some("online"));
        assert_eq!(event.start.as_deref(), Some("2021-06-30T21:00:00"));
        assert_eq!(event.zones.len(), 3);
        assert_eq!(event.zones[1].price.as_deref(), Some("15.00"));
        assert_eq!(records[2].1.zones.len(), 2, "repeated zone ids are kept");
    }

    #[test]
    fn reads_the_plan_dialect_into_the_same_records() {
        let (summary, records) = collect(&fixture("plan_format/response_1.xml")).unwrap();
        assert_eq!(summary.dialect, Dialect::PlanList);
        assert_eq!(summary.events, 4);
        let (base, event) = &records[1];
        assert_eq!(base.base_event_id.as_deref(), Some("322"));
        assert_eq!(event.event_id.as_deref(), Some("1642"));
        assert_eq!(event.end.as_deref(), Some("2021-02-10T21:30:00"));
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
              <base_event base_event_id="1" title="Rock &amp; Roll &#233;" sell_mode="online" colour="red">
                <poster url="x"/>
                <event event_id="2" event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" unknown="y">
                  <zone zone_id="3" price="1.5" capacity="1" name="A" numbered="false" seat_map="z"/>
                  <notes>ignored <b>text</b></notes>
                </event>
                <event event_id="4" event_start_date="2021-01-02T10:00:00" event_end_date="2021-01-02T11:00:00"/>
              </base_event>
            </output></eventList>"#;
        let (summary, records) = collect(body).unwrap();
        assert_eq!(summary.events, 2);
        assert_eq!(records[0].0.title.as_deref(), Some("Rock & Roll é"));
        assert_eq!(records[0].1.zones.len(), 1);
        assert_eq!(records[1].1.event_id.as_deref(), Some("4"));
        assert!(
            records[1].1.zones.is_empty(),
            "zones do not leak into the next event"
        );
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
            parse_feed(b"<eventList>\xff</eventList>", |_, _| {}),
            Err(ParseError::Encoding(11))
        ));
        let bad_entity = full.replace("Camela", "Camela &nope;");
        assert!(matches!(
            collect(&bad_entity),
            Err(ParseError::Malformed { .. })
        ));
    }
}
