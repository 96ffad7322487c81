//! Parse + validate throughput of the `fever_xml` collector, in bytes of feed per second.
//!
//! `cargo bench -p ingestor --bench parse`
//!
//! `read_feed` reads a body in memory (two threads for a large one), `*_one_thread` the same
//! on one thread, `*_stream` what the collector does: the body through the pipe, read as a
//! stream on one thread.

#![allow(
    clippy::expect_used,
    reason = "a benchmark stops loudly at the first thing that does not work"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ingestor::collector::{fever_xml, pipe};
use test_support::feedgen::{FeedDialect, FeedSpec, generate};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse_and_validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_and_validate");
    let limits = fever_xml::RecordLimits::default();
    for (name, dialect) in [
        ("event_list", FeedDialect::EventList),
        ("plan_list", FeedDialect::PlanList),
    ] {
        // 10k events with 5 zones each: about 7 MiB, the shape of a large provider.
        let feed = generate(&FeedSpec {
            dialect,
            ..FeedSpec::sized(10_000, 5)
        });
        group.throughput(Throughput::Bytes(feed.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let read =
                    fever_xml::read_feed(feed.as_bytes(), chrono_tz::Europe::Madrid, &limits)
                        .expect("the generated feed parses");
                assert_eq!(read.records.len() + read.duplicates + read.rejected, 10_000);
                read
            });
        });
        // The same on one thread: what one core does, and the baseline of the split.
        group.bench_function(format!("{name}_one_thread"), |b| {
            b.iter(|| {
                fever_xml::read_feed_on_one_thread(
                    feed.as_bytes(),
                    chrono_tz::Europe::Madrid,
                    &limits,
                )
                .expect("the generated feed parses")
            });
        });
        // What the collector does: the feed arrives through the pipe from another thread (the
        // fetch, there) and is read as a stream, on one thread.
        let body = std::sync::Arc::new(feed.clone().into_bytes());
        group.bench_function(format!("{name}_stream"), |b| {
            b.iter(|| {
                let (mut writer, reader) = pipe::channel();
                let body = std::sync::Arc::clone(&body);
                let feeder = std::thread::spawn(move || {
                    for piece in body.chunks(64 * 1024) {
                        if writer.blocking_write(piece).is_err() {
                            return;
                        }
                    }
                    let _ = writer.blocking_finish();
                });
                let read = fever_xml::read_stream(
                    reader,
                    feed.len() as u64,
                    chrono_tz::Europe::Madrid,
                    &limits,
                )
                .expect("the generated feed parses");
                feeder.join().expect("the feeder ends");
                read
            });
        });
    }
    group.finish();
}

criterion_group!(benches, parse_and_validate);
criterion_main!(benches);
