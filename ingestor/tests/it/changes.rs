//! What changed in a feed: each completed job records which events it inserted, changed, left
//! unchanged and which stopped appearing since the previous feed, counted whole and named up
//! to a cap.

use entity::{
    EventId, JobState, ProviderId,
    query::{
        self,
        job_change::{ChangedIds, LISTED},
    },
};
use ingestor::jobs::OutcomeReport;
use sea_orm::DatabaseConnection;
use test_support::{
    ProviderSimulator, db_test,
    feedgen::{FeedSpec, generate},
    sample_feed,
};

use crate::support::{TestProvider, collect_acme};

fn id(base: &str, event: &str) -> EventId {
    EventId::derive("acme", base, event)
}

/// The ids `report`'s job kept.
async fn changes(db: &DatabaseConnection, report: &OutcomeReport) -> ChangedIds {
    assert_eq!(report.outcome.status, JobState::Completed, "{report:?}");
    let mut found = query::job_change::find_many(db, [report.outcome.job_id])
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "one row per completed job that read a feed");
    found.remove(0).1
}

/// The listed flag of each of `ids`.
async fn listed(db: &DatabaseConnection, provider: ProviderId, ids: &[EventId]) -> Vec<bool> {
    let events = query::event::list_for_provider(db, provider).await.unwrap();
    ids.iter()
        .map(|id| events.iter().find(|e| e.id == *id).expect("stored").listed)
        .collect()
}

db_test!(async fn each_job_names_what_it_inserted_changed_kept_and_stopped(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        sample_feed("response_2.xml"),
        sample_feed("response_3.xml"),
        sample_feed("response_1.xml"),
    ])
    .await;
    let acme = TestProvider::at(&sim.url()).save(db).await;
    let (camela, pantomima, morancos) = (id("291", "291"), id("322", "1642"), id("1591", "1642"));

    let first = collect_acme(db).await;
    assert_eq!(
        changes(db, &first).await,
        ChangedIds {
            inserted: vec![camela, pantomima, morancos],
            ..ChangedIds::default()
        }
    );
    assert_eq!(first.outcome.stopped, 0);

    // 322 left the feed: it stopped appearing, and is kept, unlisted. 444 is rejected: it was
    // never stored, so it neither starts nor stops anything.
    let second = collect_acme(db).await;
    assert_eq!(
        (second.outcome.updated, second.outcome.unchanged, second.outcome.stopped),
        (2, 0, 1)
    );
    assert_eq!(
        changes(db, &second).await,
        ChangedIds {
            updated: vec![camela, morancos],
            stopped: vec![pantomima],
            ..ChangedIds::default()
        }
    );
    assert_eq!(listed(db, acme, &[camela, pantomima, morancos]).await, [true, false, true]);

    // Gone already: it does not stop twice.
    let third = collect_acme(db).await;
    assert_eq!(third.outcome.stopped, 0);
    assert!(changes(db, &third).await.stopped.is_empty());

    // The first snapshot again: 322 is back as it was (unchanged, and listed again).
    let fourth = collect_acme(db).await;
    assert_eq!(
        (fourth.outcome.inserted, fourth.outcome.updated, fourth.outcome.unchanged, fourth.outcome.stopped),
        (0, 2, 1, 0)
    );
    assert_eq!(changes(db, &fourth).await.unchanged, [pantomima]);
    assert_eq!(listed(db, acme, &[camela, pantomima, morancos]).await, [true, true, true]);
});

db_test!(async fn an_empty_feed_or_a_rejected_record_stops_nothing(test_db) {
    let db = &test_db.db;
    let empty = "<?xml version=\"1.0\"?><eventList version=\"1.0\"><output></output></eventList>";
    // 322's only record now carries an impossible date: rejected, but still in the feed.
    let broken_322 = String::from_utf8(sample_feed("response_1.xml").to_vec())
        .unwrap()
        .replace("2021-02-10T20:00:00", "2021-02-31T20:00:00");
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        axum::body::Bytes::from_static(empty.as_bytes()),
        axum::body::Bytes::from(broken_322),
    ])
    .await;
    let acme = TestProvider::at(&sim.url()).save(db).await;
    collect_acme(db).await;

    let outage = collect_acme(db).await;
    assert!(outage.outcome.empty_feed, "{outage:?}");
    assert_eq!(outage.outcome.stopped, 0);
    assert_eq!(changes(db, &outage).await, ChangedIds::default());

    let rejected = collect_acme(db).await;
    assert_eq!((rejected.outcome.rejected, rejected.outcome.stopped), (1, 0), "{rejected:?}");
    let all = [id("291", "291"), id("322", "1642"), id("1591", "1642")];
    assert_eq!(listed(db, acme, &all).await, [true, true, true]);
});

/// `feed` cut after its first `keep` base events.
fn first_base_events(feed: &str, keep: usize) -> String {
    let cut = feed
        .match_indices("<base_event ")
        .nth(keep)
        .map_or(feed.len(), |(at, _)| at);
    format!("{}   </output>\n</eventList>\n", &feed[..cut])
}

db_test!(async fn each_kind_is_counted_whole_and_named_up_to_the_cap(test_db) {
    let db = &test_db.db;
    let feed = generate(&FeedSpec {
        base_events: 6,
        events_per_base: 10,
        zones_per_event: 1,
        ..FeedSpec::default()
    });
    let sim = ProviderSimulator::start(vec![
        axum::body::Bytes::from(feed.clone()),
        axum::body::Bytes::from(first_base_events(&feed, 3)),
    ])
    .await;
    let acme = TestProvider::at(&sim.url()).save(db).await;

    let first = collect_acme(db).await;
    assert_eq!(first.outcome.inserted, 60);
    let named = changes(db, &first).await;
    assert_eq!(named.inserted.len(), LISTED, "the first {LISTED}, in feed order");

    let second = collect_acme(db).await;
    assert_eq!((second.outcome.unchanged, second.outcome.stopped), (30, 30), "{second:?}");
    let named = changes(db, &second).await;
    // Both feeds start with the same 30 events.
    assert_eq!(named.unchanged, changes(db, &first).await.inserted);
    assert_eq!(named.stopped.len(), LISTED);
    assert!(named.stopped.is_sorted(), "stopped ones are named by id");
    let unlisted: Vec<EventId> = query::event::list_for_provider(db, acme)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| !e.listed)
        .map(|e| e.id)
        .collect();
    assert_eq!(unlisted.len(), 30);
    assert!(named.stopped.iter().all(|id| unlisted.contains(id)));
});
