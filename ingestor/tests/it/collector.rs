//! The collector end to end: a real HTTP provider simulator on loopback, the real job path
//! (`collect_now`), a real database.

use entity::{
    ErrorKind, JobState, ProviderId,
    query::{self, provider::ProviderChanges},
};
use sea_orm::DatabaseConnection;
use test_support::{Fault, ProviderSimulator, db_test, sample_feed};

use crate::support::{TestProvider, collect_acme};

/// Creates (or repoints) the provider `acme` at `url`, with limits small enough for tests.
async fn provider_at(db: &DatabaseConnection, url: &str, zone: &str) -> ProviderId {
    TestProvider {
        time_zone: zone,
        ..TestProvider::at(url)
    }
    .save(db)
    .await
}

/// Every stored event and its zones, comparable across runs.
async fn snapshot(db: &DatabaseConnection, provider: ProviderId) -> Vec<entity::event::Model> {
    let mut events = query::event::list_for_provider(db, provider).await.unwrap();
    events.sort_by(|a, b| (&a.base_event_id, &a.event_id).cmp(&(&b.base_event_id, &b.event_id)));
    events
}

async fn event(
    db: &DatabaseConnection,
    provider: ProviderId,
    base: &str,
    event_id: &str,
) -> Option<entity::event::Model> {
    query::event::find_by_base_event(db, provider, base)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_id == event_id)
}

db_test!(async fn the_three_samples_in_order_give_the_promised_state(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        sample_feed("response_2.xml"),
        sample_feed("response_3.xml"),
    ])
    .await;
    let acme = provider_at(db, &sim.url(), "UTC").await;

    let first = collect_acme(db).await;
    assert_eq!(first.outcome.status, JobState::Completed, "{first:?}");
    assert_eq!((first.outcome.seen, first.outcome.inserted, first.outcome.updated, first.outcome.rejected), (3, 3, 0, 0));

    let second = collect_acme(db).await;
    assert_eq!(second.outcome.status, JobState::Completed, "{second:?}");
    // 291 and 1591 changed; 444 carries 2021-09-31 and is rejected alone.
    assert_eq!((second.outcome.seen, second.outcome.inserted, second.outcome.updated, second.outcome.unchanged, second.outcome.rejected), (3, 0, 2, 0, 1));
    assert_eq!(second.rejections()[0]["base_event_id"], "444");
    assert!(second.rejections()[0]["reason"].as_str().unwrap().contains("2021-09-31"));

    let third = collect_acme(db).await;
    assert_eq!(third.outcome.status, JobState::Completed, "{third:?}");
    assert_eq!((third.outcome.seen, third.outcome.updated, third.outcome.rejected), (3, 2, 1));

    // 322 left the feed after the first snapshot and stays stored with its last values.
    let pantomima = event(db, acme, "322", "1642").await.expect("322 stays stored");
    assert!(pantomima.ever_online);
    assert_eq!(pantomima.min_price_cents, Some(5500));
    // event_id 1642 under two valid base events: two events, two ids.
    let morancos = event(db, acme, "1591", "1642").await.unwrap();
    assert_ne!(morancos.id, pantomima.id);
    // Latest values win: 291 ends at 21:30 after the third snapshot, capacities updated.
    let camela = event(db, acme, "291", "291").await.unwrap();
    assert_eq!(camela.ends_local.to_string(), "2021-06-30 21:30:00");
    let zones = camela.zone_records().unwrap();
    let capacities: Vec<_> = zones.iter().map(|z| z.capacity).collect();
    assert_eq!(capacities, [200, 0, 80]);
    assert_eq!((camela.min_price_cents, camela.max_price_cents), (Some(1500), Some(3000)));
    assert_eq!(morancos.ends_local.to_string(), "2021-07-31 21:00:00");
    // The rejected record never reached the store.
    assert!(event(db, acme, "444", "1642").await.is_none());
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 3);
    assert_eq!(camela.first_seen_at, pantomima.first_seen_at, "first seen in the first feed");
});

