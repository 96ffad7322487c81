//! What keeping feed bodies costs: the compressed size of a 100k-event feed (printed), and the
//! collector's streamed parse with and without keeping the body (criterion, same run).
//!
//! `cargo bench -p ingestor --bench snapshot`

#![allow(
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark prints its figures and stops loudly at the first thing that does not work"
)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entity::feed_snapshot::Compressed;
use ingestor::collector::{fever_xml, pipe};
use test_support::feedgen::{FeedDialect, FeedSpec, generate};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints the size kept for a 100k-event feed of each dialect (5 zones per event).
fn sizes() {
    for (name, dialect) in [
        ("event_list", FeedDialect::EventList),
        ("plan_list", FeedDialect::PlanList),
    ] {
        let feed = generate(&FeedSpec {
            dialect,
            ..FeedSpec::sized(100_000, 5)
        });
        let started = std::time::Instant::now();
        let kept = Compressed::of(feed.as_bytes()).expect("zstd compresses");
        let took = started.elapsed();
        println!(
            "snapshot {name} 100k events: raw {} bytes, kept {} bytes ({:.1}x, {:.1} bytes per event), compressed in {} ms",
            kept.raw_bytes,
            kept.body.len(),
            kept.raw_bytes as f64 / kept.body.len() as f64,
            kept.body.len() as f64 / 100_000.0,
            took.as_millis()
        );
    }
}

/// The streamed parse of a 10k-event feed as the collector runs it, keeping the body or not.
fn stream_with_and_without_keeping(c: &mut Criterion) {
    sizes();
    let limits = fever_xml::RecordLimits::default();
    let feed = generate(&FeedSpec::sized(10_000, 5));
    let body = Arc::new(feed.into_bytes());
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for (name, keep) in [("parse", false), ("parse_and_keep", true)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let (mut writer, reader) = pipe::channel();
                let fed = Arc::clone(&body);
                let feeder = std::thread::spawn(move || {
                    for piece in fed.chunks(64 * 1024) {
                        if writer.blocking_write(piece).is_err() {
                            return;
                        }
                    }
                    let _ = writer.blocking_finish();
                });
                let mut kept = pipe::Kept::new(reader, keep);
                let read = fever_xml::read_stream(
                    &mut kept,
                    body.len() as u64,
                    chrono_tz::Europe::Madrid,
                    &limits,
                )
                .expect("the generated feed parses");
                feeder.join().expect("the feeder ends");
                (read, kept.finish())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, stream_with_and_without_keeping);
criterion_main!(benches);
