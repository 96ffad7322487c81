//! Providers that keep failing: the scheduler backs off, then pauses them; a success or an
//! operator's enable starts them afresh. The provider "refuses connections" through a proxy
//! on loopback that resets every connection and counts the attempts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{
    JobState, ProviderId, provider_health,
    query::{self, provider::ProviderChanges},
    settings::FailurePolicy,
};
use ingestor::worker;
use sea_orm::DatabaseConnection;
use test_support::{ProviderSimulator, db_test, proxy::TcpProxy, sample_feed};
use tokio_util::sync::CancellationToken;

use crate::{support::TestProvider, worker::fast_settings};

/// A feed served behind a proxy that refuses every connection until restored.
struct RefusingProvider {
    // Kept alive for the proxy's target.
    _simulator: ProviderSimulator,
    proxy: TcpProxy,
}

impl RefusingProvider {
    async fn start() -> Self {
        let simulator = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
        let proxy = TcpProxy::start(simulator.addr()).await;
        proxy.cut();
        Self {
            _simulator: simulator,
            proxy,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/feed.xml", self.proxy.addr())
    }
}

/// `acme` on a one-second schedule at `url`, with these thresholds.
async fn every_second(db: &DatabaseConnection, url: &str, failures: FailurePolicy) -> ProviderId {
    let id = TestProvider {
        schedule: Some("* * * * * *"),
        ..TestProvider::at(url)
    }
    .save(db)
    .await;
    let changes = ProviderChanges {
        failures: Some(failures),
        ..Default::default()
    };
    query::provider::upsert(db, &"acme".parse().unwrap(), changes)
        .await
        .unwrap();
    id
}

async fn health(db: &DatabaseConnection, provider: ProviderId) -> provider_health::Model {
    query::provider_health::find_many(db, [provider])
        .await
        .unwrap()
        .pop()
        .expect("a provider with finished jobs has a health row")
}

/// Polls `check` every 100 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running worker, stopped (and awaited) by `stop`.
struct Running {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(db: &DatabaseConnection) -> Self {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(worker::run(db.clone(), fast_settings(), shutdown.clone()));
        Self { shutdown, handle }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("the worker stops within its grace period")
            .unwrap();
    }
}

db_test!(async fn a_provider_refusing_connections_for_a_minute_is_contacted_at_most_fifteen_times(test_db) {
    let db = &test_db.db;
    let refusing = RefusingProvider::start().await;
    let acme = every_second(db, &refusing.url(), FailurePolicy::default()).await;
    let worker = Running::start(db);
    let started = tokio::time::Instant::now();
    let mut ends: Vec<DateTime<Utc>> = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let rows = query::provider_health::find_many(db, [acme]).await.unwrap();
        if let Some(until) = rows.first().and_then(|h| h.backing_off_until)
            && ends.last() != Some(&until)
        {
            ends.push(until);
        }
    }
    worker.stop().await;

    let attempts = refusing.proxy.attempts();
    println!("{attempts} connection attempts in 60 s; backoff ends seen: {ends:?}");
    assert!(
        (5..=15).contains(&attempts),
        "a minute of one-second ticks made {attempts} connection attempts"
    );
    // The backoff moved out, each step longer than the one before.
    assert!(ends.len() >= 3, "backoff ends seen: {ends:?}");
    let steps: Vec<_> = ends.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        steps.windows(2).all(|w| w[1] > w[0]),
        "the backoff doubles: {ends:?}"
    );
    let health = health(db, acme).await;
    assert!(health.failed_collections >= 5, "{health:?}");
    assert!(health.skipped_ticks >= 10, "skipped ticks are counted: {health:?}");
    assert_eq!(health.paused_at, None, "30 failures are far off");
    assert_eq!(
        health.last_error_kind,
        Some(entity::ErrorKind::Connect),
        "{health:?}"
    );
    // Skipped ticks made no jobs: every job is a failed collection or one of its retries.
    let jobs = query::job::list_for_provider(db, acme).await.unwrap();
    assert!(jobs.len() <= attempts, "{} jobs for {attempts} attempts", jobs.len());
    crate::worker::assert_job_invariants(db, acme).await;
});

