//! The scheduler, the job processor, the rescuer and retries, run in this process against a
//! real database and the provider simulator.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, TimeDelta, Timelike as _, Utc};
use entity::{
    ErrorKind, JobId, JobState, JobTrigger, ProviderId, job,
    query::{
        self,
        job::{Claim, Enqueued, NewJob},
        provider::ProviderChanges,
    },
    settings::FetchLimits,
    time,
};
use ingestor::{
    jobs::RunnerSettings,
    scheduler::Scheduler,
    worker::{self, WorkerSettings},
};
use sea_orm::DatabaseConnection;
use test_support::{Fault, ProviderSimulator, TestDb, db_test, sample_feed};

use crate::support::{TestProvider, collect_acme};
use tokio_util::sync::CancellationToken;

/// Settings that make a worker react within a fraction of a second.
pub(crate) fn fast_settings() -> WorkerSettings {
    WorkerSettings {
        concurrency: 4,
        poll_interval: Duration::from_millis(50),
        scheduler_interval: Duration::from_millis(100),
        runner: RunnerSettings {
            lease: Duration::from_millis(2_000),
            heartbeat: Duration::from_millis(500),
            retries: true,
            // The provider simulator listens on loopback.
            collect: ingestor::collector::CollectSettings::allowing_private(),
        },
        rescue_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_millis(1_000),
        ..WorkerSettings::default()
    }
}

/// A provider `name` at `url` with the given schedule, quick limits and a quick retry policy.
async fn provider(db: &DatabaseConnection, name: &str, url: &str, schedule: &str) -> ProviderId {
    TestProvider {
        name,
        schedule: Some(schedule),
        total_timeout_ms: 1_500,
        ..TestProvider::at(url)
    }
    .save(db)
    .await
}

/// Runs a worker for `how_long`, then stops it and waits for it to finish.
async fn run_worker_for(db: &DatabaseConnection, settings: WorkerSettings, how_long: Duration) {
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(worker::run(db.clone(), settings, shutdown.clone()));
    tokio::time::sleep(how_long).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), worker)
        .await
        .expect("the worker stops within its grace period")
        .unwrap();
}

async fn jobs_of(db: &DatabaseConnection, provider: ProviderId) -> Vec<job::Model> {
    let mut jobs = query::job::list_for_provider(db, provider).await.unwrap();
    jobs.sort_by_key(|j| j.id);
    jobs
}

/// Checks the invariants every run must keep, whatever happened.
pub(crate) async fn assert_job_invariants(db: &DatabaseConnection, provider: ProviderId) {
    let jobs = jobs_of(db, provider).await;
    let mut ticks = HashSet::new();
    for job in &jobs {
        if let Some(tick) = job.tick {
            assert!(ticks.insert(tick), "two jobs for tick {tick}");
        }
        let outcome = query::job_outcome::find(db, job.id).await.unwrap();
        let outcome = outcome.unwrap_or_else(|| panic!("job {} has no outcome", job.id));
        assert_eq!(
            outcome.status, job.state,
            "job {} and its outcome disagree",
            job.id
        );
        assert_ne!(job.state, JobState::Running, "job {} left running", job.id);
    }
    // Never two jobs of the provider running at once.
    let mut spans: Vec<_> = jobs
        .iter()
        .filter_map(|j| Some((j.started_at?, j.finished_at?)))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlapping runs: {pair:?}");
    }
}

