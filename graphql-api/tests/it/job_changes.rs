//! `Job.changes` as operators read it: per completed job, the events it inserted, changed,
//! left unchanged and found no longer listed, counted and named; a page of jobs reads them
//! all at once.

use serde_json::{Value, json};
use test_support::Backend;

use crate::app::{first_error_code, spawn_app_with_samples};

const CHANGES: &str = "{ jobs(first: 5) { nodes { databaseId state changes {
    inserted { count truncated events { title } }
    updated { count truncated events { title } }
    unchanged { count truncated events { title } }
    stopped { count truncated events { title startDate } }
} } } }";

fn kind(count: i32, titles: &[&str]) -> Value {
    let events: Vec<Value> = titles.iter().map(|t| json!({ "title": t })).collect();
    json!({ "count": count, "truncated": false, "events": events })
}

async fn the_samples_name_their_changes(backend: Backend) {
    // The three samples, ingested in order: the second drops 322 ("Pantomima Full").
    let app = spawn_app_with_samples(backend).await;
    let answer = app.graphql(CHANGES, json!({})).await;
    let jobs = answer["data"]["jobs"]["nodes"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 3, "{answer}");
    let [third, second, first] = [&jobs[0], &jobs[1], &jobs[2]];
    assert_eq!(
        first["changes"]["inserted"],
        kind(
            3,
            &["Camela en concierto", "Pantomima Full", "Los Morancos"]
        ),
        "{answer}"
    );
    assert_eq!(
        second["changes"],
        json!({
            "inserted": kind(0, &[]),
            "updated": kind(2, &["Camela en concierto", "Los Morancos"]),
            "unchanged": kind(0, &[]),
            "stopped": {
                "count": 1,
                "truncated": false,
                "events": [{ "title": "Pantomima Full", "startDate": "2021-02-10" }],
            },
        }),
        "{answer}"
    );
    assert_eq!(third["changes"]["stopped"], kind(0, &[]), "{answer}");

    // And on the outcome, beside the other counts.
    let outcome = app
        .graphql(
            "{ jobOutcomes(first: 5) { nodes { inserted updated unchanged stopped } } }",
            json!({}),
        )
        .await;
    let stopped: Vec<&Value> = outcome["data"]["jobOutcomes"]["nodes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| &o["stopped"])
        .collect();
    assert_eq!(stopped, [&json!(0), &json!(1), &json!(0)], "{outcome}");

    // An operator's view: anonymous callers get no jobs.
    let anonymous = app.graphql_anonymous(CHANGES, json!({})).await;
    assert_eq!(
        first_error_code(&anonymous),
        "UNAUTHENTICATED",
        "{anonymous}"
    );
}

#[tokio::test]
async fn the_samples_name_their_changes_on_postgres() {
    the_samples_name_their_changes(Backend::Postgres).await;
}

#[tokio::test]
async fn the_samples_name_their_changes_on_sqlite() {
    the_samples_name_their_changes(Backend::Sqlite).await;
}
