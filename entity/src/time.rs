//! The one timestamp format written to both databases.
//!
//! SQLite stores timestamps as text and compares them as strings, and PostgreSQL keeps
//! microseconds: every instant this service writes is therefore UTC, produced in Rust (never
//! a database default such as `CURRENT_TIMESTAMP`) and truncated to microseconds, so a value
//! read back equals the value written on either database.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current instant, as stored.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// `instant` as stored: truncated to microseconds.
pub fn truncate(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_instants_have_whole_microseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(truncate(t).timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
