//! Opaque cursors: an event's (start, id), a job's id, a job update's change number. A cursor a
//! client made up, or one from another connection, is `BAD_USER_INPUT`.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{error::ApiError, search::EventSummary};

/// An opaque cursor for an event: its start and id.
pub(crate) fn event_cursor(event: &EventSummary) -> String {
    let raw = format!("{}:{}", event.starts_at.timestamp_micros(), event.id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The position an event cursor names.
pub(crate) fn parse_event_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let invalid =
        || ApiError::BadUserInput(format!("`{cursor}` is not a cursor from this connection"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (micros, id) = raw.split_once(':').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((at, id))
}

/// An opaque cursor for a job (or its outcome): its id.
pub(crate) fn job_cursor(id: i64) -> String {
    numbered_cursor("job", id)
}

/// The job id a job cursor names.
pub(crate) fn parse_job_cursor(cursor: &str) -> Result<i64, ApiError> {
    parse_numbered_cursor("job", cursor)
}

/// An opaque cursor for a job update: the number of the change in the change log.
pub(crate) fn update_cursor(seq: i64) -> String {
    numbered_cursor("update", seq)
}

/// The change number an update cursor names.
pub(crate) fn parse_update_cursor(cursor: &str) -> Result<i64, ApiError> {
    parse_numbered_cursor("update", cursor)
}

fn numbered_cursor(kind: &str, number: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{number}"))
}

fn parse_numbered_cursor(kind: &str, cursor: &str) -> Result<i64, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|raw| {
            raw.strip_prefix(kind)?
                .strip_prefix(':')
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| {
            ApiError::BadUserInput(format!("`{cursor}` is not a {kind} cursor from this API"))
        })
}
