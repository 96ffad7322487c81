//! The whole system in one process, as `cargo run --release` starts it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers are test code: a failure should stop the test loudly"
)]

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts the real `fever` binary on a fresh embedded database and a free port, reads the
/// address it prints, and checks the API answers on the migrated database.
#[tokio::test]
async fn the_root_binary_serves_the_api_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fever"))
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let graphiql = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("fever prints its address");
            if let Some(url) = line.trim().strip_prefix("GraphiQL:") {
                return url.trim().to_owned();
            }
        }
    })
    .await
    .expect("fever starts within 30 s");
    let base = graphiql.trim_end_matches("/graphql");

    let client = test_support::http_client();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = client
        .post(&graphiql)
        .json(&serde_json::json!({ "query": "{ providers { name } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["providers"], serde_json::json!([]), "{body}");
    assert!(
        dir.path().join("data/fever.db").exists(),
        "the embedded database is created under ./data"
    );
    child.kill().await.unwrap();
}
