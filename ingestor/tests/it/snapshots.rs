//! Raw feed snapshots: every body the parser read is kept, compressed, with its job; a replay
//! job parses, validates and stores it again without contacting the provider; retention drops
//! the oldest bodies first.

use std::io::Read as _;

use chrono::TimeDelta;
use entity::{
    ErrorKind, JobState, JobTrigger, feed_snapshot,
    query::{self, feed_snapshot::Pruned},
    time,
};
use ingestor::{collector::CollectSettings, jobs::OutcomeReport};
use sea_orm::DatabaseConnection;
use test_support::{Fault, ProviderSimulator, db_test, sample_feed};
use tokio_util::sync::CancellationToken;

use crate::support::{TestProvider, collect_acme};

async fn replay(db: &DatabaseConnection, job: entity::JobId) -> OutcomeReport {
    ingestor::collect::replay_now(
        db,
        job.0,
        CollectSettings::default(),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// The body kept for `job`, decompressed.
async fn kept_body(db: &DatabaseConnection, job: entity::JobId) -> Option<Vec<u8>> {
    let stored = query::feed_snapshot::find(db, job).await.unwrap()?;
    let mut body = Vec::new();
    feed_snapshot::decoder(&stored.body)
        .unwrap()
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(stored.raw_bytes, body.len() as i64);
    assert_eq!(stored.stored_bytes, stored.body.len() as i64);
    Some(body)
}

db_test!(async fn a_collected_feed_is_kept_and_replayed_without_asking_the_provider(test_db) {
    let db = &test_db.db;
    let feed = sample_feed("response_1.xml");
    let sim = ProviderSimulator::start(vec![feed.clone()]).await;
    let acme = TestProvider::at(&sim.url()).save(db).await;
    let first = collect_acme(db).await;
    assert_eq!(first.outcome.status, JobState::Completed);
    let job = first.outcome.job_id;
    assert_eq!(kept_body(db, job).await.as_deref(), Some(&feed[..]), "the body as sent");
    let stored = query::feed_snapshot::find(db, job).await.unwrap().unwrap();
    assert!(stored.stored_bytes < stored.raw_bytes, "compressed: {} of {}", stored.stored_bytes, stored.raw_bytes);

    // The same feed again (a 304, or the same body): nothing more is kept.
    let again = collect_acme(db).await;
    assert!(again.outcome.feed_unchanged);
    assert_eq!(kept_body(db, again.outcome.job_id).await, None);

    let provider_before = query::provider::find_by_id(db, acme).await.unwrap().unwrap();
    let requests = sim.request_count();
    let replayed = replay(db, job).await;
    assert_eq!(sim.request_count(), requests, "a replay does not contact the provider");
    assert_eq!(replayed.outcome.status, JobState::Completed, "{replayed:?}");
    assert_eq!(replayed.trigger, JobTrigger::Replay);
    assert_eq!(replayed.replay_of, Some(job));
    let (a, b) = (&first.outcome, &replayed.outcome);
    assert_eq!((b.seen, b.rejected, &b.rejections), (a.seen, a.rejected, &a.rejections));
    // The same events: stored by the first job, found unchanged by the replay.
    assert_eq!((b.inserted, b.updated, b.unchanged), (0, 0, a.inserted + a.updated + a.unchanged));
    assert_eq!((b.http_status, b.bytes), (None, a.bytes));
    assert_eq!(kept_body(db, b.job_id).await, None, "a replay keeps no second copy");
    let provider_after = query::provider::find_by_id(db, acme).await.unwrap().unwrap();
    assert_eq!(
        (provider_after.etag, provider_after.body_hash),
        (provider_before.etag, provider_before.body_hash),
        "the provider's validators are left as they were"
    );

    // Nothing kept, nothing to replay: refused before any job is created.
    let jobs = query::job::list_for_provider(db, acme).await.unwrap().len();
    let refused = ingestor::collect::replay_now(
        db,
        again.outcome.job_id.0,
        CollectSettings::default(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("has no feed body kept"), "{refused}");
    assert_eq!(query::job::list_for_provider(db, acme).await.unwrap().len(), jobs);
});

db_test!(async fn a_body_that_failed_to_parse_is_kept_and_its_replay_fails_the_same_way(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_fault(Fault::Malformed);
    let acme = TestProvider::at(&sim.url()).save(db).await;
    let failed = collect_acme(db).await;
    assert_eq!(failed.outcome.error_kind, Some(ErrorKind::Parse));
    let body = kept_body(db, failed.outcome.job_id).await.expect("the failed body is kept");
    assert!(body.starts_with(b"<eventList>"), "{}", String::from_utf8_lossy(&body));

    drop(sim);
    let replayed = replay(db, failed.outcome.job_id).await;
    assert_eq!(replayed.outcome.status, JobState::Failed);
    assert_eq!(
        (replayed.outcome.error_kind, &replayed.outcome.error_message),
        (Some(ErrorKind::Parse), &failed.outcome.error_message),
        "the same failure"
    );
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 0, "nothing written");
    // A replay's failure is not the provider's: it does not count towards its backoff.
    let health = query::provider_health::find_many(db, [acme]).await.unwrap().pop().unwrap();
    assert_eq!(health.failed_collections, 1, "{health:?}");
});

db_test!(async fn retention_drops_the_oldest_snapshots_first(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        sample_feed("response_2.xml"),
        sample_feed("response_3.xml"),
    ])
    .await;
    TestProvider::at(&sim.url()).save(db).await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let report = collect_acme(db).await;
        assert_eq!(report.outcome.status, JobState::Completed);
        jobs.push(report.outcome.job_id);
        // Distinct instants, so "oldest" is well defined on every database.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let sizes: Vec<i64> = {
        let info = query::feed_snapshot::info_many(db, jobs.clone()).await.unwrap();
        jobs.iter()
            .map(|j| info.iter().find(|i| i.job_id == *j).unwrap().stored_bytes)
            .collect()
    };
    let total = query::feed_snapshot::total_bytes(db).await.unwrap();
    assert_eq!(total, sizes.iter().sum::<i64>());

    // A cap that fits the newest two: the oldest goes.
    let cap = u64::try_from(sizes[1] + sizes[2]).unwrap();
    let long_ago = time::now() - TimeDelta::days(30);
    let pruned = query::feed_snapshot::prune(db, long_ago, cap).await.unwrap();
    assert_eq!(pruned, Pruned { expired: 0, over_cap: 1 });
    let left: Vec<_> = query::feed_snapshot::info_many(db, jobs.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.job_id)
        .collect();
    assert!(!left.contains(&jobs[0]) && left.contains(&jobs[1]) && left.contains(&jobs[2]), "{left:?}");
    // One byte less: the next oldest goes too.
    let pruned = query::feed_snapshot::prune(db, long_ago, cap - 1).await.unwrap();
    assert_eq!(pruned.over_cap, 1);
    assert_eq!(query::feed_snapshot::total_bytes(db).await.unwrap(), sizes[2]);
    // Past the retention: gone, whatever the cap.
    let pruned = query::feed_snapshot::prune(db, time::now() + TimeDelta::seconds(1), u64::MAX).await.unwrap();
    assert_eq!(pruned, Pruned { expired: 1, over_cap: 0 });
    assert_eq!(query::feed_snapshot::total_bytes(db).await.unwrap(), 0);
});

