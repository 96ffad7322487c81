//! Validation of one raw record: a pure function from text to a stored record, or to the
//! reason it is rejected. A rejected record is dropped alone; the rest of the feed is stored.
//!
//! Required: `base_event_id`, `title`, `sell_mode`, `event_id`, start and end; each zone's
//! `zone_id`, `price` and `capacity`. Optional: `organizer_company_id`, `sell_from`,
//! `sell_to`, `sold_out` (false), a zone's `name` (empty) and `numbered` (false). Naive
//! timestamps are read in the provider's time zone; a timestamp with an offset is taken as
//! that instant.
//!
//! What one record may carry is bounded ([`RecordLimits`]): zones per event, the years its
//! dates fall in, the length of its title and zone names, a zone's capacity. A record past a
//! bound is rejected alone, with the bound in its reason.

use chrono::{
    DateTime, Datelike as _, FixedOffset, LocalResult, NaiveDateTime, Offset as _, TimeDelta,
    TimeZone, Utc,
};
use entity::record::{EventRecord, ZoneRecord};
use serde::Serialize;

use super::parse::{RawBase, RawEvent, RawZone};

/// Longest identifier accepted (the column's width).
const MAX_ID_LEN: usize = 64;
/// Largest price accepted, in cents (10 billion units): above is a feed error.
const MAX_PRICE_CENTS: i64 = 1_000_000_000_000;

/// What one record may carry; a record past any bound is rejected alone. Defaults are far
/// above what real catalogues hold and far below what would hurt the store or a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// Most zones one event may have.
    pub max_zones_per_event: usize,
    /// Earliest year a date (start, end, sell from/to) may fall in, as written.
    pub min_year: i32,
    /// Latest year a date may fall in, as written.
    pub max_year: i32,
    /// Longest title, in characters.
    pub max_title_chars: usize,
    /// Longest zone name, in characters.
    pub max_zone_name_chars: usize,
    /// Largest capacity of one zone, in seats.
    pub max_zone_capacity: i32,
}

impl Default for RecordLimits {
    fn default() -> Self {
        Self {
            max_zones_per_event: 1_000,
            min_year: 1970,
            max_year: 2200,
            max_title_chars: 500,
            max_zone_name_chars: 200,
            max_zone_capacity: 1_000_000,
        }
    }
}

impl RecordLimits {
    /// Checks the limits make sense together, naming the setting that does not.
    pub fn validate(self) -> Result<Self, String> {
        let check = |ok: bool, message: &str| if ok { Ok(()) } else { Err(message.to_owned()) };
        check(
            (1..=100_000).contains(&self.max_zones_per_event),
            "--max-zones-per-event must be between 1 and 100000",
        )?;
        check(
            (1..=9999).contains(&self.min_year)
                && (1..=9999).contains(&self.max_year)
                && self.min_year <= self.max_year,
            "--min-event-year and --max-event-year must be between 1 and 9999, the first not after the second",
        )?;
        check(
            (1..=100_000).contains(&self.max_title_chars),
            "--max-title-chars must be between 1 and 100000",
        )?;
        check(
            (1..=100_000).contains(&self.max_zone_name_chars),
            "--max-zone-name-chars must be between 1 and 100000",
        )?;
        check(
            self.max_zone_capacity >= 1,
            "--max-zone-capacity must be at least 1",
        )?;
        Ok(self)
    }
}

/// Why one record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The record's base event id, when it had a usable one.
    pub base_event_id: Option<String>,
    /// The record's event id, when it had a usable one.
    pub event_id: Option<String>,
    /// What is wrong, for an operator.
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let base = self.base_event_id.as_deref().unwrap_or("?");
        let event = self.event_id.as_deref().unwrap_or("?");
        write!(f, "base event {base}, event {event}: {}", self.reason)
    }
}

/// Checks one record against `limits` and builds what the store writes, reading naive times
/// in `zone`.
pub fn validate(
    base: &RawBase,
    event: &RawEvent,
    zone: chrono_tz::Tz,
    limits: &RecordLimits,
) -> Result<EventRecord, Rejection> {
    build(base, event, zone, limits).map_err(|reason| Rejection {
        base_event_id: usable_id(base.base_event_id.get()),
        event_id: usable_id(event.event_id.get()),
        reason,
    })
}

