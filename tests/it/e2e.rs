//! End to end, with the real binaries as processes: the provider simulator, two `ingestor
//! run` replicas and two `graphql-api serve` replicas on one PostgreSQL database.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use test_support::{Backend, TestDb, fixtures_dir};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// A binary of the workspace, built beside this test (`cargo nextest run --workspace` builds
/// them all).
fn workspace_bin(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo nextest run --workspace`",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn spawn(name: &'static str, program: &str, args: &[&str], database_url: &str) -> Self {
        let child = Command::new(workspace_bin(program))
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            // The provider simulator listens on loopback.
            .env("ALLOW_PRIVATE_PROVIDERS", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self { name, child }
    }

    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop after SIGTERM", self.name))
            .unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
    }
}

async fn run_to_end(program: &str, args: &[&str], database_url: &str) -> std::process::Output {
    Command::new(workspace_bin(program))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .env("ALLOW_PRIVATE_PROVIDERS", "true")
        .output()
        .await
        .unwrap()
}

/// The viewer token the API replicas are given.
const VIEWER_TOKEN: &str = "e2e-viewer-token-0123";

/// A GraphQL answer, as a viewer; `null` while the API is not up yet.
async fn graphql(client: &reqwest::Client, api: &str, query: &str) -> Value {
    let sent = client
        .post(format!("{api}/graphql"))
        .bearer_auth(VIEWER_TOKEN)
        .json(&json!({ "query": query }))
        .send()
        .await;
    match sent {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// A `/search` answer; `null` while the API is not up yet.
async fn search(client: &reqwest::Client, api: &str) -> Value {
    match client.get(format!("{api}/search")).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Polls `check` every 200 ms until it holds, for at most `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_database_serve_the_same_answers_and_losing_some_loses_nothing() {
    let test_db = TestDb::empty(Backend::Postgres).await;
    let url = test_db.url.expose().to_owned();
    let client = test_support::http_client();

    // The deploy step, then a provider collected every 2 seconds.
    let migrated = run_to_end("ingestor", &["migrate"], &url).await;
    assert!(migrated.status.success(), "{migrated:?}");
    let feeds = fixtures_dir().join("feeds");
    let feed = |name: &str| feeds.join(name).display().to_string();
    let mut simulator = Process::spawn(
        "provider-simulator",
        "provider-simulator",
        &[
            &feed("response_1.xml"),
            &feed("response_2.xml"),
            &feed("response_3.xml"),
        ],
        &url,
    );
    let mut lines = BufReader::new(simulator.child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let simulator_url = line.strip_prefix("listening on ").unwrap().to_owned();
    let added = run_to_end(
        "ingestor",
        &[
            "provider",
            "add",
            "acme",
            "--url",
            &format!("{simulator_url}/feed.xml"),
            "--schedule",
            "*/2 * * * * *",
            "--time-zone",
            "Europe/Madrid",
        ],
        &url,
    )
    .await;
    assert!(added.status.success(), "{added:?}");

    let worker_args = [
        "run",
        "--poll-interval-ms",
        "100",
        "--scheduler-interval-ms",
        "200",
        "--shutdown-grace-ms",
        "5000",
    ];
    let ingestors = [
        Process::spawn("ingestor-1", "ingestor", &worker_args, &url),
        Process::spawn("ingestor-2", "ingestor", &worker_args, &url),
    ];
    let ports = [free_port(), free_port()];
    let apis: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let tokens = format!("e2e:viewer:{VIEWER_TOKEN}");
    let api_processes = [
        Process::spawn(
            "api-1",
            "graphql-api",
            &[
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", ports[0]),
                "--api-tokens",
                &tokens,
            ],
            &url,
        ),
        Process::spawn(
            "api-2",
            "graphql-api",
            &[
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", ports[1]),
                "--api-tokens",
                &tokens,
            ],
            &url,
        ),
    ];

    // Scheduled jobs run through the three snapshots; their outcomes show in GraphQL.
    eventually("three completed jobs", Duration::from_secs(30), || async {
        let body = graphql(
            &client,
            &apis[0],
            "{ jobs(filter: { state: COMPLETED }) { totalCount } }",
        )
        .await;
        body["data"]["jobs"]["totalCount"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    let outcomes = graphql(
        &client,
        &apis[1],
        "{ jobs(first: 50) { edges { node { trigger state outcome { status seen inserted updated rejected } } } } }",
    )
    .await;
    let edges = outcomes["data"]["jobs"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert!(edges.iter().all(|e| e["node"]["trigger"] == "SCHEDULE"));
    let inserted: u64 = edges
        .iter()
        .map(|e| e["node"]["outcome"]["inserted"].as_u64().unwrap())
        .sum();
    assert_eq!(
        inserted, 3,
        "three events were inserted over the snapshots: {edges:#?}"
    );
    assert!(
        edges.iter().any(|e| e["node"]["outcome"]["rejected"] == 1),
        "444 was rejected"
    );

    // Both API replicas give the same search answer.
    eventually(
        "both APIs show the three events",
        Duration::from_secs(10),
        || async {
            let (a, b) = (
                search(&client, &apis[0]).await,
                search(&client, &apis[1]).await,
            );
            a == b && a["data"]["events"].as_array().is_some_and(|e| e.len() == 3)
        },
    )
    .await;

    // Stop one of each; the rest carry on with a new snapshot (the plan dialect, one new plan).
    let [ingestor_1, ingestor_2] = ingestors;
    let [api_1, api_2] = api_processes;
    ingestor_1.stop().await;
    api_1.stop().await;
    client
        .put(format!("{simulator_url}/_sim/feeds"))
        .json(&json!({ "feeds": [std::fs::read_to_string(feeds.join("plan_format/response_1.xml")).unwrap()] }))
        .send()
        .await
        .unwrap();
    eventually(
        "the surviving API shows the new plan",
        Duration::from_secs(20),
        || async {
            search(&client, &apis[1]).await["data"]["events"]
                .as_array()
                .is_some_and(|e| e.len() == 4)
        },
    )
    .await;
    ingestor_2.stop().await;
    api_2.stop().await;
    simulator.stop().await;

    // Nothing lost: no job left running, every job with its one outcome, one job per tick.
    let db = &test_db.db;
    let acme = entity::query::provider::find_by_name(db, "acme")
        .await
        .unwrap()
        .unwrap();
    let jobs = entity::query::job::list_for_provider(db, acme.id)
        .await
        .unwrap();
    let mut ticks = std::collections::HashSet::new();
    for job in &jobs {
        assert_ne!(job.state, entity::JobState::Running, "{job:?}");
        let outcome = entity::query::job_outcome::find(db, job.id)
            .await
            .unwrap()
            .expect("one outcome per job");
        assert_eq!(outcome.status, job.state);
        if let Some(tick) = job.tick {
            assert!(ticks.insert(tick), "two jobs for one tick");
        }
    }
    assert_eq!(
        entity::query::event::count_for_provider(db, acme.id)
            .await
            .unwrap(),
        4
    );
}
