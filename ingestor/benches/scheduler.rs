//! The scheduler and job processor under load: many providers on one PostgreSQL database.
//!
//! `cargo bench -p ingestor --bench scheduler [-- --providers 200 --events 1000 --seconds 60
//!  --concurrency 16 --cycle 10 --replicas 1 --changed-percent 1 --warmup 0]`
//!
//! Each provider has its own simulator on loopback serving a generated feed. Schedules run
//! every `--cycle` seconds (a divisor of 60), spread over the seconds of the cycle
//! ("s/cycle * * * * *" for s = provider mod cycle), as real providers' schedules are spread.
//! Every cycle, `--changed-percent` of the providers (a different slice each time) change one
//! event in a hundred; the others answer 304. `--replicas` workers (scheduler + processor),
//! each on its own connection pool as separate `ingestor run` processes would be, run them
//! for `--warmup` seconds (the first collection of every feed) and then `--seconds` measured.
//!
//! Printed, over the measured time: jobs per second and per replica; the delay from a job's
//! due time to its start (p50, p99, max); job durations; every schedule tick due in the
//! window checked to have exactly one job (missed and doubled ticks); and the database's load
//! (commits, rows written, CPU time of the PostgreSQL processes read from /proc, and the most
//! connections open at once, sampled every 250 ms).

#![allow(
    clippy::expect_used,
    reason = "a benchmark stops loudly at the first thing that does not work"
)]

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use axum::body::Bytes;
use chrono::{DateTime, Timelike, Utc};

use entity::{
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

/// `feed` with `sold_out` flipped on every hundredth event, starting at the `variant`-th: a
/// changed feed with 1 % of its events changed.
fn variant(feed: &str, variant: usize) -> Bytes {
    let mut next = String::with_capacity(feed.len());
    for (n, piece) in feed.split("sold_out=\"false\"").enumerate() {
        if n > 0 {
            next.push_str(if n % 100 == variant % 100 {
                "sold_out=\"true\""
            } else {
                "sold_out=\"false\""
            });
        }
        next.push_str(piece);
    }
    next.into()
}

/// Connections open to the benchmark's database now.
async fn connections(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*)::bigint FROM pg_stat_activity WHERE datname = current_database()",
        ))
        .await
        .expect("query runs")
        .expect("one row");
    row.try_get_by_index(0).expect("a count")
}

/// One job, as the report needs it.
struct JobRow {
    provider_id: i64,
    trigger: String,
    state: String,
    worker_id: Option<String>,
    run_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    /// The outcome's error kind and the start of its message, for a failed job.
    error: Option<String>,
}

async fn jobs(db: &DatabaseConnection) -> Vec<JobRow> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT j.provider_id, j.trigger::text, j.state::text, j.worker_id, j.run_at, \
             j.started_at, j.finished_at, o.error_kind::text || ': ' || left(o.error_message, 80) \
             FROM job j LEFT JOIN job_outcome o ON o.job_id = j.id",
        ))
        .await
        .expect("jobs are read");
    rows.into_iter()
        .map(|row| JobRow {
            provider_id: row.try_get_by_index(0).expect("provider_id"),
            trigger: row.try_get_by_index(1).expect("trigger"),
            state: row.try_get_by_index(2).expect("state"),
            worker_id: row.try_get_by_index(3).expect("worker_id"),
            run_at: row.try_get_by_index(4).expect("run_at"),
            started_at: row.try_get_by_index(5).expect("started_at"),
            finished_at: row.try_get_by_index(6).expect("finished_at"),
            error: row.try_get_by_index(7).expect("error"),
        })
        .collect()
}