fn build(
    base: &RawBase,
    event: &RawEvent,
    tz: chrono_tz::Tz,
    limits: &RecordLimits,
) -> Result<EventRecord, String> {
    let base_event_id = identifier("base_event_id", base.base_event_id.get())?;
    let event_id = identifier("event_id", event.event_id.get())?;
    let zones_seen = event.zones_seen();
    if zones_seen > limits.max_zones_per_event {
        return Err(format!(
            "it has {zones_seen} zones, over the limit of {}",
            limits.max_zones_per_event
        ));
    }
    let title = text(
        "title",
        required("title", base.title.get())?,
        limits.max_title_chars,
    )?;
    let sell_mode = identifier("sell_mode", base.sell_mode.get())?;
    let organizer_company_id = base
        .organizer_company_id
        .get()
        .map(|v| identifier("organizer_company_id", Some(v)))
        .transpose()?;
    let years = limits.min_year..=limits.max_year;
    let (starts_local, starts_at) = timestamp(
        "start date",
        required("start date", event.start.get())?,
        tz,
        &years,
    )?;
    let (ends_local, ends_at) = timestamp(
        "end date",
        required("end date", event.end.get())?,
        tz,
        &years,
    )?;
    if ends_at < starts_at {
        return Err(format!(
            "it ends ({}) before it starts ({})",
            event.end.get().unwrap_or_default(),
            event.start.get().unwrap_or_default()
        ));
    }
    let sell_from = optional_timestamp("sell_from", event.sell_from.get(), tz, &years)?;
    let sell_to = optional_timestamp("sell_to", event.sell_to.get(), tz, &years)?;
    let sold_out = event
        .sold_out
        .get()
        .map(|v| boolean("sold_out", v))
        .transpose()?
        .unwrap_or(false);
    // Exactly sized: collecting through `Result` would grow by doubling (8 slots for 5 zones),
    // a third of a large feed's records in memory.
    let mut zones = Vec::with_capacity(event.zones().len());
    for (i, raw) in event.zones().iter().enumerate() {
        zones.push(zone(raw, limits).map_err(|reason| format!("zone #{}: {reason}", i + 1))?);
    }
    Ok(EventRecord {
        base_event_id,
        event_id,
        title,
        sell_mode,
        organizer_company_id,
        starts_local,
        ends_local,
        starts_at,
        ends_at,
        sell_from,
        sell_to,
        sold_out,
        zones,
    })
}

fn zone(raw: &RawZone, limits: &RecordLimits) -> Result<ZoneRecord, String> {
    Ok(ZoneRecord {
        zone_id: identifier("zone_id", raw.zone_id.get())?,
        name: raw
            .name
            .get()
            .map(|n| text("name", n, limits.max_zone_name_chars))
            .transpose()?
            .unwrap_or_default(),
        capacity: capacity(
            required("capacity", raw.capacity.get())?,
            limits.max_zone_capacity,
        )?,
        price_cents: price_cents(required("price", raw.price.get())?)?,
        numbered: raw
            .numbered
            .get()
            .map(|v| boolean("numbered", v))
            .transpose()?
            .unwrap_or(false),
    })
}

fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    match value {
        Some(v) if !v.trim_ascii().is_empty() => Ok(v),
        Some(_) => Err(format!("{name} is empty")),
        None => Err(format!("{name} is missing")),
    }
}

/// An id usable in a rejection report, if the raw value is one.
fn usable_id(value: Option<&str>) -> Option<String> {
    identifier("id", value).ok()
}

fn identifier(name: &str, value: Option<&str>) -> Result<String, String> {
    let value = required(name, value)?.trim_ascii();
    // Bytes bound characters from above: count characters only for long values.
    if value.len() > MAX_ID_LEN && value.chars().count() > MAX_ID_LEN {
        return Err(format!("{name} is longer than {MAX_ID_LEN} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{name} contains control characters"));
    }
    Ok(value.to_owned())
}

