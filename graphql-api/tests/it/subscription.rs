//! `jobUpdates` over WebSocket (graphql-transport-ws): every state change of every job, in
//! order, and a resume after a reconnect without a gap.

use std::time::Duration;

use entity::{
    JobState,
    query::{
        self,
        job::{Claim, Enqueued, NewJob},
        provider::ProviderChanges,
    },
    time,
};
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use test_support::Backend;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::app::{TestApp, VIEWER_TOKEN, spawn_app};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const UPDATES: &str = "subscription($provider: String, $after: String) { jobUpdates(provider: $provider, after: $after) { cursor state at job { id databaseId trigger provider { name } } } }";

/// Opens a socket with the viewer token and subscribes to acme's updates after `after`.
async fn subscribe(app: &TestApp, after: Option<&str>) -> Socket {
    subscribe_to(app, Some("acme"), after).await
}

/// Opens a socket with the viewer token and subscribes to `provider`'s updates (every
/// provider's with `None`) after `after`.
async fn subscribe_to(app: &TestApp, provider: Option<&str>, after: Option<&str>) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send(
        &mut socket,
        json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {VIEWER_TOKEN}") },
        }),
    )
    .await;
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
    send(
        &mut socket,
        json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": UPDATES, "variables": { "provider": provider, "after": after } }
        }),
    )
    .await;
    // Let the subscription start before the changes happen (the protocol has no ack for it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    socket
}

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::text(value.to_string())).await.unwrap();
}

/// The next message, which must come within 5 s.
async fn next_message(socket: &mut Socket) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message within 5 s")
        .unwrap()
        .unwrap();
    serde_json::from_str(message.to_text().unwrap()).unwrap()
}

