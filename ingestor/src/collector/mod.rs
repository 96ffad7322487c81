//! Collecting a provider's feed: fetch it (HTTP, with limits) and, as it arrives, parse and
//! validate it (pure code, on a blocking thread), producing what one short commit will store.
//! Nothing here touches the database.

pub mod fetch;
pub mod fever_xml;
pub mod pipe;

use std::time::{Duration, Instant};

use entity::{
    ErrorKind, ProviderKind,
    destination::DestinationPolicy,
    feed_snapshot::{Compressed, Directory},
    provider,
    query::job_outcome::Phases,
    settings::FetchLimits,
};

pub use fetch::Fetcher;

use crate::failure::Failure;
pub use fever_xml::RecordLimits;

/// How collections run beyond each provider's own settings: where feeds may be fetched from,
/// what one record may carry, and whether the bodies parsed are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectSettings {
    /// Which provider addresses may be fetched (public only by default).
    pub destinations: DestinationPolicy,
    /// Bounds on one record's content.
    pub records: RecordLimits,
    /// Keep each body the parser read, compressed, with its job (for replays and downloads).
    pub keep_bodies: bool,
    /// Where kept bodies are written and read: this directory, or the database when none.
    pub snapshot_dir: Option<Directory>,
}

impl Default for CollectSettings {
    fn default() -> Self {
        Self {
            destinations: DestinationPolicy::default(),
            records: RecordLimits::default(),
            keep_bodies: true,
            snapshot_dir: None,
        }
    }
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
    /// The provider's HTTP status (none for a replay: nobody was asked).
    pub http_status: Option<u16>,
    /// Bytes of feed received (decompressed).
    pub bytes: u64,
    /// What to send next time for a conditional GET, and the body's hash.
    pub validators: Validators,
    /// The feed, unless it had not changed.
    pub feed: Feed,
    /// How long the fetch and the parse took (the store's time is not known yet).
    pub phases: Phases,
    /// The body the parser read, compressed, to keep with the job (a changed feed only).
    pub snapshot: Option<Compressed>,
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

impl Validators {
    /// What `provider` has stored: kept as they are when nothing new was read.
    fn of(provider: &provider::Model) -> Self {
        Self {
            etag: provider.etag.clone(),
            last_modified: provider.last_modified.clone(),
            body_hash: provider.body_hash.clone(),
        }
    }
}

/// The time zone `provider`'s feed is read in.
fn zone_of(provider: &provider::Model) -> Result<chrono_tz::Tz, Failure> {
    provider.time_zone.parse().map_err(|_| {
        Failure::new(
            ErrorKind::Config,
            format!("unknown time zone `{}`", provider.time_zone),
        )
    })
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
/// Memory: the body is never held whole. The fetch writes its decoded chunks into a bounded
/// [`pipe`] to the parser, on a blocking thread, and hashes them on the way; the pipe's few
/// buffers are recycled once parsed. What stays is the validated records. When the body
/// turns out to be the one stored last (same hash), the records are dropped and nothing is
/// written.
pub async fn collect(
    fetcher: &Fetcher,
    provider: &provider::Model,
    settings: &CollectSettings,
) -> Result<Collected, Failure> {
    let records = &settings.records;
    let zone = zone_of(provider)?;
    let limits = FetchLimits::of(provider);
    let request = fetch::FetchRequest {
        url: &provider.url,
        limits,
        etag: provider.etag.as_deref(),
        last_modified: provider.last_modified.as_deref(),
    };
    // Fetch time is time spent waiting on the provider; waits for the parser are not.
    let mut fetching = Duration::ZERO;
    let asked = Instant::now();
    let opened = fetcher.open(request).await;
    fetching += asked.elapsed();
    let fetched = |fetching| Phases {
        fetch: Some(fetching),
        ..Phases::default()
    };
    let mut body = match opened.map_err(|e| e.timed(fetched(fetching)))? {
        fetch::Opened::NotModified { status } => {
            return Ok(Collected {
                http_status: Some(status),
                bytes: 0,
                validators: Validators::of(provider),
                feed: Feed::NotModified,
                phases: fetched(fetching),
                snapshot: None,
            });
        }
        fetch::Opened::Body(body) => body,
    };
    let kind = provider.kind;
    let records = *records;
    // The most the body can weigh decoded, to size the record list: what it announces when it
    // is sent as is, the cap otherwise.
    let cap = u64::try_from(limits.max_body_bytes).unwrap_or(u64::MAX);
    let size = body.announced().map_or(cap, |n| n.min(cap));
    let size = if body.is_gzip() { cap } else { size };
    let (mut writer, reader) = pipe::channel();
    let waits = reader.wait_clock();
    // Parsing a large feed takes a while of pure CPU: keep it off the async workers.
    let keep = settings.keep_bodies;
    let parser = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut kept = pipe::Kept::new(reader, keep);
        let read = match kind {
            ProviderKind::FeverXml => fever_xml::read_stream(&mut kept, size, zone, &records),
        };
        (read, started.elapsed(), kept.finish())
    });
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let deadline = body.deadline();
    let pumped = tokio::time::timeout_at(deadline, async {
        loop {
            let asked = Instant::now();
            let chunk = body.next_chunk().await;
            fetching += asked.elapsed();
            let Some(chunk) = chunk? else { break };
            hasher.update(&chunk);
            if writer.write(&chunk).await.is_err() {
                // The parser stopped before the end: the feed is broken, its error says how.
                return Ok(false);
            }
        }
        Ok(writer.finish().await.is_ok())
    })
    .await
    .unwrap_or_else(|_| Err(body.timed_out()));
    // The writer went with the pump: the parser's input has ended, whether the body did or not.
    let status = body.status();
    let bytes = body.body_bytes();
    // A failed fetch fails the collection, whatever the parser made of the part it saw.
    let complete = pumped.map_err(|e| e.timed(fetched(fetching)))?;
    let (read, parse_time, snapshot) = match parser.await {
        Ok((read, took, snapshot)) => (
            read.map_err(|e| e.to_string()),
            Some(took.saturating_sub(waits.waited())),
            snapshot,
        ),
        Err(e) => (Err(format!("the parser stopped: {e}")), None, None),
    };
    let phases = Phases {
        fetch: Some(fetching),
        parse: parse_time,
        store: None,
    };
    let parse_failed = |message: String, snapshot: Option<Compressed>| {
        Failure::new(ErrorKind::Parse, message)
            .answered(status, bytes)
            .timed(phases)
            .with_snapshot(snapshot)
    };
    let read = match read {
        Ok(read) => read,
        // The body that failed is kept too: a replay after a parser fix reads it.
        Err(message) => return Err(parse_failed(message, snapshot)),
    };
    if !complete {
        // Unreachable in practice: a parser that succeeded read its input to the end.
        return Err(parse_failed(
            "the parser stopped before the end of the feed".to_owned(),
            None,
        ));
    }
    let body_hash = hash_text(hasher.digest128());
    let (feed, snapshot) = if provider.body_hash.as_deref() == Some(body_hash.as_str()) {
        (Feed::SameBody, None)
    } else {
        (Feed::Read(read), snapshot)
    };
    Ok(Collected {
        http_status: Some(status),
        bytes,
        validators: Validators {
            etag: body.etag().map(str::to_owned),
            last_modified: body.last_modified().map(str::to_owned),
            body_hash: Some(body_hash),
        },
        feed,
        phases,
        snapshot,
    })
}

