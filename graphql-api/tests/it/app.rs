//! `spawn_app`: the API on a fresh database, served on a free port for one test.

use std::{net::SocketAddr, time::Duration};

use graphql_api::config::ServeConfig;
use serde_json::{Value, json};
use test_support::{Backend, ProviderSimulator, TestDb, sample_feed};
use tokio_util::sync::CancellationToken;

/// The admin token the test app is configured with.
pub(crate) const ADMIN_TOKEN: &str = "test-admin-token";
/// The viewer token the test app is configured with.
pub(crate) const VIEWER_TOKEN: &str = "test-viewer-token";

/// A running API and what a test needs to talk to it.
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) client: reqwest::Client,
    pub(crate) test_db: TestDb,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the API over a fresh migrated database.
pub(crate) async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_on(TestDb::migrated(backend).await).await
}

/// Starts the API over a fresh database holding the three sample snapshots, ingested in
/// order by the real collector (provider `acme`, in Europe/Madrid).
pub(crate) async fn spawn_app_with_samples(backend: Backend) -> TestApp {
    let test_db = TestDb::migrated(backend).await;
    ingest_samples(&test_db.db).await;
    spawn_app_on(test_db).await
}

/// Ingests the three samples in order through `collect_now`.
pub(crate) async fn ingest_samples(db: &sea_orm::DatabaseConnection) {
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        sample_feed("response_2.xml"),
        sample_feed("response_3.xml"),
    ])
    .await;
    let changes = entity::query::provider::ProviderChanges {
        url: Some(sim.url().parse().unwrap()),
        time_zone: Some("Europe/Madrid".parse().unwrap()),
        ..Default::default()
    };
    entity::query::provider::upsert(db, &"acme".parse().unwrap(), changes)
        .await
        .unwrap();
    for _ in 0..3 {
        let report = ingestor::collect::collect_now(
            db,
            "acme",
            ingestor::collector::CollectSettings::allowing_private(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(report.outcome.status, entity::JobState::Completed);
    }
}

/// A pool to `test_db` through `proxy` (which can cut every connection), waiting at most
/// `acquire_timeout` for a connection.
pub(crate) async fn pool_through(
    test_db: &TestDb,
    proxy: &test_support::proxy::TcpProxy,
    acquire_timeout: Duration,
) -> sea_orm::DatabaseConnection {
    let through_proxy: lifecycle::database::DatabaseUrl = test_db
        .url
        .expose()
        .replace("127.0.0.1:5432", &proxy.addr().to_string())
        .parse()
        .unwrap();
    let options = lifecycle::database::PoolOptions {
        max_connections: 4,
        acquire_timeout,
    };
    lifecycle::database::connect(&through_proxy, &options)
        .await
        .unwrap()
}

/// Starts the API over `test_db`.
pub(crate) async fn spawn_app_on(test_db: TestDb) -> TestApp {
    let db = test_db.db.clone();
    spawn_app_with(test_db, db).await
}

/// Starts the API over `test_db`, through the pool `db` (one with a metric callback, say).
pub(crate) async fn spawn_app_with(test_db: TestDb, db: sea_orm::DatabaseConnection) -> TestApp {
    spawn_app_configured(test_db, db, |_| {}).await
}

/// Starts the API over `test_db` through `db`, with the test settings changed by `configure`.
pub(crate) async fn spawn_app_configured(
    test_db: TestDb,
    db: sea_orm::DatabaseConnection,
    configure: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let (addr, shutdown) = start(db, configure).await;
    TestApp {
        addr,
        client: test_support::http_client(),
        test_db,
        shutdown,
    }
}

/// A second API over the database of `app`, with the test settings changed by `configure`:
/// its address, and the token that stops it.
pub(crate) async fn serve_beside(
    app: &TestApp,
    configure: impl FnOnce(&mut ServeConfig),
) -> (SocketAddr, CancellationToken) {
    start(app.test_db.db.clone(), configure).await
}

/// Serves the API over `db` with the test settings changed by `configure`, once it answers.
async fn start(
    db: sea_orm::DatabaseConnection,
    configure: impl FnOnce(&mut ServeConfig),
) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let mut config = ServeConfig {
        listen: addr,
        tokens: graphql_api::access::Tokens::parse(
            &[format!("grafana:viewer:{VIEWER_TOKEN}")],
            Some(ADMIN_TOKEN),
        )
        .unwrap(),
        refresh_interval: Duration::from_millis(100),
        ..ServeConfig::default()
    };
    configure(&mut config);
    tokio::spawn(graphql_api::run(config, db, listener, shutdown.clone()));
    // Serving starts once the index is loaded.
    let client = test_support::http_client();
    for _ in 0..100 {
        if client
            .get(format!("http://{addr}/livez"))
            .send()
            .await
            .is_ok()
        {
            return (addr, shutdown);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the API did not start");
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts a GraphQL query as a viewer (operator data needs one) and returns the whole JSON
    /// answer.
    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(Some(VIEWER_TOKEN), query, variables).await
    }

    /// Posts a GraphQL query without a token.
    pub(crate) async fn graphql_anonymous(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(None, query, variables).await
    }

    /// Posts a GraphQL query with `Authorization: Bearer <token>`.
    pub(crate) async fn graphql_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// `GET path`: the status and the body as text.
    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// `GET path`: the status and the JSON body.
    pub(crate) async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path).await;
        let json =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"));
        (status, json)
    }

    /// `GET /search` with this query string; the status and the JSON body.
    pub(crate) async fn search(&self, query: &str) -> (u16, Value) {
        self.get_json(&format!("/search{query}")).await
    }
}

/// The `extensions.code` of the first error.
pub(crate) fn first_error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The value of the `/metrics` series `name` of the provider `acme`.
pub(crate) async fn provider_metric(app: &TestApp, name: &str) -> String {
    let (status, body) = app.get("/metrics").await;
    assert_eq!(status, 200);
    let prefix = format!("{name}{{provider=\"acme\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} for acme in {body}"))
        .to_owned()
}

/// A job of `provider` that ran now and completed, or failed with `error`, recorded the way a
/// worker records it; returns its number.
pub(crate) async fn finished_job(
    db: &sea_orm::DatabaseConnection,
    provider: entity::ProviderId,
    error: Option<(entity::ErrorKind, &str)>,
) -> i64 {
    use entity::{
        JobState,
        query::{
            self,
            job::{Claim, Enqueued, NewJob},
            job_outcome::Finished,
        },
        time,
    };
    let now = time::now();
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(provider, now))
        .await
        .unwrap()
    else {
        panic!("created");
    };
    let claim = Claim {
        worker_id: "test-worker",
        now,
        lease_until: now + chrono::TimeDelta::minutes(1),
    };
    let claimed = query::job::claim_by_id(db, job.id, &claim)
        .await
        .unwrap()
        .unwrap();
    let state = if error.is_some() {
        JobState::Failed
    } else {
        JobState::Completed
    };
    let txn = query::begin_write(db).await.unwrap();
    assert!(
        query::job::finish(&txn, &claimed, state, now)
            .await
            .unwrap()
    );
    let finished = Finished {
        finished_at: now,
        error: error.map(|(kind, message)| (kind, message.to_owned())),
        ..Finished::default()
    };
    query::job_outcome::record_finished(&txn, &claimed, &finished)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    job.id.0
}
