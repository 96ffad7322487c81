//! Fetching a provider's feed over HTTP, safely.
//!
//! - Connect, read (between two chunks of the body) and total timeouts; the total covers the
//!   body too, so a server that drips a byte a second still fails in time.
//! - A body size cap, checked while streaming on the bytes received and, for gzip, on the
//!   bytes decompressed (a small bomb never grows past the cap in memory).
//! - Conditional GET: the last feed's `ETag` and `Last-Modified` are sent back, and a 304 means
//!   nothing to do.
//! - Every failure maps to an [`ErrorKind`] the job outcome records, with the HTTP status and
//!   `Retry-After` when the provider sent them. Messages never include the URL's query string,
//!   which may hold a provider's key.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::{ErrorKind, settings::FetchLimits};
use reqwest::{StatusCode, header};

/// The User-Agent every fetch sends.
pub const USER_AGENT: &str = concat!("fever-ingestor/", env!("CARGO_PKG_VERSION"));

/// How the body is fed to the decoder, so a gzip bomb is caught after at most this much input.
const DECODE_SLICE: usize = 8 * 1024;

/// What to fetch and under which limits.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    /// The feed's URL.
    pub url: &'a str,
    /// Timeouts and size cap.
    pub limits: FetchLimits,
    /// `ETag` of the last feed stored.
    pub etag: Option<&'a str>,
    /// `Last-Modified` of the last feed stored.
    pub last_modified: Option<&'a str>,
}

/// A successful fetch.
#[derive(Debug)]
pub enum Fetched {
    /// The provider says the feed has not changed since the validators sent.
    NotModified {
        /// The status (304).
        status: u16,
    },
    /// A feed body.
    Body(FeedBody),
}

/// A feed body and what its response said.
#[derive(Debug)]
pub struct FeedBody {
    /// The body, decompressed.
    pub bytes: Vec<u8>,
    /// The HTTP status.
    pub status: u16,
    /// Its `ETag`, for the next conditional GET.
    pub etag: Option<String>,
    /// Its `Last-Modified`, for the next conditional GET.
    pub last_modified: Option<String>,
    /// Bytes received on the wire (compressed, when it was).
    pub wire_bytes: u64,
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// The kind the job outcome records.
    pub kind: ErrorKind,
    /// What happened, for an operator.
    pub message: String,
    /// The provider's status, when it answered.
    pub http_status: Option<u16>,
    /// When the provider asked us to come back.
    pub retry_after: Option<DateTime<Utc>>,
    /// Bytes received before the failure.
    pub bytes: u64,
}

impl FetchError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            http_status: None,
            retry_after: None,
            bytes: 0,
        }
    }
}

/// Fetches feeds. Clone it freely: clones share connection pools.
#[derive(Clone, Default)]
pub struct Fetcher {
    // reqwest sets the connect timeout per client; providers may each have their own, so
    // there is one client per distinct value.
    clients: Arc<Mutex<HashMap<i32, reqwest::Client>>>,
}

impl Fetcher {
    /// A fetcher with no connections yet.
    pub fn new() -> Self {
        // rustls needs a process-wide crypto provider; installing it twice keeps the first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self::default()
    }

    fn client(&self, connect_timeout_ms: i32) -> Result<reqwest::Client, FetchError> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&connect_timeout_ms) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_millis(
                connect_timeout_ms.unsigned_abs().into(),
            ))
            .redirect(reqwest::redirect::Policy::limited(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                FetchError::new(
                    ErrorKind::Config,
                    format!("cannot build an HTTP client: {e}"),
                )
            })?;
        clients.insert(connect_timeout_ms, client.clone());
        Ok(client)
    }

    /// Fetches one feed within its limits.
    pub async fn fetch(&self, request: FetchRequest<'_>) -> Result<Fetched, FetchError> {
        let client = self.client(request.limits.connect_timeout_ms)?;
        let total_ms = request.limits.total_timeout_ms.unsigned_abs();
        let mut progress = Progress::default();
        let fetch = fetch_with(&client, &request, &mut progress);
        match tokio::time::timeout(Duration::from_millis(total_ms.into()), fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError {
                http_status: progress.status,
                bytes: progress.wire_bytes,
                ..FetchError::new(
                    ErrorKind::Timeout,
                    format!("the fetch took longer than the total timeout of {total_ms} ms"),
                )
            }),
        }
    }
}

/// How far a fetch got, so a timeout can still say what the provider answered.
#[derive(Debug, Default)]
struct Progress {
    status: Option<u16>,
    wire_bytes: u64,
}

