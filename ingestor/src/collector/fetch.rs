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
//! - Streaming: [`Fetcher::open`] returns the response's head and a [`BodyStream`] that hands
//!   out the decoded body chunk by chunk, so a caller can read the feed as it arrives without
//!   holding it (the collector does). A gzip body is decoded at most [`CHUNK_BYTES`] (plus one
//!   step of the decoder) at a time, so a small bomb never grows in memory.
//! - [`Fetcher::fetch`] collects the whole body instead, in a buffer that never holds more
//!   capacity than the cap (see [`CappedBuffer`]), sized once from `Content-Length` when the
//!   provider announces one.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::failure::Failure;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use entity::{
    ErrorKind,
    destination::{DestinationPolicy, RefusedDestination},
    settings::FetchLimits,
};
use reqwest::{StatusCode, header};
use tokio::time::Instant;

/// The User-Agent every fetch sends.
pub const USER_AGENT: &str = concat!("fever-ingestor/", env!("CARGO_PKG_VERSION"));

/// How the body is fed to the decoder, so a gzip bomb is caught after at most this much input.
const DECODE_SLICE: usize = 8 * 1024;

/// A gzip body is handed out in chunks of about this many decoded bytes: decoding stops once a
/// chunk holds this much, and one step of the decoder adds at most its own buffer (32 KiB).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Redirects followed before a fetch fails.
const MAX_REDIRECTS: usize = 5;

/// How long an unused connection to a provider is kept for its next collection.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// A response whose head has arrived (see [`Fetcher::open`]).
#[derive(Debug)]
pub enum Opened {
    /// The provider says the feed has not changed since the validators sent.
    NotModified {
        /// The status (304).
        status: u16,
    },
    /// A feed body, to be read chunk by chunk.
    Body(Box<BodyStream>),
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

    fn client(&self, connect_timeout_ms: i32) -> Result<reqwest::Client, Failure> {
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
            // A kept connection saves the handshake of a provider collected every few
            // seconds; one on a schedule of a minute or more is rarely still open at its next
            // tick, and every kept connection is an open file: at 5,000 providers a minute, a
            // 60 s timeout kept one per provider and ran the benchmark out of files.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| {
                Failure::new(
                    ErrorKind::Config,
                    format!("cannot build an HTTP client: {e}"),
                )
            })?;
        clients.insert(connect_timeout_ms, client.clone());
        Ok(client)
    }

    /// Sends the request and reads the response's head within the limits; the body is read
    /// afterwards from the returned [`BodyStream`], which keeps to the same limits (the total
    /// timeout runs from here to the body's last chunk).
    pub async fn open(&self, request: FetchRequest<'_>) -> Result<Opened, Failure> {
        // reqwest does not call the resolver for a literal address: check the URL first.
        let url = url::Url::parse(request.url).map_err(|e| {
            Failure::new(
                ErrorKind::Config,
                format!("the provider URL does not parse: {e}"),
            )
        })?;
        self.policy.check_url(&url).map_err(|e| refused(&e))?;
        let client = self.client(request.limits.connect_timeout_ms)?;
        let total_ms = request.limits.total_timeout_ms.unsigned_abs();
        let deadline = Instant::now() + Duration::from_millis(total_ms.into());
        let mut progress = Progress::default();
        let open = open_with(&client, &request, &mut progress, deadline);
        match tokio::time::timeout_at(deadline, open).await {
            Ok(result) => result,
            Err(_) => Err(Failure {
                http_status: progress.status,
                ..total_timeout(total_ms)
            }),
        }
    }

    /// Fetches one feed within its limits, the whole body in memory.
    pub async fn fetch(&self, request: FetchRequest<'_>) -> Result<Fetched, Failure> {
        let mut body = match self.open(request).await? {
            Opened::NotModified { status } => return Ok(Fetched::NotModified { status }),
            Opened::Body(body) => body,
        };
        // The announced length is what arrives: the buffer is sized once, never copied. A
        // gzip body's decompressed size is not announced: the buffer is reserved to the cap.
        let announced = match body.decoder {
            Decoder::Plain => body.announced,
            Decoder::Gzip(_) => None,
        };
        let mut buffer = CappedBuffer::new(body.max, announced);
        while let Some(chunk) = body.next_chunk().await? {
            buffer.extend(&chunk).map_err(|OverCap| body.over_cap())?;
        }
        Ok(Fetched::Body(FeedBody {
            bytes: buffer.into_inner(),
            status: body.status.as_u16(),
            etag: body.etag,
            last_modified: body.last_modified,
        }))
    }
}

