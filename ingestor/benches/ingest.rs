//! End-to-end ingestion into PostgreSQL: a generated feed served by the provider simulator on
//! loopback, collected through the real job path (`collect_now`), into a fresh database.
//!
//! `cargo bench -p ingestor --bench ingest [-- --events 100000 --zones 5]`
//!
//! Prints, for one run each: the first ingest into an empty database; the same feed again
//! (304 on the ETag); the same body without validators (hash comparison, nothing parsed); the
//! same events in a different body (parsed and compared, nothing written); and a snapshot where
//! 1% of the events changed; and one where every event changed (each title). Rows written are
//! counted from the rows' `xmin`, so "0" is exact (zones live in their event's row).
//!
//! The reference for the writes: PostgreSQL's own binary `COPY` of the same final rows (read
//! back from `event`) into an identical empty table (`LIKE event INCLUDING ALL`), timed in
//! the same run after the first ingest and again at the end; the first ingest and the
//! every-event change are printed as ratios to it (copy time / ingest time: 1 is COPY speed).
//! Peak memory is the process's high-water mark (`VmHWM`), next to its resident size before
//! the first ingest (the generated feed and the simulator's copy are in both).

#![allow(
    clippy::expect_used,
    reason = "a benchmark stops loudly at the first thing that does not work"
)]

use std::time::{Duration, Instant};

use entity::{
    JobState,
    query::{self, provider::ProviderChanges},
    settings::FetchLimits,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, sqlx::postgres::PgPoolCopyExt};
use test_support::{Backend, ProviderSimulator, TestDb, feedgen};
use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: usize) -> usize {
    test_support::cli_arg(name, default)
}

fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query runs")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

/// Rows of `event` (zones included: they live in the event's row) written by transactions
/// at or after `since_xid`.
async fn rows_written_since(db: &DatabaseConnection, since_xid: i64) -> i64 {
    let sql = format!("SELECT count(*) FROM event WHERE xmin::text::bigint >= {since_xid}");
    scalar(db, &sql).await
}

async fn next_xid(db: &DatabaseConnection) -> i64 {
    scalar(db, "SELECT (txid_current() & 4294967295)::bigint").await
}

struct Step {
    name: &'static str,
    elapsed: Duration,
    rows_written: i64,
    status: JobState,
    detail: String,
}

async fn run(db: &DatabaseConnection, name: &'static str) -> Step {
    let xid = next_xid(db).await;
    let started = Instant::now();
    // Where feed bodies are kept: `--keep-bodies 0` nowhere, 1 in the database (the default),
    // 2 in a snapshot directory (a temporary one).
    static DIRECTORY: std::sync::LazyLock<tempfile::TempDir> =
        std::sync::LazyLock::new(|| tempfile::tempdir().expect("a temporary directory"));
    let keep = arg("--keep-bodies", 1);
    let settings = ingestor::collector::CollectSettings {
        keep_bodies: keep != 0,
        snapshot_dir: (keep == 2).then(|| {
            entity::feed_snapshot::Directory::open(DIRECTORY.path()).expect("the directory opens")
        }),
        ..ingestor::collector::CollectSettings::allowing_private()
    };
    let report = ingestor::collect::collect_now(db, "bench", settings, &CancellationToken::new())
        .await
        .expect("the collection runs")
        .outcome;
    let elapsed = started.elapsed();
    Step {
        name,
        elapsed,
        rows_written: rows_written_since(db, xid).await,
        status: report.status,
        detail: format!(
            "seen {} inserted {} updated {} unchanged {} stopped {}{}",
            report.seen,
            report.inserted,
            report.updated,
            report.unchanged,
            report.stopped,
            if report.feed_unchanged {
                " (feed unchanged)"
            } else {
                ""
            }
        ),
    }
}

/// Times PostgreSQL's binary `COPY` of every stored event into a new empty table like
/// `event` (its indexes included), from rows read back beforehand.
async fn copy_reference(db: &DatabaseConnection) -> Duration {
    let pool = db.get_postgres_connection_pool();
    let mut rows = Vec::new();
    let mut out = pool
        .copy_out_raw("COPY (SELECT * FROM event) TO STDOUT (FORMAT binary)")
        .await
        .expect("copy out");
    while let Some(chunk) = futures::StreamExt::next(&mut out).await {
        rows.extend_from_slice(&chunk.expect("copy data"));
    }
    drop(out);
    let ddl = "DROP TABLE IF EXISTS event_copy; CREATE TABLE event_copy (LIKE event INCLUDING ALL)";
    sea_orm::sqlx::raw_sql(ddl)
        .execute(pool)
        .await
        .expect("table");
    let started = Instant::now();
    let mut copy = pool
        .copy_in_raw("COPY event_copy FROM STDIN (FORMAT binary)")
        .await
        .expect("copy in");
    for chunk in rows.chunks(1 << 20) {
        copy.send(chunk).await.expect("copy data sent");
    }
    copy.finish().await.expect("copied");
    let elapsed = started.elapsed();
    sea_orm::sqlx::raw_sql("DROP TABLE event_copy")
        .execute(pool)
        .await
        .expect("dropped");
    elapsed
}