db_test!(async fn each_tick_becomes_one_job_that_runs(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml"), sample_feed("response_2.xml")]).await;
    let acme = provider(db, "acme", &sim.url(), "* * * * * *").await;
    run_worker_for(db, fast_settings(), Duration::from_millis(3_600)).await;

    let jobs = jobs_of(db, acme).await;
    assert!((3..=5).contains(&jobs.len()), "{} jobs in 3.6 s of a per-second schedule", jobs.len());
    for pair in jobs.windows(2) {
        let gap = pair[1].tick.unwrap() - pair[0].tick.unwrap();
        assert_eq!(gap, TimeDelta::seconds(1), "consecutive ticks, no gap");
    }
    let (last, earlier) = jobs.split_last().unwrap();
    for job in earlier {
        assert_eq!(job.state, JobState::Completed);
        assert_eq!(job.trigger, JobTrigger::Schedule);
        let delay = job.started_at.unwrap() - job.run_at;
        assert!(delay < TimeDelta::seconds(1), "started {delay} after its tick");
    }
    // The tick just before the stop may not have been claimed: it waits for the next worker.
    assert!(matches!(last.state, JobState::Completed | JobState::Pending), "{last:?}");
    assert_job_invariants(db, acme).await;
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 3);

    // The change log has each state each job entered, in order, at the job's own times.
    let log = query::job_transition::replay(db, 0, DateTime::UNIX_EPOCH, Some(acme), 1_000).await.unwrap();
    for job in earlier {
        let changes: Vec<_> = log.iter().filter(|t| t.job.id == job.id).map(|t| &t.change).collect();
        let states: Vec<_> = changes.iter().map(|c| c.state).collect();
        assert_eq!(states, [JobState::Pending, JobState::Running, JobState::Completed]);
        let ats: Vec<_> = changes.iter().map(|c| c.at).collect();
        assert_eq!(ats, [job.created_at, job.started_at.unwrap(), job.finished_at.unwrap()]);
    }
});

db_test!(async fn the_change_log_is_pruned_to_minutes_keeping_its_newest(test_db) {
    let db = &test_db.db;
    let acme = provider(db, "acme", "http://127.0.0.1:9/feed.xml", "0 0 0 1 1 * 2100").await;
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap() else {
        panic!("created");
    };
    let now = time::now();
    let claim = Claim { worker_id: "w", now, lease_until: now + TimeDelta::minutes(1) };
    let running = query::job::claim_by_id(db, job.id, &claim).await.unwrap().unwrap();
    assert!(query::job::finish(db, &running, JobState::Completed, time::now()).await.unwrap());
    assert_eq!(query::job_transition::latest(db).await.unwrap(), 3);
    assert_eq!(query::job_transition::prune(db, time::now() - query::job_transition::KEPT).await.unwrap(), 0);
    let later = time::now() + TimeDelta::seconds(1);
    assert_eq!(query::job_transition::prune(db, later).await.unwrap(), 2, "all but the newest");
    assert_eq!(query::job_transition::latest(db).await.unwrap(), 3, "the numbering goes on");
});

db_test!(async fn after_downtime_one_catch_up_job_not_a_backlog(test_db) {
    let db = &test_db.db;
    let acme = provider(db, "acme", "http://127.0.0.1:9/feed.xml", "0 * * * * *").await;
    // The last tick that got a job was an hour ago: 59 ticks were missed.
    let hour_ago = time::now() - TimeDelta::hours(1);
    let last = hour_ago - TimeDelta::seconds(i64::from(chrono::Timelike::second(&hour_ago)));
    let Enqueued::Created(old) = query::job::enqueue(db, NewJob::scheduled(acme, last)).await.unwrap() else {
        panic!("the old job is created");
    };
    query::job::force_state(db, old.id, JobState::Completed).await.unwrap();

    let scheduler = Scheduler::new(db.clone(), Default::default());
    let now = time::now();
    let pass = scheduler.pass(now).await.unwrap();
    assert_eq!(pass.created, 1);
    let jobs = jobs_of(db, acme).await;
    assert_eq!(jobs.len(), 2);
    let catch_up = jobs[1].tick.unwrap();
    assert!(now - catch_up < TimeDelta::minutes(1), "the catch-up job is for the latest tick");
    // Another scheduler (another replica) in the same minute creates nothing more.
    let other = Scheduler::new(db.clone(), Default::default());
    assert_eq!(other.pass(now).await.unwrap().created, 0);
    assert_eq!(scheduler.pass(now).await.unwrap().created, 0);
});

