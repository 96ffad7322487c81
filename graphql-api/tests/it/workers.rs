//! `workers`: the live `ingestor run` processes and those gone recently.

use chrono::TimeDelta;
use entity::{
    query::{
        self,
        job::{Claim, Enqueued, NewJob},
        worker::Announce,
    },
    time,
};
use serde_json::{Value, json};
use test_support::Backend;

use crate::{
    app::{first_error_code, spawn_app},
    graphql::add_provider,
};

fn announce(id: &str, started_ago: TimeDelta) -> Announce {
    Announce {
        id: id.to_owned(),
        host: "host-1".to_owned(),
        pid: 42,
        version: "0.1.0".to_owned(),
        concurrency: 4,
        schedules: true,
        heartbeat_every: std::time::Duration::from_secs(10),
        started_at: time::now() - started_ago,
    }
}

async fn workers_are_live_stopped_or_lost(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    let now = time::now();
    let hours = TimeDelta::hours;
    let minutes = TimeDelta::minutes;
    // Live; lost 5 minutes ago; stopped 30 minutes ago; stopped 2 hours ago.
    query::worker::beat(db, &announce("live", hours(3)), now)
        .await
        .unwrap();
    query::worker::beat(db, &announce("lost", hours(4)), now - minutes(5))
        .await
        .unwrap();
    for (id, ago) in [("recent", minutes(30)), ("old", hours(2))] {
        query::worker::beat(db, &announce(id, hours(5)), now - ago)
            .await
            .unwrap();
        query::worker::stopped(db, id, now - ago).await.unwrap();
    }
    // The live worker runs one job.
    let acme = add_provider(db, "acme").await;
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(acme, now))
        .await
        .unwrap()
    else {
        panic!("created");
    };
    let claim = Claim {
        worker_id: "live",
        now,
        lease_until: now + minutes(1),
    };
    query::job::claim_by_id(db, job.id, &claim)
        .await
        .unwrap()
        .unwrap();

    let list = "query($since: DateTime) { workers(since: $since) { id state host pid version concurrency schedules startedAt lastHeartbeatAt heartbeatEveryMs stoppedAt runningJobs } }";
    let answer = app.graphql(list, json!({})).await;
    assert_eq!(answer["errors"], Value::Null, "{answer}");
    let workers = answer["data"]["workers"].as_array().unwrap();
    let summary: Vec<(&str, &str, i64)> = workers
        .iter()
        .map(|w| {
            (
                w["id"].as_str().unwrap(),
                w["state"].as_str().unwrap(),
                w["runningJobs"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("live", "LIVE", 1),
            ("lost", "LOST", 0),
            ("recent", "STOPPED", 0)
        ],
        "the newest started first; the one stopped two hours ago is not listed"
    );
    assert_eq!(workers[0]["stoppedAt"], Value::Null);
    assert_eq!(workers[0]["heartbeatEveryMs"], 10_000);
    assert!(workers[2]["stoppedAt"].is_string());

    let three_hours = (now - hours(3)).to_rfc3339();
    let all = app.graphql(list, json!({ "since": three_hours })).await;
    assert_eq!(all["data"]["workers"].as_array().unwrap().len(), 4, "{all}");
    let just_now = app
        .graphql(list, json!({ "since": now.to_rfc3339() }))
        .await;
    let ids: Vec<&str> = just_now["data"]["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["live"],
        "a live worker is listed whatever `since` says"
    );

    // Started again under the same id (a fixed WORKER_ID): the new process replaces the row.
    let again = Announce {
        pid: 43,
        ..announce("recent", minutes(1))
    };
    query::worker::beat(db, &again, now).await.unwrap();
    let answer = app.graphql(list, json!({})).await;
    let restarted = answer["data"]["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "recent")
        .unwrap()
        .clone();
    assert_eq!(
        (
            &restarted["state"],
            &restarted["pid"],
            &restarted["stoppedAt"]
        ),
        (&json!("LIVE"), &json!(43), &Value::Null),
        "{answer}"
    );

    let anonymous = app.graphql_anonymous("{ workers { id } }", json!({})).await;
    assert_eq!(first_error_code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn workers_are_live_stopped_or_lost_on_postgres() {
    workers_are_live_stopped_or_lost(Backend::Postgres).await;
}

#[tokio::test]
async fn workers_are_live_stopped_or_lost_on_sqlite() {
    workers_are_live_stopped_or_lost(Backend::Sqlite).await;
}
