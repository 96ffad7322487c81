//! The GraphQL endpoint.

use entity::query::provider::ProviderChanges;
use reqwest::StatusCode;
use serde_json::json;
use test_support::Backend;

use crate::app::spawn_app;

async fn lists_providers_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    for (name, zone) in [("zeta", "UTC"), ("acme", "Europe/Madrid")] {
        let changes = ProviderChanges {
            url: Some("https://feeds.example/events.xml".parse().unwrap()),
            time_zone: Some(zone.parse().unwrap()),
            ..Default::default()
        };
        entity::query::provider::upsert(&app.test_db.db, &name.parse().unwrap(), changes)
            .await
            .unwrap();
    }
    let body = app
        .graphql(
            "{ providers { name kind timeZone enabled schedule } provider(name: \"acme\") { name } missing: provider(name: \"nope\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"], serde_json::Value::Null, "{body}");
    assert_eq!(
        body["data"]["providers"],
        json!([
            { "name": "acme", "kind": "FEVER_XML", "timeZone": "Europe/Madrid", "enabled": true, "schedule": "0 */5 * * * *" },
            { "name": "zeta", "kind": "FEVER_XML", "timeZone": "UTC", "enabled": true, "schedule": "0 */5 * * * *" },
        ])
    );
    assert_eq!(body["data"]["provider"]["name"], "acme");
    assert_eq!(body["data"]["missing"], serde_json::Value::Null);
}

#[tokio::test]
async fn lists_providers_by_name_on_postgres() {
    lists_providers_by_name(Backend::Postgres).await;
}

#[tokio::test]
async fn lists_providers_by_name_on_sqlite() {
    lists_providers_by_name(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_text_plain_post_is_refused_so_there_is_no_csrf_path() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ providers { name } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("graphiql"));
}
