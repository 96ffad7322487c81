//! The pipe between the fetch and the parser: the fetch (async) writes the body's decoded
//! bytes into a [`PipeWriter`], which sends them in chunks through a bounded channel, and the
//! parser (on a blocking thread) reads them through [`ChunkReader`], a [`BufRead`] over the
//! channel.
//!
//! Memory: chunks are buffers of [`CHUNK_BYTES`], recycled: the reader hands each one back
//! once read, and the writer fills it again, so a pipe allocates at most [`MAX_BUFFERS`] of
//! them (384 KiB), whatever the body's size and however the network cuts it, and the body is
//! never held whole. The copy into them costs little next to parsing (a few milliseconds for
//! 200 MB), and it lets the HTTP client reuse its own read buffer at once.

use std::{
    io::{BufRead, Read},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

/// Bytes in one chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks the channel holds while the parser is busy: enough to keep the fetch going while
/// the parser works, few enough that the body in flight stays small.
pub const CHANNEL_CHUNKS: usize = 4;

/// The most buffers a pipe allocates: those the channel holds, the one the reader reads and
/// the one the writer fills.
pub const MAX_BUFFERS: usize = CHANNEL_CHUNKS + 2;

/// A pipe: the writer for the fetch, the reader for the parser.
pub fn channel() -> (PipeWriter, ChunkReader) {
    let (full, received) = mpsc::channel(CHANNEL_CHUNKS);
    let (spent, recycled) = std::sync::mpsc::channel();
    (
        PipeWriter {
            full,
            recycled,
            filling: Vec::new(),
            made: 0,
        },
        ChunkReader {
            received,
            spent,
            current: Vec::new(),
            at: 0,
            waited: WaitClock::default(),
        },
    )
}

/// The reader is gone: the parser stopped before the end of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the parser stopped reading the feed")]
pub struct Closed;

/// The fetch's end of a pipe. Dropping it ends the reader's stream; call [`Self::finish`] (or
/// [`Self::blocking_finish`]) first, or the last bytes written are lost.
#[derive(Debug)]
pub struct PipeWriter {
    full: mpsc::Sender<Vec<u8>>,
    recycled: std::sync::mpsc::Receiver<Vec<u8>>,
    // Empty and unallocated between two chunks.
    filling: Vec<u8>,
    made: usize,
}

impl PipeWriter {
    /// Writes `data`, waiting while the channel is full.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), Closed> {
        while !data.is_empty() {
            let (rest, full) = self.fill(data);
            if let Some(chunk) = full {
                self.full.send(chunk).await.map_err(|_| Closed)?;
            }
            data = rest;
        }
        Ok(())
    }

    /// Sends what is left: the reader's stream ends after it.
    pub async fn finish(mut self) -> Result<(), Closed> {
        match self.take_partial() {
            Some(chunk) => self.full.send(chunk).await.map_err(|_| Closed),
            None => Ok(()),
        }
    }

    /// [`Self::write`] from a thread that may block (never on the async runtime).
    pub fn blocking_write(&mut self, mut data: &[u8]) -> Result<(), Closed> {
        while !data.is_empty() {
            let (rest, full) = self.fill(data);
            if let Some(chunk) = full {
                self.full.blocking_send(chunk).map_err(|_| Closed)?;
            }
            data = rest;
        }
        Ok(())
    }

    /// [`Self::finish`] from a thread that may block (never on the async runtime).
    pub fn blocking_finish(mut self) -> Result<(), Closed> {
        match self.take_partial() {
            Some(chunk) => self.full.blocking_send(chunk).map_err(|_| Closed),
            None => Ok(()),
        }
    }

    /// Buffers this pipe allocated so far: never more than [`MAX_BUFFERS`].
    pub fn buffers_made(&self) -> usize {
        self.made
    }

    /// Copies what fits of `data` into the chunk being filled; returns the rest, and the
    /// chunk when it is full.
    fn fill<'d>(&mut self, data: &'d [u8]) -> (&'d [u8], Option<Vec<u8>>) {
        if self.filling.capacity() == 0 {
            self.filling = match self.recycled.try_recv() {
                Ok(mut buffer) => {
                    buffer.clear();
                    buffer
                }
                Err(_) => {
                    // Every buffer made is in the channel or with the reader.
                    self.made += 1;
                    Vec::with_capacity(CHUNK_BYTES)
                }
            };
        }
        let n = (CHUNK_BYTES - self.filling.len()).min(data.len());
        self.filling.extend_from_slice(&data[..n]);
        let full = (self.filling.len() == CHUNK_BYTES).then(|| std::mem::take(&mut self.filling));
        (&data[n..], full)
    }

    fn take_partial(&mut self) -> Option<Vec<u8>> {
        (!self.filling.is_empty()).then(|| std::mem::take(&mut self.filling))
    }
}

