//! Running a plan for one request: the selections its conditions keep, its arguments read as
//! the schema reads them, one page from the index, and the `data` JSON written as the
//! executor's answer serialises (same key order, same escapes, same formats).

use std::{collections::HashSet, sync::OnceLock};

use async_graphql::{
    InputType, Name, ScalarType, Value, Variables, parser::types::VariableDefinition,
};
use async_graphql_value::Value as InputValue;

use super::{Chosen, EventField, Field, Plan, Selection};
use crate::{
    graphql::{
        EventFilter, EventOrder, Instant, SellMode,
        events::{self, EventsArgs},
        ids::GlobalId,
    },
    search::{EventSummary, Snapshot, format},
};

impl Plan {
    /// The `data` of the answer to a request with `variables` against `snapshot`, as JSON; none
    /// when the executor must answer it (an argument or variable the plan does not read
    /// exactly as the schema would, or one the search refuses).
    pub(crate) fn run(
        &self,
        snapshot: &Snapshot,
        max_page_size: usize,
        variables: &Variables,
    ) -> Option<Vec<u8>> {
        let runner = Runner {
            plan: self,
            snapshot,
            max_page_size,
            variables,
        };
        let chosen;
        let shape = match &self.fixed {
            Some(fixed) => fixed.as_slice(),
            None => {
                // Validation reads every argument and condition of the document, the skipped
                // ones too: so does the plan, before it drops any.
                runner.readable(&self.selections)?;
                chosen = choose(&[&self.selections], variables)?;
                chosen.as_slice()
            }
        };
        let mut out = Vec::with_capacity(8 * 1024);
        object(&mut out, shape, |out, field| match field.field {
            Field::Typename(name) => {
                string(out, name);
                Some(())
            }
            Field::Events => runner.events(out, field),
            _ => None,
        })?;
        Some(out)
    }
}

/// The selections of `sets` (sub-selections of one response key, merged) that `variables`
/// keep, grouped by response key in the order keys first appear, each group's sub-selections
/// merged the same way: what the executor does when it removes skipped selections and merges
/// same-key fields. None when a condition cannot be read exactly as the executor reads it, or
/// one key names two different fields.
pub(super) fn choose(sets: &[&[Selection]], variables: &Variables) -> Option<Vec<Chosen>> {
    let mut groups: Vec<(&Selection, Vec<&[Selection]>)> = Vec::new();
    for selection in sets.iter().flat_map(|set| set.iter()) {
        if !selected(selection, variables)? {
            continue;
        }
        match groups
            .iter_mut()
            .find(|(first, _)| first.key == selection.key)
        {
            Some((first, children)) => {
                if first.field != selection.field || first.arguments != selection.arguments {
                    return None;
                }
                children.push(&selection.children);
            }
            None => groups.push((selection, vec![&selection.children])),
        }
    }
    groups
        .into_iter()
        .map(|(first, children)| {
            // The executor answers an object with nothing selected as `null`, and merges a
            // later same-key object into an earlier one only if that one is an object: when the
            // first has nothing selected, the merged answer is `null` too.
            let first_is_null =
                !first.children.is_empty() && choose(&[&first.children], variables)?.is_empty();
            Some(Chosen {
                key: first.key.clone(),
                field: first.field,
                arguments: first.arguments.clone(),
                children: if first_is_null {
                    Vec::new()
                } else {
                    choose(&children, variables)?
                },
            })
        })
        .collect()
}

/// Whether `selection`'s conditions keep it. The executor reads a condition's variable from the
/// request's variables alone (not the definition's default); anything but a boolean there is
/// left to it.
fn selected(selection: &Selection, variables: &Variables) -> Option<bool> {
    for condition in &selection.when {
        let value = match &condition.value {
            InputValue::Boolean(value) => *value,
            InputValue::Variable(name) => match variables.get(name) {
                Some(Value::Boolean(value)) => *value,
                _ => return None,
            },
            _ => return None,
        };
        if value != condition.include {
            return Some(false);
        }
    }
    Some(true)
}

/// What one request reads a plan with.
struct Runner<'a> {
    plan: &'a Plan,
    snapshot: &'a Snapshot,
    max_page_size: usize,
    variables: &'a Variables,
}

