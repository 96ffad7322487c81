//! Each key of the data model rejects what it must, on both databases.

use chrono::{TimeDelta, Utc};
use entity::{
    EventId, JobState, ProviderId, event,
    query::{
        self,
        job::{Enqueued, NewJob},
        provider::ProviderChanges,
    },
    time,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection};
use test_support::db_test;

pub(crate) async fn provider(db: &DatabaseConnection, name: &str) -> ProviderId {
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

pub(crate) fn event_row(
    provider_id: ProviderId,
    id: EventId,
    base: &str,
    event_id: &str,
) -> event::ActiveModel {
    let now = time::now();
    let start = chrono::NaiveDate::from_ymd_opt(2021, 6, 30)
        .unwrap()
        .and_hms_opt(21, 0, 0)
        .unwrap();
    event::ActiveModel {
        id: Set(id),
        provider_id: Set(provider_id),
        base_event_id: Set(base.to_owned()),
        event_id: Set(event_id.to_owned()),
        title: Set("Camela en concierto".to_owned()),
        title_folded: Set("camela en concierto".to_owned()),
        sell_mode: Set("online".to_owned()),
        organizer_company_id: Set(None),
        ever_online: Set(true),
        starts_local: Set(start),
        ends_local: Set(start + TimeDelta::hours(1)),
        starts_at: Set(start.and_utc()),
        ends_at: Set(start.and_utc() + TimeDelta::hours(1)),
        sell_from: Set(None),
        sell_to: Set(None),
        sold_out: Set(false),
        min_price_cents: Set(Some(1500)),
        max_price_cents: Set(Some(3000)),
        content_hash: Set(42),
        first_seen_at: Set(now),
        last_seen_at: Set(now),
        listed: Set(true),
        updated_at: Set(now),
        catalog_version: Set(1),
        zones: Set("[]".to_owned()),
    }
}

db_test!(async fn duplicate_identity_triple_is_rejected(test_db) {
    let db = &test_db.db;
    let acme = provider(db, "acme").await;
    event_row(acme, EventId::derive("acme", "322", "1642"), "322", "1642")
        .insert(db)
        .await
        .unwrap();
    // The same event id under another base event is another event.
    event_row(acme, EventId::derive("acme", "1591", "1642"), "1591", "1642")
        .insert(db)
        .await
        .unwrap();
    // The same triple under any row id is refused.
    let err = event_row(acme, EventId(uuid::Uuid::new_v4()), "322", "1642")
        .insert(db)
        .await
        .unwrap_err();
    assert!(query::is_unique_violation(&err), "{err}");
    // Another provider may use the same ids.
    let other = provider(db, "other").await;
    event_row(other, EventId::derive("other", "322", "1642"), "322", "1642")
        .insert(db)
        .await
        .unwrap();
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 2);
});

db_test!(async fn a_second_active_job_for_a_provider_is_refused(test_db) {
    let db = &test_db.db;
    let acme = provider(db, "acme").await;
    let now = Utc::now();
    let Enqueued::Created(first) = query::job::enqueue(db, NewJob::manual(acme, now)).await.unwrap()
    else {
        panic!("the first job is created");
    };
    assert_eq!(first.state, JobState::Pending);
    let outcome = query::job_outcome::find(db, first.id).await.unwrap().unwrap();
    assert_eq!(outcome.status, JobState::Pending, "the outcome is created with the job");

    // Pending: a second one, manual or scheduled, is refused.
    assert_eq!(
        query::job::enqueue(db, NewJob::manual(acme, now)).await.unwrap(),
        Enqueued::Conflict
    );
    assert_eq!(
        query::job::enqueue(db, NewJob::scheduled(acme, now)).await.unwrap(),
        Enqueued::Conflict
    );
    // Running: still refused.
    query::job::force_state(db, first.id, JobState::Running).await.unwrap();
    assert_eq!(
        query::job::enqueue(db, NewJob::manual(acme, now)).await.unwrap(),
        Enqueued::Conflict
    );
    // Another provider is not affected.
    let other = provider(db, "other").await;
    assert!(matches!(
        query::job::enqueue(db, NewJob::manual(other, now)).await.unwrap(),
        Enqueued::Created(_)
    ));
    // Finished: the slot is free again.
    query::job::force_state(db, first.id, JobState::Completed).await.unwrap();
    assert!(matches!(
        query::job::enqueue(db, NewJob::manual(acme, now)).await.unwrap(),
        Enqueued::Created(_)
    ));
    assert_eq!(query::job::list_for_provider(db, acme).await.unwrap().len(), 2);
});

