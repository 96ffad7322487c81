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
//! - Destinations: the [`DestinationPolicy`] is checked on the URL before the request (a
//!   literal address never reaches the resolver), on every address a host name resolves to
//!   (a resolver that filters, so DNS cannot rebind around the check: only allowed addresses
//!   are ever connected to), and on every redirect hop before it is followed. Proxies from the
//!   environment are ignored, as a proxy would resolve and connect on our behalf.
//! - Memory: the body buffer never holds more capacity than the cap (see [`CappedBuffer`]); it
//!   is sized once from `Content-Length` when the provider announces one.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::{
    ErrorKind,
    destination::{DestinationPolicy, RefusedDestination},
    settings::FetchLimits,
};
use reqwest::{StatusCode, header};

/// The User-Agent every fetch sends.
pub const USER_AGENT: &str = concat!("fever-ingestor/", env!("CARGO_PKG_VERSION"));

/// How the body is fed to the decoder, so a gzip bomb is caught after at most this much input.
const DECODE_SLICE: usize = 8 * 1024;

/// Redirects followed before a fetch fails.
const MAX_REDIRECTS: usize = 5;

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

/// Fetches feeds, only from destinations its [`DestinationPolicy`] allows. Clone it freely:
/// clones share connection pools.
#[derive(Clone)]
pub struct Fetcher {
    // reqwest sets the connect timeout per client; providers may each have their own, so
    // there is one client per distinct value.
    clients: Arc<Mutex<HashMap<i32, reqwest::Client>>>,
    policy: DestinationPolicy,
    resolver: Arc<dyn reqwest::dns::Resolve>,
}

impl Fetcher {
    /// A fetcher with no connections yet, resolving names with the system resolver.
    pub fn new(policy: DestinationPolicy) -> Self {
        Self::with_resolver(policy, Arc::new(SystemResolver))
    }

    /// A fetcher whose names are resolved by `resolver` (then filtered by `policy`): for
    /// tests that need a name to resolve to given addresses.
    pub fn with_resolver(
        policy: DestinationPolicy,
        resolver: Arc<dyn reqwest::dns::Resolve>,
    ) -> Self {
        // rustls needs a process-wide crypto provider; installing it twice keeps the first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            clients: Arc::default(),
            policy,
            resolver,
        }
    }

    /// The destinations it fetches from.
    pub fn policy(&self) -> DestinationPolicy {
        self.policy
    }

    fn client(&self, connect_timeout_ms: i32) -> Result<reqwest::Client, FetchError> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&connect_timeout_ms) {
            return Ok(client.clone());
        }
        let policy = self.policy;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_millis(
                connect_timeout_ms.unsigned_abs().into(),
            ))
            // Decompression is ours (see `Body`): it writes into the capped buffer and keeps
            // `wire_bytes` the bytes actually received.
            .gzip(false)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                check_redirect(policy, attempt)
            }))
            .dns_resolver(PolicyResolver {
                policy,
                inner: Arc::clone(&self.resolver),
            })
            .no_proxy()
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
        // reqwest does not call the resolver for a literal address: check the URL first.
        let url = url::Url::parse(request.url).map_err(|e| {
            FetchError::new(
                ErrorKind::Config,
                format!("the provider URL does not parse: {e}"),
            )
        })?;
        self.policy.check_url(&url).map_err(|e| refused(&e))?;
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

/// Follows a redirect only to a destination the policy allows, checked before anything
/// connects to it, and at most [`MAX_REDIRECTS`] times.
fn check_redirect(
    policy: DestinationPolicy,
    attempt: reqwest::redirect::Attempt<'_>,
) -> reqwest::redirect::Action {
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error(TooManyRedirects);
    }
    match policy.check_url(attempt.url()) {
        Ok(()) => attempt.follow(),
        Err(refused) => attempt.error(refused),
    }
}

/// More redirects than [`MAX_REDIRECTS`].
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
struct TooManyRedirects;

