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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(money(2000), "20.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-150), "-1.50");
    }
}
