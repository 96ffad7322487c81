//! Backoff and auto-pause as operators see them: `Health`, the provider's thresholds, the
//! audit log and `/metrics`; enabling a paused provider starts it afresh.

use entity::ErrorKind;
use serde_json::{Value, json};
use test_support::Backend;

use crate::{
    app::{ADMIN_TOKEN, TestApp, finished_job, first_error_code, provider_metric, spawn_app},
    graphql::add_provider,
};

const HEALTH: &str = "{ provider(name: \"acme\") { enabled backoffAfter pauseAfter health {
    failedCollections backingOffUntil backoffReason skippedTicks pausedAt pauseReason nextTickAt
} } }";

async fn provider(app: &TestApp) -> Value {
    let answer = app.graphql(HEALTH, json!({})).await;
    answer["data"]["provider"].clone()
}

async fn a_failing_provider_backs_off_then_pauses_and_enabling_it_starts_afresh(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    let acme = add_provider(db, "acme").await;
    let fresh = provider(&app).await;
    assert_eq!(
        (&fresh["backoffAfter"], &fresh["pauseAfter"]),
        (&json!(3), &json!(30)),
        "{fresh}"
    );

    let set = "mutation($b: Int, $p: Int) { upsertProvider(input: { name: \"acme\", backoffAfter: $b, pauseAfter: $p }) { backoffAfter pauseAfter } }";
    let answer = app
        .graphql_as(Some(ADMIN_TOKEN), set, json!({ "b": 2, "p": 3 }))
        .await;
    assert_eq!(
        answer["data"]["upsertProvider"],
        json!({ "backoffAfter": 2, "pauseAfter": 3 }),
        "{answer}"
    );
    for bad in [json!({ "b": -1 }), json!({ "p": 10_001 })] {
        let refused = app.graphql_as(Some(ADMIN_TOKEN), set, bad.clone()).await;
        assert_eq!(
            first_error_code(&refused),
            "BAD_USER_INPUT",
            "{bad}: {refused}"
        );
    }

    // A failure that is not the provider's doing does not count.
    finished_job(
        db,
        acme,
        Some((ErrorKind::Interrupted, "the worker stopped")),
    )
    .await;
    finished_job(
        db,
        acme,
        Some((ErrorKind::Connect, "cannot reach the provider")),
    )
    .await;
    let one = provider(&app).await;
    assert_eq!(one["health"]["failedCollections"], 1, "{one}");
    assert_eq!(one["health"]["backingOffUntil"], Value::Null);
    assert_eq!(provider_metric(&app, "provider_backing_off").await, "0");

    // The second: it backs off for two intervals of its schedule (every five minutes).
    finished_job(
        db,
        acme,
        Some((ErrorKind::Connect, "cannot reach the provider")),
    )
    .await;
    let backing_off = provider(&app).await;
    let health = &backing_off["health"];
    assert_eq!(health["failedCollections"], 2, "{backing_off}");
    let until: chrono::DateTime<chrono::Utc> =
        health["backingOffUntil"].as_str().unwrap().parse().unwrap();
    let ahead = until - chrono::Utc::now();
    assert!(
        ahead > chrono::TimeDelta::minutes(9) && ahead <= chrono::TimeDelta::minutes(10),
        "{backing_off}"
    );
    assert_eq!(
        health["backoffReason"],
        "2 consecutive failed collections (backs off from 2)"
    );
    let next: chrono::DateTime<chrono::Utc> =
        health["nextTickAt"].as_str().unwrap().parse().unwrap();
    assert!(
        next >= until,
        "the next tick collected is after the backoff: {backing_off}"
    );
    assert_eq!(provider_metric(&app, "provider_backing_off").await, "1");
    assert_eq!(provider_metric(&app, "provider_paused").await, "0");

    // The third: paused, with its reason, in the audit log and on /metrics.
    finished_job(
        db,
        acme,
        Some((ErrorKind::HttpStatus, "the provider answered 503")),
    )
    .await;
    let paused = provider(&app).await;
    assert_eq!(paused["enabled"], false, "{paused}");
    let reason = "paused after 3 consecutive failed collections; the last failed with http_status: the provider answered 503";
    assert_eq!(paused["health"]["pauseReason"], reason, "{paused}");
    assert!(paused["health"]["pausedAt"].is_string());
    assert_eq!(paused["health"]["nextTickAt"], Value::Null);
    assert_eq!(provider_metric(&app, "provider_paused").await, "1");
    let audit = app
        .graphql(
            "{ auditLog(first: 5) { nodes { actor action target result detail } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        audit["data"]["auditLog"]["nodes"][0],
        json!({ "actor": "ingestor", "action": "pauseProvider", "target": "provider acme", "result": "ok", "detail": reason }),
        "{audit}"
    );

    // Enabled again: no failures counted, no backoff, no pause; scheduled at its next tick.
    let enable = "mutation { setProviderEnabled(provider: \"acme\", enabled: true) { enabled } }";
    let enabled = app.graphql_as(Some(ADMIN_TOKEN), enable, json!({})).await;
    assert_eq!(
        enabled["data"]["setProviderEnabled"]["enabled"], true,
        "{enabled}"
    );
    let resumed = provider(&app).await;
    let health = &resumed["health"];
    assert_eq!(
        (
            &health["failedCollections"],
            &health["backingOffUntil"],
            &health["pausedAt"],
            &health["pauseReason"]
        ),
        (&json!(0), &Value::Null, &Value::Null, &Value::Null),
        "{resumed}"
    );
    let next: chrono::DateTime<chrono::Utc> =
        health["nextTickAt"].as_str().unwrap().parse().unwrap();
    assert!(next - chrono::Utc::now() <= chrono::TimeDelta::minutes(5));
    assert_eq!(provider_metric(&app, "provider_paused").await, "0");
    assert_eq!(provider_metric(&app, "provider_backing_off").await, "0");
}

#[tokio::test]
async fn a_failing_provider_backs_off_then_pauses_and_enabling_it_starts_afresh_on_postgres() {
    a_failing_provider_backs_off_then_pauses_and_enabling_it_starts_afresh(Backend::Postgres).await;
}

#[tokio::test]
async fn a_failing_provider_backs_off_then_pauses_and_enabling_it_starts_afresh_on_sqlite() {
    a_failing_provider_backs_off_then_pauses_and_enabling_it_starts_afresh(Backend::Sqlite).await;
}