db_test!(async fn disabling_or_editing_a_provider_takes_effect_without_restart(test_db) {
    let db = &test_db.db;
    let acme = provider(db, "acme", "http://127.0.0.1:9/feed.xml", "* * * * * *").await;
    let scheduler = Scheduler::new(db.clone(), Default::default());
    let start = time::now() + TimeDelta::seconds(2);
    assert_eq!(scheduler.pass(start).await.unwrap().created, 1);
    let first = jobs_of(db, acme).await[0].clone();
    query::job::force_state(db, first.id, JobState::Completed).await.unwrap();

    query::provider::set_enabled(db, "acme", false).await.unwrap();
    assert_eq!(scheduler.pass(start + TimeDelta::seconds(5)).await.unwrap().created, 0);

    // Re-enabled with a daily schedule whose tick is half a day away (whatever the time of
    // day the test runs at): nothing is due now.
    query::provider::set_enabled(db, "acme", true).await.unwrap();
    let hour = (start + TimeDelta::hours(12)).hour();
    let changes = ProviderChanges {
        schedule: Some(format!("0 0 {hour} * * *").parse().unwrap()),
        ..Default::default()
    };
    query::provider::upsert(db, &"acme".parse().unwrap(), changes).await.unwrap();
    let pass = scheduler.pass(start + TimeDelta::seconds(6)).await.unwrap();
    assert_eq!(pass.created, 0);
    assert!(pass.next_tick.unwrap() > start + TimeDelta::hours(1));
});

/// A fault gives a failed job of `kind`, and as many retries as the policy allows.
async fn fault_and_retries(test_db: TestDb, fault: Fault, kind: ErrorKind, attempts: usize) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_fault(fault.clone());
    // A daily schedule keeps the next tick out of the way of the retries.
    let acme = provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    query::job::enqueue(db, NewJob::manual(acme, time::now()))
        .await
        .unwrap();
    run_worker_for(db, fast_settings(), Duration::from_millis(4_500)).await;

    let jobs = jobs_of(db, acme).await;
    assert_eq!(jobs.len(), attempts, "{fault:?}: {jobs:#?}");
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job.state, JobState::Failed, "{fault:?}");
        assert_eq!(job.attempt, i32::try_from(i + 1).unwrap());
        let outcome = query::job_outcome::find(db, job.id).await.unwrap().unwrap();
        assert_eq!(outcome.error_kind, Some(kind), "{fault:?}");
        if i > 0 {
            assert_eq!(job.trigger, JobTrigger::Retry);
            assert_eq!(job.retry_of, Some(jobs[i - 1].id));
            assert!(
                job.run_at > jobs[i - 1].finished_at.unwrap(),
                "a retry waits its backoff"
            );
        }
    }
    assert_job_invariants(db, acme).await;
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 0);
}

db_test!(async fn a_server_error_is_retried_up_to_the_attempt_limit(test_db) {
    fault_and_retries(test_db, Fault::Status { status: 503 }, ErrorKind::HttpStatus, 3).await;
});

db_test!(async fn a_timeout_is_retried_up_to_the_attempt_limit(test_db) {
    fault_and_retries(test_db, Fault::Hang, ErrorKind::Timeout, 3).await;
});

db_test!(async fn an_oversized_feed_is_retried_up_to_the_attempt_limit(test_db) {
    fault_and_retries(test_db, Fault::Oversized { bytes: 100 * 1024 }, ErrorKind::TooLarge, 3).await;
});

db_test!(async fn a_malformed_feed_is_not_retried(test_db) {
    fault_and_retries(test_db, Fault::Malformed, ErrorKind::Parse, 1).await;
});

db_test!(async fn a_truncated_feed_is_not_retried(test_db) {
    fault_and_retries(test_db, Fault::Truncate, ErrorKind::Parse, 1).await;
});

db_test!(async fn retry_after_is_honoured(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_fault(Fault::TooManyRequests { retry_after_secs: 1 });
    let acme = provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap();
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(worker::run(db.clone(), fast_settings(), shutdown.clone()));
    // The retry is due a second after the 429, not after the 100 ms backoff.
    tokio::time::sleep(Duration::from_millis(700)).await;
    sim.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    shutdown.cancel();
    worker.await.unwrap();
    let jobs = jobs_of(db, acme).await;
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    let failed_at = jobs[0].finished_at.unwrap();
    assert!(jobs[1].run_at - failed_at >= TimeDelta::milliseconds(990), "{jobs:#?}");
    assert_eq!(jobs[1].state, JobState::Completed);
    assert_job_invariants(db, acme).await;
});

