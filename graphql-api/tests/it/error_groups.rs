//! Error groups and the bulk retry: failures grouped by provider, kind and normalised
//! message; jobs listed by error kind or group; one action retrying a group.

use entity::{ErrorKind, ProviderId};
use serde_json::{Value, json};
use test_support::Backend;

use crate::{
    app::{ADMIN_TOKEN, TestApp, finished_job, first_error_code, spawn_app},
    graphql::add_provider,
};

/// A job of `provider` that ran and failed with `kind` and `message`.
async fn failed_job(
    db: &sea_orm::DatabaseConnection,
    provider: ProviderId,
    kind: ErrorKind,
    message: &str,
) -> i64 {
    finished_job(db, provider, Some((kind, message))).await
}

const GROUPS: &str = "query($provider: String, $first: Int, $after: String) {
    errorGroups(provider: $provider, first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { id kind message count firstSeen lastSeen provider { name } lastJob { databaseId } } }
    }
}";

fn nodes(answer: &Value) -> Vec<Value> {
    assert_eq!(answer["errors"], Value::Null, "{answer}");
    answer["data"]["errorGroups"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn retry(app: &TestApp, filter: Value) -> Value {
    let answer = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            "mutation($filter: JobFilter!) { retryFailedJobs(filter: $filter) {
                matched limited queued skipped alreadyRetried providerDisabled providerBusy covered
                jobs { attempt trigger state retryOf provider { name } }
            } }",
            json!({ "filter": filter }),
        )
        .await;
    assert_eq!(answer["errors"], Value::Null, "{answer}");
    answer["data"]["retryFailedJobs"].clone()
}