async fn repoint(db: &DatabaseConnection, url: &str) {
    let changes = ProviderChanges {
        url: Some(url.parse().expect("a URL")),
        limits: Some(FetchLimits {
            connect_timeout_ms: 5_000,
            read_timeout_ms: 60_000,
            total_timeout_ms: 600_000,
            max_body_bytes: 2 * 1024 * 1024 * 1024,
        }),
        ..Default::default()
    };
    query::provider::upsert(db, &"bench".parse().expect("a name"), changes)
        .await
        .expect("the provider is saved");
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    test_support::init_test_logging();
    let events = arg("--events", 100_000);
    let zones = arg("--zones", 5);
    let spec = feedgen::FeedSpec {
        online_share: 0.9,
        ..feedgen::FeedSpec::sized(events, zones)
    };
    let feed = feedgen::generate(&spec);
    // The same events in another body: only insignificant whitespace differs.
    let reformatted = feed.replace("   <output>", "  <output>");
    // The next snapshot: 1% of the events are sold out now.
    let mut changed = String::with_capacity(feed.len());
    let mut remaining = feed.as_str();
    let mut seen = 0usize;
    while let Some(at) = remaining.find("sold_out=\"false\"") {
        changed.push_str(&remaining[..at]);
        seen += 1;
        changed.push_str(if seen.is_multiple_of(100) {
            "sold_out=\"true\""
        } else {
            "sold_out=\"false\""
        });
        remaining = &remaining[at + "sold_out=\"false\"".len()..];
    }
    changed.push_str(remaining);
    // Every event changed: each base event's title, so each of its events.
    let retitled = feed.replace(" title=\"", " title=\"New: ");
    // The next snapshot without its last tenth of base events: they stop appearing.
    let cut_at = retitled
        .match_indices("<base_event ")
        .nth(spec.base_events * 9 / 10)
        .map_or(retitled.len(), |(at, _)| at);
    let shortened = format!("{}   </output>\n</eventList>\n", &retitled[..cut_at]);

    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![feed.clone().into()]).await;
    repoint(db, &sim.url()).await;
    let rss_before = memory_kib("VmRSS:");

    let mut steps = vec![run(db, "first ingest into an empty database").await];
    let copy_first = copy_reference(db).await;
    steps.push(run(db, "same feed again (304 on the ETag)").await);
    // Forget the ETag and Last-Modified, keep the body hash.
    let provider = query::provider::find_by_name(db, "bench")
        .await
        .expect("query")
        .expect("provider");
    query::provider::record_feed_validators(db, provider.id, None, None, provider.body_hash)
        .await
        .expect("validators reset");
    steps.push(run(db, "same body, no validators (body hash)").await);
    sim.set_feeds(vec![reformatted.into()]);
    steps.push(run(db, "same events, other body (parsed, compared)").await);
    sim.set_feeds(vec![changed.into()]);
    steps.push(run(db, "1% of events changed").await);
    sim.set_feeds(vec![retitled.clone().into()]);
    steps.push(run(db, "every event changed").await);
    sim.set_feeds(vec![shortened.into()]);
    steps.push(run(db, "10% of events stopped appearing").await);
    sim.set_feeds(vec![retitled.into()]);
    steps.push(run(db, "the 10% listed again, unchanged").await);
    let copy_last = copy_reference(db).await;

    let stored = scalar(db, "SELECT count(*) FROM event").await;
    let stored_zones = scalar(db, "SELECT count(*) FROM zone").await; // the view
    println!(
        "ingest benchmark: {events} events x {zones} zones = {} MiB of feed; PostgreSQL {}",
        feed.len() / (1024 * 1024),
        test_db.url
    );
    println!(
        "{:<46} {:>10} {:>13}  outcome",
        "run", "seconds", "rows written"
    );
    for step in &steps {
        println!(
            "{:<46} {:>10.3} {:>13}  {:?}: {}",
            step.name,
            step.elapsed.as_secs_f64(),
            step.rows_written,
            step.status,
            step.detail
        );
    }
    println!("stored: {stored} events, {stored_zones} zones");
    let copy = (copy_first + copy_last) / 2;
    println!(
        "PostgreSQL's COPY of the {stored} stored rows into a table like event: {:.3} s and {:.3} s",
        copy_first.as_secs_f64(),
        copy_last.as_secs_f64()
    );
    for (name, target) in [
        ("first ingest into an empty database", 0.85),
        ("every event changed", 0.7),
    ] {
        if let Some(step) = steps.iter().find(|s| s.name == name) {
            println!(
                "{name}: {:.2} x COPY speed (target >= {target})",
                copy.as_secs_f64() / step.elapsed.as_secs_f64()
            );
        }
    }
    println!(
        "memory: resident before the first ingest {} MiB, peak {} MiB",
        rss_before / 1024,
        memory_kib("VmHWM:") / 1024
    );
}