db_test!(async fn shutdown_interrupts_what_outlasts_the_grace_period(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_fault(Fault::Slow { delay_ms: 60_000 });
    let acme = provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    // A generous total timeout: the job is still fetching when the grace period ends.
    let changes = ProviderChanges {
        limits: Some(FetchLimits { total_timeout_ms: 60_000, read_timeout_ms: 60_000, ..FetchLimits::default() }),
        ..Default::default()
    };
    query::provider::upsert(db, &"acme".parse().unwrap(), changes).await.unwrap();
    query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap();
    let started = std::time::Instant::now();
    run_worker_for(db, fast_settings(), Duration::from_millis(500)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "stopped within the grace period");

    let jobs = jobs_of(db, acme).await;
    assert_eq!(jobs[0].state, JobState::Failed);
    let outcome = query::job_outcome::find(db, jobs[0].id).await.unwrap().unwrap();
    assert_eq!(outcome.error_kind, Some(ErrorKind::Interrupted));
    assert_eq!(jobs.len(), 2, "an interrupted job gets its retry");
    assert_eq!(jobs[1].state, JobState::Pending);
    assert_job_invariants(db, acme).await;
});

db_test!(async fn a_worker_announces_itself_beats_while_it_runs_and_says_it_stopped(test_db) {
    use entity::query::worker::{Liveness, liveness};
    let db = &test_db.db;
    let settings = WorkerSettings { worker_id: "w-announced".to_owned(), ..fast_settings() };
    let stop = CancellationToken::new();
    let worker = tokio::spawn(worker::run(db.clone(), settings, stop.clone()));
    // Heartbeats every 500 ms: after 1.2 s the row is there and has beaten since it started.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let rows = query::worker::recent(db, time::now() - TimeDelta::minutes(1)).await.unwrap();
    let row = rows.iter().find(|w| w.id == "w-announced").expect("the worker's row");
    assert_eq!((row.pid, row.concurrency, row.schedules, row.heartbeat_every_ms), (i64::from(std::process::id()), 4, true, 500));
    assert!(row.heartbeat_at > row.started_at, "{row:?}");
    assert_eq!(liveness(row, time::now()), Liveness::Live);
    assert_eq!(liveness(row, time::now() + TimeDelta::seconds(2)), Liveness::Lost, "three beats missed");
    stop.cancel();
    worker.await.unwrap();
    let rows = query::worker::recent(db, time::now() - TimeDelta::minutes(1)).await.unwrap();
    let row = rows.iter().find(|w| w.id == "w-announced").unwrap();
    assert!(row.stopped_at.is_some());
    assert_eq!(liveness(row, time::now() + TimeDelta::hours(1)), Liveness::Stopped);
    // Retention forgets it a week after its last heartbeat.
    ingestor::maintenance::prune(db, TimeDelta::days(30), time::now() + TimeDelta::days(8)).await.unwrap();
    assert!(query::worker::recent(db, DateTime::UNIX_EPOCH).await.unwrap().is_empty());
});

db_test!(async fn an_expired_lease_is_rescued_as_interrupted_and_retried(test_db) {
    let db = &test_db.db;
    let acme = provider(db, "acme", "http://127.0.0.1:9/feed.xml", "0 0 0 1 1 * 2100").await;
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap() else {
        panic!("created");
    };
    // A worker claims it, then dies: no heartbeat ever renews the lease.
    let now = time::now();
    let claim = Claim { worker_id: "dead-worker", now, lease_until: now + TimeDelta::milliseconds(100) };
    let claimed = query::job::claim_by_id(db, job.id, &claim).await.unwrap().unwrap();
    assert_eq!(ingestor::maintenance::rescue_expired(db, now).await.unwrap(), 0, "not expired yet");
    let later = now + TimeDelta::seconds(1);
    assert_eq!(ingestor::maintenance::rescue_expired(db, later).await.unwrap(), 1);
    assert_eq!(ingestor::maintenance::rescue_expired(db, later).await.unwrap(), 0, "rescued once");

    let jobs = jobs_of(db, acme).await;
    assert_eq!(jobs[0].state, JobState::Failed);
    let outcome = query::job_outcome::find(db, job.id).await.unwrap().unwrap();
    assert_eq!(outcome.error_kind, Some(ErrorKind::Interrupted));
    assert!(outcome.error_message.unwrap().contains("dead-worker"));
    assert_eq!(jobs[1].retry_of, Some(job.id));
    assert_eq!(jobs[1].attempt, 2);
    // The dead worker's late commit changes nothing: its lease is gone.
    assert!(!query::job::finish(db, &claimed, JobState::Completed, later).await.unwrap());
    assert_eq!(query::job::find(db, job.id).await.unwrap().unwrap().state, JobState::Failed);
});

