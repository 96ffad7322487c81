//! Providers cannot aim the ingestor inside: refused destinations fail the job with kind
//! `destination`, before anything connects, and are never retried.
//!
//! No test here lets a connection reach a non-loopback address: refusals are checked on the
//! URL before the request, on each redirect hop before it is followed, and on resolved
//! addresses before connecting; the resolver is a stub, so no DNS query leaves the machine.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use entity::{
    ErrorKind, JobState,
    destination::DestinationPolicy,
    query::{self, job::Claim, job::Enqueued, job::NewJob},
    settings::FetchLimits,
    time,
};
use ingestor::{
    collector::{
        CollectSettings,
        fetch::{FetchRequest, Fetcher},
    },
    jobs::{JobRunner, OutcomeReport, RunnerSettings},
};
use test_support::{Fault, ProviderSimulator, db_test, sample_feed};
use tokio_util::sync::CancellationToken;

use crate::support::TestProvider;

async fn collect_with(
    db: &sea_orm::DatabaseConnection,
    settings: CollectSettings,
) -> OutcomeReport {
    ingestor::collect::collect_now(db, "acme", settings, &CancellationToken::new())
        .await
        .unwrap()
}

fn assert_refused(report: &OutcomeReport, needle: &str) {
    assert_eq!(report.outcome.status, JobState::Failed, "{report:?}");
    assert_eq!(
        report.outcome.error_kind,
        Some(ErrorKind::Destination),
        "{report:?}"
    );
    let message = report.outcome.error_message.as_deref().unwrap_or_default();
    assert!(message.starts_with("refused destination"), "{message}");
    assert!(message.contains(needle), "{message} should name {needle}");
}

db_test!(async fn a_redirect_to_a_metadata_address_fails_the_job_before_following_it(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    TestProvider::at(&sim.url()).save(db).await;
    for (location, named) in [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "169.254.169.254"),
        ("http://0xa9fea9fe/", "169.254.169.254"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal"),
        ("http://192.0.2.10/feed.xml", "192.0.2.10"),
        ("http://0.0.0.0:5432/", "0.0.0.0"),
    ] {
        sim.set_fault(Fault::Redirect { location: location.to_owned() });
        let started = Instant::now();
        // Private addresses allowed (the simulator is on loopback): these stay refused.
        let report = collect_with(db, CollectSettings::allowing_private()).await;
        assert_refused(&report, named);
        // Refused by the policy check on the hop, not by a failed connection attempt, which
        // would have taken the connect timeout (1 s) or failed as `connect`.
        assert!(started.elapsed() < Duration::from_millis(900), "{location}");
    }
    let provider = query::provider::find_by_name(db, "acme").await.unwrap().unwrap();
    assert_eq!(query::event::count_for_provider(db, provider.id).await.unwrap(), 0);
});

db_test!(async fn a_provider_at_a_loopback_address_is_refused_by_default_and_nothing_connects(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    // Saved directly, as a provider registered before the policy existed would be.
    TestProvider::at(&sim.url()).save(db).await;
    let report = collect_with(db, CollectSettings::default()).await;
    assert_refused(&report, "127.0.0.1");
    assert_eq!(sim.request_count(), 0, "nothing reached the provider");
    assert_eq!(report.retry_job_id, None);
    // Allowed explicitly, the same provider is collected.
    let allowed = collect_with(db, CollectSettings::allowing_private()).await;
    assert_eq!(allowed.outcome.status, JobState::Completed, "{allowed:?}");
});

