//! Scalars: instants as RFC 3339 text.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::search::parse_instant;

/// An instant, as RFC 3339 text in UTC (`2021-07-21T17:32:28Z`). As input, an offset is
/// honoured, and a date-time without one is read as UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub DateTime<Utc>);

/// An instant, as RFC 3339 (`2021-06-30T21:00:00Z`); an offset is honoured, and a date-time
/// without one is read as UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for Instant {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => parse_instant(text).map(Self).ok_or_else(|| {
                InputValueError::custom(format!(
                    "`{text}` is not an RFC 3339 date-time such as 2021-07-21T17:32:28Z"
                ))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl From<DateTime<Utc>> for Instant {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

/// An exact amount from cents: `2000` → `"20.00"`.
pub(super) fn money(cents: i64) -> String {
    crate::search::format::to_string(cents, crate::search::format::write_cents)
}

/// A price argument (`"15"`, `"15.5"`, `"15.50"`) in cents; `BAD_USER_INPUT` for anything else.
pub(super) fn price_cents(name: &str, text: &str) -> Result<i64, crate::error::ApiError> {
    let invalid = || {
        crate::error::ApiError::BadUserInput(format!(
            "`{name}` must be a price such as \"15.50\", not `{text}`"
        ))
    };
    let (units, cents) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(units)
        || units.len() > 12
        || (!cents.is_empty() && !digits(cents))
        || cents.len() > 2
        || (text.contains('.') && cents.is_empty())
    {
        return Err(invalid());
    }
    let units: i64 = units.parse().map_err(|_| invalid())?;
    let cents: i64 = format!("{cents:0<2}").parse().map_err(|_| invalid())?;
    Ok(units * 100 + cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_exactly() {
        assert_eq!(price_cents("p", "15").ok(), Some(1500));
        assert_eq!(price_cents("p", "15.5").ok(), Some(1550));
        assert_eq!(price_cents("p", "0.05").ok(), Some(5));
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "1.234",
            "1,50",
            "abc",
            "1e3",
            "9999999999999",
        ] {
            assert!(price_cents("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_is_exact() {
        assert_eq!(money(2000), "20.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-150), "-1.50");
    }
}