fn total_timeout(total_ms: u32) -> Failure {
    Failure::new(
        ErrorKind::Timeout,
        format!("the fetch took longer than the total timeout of {total_ms} ms"),
    )
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

fn refused(refused: &RefusedDestination) -> Failure {
    Failure::new(ErrorKind::Destination, refused.to_string())
}

/// How far a fetch got, so a timeout can still say what the provider answered.
#[derive(Debug, Default)]
struct Progress {
    status: Option<u16>,
}

async fn open_with(
    client: &reqwest::Client,
    request: &FetchRequest<'_>,
    progress: &mut Progress,
    deadline: Instant,
) -> Result<Opened, Failure> {
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
    let response = builder.send().await.map_err(transport_error)?;
    let status = response.status();
    progress.status = Some(status.as_u16());
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Opened::NotModified {
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(Failure {
            http_status: Some(status.as_u16()),
            retry_after: retry_after(response.headers(), Utc::now()),
            ..Failure::new(
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
    let decoder = match header_text(header::CONTENT_ENCODING)
        .as_deref()
        .map(str::trim)
    {
        None | Some("" | "identity") => Decoder::Plain,
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
            Decoder::Gzip(Box::new(Gunzip::new(max)))
        }
        Some(other) => {
            return Err(Failure::new(
                ErrorKind::Parse,
                format!("unsupported content encoding `{other}`"),
            )
            .answered(status.as_u16(), 0));
        }
    };
    Ok(Opened::Body(Box::new(BodyStream {
        response,
        decoder,
        status,
        etag,
        last_modified,
        announced,
        max,
        read_timeout: Duration::from_millis(limits.read_timeout_ms.unsigned_abs().into()),
        total_ms: limits.total_timeout_ms.unsigned_abs(),
        deadline,
        wire_bytes: 0,
        body_bytes: 0,
        ended: false,
    })))
}

/// A response's body, read chunk by chunk (see [`BodyStream::next_chunk`]) within the fetch's
/// limits: the read timeout between two chunks from the network, the total timeout (started
/// by [`Fetcher::open`]) on each, and the size cap on the bytes received and decoded.
#[derive(Debug)]
pub struct BodyStream {
    response: reqwest::Response,
    decoder: Decoder,
    status: StatusCode,
    etag: Option<String>,
    last_modified: Option<String>,
    announced: Option<u64>,
    max: u64,
    read_timeout: Duration,
    total_ms: u32,
    deadline: Instant,
    wire_bytes: u64,
    body_bytes: u64,
    ended: bool,
}

/// How the body travels.
#[derive(Debug)]
enum Decoder {
    Plain,
    Gzip(Box<Gunzip>),
}

impl BodyStream {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The response's `ETag`, for the next conditional GET.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The response's `Last-Modified`, for the next conditional GET.
    pub fn last_modified(&self) -> Option<&str> {
        self.last_modified.as_deref()
    }

    /// The body's length as the provider announced it (`Content-Length`), if it did: bytes on
    /// the wire, compressed when the body is.
    pub fn announced(&self) -> Option<u64> {
        self.announced
    }

    /// Whether the body is gzip (decoded on the way).
    pub fn is_gzip(&self) -> bool {
        matches!(self.decoder, Decoder::Gzip(_))
    }

    /// When the total timeout expires: a caller that waits between two chunks (for a slow
    /// consumer, say) should stop waiting then too.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The failure a caller reports when [`Self::deadline`] passes while it waits.
    pub fn timed_out(&self) -> Failure {
        total_timeout(self.total_ms).answered(self.status.as_u16(), self.wire_bytes)
    }

    /// Bytes of body handed out so far (decompressed).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// The next decoded bytes of the body, or `None` at its end. A plain body's chunks are
    /// those the network delivers; a gzip body's hold about [`CHUNK_BYTES`] each. Fails on a
    /// timeout, a transport error, a corrupt gzip stream or a body over the cap; after a
    /// failure the body must not be read further.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        let result = self.next_decoded().await;
        result.map_err(|err| err.answered(self.status.as_u16(), self.wire_bytes))
    }

    async fn next_decoded(&mut self) -> Result<Option<Bytes>, Failure> {
        loop {
            if let Decoder::Gzip(gunzip) = &mut self.decoder
                && let Some(decoded) = gunzip.next_output()?
            {
                self.body_bytes += decoded.len() as u64;
                return Ok(Some(Bytes::from(decoded)));
            }
            if self.ended {
                return Ok(None);
            }
            let Some(chunk) = self.next_wire_chunk().await? else {
                self.ended = true;
                if let Decoder::Gzip(gunzip) = &mut self.decoder {
                    gunzip.finish()?;
                }
                continue;
            };
            match &mut self.decoder {
                Decoder::Plain => {
                    self.body_bytes += chunk.len() as u64;
                    return Ok(Some(chunk));
                }
                Decoder::Gzip(gunzip) => gunzip.feed(chunk),
            }
        }
    }

    /// The next chunk from the network, within the read and total timeouts and the cap.
    async fn next_wire_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        let until = (Instant::now() + self.read_timeout).min(self.deadline);
        let chunk = match tokio::time::timeout_at(until, self.response.chunk()).await {
            Err(_) if Instant::now() >= self.deadline => return Err(total_timeout(self.total_ms)),
            Err(_) => {
                return Err(Failure::new(
                    ErrorKind::Timeout,
                    format!(
                        "no data for {} ms while reading the feed",
                        self.read_timeout.as_millis()
                    ),
                ));
            }
            Ok(Err(err)) => return Err(transport_error(err)),
            Ok(Ok(None)) => return Ok(None),
            Ok(Ok(Some(chunk))) => chunk,
        };
        self.wire_bytes += chunk.len() as u64;
        if self.wire_bytes > self.max {
            return Err(self.over_cap());
        }
        Ok(Some(chunk))
    }

    fn over_cap(&self) -> Failure {
        Failure::new(
            ErrorKind::TooLarge,
            format!("the feed is over the cap of {} bytes", self.max),
        )
        .answered(self.status.as_u16(), self.wire_bytes)
    }
}

/// A gzip body being decoded: what arrived from the network and is not decoded yet, and the
/// decoder, whose output is counted against the cap.
struct Gunzip {
    decoder: flate2::write::GzDecoder<Decoded>,
    input: Bytes,
    max: u64,
}

impl std::fmt::Debug for Gunzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gunzip")
            .field("pending", &self.input.len())
            .field("decoded", &self.decoder.get_ref().total)
            .finish_non_exhaustive()
    }
}