db_test!(async fn a_refused_destination_is_not_retried(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let provider = TestProvider::at(&sim.url()).save(db).await;
    let now = time::now();
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(provider, now)).await.unwrap() else {
        panic!("a fresh provider has no active job");
    };
    // A runner that retries failures, with the default (public only) policy.
    let settings = RunnerSettings::default();
    let runner = JobRunner::new(db.clone(), Fetcher::new(settings.collect.destinations), settings);
    let claim = Claim { worker_id: "test", now, lease_until: runner.lease_until(now) };
    let claimed = query::job::claim_by_id(db, job.id, &claim).await.unwrap().unwrap();
    let report = runner.run(claimed, &CancellationToken::new()).await.unwrap();
    assert!(report.retry.is_none(), "a retry cannot help: {:?}", report.retry);
    let outcome = query::job_outcome::find(db, job.id).await.unwrap().unwrap();
    assert_eq!(outcome.error_kind, Some(ErrorKind::Destination));
    assert!(query::job::find_active(db, provider).await.unwrap().is_none(), "no retry queued");
    assert_eq!(sim.request_count(), 0);
});

/// A resolver that answers every name with fixed addresses, and counts its calls.
struct StubResolver {
    addresses: Vec<SocketAddr>,
    calls: Arc<AtomicUsize>,
}

impl reqwest::dns::Resolve for StubResolver {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let addresses = self.addresses.clone();
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

fn stub(addresses: &[&str]) -> (Arc<StubResolver>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = StubResolver {
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        calls: Arc::clone(&calls),
    };
    (Arc::new(resolver), calls)
}

fn request(url: &str) -> FetchRequest<'_> {
    FetchRequest {
        url,
        limits: FetchLimits {
            connect_timeout_ms: 1_000,
            total_timeout_ms: 2_000,
            ..FetchLimits::default()
        },
        etag: None,
        last_modified: None,
    }
}

#[tokio::test]
async fn a_name_that_resolves_only_to_refused_addresses_fails_before_connecting() {
    // What a rebinding name might answer: private, metadata and mapped forms, no public one.
    let (resolver, calls) = stub(&[
        "10.0.0.1:80",
        "169.254.169.254:80",
        "[::ffff:a9fe:a9fe]:80",
        "[fd00::1]:80",
    ]);
    let fetcher = Fetcher::with_resolver(DestinationPolicy::PUBLIC_ONLY, resolver);
    let started = Instant::now();
    let err = fetcher
        .fetch(request("http://feed.invalid/feed.xml"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Destination, "{err:?}");
    assert!(
        err.message.contains("`feed.invalid` resolves only to refused addresses (refused destination: the provider address 10.0.0.1"),
        "{}",
        err.message
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the resolver was asked once"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "no connection was attempted"
    );
}

#[tokio::test]
async fn allow_private_still_refuses_metadata_among_resolved_addresses() {
    let (resolver, _) = stub(&[
        "169.254.169.254:80",
        "[fd00:ec2::254]:80",
        "100.100.100.200:80",
    ]);
    let fetcher = Fetcher::with_resolver(DestinationPolicy::ALLOW_PRIVATE, resolver);
    let err = fetcher
        .fetch(request("http://feed.invalid/feed.xml"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Destination, "{err:?}");
}

#[tokio::test]
async fn the_connection_goes_to_the_allowed_address_the_resolver_returned() {
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    // A refused address first: it is dropped, and the loopback one is used.
    let (resolver, calls) = stub(&["169.254.169.254:80", &sim.addr().to_string()]);
    let fetcher = Fetcher::with_resolver(DestinationPolicy::ALLOW_PRIVATE, resolver);
    let url = format!("http://provider.invalid:{}/feed.xml", sim.addr().port());
    let fetched = fetcher.fetch(request(&url)).await.unwrap();
    assert!(matches!(
        fetched,
        ingestor::collector::fetch::Fetched::Body(_)
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(sim.request_count(), 1);
}

#[tokio::test]
async fn literal_addresses_and_local_names_are_refused_without_resolving() {
    let (resolver, calls) = stub(&["127.0.0.1:9"]);
    let fetcher = Fetcher::with_resolver(DestinationPolicy::PUBLIC_ONLY, resolver);
    for url in [
        "http://127.0.0.1:9/feed.xml",
        "http://0x7f000001:9/",
        "http://[::1]:9/",
        "http://10.0.0.1/",
        "http://localhost:9/",
        "http://db.localhost:9/",
    ] {
        let err = fetcher.fetch(request(url)).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Destination, "{url}: {err:?}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "refused before any resolution"
    );
}