/// Reads the chunks a pipe delivers, in order, as one byte stream that ends when the writer
/// is gone. Blocking: use it on a blocking thread, never on the async runtime.
///
/// The end of the stream does not say whether the body was complete: the writer's side knows
/// (it saw the end of the body or an error), and decides what the parser's answer is worth.
#[derive(Debug)]
pub struct ChunkReader {
    received: mpsc::Receiver<Vec<u8>>,
    spent: std::sync::mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    waited: WaitClock,
}

impl ChunkReader {
    /// How long this reader has waited for chunks so far, readable from another thread while
    /// (and after) the parser reads: the parser's own work is its time minus this.
    pub fn wait_clock(&self) -> WaitClock {
        self.waited.clone()
    }
}

/// The time a [`ChunkReader`] spent waiting for chunks.
#[derive(Debug, Clone, Default)]
pub struct WaitClock(Arc<AtomicU64>);

impl WaitClock {
    /// The time waited so far.
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn add(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at == self.current.len() {
            // The chunk read to the end goes back to the writer before the next is awaited
            // (if the writer is gone, it is simply freed).
            let spent = std::mem::take(&mut self.current);
            if spent.capacity() > 0 {
                let _ = self.spent.send(spent);
            }
            self.at = 0;
            let asked = Instant::now();
            let received = self.received.blocking_recv();
            self.waited.add(asked.elapsed());
            match received {
                Some(chunk) => self.current = chunk,
                None => break,
            }
        }
        Ok(&self.current[self.at..])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.current.len());
    }
}

/// A reader that keeps, compressed, every byte the parser consumes through it: the body a
/// job's snapshot stores. The bytes are gathered in [`CHUNK_BYTES`] chunks and compressed on a
/// thread of its own, so the parser's thread does not do zstd's work (it would make the parse
/// about half again as slow; docs/benchmarks.md, "Feed snapshots"). What it holds is the
/// compressed body and at most [`MAX_BUFFERS`] chunks: the compressor's channel is bounded, and
/// when it is full the parser waits for it.
pub struct Kept<R> {
    inner: R,
    pending: Vec<u8>,
    compressing: Option<Compressing>,
}

/// A compressor on its own thread, fed whole chunks; the chunks come back to be filled again.
struct Compressing {
    chunks: std::sync::mpsc::SyncSender<Vec<u8>>,
    spent: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: std::thread::JoinHandle<Option<entity::feed_snapshot::Compressed>>,
}

impl Compressing {
    /// Starts the thread; none if zstd or the thread cannot start (the body is then not
    /// kept, and the collection goes on).
    fn start() -> Option<Self> {
        let mut compressor = entity::feed_snapshot::Compressor::new()?;
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHANNEL_CHUNKS);
        let (give_back, spent) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("feed-snapshot".to_owned())
            .spawn(move || {
                let mut failed = false;
                for mut chunk in received {
                    failed = failed || compressor.write(&chunk).is_err();
                    chunk.clear();
                    // The reader may be gone already: the chunk is then just dropped.
                    let _ = give_back.send(chunk);
                }
                if failed {
                    None
                } else {
                    compressor.finish().ok()
                }
            });
        match thread {
            Ok(thread) => Some(Self {
                chunks,
                spent,
                thread,
            }),
            Err(err) => {
                tracing::warn!(error = %err, "no thread to compress the feed body: it is not kept");
                None
            }
        }
    }
}

