//! `GET /search`, the REST contract existing clients call (`docs/openapi.yaml`).
//!
//! It answers from the in-memory index only: no provider, and no database, is involved. The
//! body is written straight from the indexed events (no intermediate structures per event),
//! into one buffer for a small answer and in streamed chunks for a large one, in the
//! contract's shape:
//! `{"data":{"events":[...]},"error":null}`, or `{"error":{"code","message"},"data":null}`
//! with 400 for bad input.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    access::Role,
    error::ApiError,
    search::{
        DateRange, EventSummary, Snapshot,
        format::{write_cents, write_date, write_time},
        parse_instant,
    },
    state::AppState,
};

/// A search request that cannot be answered, with the contract's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// A parameter is not a date-time.
    #[error("{name} must be an RFC 3339 date-time such as 2021-07-21T17:32:28Z, got `{value}`")]
    InvalidDateTime {
        /// The parameter.
        name: &'static str,
        /// What was sent.
        value: String,
    },
    /// A parameter was given twice.
    #[error("{0} was given more than once")]
    Repeated(&'static str),
    /// `starts_at` is after `ends_at`.
    #[error("starts_at must not be after ends_at")]
    InvertedRange,
}

impl SearchError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidDateTime { .. } => "INVALID_DATE_TIME",
            Self::Repeated(_) => "INVALID_PARAMETER",
            Self::InvertedRange => "INVALID_RANGE",
        }
    }
}

impl IntoResponse for SearchError {
    fn into_response(self) -> Response {
        error_response(StatusCode::BAD_REQUEST, self.code(), &self.to_string())
    }
}

/// The contract's error body.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message }, "data": null });
    (status, axum::Json(body)).into_response()
}

/// Why a request without a viewer (or admin) token is turned away: 401 without a token, 403
/// with one that is unknown or too low; none when it may go on.
pub fn viewer_refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let err = state.access(headers, true).require(Role::Viewer).err()?;
    let status = if matches!(err, ApiError::Forbidden) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNAUTHORIZED
    };
    Some(error_response(status, err.code(), &err.to_string()))
}

/// Reads `starts_at` and `ends_at` from a query string; other parameters are ignored.
pub fn parse_query(query: Option<&str>) -> Result<DateRange, SearchError> {
    let mut starts_at = None;
    let mut ends_at = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let (name, slot) = match key.as_ref() {
            "starts_at" => ("starts_at", &mut starts_at),
            "ends_at" => ("ends_at", &mut ends_at),
            _ => continue,
        };
        if slot.is_some() {
            return Err(SearchError::Repeated(name));
        }
        let instant = parse_instant(&value).ok_or_else(|| SearchError::InvalidDateTime {
            name,
            value: value.chars().take(64).collect(),
        })?;
        *slot = Some(instant);
    }
    DateRange::new(starts_at, ends_at).map_err(|_| SearchError::InvertedRange)
}

/// Answers with more candidates than this are streamed, under a permit.
const LARGE_ANSWER: usize = 1_000;
/// Bytes written per chunk of a streamed answer.
const CHUNK_BYTES: usize = 64 * 1024;

const PREFIX: &[u8] = br#"{"data":{"events":["#;
const SUFFIX: &[u8] = br#"]},"error":null}"#;

/// `GET /search`: every match in one response, as the contract says. A small answer is
/// written into one buffer; a large one (all 600k events of a catalogue, say) is streamed in
/// chunks from the snapshot it started on, so its memory is a chunk, not the answer, and at
/// most `max_concurrent_large_searches` stream at once.
pub async fn search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if state.config.search_requires_viewer
        && let Some(refused) = viewer_refusal(&state, &headers)
    {
        return refused;
    }
    let range = match parse_query(query.as_deref()) {
        Ok(range) => range,
        Err(err) => return err.into_response(),
    };
    let snapshot = state.index.snapshot();
    let candidates = snapshot.candidates(&range);
    if candidates.len() <= LARGE_ANSWER {
        let mut body = Vec::with_capacity(4096);
        body.extend_from_slice(PREFIX);
        write_events(&mut body, &snapshot, &range, candidates, true);
        body.extend_from_slice(SUFFIX);
        return json_body(Body::from(body));
    }
    // Queued behind the large answers being streamed, for as long as a request may take.
    let permit = match tokio::time::timeout(
        state.config.limits.request_timeout,
        Arc::clone(&state.large_searches).acquire_owned(),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "BUSY",
                "too many large searches at once; retry shortly or narrow the date range",
            );
        }
    };
    let chunks = futures::stream::unfold(
        Some((snapshot, candidates.start, true, permit)),
        move |state| async move {
            let (snapshot, position, first, permit) = state?;
            let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024);
            if position == candidates.start {
                chunk.extend_from_slice(PREFIX);
            }
            let mut next = position;
            let mut wrote = !first;
            while next < candidates.end && chunk.len() < CHUNK_BYTES {
                let upto = (next + 64).min(candidates.end);
                wrote |= write_events(&mut chunk, &snapshot, &range, next..upto, !wrote);
                next = upto;
            }
            let rest = if next < candidates.end {
                Some((snapshot, next, !wrote, permit))
            } else {
                chunk.extend_from_slice(SUFFIX);
                None
            };
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), rest))
        },
    );
    json_body(Body::from_stream(chunks))
}