/// The next update's `jobUpdates` payload.
async fn next_update(socket: &mut Socket) -> Value {
    let message = next_message(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["jobUpdates"].clone()
}

/// No message within `wait`.
async fn quiet_for(socket: &mut Socket, wait: Duration) {
    if let Ok(message) = tokio::time::timeout(wait, socket.next()).await {
        panic!("expected nothing, got {message:?}");
    }
}

async fn provider(db: &DatabaseConnection, name: &str) -> entity::ProviderId {
    let changes = ProviderChanges {
        url: Some("http://127.0.0.1:9/feed.xml".parse().unwrap()),
        ..Default::default()
    };
    query::provider::upsert(db, &name.parse().unwrap(), changes)
        .await
        .unwrap()
        .model()
        .id
}

/// Creates a job for `provider` and takes it through running to `last` at once, as a quick
/// worker does; returns its number.
async fn run_job(db: &DatabaseConnection, provider: entity::ProviderId, last: JobState) -> i64 {
    let Enqueued::Created(job) = query::job::enqueue(db, NewJob::manual(provider, time::now()))
        .await
        .unwrap()
    else {
        panic!("the provider has no active job");
    };
    let now = time::now();
    let claim = Claim {
        worker_id: "test-worker",
        now,
        lease_until: now + chrono::TimeDelta::minutes(1),
    };
    let running = query::job::claim_by_id(db, job.id, &claim)
        .await
        .unwrap()
        .expect("pending");
    assert!(
        query::job::finish(db, &running, last, time::now())
            .await
            .unwrap()
    );
    job.id.0
}

/// The (job number, state) of each update.
fn steps(updates: &[Value]) -> Vec<(String, String)> {
    updates
        .iter()
        .map(|u| {
            (
                u["job"]["databaseId"].as_str().unwrap().to_owned(),
                u["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn every_change_arrives_in_order_and_resumes(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    let acme = provider(db, "acme").await;
    let other = provider(db, "other").await;

    let mut socket = subscribe(&app, None).await;
    let first = run_job(db, acme, JobState::Completed).await;
    // Another provider's job is not this subscription's.
    run_job(db, other, JobState::Completed).await;
    let mut updates = Vec::new();
    for _ in 0..3 {
        updates.push(next_update(&mut socket).await);
    }
    let first = first.to_string();
    assert_eq!(
        steps(&updates),
        [
            (first.clone(), "PENDING".to_owned()),
            (first.clone(), "RUNNING".to_owned()),
            (first.clone(), "COMPLETED".to_owned()),
        ],
        "each state of a quick job, in order, not the last one read"
    );
    assert_eq!(updates[0]["job"]["trigger"], "MANUAL");
    assert_eq!(updates[0]["job"]["provider"]["name"], "acme");
    assert_eq!(updates[0]["job"]["id"], global_job_id(&first));
    let ats: Vec<&str> = updates.iter().map(|u| u["at"].as_str().unwrap()).collect();
    assert!(ats.is_sorted(), "{ats:?}");
    quiet_for(&mut socket, Duration::from_millis(700)).await;

    // The client goes away after the first update; two jobs run while it is gone.
    let resume_from = updates[0]["cursor"].as_str().unwrap().to_owned();
    socket.close(None).await.unwrap();
    let second = run_job(db, acme, JobState::Failed).await.to_string();
    let third = run_job(db, acme, JobState::Completed).await.to_string();

    let mut socket = subscribe(&app, Some(&resume_from)).await;
    let mut missed = Vec::new();
    for _ in 0..8 {
        missed.push(next_update(&mut socket).await);
    }
    let expected: Vec<(String, String)> = [
        (&first, "RUNNING"),
        (&first, "COMPLETED"),
        (&second, "PENDING"),
        (&second, "RUNNING"),
        (&second, "FAILED"),
        (&third, "PENDING"),
        (&third, "RUNNING"),
        (&third, "COMPLETED"),
    ]
    .into_iter()
    .map(|(job, state)| (job.clone(), state.to_owned()))
    .collect();
    assert_eq!(
        steps(&missed),
        expected,
        "what followed the cursor, once each"
    );
    assert_eq!(
        missed[0]["cursor"], updates[1]["cursor"],
        "a change has one cursor, live or resumed"
    );

    // Then live changes follow the replayed ones, with none twice.
    let fourth = run_job(db, acme, JobState::Completed).await.to_string();
    let mut live = Vec::new();
    for _ in 0..3 {
        live.push(next_update(&mut socket).await);
    }
    assert_eq!(
        steps(&live),
        ["PENDING", "RUNNING", "COMPLETED"].map(|s| (fourth.clone(), s.to_owned()))
    );
    quiet_for(&mut socket, Duration::from_millis(700)).await;
}

#[tokio::test]
async fn every_change_arrives_in_order_and_resumes_on_postgres() {
    every_change_arrives_in_order_and_resumes(Backend::Postgres).await;
}

#[tokio::test]
async fn every_change_arrives_in_order_and_resumes_on_sqlite() {
    every_change_arrives_in_order_and_resumes(Backend::Sqlite).await;
}

/// PostgreSQL numbers a change when it is made and shows it when it commits, so a lower number
/// can appear after a higher one: the late change still arrives.
#[tokio::test]
async fn a_change_that_commits_after_a_later_one_still_arrives() {
    use sea_orm::TransactionTrait as _;
    let app = spawn_app(Backend::Postgres).await;
    let db = &app.test_db.db;
    let acme = provider(db, "acme").await;
    let beta = provider(db, "beta").await;
    let mut socket = subscribe_to(&app, None, None).await;

    let slow = db.begin().await.unwrap();
    let early = query::job::enqueue_in(&slow, NewJob::manual(acme, time::now()))
        .await
        .unwrap()
        .unwrap();
    let Enqueued::Created(quick) = query::job::enqueue(db, NewJob::manual(beta, time::now()))
        .await
        .unwrap()
    else {
        panic!("created");
    };
    assert!(
        quick.id > early.id,
        "numbered after the open transaction's job"
    );
    let first = next_update(&mut socket).await;
    assert_eq!(first["job"]["databaseId"], quick.id.0.to_string());
    slow.commit().await.unwrap();
    let late = next_update(&mut socket).await;
    assert_eq!(late["job"]["databaseId"], early.id.0.to_string());
    assert_eq!(late["state"], "PENDING");
}

/// The error code a subscription resumed after `after` ends with: its first message carries
/// the field's error, and the next completes it.
async fn resume_error(app: &TestApp, after: &str) -> Value {
    let mut socket = subscribe(app, Some(after)).await;
    let message = next_message(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    let complete = next_message(&mut socket).await;
    assert_eq!(complete["type"], "complete", "{complete}");
    message["payload"]["errors"][0]["extensions"]["code"].clone()
}

#[tokio::test]
async fn a_cursor_too_old_or_made_up_is_refused() {
    let app = spawn_app(Backend::Postgres).await;
    let db = &app.test_db.db;
    let acme = provider(db, "acme").await;
    let mut socket = subscribe(&app, None).await;
    run_job(db, acme, JobState::Completed).await;
    let update = next_update(&mut socket).await;
    let cursor = update["cursor"].as_str().unwrap().to_owned();

    // Eleven minutes later, the change is past what a resume may reach back to.
    db.execute_unprepared("UPDATE job_transition SET at = at - interval '11 minutes'")
        .await
        .unwrap();
    assert_eq!(resume_error(&app, &cursor).await, "EXPIRED");
    // Pruned entirely: the same.
    db.execute_unprepared("DELETE FROM job_transition")
        .await
        .unwrap();
    assert_eq!(resume_error(&app, &cursor).await, "EXPIRED");
    assert_eq!(resume_error(&app, "not-a-cursor").await, "BAD_USER_INPUT");
    // A job cursor is not an update cursor.
    let job_cursor = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("job:1")
    };
    assert_eq!(resume_error(&app, &job_cursor).await, "BAD_USER_INPUT");
}

/// A job's global id, as the API writes it: `Job:N` in URL-safe base64 without padding.
fn global_job_id(number: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("Job:{number}"))
}