impl<R> Kept<R> {
    /// Reads through `inner`, keeping what is read when `keep` (else a plain pass-through).
    pub fn new(inner: R, keep: bool) -> Self {
        let compressing = if keep { Compressing::start() } else { None };
        Self {
            inner,
            pending: Vec::with_capacity(if compressing.is_some() {
                CHUNK_BYTES
            } else {
                0
            }),
            compressing,
        }
    }

    /// What was read, compressed; none when nothing was kept (or zstd failed).
    pub fn finish(mut self) -> Option<entity::feed_snapshot::Compressed> {
        self.flush();
        let Compressing { chunks, thread, .. } = self.compressing.take()?;
        drop(chunks);
        thread.join().ok().flatten()
    }

    fn keep(&mut self, piece: &[u8]) {
        if self.compressing.is_none() {
            return;
        }
        self.pending.extend_from_slice(piece);
        if self.pending.len() >= CHUNK_BYTES {
            self.flush();
        }
    }

    /// Hands the gathered bytes to the compressor, and takes a spent chunk (or a new one) to
    /// gather the next.
    fn flush(&mut self) {
        let Some(compressing) = &self.compressing else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let next = compressing
            .spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_BYTES));
        let full = std::mem::replace(&mut self.pending, next);
        if compressing.chunks.send(full).is_err() {
            // The compressor is gone (it panicked): keep nothing rather than part.
            self.compressing = None;
        }
    }
}