db_test!(async fn an_offline_event_is_stored_but_never_online(test_db) {
    // The sample's 444 is offline but carries an impossible date; with a valid date it shows
    // what the design promises for offline events.
    let db = &test_db.db;
    let fixed = |name: &str| {
        let text = String::from_utf8(sample_feed(name).to_vec()).unwrap();
        axum::body::Bytes::from(text.replace("2021-09-31", "2021-09-30"))
    };
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        fixed("response_2.xml"),
        fixed("response_3.xml"),
    ])
    .await;
    let acme = provider_at(db, &sim.url(), "UTC").await;
    for _ in 0..3 {
        assert_eq!(collect_acme(db).await.outcome.status, JobState::Completed);
    }
    let tributo = event(db, acme, "444", "1642").await.expect("444 is stored");
    assert!(!tributo.ever_online);
    assert_eq!(tributo.sell_mode, "offline");
    // event_id 1642 under three base events: three events.
    let ids: std::collections::HashSet<_> = query::event::list_for_provider(db, acme)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_id == "1642")
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), 3);
});

db_test!(async fn ever_online_is_never_cleared(test_db) {
    let db = &test_db.db;
    let online = String::from_utf8(sample_feed("response_1.xml").to_vec()).unwrap();
    let offline = online.replace("sell_mode=\"online\"", "sell_mode=\"offline\"");
    let sim = ProviderSimulator::start(vec![online.into(), offline.into()]).await;
    let acme = provider_at(db, &sim.url(), "UTC").await;
    collect_acme(db).await;
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.updated, 3, "the sell mode changed");
    for e in query::event::list_for_provider(db, acme).await.unwrap() {
        assert_eq!(e.sell_mode, "offline", "latest values win");
        assert!(e.ever_online, "but it was online once");
    }
});

db_test!(async fn the_plan_dialect_stores_the_same_model(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let acme = provider_at(db, &sim.url(), "Europe/Madrid").await;
    collect_acme(db).await;
    let from_events = snapshot(db, acme).await;

    let plans = ProviderSimulator::start(vec![sample_feed("plan_format/response_1.xml")]).await;
    provider_at(db, &plans.url(), "Europe/Madrid").await;
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.status, JobState::Completed);
    assert_eq!((report.outcome.seen, report.outcome.inserted, report.outcome.unchanged), (4, 1, 3), "only 1643 is new");
    let from_plans: Vec<_> = snapshot(db, acme)
        .await
        .into_iter()
        .filter(|e| e.event_id != "1643")
        .collect();
    assert_eq!(from_plans, from_events, "the same catalogue reads the same in both dialects");
    // Naive times are read in the provider's zone: 21:00 in Madrid in summer is 19:00 UTC.
    let camela = event(db, acme, "291", "291").await.unwrap();
    assert_eq!(camela.starts_at.to_rfc3339(), "2021-06-30T19:00:00+00:00");
    assert_eq!(camela.starts_local.to_string(), "2021-06-30 21:00:00");
});

db_test!(async fn an_unchanged_feed_writes_no_event(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    let acme = provider_at(db, &sim.url(), "UTC").await;
    collect_acme(db).await;
    let version = query::catalog_version::current(db).await.unwrap();
    let before = snapshot(db, acme).await;

    // The simulator answers 304 to the ETag we send back.
    let again = collect_acme(db).await;
    assert_eq!(again.outcome.status, JobState::Completed);
    assert!(again.outcome.feed_unchanged);
    assert_eq!(again.outcome.http_status, Some(304));
    let sent = sim.last_request().unwrap();
    assert_eq!(
        sent.get("if-none-match").unwrap().to_str().unwrap(),
        test_support::simulator::etag_of(&sample_feed("response_1.xml"))
    );

    // Without validators, the body hash says the same.
    let changes = ProviderChanges { url: Some(sim.url().parse().unwrap()), ..Default::default() };
    query::provider::upsert(db, &"acme".parse().unwrap(), changes).await.unwrap();
    let first_again = collect_acme(db).await;
    assert_eq!(first_again.outcome.unchanged, 3, "a provider with a new URL reads the feed again");
    let same_body = collect_acme(db).await;
    assert!(same_body.outcome.feed_unchanged);

    assert_eq!(query::catalog_version::current(db).await.unwrap(), version, "no event changed");
    assert_eq!(snapshot(db, acme).await, before);
});