impl Runner<'_> {
    /// Whether every argument and condition in `selections` reads as the executor would read
    /// it.
    fn readable(&self, selections: &[Selection]) -> Option<()> {
        for selection in selections {
            for condition in &selection.when {
                if let InputValue::Variable(name) = &condition.value
                    && !matches!(self.variables.get(name), Some(Value::Boolean(_)))
                {
                    return None;
                }
            }
            if selection.field == Field::Events {
                self.events_args(&selection.arguments)?;
            }
            self.readable(&selection.children)?;
        }
        Some(())
    }

    /// `events(...) { ... }`.
    fn events(&self, out: &mut Vec<u8>, events: &Chosen) -> Option<()> {
        let args = self.events_args(&events.arguments)?;
        let count = events.children.iter().any(|c| c.field == Field::TotalCount);
        let page = events::page(self.snapshot, self.max_page_size, args, count).ok()?;
        let cursors: Vec<String> = if events.children.iter().any(uses_cursors) {
            page.events.iter().map(|e| page.cursor(e)).collect()
        } else {
            Vec::new()
        };
        let cursor = |out: &mut Vec<u8>, cursor: Option<&String>| match cursor {
            Some(cursor) => string(out, cursor),
            None => out.extend_from_slice(b"null"),
        };
        object(out, &events.children, |out, field| {
            match field.field {
                Field::Typename(name) => string(out, name),
                Field::TotalCount => number(out, page.total_count),
                Field::PageInfo => object(out, &field.children, |out, field| {
                    match field.field {
                        Field::Typename(name) => string(out, name),
                        Field::HasPreviousPage => boolean(out, page.has_previous),
                        Field::HasNextPage => boolean(out, page.has_next),
                        Field::StartCursor => cursor(out, cursors.first()),
                        Field::EndCursor => cursor(out, cursors.last()),
                        _ => return None,
                    }
                    Some(())
                })?,
                Field::Edges => list(out, page.events.iter().enumerate(), |out, (i, event)| {
                    object(out, &field.children, |out, field| {
                        match field.field {
                            Field::Typename(name) => string(out, name),
                            Field::Cursor => string(out, cursors.get(i)?),
                            Field::Node => self.event(out, &field.children, event)?,
                            _ => return None,
                        }
                        Some(())
                    })
                })?,
                Field::Nodes => list(out, page.events.iter(), |out, event| {
                    self.event(out, &field.children, event)
                })?,
                _ => return None,
            }
            Some(())
        })
    }

    /// An `Event` object.
    fn event(&self, out: &mut Vec<u8>, fields: &[Chosen], event: &EventSummary) -> Option<()> {
        object(out, fields, |out, field| {
            match field.field {
                Field::Typename(name) => string(out, name),
                Field::Event(field) => event_field(out, field, event),
                Field::Provider => object(out, &field.children, |out, field| {
                    match field.field {
                        Field::Typename(name) => string(out, name),
                        Field::ProviderId => {
                            string(out, &GlobalId::Provider(event.provider_id).to_id());
                        }
                        Field::ProviderName => {
                            string(out, &self.snapshot.provider_name(event.provider_id));
                        }
                        _ => return None,
                    }
                    Some(())
                })?,
                _ => return None,
            }
            Some(())
        })
    }

    /// The arguments of `events`, read as its resolver reads them: each value with its
    /// variables put in, checked as validation checks a variable's value, then parsed by the
    /// argument's own type.
    fn events_args(&self, arguments: &[(Name, InputValue)]) -> Option<EventsArgs> {
        let mut args = EventsArgs::default();
        for (name, value) in arguments {
            let value = value
                .clone()
                .into_const_with(|variable| self.variable(&variable).ok_or(()))
                .ok()?;
            match name.as_str() {
                "startsAt" => args.starts_at = parse(value)?,
                "endsAt" => args.ends_at = parse(value)?,
                "filter" => {
                    static FIELDS: OnceLock<HashSet<String>> = OnceLock::new();
                    known_fields::<EventFilter>(&value, &FIELDS)?;
                    args.filter = parse(value)?;
                }
                "orderBy" => {
                    static FIELDS: OnceLock<HashSet<String>> = OnceLock::new();
                    known_fields::<EventOrder>(&value, &FIELDS)?;
                    args.order_by = parse(value)?;
                }
                "first" => args.page.first = parse(value)?,
                "after" => args.page.after = parse(value)?,
                "last" => args.page.last = parse(value)?,
                "before" => args.page.before = parse(value)?,
                _ => return None,
            }
        }
        Some(args)
    }

    /// A variable's value as the executor reads it: the request's, else its definition's
    /// default (null for a nullable one).
    fn variable(&self, name: &Name) -> Option<Value> {
        let definition: &VariableDefinition = &self
            .plan
            .variables
            .iter()
            .find(|d| d.node.name.node == *name)?
            .node;
        self.variables
            .get(name)
            .or_else(|| definition.default_value())
            .cloned()
    }
}