/// Resolves with `inner`, then keeps only the addresses the policy allows: the connection is
/// made to what this returns, so the address checked is the address used.
struct PolicyResolver {
    policy: DestinationPolicy,
    inner: Arc<dyn reqwest::dns::Resolve>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        let resolving = self.inner.resolve(name);
        Box::pin(async move {
            let resolved = resolving.await?;
            let allowed = policy.filter_resolved(&host, resolved)?;
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The system's resolver (`getaddrinfo`, on a blocking thread), as reqwest's default.
struct SystemResolver;

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs: reqwest::dns::Addrs = Box::new(resolved.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}

fn refused(refused: &RefusedDestination) -> FetchError {
    FetchError::new(ErrorKind::Destination, refused.to_string())
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
    let announced = response.content_length();
    if let Some(length) = announced.filter(|l| *l > max) {
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
        // The announced length is what arrives: the buffer is sized once, never copied.
        None | Some("" | "identity") => Body::Plain(CappedBuffer::new(max, announced)),
        // The decompressed size is not announced: the buffer grows, within the cap.
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
            Body::Gzip(Box::new(flate2::write::GzDecoder::new(CappedBuffer::new(
                max, None,
            ))))
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
    Plain(CappedBuffer),
    Gzip(Box<flate2::write::GzDecoder<CappedBuffer>>),
}

impl Body {
    fn push(&mut self, chunk: &[u8], max: u64) -> Result<(), FetchError> {
        let over = || {
            FetchError::new(
                ErrorKind::TooLarge,
                format!("the feed decompresses to over the cap of {max} bytes"),
            )
        };
        match self {
            Self::Plain(bytes) => bytes.extend(chunk).map_err(|OverCap| {
                FetchError::new(
                    ErrorKind::TooLarge,
                    format!("the feed is over the cap of {max} bytes"),
                )
            })?,
            Self::Gzip(decoder) => {
                for slice in chunk.chunks(DECODE_SLICE) {
                    if let Err(err) = decoder.write_all(slice) {
                        return Err(if decoder.get_ref().overflowed {
                            over()
                        } else {
                            corrupt_gzip(&err)
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, FetchError> {
        match self {
            Self::Plain(bytes) => Ok(bytes.into_inner()),
            Self::Gzip(decoder) => decoder
                .finish()
                .map(CappedBuffer::into_inner)
                .map_err(|e| corrupt_gzip(&e)),
        }
    }
}

/// A byte buffer whose capacity never exceeds its cap.
///
/// A `Vec` that grows by doubling reaches twice the cap (a 256 MiB body ends in a 512 MiB
/// allocation), and each growth copies the old buffer into the new one while both are
/// resident. Here the buffer is allocated once: to the announced length when there is one,
/// otherwise to the cap (see [`CappedBuffer::new`]). Should a provider send more than it
/// announced, growth doubles but stays clamped to the cap. Writing past the cap fails and sets
/// `overflowed`, which stops a decoder at once.
#[derive(Debug)]
pub struct CappedBuffer {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

/// Writing would take a [`CappedBuffer`] over its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("over the body size cap")]
pub struct OverCap;

impl CappedBuffer {
    /// An empty buffer for at most `cap` bytes, sized for `announced` bytes if given, and
    /// for `cap` bytes otherwise.
    ///
    /// Reserving the cap up front costs address space, not memory: the allocator maps a
    /// block that large straight from the OS, and a page becomes resident only when written.
    /// Growing instead would leave each outgrown block resident for a while after it is freed
    /// (mimalloc purges freed memory lazily): a gzip bomb measured 542 MiB at a 256 MiB cap
    /// with doubling growth clamped to the cap, and 292 MiB reserved up front.
    pub fn new(cap: u64, announced: Option<u64>) -> Self {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let initial = announced
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(cap)
            .min(cap);
        Self {
            bytes: Vec::with_capacity(initial),
            cap,
            overflowed: false,
        }
    }

    /// Appends `data`, or fails (keeping what was there) if that would pass the cap.
    pub fn extend(&mut self, data: &[u8]) -> Result<(), OverCap> {
        let needed = self.bytes.len().saturating_add(data.len());
        if needed > self.cap {
            self.overflowed = true;
            return Err(OverCap);
        }
        if needed > self.bytes.capacity() {
            let target = self
                .bytes
                .capacity()
                .saturating_mul(2)
                .max(needed)
                .min(self.cap);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes allocated: never more than the cap.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.bytes
    }
}

impl Write for CappedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.extend(buf)
            .map(|()| buf.len())
            .map_err(std::io::Error::other)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

/// Classifies a transport error; the URL is left out of the message. A refused destination
/// (from the resolver or a redirect) is recognised in the error's chain.
fn transport_error(err: reqwest::Error) -> FetchError {
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<RefusedDestination>() {
            return refused(refusal);
        }
        source = cause.source();
    }
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connect
    };
    let what = if err.is_body() {
        "the connection failed while reading the feed"
    } else if err.is_redirect() {
        "the redirect could not be followed"
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
        let cap = 1024 * 1024;
        let mut body = Body::Gzip(Box::new(flate2::write::GzDecoder::new(CappedBuffer::new(
            cap, None,
        ))));
        let err = body.push(&bomb, cap).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooLarge);
        let Body::Gzip(decoder) = body else {
            unreachable!()
        };
        let buffer = decoder.get_ref();
        assert!(buffer.len() <= 1024 * 1024);
        assert!(
            buffer.capacity() <= 1024 * 1024,
            "capacity {} over the cap",
            buffer.capacity()
        );
    }

    #[test]
    fn the_body_buffer_never_grows_past_its_cap() {
        let cap = 10 * 1024 * 1024 + 123;
        // No length announced: one allocation of the cap, never another.
        let mut buffer = CappedBuffer::new(cap as u64, None);
        let chunk = vec![b'x'; 16 * 1024];
        let mut capacities = vec![buffer.capacity()];
        while buffer.extend(&chunk).is_ok() {
            capacities.push(buffer.capacity());
        }
        assert!(buffer.len() <= cap && buffer.len() + chunk.len() > cap);
        capacities.dedup();
        assert_eq!(capacities, [cap]);

        // A provider that sends more than it announced: growth doubles, clamped to the cap.
        let mut liar = CappedBuffer::new(cap as u64, Some(1_000));
        let mut capacities = vec![liar.capacity()];
        while liar.extend(&chunk).is_ok() {
            capacities.push(liar.capacity());
        }
        assert!(capacities.iter().all(|&c| c <= cap), "{capacities:?}");
        capacities.dedup();
        assert!(
            capacities.len() < 16,
            "a handful of allocations: {capacities:?}"
        );
        assert_eq!(capacities.last(), Some(&cap));
        // Filled to the byte, it holds exactly the cap, and not one byte more.
        let room = cap - buffer.len();
        assert!(room < chunk.len());
        buffer.extend(&vec![b'z'; room]).unwrap();
        assert_eq!((buffer.len(), buffer.capacity()), (cap, cap));
        assert!(buffer.extend(b"y").is_err(), "full");

        // An announced length is one allocation of exactly that size.
        let mut sized = CappedBuffer::new(cap as u64, Some(100_000));
        assert_eq!(sized.capacity(), 100_000);
        sized.extend(&vec![b'x'; 100_000]).unwrap();
        assert_eq!(sized.capacity(), 100_000);
        // An announced length over the cap reserves only the cap.
        assert_eq!(CappedBuffer::new(1_000, Some(5_000)).capacity(), 1_000);
    }
}
