//! The GraphQL endpoint.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use entity::query::provider::ProviderChanges;
use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::{Backend, TestDb};

use crate::app::{
    ADMIN_TOKEN, VIEWER_TOKEN, first_error_code, spawn_app, spawn_app_configured, spawn_app_on,
    spawn_app_with, spawn_app_with_samples,
};

const EVENTS: &str = "query($from: DateTime, $to: DateTime, $first: Int, $after: String) {
    events(startsAt: $from, endsAt: $to, first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage endCursor }
        edges { cursor node { id title provider { name } startDate startTime endTime startsAt minPrice maxPrice soldOut sellMode } }
    }
}";

#[tokio::test]
async fn events_page_through_the_same_results_as_search() {
    let app = spawn_app_with_samples(Backend::Postgres).await;
    let mut titles = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app
            .graphql(EVENTS, json!({ "first": 1, "after": after }))
            .await;
        assert_eq!(body["errors"], Value::Null, "{body}");
        let events = &body["data"]["events"];
        assert_eq!(events["totalCount"], 3);
        for edge in events["edges"].as_array().unwrap() {
            titles.push(edge["node"]["title"].as_str().unwrap().to_owned());
        }
        if !events["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = events["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        titles,
        ["Pantomima Full", "Camela en concierto", "Los Morancos"]
    );

    let body = app
        .graphql(
            EVENTS,
            json!({ "from": "2021-06-30T19:00:00Z", "to": "2021-06-30T19:30:00Z" }),
        )
        .await;
    let node = &body["data"]["events"]["edges"][0]["node"];
    assert_eq!(node["title"], "Camela en concierto");
    assert_eq!(node["provider"]["name"], "acme");
    assert_eq!(node["sellMode"], "ONLINE");
    assert_eq!(
        (node["startDate"].as_str(), node["startTime"].as_str()),
        (Some("2021-06-30"), Some("21:00:00"))
    );
    assert_eq!(node["startsAt"], "2021-06-30T19:00:00Z");
    assert_eq!(
        (node["minPrice"].as_str(), node["maxPrice"].as_str()),
        (Some("15.00"), Some("30.00"))
    );

    // An event by id, with its zones; and as a node.
    let id = node["id"].as_str().unwrap();
    let by_id = app
        .graphql(
            "query($id: ID!) { event(id: $id) { title zones { zoneId name capacity price numbered } } node(id: $id) { id ... on Event { title } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(by_id["data"]["event"]["title"], "Camela en concierto");
    assert_eq!(
        by_id["data"]["event"]["zones"][0],
        json!({ "zoneId": "40", "name": "Platea", "capacity": 200, "price": "20.00", "numbered": true })
    );
    assert_eq!(by_id["data"]["node"]["id"], id);
}

#[tokio::test]
async fn limits_and_bad_arguments_are_refused_with_a_code() {
    let app = spawn_app(Backend::Sqlite).await;
    let over_the_cap = app.graphql(EVENTS, json!({ "first": 101 })).await;
    assert_eq!(first_error_code(&over_the_cap), "BAD_USER_INPUT");
    let huge = app.graphql(EVENTS, json!({ "first": 100_000 })).await;
    assert_eq!(
        first_error_code(&huge),
        "QUERY_TOO_COMPLEX",
        "refused before it runs"
    );
    let inverted = app
        .graphql(
            EVENTS,
            json!({ "from": "2021-02-01T00:00:00Z", "to": "2021-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(first_error_code(&inverted), "BAD_USER_INPUT");
    let not_a_date = app.graphql(EVENTS, json!({ "from": "tomorrow" })).await;
    assert_eq!(first_error_code(&not_a_date), "BAD_USER_INPUT");
    let bad_cursor = app.graphql(EVENTS, json!({ "after": "nope" })).await;
    assert_eq!(first_error_code(&bad_cursor), "BAD_USER_INPUT");

    let deep = "{ jobs { edges { node { outcome { job { outcome { job { outcome { job { outcome { job { outcome { job { id } } } } } } } } } } } } } }";
    assert_eq!(
        first_error_code(&app.graphql(deep, json!({})).await),
        "QUERY_TOO_DEEP"
    );
    // Each page is cheap; eight of them at the largest size are over the complexity budget.
    let complex = format!(
        "{{ {} }}",
        (0..8)
            .map(|i| format!("e{i}: events(first: 100) {{ edges {{ node {{ zones {{ name price capacity zoneId numbered }} title }} }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let complex = complex.as_str();
    assert_eq!(
        first_error_code(&app.graphql(complex, json!({})).await),
        "QUERY_TOO_COMPLEX"
    );
    let unknown = app.graphql("{ nope }", json!({})).await;
    assert_eq!(first_error_code(&unknown), "GRAPHQL_VALIDATION_FAILED");
    let unparsable = app.graphql("{ events {", json!({})).await;
    assert_eq!(first_error_code(&unparsable), "GRAPHQL_VALIDATION_FAILED");

    let batch = app
        .client
        .post(app.url("/graphql"))
        .json(
            &json!([{ "query": "{ providers { name } }" }, { "query": "{ providers { name } }" }]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), StatusCode::BAD_REQUEST);
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
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_and_the_second_ide_is_gone() {
    let app = spawn_app(Backend::Sqlite).await;
    let graphiql = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(graphiql.status(), StatusCode::OK);
    let csp = graphiql.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let page = graphiql.text().await.unwrap();
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "{page}"
    );

    // Every script and stylesheet of the page is served here, gzipped to browsers.
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.starts_with("/graphiql/"))
        .collect();
    assert_eq!(assets.len(), 6, "{page}");
    for asset in assets {
        let response = app
            .client
            .get(app.url(asset))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let cache = response.headers()["cache-control"].to_str().unwrap();
        assert!(cache.contains("immutable"), "{asset}: {cache}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
    }
    // A client that does not take gzip gets the file as it is; an old build's address is gone.
    let (status, script) = app.get(&page_asset(&page, "react.production.min.js")).await;
    assert_eq!(status, 200);
    assert!(
        script.contains("React"),
        "{}",
        &script[..200.min(script.len())]
    );
    let (status, _) = app.get("/graphiql/0000000000000000/graphiql.min.js").await;
    assert_eq!(status, 404);

    let playground = app.client.get(app.url("/playground")).send().await.unwrap();
    assert_eq!(playground.status(), StatusCode::NOT_FOUND);
}

fn page_asset(page: &str, name: &str) -> String {
    page.split('"')
        .find(|part| part.starts_with("/graphiql/") && part.ends_with(name))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_graphql_js_introspection_query_passes_the_default_limits() {
    // The exact text of graphql-js `getIntrospectionQuery({ descriptions, specifiedByUrl,
    // directiveIsRepeatable, schemaDescription, inputValueDeprecation })`, which GraphiQL,
    // code generators and Postman send.
    let app = spawn_app(Backend::Sqlite).await;
    let body = app
        .graphql_anonymous(include_str!("introspection.graphql"), json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{}", &body.to_string()[..500]);
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    let query = types.iter().find(|t| t["name"] == "Query").unwrap();
    let events = query["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "events")
        .unwrap();
    assert!(
        !events["description"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let test_db = TestDb::migrated(Backend::Sqlite).await;
    let db = test_db.db.clone();
    let app = spawn_app_configured(test_db, db, |config| config.limits.introspection = false).await;
    let body = app
        .graphql_anonymous("{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(first_error_code(&body), "INTROSPECTION_DISABLED", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let typename = app.graphql_anonymous("{ __typename }", json!({})).await;
    assert_eq!(typename["data"]["__typename"], "Query", "{typename}");
}

#[tokio::test]
async fn queries_work_over_get_but_mutations_do_not() {
    let app = spawn_app(Backend::Sqlite).await;
    let get = |query: &str| {
        let encoded: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", query)
            .finish();
        app.client
            .get(app.url(&format!("/graphql?{encoded}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let read: Value = get("{ providers { name } }")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"]["providers"], json!([]));
    let write: Value =
        get("mutation { setProviderEnabled(provider: \"x\", enabled: false) { name } }")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(first_error_code(&write), "BAD_USER_INPUT", "{write}");
}

/// Adds provider `name` (a public URL, never fetched); returns its id.
pub(crate) async fn add_provider(
    db: &sea_orm::DatabaseConnection,
    name: &str,
) -> entity::ProviderId {
    let changes = ProviderChanges {
        url: Some("https://feeds.example/events.xml".parse().unwrap()),
        ..Default::default()
    };
    entity::query::provider::upsert(db, &name.parse().unwrap(), changes)
        .await
        .unwrap()
        .model()
        .id
}

#[tokio::test]
async fn mutations_need_the_admin_token_and_change_nothing_without_it() {
    let app = spawn_app(Backend::Postgres).await;
    add_provider(&app.test_db.db, "acme").await;
    let trigger =
        "mutation { triggerCollection(provider: \"acme\") { id state trigger provider { name } } }";
    let disable = "mutation { setProviderEnabled(provider: \"acme\", enabled: false) { enabled } }";
    for query in [trigger, disable] {
        let anonymous = app.graphql_as(None, query, json!({})).await;
        assert_eq!(first_error_code(&anonymous), "UNAUTHENTICATED");
        let wrong = app
            .graphql_as(Some("not-the-token"), query, json!({}))
            .await;
        assert_eq!(first_error_code(&wrong), "FORBIDDEN");
        let viewer = app.graphql(query, json!({})).await;
        assert_eq!(
            first_error_code(&viewer),
            "FORBIDDEN",
            "a viewer cannot act"
        );
    }
    let state = app
        .graphql(
            "{ jobs { totalCount } provider(name: \"acme\") { enabled } }",
            json!({}),
        )
        .await;
    assert_eq!(state["data"]["jobs"]["totalCount"], 0, "nothing was queued");
    assert_eq!(
        state["data"]["provider"]["enabled"], true,
        "nothing was changed"
    );

    let queued = app.graphql_as(Some(ADMIN_TOKEN), trigger, json!({})).await;
    assert_eq!(queued["errors"], Value::Null, "{queued}");
    assert_eq!(queued["data"]["triggerCollection"]["state"], "PENDING");
    assert_eq!(queued["data"]["triggerCollection"]["trigger"], "MANUAL");
    let again = app.graphql_as(Some(ADMIN_TOKEN), trigger, json!({})).await;
    assert_eq!(first_error_code(&again), "CONFLICT");
    let missing = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            "mutation { triggerCollection(provider: \"nope\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&missing), "NOT_FOUND");
    let disabled = app.graphql_as(Some(ADMIN_TOKEN), disable, json!({})).await;
    assert_eq!(disabled["data"]["setProviderEnabled"]["enabled"], false);

    let upsert = "mutation($input: ProviderInput!) { upsertProvider(input: $input) { name schedule timeZone url } }";
    let created = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            upsert,
            json!({ "input": { "name": "beta", "url": "https://beta.example/feed.xml", "schedule": "*/5 * * * *", "timeZone": "Europe/Madrid" } }),
        )
        .await;
    assert_eq!(
        created["data"]["upsertProvider"],
        json!({ "name": "beta", "schedule": "0 */5 * * * *", "timeZone": "Europe/Madrid", "url": "https://beta.example/feed.xml" })
    );
    let bad = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            upsert,
            json!({ "input": { "name": "beta", "schedule": "every minute" } }),
        )
        .await;
    assert_eq!(first_error_code(&bad), "BAD_USER_INPUT");
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid cron schedule")
    );
}

#[tokio::test]
async fn a_job_lists_every_attempt_of_its_collection_first_to_last() {
    use entity::query::job::{self, Enqueued, NewJob};
    let app = spawn_app(Backend::Postgres).await;
    let db = &app.test_db.db;
    add_provider(db, "acme").await;
    let provider = entity::query::provider::find_by_name(db, "acme")
        .await
        .unwrap()
        .unwrap()
        .id;
    let now = entity::time::now();
    // A first job, its retry, and two retries of that retry (an operator's and the
    // scheduler's): one collection of four attempts. Another collection stays apart.
    let Enqueued::Created(first) = job::enqueue(db, NewJob::manual(provider, now))
        .await
        .unwrap()
    else {
        panic!("created")
    };
    let mut chain = vec![first.clone()];
    let mut failed = first;
    for _ in 0..3 {
        job::force_state(db, failed.id, entity::JobState::Failed)
            .await
            .unwrap();
        let parent = if chain.len() == 3 { &chain[1] } else { &failed };
        let Enqueued::Created(next) = job::enqueue(db, NewJob::retry(parent, now)).await.unwrap()
        else {
            panic!("created")
        };
        chain.push(next.clone());
        failed = next;
    }
    job::force_state(db, failed.id, entity::JobState::Failed)
        .await
        .unwrap();
    let Enqueued::Created(other) = job::enqueue(db, NewJob::manual(provider, now))
        .await
        .unwrap()
    else {
        panic!("created")
    };
    let ids: Vec<String> = chain.iter().map(|j| j.id.to_string()).collect();
    for asked in [&chain[0], &chain[2], &chain[3]] {
        let body = app
            .graphql(
                "query($id: ID!) { job(id: $id) { attempts { databaseId attempt } } }",
                json!({ "id": asked.id.to_string() }),
            )
            .await;
        assert_eq!(body["errors"], Value::Null, "{body}");
        let attempts: Vec<String> = body["data"]["job"]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["databaseId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(attempts, ids, "asked from job {}", asked.id);
    }
    let alone = app
        .graphql(
            "query($id: ID!) { job(id: $id) { attempts { databaseId } } }",
            json!({ "id": other.id.to_string() }),
        )
        .await;
    assert_eq!(
        alone["data"]["job"]["attempts"],
        json!([{ "databaseId": other.id.to_string() }])
    );
}

#[tokio::test]
async fn an_admin_cancels_a_pending_job_and_the_outcome_says_who() {
    let app = spawn_app(Backend::Sqlite).await;
    add_provider(&app.test_db.db, "acme").await;
    let queued = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            "mutation { triggerCollection(provider: \"acme\") { id } }",
            json!({}),
        )
        .await;
    let id = queued["data"]["triggerCollection"]["id"].clone();
    let cancel = "mutation($id: ID!) { cancelJob(id: $id) { id state finishedAt outcome { status errorKind errorMessage } } }";
    let vars = json!({ "id": id });
    let viewer = app.graphql(cancel, vars.clone()).await;
    assert_eq!(
        first_error_code(&viewer),
        "FORBIDDEN",
        "a viewer cannot act"
    );
    let anonymous = app.graphql_as(None, cancel, vars.clone()).await;
    assert_eq!(first_error_code(&anonymous), "UNAUTHENTICATED");

    let cancelled = app
        .graphql_as(Some(ADMIN_TOKEN), cancel, vars.clone())
        .await;
    assert_eq!(cancelled["errors"], Value::Null, "{cancelled}");
    let job = &cancelled["data"]["cancelJob"];
    assert_eq!(job["id"], id);
    assert_eq!(job["state"], "FAILED");
    assert!(job["finishedAt"].is_string());
    assert_eq!(job["outcome"]["status"], "FAILED");
    assert_eq!(job["outcome"]["errorKind"], "CANCELLED");
    assert_eq!(
        job["outcome"]["errorMessage"],
        "cancelled by `admin` while pending"
    );
    let again = app.graphql_as(Some(ADMIN_TOKEN), cancel, vars).await;
    assert_eq!(first_error_code(&again), "CONFLICT", "{again}");
    let unknown = app
        .graphql_as(Some(ADMIN_TOKEN), cancel, json!({ "id": "999999" }))
        .await;
    assert_eq!(first_error_code(&unknown), "NOT_FOUND", "{unknown}");
    // The provider is free for a new collection.
    let next = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            "mutation { triggerCollection(provider: \"acme\") { state } }",
            json!({}),
        )
        .await;
    assert_eq!(
        next["data"]["triggerCollection"]["state"], "PENDING",
        "{next}"
    );
}

/// Every admin action is in the audit log with its token's name, target and result, newest
/// first and paged; a viewer reads it, nobody without a token does.
async fn the_audit_log_records_every_admin_action(backend: Backend) {
    let app = spawn_app(backend).await;
    add_provider(&app.test_db.db, "acme").await;
    let admin = |query: &'static str, variables: Value| {
        let app = &app;
        async move { app.graphql_as(Some(ADMIN_TOKEN), query, variables).await }
    };
    let trigger = "mutation { triggerCollection(provider: \"acme\") { id databaseId } }";
    let queued = admin(trigger, json!({})).await;
    let job = queued["data"]["triggerCollection"].clone();
    let again = admin(trigger, json!({})).await;
    assert_eq!(first_error_code(&again), "CONFLICT");
    let viewer = app.graphql(trigger, json!({})).await;
    assert_eq!(
        first_error_code(&viewer),
        "FORBIDDEN",
        "refused before it acts"
    );
    admin(
        "mutation($id: ID!) { cancelJob(id: $id) { id } }",
        json!({ "id": job["id"] }),
    )
    .await;
    admin(
        "mutation { setProviderEnabled(provider: \"acme\", enabled: false) { enabled } }",
        json!({}),
    )
    .await;

    let page = "query($after: String) { auditLog(first: 2, after: $after) { pageInfo { hasNextPage endCursor } edges { node { at actor action target result detail } } } }";
    let first = app.graphql(page, json!({ "after": null })).await;
    assert_eq!(first["errors"], Value::Null, "{first}");
    let log = &first["data"]["auditLog"];
    assert_eq!(log["pageInfo"]["hasNextPage"], true);
    let second = app
        .graphql(page, json!({ "after": log["pageInfo"]["endCursor"] }))
        .await;
    let rest = &second["data"]["auditLog"];
    assert_eq!(rest["pageInfo"]["hasNextPage"], false, "{second}");
    let entries: Vec<Value> = [log, rest]
        .iter()
        .flat_map(|l| l["edges"].as_array().unwrap().clone())
        .map(|e| e["node"].clone())
        .collect();
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            assert_eq!(e["actor"], "admin", "{e}");
            assert!(e["at"].as_str().unwrap().ends_with('Z'));
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
                e["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let number = job["databaseId"].as_str().unwrap();
    let expected = [
        ("setProviderEnabled", "provider acme".to_owned(), "ok"),
        ("cancelJob", format!("job {number}"), "ok"),
        ("triggerCollection", "provider acme".to_owned(), "CONFLICT"),
        ("triggerCollection", "provider acme".to_owned(), "ok"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, t, r)| ((*a).to_owned(), t.clone(), (*r).to_owned()))
        .collect();
    assert_eq!(
        summary, expected,
        "newest first, the viewer's refused try not among them"
    );
    assert_eq!(
        entries[3]["detail"],
        format!("created job {}", job["databaseId"].as_str().unwrap())
    );
    assert_eq!(entries[0]["detail"], "disabled");
    assert!(
        entries[2]["detail"]
            .as_str()
            .unwrap()
            .contains("already has a pending or running job")
    );
    let anonymous = app
        .graphql_anonymous("{ auditLog { edges { node { action } } } }", json!({}))
        .await;
    assert_eq!(first_error_code(&anonymous), "UNAUTHENTICATED");
    let bad = app
        .graphql(
            "{ auditLog(after: \"nope\") { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&bad), "BAD_USER_INPUT");
}

#[tokio::test]
async fn the_audit_log_records_every_admin_action_on_postgres() {
    the_audit_log_records_every_admin_action(Backend::Postgres).await;
}

#[tokio::test]
async fn the_audit_log_records_every_admin_action_on_sqlite() {
    the_audit_log_records_every_admin_action(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_page_of_jobs_with_outcomes_and_providers_costs_a_fixed_number_of_queries() {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    for i in 0..12 {
        let name = format!("p{i:02}");
        add_provider(&test_db.db, &name).await;
        let provider = entity::query::provider::find_by_name(&test_db.db, &name)
            .await
            .unwrap()
            .unwrap();
        entity::query::job::enqueue(
            &test_db.db,
            entity::query::job::NewJob::manual(provider.id, entity::time::now()),
        )
        .await
        .unwrap();
    }
    let statements = Arc::new(AtomicUsize::new(0));
    let mut db = test_db.connect_again().await;
    let counter = Arc::clone(&statements);
    db.set_metric_callback(move |info| {
        // The index refresher polls the catalogue version, and the change feed the job change
        // log, meanwhile: not the request's.
        let sql = &info.statement.sql;
        if !sql.contains("catalog_version") && !sql.contains("job_transition") {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let app = spawn_app_with(test_db, db).await;
    let query = "{ jobs(first: 10) { edges { node { id state outcome { status seen } provider { name health { lastJobState windowJobs } } } } } }";
    let before = statements.load(Ordering::SeqCst);
    let body = app.graphql(query, json!({})).await;
    let used = statements.load(Ordering::SeqCst) - before;
    assert_eq!(body["errors"], Value::Null, "{body}");
    assert_eq!(body["data"]["jobs"]["edges"].as_array().unwrap().len(), 10);
    assert_eq!(
        body["data"]["jobs"]["edges"][0]["node"]["provider"]["health"]["lastJobState"],
        "PENDING"
    );
    // jobs, outcomes, providers, and health (the newest jobs, the health summaries): 5
    // statements, whether the page holds 1 job or 100.
    assert_eq!(used, 5, "statements for a page of 10");
}

#[tokio::test]
async fn jobs_filter_and_page_newest_first() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    let page = |after: Value| {
        app.graphql(
            "query($after: String) { jobs(first: 2, after: $after, filter: { provider: \"acme\", state: COMPLETED }) { totalCount pageInfo { hasNextPage endCursor } edges { node { id trigger outcome { inserted updated rejected rejections { baseEventId reason } } } } } }",
            json!({ "after": after }),
        )
    };
    let first = page(Value::Null).await;
    assert_eq!(first["errors"], Value::Null, "{first}");
    let jobs = &first["data"]["jobs"];
    assert_eq!(jobs["totalCount"], 3);
    assert_eq!(jobs["pageInfo"]["hasNextPage"], true);
    let newest = &jobs["edges"][0]["node"];
    assert_eq!(newest["outcome"]["rejected"], 1);
    assert_eq!(newest["outcome"]["rejections"][0]["baseEventId"], "444");
    let second = page(jobs["pageInfo"]["endCursor"].clone()).await;
    let rest = &second["data"]["jobs"];
    assert_eq!(rest["edges"].as_array().unwrap().len(), 1);
    assert_eq!(
        rest["edges"][0]["node"]["outcome"]["inserted"], 3,
        "the oldest job inserted the first feed"
    );
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    let none = app
        .graphql(
            "{ jobs(filter: { state: FAILED }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(none["data"]["jobs"]["totalCount"], 0);
    // An unknown provider is NOT_FOUND here as in the mutations and the subscription.
    for field in ["jobs", "jobOutcomes"] {
        let typo = app
            .graphql(
                &format!("{{ {field}(filter: {{ provider: \"nope\" }}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(first_error_code(&typo), "NOT_FOUND", "{typo}");
    }
    let outcomes = app
        .graphql(
            "{ jobOutcomes(first: 5) { totalCount edges { node { status job { trigger } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(outcomes["data"]["jobOutcomes"]["totalCount"], 3);

    // Counts by state come from the counts kept as jobs change, and agree with a count of
    // the jobs themselves (a filter by trigger still counts the table).
    let counts = app
        .graphql(
            "{ jobCounts(provider: \"acme\") { pending running completed failed total asOf } all: jobCounts { total } jobs(filter: { trigger: MANUAL }) { totalCount } }",
            json!({}),
        )
        .await;
    let by_state = &counts["data"]["jobCounts"];
    assert_eq!(
        (
            &by_state["pending"],
            &by_state["completed"],
            &by_state["failed"],
            &by_state["total"]
        ),
        (&json!(0), &json!(3), &json!(0), &json!(3)),
        "{counts}"
    );
    assert!(by_state["asOf"].as_str().unwrap().ends_with('Z'));
    assert_eq!(counts["data"]["all"]["total"], 3);
    assert_eq!(
        counts["data"]["jobs"]["totalCount"], 3,
        "collect_now runs manual jobs"
    );
    let typo = app
        .graphql("{ jobCounts(provider: \"nope\") { total } }", json!({}))
        .await;
    assert_eq!(first_error_code(&typo), "NOT_FOUND", "{typo}");
    let anonymous = app
        .graphql_anonymous("{ jobCounts { total } }", json!({}))
        .await;
    assert_eq!(
        first_error_code(&anonymous),
        "UNAUTHENTICATED",
        "{anonymous}"
    );
}

#[tokio::test]
async fn providers_show_health_and_stats() {
    let app = spawn_app_with_samples(Backend::Postgres).await;
    let body = app
        .graphql(
            "{ providers { name enabled health { lastJobState lastSuccessAt consecutiveFailures successRate p95DurationMs windowJobs nextTickAt } } providerStats { provider jobs completed failed successRate eventsInserted eventsUpdated recordsRejected } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"], Value::Null, "{body}");
    let health = &body["data"]["providers"][0]["health"];
    assert_eq!(health["lastJobState"], "COMPLETED");
    assert_eq!(health["consecutiveFailures"], 0);
    assert_eq!(health["successRate"], 1.0);
    assert_eq!(health["windowJobs"], 3);
    assert!(health["nextTickAt"].is_string());
    assert!(health["lastSuccessAt"].is_string());
    assert_eq!(
        body["data"]["providerStats"][0],
        json!({ "provider": "acme", "jobs": 3, "completed": 3, "failed": 0, "successRate": 1.0, "eventsInserted": 3, "eventsUpdated": 4, "recordsRejected": 2 })
    );
}

/// A provider that failed says why on its health, and keeps saying it (as past) after a
/// success; its last run is its last finished job.
async fn a_provider_says_why_it_failed(backend: Backend) {
    use test_support::{Fault, ProviderSimulator, sample_feed};
    let test_db = TestDb::migrated(backend).await;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let changes = ProviderChanges {
        url: Some(sim.url().parse().unwrap()),
        ..Default::default()
    };
    entity::query::provider::upsert(&test_db.db, &"acme".parse().unwrap(), changes)
        .await
        .unwrap();
    let collect = |db: sea_orm::DatabaseConnection| async move {
        ingestor::collect::collect_now(
            &db,
            "acme",
            ingestor::collector::CollectSettings::allowing_private(),
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap()
        .outcome
        .status
    };
    let db = test_db.db.clone();
    assert_eq!(collect(db.clone()).await, entity::JobState::Completed);
    sim.set_fault(Fault::Status { status: 503 });
    assert_eq!(collect(db.clone()).await, entity::JobState::Failed);
    let app = spawn_app_on(test_db).await;
    let query = "{ providers { health { lastJobState lastFinishedState lastFinishedAt consecutiveFailures lastError { kind message at job { databaseId state outcome { errorKind finishedAt } } } } } }";

    let body = app.graphql(query, json!({})).await;
    assert_eq!(body["errors"], Value::Null, "{body}");
    let health = &body["data"]["providers"][0]["health"];
    assert_eq!(health["lastFinishedState"], "FAILED", "{health}");
    assert_eq!(health["consecutiveFailures"], 1);
    let error = &health["lastError"];
    assert_eq!(error["kind"], "HTTP_STATUS", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("503"),
        "{error}"
    );
    assert_eq!(error["job"]["state"], "FAILED");
    assert_eq!(error["job"]["outcome"]["errorKind"], "HTTP_STATUS");
    assert_eq!(error["at"], error["job"]["outcome"]["finishedAt"]);
    assert_eq!(health["lastFinishedAt"], error["at"]);
    let failed_job = error["job"]["databaseId"].clone();

    sim.set_fault(Fault::None);
    assert_eq!(collect(db.clone()).await, entity::JobState::Completed);
    let body = app.graphql(query, json!({})).await;
    let health = &body["data"]["providers"][0]["health"];
    assert_eq!(health["lastFinishedState"], "COMPLETED", "{health}");
    assert_eq!(health["lastJobState"], "COMPLETED");
    assert_eq!(health["consecutiveFailures"], 0);
    assert_eq!(
        health["lastError"]["job"]["databaseId"], failed_job,
        "the last error stays after a success: {health}"
    );
    assert_ne!(health["lastFinishedAt"], health["lastError"]["at"]);
    let anonymous = app
        .graphql_anonymous("{ providers { health { lastError { kind } } } }", json!({}))
        .await;
    assert_eq!(
        first_error_code(&anonymous),
        "UNAUTHENTICATED",
        "{anonymous}"
    );
}

#[tokio::test]
async fn a_provider_says_why_it_failed_on_postgres() {
    a_provider_says_why_it_failed(Backend::Postgres).await;
}

#[tokio::test]
async fn a_provider_says_why_it_failed_on_sqlite() {
    a_provider_says_why_it_failed(Backend::Sqlite).await;
}

#[tokio::test]
async fn automatic_persisted_queries_run_by_hash() {
    let app = spawn_app(Backend::Sqlite).await;
    let query = "{ providers { name } }";
    let extensions = |hash: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let app = &app;
    let post = |body: Value| async move {
        app.client
            .post(app.url("/graphql"))
            .bearer_auth(VIEWER_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let digest = sha256_hex(query);
    let unknown = post(json!({ "extensions": extensions(&digest) })).await;
    assert_eq!(
        first_error_code(&unknown),
        "PERSISTED_QUERY_NOT_FOUND",
        "{unknown}"
    );
    let registered = post(json!({ "query": query, "extensions": extensions(&digest) })).await;
    assert_eq!(registered["data"]["providers"], json!([]), "{registered}");
    let by_hash = post(json!({ "extensions": extensions(&digest) })).await;
    assert_eq!(by_hash["data"]["providers"], json!([]), "{by_hash}");
}

/// SHA-256 of `text` in hex, computed with the system's `sha256sum` (no hashing crate needed
/// for one test).
fn sha256_hex(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_response_says_what_its_query_cost_and_a_request_error_has_no_data() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = app
        .graphql_anonymous(
            "{ events(first: 5) { edges { node { title } } } }",
            json!({}),
        )
        .await;
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["limit"], 5_000, "{body}");
    assert_eq!(cost["maxDepth"], 12, "{body}");
    assert!(cost["requested"].as_u64().unwrap() >= 5, "{body}");
    assert_eq!(cost["depth"], 4, "{body}");

    // Failed before it ran: the spec leaves `data` out.
    for document in ["{ events(first: 5) { edges { node { title } }", "{ nope }"] {
        let body = app.graphql_anonymous(document, json!({})).await;
        assert!(body.get("data").is_none(), "{body}");
        assert!(!first_error_code(&body).is_empty(), "{body}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_graphql_error_with_a_code() {
    let app = spawn_app(Backend::Sqlite).await;
    let padding = " ".repeat(70 * 1024);
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(format!("{{\"query\": \"{{ __typename }}{padding}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(first_error_code(&body), "PAYLOAD_TOO_LARGE", "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

#[tokio::test]
async fn the_limits_are_public_and_match_the_cost_extension() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = app
        .graphql_anonymous(
            "{ limits { maxDepth maxComplexity maxPageSize maxResponseBytes requestTimeoutMs introspection } }",
            json!({}),
        )
        .await;
    let limits = &body["data"]["limits"];
    assert_eq!(
        limits["maxComplexity"], body["extensions"]["cost"]["limit"],
        "{body}"
    );
    assert_eq!(
        limits["maxDepth"], body["extensions"]["cost"]["maxDepth"],
        "{body}"
    );
    assert_eq!(limits["maxPageSize"], 100, "{body}");
    assert_eq!(limits["introspection"], true, "{body}");
}

#[tokio::test]
async fn jobs_outcomes_and_providers_round_trip_through_node_by_their_global_ids() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    let listed = app
        .graphql(
            "{ jobs(first: 1) { edges { node { id databaseId outcome { id jobId } provider { id name } } } } }",
            json!({}),
        )
        .await;
    let job = &listed["data"]["jobs"]["edges"][0]["node"];
    let (job_id, number) = (
        job["id"].as_str().unwrap(),
        job["databaseId"].as_str().unwrap(),
    );
    let outcome_id = job["outcome"]["id"].as_str().unwrap();
    let provider_id = job["provider"]["id"].as_str().unwrap();
    assert_ne!(job_id, number, "a global id is not the database number");
    assert_eq!(job["outcome"]["jobId"], job_id);
    let ids = [job_id, outcome_id, provider_id];
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "{listed}"
    );

    let query = "query($id: ID!) { node(id: $id) { id __typename ... on Job { databaseId } ... on Provider { name } } }";
    for (id, typename) in [
        (job_id, "Job"),
        (outcome_id, "JobOutcome"),
        (provider_id, "Provider"),
    ] {
        let body = app.graphql(query, json!({ "id": id })).await;
        assert_eq!(body["data"]["node"]["id"], id, "{body}");
        assert_eq!(body["data"]["node"]["__typename"], typename, "{body}");
        // Operator objects need a token, even through node.
        let anonymous = app.graphql_anonymous(query, json!({ "id": id })).await;
        assert_eq!(
            first_error_code(&anonymous),
            "UNAUTHENTICATED",
            "{anonymous}"
        );
    }

    // job(id:) and retryJob take the global id, and the number for now (deprecated).
    for id in [job_id, number] {
        let body = app
            .graphql(
                "query($id: ID!) { job(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(body["data"]["job"]["id"], job_id, "{body}");
    }
    // An id this API did not give, or one of another type, is a bad argument.
    for id in ["bm9wZQ", provider_id] {
        let body = app
            .graphql(
                "query($id: ID!) { job(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(first_error_code(&body), "BAD_USER_INPUT", "{body}");
    }
    let garbage = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": "bm9wZQ" }),
        )
        .await;
    assert_eq!(first_error_code(&garbage), "BAD_USER_INPUT", "{garbage}");
}

/// Pages through `field` one item at a time, forward then backward, and returns the ids each
/// way (backward ones put back in list order) with the page flags seen.
async fn page_both_ways(app: &crate::app::TestApp, field: &str) -> (Vec<String>, Vec<String>) {
    let mut forward = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = format!(
            "query($after: String) {{ {field}(first: 1, after: $after) {{ edges {{ cursor node {{ id }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
        );
        let body = app.graphql(&query, json!({ "after": after })).await;
        let page = &body["data"][field];
        assert_eq!(
            page["pageInfo"]["hasPreviousPage"],
            after.is_some(),
            "{body}"
        );
        forward.push(page["edges"][0]["node"]["id"].as_str().unwrap().to_owned());
        assert_eq!(
            page["pageInfo"]["startCursor"], page["edges"][0]["cursor"],
            "{body}"
        );
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = Some(page["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    let mut backward = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let query = format!(
            "query($before: String) {{ {field}(last: 1, before: $before) {{ edges {{ node {{ id }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor }} }} }}"
        );
        let body = app.graphql(&query, json!({ "before": before })).await;
        let page = &body["data"][field];
        assert_eq!(page["pageInfo"]["hasNextPage"], before.is_some(), "{body}");
        backward.push(page["edges"][0]["node"]["id"].as_str().unwrap().to_owned());
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = Some(page["pageInfo"]["startCursor"].as_str().unwrap().to_owned());
    }
    backward.reverse();
    (forward, backward)
}

#[tokio::test]
async fn paging_backward_meets_paging_forward() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    for field in ["events", "jobs", "jobOutcomes"] {
        let (forward, backward) = page_both_ways(&app, field).await;
        assert!(forward.len() >= 3, "{field}: {forward:?}");
        assert_eq!(forward, backward, "{field}");
        // A page of two from the end is the last two, in list order.
        let body = app
            .graphql(
                &format!("{{ {field}(last: 2) {{ edges {{ node {{ id }} }} }} }}"),
                json!({}),
            )
            .await;
        let ids: Vec<&str> = body["data"][field]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, forward[forward.len() - 2..], "{field}: {body}");
        let both = app
            .graphql(
                &format!("{{ {field}(first: 1, last: 1) {{ edges {{ cursor }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(first_error_code(&both), "BAD_USER_INPUT", "{both}");
        // `last` has the same bound as `first`.
        let over = app
            .graphql(
                &format!("{{ {field}(last: 101) {{ edges {{ cursor }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(first_error_code(&over), "BAD_USER_INPUT", "{over}");
    }
}

#[tokio::test]
async fn an_events_provider_shows_its_name_to_anyone_and_its_settings_to_a_viewer() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    let query = "{ events(first: 1) { edges { node { provider { id name } } } } }";
    let public = app.graphql_anonymous(query, json!({})).await;
    let provider = &public["data"]["events"]["edges"][0]["node"]["provider"];
    assert_eq!(provider["name"], "acme", "{public}");
    // The same global id as everywhere else.
    let listed = app.graphql("{ providers { id name } }", json!({})).await;
    assert_eq!(
        listed["data"]["providers"][0]["id"], provider["id"],
        "{listed}"
    );

    let settings = "{ events(first: 1) { edges { node { provider { name url schedule health { windowJobs } } } } } }";
    let anonymous = app.graphql_anonymous(settings, json!({})).await;
    assert_eq!(
        first_error_code(&anonymous),
        "UNAUTHENTICATED",
        "{anonymous}"
    );
    assert!(!anonymous.to_string().contains("127.0.0.1"), "{anonymous}");
    let viewer = app.graphql(settings, json!({})).await;
    assert!(viewer.get("errors").is_none(), "{viewer}");
    let provider = &viewer["data"]["events"]["edges"][0]["node"]["provider"];
    assert!(
        provider["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{viewer}"
    );
    assert_eq!(provider["health"]["windowJobs"], 3, "{viewer}");
}

#[tokio::test]
async fn events_are_filtered_by_provider_price_sold_out_and_title() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    let query = "query($filter: EventFilter) { events(filter: $filter, first: 100) { totalCount nodes { title minPrice maxPrice soldOut } } }";
    let search = |filter: Value| {
        let app = &app;
        async move {
            let body = app
                .graphql_anonymous(query, json!({ "filter": filter }))
                .await;
            assert!(body.get("errors").is_none(), "{body}");
            let nodes = body["data"]["events"]["nodes"].as_array().unwrap().clone();
            assert_eq!(body["data"]["events"]["totalCount"], nodes.len(), "{body}");
            nodes
        }
    };
    let all = search(json!({})).await;
    assert_eq!(all.len(), 3);
    let titles = |nodes: &[Value]| -> Vec<String> {
        nodes
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect()
    };

    // Case and accents do not matter; the dates still work in the filter.
    assert_eq!(
        titles(&search(json!({ "titleContains": "CONCIÉRTO" })).await),
        ["Camela en concierto"]
    );
    let dated = json!({ "startsAt": "2021-06-30T19:00:00Z", "endsAt": "2021-06-30T19:30:00Z" });
    assert_eq!(titles(&search(dated).await), ["Camela en concierto"]);
    assert_eq!(search(json!({ "providers": ["acme"] })).await.len(), 3);
    assert_eq!(
        search(json!({ "providers": vec!["acme"; 100], "titleContains": "o".repeat(200) }))
            .await
            .len(),
        0
    );

    // A price bound keeps events with a ticket on its side of it.
    let cents = |v: &Value| {
        v.as_str()
            .map(|p| (p.parse::<f64>().unwrap() * 100.0).round() as i64)
    };
    for bound in ["10", "15.00", "20.5", "30", "31"] {
        let at = (bound.parse::<f64>().unwrap() * 100.0).round() as i64;
        let min = search(json!({ "minPrice": bound })).await;
        let expected = all
            .iter()
            .filter(|n| cents(&n["maxPrice"]).is_some_and(|p| p >= at));
        assert_eq!(
            titles(&min),
            titles(&expected.cloned().collect::<Vec<_>>()),
            "min {bound}"
        );
        let max = search(json!({ "maxPrice": bound })).await;
        let expected = all
            .iter()
            .filter(|n| cents(&n["minPrice"]).is_some_and(|p| p <= at));
        assert_eq!(
            titles(&max),
            titles(&expected.cloned().collect::<Vec<_>>()),
            "max {bound}"
        );
    }
    for sold_out in [true, false] {
        let found = search(json!({ "soldOut": sold_out })).await;
        assert!(found.iter().all(|n| n["soldOut"] == sold_out), "{found:?}");
        assert_eq!(
            found.len(),
            all.iter().filter(|n| n["soldOut"] == sold_out).count()
        );
    }

    // Mistakes get codes: an unknown provider, a bad price, the dates twice.
    for (filter, code) in [
        (json!({ "providers": ["acme", "nope"] }), "NOT_FOUND"),
        (json!({ "minPrice": "cheap" }), "BAD_USER_INPUT"),
        // Bounded: each name is looked up, the text matched against every title.
        (json!({ "providers": vec!["acme"; 101] }), "BAD_USER_INPUT"),
        (
            json!({ "titleContains": "ó".repeat(201) }),
            "BAD_USER_INPUT",
        ),
    ] {
        let body = app
            .graphql_anonymous(query, json!({ "filter": filter }))
            .await;
        assert_eq!(first_error_code(&body), code, "{body}");
    }
    let twice = app
        .graphql_anonymous(
            "{ events(startsAt: \"2021-01-01T00:00:00Z\", filter: { endsAt: \"2022-01-01T00:00:00Z\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&twice), "BAD_USER_INPUT", "{twice}");
}

#[tokio::test]
async fn events_are_ordered_by_start_price_or_title_and_page_in_that_order() {
    let app = spawn_app_with_samples(Backend::Postgres).await;
    let query =
        "query($order: EventOrder, $first: Int, $after: String, $last: Int, $before: String) {
        events(orderBy: $order, first: $first, after: $after, last: $last, before: $before) {
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            nodes { id title startsAt minPrice } } }";
    let page = |variables: Value| {
        let app = &app;
        async move {
            let body = app.graphql_anonymous(query, variables).await;
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["events"].clone()
        }
    };
    let cents = |node: &Value| {
        node["minPrice"]
            .as_str()
            .map(|p| (p.parse::<f64>().unwrap() * 100.0).round() as i64)
    };
    for field in ["STARTS_AT", "PRICE", "TITLE"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({ "field": field, "direction": direction });
            let all = page(json!({ "order": order, "first": 100 })).await;
            let nodes = all["nodes"].as_array().unwrap().clone();
            assert_eq!(nodes.len(), 3, "{all}");
            let mut expected = nodes.clone();
            expected.sort_by(|a, b| {
                let by = match field {
                    "STARTS_AT" => a["startsAt"].as_str().cmp(&b["startsAt"].as_str()),
                    "PRICE" => match (cents(a), cents(b)) {
                        (Some(x), Some(y)) if direction == "DESC" => y.cmp(&x),
                        (x, y) => x.is_none().cmp(&y.is_none()).then(x.cmp(&y)),
                    },
                    _ => a["title"]
                        .as_str()
                        .unwrap()
                        .to_lowercase()
                        .cmp(&b["title"].as_str().unwrap().to_lowercase()),
                };
                if direction == "DESC" && field != "PRICE" {
                    by.reverse()
                } else {
                    by
                }
            });
            let ids =
                |nodes: &[Value]| -> Vec<Value> { nodes.iter().map(|n| n["id"].clone()).collect() };
            assert_eq!(ids(&nodes), ids(&expected), "{field} {direction}");

            // One at a time, forward then backward, the same events in the same order.
            let mut forward = Vec::new();
            let mut after = Value::Null;
            loop {
                let one = page(json!({ "order": order, "first": 1, "after": after })).await;
                forward.extend(ids(one["nodes"].as_array().unwrap()));
                if one["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = one["pageInfo"]["endCursor"].clone();
            }
            assert_eq!(forward, ids(&nodes), "forward {field} {direction}");
            let mut backward = Vec::new();
            let mut before = Value::Null;
            loop {
                let one = page(json!({ "order": order, "last": 1, "before": before })).await;
                backward.extend(ids(one["nodes"].as_array().unwrap()));
                if one["pageInfo"]["hasPreviousPage"] != true {
                    break;
                }
                before = one["pageInfo"]["startCursor"].clone();
            }
            backward.reverse();
            assert_eq!(backward, ids(&nodes), "backward {field} {direction}");
        }
    }

    // A cursor belongs to its order.
    let by_price = page(json!({ "order": { "field": "PRICE" }, "first": 1 })).await;
    let body = app
        .graphql_anonymous(
            query,
            json!({ "order": { "field": "TITLE" }, "first": 1, "after": by_price["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(first_error_code(&body), "BAD_USER_INPUT", "{body}");
}

/// Jobs finished at colliding instants after colliding durations, and some not finished.
async fn seed_jobs_to_order(db: &sea_orm::DatabaseConnection) {
    use entity::{
        JobState, job, job_outcome,
        query::job::{Enqueued, NewJob},
        time,
    };
    use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
    let base = time::now() - chrono::TimeDelta::hours(1);
    for p in 0..4 {
        let changes = ProviderChanges {
            url: Some("http://127.0.0.1:9/feed.xml".parse().unwrap()),
            ..Default::default()
        };
        let provider =
            entity::query::provider::upsert(db, &format!("p{p}").parse().unwrap(), changes)
                .await
                .unwrap()
                .model()
                .id;
        for n in 0..12i64 {
            let Enqueued::Created(created) =
                entity::query::job::enqueue(db, NewJob::manual(provider, time::now()))
                    .await
                    .unwrap()
            else {
                panic!("created");
            };
            // The last job of each provider stays pending, so it has no finish or duration.
            if n == 11 {
                break;
            }
            let finished = base + chrono::TimeDelta::seconds((n * 7 + p) % 9);
            job::ActiveModel {
                id: Set(created.id),
                state: Set(JobState::Completed),
                started_at: Set(Some(base)),
                finished_at: Set(Some(finished)),
                ..Default::default()
            }
            .update(db)
            .await
            .unwrap();
            job_outcome::ActiveModel {
                job_id: Set(created.id),
                status: Set(JobState::Completed),
                finished_at: Set(Some(finished)),
                duration_ms: Set(Some((n * 37 + p) % 5 * 100)),
                ..Default::default()
            }
            .update(db)
            .await
            .unwrap();
        }
    }
}

async fn jobs_page_in_every_order(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    seed_jobs_to_order(&test_db.db).await;
    let jobs: Vec<(i64, Option<i64>, Option<i64>)> = {
        use sea_orm::EntityTrait as _;
        entity::job::Entity::find()
            .find_also_related(entity::job_outcome::Entity)
            .all(&test_db.db)
            .await
            .unwrap()
            .into_iter()
            .map(|(job, outcome)| {
                let finished = job.finished_at.map(|t| t.timestamp_micros());
                (job.id.0, finished, outcome.and_then(|o| o.duration_ms))
            })
            .collect()
    };
    assert_eq!(jobs.len(), 48);
    let app = spawn_app_on(test_db).await;
    let query =
        "query($order: JobOrder, $first: Int, $after: String, $last: Int, $before: String) {
        jobs(orderBy: $order, first: $first, after: $after, last: $last, before: $before) {
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            nodes { databaseId } } }";
    for field in ["CREATED_AT", "FINISHED_AT", "DURATION"] {
        for direction in ["ASC", "DESC"] {
            // The documented order: by (value, id) that way, then the jobs without a value
            // by id that way.
            let mut expected: Vec<(Option<i64>, i64)> = jobs
                .iter()
                .map(|(id, finished, duration)| {
                    let value = match field {
                        "CREATED_AT" => Some(*id),
                        "FINISHED_AT" => *finished,
                        _ => *duration,
                    };
                    (value, *id)
                })
                .collect();
            expected.sort_by(|a, b| {
                let by = |x: &(Option<i64>, i64), y: &(Option<i64>, i64)| match (x.0, y.0) {
                    (Some(v), Some(w)) => (v, x.1).cmp(&(w, y.1)),
                    (None, None) => x.1.cmp(&y.1),
                    _ => std::cmp::Ordering::Equal,
                };
                match (a.0.is_some(), b.0.is_some()) {
                    (true, false) => std::cmp::Ordering::Less,
                    (false, true) => std::cmp::Ordering::Greater,
                    _ if direction == "DESC" => by(b, a),
                    _ => by(a, b),
                }
            });
            let expected: Vec<String> = expected.iter().map(|(_, id)| id.to_string()).collect();
            let order = json!({ "field": field, "direction": direction });
            for size in [1, 5, 13, 100] {
                let mut forward = Vec::new();
                let mut after = Value::Null;
                loop {
                    let body = app
                        .graphql(
                            query,
                            json!({ "order": order, "first": size, "after": after }),
                        )
                        .await;
                    assert!(body.get("errors").is_none(), "{body}");
                    let page = &body["data"]["jobs"];
                    forward.extend(
                        page["nodes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|n| n["databaseId"].as_str().unwrap().to_owned()),
                    );
                    if page["pageInfo"]["hasNextPage"] != true {
                        break;
                    }
                    after = page["pageInfo"]["endCursor"].clone();
                }
                assert_eq!(forward, expected, "forward by {size}: {field} {direction}");
                let mut backward = Vec::new();
                let mut before = Value::Null;
                loop {
                    let body = app
                        .graphql(
                            query,
                            json!({ "order": order, "last": size, "before": before }),
                        )
                        .await;
                    assert!(body.get("errors").is_none(), "{body}");
                    let page = &body["data"]["jobs"];
                    let mut nodes: Vec<String> = page["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n["databaseId"].as_str().unwrap().to_owned())
                        .collect();
                    nodes.extend(backward);
                    backward = nodes;
                    if page["pageInfo"]["hasPreviousPage"] != true {
                        break;
                    }
                    before = page["pageInfo"]["startCursor"].clone();
                }
                assert_eq!(
                    backward, expected,
                    "backward by {size}: {field} {direction}"
                );
            }
        }
    }
    // A cursor belongs to its order.
    let body = app
        .graphql(
            query,
            json!({ "order": { "field": "DURATION" }, "first": 1 }),
        )
        .await;
    let cursor = body["data"]["jobs"]["pageInfo"]["endCursor"].clone();
    let body = app
        .graphql(
            query,
            json!({ "order": { "field": "FINISHED_AT" }, "first": 1, "after": cursor }),
        )
        .await;
    assert_eq!(first_error_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn jobs_page_both_ways_in_every_order_on_postgres() {
    jobs_page_in_every_order(Backend::Postgres).await;
}

#[tokio::test]
async fn jobs_page_both_ways_in_every_order_on_sqlite() {
    jobs_page_in_every_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn providers_come_a_page_at_a_time_by_name() {
    let app = spawn_app(Backend::Sqlite).await;
    for name in ["delta", "alpha", "charlie", "bravo"] {
        add_provider(&app.test_db.db, name).await;
    }
    let names = |body: &Value| -> Vec<String> {
        body["data"]["providers"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let page =
        "query($first: Int, $after: String) { providers(first: $first, after: $after) { name } }";
    let all = app.graphql("{ providers { name } }", json!({})).await;
    assert_eq!(names(&all), ["alpha", "bravo", "charlie", "delta"]);
    let first = app.graphql(page, json!({ "first": 2 })).await;
    assert_eq!(names(&first), ["alpha", "bravo"]);
    let next = app
        .graphql(page, json!({ "first": 2, "after": "bravo" }))
        .await;
    assert_eq!(names(&next), ["charlie", "delta"]);
    let past = app
        .graphql(page, json!({ "first": 2, "after": "delta" }))
        .await;
    assert!(names(&past).is_empty());
    for first in [0, 101] {
        let bad = app.graphql(page, json!({ "first": first })).await;
        assert_eq!(first_error_code(&bad), "BAD_USER_INPUT", "{bad}");
    }
}