db_test!(async fn a_duplicate_tick_is_refused_even_when_the_first_job_finished(test_db) {
    let db = &test_db.db;
    let acme = provider(db, "acme").await;
    let tick = time::truncate(Utc::now());
    let Enqueued::Created(first) = query::job::enqueue(db, NewJob::scheduled(acme, tick))
        .await
        .unwrap()
    else {
        panic!("the first job of the tick is created");
    };
    query::job::force_state(db, first.id, JobState::Failed).await.unwrap();
    assert_eq!(
        query::job::enqueue(db, NewJob::scheduled(acme, tick)).await.unwrap(),
        Enqueued::Conflict,
        "one job per (provider, tick), whatever its state"
    );
    // The next tick is another job.
    assert!(matches!(
        query::job::enqueue(db, NewJob::scheduled(acme, tick + TimeDelta::seconds(1)))
            .await
            .unwrap(),
        Enqueued::Created(_)
    ));
    // A failed insert leaves no orphan outcome behind.
    let jobs = query::job::list_for_provider(db, acme).await.unwrap();
    assert_eq!(jobs.len(), 2);
    for job in jobs {
        assert!(query::job_outcome::find(db, job.id).await.unwrap().is_some());
    }
});

db_test!(async fn providers_are_created_then_updated_by_name(test_db) {
    let db = &test_db.db;
    let name = "acme".parse().unwrap();
    let missing = query::provider::upsert(db, &name, ProviderChanges::default()).await;
    assert!(missing.unwrap_err().to_string().contains("feed URL is required"));

    let created = provider(db, "acme").await;
    let changes = ProviderChanges {
        schedule: Some("*/30 * * * * *".parse().unwrap()),
        time_zone: Some("Europe/Madrid".parse().unwrap()),
        ..Default::default()
    };
    let updated = query::provider::upsert(db, &name, changes).await.unwrap();
    assert!(matches!(updated, query::provider::Upserted::Updated(_)));
    let model = updated.model();
    assert_eq!(model.id, created);
    assert_eq!(model.schedule, "*/30 * * * * *");
    assert_eq!(model.time_zone, "Europe/Madrid");
    assert_eq!(model.url, "http://127.0.0.1:9/feed.xml", "unchanged fields are kept");
    let listed = query::provider::list(db).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(&listed[0], model, "timestamps round-trip exactly");
});

db_test!(async fn events_keep_their_provider(test_db) {
    use sea_orm::{ConnectionTrait as _, DbBackend};
    let db = &test_db.db;
    let acme = provider(db, "acme").await;
    let idle = provider(db, "idle").await;
    let missing = ProviderId(acme.0 + 1_000);
    let err = event_row(missing, EventId::derive("x", "1", "1"), "1", "1")
        .insert(db)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("provider") || err.to_string().contains("FOREIGN KEY"), "{err}");
    event_row(acme, EventId::derive("acme", "1", "1"), "1", "1")
        .insert(db)
        .await
        .unwrap();

    // A provider with events stays; one without may go.
    let delete = |id: ProviderId| format!("DELETE FROM provider WHERE id = {}", id.0);
    assert!(db.execute_unprepared(&delete(acme)).await.is_err());
    db.execute_unprepared(&delete(idle)).await.unwrap();
    assert_eq!(query::event::count_for_provider(db, acme).await.unwrap(), 1);

    if db.get_database_backend() == DbBackend::Postgres {
        let other = provider(db, "other").await;
        let moved = format!("UPDATE event SET provider_id = {} WHERE provider_id = {}", other.0, acme.0);
        let err = db.execute_unprepared(&moved).await.unwrap_err();
        assert!(err.to_string().contains("never moves"), "{err}");
        let renumbered = format!("UPDATE provider SET id = {} WHERE id = {}", missing.0, acme.0);
        assert!(db.execute_unprepared(&renumbered).await.is_err());
    }
});