fn text(name: &str, value: &str, max_chars: usize) -> Result<String, String> {
    let value = value.trim_ascii();
    // Bytes bound characters from above: count characters only for long values.
    if value.len() > max_chars && value.chars().count() > max_chars {
        return Err(format!("{name} is longer than {max_chars} characters"));
    }
    Ok(value.to_owned())
}

fn boolean(name: &str, value: &str) -> Result<bool, String> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        v if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        v => Err(format!("{name} `{v}` is not true or false")),
    }
}

fn capacity(value: &str, max: i32) -> Result<i32, String> {
    let seats = value
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|c| *c >= 0)
        .ok_or_else(|| format!("capacity `{value}` is not a whole number of seats"))?;
    if seats > max {
        return Err(format!("capacity {seats} is over the limit of {max} seats"));
    }
    Ok(seats)
}

/// A price in cents from its decimal text (`"20.00"`, `"15"`, `"7.5"`), exactly: no floats.
fn price_cents(value: &str) -> Result<i64, String> {
    let invalid =
        || format!("price `{value}` is not a non-negative amount with at most 2 decimals");
    let trimmed = value.trim();
    let (units, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty() && fraction.is_empty()
        || !all_digits(units)
        || !all_digits(fraction)
        || fraction.len() > 2
        || (trimmed.contains('.') && fraction.is_empty())
    {
        return Err(invalid());
    }
    let units: i64 = if units.is_empty() {
        0
    } else {
        units.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| invalid())? * 10,
        _ => fraction.parse().map_err(|_| invalid())?,
    };
    units
        .checked_mul(100)
        .and_then(|c| c.checked_add(fraction))
        .filter(|c| *c <= MAX_PRICE_CENTS)
        .ok_or_else(invalid)
}

fn optional_timestamp(
    name: &str,
    value: Option<&str>,
    tz: chrono_tz::Tz,
    years: &std::ops::RangeInclusive<i32>,
) -> Result<Option<DateTime<Utc>>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => timestamp(name, v, tz, years).map(|(_, instant)| Some(instant)),
    }
}

/// The local time as written and the instant it denotes, if its year (as written) is in
/// `years`.
fn timestamp(
    name: &str,
    value: &str,
    tz: chrono_tz::Tz,
    years: &std::ops::RangeInclusive<i32>,
) -> Result<(NaiveDateTime, DateTime<Utc>), String> {
    let (local, instant) = any_timestamp(name, value, tz)?;
    if !years.contains(&local.year()) {
        return Err(format!(
            "{name} `{}` is outside the years {} to {}",
            value.trim_ascii(),
            years.start(),
            years.end()
        ));
    }
    Ok((local, instant))
}