db_test!(async fn a_resent_identical_body_is_parsed_then_recognised_and_writes_nothing(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_gzip(true);
    let acme = provider_at(db, &sim.url(), "UTC").await;
    assert_eq!(collect_acme(db).await.outcome.inserted, 3);
    let version = query::catalog_version::current(db).await.unwrap();
    let before = snapshot(db, acme).await;
    let stored = query::provider::find_by_id(db, acme).await.unwrap().unwrap();
    let hash = stored.body_hash.clone();
    assert_eq!(
        hash.as_deref(),
        Some(ingestor::collector::body_hash(&sample_feed("response_1.xml")).as_str()),
        "the hash taken while streaming is the hash of the decoded body"
    );
    // No ETag to send: the provider sends the whole body again (gzip), and only its hash,
    // known at its end, says it is the same.
    query::provider::record_feed_validators(db, acme, None, None, hash)
        .await
        .unwrap();
    let again = collect_acme(db).await;
    assert_eq!(again.outcome.status, JobState::Completed, "{again:?}");
    assert_eq!(again.outcome.http_status, Some(200));
    assert!(again.outcome.feed_unchanged);
    assert_eq!((again.outcome.inserted, again.outcome.updated), (0, 0));
    assert_eq!(query::catalog_version::current(db).await.unwrap(), version);
    assert_eq!(snapshot(db, acme).await, before, "not a row written");
});

db_test!(async fn gzip_feeds_are_decoded(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_gzip(true);
    provider_at(db, &sim.url(), "UTC").await;
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.status, JobState::Completed, "{report:?}");
    assert_eq!(report.outcome.inserted, 3);
    assert_eq!(report.outcome.bytes, Some(sample_feed("response_1.xml").len() as i64));
    let sent = sim.last_request().unwrap();
    assert!(sent.get("accept-encoding").unwrap().to_str().unwrap().contains("gzip"));
    assert!(sent.get("user-agent").unwrap().to_str().unwrap().starts_with("fever-ingestor/"));
});

/// Each fault ends in a failed job of the right kind, and no stored event changes.
async fn fault_fails_and_keeps_events(
    test_db: test_support::TestDb,
    fault: Fault,
    kind: ErrorKind,
    status: Option<i32>,
) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![
        sample_feed("response_1.xml"),
        sample_feed("response_2.xml"),
    ])
    .await;
    let acme = provider_at(db, &sim.url(), "UTC").await;
    collect_acme(db).await;
    let before = snapshot(db, acme).await;
    let version = query::catalog_version::current(db).await.unwrap();

    sim.set_fault(fault.clone());
    let report = collect_acme(db).await;
    assert_eq!(
        report.outcome.status,
        JobState::Failed,
        "{fault:?}: {report:?}"
    );
    assert_eq!(
        report.outcome.error_kind,
        Some(kind),
        "{fault:?}: {report:?}"
    );
    assert_eq!(report.outcome.http_status, status, "{fault:?}: {report:?}");
    assert!(
        report
            .outcome
            .error_message
            .as_deref()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        !report
            .outcome
            .error_message
            .as_deref()
            .unwrap()
            .contains("127.0.0.1"),
        "no URL in messages"
    );
    assert_eq!(
        snapshot(db, acme).await,
        before,
        "{fault:?} changed stored events"
    );
    assert_eq!(query::catalog_version::current(db).await.unwrap(), version);

    // Once the provider behaves again, the next feed is stored.
    sim.set_fault(Fault::None);
    let recovered = collect_acme(db).await;
    assert_eq!(
        recovered.outcome.status,
        JobState::Completed,
        "{recovered:?}"
    );
    assert_eq!(recovered.outcome.updated, 2);
}

db_test!(async fn a_slow_provider_times_out(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::Slow { delay_ms: 5_000 }, ErrorKind::Timeout, None).await;
});

db_test!(async fn a_dripping_provider_hits_the_total_timeout(test_db) {
    // A byte every 20 ms never trips the 1 s read timeout; the 2 s total stops it.
    fault_fails_and_keeps_events(test_db, Fault::Drip { pause_ms: 20 }, ErrorKind::Timeout, Some(200)).await;
});

db_test!(async fn a_hanging_provider_times_out(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::Hang, ErrorKind::Timeout, None).await;
});

db_test!(async fn a_truncated_feed_fails_to_parse(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::Truncate, ErrorKind::Parse, Some(200)).await;
});

db_test!(async fn a_malformed_feed_fails_to_parse(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::Malformed, ErrorKind::Parse, Some(200)).await;
});

