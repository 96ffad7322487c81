//! Retention pruning against a big job table, and what it does to the workers meanwhile.
//!
//! `cargo bench -p ingestor --bench retention [-- --expired 1000000 --kept 1000000
//!  --providers 500 --workers 4 --baseline-seconds 10]`
//!
//! Seeds a fresh PostgreSQL database by SQL with `--expired` finished jobs (and outcomes) older
//! than the 30-day retention and `--kept` younger ones, over `--providers` providers. Then
//! `--workers` loops do what a worker does per job, as fast as they can: enqueue a job, claim
//! it, finish it (failed, with its outcome and health, through the worker's own store path).
//! They run alone for `--baseline-seconds`, then while [`maintenance::prune`] deletes every
//! expired job. Printed: claim and finish latencies (p50, p99, max) without and during the
//! prune, in the same run, and the prune's time and rate.

#![allow(
    clippy::expect_used,
    reason = "a benchmark stops loudly at the first thing that does not work"
)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use entity::{
    ErrorKind, JobTrigger, ProviderId,
    query::{
        self,
        job::{Claim, NewJob},
        job_outcome::Finished,
    },
    time,
};
use ingestor::{maintenance, store};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use test_support::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RETENTION_DAYS: i64 = 30;

/// Jobs, outcomes and job counts by SQL: expired ones spread over the 10 days before the
/// retention's limit, kept ones over the 30 days after it; one in ten failed.
fn seed_sql(expired: usize, kept: usize, providers: usize) -> String {
    format!(
        "ALTER TABLE job DISABLE TRIGGER USER;
         INSERT INTO provider (name, kind, url, schedule, enabled, time_zone, connect_timeout_ms,
             read_timeout_ms, total_timeout_ms, max_body_bytes, max_attempts,
             retry_base_delay_ms, created_at, updated_at)
         SELECT 'p' || p, 'fever_xml', 'http://127.0.0.1:9/feed.xml', '0 * * * * *', false,
             'UTC', 5000, 15000, 60000, 268435456, 3, 2000, now(), now()
         FROM generate_series(1, {providers}) p;
         INSERT INTO job (provider_id, state, trigger, tick, scheduled_for, attempt, run_at,
             started_at, finished_at, worker_id, heartbeat_at, created_at)
         SELECT 1 + g % {providers}, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END,
             'schedule', ts, ts, 1, ts, ts, ts + interval '1 s', 'seed', ts, ts
         FROM (SELECT g, now() - interval '40 days' + g * (interval '10 days' / {expired}) AS ts
               FROM generate_series(1::bigint, {expired}) g) s;
         INSERT INTO job (provider_id, state, trigger, tick, scheduled_for, attempt, run_at,
             started_at, finished_at, worker_id, heartbeat_at, created_at)
         SELECT 1 + g % {providers}, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END,
             'schedule', ts, ts, 1, ts, ts, ts + interval '1 s', 'seed', ts, ts
         FROM (SELECT g, now() - interval '29 days' + g * (interval '29 days' / {kept}) AS ts
               FROM generate_series(1::bigint, {kept}) g) s;
         INSERT INTO job_outcome (job_id, provider_id, status, created_at, processed_at,
             finished_at, duration_ms, error_kind, error_message, http_status, bytes,
             feed_unchanged, empty_feed, seen, inserted, updated, unchanged, rejected)
         SELECT id, provider_id, state, created_at, finished_at, finished_at, 1000,
             CASE WHEN state = 'failed' THEN 'timeout' END,
             CASE WHEN state = 'failed' THEN 'the provider did not answer in time' END,
             200, 100000, false, false, 100, 0, 1, 99, 0
         FROM job;
         DELETE FROM job_count;
         INSERT INTO job_count (provider_id, state, n)
         SELECT provider_id, state, count(*) FROM job GROUP BY provider_id, state;
         ALTER TABLE job ENABLE TRIGGER USER;"
    )
}

/// Latencies of one phase, in microseconds.
#[derive(Default)]
struct Latencies {
    claim: Vec<u64>,
    finish: Vec<u64>,
}

/// One worker's loop over its own providers until `stop`: enqueue, claim, finish.
async fn work(
    db: DatabaseConnection,
    worker: usize,
    providers: Vec<i64>,
    record: Arc<Mutex<Latencies>>,
    stop: CancellationToken,
) {
    let worker_id = format!("bench-{worker}");
    for provider in providers.iter().cycle() {
        if stop.is_cancelled() {
            break;
        }
        let now = time::now();
        query::job::enqueue(
            &db,
            NewJob {
                provider_id: ProviderId(*provider),
                trigger: JobTrigger::Manual,
                tick: None,
                scheduled_for: now,
                run_at: now,
                attempt: 1,
                retry_of: None,
                replay_of: None,
            },
        )
        .await
        .expect("a job is enqueued");
        let claim = Claim {
            worker_id: &worker_id,
            now: time::now(),
            lease_until: time::now() + TimeDelta::seconds(60),
        };
        let started = Instant::now();
        let claimed = query::job::claim_next(&db, &claim, 1)
            .await
            .expect("a claim runs");
        let claimed_us = started.elapsed().as_micros() as u64;
        let Some(job) = claimed.into_iter().next() else {
            continue;
        };
        let finished = Finished {
            finished_at: time::now(),
            error: Some((ErrorKind::Timeout, "bench".to_owned())),
            ..Finished::default()
        };
        let started = Instant::now();
        store::fail(&db, &job, finished, None, None, None)
            .await
            .expect("the job is finished");
        let finished_us = started.elapsed().as_micros() as u64;
        let mut record = record.lock().expect("not poisoned");
        record.claim.push(claimed_us);
        record.finish.push(finished_us);
    }
}

