//! `jobChart`: a provider's finished jobs per interval.

use chrono::TimeDelta;
use entity::{
    JobState, job, job_outcome,
    query::{
        self,
        job::{Enqueued, NewJob},
    },
    time,
};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
use serde_json::{Value, json};
use test_support::Backend;

use crate::{
    app::{first_error_code, spawn_app},
    graphql::add_provider,
};

async fn a_chart_counts_jobs_failures_and_p95_per_interval(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    let acme = add_provider(db, "acme").await;
    let other = add_provider(db, "other").await;
    let now = time::now();
    let minutes = TimeDelta::minutes;
    // (provider, finished this long ago, state, duration); and one job still pending.
    let finished = [
        (acme, minutes(30), JobState::Completed, 100),
        (acme, minutes(20), JobState::Failed, 300),
        (acme, minutes(90), JobState::Completed, 200),
        (acme, minutes(25 * 60), JobState::Completed, 900),
        (other, minutes(10), JobState::Failed, 700),
    ];
    for (provider, ago, state, duration) in finished {
        let Enqueued::Created(created) = query::job::enqueue(db, NewJob::manual(provider, now))
            .await
            .unwrap()
        else {
            panic!("created");
        };
        let at = now - ago;
        job::ActiveModel {
            id: Set(created.id),
            state: Set(state),
            started_at: Set(Some(at)),
            finished_at: Set(Some(at)),
            ..Default::default()
        }
        .update(db)
        .await
        .unwrap();
        job_outcome::ActiveModel {
            job_id: Set(created.id),
            status: Set(state),
            finished_at: Set(Some(at)),
            duration_ms: Set(Some(duration)),
            ..Default::default()
        }
        .update(db)
        .await
        .unwrap();
    }
    query::job::enqueue(db, NewJob::manual(acme, now))
        .await
        .unwrap();

    let chart = "query($from: DateTime, $to: DateTime, $intervals: Int!) {
        jobChart(provider: \"acme\", from: $from, to: $to, intervals: $intervals) {
            provider from to points { start end jobs failures p95DurationMs }
        }
    }";
    let vars = json!({
        "from": (now - TimeDelta::hours(2)).to_rfc3339(),
        "to": now.to_rfc3339(),
        "intervals": 2,
    });
    let answer = app.graphql(chart, vars).await;
    assert_eq!(answer["errors"], Value::Null, "{answer}");
    let points = answer["data"]["jobChart"]["points"].as_array().unwrap();
    let summary: Vec<(u64, u64, Option<i64>)> = points
        .iter()
        .map(|p| {
            (
                p["jobs"].as_u64().unwrap(),
                p["failures"].as_u64().unwrap(),
                p["p95DurationMs"].as_i64(),
            )
        })
        .collect();
    assert_eq!(summary, [(1, 0, Some(200)), (2, 1, Some(300))], "{answer}");
    assert_eq!(points[0]["end"], points[1]["start"]);
    assert_eq!(answer["data"]["jobChart"]["provider"], "acme");

    // The default: the last 24 hours in 24 intervals, the day-old job outside.
    // "The last 7 days" from a client's clock: a little more than 7 days is fine.
    let week = app
        .graphql(
            "query($from: DateTime) { jobChart(provider: \"acme\", from: $from, intervals: 168) { points { jobs } } }",
            json!({ "from": (now - TimeDelta::days(7) - TimeDelta::minutes(5)).to_rfc3339() }),
        )
        .await;
    assert_eq!(
        week["data"]["jobChart"]["points"].as_array().map(Vec::len),
        Some(168),
        "{week}"
    );
    let day = app
        .graphql(
            "{ jobChart(provider: \"acme\") { points { jobs } } }",
            json!({}),
        )
        .await;
    let points = day["data"]["jobChart"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 24, "{day}");
    let jobs: u64 = points.iter().map(|p| p["jobs"].as_u64().unwrap()).sum();
    assert_eq!(jobs, 3);

    for (arguments, why) in [
        ("provider: \"acme\", intervals: 0", "no interval"),
        ("provider: \"acme\", intervals: 1000", "too many intervals"),
        (
            "provider: \"acme\", from: \"2026-01-01T00:00:00Z\", to: \"2026-01-08T01:00:01Z\"",
            "a week and an hour",
        ),
        (
            "provider: \"acme\", from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"",
            "a month",
        ),
        (
            "provider: \"acme\", from: \"2026-02-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\"",
            "backwards",
        ),
    ] {
        let refused = app
            .graphql(
                &format!("{{ jobChart({arguments}) {{ from }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(
            first_error_code(&refused),
            "BAD_USER_INPUT",
            "{why}: {refused}"
        );
    }
    let unknown = app
        .graphql("{ jobChart(provider: \"nobody\") { from } }", json!({}))
        .await;
    assert_eq!(first_error_code(&unknown), "NOT_FOUND", "{unknown}");
    let anonymous = app
        .graphql_anonymous("{ jobChart(provider: \"acme\") { from } }", json!({}))
        .await;
    assert_eq!(first_error_code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_chart_counts_jobs_failures_and_p95_per_interval_on_postgres() {
    a_chart_counts_jobs_failures_and_p95_per_interval(Backend::Postgres).await;
}

#[tokio::test]
async fn a_chart_counts_jobs_failures_and_p95_per_interval_on_sqlite() {
    a_chart_counts_jobs_failures_and_p95_per_interval(Backend::Sqlite).await;
}