async fn failures_group_by_provider_kind_and_normalised_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    let acme = add_provider(db, "acme").await;
    let beta = add_provider(db, "beta").await;
    for address in ["10.0.0.7:80", "10.0.0.9:81", "10.0.0.7:80"] {
        let message = format!("cannot reach the provider: connection refused ({address})");
        failed_job(db, acme, ErrorKind::Connect, &message).await;
    }
    let parse = failed_job(
        db,
        acme,
        ErrorKind::Parse,
        "the feed is not well-formed XML at byte 12: unexpected `<`",
    )
    .await;
    let beta_failed = failed_job(
        db,
        beta,
        ErrorKind::Connect,
        "cannot reach the provider: connection refused (10.0.0.8:80)",
    )
    .await;

    // The group that failed last comes first.
    let groups = nodes(&app.graphql(GROUPS, json!({})).await);
    let summary: Vec<(String, String, String, i64)> = groups
        .iter()
        .map(|g| {
            (
                g["provider"]["name"].as_str().unwrap().to_owned(),
                g["kind"].as_str().unwrap().to_owned(),
                g["message"].as_str().unwrap().to_owned(),
                g["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let refused = "cannot reach the provider: connection refused (<addr>)";
    assert_eq!(
        summary,
        [
            ("beta".into(), "CONNECT".into(), refused.into(), 1),
            (
                "acme".into(),
                "PARSE".into(),
                "the feed is not well-formed XML at byte <n>: unexpected `<`".into(),
                1
            ),
            ("acme".into(), "CONNECT".into(), refused.into(), 3),
        ]
    );
    assert_eq!(groups[0]["lastJob"]["databaseId"], beta_failed.to_string());
    assert_eq!(groups[1]["lastJob"]["databaseId"], parse.to_string());
    assert!(groups[2]["firstSeen"].as_str() <= groups[2]["lastSeen"].as_str());

    // Paged, and by provider.
    let first = app.graphql(GROUPS, json!({ "first": 2 })).await;
    assert_eq!(nodes(&first).len(), 2);
    let info = &first["data"]["errorGroups"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    let rest = nodes(
        &app.graphql(GROUPS, json!({ "first": 2, "after": info["endCursor"] }))
            .await,
    );
    assert_eq!(rest, groups[2..].to_vec());
    let acme_groups = nodes(&app.graphql(GROUPS, json!({ "provider": "acme" })).await);
    assert_eq!(acme_groups, groups[1..].to_vec());

    // A group's jobs, and a kind's.
    let jobs = "query($filter: JobFilter) { jobs(filter: $filter) { totalCount nodes { databaseId outcome { errorKind } } } }";
    let group = groups[2]["id"].clone();
    let of_group = app
        .graphql(jobs, json!({ "filter": { "errorGroup": group } }))
        .await;
    assert_eq!(of_group["data"]["jobs"]["totalCount"], 3, "{of_group}");
    let of_kind = app
        .graphql(jobs, json!({ "filter": { "errorKind": "PARSE" } }))
        .await;
    assert_eq!(of_kind["data"]["jobs"]["totalCount"], 1, "{of_kind}");
    assert_eq!(
        of_kind["data"]["jobs"]["nodes"][0]["databaseId"],
        parse.to_string()
    );
    let elsewhere = app
        .graphql(
            jobs,
            json!({ "filter": { "errorGroup": group, "provider": "beta" } }),
        )
        .await;
    assert_eq!(
        first_error_code(&elsewhere),
        "BAD_USER_INPUT",
        "{elsewhere}"
    );
    let node = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": group }),
        )
        .await;
    assert_eq!(first_error_code(&node), "BAD_USER_INPUT", "{node}");

    // One action retries the group: one collection for the provider's three failures.
    let report = retry(&app, json!({ "errorGroup": group })).await;
    assert_eq!(
        (
            &report["matched"],
            &report["queued"],
            &report["skipped"],
            &report["covered"]
        ),
        (&json!(3), &json!(1), &json!(2), &json!(2)),
        "{report}"
    );
    let queued = &report["jobs"][0];
    assert_eq!(
        (&queued["trigger"], &queued["state"], &queued["attempt"]),
        (&json!("RETRY"), &json!("PENDING"), &json!(2))
    );
    assert_eq!(queued["provider"]["name"], "acme");
    // Again: the newest is retried already, and the retry pending covers the others.
    let again = retry(&app, json!({ "errorGroup": group })).await;
    assert_eq!(
        (
            &again["queued"],
            &again["alreadyRetried"],
            &again["providerBusy"]
        ),
        (&json!(0), &json!(1), &json!(2)),
        "{again}"
    );
    // By kind, across providers: beta's failure is the one left to retry.
    let by_kind = retry(&app, json!({ "errorKind": "CONNECT" })).await;
    assert_eq!(by_kind["queued"], 1, "{by_kind}");
    assert_eq!(by_kind["jobs"][0]["provider"]["name"], "beta");

    // A viewer reads but cannot act; the action is in the audit log.
    let viewer = app
        .graphql(
            "mutation { retryFailedJobs(filter: {}) { queued } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&viewer), "FORBIDDEN");
    let log = app
        .graphql(
            "{ auditLog(first: 1) { nodes { action target result detail } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        log["data"]["auditLog"]["nodes"][0],
        json!({
            "action": "retryFailedJobs",
            "target": "failed jobs of errorKind connect",
            "result": "ok",
            "detail": "matched 4, queued 1, skipped 3",
        }),
        "{log}"
    );
}

#[tokio::test]
async fn failures_group_by_provider_kind_and_normalised_message_on_postgres() {
    failures_group_by_provider_kind_and_normalised_message(Backend::Postgres).await;
}

#[tokio::test]
async fn failures_group_by_provider_kind_and_normalised_message_on_sqlite() {
    failures_group_by_provider_kind_and_normalised_message(Backend::Sqlite).await;
}

#[tokio::test]
async fn error_group_ranges_and_tokens_are_checked() {
    let app = spawn_app(Backend::Sqlite).await;
    let anonymous = app
        .graphql_anonymous("{ errorGroups { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(first_error_code(&anonymous), "UNAUTHENTICATED");
    for (arguments, why, code) in [
        (
            "from: \"2026-02-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\"",
            "from after to",
            "BAD_USER_INPUT",
        ),
        (
            "from: \"2025-01-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\"",
            "a year",
            "BAD_USER_INPUT",
        ),
        ("after: \"x\"", "a bad cursor", "BAD_USER_INPUT"),
        ("first: -1", "a negative page", "BAD_USER_INPUT"),
        ("first: 100000", "too large a page", "QUERY_TOO_COMPLEX"),
    ] {
        let answer = app
            .graphql(
                &format!("{{ errorGroups({arguments}) {{ edges {{ cursor }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(first_error_code(&answer), code, "{why}: {answer}");
    }
    let empty = app.graphql(GROUPS, json!({})).await;
    assert_eq!(nodes(&empty), Vec::<Value>::new());
}
