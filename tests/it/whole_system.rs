//! The whole system in one process, as `cargo run --release` starts it.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts the real `fever` binary on a fresh embedded database and a free port, reads the
/// addresses it prints, and checks that the demo provider's feeds are collected and
/// searchable, that the monitoring page is served, and that Ctrl-C stops it cleanly.
#[tokio::test]
async fn the_root_binary_runs_the_whole_system_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fever"))
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
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
                .expect("fever prints its addresses");
            if let Some(url) = line.trim().strip_prefix("GraphiQL:") {
                return url.trim().to_owned();
            }
        }
    })
    .await
    .expect("fever starts within 30 s");
    let base = graphiql.trim_end_matches("/graphql").to_owned();
    let client = test_support::http_client();

    // The demo feeds are collected at once: the three sample events (eventList) and the
    // plan dialect's become searchable within seconds.
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(response) = client.get(format!("{base}/search")).send().await
                && let Ok(body) = response.json::<serde_json::Value>().await
                && body["data"]["events"]
                    .as_array()
                    .is_some_and(|e| e.len() >= 6)
            {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("demo events are searchable within 30 s");
    assert!(found.to_string().contains("Camela en concierto"));

    let providers: serde_json::Value = client
        .post(&graphiql)
        .bearer_auth(fever::DEMO_ADMIN_TOKEN)
        .json(&serde_json::json!({ "query": "{ providers { name health { lastJobState } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<_> = providers["data"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["demo-events", "demo-plans"]);
    assert!(
        dir.path().join("data/fever.db").exists(),
        "the embedded database is under ./data"
    );

    // Ctrl-C: a clean stop.
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("fever stops after Ctrl-C")
        .unwrap();
    assert!(status.success(), "exit status {status}");
}