async fn fetch_with(
    client: &reqwest::Client,
    request: &FetchRequest<'_>,
    progress: &mut Progress,
) -> Result<Fetched, FetchError> {
    let limits = request.limits;
    let mut builder = client
        .get(request.url)
        .header(header::ACCEPT, "application/xml, text/xml;q=0.9, */*;q=0.1")
        .header(header::ACCEPT_ENCODING, "gzip");
    if let Some(etag) = request.etag {
        builder = builder.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(last_modified) = request.last_modified {
        builder = builder.header(header::IF_MODIFIED_SINCE, last_modified);
    }
    let mut response = builder.send().await.map_err(transport_error)?;
    let status = response.status();
    progress.status = Some(status.as_u16());
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified {
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(FetchError {
            http_status: Some(status.as_u16()),
            retry_after: retry_after(response.headers(), Utc::now()),
            ..FetchError::new(
                ErrorKind::HttpStatus,
                format!("the provider answered {status}"),
            )
        });
    }
    let max = u64::try_from(limits.max_body_bytes).unwrap_or(u64::MAX);
    if let Some(length) = response.content_length().filter(|l| *l > max) {
        return Err(too_large(
            format!("the feed announces {length} bytes, over the cap of {max}"),
            status,
            0,
        ));
    }
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header_text(header::ETAG);
    let last_modified = header_text(header::LAST_MODIFIED);
    let mut body = match header_text(header::CONTENT_ENCODING)
        .as_deref()
        .map(str::trim)
    {
        None | Some("" | "identity") => Body::Plain(Vec::new()),
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
            Body::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new())))
        }
        Some(other) => {
            return Err(FetchError {
                http_status: Some(status.as_u16()),
                ..FetchError::new(
                    ErrorKind::Parse,
                    format!("unsupported content encoding `{other}`"),
                )
            });
        }
    };
    let read_timeout = Duration::from_millis(limits.read_timeout_ms.unsigned_abs().into());
    let mut wire_bytes = 0u64;
    loop {
        let chunk = match tokio::time::timeout(read_timeout, response.chunk()).await {
            Err(_) => {
                return Err(FetchError {
                    http_status: Some(status.as_u16()),
                    bytes: wire_bytes,
                    ..FetchError::new(
                        ErrorKind::Timeout,
                        format!(
                            "no data for {} ms while reading the feed",
                            read_timeout.as_millis()
                        ),
                    )
                });
            }
            Ok(Err(err)) => {
                return Err(FetchError {
                    http_status: Some(status.as_u16()),
                    bytes: wire_bytes,
                    ..transport_error(err)
                });
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        wire_bytes += chunk.len() as u64;
        progress.wire_bytes = wire_bytes;
        if wire_bytes > max {
            return Err(too_large(
                format!("the feed is over the cap of {max} bytes"),
                status,
                wire_bytes,
            ));
        }
        body.push(&chunk, max).map_err(|message| FetchError {
            http_status: Some(status.as_u16()),
            bytes: wire_bytes,
            ..message
        })?;
    }
    let bytes = body.finish().map_err(|message| FetchError {
        http_status: Some(status.as_u16()),
        bytes: wire_bytes,
        ..message
    })?;
    Ok(Fetched::Body(FeedBody {
        bytes,
        status: status.as_u16(),
        etag,
        last_modified,
        wire_bytes,
    }))
}

/// A body being received, decompressed on the fly when it is gzip.
enum Body {
    Plain(Vec<u8>),
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
}

impl Body {
    fn push(&mut self, chunk: &[u8], max: u64) -> Result<(), FetchError> {
        match self {
            Self::Plain(bytes) => bytes.extend_from_slice(chunk),
            Self::Gzip(decoder) => {
                for slice in chunk.chunks(DECODE_SLICE) {
                    decoder.write_all(slice).map_err(|e| corrupt_gzip(&e))?;
                    let decoded = decoder.get_ref().len() as u64;
                    if decoded > max {
                        return Err(FetchError::new(
                            ErrorKind::TooLarge,
                            format!("the feed decompresses to over the cap of {max} bytes"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, FetchError> {
        match self {
            Self::Plain(bytes) => Ok(bytes),
            Self::Gzip(decoder) => decoder.finish().map_err(|e| corrupt_gzip(&e)),
        }
    }
}

fn corrupt_gzip(err: &std::io::Error) -> FetchError {
    FetchError::new(ErrorKind::Parse, format!("the gzip body is corrupt: {err}"))
}

fn too_large(message: String, status: StatusCode, bytes: u64) -> FetchError {
    FetchError {
        http_status: Some(status.as_u16()),
        bytes,
        ..FetchError::new(ErrorKind::TooLarge, message)
    }
}

/// Classifies a transport error; the URL is left out of the message.
fn transport_error(err: reqwest::Error) -> FetchError {
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connect
    };
    let what = if err.is_body() {
        "the connection failed while reading the feed"
    } else if err.is_redirect() {
        "too many redirects"
    } else if err.is_timeout() {
        "the provider did not answer in time"
    } else {
        "cannot reach the provider"
    };
    let err = err.without_url();
    let mut detail = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    let message = if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {detail}")
    };
    FetchError::new(kind, message)
}

/// `Retry-After` as an instant: delay seconds or an HTTP date.
pub fn retry_after(headers: &header::HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(now + chrono::TimeDelta::seconds(seconds.into()));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(
            retry_after(&headers, now).unwrap().to_rfc3339(),
            "2026-01-01T00:02:00+00:00"
        );
        headers.insert(
            header::RETRY_AFTER,
            "Thu, 01 Jan 2026 00:05:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&headers, now).unwrap().to_rfc3339(),
            "2026-01-01T00:05:00+00:00"
        );
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b' '; 10 * 1024 * 1024]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 64 * 1024);
        let mut body = Body::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new())));
        let err = body.push(&bomb, 1024 * 1024).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooLarge);
    }
}