/// Two claimers with their own pools race for the same jobs; each job goes to one of them.
async fn claimers_never_double_claim(test_db: TestDb) {
    let db = &test_db.db;
    let mut expected = HashSet::new();
    for i in 0..120 {
        let p = provider(
            db,
            &format!("p{i}"),
            "http://127.0.0.1:9/x",
            "0 0 0 1 1 * 2100",
        )
        .await;
        let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(p, time::now()))
            .await
            .unwrap()
        else {
            panic!("created");
        };
        expected.insert(job.id);
    }
    let claimer = |db: DatabaseConnection, name: &'static str| async move {
        let mut mine: Vec<JobId> = Vec::new();
        loop {
            let now = time::now();
            let claim = Claim {
                worker_id: name,
                now,
                lease_until: now + TimeDelta::seconds(30),
            };
            let jobs = query::job::claim_next(&db, &claim, 3).await.unwrap();
            if jobs.is_empty() {
                return mine;
            }
            mine.extend(jobs.iter().map(|j| j.id));
        }
    };
    let (a, b) = tokio::join!(
        claimer(test_db.connect_again().await, "a"),
        claimer(test_db.connect_again().await, "b")
    );
    let a: HashSet<_> = a.into_iter().collect();
    let b: HashSet<_> = b.into_iter().collect();
    assert!(a.is_disjoint(&b), "a job was claimed twice");
    let all: HashSet<_> = a.union(&b).copied().collect();
    assert_eq!(all, expected, "every job was claimed");
    // How the work splits between the two is not asserted: SQLite's single writer may let one
    // claimer take every batch before the other's first statement runs, and that is correct.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_never_double_claim_on_sqlite() {
    claimers_never_double_claim(TestDb::migrated(test_support::Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_never_double_claim_on_postgres() {
    claimers_never_double_claim(TestDb::migrated(test_support::Backend::Postgres).await).await;
}

db_test!(async fn retention_prunes_old_finished_jobs_and_keeps_events(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let acme = provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    collect_acme(db).await;
    let Enqueued::Created(pending) = query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap() else {
        panic!("created");
    };
    let later = Utc::now() + TimeDelta::days(31);
    let pruned = ingestor::maintenance::prune(db, TimeDelta::days(30), later).await.unwrap();
    assert_eq!(pruned, 1);
    let jobs = jobs_of(db, acme).await;
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [pending.id], "pending jobs stay");
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 3, "events are never pruned");
});