/// `value` as the argument type `T` reads it.
fn parse<T: InputType>(value: Value) -> Option<T> {
    T::parse(Some(value)).ok()
}

/// Whether an input object's value names only fields of `T` (whose names are kept in
/// `names`): validation refuses any other, where `T`'s parser ignores it.
fn known_fields<T: InputType>(value: &Value, names: &OnceLock<HashSet<String>>) -> Option<()> {
    let Value::Object(fields) = value else {
        return Some(());
    };
    let names = names.get_or_init(|| {
        let mut registry = async_graphql::registry::Registry::default();
        T::create_type_info(&mut registry);
        match registry.types.get(T::type_name().as_ref()) {
            Some(async_graphql::registry::MetaType::InputObject { input_fields, .. }) => {
                input_fields.keys().cloned().collect()
            }
            _ => HashSet::new(),
        }
    });
    fields
        .keys()
        .all(|key| names.contains(key.as_str()))
        .then_some(())
}

/// Whether a connection field (or anything under it) shows a cursor.
fn uses_cursors(field: &Chosen) -> bool {
    matches!(
        field.field,
        Field::Cursor | Field::StartCursor | Field::EndCursor
    ) || field.children.iter().any(uses_cursors)
}

/// An object of the selected `fields` (`null` when none is selected, as the executor writes
/// an empty object), each value written by `value`.
fn object(
    out: &mut Vec<u8>,
    fields: &[Chosen],
    mut value: impl FnMut(&mut Vec<u8>, &Chosen) -> Option<()>,
) -> Option<()> {
    if fields.is_empty() {
        out.extend_from_slice(b"null");
        return Some(());
    }
    out.push(b'{');
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, &field.key);
        out.push(b':');
        value(out, field)?;
    }
    out.push(b'}');
    Some(())
}

/// A list of `items`, each written by `item`.
fn list<T>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = T>,
    mut item: impl FnMut(&mut Vec<u8>, T) -> Option<()>,
) -> Option<()> {
    out.push(b'[');
    for (i, value) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, value)?;
    }
    out.push(b']');
    Some(())
}

/// A string, escaped as the executor's serialiser escapes it (it is the same serialiser).
fn string(out: &mut Vec<u8>, text: &str) {
    let _ = serde::Serializer::serialize_str(&mut serde_json::Serializer::new(out), text);
}

