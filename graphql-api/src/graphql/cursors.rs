//! Opaque cursors: an event's place in its order, a job's (and its place in its order), a job
//! update's change number, each URL-safe base64 of a short text. A cursor a client made up,
//! or one from another connection, is `BAD_USER_INPUT`.

use base64::Engine as _;
use chrono::DateTime;
use uuid::Uuid;

use entity::{
    JobId,
    query::job::{JobKey, JobOrderField, JobPosition},
};

use crate::{
    error::ApiError,
    search::{OrderField, Position},
};

/// An opaque cursor for an event's position in the order of a search. In start order it is
/// the start and the id (as before orders existed, so older cursors still work).
pub(crate) fn event_cursor(position: &Position) -> String {
    let raw = match position {
        Position::Start(start, id) => format!("{}:{id}", start.timestamp_micros()),
        Position::Price(Some(cents), id) => format!("price:{cents}:{id}"),
        Position::Price(None, id) => format!("price:-:{id}"),
        Position::Title(title, id) => format!("title:{id}:{title}"),
    };
    encode(&raw)
}

/// The position an event cursor names, which must be one of `field`'s order.
pub(crate) fn parse_event_cursor(field: OrderField, cursor: &str) -> Result<Position, ApiError> {
    let invalid = || {
        ApiError::BadUserInput(format!(
            "`{cursor}` is not a cursor from this connection in this order"
        ))
    };
    let raw = decode(cursor).ok_or_else(invalid)?;
    let id = |text: &str| text.parse::<Uuid>().map_err(|_| invalid());
    match field {
        OrderField::Start => {
            let (micros, rest) = raw.split_once(':').ok_or_else(invalid)?;
            let micros: i64 = micros.parse().map_err(|_| invalid())?;
            let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
            Ok(Position::Start(at, id(rest)?))
        }
        OrderField::Price => {
            let rest = raw.strip_prefix("price:").ok_or_else(invalid)?;
            let (cents, rest) = rest.split_once(':').ok_or_else(invalid)?;
            let cents = match cents {
                "-" => None,
                cents => Some(cents.parse().map_err(|_| invalid())?),
            };
            Ok(Position::Price(cents, id(rest)?))
        }
        OrderField::Title => {
            let rest = raw.strip_prefix("title:").ok_or_else(invalid)?;
            let (uuid, title) = rest.split_once(':').ok_or_else(invalid)?;
            Ok(Position::Title(title.to_owned(), id(uuid)?))
        }
    }
}

/// An opaque cursor for a job (or its outcome): its id.
pub(crate) fn job_cursor(id: i64) -> String {
    numbered_cursor("job", id)
}

/// The job id a job cursor names.
pub(crate) fn parse_job_cursor(cursor: &str) -> Result<i64, ApiError> {
    parse_numbered_cursor("job", cursor)
}

/// An opaque cursor for a job's position in an order of `jobs`. By creation it is the job's
/// cursor (as before orders existed, so older cursors still work).
pub(crate) fn job_position_cursor(at: &JobPosition) -> String {
    let id = at.id.0;
    let raw = match at.key {
        JobKey::Created => return job_cursor(id),
        JobKey::Finished(Some(when)) => format!("job:finished:{}:{id}", when.timestamp_micros()),
        JobKey::Finished(None) => format!("job:finished:-:{id}"),
        JobKey::Duration(Some(ms)) => format!("job:duration:{ms}:{id}"),
        JobKey::Duration(None) => format!("job:duration:-:{id}"),
    };
    encode(&raw)
}

/// The position a job cursor names, which must be one of `field`'s order.
pub(crate) fn parse_job_position(
    field: JobOrderField,
    cursor: &str,
) -> Result<JobPosition, ApiError> {
    if field == JobOrderField::Created {
        return Ok(JobPosition {
            key: JobKey::Created,
            id: JobId(parse_job_cursor(cursor)?),
        });
    }
    let invalid = || {
        ApiError::BadUserInput(format!(
            "`{cursor}` is not a cursor from this connection in this order"
        ))
    };
    let raw = decode(cursor).ok_or_else(invalid)?;
    let prefix = match field {
        JobOrderField::Finished => "job:finished:",
        _ => "job:duration:",
    };
    let (value, id) = raw
        .strip_prefix(prefix)
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(invalid)?;
    let id = JobId(id.parse().map_err(|_| invalid())?);
    let value: Option<i64> = match value {
        "-" => None,
        value => Some(value.parse().map_err(|_| invalid())?),
    };
    let key = match field {
        JobOrderField::Finished => JobKey::Finished(
            value
                .map(|micros| DateTime::from_timestamp_micros(micros).ok_or_else(invalid))
                .transpose()?,
        ),
        _ => JobKey::Duration(value),
    };
    Ok(JobPosition { key, id })
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
    encode(&format!("{kind}:{number}"))
}

fn parse_numbered_cursor(kind: &str, cursor: &str) -> Result<i64, ApiError> {
    decode(cursor)
        .and_then(|raw| {
            raw.strip_prefix(kind)?
                .strip_prefix(':')
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| {
            ApiError::BadUserInput(format!("`{cursor}` is not a {kind} cursor from this API"))
        })
}

/// The opaque form of this text (a cursor's, or a global id's).
pub(crate) fn encode(raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The text an opaque string (see [`encode`]) stands for, if it is one.
pub(crate) fn decode(cursor: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(raw).ok()
}