/// The decoder's output: the bytes of the chunk being filled, and the count of all it wrote.
#[derive(Debug, Default)]
struct Decoded {
    bytes: Vec<u8>,
    total: u64,
    max: u64,
    overflowed: bool,
}

impl Write for Decoded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let total = self.total.saturating_add(buf.len() as u64);
        if total > self.max {
            self.overflowed = true;
            return Err(std::io::Error::other(OverCap));
        }
        self.total = total;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Gunzip {
    fn new(max: u64) -> Self {
        Self {
            decoder: flate2::write::GzDecoder::new(Decoded {
                max,
                ..Decoded::default()
            }),
            input: Bytes::new(),
            max,
        }
    }

    /// Takes the next bytes from the network; the previous ones must be decoded already.
    fn feed(&mut self, chunk: Bytes) {
        debug_assert!(
            self.input.is_empty(),
            "fed before the last input was decoded"
        );
        self.input = chunk;
    }

    /// Decodes the pending input until a chunk is full; returns the chunk when it is full, or
    /// what there is when the input is used up (`None` when there is nothing).
    fn next_output(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        // Each `write` decodes at most the decoder's own buffer (32 KiB) of output, so the
        // chunk ends at most that much past `CHUNK_BYTES`, whatever the compression ratio.
        while !self.input.is_empty() && self.decoder.get_ref().bytes.len() < CHUNK_BYTES {
            let slice = &self.input[..self.input.len().min(DECODE_SLICE)];
            match self.decoder.write(slice) {
                Ok(0) => {
                    return Err(Failure::new(
                        ErrorKind::Parse,
                        "the gzip body is corrupt: data after the end of the gzip stream",
                    ));
                }
                Ok(n) => {
                    let _ = self.input.split_to(n);
                }
                Err(err) => return Err(self.decode_error(&err)),
            }
        }
        let decoded = &mut self.decoder.get_mut().bytes;
        if decoded.len() >= CHUNK_BYTES || (self.input.is_empty() && !decoded.is_empty()) {
            return Ok(Some(std::mem::take(decoded)));
        }
        Ok(None)
    }

    /// Ends the stream: flushes what the decoder holds and checks the gzip trailer (a
    /// truncated stream fails here).
    fn finish(&mut self) -> Result<(), Failure> {
        self.decoder.try_finish().map_err(|e| self.decode_error(&e))
    }

    fn decode_error(&self, err: &std::io::Error) -> Failure {
        if self.decoder.get_ref().overflowed {
            Failure::new(
                ErrorKind::TooLarge,
                format!(
                    "the feed decompresses to over the cap of {} bytes",
                    self.max
                ),
            )
        } else {
            corrupt_gzip(err)
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

fn corrupt_gzip(err: &std::io::Error) -> Failure {
    Failure::new(ErrorKind::Parse, format!("the gzip body is corrupt: {err}"))
}

fn too_large(message: String, status: StatusCode, bytes: u64) -> Failure {
    Failure::new(ErrorKind::TooLarge, message).answered(status.as_u16(), bytes)
}

/// Classifies a transport error; the URL is left out of the message. A refused destination
/// (from the resolver or a redirect) is recognised in the error's chain.
fn transport_error(err: reqwest::Error) -> Failure {
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
    Failure::new(kind, message)
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
    fn a_gzip_bomb_stops_at_the_cap_decoded_a_chunk_at_a_time() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b' '; 10 * 1024 * 1024]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 64 * 1024);
        let cap = 1024 * 1024;
        let mut gunzip = Gunzip::new(cap);
        // The whole bomb arrives at once: it is still decoded a chunk at a time.
        gunzip.feed(Bytes::from(bomb));
        let mut decoded = 0;
        let err = loop {
            match gunzip.next_output() {
                Ok(Some(chunk)) => {
                    assert!(
                        chunk.len() <= CHUNK_BYTES + 32 * 1024,
                        "a chunk of {} bytes",
                        chunk.len()
                    );
                    decoded += chunk.len();
                }
                Ok(None) => panic!("the input ran out before the cap"),
                Err(err) => break err,
            }
        };
        assert_eq!(err.kind, ErrorKind::TooLarge);
        assert!(decoded <= 1024 * 1024);
        assert!(gunzip.decoder.get_ref().bytes.capacity() <= CHUNK_BYTES + 64 * 1024);
    }

    #[test]
    fn a_gzip_body_decodes_whole_in_chunks_and_a_truncated_one_fails() {
        let feed: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("<e i=\"{i}\"/>").into_bytes())
            .collect();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&feed).unwrap();
        let gz = encoder.finish().unwrap();
        let decode = |wire: &[u8]| -> Result<Vec<u8>, Failure> {
            let mut gunzip = Gunzip::new(u64::MAX);
            let mut out = Vec::new();
            for piece in wire.chunks(10_000) {
                gunzip.feed(Bytes::copy_from_slice(piece));
                while let Some(chunk) = gunzip.next_output()? {
                    out.extend_from_slice(&chunk);
                }
            }
            gunzip.finish()?;
            while let Some(chunk) = gunzip.next_output()? {
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        };
        assert_eq!(decode(&gz).unwrap(), feed);
        let err = decode(&gz[..gz.len() - 4]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Parse, "{err:?}");
        let mut trailing = gz;
        trailing.extend_from_slice(b"junk");
        assert_eq!(decode(&trailing).unwrap_err().kind, ErrorKind::Parse);
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
