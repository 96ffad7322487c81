//! `/livez` and `/readyz`.

use reqwest::StatusCode;
use test_support::Backend;

use crate::app::spawn_app;

#[tokio::test]
async fn live_and_ready_when_the_database_answers() {
    let app = spawn_app(Backend::Postgres).await;
    let live = app.client.get(app.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(ready.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn not_ready_when_the_database_is_gone_but_still_live() {
    let app = spawn_app(Backend::Sqlite).await;
    app.test_db.db.close_by_ref().await.unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    let live = app.client.get(app.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}
