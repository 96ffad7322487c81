//! Kept feed bodies as operators reach them: `Job.feedBody`, the download at
//! `/jobs/<id>/body` (viewer token), and `replayJob` (admin), which queues a replay job.

use entity::{
    JobId,
    feed_snapshot::{Compressed, Directory},
    query,
};
use serde_json::{Value, json};
use test_support::{Backend, TestDb, sample_feed};

use crate::{
    app::{
        ADMIN_TOKEN, VIEWER_TOKEN, finished_job, first_error_code, serve_beside, spawn_app,
        spawn_app_configured,
    },
    graphql::add_provider,
};

const JOB: &str = "query($id: ID!) { job(id: $id) { id trigger replayOf feedBody { rawBytes storedBytes downloadPath } } }";
const REPLAY: &str =
    "mutation($id: ID!) { replayJob(id: $id) { databaseId trigger replayOf provider { name } } }";

async fn a_kept_body_can_be_read_downloaded_and_replayed(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    let acme = add_provider(db, "acme").await;
    let feed = sample_feed("response_1.xml");
    let kept = JobId(finished_job(db, acme, None).await);
    let compressed = Compressed::of(&feed).unwrap();
    query::feed_snapshot::insert(db, kept, acme, entity::time::now(), &compressed, None)
        .await
        .unwrap();
    let bare = JobId(finished_job(db, acme, None).await);
    // The job's global id, from the jobs list.
    let jobs = app
        .graphql("{ jobs(first: 5) { nodes { id databaseId } } }", json!({}))
        .await;
    let id_of = |n: JobId| -> String {
        jobs["data"]["jobs"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["databaseId"].as_str() == Some(n.0.to_string().as_str()))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (kept_id, bare_id) = (id_of(kept), id_of(bare));

    let answer = app.graphql(JOB, json!({ "id": kept_id })).await;
    assert_eq!(
        answer["data"]["job"]["feedBody"],
        json!({
            "rawBytes": feed.len(),
            "storedBytes": compressed.body.len(),
            "downloadPath": format!("/jobs/{}/body", kept.0),
        }),
        "{answer}"
    );
    let answer = app.graphql(JOB, json!({ "id": bare_id })).await;
    assert_eq!(answer["data"]["job"]["feedBody"], Value::Null, "{answer}");
    // In a list, every job's at once.
    let listed = app
        .graphql(
            "{ jobs(first: 5) { nodes { databaseId feedBody { rawBytes } } } }",
            json!({}),
        )
        .await;
    let sizes: Vec<(String, Value)> = listed["data"]["jobs"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["databaseId"].as_str().unwrap().to_owned(),
                j["feedBody"].clone(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        vec![
            (bare.0.to_string(), Value::Null),
            (kept.0.to_string(), json!({ "rawBytes": feed.len() })),
        ],
        "{listed}"
    );

    // /metrics counts the bodies kept and their size, for sizing the cap.
    let (_, metrics) = app.get("/metrics").await;
    for line in [
        "feed_snapshots 1".to_owned(),
        format!("feed_snapshots_bytes {}", compressed.body.len()),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }

    // The download: the body as sent, for a viewer only.
    let path = format!("/jobs/{}/body", kept.0);
    let (status, _) = app.get(&path).await;
    assert_eq!(status, 401, "no token");
    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/xml");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"job-{}.xml\"", kept.0)
    );
    assert_eq!(response.bytes().await.unwrap(), feed);
    for (path, expected) in [
        (format!("/jobs/{}/body", bare.0), 404),
        ("/jobs/nope/body".to_owned(), 400),
        ("/jobs/-1/body".to_owned(), 400),
    ] {
        let status = app
            .client
            .get(app.url(&path))
            .bearer_auth(VIEWER_TOKEN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected, "{path}");
    }

    // Replaying: an admin action, refused without a kept body, audited.
    let viewer = app.graphql(REPLAY, json!({ "id": kept_id })).await;
    assert_eq!(first_error_code(&viewer), "FORBIDDEN", "{viewer}");
    let nothing = app
        .graphql_as(Some(ADMIN_TOKEN), REPLAY, json!({ "id": bare_id }))
        .await;
    assert_eq!(first_error_code(&nothing), "NOT_FOUND", "{nothing}");
    let replay = app
        .graphql_as(Some(ADMIN_TOKEN), REPLAY, json!({ "id": kept_id }))
        .await;
    let job = &replay["data"]["replayJob"];
    assert_eq!(job["trigger"], "REPLAY", "{replay}");
    assert_eq!(job["replayOf"], kept_id.as_str());
    assert_eq!(job["provider"]["name"], "acme");
    // One job at a time per provider: a second replay waits for the first.
    let again = app
        .graphql_as(Some(ADMIN_TOKEN), REPLAY, json!({ "id": kept_id }))
        .await;
    assert_eq!(first_error_code(&again), "CONFLICT", "{again}");
    let audit = app
        .graphql(
            "{ auditLog(first: 3) { nodes { action target result detail } } }",
            json!({}),
        )
        .await;
    let entries = audit["data"]["auditLog"]["nodes"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "replayJob" && e["result"] == "ok"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_kept_body_can_be_read_downloaded_and_replayed_on_postgres() {
    a_kept_body_can_be_read_downloaded_and_replayed(Backend::Postgres).await;
}

#[tokio::test]
async fn a_kept_body_can_be_read_downloaded_and_replayed_on_sqlite() {
    a_kept_body_can_be_read_downloaded_and_replayed(Backend::Sqlite).await;
}

/// A body the ingestor kept in its snapshot directory: an API given the directory serves it;
/// one without says so, without naming the path.
async fn a_body_kept_in_a_directory_is_served_from_it(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let directory = Directory::open(root.path()).unwrap();
    let test_db = TestDb::migrated(backend).await;
    let db = test_db.db.clone();
    let acme = add_provider(&db, "acme").await;
    let feed = sample_feed("response_2.xml");
    let kept = JobId(finished_job(&db, acme, None).await);
    let compressed = Compressed::of(&feed).unwrap();
    let file = directory.write(kept, &compressed.body).unwrap();
    query::feed_snapshot::insert(
        &db,
        kept,
        acme,
        entity::time::now(),
        &compressed,
        Some(file),
    )
    .await
    .unwrap();
    let given = directory.clone();
    let app = spawn_app_configured(test_db, db, move |config| {
        config.snapshot_dir = Some(given);
    })
    .await;
    let path = format!("/jobs/{}/body", kept.0);
    let download = |base: String| {
        let (client, path) = (app.client.clone(), path.clone());
        async move {
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(VIEWER_TOKEN)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.bytes().await.unwrap())
        }
    };
    let (status, body) = download(app.url("")).await;
    assert_eq!((status, &body[..]), (200, &feed[..]));

    let (blind, stop) = serve_beside(&app, |_| {}).await;
    let (status, body) = download(format!("http://{blind}")).await;
    stop.cancel();
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("--snapshot-dir"), "{text}");
    let place = root.path().display().to_string();
    assert!(
        !text.contains(&place),
        "the path stays in the server: {text}"
    );
}

#[tokio::test]
async fn a_body_kept_in_a_directory_is_served_from_it_on_postgres() {
    a_body_kept_in_a_directory_is_served_from_it(Backend::Postgres).await;
}

#[tokio::test]
async fn a_body_kept_in_a_directory_is_served_from_it_on_sqlite() {
    a_body_kept_in_a_directory_is_served_from_it(Backend::Sqlite).await;
}