db_test!(async fn bodies_can_be_kept_in_a_directory_replayed_from_it_and_swept(test_db) {
    let db = &test_db.db;
    let root = tempfile::tempdir().unwrap();
    let directory = feed_snapshot::Directory::open(root.path().join("bodies")).unwrap();
    let in_directory = CollectSettings {
        snapshot_dir: Some(directory.clone()),
        ..CollectSettings::allowing_private()
    };
    let feed = sample_feed("response_1.xml");
    let sim = ProviderSimulator::start(vec![feed.clone()]).await;
    TestProvider::at(&sim.url()).save(db).await;
    let collected =
        ingestor::collect::collect_now(db, "acme", in_directory.clone(), &CancellationToken::new())
            .await
            .unwrap();
    assert_eq!(collected.outcome.status, JobState::Completed, "{collected:?}");
    let job = collected.outcome.job_id;

    // The row keeps the sizes and the file's name; the file keeps the frame.
    let row = query::feed_snapshot::find(db, job).await.unwrap().unwrap();
    assert_eq!(row.file.as_deref(), Some(format!("{}.zst", job.0).as_str()));
    assert!(row.body.is_empty(), "no copy in the database");
    let frame = std::fs::read(root.path().join("bodies").join(row.file.as_deref().unwrap())).unwrap();
    assert_eq!(row.stored_bytes, frame.len() as i64);
    let mut body = Vec::new();
    feed_snapshot::decoder(&frame).unwrap().read_to_end(&mut body).unwrap();
    assert_eq!(body, feed, "the body as sent");
    assert_eq!(query::feed_snapshot::total_bytes(db).await.unwrap(), row.stored_bytes, "the cap counts it");

    // Replayed from the directory, without the provider; a process without the directory
    // says where the body is instead.
    let requests = sim.request_count();
    let replayed = ingestor::collect::replay_now(db, job.0, in_directory.clone(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(sim.request_count(), requests, "a replay does not contact the provider");
    assert_eq!(replayed.outcome.status, JobState::Completed, "{replayed:?}");
    assert_eq!(replayed.outcome.unchanged, collected.outcome.inserted);
    let blind = replay(db, job).await;
    assert_eq!(blind.outcome.status, JobState::Failed);
    let message = blind.outcome.error_message.clone().unwrap_or_default();
    assert!(message.contains("--snapshot-dir"), "{message}");

    // A file with a row is kept; once retention drops the row, the sweep deletes the file,
    // but only past the grace given to a file whose row is not committed yet.
    let sweep = |grace| ingestor::maintenance::sweep_snapshot_files(db, &directory, grace);
    assert_eq!(sweep(std::time::Duration::ZERO).await.unwrap(), 0);
    let pruned = query::feed_snapshot::prune(db, time::now() + TimeDelta::days(1), u64::MAX).await.unwrap();
    assert_eq!(pruned, Pruned { expired: 1, over_cap: 0 });
    assert_eq!(sweep(ingestor::maintenance::ORPHAN_GRACE).await.unwrap(), 0, "too recent");
    assert_eq!(sweep(std::time::Duration::ZERO).await.unwrap(), 1);
    assert!(directory.list().unwrap().is_empty());
});
