//! The scheduler and job processor under load: many providers on one PostgreSQL database.
//!
//! `cargo bench -p ingestor --bench scheduler [-- --providers 200 --events 1000 --seconds 60
//!  --concurrency 16]`
//!
//! Each provider has its own simulator on loopback serving a generated feed (first snapshot),
//! then the next snapshot with 1% of its events changed, then the same again (304). Schedules
//! are spread over the seconds of a 10-second cycle ("s/10 * * * * *" for s = provider mod 10),
//! as real providers' schedules are spread. One in-process worker (scheduler + processor)
//! runs them for the given time. Printed: jobs per second, the delay from a job's due time to
//! its start (p50, p99, max), job durations, and the database's load over the run (commits,
//! rows written, and CPU time of the PostgreSQL processes, read from /proc).

#![allow(
    clippy::expect_used,
    reason = "a benchmark stops loudly at the first thing that does not work"
)]

use std::time::Duration;

use entity::{
    JobState,
    query::{self, provider::ProviderChanges},
    settings::FetchLimits,
};
use ingestor::worker::{self, WorkerSettings};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use test_support::{Backend, ProviderSimulator, TestDb, feedgen};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: usize) -> usize {
    test_support::cli_arg(name, default)
}

/// CPU time (user + system, in clock ticks) of every `postgres` process.
fn postgres_cpu_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| {
            let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .sum()
}

async fn db_counters(db: &DatabaseConnection) -> (i64, i64) {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT xact_commit::bigint, (tup_inserted + tup_updated + tup_deleted)::bigint \
             FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await
        .expect("query runs")
        .expect("one row");
    (
        row.try_get_by_index(0).expect("commits"),
        row.try_get_by_index(1).expect("rows"),
    )
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    test_support::init_test_logging();
    let providers = arg("--providers", 200);
    let events = arg("--events", 1_000);
    let seconds = arg("--seconds", 60);
    let concurrency = arg("--concurrency", 16);

    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let mut simulators = Vec::with_capacity(providers);
    for i in 0..providers {
        let spec = feedgen::FeedSpec {
            seed: i as u64,
            ..feedgen::FeedSpec::sized(events, 3)
        };
        let first = feedgen::generate(&spec);
        let mut next = String::with_capacity(first.len());
        for (n, piece) in first.split("sold_out=\"false\"").enumerate() {
            if n > 0 {
                next.push_str(if n % 100 == 0 {
                    "sold_out=\"true\""
                } else {
                    "sold_out=\"false\""
                });
            }
            next.push_str(piece);
        }
        let sim = ProviderSimulator::start(vec![first.into(), next.into()]).await;
        let changes = ProviderChanges {
            url: Some(sim.url().parse().expect("a URL")),
            schedule: Some(
                format!("{}/10 * * * * *", i % 10)
                    .parse()
                    .expect("a schedule"),
            ),
            limits: Some(FetchLimits::default()),
            ..Default::default()
        };
        query::provider::upsert(db, &format!("p{i:03}").parse().expect("a name"), changes)
            .await
            .expect("the provider is saved");
        simulators.push(sim);
    }

    let settings = WorkerSettings {
        concurrency,
        poll_interval: Duration::from_millis(200),
        runner: ingestor::jobs::RunnerSettings {
            // The simulators listen on loopback.
            collect: ingestor::collector::CollectSettings::allowing_private(),
            ..ingestor::jobs::RunnerSettings::default()
        },
        ..WorkerSettings::default()
    };
    let (commits_before, rows_before) = db_counters(db).await;
    let cpu_before = postgres_cpu_ticks();
    let shutdown = CancellationToken::new();
    let started = std::time::Instant::now();
    let worker = tokio::spawn(worker::run(db.clone(), settings, shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(seconds as u64)).await;
    shutdown.cancel();
    worker.await.expect("the worker stops");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_seconds = (postgres_cpu_ticks() - cpu_before) as f64 / 100.0;
    let (commits_after, rows_after) = db_counters(db).await;

    let mut delays = Vec::new();
    let mut durations = Vec::new();
    let (mut completed, mut failed, mut pending) = (0, 0, 0);
    for provider in query::provider::list(db).await.expect("providers") {
        for job in query::job::list_for_provider(db, provider.id)
            .await
            .expect("jobs")
        {
            match job.state {
                JobState::Completed => completed += 1,
                JobState::Failed => failed += 1,
                _ => pending += 1,
            }
            if let Some(started) = job.started_at {
                delays.push((started - job.run_at).num_milliseconds());
            }
            if let (Some(s), Some(f)) = (job.started_at, job.finished_at) {
                durations.push((f - s).num_milliseconds());
            }
        }
    }
    delays.sort_unstable();
    durations.sort_unstable();
    let stored = query::event::list_for_provider(db, entity::ProviderId(1))
        .await
        .expect("events")
        .len();
    println!(
        "scheduler benchmark: {providers} providers x {events} events, schedules every 10 s, \
         concurrency {concurrency}, {elapsed:.0} s"
    );
    println!(
        "jobs: {completed} completed, {failed} failed, {pending} pending or running; {:.1} jobs/s",
        (completed + failed) as f64 / elapsed
    );
    println!(
        "due -> start delay: p50 {} ms, p99 {} ms, max {} ms",
        percentile(&delays, 0.50),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(0)
    );
    println!(
        "job duration: p50 {} ms, p99 {} ms, max {} ms",
        percentile(&durations, 0.50),
        percentile(&durations, 0.99),
        durations.last().copied().unwrap_or(0)
    );
    println!(
        "database: {} commits ({:.0}/s), {} rows written, PostgreSQL CPU {:.1} s ({:.0}% of one core)",
        commits_after - commits_before,
        (commits_after - commits_before) as f64 / elapsed,
        rows_after - rows_before,
        cpu_seconds,
        100.0 * cpu_seconds / elapsed
    );
    println!("events stored for the first provider: {stored}");
}
