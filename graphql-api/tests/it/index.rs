//! The in-memory index answers exactly as the database does, and keeps answering while the
//! database is unreachable.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use graphql_api::search::{DateRange, key};
use test_support::{Backend, ProviderSimulator, TestDb, feedgen, proxy::TcpProxy};
use tokio_util::sync::CancellationToken;

/// Ingests a generated feed of `events` events through the real collector.
async fn ingest_generated(db: &sea_orm::DatabaseConnection, name: &str, seed: u64, events: usize) {
    let spec = feedgen::FeedSpec {
        seed,
        online_share: 0.7,
        invalid_every: Some(50),
        ..feedgen::FeedSpec::sized(events, 2)
    };
    let sim = ProviderSimulator::start(vec![feedgen::generate(&spec).into()]).await;
    let changes = entity::query::provider::ProviderChanges {
        url: Some(sim.url().parse().unwrap()),
        time_zone: Some("Europe/Madrid".parse().unwrap()),
        limits: Some(entity::settings::FetchLimits::default()),
        ..Default::default()
    };
    entity::query::provider::upsert(db, &name.parse().unwrap(), changes)
        .await
        .unwrap();
    let report = ingestor::collect::collect_now(
        db,
        name,
        ingestor::collector::CollectSettings::allowing_private(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.outcome.status,
        entity::JobState::Completed,
        "{report:?}"
    );
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

async fn index_and_database_agree(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    ingest_generated(db, "alpha", 7, 1_000).await;
    ingest_generated(db, "beta", 8, 300).await;
    let snapshot = graphql_api::search::refresh::load(db).await.unwrap();
    let all = entity::query::event::search(db, None, None).await.unwrap();
    assert!(all.len() > 600, "{} searchable events", all.len());
    assert_eq!(snapshot.len(), all.len());

    // Bounds drawn from the events' own instants (so boundaries are hit exactly), a second
    // off them, and anywhere; some open-ended.
    let instants: Vec<DateTime<Utc>> = all.iter().flat_map(|e| [e.starts_at, e.ends_at]).collect();
    let mut rng = Lcg(42);
    for round in 0..120 {
        let pick = |rng: &mut Lcg| {
            let base = instants[(rng.next() as usize) % instants.len()];
            match rng.next() % 4 {
                0 => base - TimeDelta::seconds(1),
                1 => base + TimeDelta::seconds(1),
                _ => base,
            }
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let (from, to) = (a.min(b), a.max(b));
        let (from, to) = match rng.next() % 5 {
            0 => (None, Some(to)),
            1 => (Some(from), None),
            _ => (Some(from), Some(to)),
        };
        let range = DateRange::new(from, to).unwrap();
        let from_index: Vec<_> = snapshot
            .search(&range, None, None)
            .map(|e| key(e))
            .collect();
        let from_db: Vec<_> = entity::query::event::search(db, from, to)
            .await
            .unwrap()
            .iter()
            .map(key)
            .collect();
        assert_eq!(from_index, from_db, "round {round}: {from:?} .. {to:?}");
    }
}

#[tokio::test]
async fn index_and_database_agree_on_random_ranges_on_postgres() {
    index_and_database_agree(Backend::Postgres).await;
}

#[tokio::test]
async fn index_and_database_agree_on_random_ranges_on_sqlite() {
    index_and_database_agree(Backend::Sqlite).await;
}

#[tokio::test]
async fn search_serves_through_a_database_outage_and_catches_up_after() {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    crate::app::ingest_samples(&test_db.db).await;
    // The API reaches PostgreSQL through a proxy that can drop every connection.
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let api_db = crate::app::pool_through(&test_db, &proxy, Duration::from_millis(500)).await;
    let ingest_db = test_db.connect_again().await;
    let app = crate::app::spawn_app_with(test_db, api_db).await;
    let (_, before) = app.search("").await;
    assert_eq!(before["data"]["events"].as_array().unwrap().len(), 3);

    proxy.cut();
    for _ in 0..5 {
        let (status, during) = app.search("").await;
        assert_eq!(status, 200);
        assert_eq!(during, before, "the last good snapshot keeps serving");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, ready) = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "down");
    let (_, metrics) = app.get("/metrics").await;
    assert!(metrics.contains("database_up 0"), "{metrics}");

    // Meanwhile the ingestor (which still reaches the database) stores more events.
    ingest_generated(&ingest_db, "more", 3, 20).await;
    proxy.restore();
    let started = std::time::Instant::now();
    loop {
        let (_, after) = app.search("").await;
        if after["data"]["events"].as_array().unwrap().len() > 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the index did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, ready) = app.get_json("/readyz").await;
    assert_eq!(ready["database"], "up");
}
