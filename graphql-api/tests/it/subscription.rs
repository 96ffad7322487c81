//! `jobUpdates` over WebSocket (graphql-transport-ws).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use test_support::Backend;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::app::{VIEWER_TOKEN, spawn_app};

async fn job_changes_arrive_as_they_happen(backend: Backend) {
    let app = spawn_app(backend).await;
    let changes = entity::query::provider::ProviderChanges {
        url: Some("http://127.0.0.1:9/feed.xml".parse().unwrap()),
        ..Default::default()
    };
    let provider =
        entity::query::provider::upsert(&app.test_db.db, &"acme".parse().unwrap(), changes)
            .await
            .unwrap()
            .model()
            .clone();

    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |value: Value| Message::text(value.to_string());
    socket
        .send(send(json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {VIEWER_TOKEN}") },
        })))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
    socket
        .send(send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": "subscription { jobUpdates(provider: \"acme\") { id databaseId state trigger provider { name } } }" }
        })))
        .await
        .unwrap();
    // Let the subscription start before the change happens.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let entity::query::job::Enqueued::Created(job) = entity::query::job::enqueue(
        &app.test_db.db,
        entity::query::job::NewJob::manual(provider.id, entity::time::now()),
    )
    .await
    .unwrap() else {
        panic!("created");
    };
    let message = tokio::time::timeout(Duration::from_secs(3), socket.next())
        .await
        .expect("an update within 3 s")
        .unwrap()
        .unwrap();
    let update: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(update["type"], "next", "{update}");
    assert_eq!(
        update["payload"]["data"]["jobUpdates"],
        json!({
            "id": global_job_id(job.id.0),
            "databaseId": job.id.0.to_string(),
            "state": "PENDING",
            "trigger": "MANUAL",
            "provider": { "name": "acme" }
        })
    );
}

#[tokio::test]
async fn job_changes_arrive_as_they_happen_on_postgres() {
    job_changes_arrive_as_they_happen(Backend::Postgres).await;
}

#[tokio::test]
async fn job_changes_arrive_as_they_happen_on_sqlite() {
    job_changes_arrive_as_they_happen(Backend::Sqlite).await;
}

/// A job's global id, as the API writes it: `Job:N` in URL-safe base64 without padding.
fn global_job_id(number: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("Job:{number}"))
}