db_test!(async fn a_provider_failing_pause_after_times_is_paused_and_enabling_it_resumes_at_once(test_db) {
    let db = &test_db.db;
    let refusing = RefusingProvider::start().await;
    let failures = FailurePolicy {
        backoff_after: 0,
        pause_after: 4,
    };
    let acme = every_second(db, &refusing.url(), failures).await;
    let worker = Running::start(db);
    eventually(Duration::from_secs(15), "paused after 4 failed collections", || async {
        !query::provider::find_by_id(db, acme).await.unwrap().unwrap().enabled
    })
    .await;
    let paused = health(db, acme).await;
    assert_eq!(paused.failed_collections, 4);
    assert!(paused.paused_at.is_some());
    let reason = paused.pause_reason.clone().unwrap();
    assert!(
        reason.starts_with("paused after 4 consecutive failed collections; the last failed with connect: "),
        "{reason}"
    );
    let audit = query::audit_log::newest(db, None, 10).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "pauseProvider")
        .expect("the pause is in the audit log");
    assert_eq!(entry.actor, query::provider_health::AUTOMATIC_ACTOR);
    assert_eq!(entry.target, "provider acme");
    assert_eq!(entry.detail.as_deref(), Some(reason.as_str()));
    // Paused: no job comes, whatever the schedule says (once a tick scheduled while the
    // pause committed has run).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let attempts = refusing.proxy.attempts();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(refusing.proxy.attempts(), attempts, "a paused provider is left alone");

    // The provider is back; an operator enables it: it starts afresh at its next tick.
    refusing.proxy.restore();
    query::provider::set_enabled(db, "acme", true).await.unwrap();
    let resumed = health(db, acme).await;
    assert_eq!(
        (resumed.failed_collections, resumed.paused_at, resumed.pause_reason, resumed.backing_off_until),
        (0, None, None, None)
    );
    eventually(Duration::from_secs(10), "a completed job after enabling", || async {
        query::job::list_for_provider(db, acme)
            .await
            .unwrap()
            .iter()
            .any(|j| j.state == JobState::Completed)
    })
    .await;
    worker.stop().await;
    assert!(health(db, acme).await.last_success_at.is_some());
    crate::worker::assert_job_invariants(db, acme).await;
});

db_test!(async fn a_success_ends_the_backoff(test_db) {
    let db = &test_db.db;
    let refusing = RefusingProvider::start().await;
    let failures = FailurePolicy {
        backoff_after: 2,
        pause_after: 0,
    };
    let acme = every_second(db, &refusing.url(), failures).await;
    let worker = Running::start(db);
    eventually(Duration::from_secs(15), "backing off after 2 failed collections", || async {
        query::provider_health::find_many(db, [acme])
            .await
            .unwrap()
            .first()
            .is_some_and(|h| h.backing_off_until.is_some())
    })
    .await;
    let backing_off = health(db, acme).await;
    assert_eq!(backing_off.failed_collections, 2);
    // Backing off: the failed collection got no retry.
    let jobs = query::job::list_for_provider(db, acme).await.unwrap();
    let last = jobs.iter().max_by_key(|j| j.id).unwrap();
    assert_eq!(last.attempt, 1, "no retry once backing off: {jobs:#?}");

    refusing.proxy.restore();
    eventually(Duration::from_secs(15), "a success ends the backoff", || async {
        query::provider_health::find_many(db, [acme])
            .await
            .unwrap()
            .first()
            .is_some_and(|h| h.last_success_at.is_some())
    })
    .await;
    worker.stop().await;
    let after = health(db, acme).await;
    assert_eq!(
        (after.failed_collections, after.backing_off_until, after.skipped_ticks),
        (0, None, 0),
        "{after:?}"
    );
});