fn number(out: &mut Vec<u8>, n: usize) {
    let _ = serde::Serializer::serialize_u64(
        &mut serde_json::Serializer::new(out),
        u64::try_from(n).unwrap_or(u64::MAX),
    );
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// A value the schema makes with `to_value` (an enum or a scalar), as it serialises.
fn value(out: &mut Vec<u8>, value: &Value) {
    let _ = serde::Serialize::serialize(value, &mut serde_json::Serializer::new(out));
}

/// An instant, as the `DateTime` scalar writes it (chrono's RFC 3339 with `AutoSi` seconds:
/// no fraction, or 3, 6 or 9 digits, whichever is exact), written directly for a four-digit
/// year; anything else (a leap second, another year) by the scalar itself.
fn instant(out: &mut Vec<u8>, at: chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike as _, Timelike as _};
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 || !(0..=9999).contains(&at.year()) {
        value(out, &ScalarType::to_value(&Instant(at)));
        return;
    }
    let local = at.naive_utc();
    out.push(b'"');
    format::write_date(out, local);
    out.push(b'T');
    format::write_time(out, local);
    let (fraction, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    if digits > 0 {
        out.push(b'.');
        format::write_number(out, u64::from(fraction), digits);
    }
    out.extend_from_slice(b"Z\"");
}

/// A value written by one of the search formats (ASCII digits and punctuation), quoted.
fn quoted<T>(out: &mut Vec<u8>, t: T, write: fn(&mut Vec<u8>, T)) {
    out.push(b'"');
    write(out, t);
    out.push(b'"');
}

/// One field of `Event`, as its resolver answers it.
fn event_field(out: &mut Vec<u8>, field: EventField, event: &EventSummary) {
    let optional = |out: &mut Vec<u8>, at: Option<chrono::DateTime<chrono::Utc>>| match at {
        Some(at) => instant(out, at),
        None => out.extend_from_slice(b"null"),
    };
    let price = |out: &mut Vec<u8>, cents: Option<i64>| match cents {
        Some(cents) => quoted(out, cents, format::write_cents),
        None => out.extend_from_slice(b"null"),
    };
    match field {
        EventField::Id => string(out, &event.id.to_string()),
        EventField::Title => string(out, &event.title),
        EventField::SellMode => value(out, &InputType::to_value(&SellMode::of(&event.sell_mode))),
        EventField::StartsAt => instant(out, event.starts_at),
        EventField::EndsAt => instant(out, event.ends_at),
        EventField::StartDate => quoted(out, event.starts_local, format::write_date),
        EventField::StartTime => quoted(out, event.starts_local, format::write_time),
        EventField::EndDate => quoted(out, event.ends_local, format::write_date),
        EventField::EndTime => quoted(out, event.ends_local, format::write_time),
        EventField::SellFrom => optional(out, event.sell_from),
        EventField::SellTo => optional(out, event.sell_to),
        EventField::SoldOut => boolean(out, event.sold_out),
        EventField::MinPrice => price(out, event.min_price_cents),
        EventField::MaxPrice => price(out, event.max_price_cents),
        EventField::FirstSeenAt => instant(out, event.first_seen_at),
        EventField::LastSeenAt => instant(out, event.last_seen_at),
        EventField::UpdatedAt => instant(out, event.updated_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_as_the_scalar_writes_them() {
        let base = chrono::DateTime::from_timestamp(1_625_000_000, 0).unwrap();
        for nanos in [
            0,
            1,
            999,
            1_000,
            120_000,
            123_456,
            1_000_000,
            5_000_000,
            999_000_000,
            999_999_999,
            1_500_000_000,
        ] {
            let at = base + chrono::TimeDelta::nanoseconds(nanos);
            for at in [at, at.with_timezone(&chrono::Utc)] {
                let mut direct = Vec::new();
                instant(&mut direct, at);
                let mut by_scalar = Vec::new();
                value(&mut by_scalar, &ScalarType::to_value(&Instant(at)));
                assert_eq!(
                    String::from_utf8(direct).unwrap(),
                    String::from_utf8(by_scalar).unwrap()
                );
            }
        }
        for year in [1, 999, 9999, 10_000, -5] {
            let at = chrono::NaiveDate::from_ymd_opt(year, 3, 4)
                .unwrap()
                .and_hms_nano_opt(5, 6, 7, 80_000)
                .unwrap()
                .and_utc();
            let mut direct = Vec::new();
            instant(&mut direct, at);
            let mut by_scalar = Vec::new();
            value(&mut by_scalar, &ScalarType::to_value(&Instant(at)));
            assert_eq!(direct, by_scalar, "{year}");
        }
    }

    #[test]
    fn strings_are_escaped_as_the_serialiser_escapes_them() {
        for text in [
            "plain",
            "Ópera 🎭",
            "a \"quote\"",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "",
        ] {
            let mut direct = Vec::new();
            string(&mut direct, text);
            assert_eq!(direct, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }
}