impl<R: BufRead> Read for Kept<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.keep(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Kept<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if amount > 0 && self.compressing.is_some() {
            match self.inner.fill_buf() {
                Ok(buffer) => {
                    let end = amount.min(buffer.len());
                    self.pending.extend_from_slice(&buffer[..end]);
                }
                Err(_) => self.compressing = None,
            }
            if self.pending.len() >= CHUNK_BYTES {
                self.flush();
            }
        }
        self.inner.consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fever_xml::{self, ParseError, ReadFeed, RecordLimits};

    /// Streams `body` through a pipe in pieces of `piece` bytes; returns what the parser
    /// read and how many buffers the pipe allocated.
    fn stream(body: &[u8], piece: usize) -> (Result<ReadFeed, ParseError>, usize) {
        let (mut writer, reader) = channel();
        let parser = std::thread::spawn(move || {
            fever_xml::read_stream(
                reader,
                0,
                chrono_tz::Europe::Madrid,
                &RecordLimits::default(),
            )
        });
        for part in body.chunks(piece) {
            if writer.blocking_write(part).is_err() {
                break;
            }
        }
        let made = writer.buffers_made();
        let _ = writer.blocking_finish();
        (parser.join().unwrap(), made)
    }

    #[test]
    fn the_parser_never_holds_more_than_the_channels_chunks_of_body() {
        let spec = test_support::feedgen::FeedSpec {
            invalid_every: Some(101),
            ..test_support::feedgen::FeedSpec::sized(20_000, 5)
        };
        let feed = test_support::feedgen::generate(&spec);
        assert!(
            feed.len() > 30 * MAX_BUFFERS * CHUNK_BYTES,
            "a feed of {} bytes",
            feed.len()
        );
        let whole = fever_xml::read_feed_on_one_thread(
            feed.as_bytes(),
            chrono_tz::Europe::Madrid,
            &RecordLimits::default(),
        )
        .unwrap();
        assert_eq!(whole.seen, 20_000);
        assert!(whole.rejected > 0);
        // Pieces smaller and larger than a chunk, as the network delivers them.
        for piece in [1_000, 16 * 1024, 1024 * 1024] {
            let (streamed, made) = stream(feed.as_bytes(), piece);
            assert_eq!(
                streamed.unwrap(),
                whole,
                "the stream reads what the body reads"
            );
            assert!(
                made <= MAX_BUFFERS,
                "{made} buffers of {CHUNK_BYTES} bytes for a feed of {} bytes",
                feed.len()
            );
        }
    }

    #[test]
    fn what_the_parser_consumes_is_kept_whether_it_reads_or_fills_and_consumes() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 97) as u8 + b' ').collect();
        // Read in odd sizes through `Read`...
        let mut kept = Kept::new(&body[..], true);
        let mut read = Vec::new();
        let mut buf = [0u8; 1_000];
        loop {
            let n = kept.read(&mut buf[..777]).unwrap();
            if n == 0 {
                break;
            }
            read.extend_from_slice(&buf[..n]);
        }
        let compressed = kept.finish().unwrap();
        assert_eq!(read, body);
        let mut back = Vec::new();
        entity::feed_snapshot::decoder(&compressed.body)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        // ...and through `fill_buf` and partial `consume`s.
        let mut kept = Kept::new(std::io::BufReader::with_capacity(4_096, &body[..]), true);
        loop {
            let available = kept.fill_buf().unwrap().len();
            if available == 0 {
                break;
            }
            kept.consume(available.min(1_234));
        }
        let compressed = kept.finish().unwrap();
        assert_eq!(compressed.raw_bytes, body.len() as u64);
        // Not keeping: nothing.
        let mut plain = Kept::new(&body[..], false);
        std::io::copy(&mut plain, &mut std::io::sink()).unwrap();
        assert!(plain.finish().is_none());
    }

    #[test]
    fn a_chunk_boundary_anywhere_reads_the_same() {
        let body = std::fs::read(format!(
            "{}/../fixtures/feeds/response_1.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let whole = fever_xml::read_feed(&body, chrono_tz::UTC, &RecordLimits::default()).unwrap();
        for size in [1, 2, 3, 7, 64, 1000] {
            let (sender, mut reader) = channel();
            // Chunks of `size` bytes, bypassing the writer's filling.
            let feeder = {
                let body = body.clone();
                let full = sender.full.clone();
                std::thread::spawn(move || {
                    for piece in body.chunks(size) {
                        full.blocking_send(piece.to_vec()).unwrap();
                    }
                })
            };
            drop(sender);
            let mut text = Vec::new();
            reader.read_to_end(&mut text).unwrap();
            feeder.join().unwrap();
            assert_eq!(text, body, "chunks of {size} bytes");
        }
        let streamed = stream(&body, 5).0.unwrap();
        let plain =
            fever_xml::read_feed(&body, chrono_tz::Europe::Madrid, &RecordLimits::default())
                .unwrap();
        assert_eq!(streamed, plain);
        assert_ne!(streamed, whole, "read in another time zone");
    }

    #[test]
    fn a_stream_that_stops_early_fails_whole() {
        let body =
            b"<eventList><output><base_event base_event_id=\"1\" title=\"A\" sell_mode=\"online\">";
        let err = stream(body, 10).0.unwrap_err();
        assert!(matches!(err, ParseError::Truncated(_)), "{err:?}");
        // A broken feed stops the parser early: the writer learns it.
        let (mut writer, reader) = channel();
        let parser = std::thread::spawn(move || {
            fever_xml::read_stream(reader, 0, chrono_tz::UTC, &RecordLimits::default())
        });
        writer.blocking_write(b"<html>").unwrap();
        writer.blocking_write(&[b' '; CHUNK_BYTES]).unwrap();
        let err = parser.join().unwrap().unwrap_err();
        assert!(matches!(err, ParseError::UnknownDialect(_)), "{err:?}");
        let more = vec![b' '; 2 * CHANNEL_CHUNKS * CHUNK_BYTES];
        assert_eq!(writer.blocking_write(&more), Err(Closed));
    }
}