/// The local time as written and the instant it denotes, in any year chrono knows.
fn any_timestamp(
    name: &str,
    value: &str,
    tz: chrono_tz::Tz,
) -> Result<(NaiveDateTime, DateTime<Utc>), String> {
    let value = value.trim_ascii();
    // The feeds' own format, parsed by hand: chrono's general parser is a large share of the
    // cost of reading a feed.
    if let Some(local) = parse_plain_local(value) {
        return local
            .map(|local| (local, local_instant(local, tz)))
            .ok_or_else(|| format!("{name} `{value}` is not a valid date-time"));
    }
    if let Ok(with_offset) = DateTime::<FixedOffset>::parse_from_rfc3339(value) {
        return Ok((with_offset.naive_local(), with_offset.with_timezone(&Utc)));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
    .ok_or_else(|| format!("{name} `{value}` is not a valid date-time"))?;
    Ok((local, local_instant(local, tz)))
}

/// `YYYY-MM-DDTHH:MM:SS`: `None` when the text has another shape, `Some(None)` when it has
/// this shape but names no real date or time (`2021-09-31`, `25:00:00`).
fn parse_plain_local(value: &str) -> Option<Option<NaiveDateTime>> {
    let b = value.as_bytes();
    let shape = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shape {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let year = i32::try_from(number(0, 4)).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, number(5, 7), number(8, 10));
    let time = chrono::NaiveTime::from_hms_opt(number(11, 13), number(14, 16), number(17, 19));
    Some(date.zip(time).map(|(d, t)| d.and_time(t)))
}

/// The instant a local time denotes in `tz`. A time repeated when clocks go back is the first
/// one; a time skipped when they go forward is read with the offset before the change (02:30
/// on a spring-forward night is 03:30 in the new offset), as calendars do.
fn local_instant(local: NaiveDateTime, tz: chrono_tz::Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            let before = local - TimeDelta::hours(3);
            let offset = tz
                .from_local_datetime(&before)
                .earliest()
                .map_or(0, |t| t.offset().fix().local_minus_utc());
            (local - TimeDelta::seconds(offset.into())).and_utc()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::collector::fever_xml::parse::Field;

    fn base() -> RawBase {
        RawBase {
            base_event_id: "444".into(),
            title: "Tributo a Juanito Valderrama".into(),
            sell_mode: "offline".into(),
            organizer_company_id: "1".into(),
        }
    }

    fn event() -> RawEvent {
        let mut event = RawEvent::default();
        event.event_id = "1642".into();
        event.start = "2021-09-30T20:00:00".into();
        event.end = "2021-09-30T21:00:00".into();
        event.sell_from = "2021-02-10T00:00:00".into();
        event.sell_to = "2021-09-30T19:50:00".into();
        event.sold_out = "false".into();
        event.push_zone(RawZone {
            zone_id: "7".into(),
            name: "Amfiteatre".into(),
            capacity: "22".into(),
            price: "65.00".into(),
            numbered: "false".into(),
        });
        event
    }

    fn reason(base: &RawBase, event: &RawEvent) -> String {
        validate(base, event, chrono_tz::UTC, &RecordLimits::default())
            .unwrap_err()
            .reason
    }

    #[test]
    fn a_valid_record_becomes_a_stored_record() {
        let record = validate(&base(), &event(), chrono_tz::UTC, &RecordLimits::default()).unwrap();
        assert_eq!(record.base_event_id, "444");
        assert_eq!(record.event_id, "1642");
        assert!(!record.is_online());
        assert_eq!(record.zones[0].price_cents, 6500);
        assert_eq!(record.starts_at.to_rfc3339(), "2021-09-30T20:00:00+00:00");
        assert_eq!(record.organizer_company_id.as_deref(), Some("1"));
    }

    #[test]
    fn an_impossible_calendar_date_is_rejected_with_its_ids() {
        let mut e = event();
        e.start = "2021-09-31T20:00:00".into();
        let rejection =
            validate(&base(), &e, chrono_tz::UTC, &RecordLimits::default()).unwrap_err();
        assert_eq!(rejection.base_event_id.as_deref(), Some("444"));
        assert_eq!(rejection.event_id.as_deref(), Some("1642"));
        assert_eq!(
            rejection.reason,
            "start date `2021-09-31T20:00:00` is not a valid date-time"
        );
        assert_eq!(
            rejection.to_string(),
            "base event 444, event 1642: start date `2021-09-31T20:00:00` is not a valid date-time"
        );
    }

    #[test]
    fn an_end_before_the_start_is_rejected() {
        let mut e = event();
        e.end = "2021-09-30T19:00:00".into();
        assert!(reason(&base(), &e).starts_with("it ends (2021-09-30T19:00:00) before it starts"));
        e.end = e.start.clone();
        assert!(
            validate(&base(), &e, chrono_tz::UTC, &RecordLimits::default()).is_ok(),
            "a zero-length event is valid"
        );
    }

    #[test]
    fn prices_are_exact_cents_and_bad_ones_reject_the_record() {
        for (text, cents) in [
            ("20.00", 2000),
            ("15", 1500),
            ("7.5", 750),
            ("0.01", 1),
            (" 3.10 ", 310),
            (".5", 50),
        ] {
            assert_eq!(price_cents(text), Ok(cents), "{text}");
        }
        for bad in [
            "abc",
            "-5",
            "-0.01",
            "1.234",
            "1e3",
            "",
            "1.",
            "NaN",
            "1,50",
            "99999999999999",
        ] {
            assert!(price_cents(bad).is_err(), "{bad} accepted");
        }
        let mut e = event();
        e.zones_mut()[0].price = "free".into();
        assert_eq!(
            reason(&base(), &e),
            "zone #1: price `free` is not a non-negative amount with at most 2 decimals"
        );
    }

    #[test]
    fn missing_required_attributes_reject_the_record() {
        let mut b = base();
        b.title = Field::absent();
        assert_eq!(reason(&b, &event()), "title is missing");
        let mut e = event();
        e.event_id = "  ".into();
        let rejection =
            validate(&base(), &e, chrono_tz::UTC, &RecordLimits::default()).unwrap_err();
        assert_eq!(rejection.reason, "event_id is empty");
        assert_eq!(rejection.event_id, None);
        let mut e = event();
        e.zones_mut()[0].capacity = Field::absent();
        assert_eq!(reason(&base(), &e), "zone #1: capacity is missing");
        let mut e = event();
        e.sold_out = "maybe".into();
        assert_eq!(reason(&base(), &e), "sold_out `maybe` is not true or false");
    }

    #[test]
    fn dates_outside_the_sane_years_reject_the_record() {
        let mut e = event();
        e.start = "0000-01-01T00:00:00".into();
        e.end = "0000-01-01T01:00:00".into();
        assert_eq!(
            reason(&base(), &e),
            "start date `0000-01-01T00:00:00` is outside the years 1970 to 2200"
        );
        let mut e = event();
        e.end = "2201-01-01T00:00:00".into();
        assert_eq!(
            reason(&base(), &e),
            "end date `2201-01-01T00:00:00` is outside the years 1970 to 2200"
        );
        let mut e = event();
        e.sell_from = "1969-12-31T23:59:59".into();
        assert!(reason(&base(), &e).starts_with("sell_from `1969-12-31T23:59:59` is outside"));
        let mut e = event();
        e.sell_to = "+10000-01-01T00:00:00Z".into();
        assert!(validate(&base(), &e, chrono_tz::UTC, &RecordLimits::default()).is_err());
        // The edges are in, and the years are configurable.
        let mut e = event();
        e.start = "1970-01-01T00:00:00".into();
        e.end = "2200-12-31T23:59:59".into();
        e.sell_from = Field::absent();
        e.sell_to = Field::absent();
        assert!(validate(&base(), &e, chrono_tz::UTC, &RecordLimits::default()).is_ok());
        let narrow = RecordLimits {
            min_year: 2000,
            max_year: 2100,
            ..RecordLimits::default()
        };
        assert!(validate(&base(), &e, chrono_tz::UTC, &narrow).is_err());
    }

    #[test]
    fn records_past_a_content_bound_are_rejected_with_the_bound() {
        let limits = RecordLimits {
            max_zones_per_event: 2,
            max_title_chars: 10,
            max_zone_name_chars: 5,
            max_zone_capacity: 100,
            ..RecordLimits::default()
        };
        let check = |b: &RawBase, e: &RawEvent| validate(b, e, chrono_tz::UTC, &limits);
        let mut short_zone = event();
        short_zone.zones_mut()[0].name = "A".into();
        let mut b = base();
        b.title = "x".repeat(11).as_str().into();
        assert_eq!(
            check(&b, &short_zone).unwrap_err().reason,
            "title is longer than 10 characters"
        );
        b.title = "ñ".repeat(10).as_str().into();
        assert!(check(&b, &short_zone).is_ok(), "characters, not bytes");

        let mut e = event();
        e.zones_mut()[0].name = "Amfiteatre".into();
        let mut b = base();
        b.title = "Short".into();
        assert_eq!(
            check(&b, &e).unwrap_err().reason,
            "zone #1: name is longer than 5 characters"
        );
        let mut e = event();
        e.zones_mut()[0].name = "A".into();
        e.zones_mut()[0].capacity = "101".into();
        assert_eq!(
            check(&b, &e).unwrap_err().reason,
            "zone #1: capacity 101 is over the limit of 100 seats"
        );
        let mut e = event();
        e.zones_mut()[0].name = "A".into();
        e.push_zone(e.zones()[0].clone());
        assert!(check(&b, &e).is_ok(), "two zones are within the limit");
        e.drop_zones(1_000_000);
        let rejection = check(&b, &e).unwrap_err();
        assert_eq!(
            rejection.reason,
            "it has 1000002 zones, over the limit of 2"
        );
        assert_eq!(rejection.event_id.as_deref(), Some("1642"));
    }

    #[test]
    fn record_limits_are_checked_together() {
        assert!(RecordLimits::default().validate().is_ok());
        let inverted = RecordLimits {
            min_year: 2100,
            max_year: 2000,
            ..RecordLimits::default()
        };
        assert!(
            inverted
                .validate()
                .unwrap_err()
                .contains("--min-event-year")
        );
        let none = RecordLimits {
            max_zones_per_event: 0,
            ..RecordLimits::default()
        };
        assert!(
            none.validate()
                .unwrap_err()
                .contains("--max-zones-per-event")
        );
    }

    #[test]
    fn optional_attributes_have_defaults() {
        let mut e = event();
        e.sold_out = Field::absent();
        e.sell_from = Field::absent();
        e.zones_mut()[0].numbered = Field::absent();
        e.zones_mut()[0].name = Field::absent();
        let record = validate(&base(), &e, chrono_tz::UTC, &RecordLimits::default()).unwrap();
        assert!(!record.sold_out);
        assert_eq!(record.sell_from, None);
        assert_eq!(record.zones[0].name, "");
    }

    #[test]
    fn the_plain_format_is_parsed_by_hand_and_checked_like_chrono() {
        let parsed = parse_plain_local("2021-06-30T21:05:09").unwrap().unwrap();
        assert_eq!(parsed.to_string(), "2021-06-30 21:05:09");
        assert_eq!(parse_plain_local("2021-09-31T20:00:00"), Some(None));
        assert_eq!(parse_plain_local("2021-02-29T20:00:00"), Some(None));
        assert_eq!(parse_plain_local("2021-06-30T24:00:00"), Some(None));
        assert_eq!(
            parse_plain_local("2021-06-30 21:05:09"),
            None,
            "other shapes go to chrono"
        );
        assert_eq!(parse_plain_local("2021-06-30T21:05:09Z"), None);
        let spaced = any_timestamp("start", "2021-06-30 21:05:09", chrono_tz::UTC).unwrap();
        assert_eq!(spaced.0, parsed);
    }

    #[test]
    fn naive_times_are_read_in_the_provider_time_zone() {
        let madrid: chrono_tz::Tz = "Europe/Madrid".parse().unwrap();
        let record = validate(&base(), &event(), madrid, &RecordLimits::default()).unwrap();
        assert_eq!(record.starts_local.to_string(), "2021-09-30 20:00:00");
        assert_eq!(record.starts_at.to_rfc3339(), "2021-09-30T18:00:00+00:00");
        // Spring forward in Madrid: 02:30 on 2021-03-28 does not exist.
        let gap =
            NaiveDateTime::parse_from_str("2021-03-28T02:30:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(
            local_instant(gap, madrid).to_rfc3339(),
            "2021-03-28T01:30:00+00:00"
        );
        // Fall back: 02:30 on 2021-10-31 happens twice; the first is taken.
        let twice =
            NaiveDateTime::parse_from_str("2021-10-31T02:30:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(
            local_instant(twice, madrid).to_rfc3339(),
            "2021-10-31T00:30:00+00:00"
        );
        // An explicit offset wins over the provider's zone.
        let mut e = event();
        e.start = "2021-09-30T20:00:00+02:00".into();
        let record = validate(&base(), &e, chrono_tz::UTC, &RecordLimits::default()).unwrap();
        assert_eq!(record.starts_at.to_rfc3339(), "2021-09-30T18:00:00+00:00");
    }
}
