//! Real `ingestor run` processes on one PostgreSQL database: several replicas at once, a
//! worker killed with SIGKILL mid-job, and the database going away for a while.

use std::{
    process::{ExitStatus, Stdio},
    time::Duration,
};

use chrono::TimeDelta;
use entity::{ErrorKind, JobState, ProviderId, query};
use sea_orm::DatabaseConnection;
use test_support::{Backend, Fault, ProviderSimulator, TestDb, proxy::TcpProxy, sample_feed};
use tokio::process::{Child, Command};

use crate::{support::TestProvider, worker::assert_job_invariants};

/// An `ingestor run` process with quick intervals; its log goes to a file kept with the test.
struct Worker {
    child: Child,
    log: std::path::PathBuf,
}

impl Worker {
    fn spawn(database_url: &str, name: &str, logs: &tempfile::TempDir) -> Self {
        let log = logs.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ingestor"))
            .args([
                "run",
                "--worker-id",
                name,
                "--poll-interval-ms",
                "50",
                "--scheduler-interval-ms",
                "100",
                "--lease-ms",
                "2000",
                "--heartbeat-ms",
                "500",
                "--rescue-interval-ms",
                "200",
                "--shutdown-grace-ms",
                "2000",
            ])
            .env("DATABASE_URL", database_url)
            .env("DATABASE_TIMEOUT_MS", "1000")
            // The provider simulator listens on loopback.
            .env("ALLOW_PRIVATE_PROVIDERS", "true")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id().expect("the worker is running")).unwrap()
    }

    /// SIGTERM, then waits for the exit.
    async fn stop(mut self) -> ExitStatus {
        signal(self.pid(), "-TERM");
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the worker exits after SIGTERM")
            .unwrap();
        assert!(
            status.success(),
            "worker exited with {status}; log:\n{}",
            self.log()
        );
        status
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn signal(pid: i32, which: &str) {
    let status = std::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn provider(db: &DatabaseConnection, url: &str, schedule: &str) -> ProviderId {
    TestProvider {
        schedule: Some(schedule),
        read_timeout_ms: 10_000,
        total_timeout_ms: 10_000,
        ..TestProvider::at(url)
    }
    .save(db)
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_make_one_job_per_tick() {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let acme = provider(db, &sim.url(), "* * * * * *").await;
    let logs = tempfile::tempdir().unwrap();
    let workers: Vec<Worker> = ["w1", "w2", "w3"]
        .iter()
        .map(|name| Worker::spawn(test_db.url.expose(), name, &logs))
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    for worker in workers {
        worker.stop().await;
    }

    let mut jobs = query::job::list_for_provider(db, acme).await.unwrap();
    jobs.sort_by_key(|j| j.tick);
    assert!(
        (8..=12).contains(&jobs.len()),
        "{} jobs in 10 s",
        jobs.len()
    );
    for pair in jobs.windows(2) {
        let gap = pair[1].tick.unwrap() - pair[0].tick.unwrap();
        assert_eq!(
            gap,
            TimeDelta::seconds(1),
            "one job per tick, none missed: {pair:#?}"
        );
    }
    let workers_used: std::collections::HashSet<_> =
        jobs.iter().filter_map(|j| j.worker_id.clone()).collect();
    assert!(
        jobs.iter().all(|j| j.state == JobState::Completed),
        "{jobs:#?}"
    );
    assert_job_invariants(db, acme).await;
    assert!(!workers_used.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_is_rescued_and_its_job_retried() {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        sample_feed("response_2.xml"),
    ])
    .await;
    // A daily schedule: only the jobs this test creates run.
    let acme = provider(db, &sim.url(), "0 0 0 1 1 * 2100").await;
    ingestor::collect::collect_now(
        db,
        "acme",
        ingestor::collector::CollectSettings::allowing_private(),
        &Default::default(),
    )
    .await
    .unwrap();
    let before = query::event::list_for_provider(db, acme).await.unwrap();

    sim.set_fault(Fault::Slow { delay_ms: 8_000 });
    let logs = tempfile::tempdir().unwrap();
    let doomed = Worker::spawn(test_db.url.expose(), "doomed", &logs);
    query::job::enqueue(db, query::job::NewJob::manual(acme, entity::time::now()))
        .await
        .unwrap();
    // Wait until the doomed worker holds the job, then kill it without a chance to react.
    let job = loop {
        let active = query::job::find_active(db, acme).await.unwrap();
        if let Some(job) = active.filter(|j| j.state == JobState::Running) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    signal(doomed.pid(), "-KILL");
    drop(doomed);
    assert_eq!(
        query::event::list_for_provider(db, acme).await.unwrap(),
        before,
        "nothing written yet"
    );

    // A healthy worker rescues the job once its lease expires, and retries it.
    sim.set_fault(Fault::None);
    let rescuer = Worker::spawn(test_db.url.expose(), "rescuer", &logs);
    let retried = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let jobs = query::job::list_for_provider(db, acme).await.unwrap();
            if let Some(retry) = jobs
                .iter()
                .find(|j| j.retry_of == Some(job.id) && j.state == JobState::Completed)
            {
                return retry.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the retry completes");
    rescuer.stop().await;

    let killed = query::job::find(db, job.id).await.unwrap().unwrap();
    assert_eq!(killed.state, JobState::Failed);
    let outcome = query::job_outcome::find(db, job.id).await.unwrap().unwrap();
    assert_eq!(outcome.error_kind, Some(ErrorKind::Interrupted));
    assert_eq!(retried.attempt, 2);
    let after = query::event::list_for_provider(db, acme).await.unwrap();
    assert_ne!(after, before, "the retry stored the new feed");
    assert_job_invariants(db, acme).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_ride_out_a_database_outage() {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let acme = provider(db, &sim.url(), "* * * * * *").await;
    // The workers reach PostgreSQL through a proxy that can drop every connection.
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let through_proxy = test_db
        .url
        .expose()
        .replace("127.0.0.1:5432", &proxy.addr().to_string());
    let logs = tempfile::tempdir().unwrap();
    let workers = [
        Worker::spawn(&through_proxy, "p1", &logs),
        Worker::spawn(&through_proxy, "p2", &logs),
    ];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before_outage = query::job::list_for_provider(db, acme).await.unwrap().len();
    assert!(before_outage >= 2, "jobs ran before the outage");

    proxy.cut();
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut logs_text = String::new();
    for worker in workers {
        logs_text.push_str(&worker.log());
        worker.stop().await;
    }

    let jobs = query::job::list_for_provider(db, acme).await.unwrap();
    let after_outage = jobs
        .iter()
        .filter(|j| j.created_at > entity::time::now() - TimeDelta::seconds(3))
        .count();
    assert!(
        after_outage >= 2,
        "jobs run again after the outage: {jobs:#?}"
    );
    assert!(
        logs_text.contains("database unavailable") || logs_text.contains("cannot claim"),
        "the outage is logged"
    );
    assert!(
        logs_text.contains("database reachable again"),
        "the recovery is logged"
    );
    assert_job_invariants(db, acme).await;
}
