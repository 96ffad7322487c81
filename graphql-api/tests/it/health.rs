//! `/livez`, `/readyz` and `/metrics`.

use reqwest::StatusCode;
use test_support::Backend;

use crate::app::{spawn_app, spawn_app_with_samples};

#[tokio::test]
async fn live_and_ready_when_the_database_answers() {
    let app = spawn_app(Backend::Postgres).await;
    let live = app.client.get(app.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(ready.headers().contains_key("x-request-id"));
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
}

#[tokio::test]
async fn search_stays_ready_when_the_database_is_gone() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    let (_, before) = app.search("").await;
    app.test_db.db.close_by_ref().await.unwrap();

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "search can still serve");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "down");
    let (status, during) = app.search("").await;
    assert_eq!(status, 200);
    assert_eq!(during, before, "the last snapshot keeps serving");
    // What needs the database says so with a code, and no database text.
    let jobs = app
        .graphql("{ jobs { edges { node { id } } } }", serde_json::json!({}))
        .await;
    let code = jobs["errors"][0]["extensions"]["code"].as_str().unwrap();
    assert!(matches!(code, "UNAVAILABLE" | "INTERNAL"), "{jobs}");
    assert!(
        !jobs.to_string().to_lowercase().contains("sqlite"),
        "{jobs}"
    );
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_jobs_and_providers() {
    let app = spawn_app_with_samples(Backend::Postgres).await;
    app.search("?starts_at=2021-01-01T00:00:00Z").await;
    app.search("?starts_at=nope").await;
    app.graphql("{ nope }", serde_json::json!({})).await;
    let (_, text) = app.get("/metrics").await;
    for expected in [
        r#"http_requests_total{route="/search",status="200"} 1"#,
        r#"http_requests_total{route="/search",status="400"} 1"#,
        r#"http_request_duration_seconds_count{route="/search"} 2"#,
        r#"graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1"#,
        r#"jobs{state="completed"} 3"#,
        r#"provider_last_success_timestamp_seconds{provider="acme"}"#,
        "search_index_events 3",
        "database_up 1",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        !text.contains("starts_at"),
        "labels are route templates, not raw URLs"
    );
}
