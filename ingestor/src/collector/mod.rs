//! Collecting a provider's feed: fetch it (HTTP, with limits), then parse and validate it
//! (pure code, on a blocking thread), producing what one short commit will store. Nothing here
//! touches the database.

pub mod fetch;
pub mod fever_xml;

use entity::{
    ErrorKind, ProviderKind, destination::DestinationPolicy, provider, settings::FetchLimits,
};

pub use fetch::{FetchError, Fetcher};
pub use fever_xml::RecordLimits;

/// How collections run beyond each provider's own settings: where feeds may be fetched from,
/// and what one record may carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectSettings {
    /// Which provider addresses may be fetched (public only by default).
    pub destinations: DestinationPolicy,
    /// Bounds on one record's content.
    pub records: RecordLimits,
}

impl CollectSettings {
    /// The defaults, with private and loopback providers allowed: the demo, and tests that
    /// use the provider simulator on loopback.
    pub fn allowing_private() -> Self {
        Self {
            destinations: DestinationPolicy::ALLOW_PRIVATE,
            ..Self::default()
        }
    }
}

/// What a collection brought back.
#[derive(Debug)]
pub struct Collected {
    /// The provider's HTTP status.
    pub http_status: u16,
    /// Bytes of feed received (decompressed).
    pub bytes: u64,
    /// What to send next time for a conditional GET, and the body's hash.
    pub validators: Validators,
    /// The feed, unless it had not changed.
    pub feed: Feed,
}

/// What identifies the feed just fetched, kept for the next fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// Hash of the decompressed body.
    pub body_hash: Option<String>,
}

/// The feed's content.
#[derive(Debug)]
pub enum Feed {
    /// The provider answered 304: nothing changed.
    NotModified,
    /// The body is byte for byte the last one stored: nothing to write.
    SameBody,
    /// A new body, read and validated.
    Read(fever_xml::ReadFeed),
}

/// Fetches and reads `provider`'s feed, each record within `records`.
///
/// Memory: the body is moved into the parser and freed when parsing ends, so the body and
/// the validated records are alive together only while parsing.
pub async fn collect(
    fetcher: &Fetcher,
    provider: &provider::Model,
    records: &RecordLimits,
) -> Result<Collected, FetchError> {
    let zone: chrono_tz::Tz = provider.time_zone.parse().map_err(|_| FetchError {
        kind: ErrorKind::Config,
        message: format!("unknown time zone `{}`", provider.time_zone),
        http_status: None,
        retry_after: None,
        bytes: 0,
    })?;
    let limits = FetchLimits::of(provider);
    let request = fetch::FetchRequest {
        url: &provider.url,
        limits,
        etag: provider.etag.as_deref(),
        last_modified: provider.last_modified.as_deref(),
    };
    let previous = Validators {
        etag: provider.etag.clone(),
        last_modified: provider.last_modified.clone(),
        body_hash: provider.body_hash.clone(),
    };
    let body = match fetcher.fetch(request).await? {
        fetch::Fetched::NotModified { status } => {
            return Ok(Collected {
                http_status: status,
                bytes: 0,
                validators: previous,
                feed: Feed::NotModified,
            });
        }
        fetch::Fetched::Body(body) => body,
    };
    let body_hash = body_hash(&body.bytes);
    let validators = Validators {
        etag: body.etag,
        last_modified: body.last_modified,
        body_hash: Some(body_hash.clone()),
    };
    let bytes = body.bytes.len() as u64;
    if provider.body_hash.as_deref() == Some(body_hash.as_str()) {
        return Ok(Collected {
            http_status: body.status,
            bytes,
            validators,
            feed: Feed::SameBody,
        });
    }
    let kind = provider.kind;
    let feed_bytes = body.bytes;
    let records = *records;
    // Parsing a large feed takes a while of pure CPU: keep it off the async workers. The body
    // moves in and is dropped there, before the records go on to be stored.
    let read = tokio::task::spawn_blocking(move || match kind {
        ProviderKind::FeverXml => fever_xml::read_feed(&feed_bytes, zone, &records),
    })
    .await
    .map_err(|e| FetchError {
        kind: ErrorKind::Parse,
        message: format!("the parser stopped: {e}"),
        http_status: Some(body.status),
        retry_after: None,
        bytes,
    })?
    .map_err(|e| FetchError {
        kind: ErrorKind::Parse,
        message: e.to_string(),
        http_status: Some(body.status),
        retry_after: None,
        bytes,
    })?;
    Ok(Collected {
        http_status: body.status,
        bytes,
        validators,
        feed: Feed::Read(read),
    })
}

/// The hash that tells two feed bodies apart (XXH3, 128 bits, hex).
pub fn body_hash(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}
