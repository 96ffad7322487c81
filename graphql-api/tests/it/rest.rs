//! `GET /search`: the contract of `docs/openapi.yaml`.

use entity::EventId;
use serde_json::{Value, json};
use test_support::Backend;

use crate::app::{spawn_app, spawn_app_with_samples};

fn id(base: &str, event: &str) -> String {
    EventId::derive("acme", base, event).0.to_string()
}

async fn the_worked_example_holds(backend: Backend) {
    let app = spawn_app_with_samples(backend).await;
    let (status, body) = app
        .search("?starts_at=2021-01-01T00:00:00Z&ends_at=2021-12-31T23:59:59Z")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], Value::Null);
    // Ever online, latest values, by start: 322 (February), 291 (June), 1591 (July); 444 never.
    assert_eq!(
        body["data"]["events"],
        json!([
            {
                "id": id("322", "1642"), "title": "Pantomima Full",
                "start_date": "2021-02-10", "start_time": "20:00:00",
                "end_date": "2021-02-10", "end_time": "21:30:00",
                "min_price": 55.00, "max_price": 55.00
            },
            {
                "id": id("291", "291"), "title": "Camela en concierto",
                "start_date": "2021-06-30", "start_time": "21:00:00",
                "end_date": "2021-06-30", "end_time": "21:30:00",
                "min_price": 15.00, "max_price": 30.00
            },
            {
                "id": id("1591", "1642"), "title": "Los Morancos",
                "start_date": "2021-07-31", "start_time": "20:00:00",
                "end_date": "2021-07-31", "end_time": "21:00:00",
                "min_price": 65.00, "max_price": 75.00
            }
        ])
    );
}

#[tokio::test]
async fn the_worked_example_holds_on_postgres() {
    the_worked_example_holds(Backend::Postgres).await;
}

#[tokio::test]
async fn the_worked_example_holds_on_sqlite() {
    the_worked_example_holds(Backend::Sqlite).await;
}

#[tokio::test]
async fn bounds_are_inclusive_optional_and_read_naive_times_as_utc() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    let titles = |body: &Value| -> Vec<String> {
        body["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_owned())
            .collect()
    };
    // 291 runs 21:00-21:30 in Madrid in June: 19:00-19:30 UTC.
    let (_, exact) = app
        .search("?starts_at=2021-06-30T19:00:00Z&ends_at=2021-06-30T19:30:00Z")
        .await;
    assert_eq!(titles(&exact), ["Camela en concierto"]);
    let (_, naive) = app
        .search("?starts_at=2021-06-30T19:00:00&ends_at=2021-06-30T19:30:00")
        .await;
    assert_eq!(naive, exact, "a naive date-time is read as UTC");
    let (_, offset) = app
        .search("?starts_at=2021-06-30T21:00:00%2B02:00&ends_at=2021-06-30T21:30:00%2B02:00")
        .await;
    assert_eq!(offset, exact);
    let (_, short) = app
        .search("?starts_at=2021-06-30T19:00:00Z&ends_at=2021-06-30T19:29:59Z")
        .await;
    assert!(
        titles(&short).is_empty(),
        "the end bound is inclusive, not beyond"
    );
    let (_, open_end) = app.search("?starts_at=2021-06-30T19:00:00Z").await;
    assert_eq!(titles(&open_end), ["Camela en concierto", "Los Morancos"]);
    let (_, open_start) = app.search("?ends_at=2021-06-30T19:30:00Z").await;
    assert_eq!(
        titles(&open_start),
        ["Pantomima Full", "Camela en concierto"]
    );
    let (_, all) = app.search("").await;
    assert_eq!(titles(&all).len(), 3);
    let (_, empty) = app.search("?starts_at=2030-01-01T00:00:00Z").await;
    assert_eq!(empty, json!({ "data": { "events": [] }, "error": null }));
}

#[tokio::test]
async fn every_bad_parameter_gets_the_documented_400() {
    let app = spawn_app(Backend::Sqlite).await;
    for (query, code) in [
        ("?starts_at=yesterday", "INVALID_DATE_TIME"),
        ("?ends_at=2021-13-01T00:00:00Z", "INVALID_DATE_TIME"),
        ("?starts_at=2021-09-31T00:00:00Z", "INVALID_DATE_TIME"),
        ("?starts_at=", "INVALID_DATE_TIME"),
        (
            "?starts_at=2021-02-01T00:00:00Z&ends_at=2021-01-01T00:00:00Z",
            "INVALID_RANGE",
        ),
        (
            "?starts_at=2021-01-01T00:00:00Z&starts_at=2021-01-02T00:00:00Z",
            "INVALID_PARAMETER",
        ),
    ] {
        let (status, body) = app.search(query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["data"], Value::Null, "{query}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 10);
    }
    let (status, _) = app.search("?page=2").await;
    assert_eq!(status, 200, "unknown parameters are ignored");
}

#[tokio::test]
async fn a_commit_is_searchable_within_a_second() {
    let app = spawn_app(Backend::Postgres).await;
    let (_, before) = app.search("").await;
    assert_eq!(before["data"]["events"], json!([]));
    crate::app::ingest_samples(&app.test_db.db).await;
    let started = std::time::Instant::now();
    loop {
        let (_, body) = app.search("").await;
        if body["data"]["events"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "not visible within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