/// A job ends when its writes are done: with a store slowed down by a second (a trigger on
/// `event` that sleeps), its finish and duration include that second.
#[tokio::test]
async fn a_jobs_duration_includes_its_store() {
    use sea_orm::ConnectionTrait as _;
    let test_db = TestDb::migrated(test_support::Backend::Postgres).await;
    let db = &test_db.db;
    db.execute_unprepared(
        "CREATE FUNCTION slow_store() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$; \
         CREATE TRIGGER slow_store AFTER INSERT ON event \
         FOR EACH STATEMENT EXECUTE FUNCTION slow_store();",
    )
    .await
    .unwrap();
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let acme = provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.status, JobState::Completed, "{report:?}");
    assert!(report.outcome.inserted > 0);
    let duration = report.outcome.duration_ms.unwrap();
    assert!(
        duration >= 1_000,
        "{duration} ms: the store's second is missing"
    );
    // The second is the store's, not the fetch's nor the parser's.
    let outcome = &report.outcome;
    let (fetch, parse, store) = (
        outcome.fetch_ms.unwrap(),
        outcome.parse_ms.unwrap(),
        outcome.store_ms.unwrap(),
    );
    assert!(store >= 1_000, "store {store} ms");
    assert!(store <= duration, "store {store} ms within {duration} ms");
    assert!(
        fetch < 1_000 && parse < 1_000,
        "fetch {fetch} ms, parse {parse} ms"
    );
    let job = jobs_of(db, acme).await.pop().unwrap();
    let finished = job.finished_at.unwrap();
    assert_eq!(
        Some(finished),
        report.outcome.finished_at,
        "the job and its outcome agree"
    );
    assert!(finished - job.started_at.unwrap() >= TimeDelta::seconds(1));
    // The change log says it completed at that instant too.
    let log = query::job_transition::replay(db, 0, DateTime::UNIX_EPOCH, Some(acme), 10)
        .await
        .unwrap();
    assert_eq!(
        log.last().map(|t| (t.change.state, t.change.at)),
        Some((JobState::Completed, finished))
    );
}

// A slow provider's time is the fetch's: the phases say where a job's time went.
db_test!(async fn a_slow_providers_time_is_the_fetchs(test_db) {
    use test_support::simulator::Fault;
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_fault(Fault::Slow { delay_ms: 700 });
    provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    let report = collect_acme(db).await;
    let outcome = &report.outcome;
    assert_eq!(outcome.status, JobState::Completed, "{report:?}");
    let (fetch, parse, store) = (outcome.fetch_ms.unwrap(), outcome.parse_ms.unwrap(), outcome.store_ms.unwrap());
    let duration = outcome.duration_ms.unwrap();
    assert!(fetch >= 700, "fetch {fetch} ms");
    assert!(fetch <= duration, "fetch {fetch} ms within {duration} ms");
    assert!(parse < 700 && store < 700, "parse {parse} ms, store {store} ms");

    // A failure records the phases it reached: a fetch, no parse, no store.
    sim.set_fault(Fault::Status { status: 503 });
    let report = collect_acme(db).await;
    let outcome = &report.outcome;
    assert_eq!(outcome.status, JobState::Failed, "{report:?}");
    assert!(outcome.fetch_ms.is_some());
    assert_eq!((outcome.parse_ms, outcome.store_ms), (None, None));
});