/// Runs the workers until `phase` ends; returns their latencies.
async fn measure<F: Future<Output = ()>>(
    test_db: &TestDb,
    workers: usize,
    providers: usize,
    phase: F,
) -> Latencies {
    let record = Arc::new(Mutex::new(Latencies::default()));
    let stop = CancellationToken::new();
    let mut loops = Vec::with_capacity(workers);
    for worker in 0..workers {
        let own: Vec<i64> = (1..=providers as i64)
            .filter(|p| *p as usize % workers == worker)
            .collect();
        loops.push(tokio::spawn(work(
            test_db.connect_again().await,
            worker,
            own,
            Arc::clone(&record),
            stop.clone(),
        )));
    }
    phase.await;
    stop.cancel();
    for worker in loops {
        worker.await.expect("a worker loop stops");
    }
    std::mem::take(&mut *record.lock().expect("not poisoned"))
}

fn summary(label: &str, mut micros: Vec<u64>, seconds: f64) -> String {
    micros.sort_unstable();
    let at = |p: f64| {
        let index = ((micros.len().saturating_sub(1)) as f64 * p).round() as usize;
        micros.get(index).copied().unwrap_or(0) as f64 / 1000.0
    };
    format!(
        "{label}: {} ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        micros.len(),
        micros.len() as f64 / seconds,
        at(0.50),
        at(0.99),
        micros.last().copied().unwrap_or(0) as f64 / 1000.0
    )
}

#[tokio::main]
async fn main() {
    test_support::init_test_logging();
    let expired = test_support::cli_arg("--expired", 1_000_000usize);
    let kept = test_support::cli_arg("--kept", 1_000_000usize);
    let providers = test_support::cli_arg("--providers", 500usize);
    let workers = test_support::cli_arg("--workers", 4usize);
    let baseline_seconds = test_support::cli_arg("--baseline-seconds", 10u64);

    let test_db = TestDb::migrated(Backend::Postgres).await;
    let seeding = Instant::now();
    test_db
        .db
        .execute_unprepared(&seed_sql(expired, kept, providers))
        .await
        .expect("the job history is seeded");
    for table in ["job", "job_outcome"] {
        test_db
            .db
            .execute_unprepared(&format!("VACUUM ANALYZE {table}"))
            .await
            .expect("the seeded tables are vacuumed");
    }
    println!(
        "retention benchmark: {expired} expired + {kept} kept jobs over {providers} providers \
         (seeded in {:.0} s), {workers} worker loops",
        seeding.elapsed().as_secs_f64()
    );

    let sizes = test_db
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            test_db.db.get_database_backend(),
            "SELECT pg_total_relation_size('job')::bigint, \
             pg_total_relation_size('job_outcome')::bigint",
        ))
        .await
        .expect("sizes are read")
        .expect("one row");
    let jobs = (expired + kept).max(1) as f64;
    let job_bytes: i64 = sizes.try_get_by_index(0).expect("job's size");
    let outcome_bytes: i64 = sizes.try_get_by_index(1).expect("job_outcome's size");
    println!(
        "stored: {:.0} bytes per job, {:.0} per outcome (tables with their indexes)",
        job_bytes as f64 / jobs,
        outcome_bytes as f64 / jobs
    );

    let started = Instant::now();
    let alone = measure(&test_db, workers, providers, async {
        tokio::time::sleep(Duration::from_secs(baseline_seconds)).await;
    })
    .await;
    let alone_seconds = started.elapsed().as_secs_f64();

    let pruned = Arc::new(Mutex::new(0usize));
    let started = Instant::now();
    let during = measure(&test_db, workers, providers, {
        let (db, pruned) = (test_db.db.clone(), Arc::clone(&pruned));
        async move {
            let n = maintenance::prune(&db, TimeDelta::days(RETENTION_DAYS), time::now())
                .await
                .expect("the prune runs");
            *pruned.lock().expect("not poisoned") = n;
        }
    })
    .await;
    let prune_seconds = started.elapsed().as_secs_f64();
    let pruned = *pruned.lock().expect("not poisoned");

    println!(
        "prune: {pruned} jobs (with their outcomes) in {prune_seconds:.1} s, {:.0} jobs/s",
        pruned as f64 / prune_seconds
    );
    println!("{}", summary("claims alone", alone.claim, alone_seconds));
    println!(
        "{}",
        summary("claims during the prune", during.claim, prune_seconds)
    );
    println!("{}", summary("finishes alone", alone.finish, alone_seconds));
    println!(
        "{}",
        summary("finishes during the prune", during.finish, prune_seconds)
    );
}
