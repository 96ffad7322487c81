//! `spawn_app`: the API on a fresh database, served on a free port for one test.

use std::net::SocketAddr;

use graphql_api::config::ServeConfig;
use serde_json::{Value, json};
use test_support::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

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
    let test_db = TestDb::migrated(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let config = ServeConfig {
        listen: addr,
        ..ServeConfig::default()
    };
    tokio::spawn(graphql_api::run(
        config,
        test_db.db.clone(),
        listener,
        shutdown.clone(),
    ));
    TestApp {
        addr,
        client: test_support::http_client(),
        test_db,
        shutdown,
    }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts a GraphQL query and returns the whole JSON answer.
    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