/// Rows in `event_stage` (PostgreSQL; SQLite stages nothing).
async fn staged_rows(db: &DatabaseConnection) -> i64 {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    if db.get_database_backend() != DbBackend::Postgres {
        return 0;
    }
    let sql = "SELECT count(*) FROM event_stage";
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

db_test!(async fn staged_events_of_a_job_that_lost_its_lease_are_never_written_and_cleared(test_db) {
    use entity::query::event::EventWrite;
    use ingestor::{collector::{self, CollectSettings, Feed, Fetcher}, store::{self, Committed}};
    let db = &test_db.db;
    let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let acme = provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap() else {
        panic!("created");
    };
    let now = time::now();
    let claim = Claim { worker_id: "slow-worker", now, lease_until: now + TimeDelta::milliseconds(100) };
    let claimed = query::job::claim_by_id(db, job.id, &claim).await.unwrap().unwrap();
    let model = query::provider::find_by_id(db, acme).await.unwrap().unwrap();
    let settings = CollectSettings::allowing_private();
    let collected = collector::collect(&Fetcher::new(settings.destinations), &model, &settings)
        .await
        .unwrap();
    let Feed::Read(feed) = &collected.feed else { panic!("a new body is read") };
    assert!(!feed.records.is_empty());

    // The worker stages its events, then stalls past its lease.
    let writes: Vec<EventWrite<'_>> = feed
        .records
        .iter()
        .map(|record| EventWrite { id: record.id("acme"), record, content_hash: record.content_hash() })
        .collect();
    let staged = query::event::stage(db, claimed.id, acme, &writes, &[], now).await.unwrap();
    assert!(!staged.is_empty());
    let expected = if postgres { writes.len() as i64 } else { 0 };
    assert_eq!(staged_rows(db).await, expected);
    assert_eq!(query::event::clear_abandoned_stages(db).await.unwrap(), 0, "its job still runs");
    assert_eq!(staged_rows(db).await, expected);

    // Rescued: the staged rows are abandoned, and the rescuer's sweep drops them.
    assert_eq!(ingestor::maintenance::rescue_expired(db, now + TimeDelta::seconds(1)).await.unwrap(), 1);
    assert_eq!(query::event::clear_abandoned_stages(db).await.unwrap(), expected as u64);
    assert_eq!(staged_rows(db).await, 0);

    // Its late commit (stage, then a transaction that finds the lease gone) writes no event
    // and drops what it staged.
    let committed = store::complete(db, &claimed, &model, &collected, None, time::now()).await.unwrap();
    assert_eq!(committed, Committed::LeaseLost);
    assert_eq!(staged_rows(db).await, 0);
    assert!(query::event::list_for_provider(db, acme).await.unwrap().is_empty());
    assert_eq!(query::job::find(db, job.id).await.unwrap().unwrap().state, JobState::Failed);
});

db_test!(async fn a_cancelled_job_stops_collecting_writes_nothing_and_is_not_retried(test_db) {
    use query::job::Cancelled;
    use sea_orm::EntityTrait as _;
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    // Slower to answer than a heartbeat, faster than the fetch's own limit (1.5 s).
    sim.set_fault(Fault::Slow { delay_ms: 1_200 });
    let acme = provider(db, "acme", &sim.url(), "0 0 0 1 1 * 2100").await;
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap() else {
        panic!("created");
    };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(worker::run(db.clone(), fast_settings(), shutdown.clone()));
    let started = std::time::Instant::now();
    while query::job::find(db, job.id).await.unwrap().unwrap().state != JobState::Running {
        assert!(started.elapsed() < Duration::from_secs(5), "the worker claims the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let cancelled = query::job::cancel(db, job.id, "`ops`", time::now()).await.unwrap();
    assert!(matches!(cancelled, Cancelled::Now { was: JobState::Running, .. }), "{cancelled:?}");
    // Past the provider's answer and the worker's next heartbeats.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), worker).await.unwrap().unwrap();

    let jobs = jobs_of(db, acme).await;
    assert_eq!(jobs.len(), 1, "a cancelled job is not retried: {jobs:?}");
    assert_eq!(jobs[0].state, JobState::Failed);
    let outcome = query::job_outcome::find(db, job.id).await.unwrap().unwrap();
    assert_eq!(outcome.error_kind, Some(ErrorKind::Cancelled));
    assert_eq!(outcome.error_message.as_deref(), Some("cancelled by `ops` while running"));
    assert_eq!(outcome.inserted, 0);
    assert!(query::event::list_for_provider(db, acme).await.unwrap().is_empty(), "nothing written");
    assert_eq!(sim.request_count(), 1);

    // A pending job ends at once; an ended job cannot be cancelled; an unknown one is not found.
    let Enqueued::Created(pending) = query::job::enqueue(db, NewJob::manual(acme, time::now())).await.unwrap() else {
        panic!("created");
    };
    let now = time::now();
    let Cancelled::Now { job: ended, was } = query::job::cancel(db, pending.id, "`ops`", now).await.unwrap() else {
        panic!("a pending job is cancelled");
    };
    assert_eq!((was, ended.state), (JobState::Pending, JobState::Failed));
    assert_eq!(ended.finished_at.map(|t| t.timestamp_millis()), Some(time::truncate(now).timestamp_millis()));
    assert!(matches!(
        query::job::cancel(db, pending.id, "`ops`", time::now()).await.unwrap(),
        Cancelled::AlreadyEnded(_)
    ));
    assert_eq!(query::job::cancel(db, JobId(999_999), "`ops`", time::now()).await.unwrap(), Cancelled::NotFound);
    let health = entity::provider_health::Entity::find_by_id(acme).one(db).await.unwrap().unwrap();
    assert_eq!(health.last_error_kind, Some(ErrorKind::Cancelled));
});