/// Reads `provider`'s feed from `stored`, a body an earlier job kept, as that job's parse and
/// validation would, without contacting the provider: a replay. Nothing is kept again, and
/// the provider's validators are left as they are.
pub async fn replay(
    provider: &provider::Model,
    stored: entity::feed_snapshot::Model,
    records: &RecordLimits,
) -> Result<Collected, Failure> {
    let zone = zone_of(provider)?;
    let kind = provider.kind;
    let records = *records;
    let size = u64::try_from(stored.raw_bytes).unwrap_or(0);
    let frame = stored.body;
    let parsed = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let decoder = entity::feed_snapshot::decoder(&frame)
            .map_err(|e| format!("the stored body cannot be read: {e}"))?;
        let input = std::io::BufReader::with_capacity(pipe::CHUNK_BYTES, decoder);
        let read = match kind {
            ProviderKind::FeverXml => fever_xml::read_stream(input, size, zone, &records),
        };
        Ok::<_, String>((read.map_err(|e| e.to_string()), started.elapsed()))
    })
    .await
    .map_err(|e| format!("the parser stopped: {e}"))
    .and_then(|r| r);
    let (read, took) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return Err(Failure::new(ErrorKind::Parse, message)),
    };
    let phases = Phases {
        parse: Some(took),
        ..Phases::default()
    };
    let read = read.map_err(|message| {
        let mut failure = Failure::new(ErrorKind::Parse, message).timed(phases);
        failure.bytes = size;
        failure
    })?;
    Ok(Collected {
        http_status: None,
        bytes: size,
        validators: Validators::of(provider),
        feed: Feed::Read(read),
        phases,
        snapshot: None,
    })
}

/// The hash that tells two feed bodies apart (XXH3, 128 bits, hex).
pub fn body_hash(bytes: &[u8]) -> String {
    hash_text(xxhash_rust::xxh3::xxh3_128(bytes))
}

/// A body's hash as [`body_hash`] writes it, from the 128 bits (which a streaming hasher
/// gives for the same bytes fed in any pieces).
fn hash_text(hash: u128) -> String {
    format!("{hash:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_hashed_in_pieces_has_the_hash_of_the_whole() {
        let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        for piece in [1, 7, 4096, 65_536, 300_000] {
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            for chunk in body.chunks(piece) {
                hasher.update(chunk);
            }
            assert_eq!(hash_text(hasher.digest128()), body_hash(&body), "{piece}");
        }
    }
}