#[tokio::main]
async fn main() {
    test_support::init_test_logging();
    // Every simulator is a listening socket of this process, and every kept connection counts
    // twice (its client and its server side).
    lifecycle::raise_open_files_limit();
    let providers = arg("--providers", 200);
    let events = arg("--events", 1_000);
    let seconds = arg("--seconds", 60);
    let concurrency = arg("--concurrency", 16);
    let cycle = arg("--cycle", 10);
    let replicas = arg("--replicas", 1).max(1);
    let changed_percent = arg("--changed-percent", 1);
    let warmup = arg("--warmup", 0);
    assert!(
        (1..=60).contains(&cycle) && 60 % cycle == 0,
        "--cycle divides a minute"
    );

    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let mut simulators = Vec::with_capacity(providers);
    let mut feeds = Vec::with_capacity(providers);
    let mut ids = Vec::with_capacity(providers);
    for i in 0..providers {
        let spec = feedgen::FeedSpec {
            seed: i as u64,
            ..feedgen::FeedSpec::sized(events, 3)
        };
        let first = feedgen::generate(&spec);
        let sim = ProviderSimulator::start(vec![first.clone().into()]).await;
        let schedule = if cycle == 60 {
            format!("{} * * * * *", i % 60)
        } else {
            format!("{}/{cycle} * * * * *", i % cycle)
        };
        let changes = ProviderChanges {
            url: Some(sim.url().parse().expect("a URL")),
            schedule: Some(schedule.parse().expect("a schedule")),
            limits: Some(FetchLimits::default()),
            ..Default::default()
        };
        let saved =
            query::provider::upsert(db, &format!("p{i:04}").parse().expect("a name"), changes)
                .await
                .expect("the provider is saved");
        ids.push(saved.model().id.0);
        simulators.push(sim);
        feeds.push(first);
    }
    let offsets: HashMap<i64, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i % cycle))
        .collect();

    let shutdown = CancellationToken::new();
    let mut workers = Vec::with_capacity(replicas);
    for replica in 0..replicas {
        let settings = WorkerSettings {
            worker_id: format!("replica-{replica}"),
            concurrency,
            poll_interval: Duration::from_millis(200),
            runner: ingestor::jobs::RunnerSettings {
                // The simulators listen on loopback.
                collect: ingestor::collector::CollectSettings::allowing_private(),
                ..ingestor::jobs::RunnerSettings::default()
            },
            ..WorkerSettings::default()
        };
        let pool = test_db.connect_again().await;
        workers.push(tokio::spawn(worker::run(pool, settings, shutdown.clone())));
    }

    // Every cycle, a slice of the providers changes its feed.
    let changers = shutdown.clone();
    let changed_per_cycle = providers * changed_percent / 100;
    let feeder = tokio::spawn(async move {
        let mut round = 0usize;
        let mut every = tokio::time::interval(Duration::from_secs(cycle as u64));
        every.tick().await;
        loop {
            tokio::select! {
                () = changers.cancelled() => break,
                _ = every.tick() => {}
            }
            round += 1;
            for k in 0..changed_per_cycle {
                let i = (round * changed_per_cycle + k) % providers.max(1);
                simulators[i].set_feeds(vec![variant(&feeds[i], round)]);
            }
        }
        simulators
    });

    tokio::time::sleep(Duration::from_secs(warmup as u64)).await;
    let (commits_before, rows_before) = db_counters(db).await;
    let cpu_before = postgres_cpu_ticks();
    let window_start = time_now();
    let started = std::time::Instant::now();
    let most_connections = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (db, most, stop) = (db.clone(), Arc::clone(&most_connections), shutdown.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                most.fetch_max(connections(&db).await, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(seconds as u64)).await;
    let window_end = time_now();
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_seconds = (postgres_cpu_ticks() - cpu_before) as f64 / 100.0;
    let (commits_after, rows_after) = db_counters(db).await;
    shutdown.cancel();
    for worker in workers {
        worker.await.expect("the worker stops");
    }
    sampler.await.expect("the sampler stops");
    drop(feeder.await.expect("the feeder stops"));

    // Ticks are checked up to one cycle before the end, so each had time to get its job.
    let checked_until = window_end - chrono::TimeDelta::seconds(cycle as i64);
    let all = jobs(db).await;
    let in_window = |at: DateTime<Utc>| at >= window_start && at < window_end;
    let mut delays = Vec::new();
    let mut durations = Vec::new();
    let mut states: HashMap<&str, usize> = HashMap::new();
    let mut per_replica: HashMap<&str, usize> = HashMap::new();
    let mut ticks: HashMap<(i64, DateTime<Utc>), usize> = HashMap::new();
    let mut retries = 0;
    let mut errors: HashMap<&str, usize> = HashMap::new();
    for job in &all {
        if job.trigger == "schedule" && job.run_at >= window_start && job.run_at < checked_until {
            *ticks.entry((job.provider_id, job.run_at)).or_default() += 1;
        }
        if job.trigger == "retry" && in_window(job.run_at) {
            retries += 1;
        }
        if !job.finished_at.is_some_and(in_window) {
            continue;
        }
        *states.entry(job.state.as_str()).or_default() += 1;
        if let Some(error) = &job.error {
            *errors.entry(error.as_str()).or_default() += 1;
        }
        *per_replica
            .entry(job.worker_id.as_deref().unwrap_or("none"))
            .or_default() += 1;
        if let Some(started) = job.started_at {
            delays.push((started - job.run_at).num_milliseconds());
            if let Some(finished) = job.finished_at {
                durations.push((finished - started).num_milliseconds());
            }
        }
    }
    let mut expected = 0;
    let mut missed = 0;
    let seen: HashSet<(i64, DateTime<Utc>)> = ticks.keys().copied().collect();
    let mut second = window_start.with_nanosecond(0).expect("a whole second");
    while second < checked_until {
        if second >= window_start {
            let offset = second.second() as usize % cycle;
            for (&id, _) in offsets.iter().filter(|&(_, &o)| o == offset) {
                expected += 1;
                if !seen.contains(&(id, second)) {
                    missed += 1;
                }
            }
        }
        second += chrono::TimeDelta::seconds(1);
    }
    let doubled = ticks.values().filter(|&&n| n > 1).count();
    delays.sort_unstable();
    durations.sort_unstable();
    let finished: usize = states.values().sum();
    let mut replicas_line: Vec<String> = per_replica
        .iter()
        .map(|(id, n)| format!("{id} {n}"))
        .collect();
    replicas_line.sort();

    println!(
        "scheduler benchmark: {providers} providers x {events} events, schedules every {cycle} s, \
         {changed_percent}% of feeds changed per cycle, {replicas} replica(s) x concurrency \
         {concurrency}, {warmup} s warm-up, {elapsed:.0} s measured"
    );
    println!(
        "jobs finished: {finished} ({:.1} jobs/s): {states:?}; retries queued {retries}; by replica: {}",
        finished as f64 / elapsed,
        replicas_line.join(", ")
    );
    if !errors.is_empty() {
        println!("failures: {errors:?}");
    }
    println!(
        "ticks due in the window: {expected}, with one job: {}, missed: {missed}, with more than one job: {doubled}",
        expected - missed
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
        "database: {} commits ({:.0}/s), {} rows written, PostgreSQL CPU {:.1} s ({:.0}% of one core), \
         at most {} connections open",
        commits_after - commits_before,
        (commits_after - commits_before) as f64 / elapsed,
        rows_after - rows_before,
        cpu_seconds,
        100.0 * cpu_seconds / elapsed,
        most_connections.load(Ordering::Relaxed)
    );
}

fn time_now() -> DateTime<Utc> {
    entity::time::now()
}