db_test!(async fn a_server_error_is_an_http_status_failure(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::Status { status: 503 }, ErrorKind::HttpStatus, Some(503)).await;
});

db_test!(async fn an_oversized_feed_is_refused(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::Oversized { bytes: 100 * 1024 }, ErrorKind::TooLarge, Some(200)).await;
});

db_test!(async fn a_gzip_bomb_is_refused(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::GzipBomb { bytes: 10 * 1024 * 1024 }, ErrorKind::TooLarge, Some(200)).await;
});

db_test!(async fn a_connection_cut_mid_body_fails(test_db) {
    fault_fails_and_keeps_events(test_db, Fault::CutMidBody, ErrorKind::Connect, Some(200)).await;
});

db_test!(async fn too_many_requests_keeps_retry_after(test_db) {
    let db = &test_db.db;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    provider_at(db, &sim.url(), "UTC").await;
    sim.set_fault(Fault::TooManyRequests { retry_after_secs: 120 });
    let before = chrono::Utc::now();
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.status, JobState::Failed);
    assert_eq!(report.outcome.error_kind, Some(ErrorKind::HttpStatus));
    assert_eq!(report.outcome.http_status, Some(429));
    let outcome = query::job_outcome::find(db, report.outcome.job_id).await.unwrap().unwrap();
    let retry_after = outcome.retry_after.expect("Retry-After is kept");
    let wait = (retry_after - before).num_seconds();
    assert!((118..=121).contains(&wait), "Retry-After 120 s read as {wait} s");
    assert_eq!(query::event::count_for_provider(db, report_provider(db).await).await.unwrap(), 0);
});

async fn report_provider(db: &DatabaseConnection) -> ProviderId {
    query::provider::find_by_name(db, "acme")
        .await
        .unwrap()
        .unwrap()
        .id
}

db_test!(async fn an_unreachable_provider_is_a_connect_failure(test_db) {
    let db = &test_db.db;
    // Nothing listens on port 9 here.
    provider_at(db, "http://127.0.0.1:9/feed.xml", "UTC").await;
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.status, JobState::Failed);
    assert_eq!(report.outcome.error_kind, Some(ErrorKind::Connect));
    assert_eq!(report.outcome.http_status, None);
});

db_test!(async fn a_well_formed_feed_without_events_completes_with_a_warning(test_db) {
    let db = &test_db.db;
    let empty = axum::body::Bytes::from_static(b"<eventList version=\"1.0\"><output></output></eventList>");
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml"), empty]).await;
    let acme = provider_at(db, &sim.url(), "UTC").await;
    let first = collect_acme(db).await;
    assert!(!first.outcome.empty_feed, "{first:?}");
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.status, JobState::Completed, "{report:?}");
    assert!(report.outcome.empty_feed, "{report:?}");
    assert_eq!((report.outcome.seen, report.outcome.inserted, report.outcome.rejected), (0, 0, 0));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["empty_feed"], true, "the collect JSON says so: {json}");
    let outcome = query::job_outcome::find(db, report.outcome.job_id).await.unwrap().unwrap();
    assert!(outcome.empty_feed);
    // What was stored stays stored.
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 3);
});

db_test!(async fn a_record_dated_year_zero_is_rejected_alone_and_counted(test_db) {
    let db = &test_db.db;
    let text = String::from_utf8(sample_feed("response_1.xml").to_vec()).unwrap();
    // The first event's start goes to year 0; the rest of the feed is fine.
    let start = text.find("event_start_date=\"").unwrap() + "event_start_date=\"".len();
    let broken = format!("{}0000-01-01T00:00:00{}", &text[..start], &text[start + 19..]);
    let sim = ProviderSimulator::start(vec![axum::body::Bytes::from(broken)]).await;
    let acme = provider_at(db, &sim.url(), "UTC").await;
    let report = collect_acme(db).await;
    assert_eq!(report.outcome.status, JobState::Completed, "{report:?}");
    assert_eq!((report.outcome.seen, report.outcome.inserted, report.outcome.rejected), (3, 2, 1));
    let reason = report.rejections()[0]["reason"].as_str().unwrap();
    assert!(reason.contains("outside the years 1970 to 2200"), "{reason}");
    let stored = query::event::list_for_provider(db, acme).await.unwrap();
    assert!(stored.iter().all(|e| e.starts_at.format("%Y").to_string() != "0000"));
});
