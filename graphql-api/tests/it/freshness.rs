//! Freshness: a provider whose last success is older than expected is overdue, in `Health`
//! and on `/metrics`, and back on time after a success.

use serde_json::{Value, json};
use test_support::Backend;

use crate::{
    app::{ADMIN_TOKEN, finished_job, first_error_code, provider_metric, spawn_app},
    graphql::add_provider,
};

const HEALTH: &str =
    "{ providers { name freshnessMs health { freshnessMs overdue overdueSince lastSuccessAt } } }";

async fn a_provider_is_overdue_past_its_freshness_and_on_time_after_a_success(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    let acme = add_provider(db, "acme").await;
    // The default schedule, every five minutes: fifteen minutes.
    let fresh = app.graphql(HEALTH, json!({})).await;
    let provider = &fresh["data"]["providers"][0];
    assert_eq!(provider["freshnessMs"], Value::Null, "{fresh}");
    assert_eq!(provider["health"]["freshnessMs"], 900_000, "{fresh}");
    assert_eq!(provider["health"]["overdue"], false);
    assert_eq!(provider_metric(&app, "provider_overdue").await, "0");

    // One second, and it never succeeded: overdue a second after its creation.
    let set = "mutation($ms: Int) { upsertProvider(input: { name: \"acme\", freshnessMs: $ms }) { freshnessMs } }";
    let answer = app
        .graphql_as(Some(ADMIN_TOKEN), set, json!({ "ms": 1000 }))
        .await;
    assert_eq!(
        answer["data"]["upsertProvider"]["freshnessMs"], 1000,
        "{answer}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let late = app.graphql(HEALTH, json!({})).await;
    let health = &late["data"]["providers"][0]["health"];
    assert_eq!(health["overdue"], true, "{late}");
    assert!(health["overdueSince"].is_string());
    assert_eq!(provider_metric(&app, "provider_overdue").await, "1");

    // A success puts it back on time.
    finished_job(db, acme, None).await;
    let again = app.graphql(HEALTH, json!({})).await;
    let health = &again["data"]["providers"][0]["health"];
    assert_eq!(
        (&health["overdue"], &health["overdueSince"]),
        (&json!(false), &Value::Null),
        "{again}"
    );
    assert!(health["lastSuccessAt"].is_string());

    // 0 returns to the default; out of range is refused.
    let reset = app
        .graphql_as(Some(ADMIN_TOKEN), set, json!({ "ms": 0 }))
        .await;
    assert_eq!(
        reset["data"]["upsertProvider"]["freshnessMs"],
        Value::Null,
        "{reset}"
    );
    let bad = app
        .graphql_as(Some(ADMIN_TOKEN), set, json!({ "ms": 10 }))
        .await;
    assert_eq!(first_error_code(&bad), "BAD_USER_INPUT", "{bad}");
}

#[tokio::test]
async fn a_provider_is_overdue_past_its_freshness_and_on_time_after_a_success_on_postgres() {
    a_provider_is_overdue_past_its_freshness_and_on_time_after_a_success(Backend::Postgres).await;
}

#[tokio::test]
async fn a_provider_is_overdue_past_its_freshness_and_on_time_after_a_success_on_sqlite() {
    a_provider_is_overdue_past_its_freshness_and_on_time_after_a_success(Backend::Sqlite).await;
}