fn json_body(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Writes the events of `positions` that match `range`, comma-separated (a leading comma
/// unless `first`); whether it wrote any.
fn write_events(
    out: &mut Vec<u8>,
    snapshot: &Snapshot,
    range: &DateRange,
    positions: std::ops::Range<usize>,
    first: bool,
) -> bool {
    let mut first = first;
    let mut wrote = false;
    for event in &snapshot.events()[positions] {
        if !range.admits_end(event) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        wrote = true;
        write_event(out, event);
    }
    wrote
}

/// One event in the contract's `EventSummary` shape.
fn write_event(out: &mut Vec<u8>, e: &EventSummary) {
    let mut id = uuid::Uuid::encode_buffer();
    out.extend_from_slice(br#"{"id":""#);
    out.extend_from_slice(e.id.0.hyphenated().encode_lower(&mut id).as_bytes());
    out.extend_from_slice(br#"","title":"#);
    // Escaping into the buffer cannot fail.
    let _ = serde_json::to_writer(&mut *out, &*e.title);
    out.extend_from_slice(br#","start_date":""#);
    write_date(out, e.starts_local);
    out.extend_from_slice(br#"","start_time":""#);
    write_time(out, e.starts_local);
    out.extend_from_slice(br#"","end_date":""#);
    write_date(out, e.ends_local);
    out.extend_from_slice(br#"","end_time":""#);
    write_time(out, e.ends_local);
    out.extend_from_slice(br#"","min_price":"#);
    write_price(out, e.min_price_cents);
    out.extend_from_slice(br#","max_price":"#);
    write_price(out, e.max_price_cents);
    out.push(b'}');
}

/// An exact decimal from cents, a JSON number (`15.05`); `null` without zones.
fn write_price(out: &mut Vec<u8>, cents: Option<i64>) {
    match cents {
        None => out.extend_from_slice(b"null"),
        Some(cents) => write_cents(out, cents),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;

    use super::*;

    #[test]
    fn parameters_are_read_strictly() {
        assert_eq!(parse_query(None), Ok(DateRange::default()));
        let range = parse_query(Some(
            "starts_at=2021-01-01T00:00:00Z&ends_at=2021-12-31T23:59:59%2B01:00&x=1",
        ))
        .unwrap();
        assert_eq!(
            range.to().unwrap().to_rfc3339(),
            "2021-12-31T22:59:59+00:00"
        );
        assert_eq!(
            parse_query(Some(
                "starts_at=2021-02-01T00:00:00Z&ends_at=2021-01-01T00:00:00Z"
            )),
            Err(SearchError::InvertedRange)
        );
        assert!(matches!(
            parse_query(Some("starts_at=tomorrow")),
            Err(SearchError::InvalidDateTime {
                name: "starts_at",
                ..
            })
        ));
        assert_eq!(
            parse_query(Some(
                "ends_at=2021-01-01T00:00:00Z&ends_at=2021-01-02T00:00:00Z"
            )),
            Err(SearchError::Repeated("ends_at"))
        );
        assert_eq!(SearchError::InvertedRange.code(), "INVALID_RANGE");
    }

    #[test]
    fn events_are_written_in_the_contract_shape() {
        let local =
            NaiveDateTime::parse_from_str("2021-06-30T21:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        let event = EventSummary {
            id: entity::EventId(uuid::Uuid::nil()),
            provider_id: entity::ProviderId(1),
            title: "Camela \"en\" concierto".into(),
            title_folded: String::new(),
            sell_mode: "online".into(),
            ever_online: true,
            starts_local: local,
            ends_local: local + chrono::TimeDelta::minutes(90),
            starts_at: local.and_utc(),
            ends_at: local.and_utc(),
            sell_from: None,
            sell_to: None,
            sold_out: false,
            min_price_cents: Some(1505),
            max_price_cents: None,
            first_seen_at: local.and_utc(),
            last_seen_at: local.and_utc(),
            updated_at: local.and_utc(),
        };
        let mut out = Vec::new();
        write_event(&mut out, &event);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            json!({
                "id": "00000000-0000-0000-0000-000000000000",
                "title": "Camela \"en\" concierto",
                "start_date": "2021-06-30",
                "start_time": "21:00:00",
                "end_date": "2021-06-30",
                "end_time": "22:30:00",
                "min_price": 15.05,
                "max_price": null
            })
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(r#""min_price":15.05,"#),
            "exact decimals"
        );
    }
}
