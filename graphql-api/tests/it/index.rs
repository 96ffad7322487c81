//! The in-memory index answers exactly as the database does, and keeps answering while the
//! database is unreachable.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use graphql_api::search::{DateRange, Direction, EventFilter, EventOrder, Folded, OrderField};
use test_support::{Backend, ProviderSimulator, TestDb, feedgen, proxy::TcpProxy};
use tokio_util::sync::CancellationToken;

/// Ingests a generated feed of `events` events through the real collector.
pub(crate) async fn ingest_generated(
    db: &sea_orm::DatabaseConnection,
    name: &str,
    seed: u64,
    events: usize,
) {
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
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self) -> u64 {
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
    let everything = (DateRange::default(), EventFilter::default());
    let all =
        entity::query::event::search(db, &everything.0, &everything.1, EventOrder::START, None)
            .await
            .unwrap();
    assert!(all.len() > 600, "{} searchable events", all.len());
    assert_eq!(snapshot.len(), all.len());
    let providers: Vec<_> = {
        let mut ids: Vec<_> = all.iter().map(|e| e.provider_id).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let prices: Vec<i64> = all.iter().filter_map(|e| e.min_price_cents).collect();

    // Bounds drawn from the events' own instants (so boundaries are hit exactly), a second
    // off them, and anywhere; some open-ended. Filters and orders of every kind.
    let instants: Vec<DateTime<Utc>> = all.iter().flat_map(|e| [e.starts_at, e.ends_at]).collect();
    let mut rng = Lcg(42);
    let mut seen_some = 0;
    for round in 0..160 {
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
        let (from, to) = match rng.next() % 6 {
            0 => (None, Some(to)),
            1 => (Some(from), None),
            2 => (None, None),
            _ => (Some(from), Some(to)),
        };
        let range = DateRange::new(from, to).unwrap();
        let price = |rng: &mut Lcg| {
            (rng.next().is_multiple_of(3)).then(|| prices[(rng.next() as usize) % prices.len()])
        };
        let filter = EventFilter {
            providers: (rng.next().is_multiple_of(4)).then(|| {
                providers
                    .iter()
                    .copied()
                    .filter(|_| rng.next().is_multiple_of(2))
                    .collect()
            }),
            min_price_cents: price(&mut rng),
            max_price_cents: price(&mut rng),
            sold_out: (rng.next().is_multiple_of(4)).then(|| rng.next().is_multiple_of(2)),
            title: (rng.next().is_multiple_of(3)).then(|| {
                let needles = [
                    "opera", "ÓPERA", "sinfo", "ACÚST", "noche 1", "o", "monologo", "zz",
                ];
                Folded::new(needles[(rng.next() as usize) % needles.len()])
            }),
        };
        let order = EventOrder {
            field: [OrderField::Start, OrderField::Price, OrderField::Title]
                [(rng.next() % 3) as usize],
            direction: [Direction::Asc, Direction::Desc][(rng.next() % 2) as usize],
        };
        let from_index: Vec<_> = snapshot
            .ordered(&range, &filter, order, None, None)
            .map(|e| e.id)
            .collect();
        let from_db: Vec<_> = entity::query::event::search(db, &range, &filter, order, None)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(
            from_index, from_db,
            "round {round}: {range:?} {filter:?} {order:?}"
        );
        // A page from the middle: the database's next page after the index's position.
        if from_index.len() > 3 {
            seen_some += 1;
            let middle = from_index.len() / 2;
            let at = snapshot
                .ordered(&range, &filter, order, None, None)
                .nth(middle)
                .unwrap();
            let next: Vec<_> = snapshot
                .ordered(&range, &filter, order, Some(order.position(at)), None)
                .take(3)
                .map(|e| e.id)
                .collect();
            assert_eq!(
                next,
                from_db[middle + 1..(middle + 4).min(from_db.len())],
                "round {round}"
            );
        }
    }
    assert!(
        seen_some > 60,
        "{seen_some} rounds found more than 3 events"
    );
}

#[tokio::test]
async fn index_and_database_agree_on_random_searches_on_postgres() {
    index_and_database_agree(Backend::Postgres).await;
}

#[tokio::test]
async fn index_and_database_agree_on_random_searches_on_sqlite() {
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
