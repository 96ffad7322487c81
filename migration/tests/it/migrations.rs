//! Migrations go up, down and up again on both databases, and binaries see when the schema
//! is behind.

use migration::{Migrator, MigratorTrait, SchemaError, StartupMigrations};
use sea_orm::ConnectionTrait;
use test_support::{Backend, TestDb};

const TABLES: [&str; 7] = [
    "provider",
    "job",
    "job_outcome",
    "event",
    "zone", // a view since the second migration
    "catalog_version",
    "job_transition",
];

async fn table_exists(db: &impl ConnectionTrait, table: &str) -> bool {
    db.execute_unprepared(&format!("SELECT 1 FROM {table} LIMIT 1"))
        .await
        .is_ok()
}

/// Reverts every migration from `name` on (the last first); returns their names, oldest
/// first.
async fn revert_to_before(db: &sea_orm::DatabaseConnection, name: &str) -> Vec<String> {
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let at = names.iter().position(|n| n == name).unwrap();
    migration::revert(db, Some((names.len() - at) as u32))
        .await
        .unwrap();
    names[at..].to_vec()
}

async fn up_down_up(backend: Backend) {
    let test_db = TestDb::empty(backend).await;
    let db = &test_db.db;

    let applied = migration::apply_pending(db).await.unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
    for table in TABLES {
        assert!(table_exists(db, table).await, "{table} after up");
    }
    migration::ensure_current(db).await.unwrap();
    assert!(
        migration::apply_pending(db).await.unwrap().is_empty(),
        "up is idempotent"
    );

    migration::revert(db, None).await.unwrap();
    for table in TABLES {
        assert!(!table_exists(db, table).await, "{table} after down");
    }
    assert!(matches!(
        migration::ensure_current(db).await,
        Err(SchemaError::Behind { .. })
    ));

    let applied = migration::apply_pending(db).await.unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
    for table in TABLES {
        assert!(table_exists(db, table).await, "{table} after up again");
    }
    assert_eq!(
        entity::query::catalog_version::current(db).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_on_postgres() {
    up_down_up(Backend::Postgres).await;
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_on_sqlite() {
    up_down_up(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_schema_behind_is_refused_with_a_clear_message() {
    let test_db = TestDb::empty(Backend::Postgres).await;
    let err = migration::prepare(&test_db.db, StartupMigrations::Require)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("behind"), "{text}");
    assert!(text.contains("ingestor migrate"), "{text}");
    // A status check changes nothing: the database is still empty.
    assert!(!table_exists(&test_db.db, "seaql_migrations").await);
    let status = migration::status(&test_db.db).await.unwrap();
    assert!(status.iter().all(|m| !m.applied));
}

#[tokio::test]
async fn concurrent_migrations_on_postgres_apply_each_migration_once() {
    let test_db = TestDb::empty(Backend::Postgres).await;
    let others: Vec<_> = more_pools(&test_db, 4).await;
    let runs = others.iter().map(migration::apply_pending);
    let results = futures::future::join_all(runs).await;
    let applied: usize = results.into_iter().map(|r| r.unwrap().len()).sum();
    assert_eq!(applied, Migrator::migrations().len());
    migration::ensure_current(&test_db.db).await.unwrap();
}

async fn more_pools(test_db: &TestDb, n: usize) -> Vec<sea_orm::DatabaseConnection> {
    let mut pools = Vec::with_capacity(n);
    for _ in 0..n {
        pools.push(test_db.connect_again().await);
    }
    pools
}

#[tokio::test]
async fn the_embedded_default_migrates_itself_at_start_up() {
    let test_db = TestDb::empty(Backend::Sqlite).await;
    let policy = StartupMigrations::default_for(test_db.db.get_database_backend());
    assert_eq!(policy, StartupMigrations::Apply);
    migration::prepare(&test_db.db, policy).await.unwrap();
    migration::ensure_current(&test_db.db).await.unwrap();
}

/// A provider called `acme`.
async fn acme(db: &sea_orm::DatabaseConnection) -> entity::ProviderId {
    let changes = entity::query::provider::ProviderChanges {
        url: Some("http://127.0.0.1:9/feed.xml".parse().unwrap()),
        ..Default::default()
    };
    entity::query::provider::upsert(db, &"acme".parse().unwrap(), changes)
        .await
        .unwrap()
        .model()
        .id
}

/// A manual job of `provider`, created `at`; it must be its only active one.
async fn enqueue(
    db: &sea_orm::DatabaseConnection,
    provider: entity::ProviderId,
    at: chrono::DateTime<chrono::Utc>,
) -> entity::job::Model {
    use entity::query::job::{Enqueued, NewJob, enqueue};
    match enqueue(db, NewJob::manual(provider, at)).await.unwrap() {
        Enqueued::Created(job) => job,
        Enqueued::Conflict => panic!("the provider already has an active job"),
    }
}

async fn empty_feed_column_goes_down_and_up_keeping_rows(backend: Backend) {
    use entity::query;
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let provider = acme(db).await;
    let job = enqueue(db, provider, entity::time::now()).await;
    assert!(table_exists(db, "job_outcome").await);
    db.execute_unprepared("SELECT empty_feed FROM job_outcome")
        .await
        .unwrap();

    let reverted = revert_to_before(db, "m20261201_000003_job_outcome_empty_feed").await;
    assert!(
        db.execute_unprepared("SELECT empty_feed FROM job_outcome")
            .await
            .is_err(),
        "down drops the column"
    );
    assert!(matches!(
        migration::ensure_current(db).await,
        Err(SchemaError::Behind { pending }) if pending == reverted
    ));

    migration::apply_pending(db).await.unwrap();
    let outcome = query::job_outcome::find(db, job.id).await.unwrap().unwrap();
    assert!(
        !outcome.empty_feed,
        "an existing outcome reads as not empty"
    );
}

#[tokio::test]
async fn the_empty_feed_column_goes_down_and_up_keeping_outcomes_on_postgres() {
    empty_feed_column_goes_down_and_up_keeping_rows(Backend::Postgres).await;
}

#[tokio::test]
async fn the_empty_feed_column_goes_down_and_up_keeping_outcomes_on_sqlite() {
    empty_feed_column_goes_down_and_up_keeping_rows(Backend::Sqlite).await;
}

async fn titles_are_folded_for_search_when_the_column_arrives(backend: Backend) {
    use entity::{EventId, search::fold};
    use sea_orm::{ActiveModelTrait as _, EntityTrait as _};
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let acme = crate::constraints::provider(db, "acme").await;
    let titles = ["Ópera de Madrid", "CAMELA", "Niño Josele", "Café Müller"];
    for (n, title) in titles.iter().enumerate() {
        let mut row = crate::constraints::event_row(
            acme,
            EventId::derive("acme", "1", &n.to_string()),
            "1",
            &n.to_string(),
        );
        row.title = sea_orm::ActiveValue::Set((*title).to_owned());
        row.title_folded = sea_orm::ActiveValue::Set("stale".to_owned());
        row.insert(db).await.unwrap();
    }
    revert_to_before(db, "m20261201_000005_event_title_folded").await;
    migration::apply_pending(db).await.unwrap();
    let mut folded: Vec<(String, String)> = entity::event::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.title, e.title_folded))
        .collect();
    folded.sort();
    let mut expected: Vec<(String, String)> =
        titles.iter().map(|t| ((*t).to_owned(), fold(t))).collect();
    expected.sort();
    assert_eq!(folded, expected);
    assert!(folded.iter().any(|(_, f)| f == "opera de madrid"));
}

#[tokio::test]
async fn titles_are_folded_for_search_when_the_column_arrives_on_postgres() {
    titles_are_folded_for_search_when_the_column_arrives(Backend::Postgres).await;
}

#[tokio::test]
async fn titles_are_folded_for_search_when_the_column_arrives_on_sqlite() {
    titles_are_folded_for_search_when_the_column_arrives(Backend::Sqlite).await;
}

async fn provider_health_is_summed_up_from_the_stored_outcomes(backend: Backend) {
    use entity::{
        ErrorKind,
        query::{self, job_outcome::Finished},
    };
    use sea_orm::EntityTrait as _;
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let provider = acme(db).await;
    // Completed (an empty changed feed), failed, completed (unchanged): kept live as each
    // finishes.
    let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut jobs = Vec::new();
    for (n, error, feed_unchanged) in [
        (0, None, false),
        (
            1,
            Some((ErrorKind::HttpStatus, "HTTP 503".to_owned())),
            false,
        ),
        (2, None, true),
    ] {
        let at = start + chrono::TimeDelta::minutes(n);
        let job = enqueue(db, provider, at).await;
        jobs.push(job.id);
        let finished = Finished {
            finished_at: at + chrono::TimeDelta::seconds(n + 1),
            error,
            feed_unchanged,
            empty_feed: n == 0,
            ..Default::default()
        };
        query::job_outcome::record_finished(db, &job, &finished)
            .await
            .unwrap();
        query::job::force_state(db, job.id, entity::JobState::Completed)
            .await
            .unwrap();
    }
    let live = entity::provider_health::Entity::find_by_id(provider)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.recent().len(), 3);
    assert!(live.last_feed_empty, "the last changed feed was empty");
    // The last run is the third job; the last error, the second's, stays after it.
    assert_eq!(live.last_finished_job_id, Some(jobs[2]));
    assert_eq!(live.last_finished_at, live.last_success_at);
    assert_eq!(live.last_error_job_id, Some(jobs[1]));
    assert_eq!(live.last_error_kind, Some(ErrorKind::HttpStatus));
    assert_eq!(live.last_error_message.as_deref(), Some("HTTP 503"));
    assert_eq!(
        live.last_error_at.map(|t| t.timestamp()),
        Some((start + chrono::TimeDelta::minutes(1) + chrono::TimeDelta::seconds(2)).timestamp())
    );
    assert_eq!(
        live.last_success_at.map(|t| t.timestamp()),
        Some((start + chrono::TimeDelta::minutes(2) + chrono::TimeDelta::seconds(3)).timestamp())
    );

    // The migrations sum up the same outcomes to the same row (this one, then the one that
    // added the last finished job and the last error).
    revert_to_before(db, "m20261201_000008_provider_health").await;
    assert!(!table_exists(db, "provider_health").await);
    migration::apply_pending(db).await.unwrap();
    let backfilled = entity::provider_health::Entity::find_by_id(provider)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(backfilled, live);
}

#[tokio::test]
async fn provider_health_is_summed_up_from_the_stored_outcomes_on_postgres() {
    provider_health_is_summed_up_from_the_stored_outcomes(Backend::Postgres).await;
}

#[tokio::test]
async fn provider_health_is_summed_up_from_the_stored_outcomes_on_sqlite() {
    provider_health_is_summed_up_from_the_stored_outcomes(Backend::Sqlite).await;
}

/// `job_tally` as kept live equals what its migration counts from the same outcomes, and
/// both use the same duration bounds.
async fn job_tally_counts_the_stored_outcomes(backend: Backend) {
    use entity::{
        ErrorKind,
        query::{self, job_outcome::Finished},
    };
    assert_eq!(
        migration::JOB_TALLY_BOUNDS_MS,
        query::job_tally::BOUNDS_MS,
        "the entity's bounds are the migration's"
    );
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let provider = acme(db).await;
    let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    // Durations across buckets (and past the last bound), completed and failed of two kinds.
    let runs = [
        (0, None),
        (40, None),
        (700, None),
        (700, Some(ErrorKind::Timeout)),
        (3_000, Some(ErrorKind::HttpStatus)),
        (400_000, Some(ErrorKind::HttpStatus)),
        (3_000, None),
    ];
    for (n, (ms, kind)) in runs.into_iter().enumerate() {
        let at = start + chrono::TimeDelta::minutes(n as i64);
        let mut job = enqueue(db, provider, at).await;
        job.started_at = Some(at);
        let finished = Finished {
            finished_at: at + chrono::TimeDelta::milliseconds(ms),
            error: kind.map(|k| (k, "it failed".to_owned())),
            ..Default::default()
        };
        query::job_outcome::record_finished(db, &job, &finished)
            .await
            .unwrap();
        let state = if kind.is_some() {
            entity::JobState::Failed
        } else {
            entity::JobState::Completed
        };
        query::job::force_state(db, job.id, state).await.unwrap();
    }
    let live = query::job_tally::all(db).await.unwrap();
    assert_eq!(live.iter().map(|t| t.jobs).sum::<i64>(), 7);
    assert_eq!(
        live.iter().map(|t| t.duration_ms).sum::<i64>(),
        runs.iter().map(|(ms, _)| ms).sum::<i64>()
    );
    let timeouts: Vec<_> = live.iter().filter(|t| t.error_kind == "timeout").collect();
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0].bucket, query::job_tally::bucket_of(700));
    assert!(
        live.iter().any(|t| t.bucket == 12),
        "400 s is past the last bound: {live:?}"
    );

    revert_to_before(db, "m20261201_000013_job_tally").await;
    assert!(!table_exists(db, "job_tally").await);
    migration::apply_pending(db).await.unwrap();
    assert_eq!(query::job_tally::all(db).await.unwrap(), live);
}

#[tokio::test]
async fn job_tally_counts_the_stored_outcomes_on_postgres() {
    job_tally_counts_the_stored_outcomes(Backend::Postgres).await;
}

#[tokio::test]
async fn job_tally_counts_the_stored_outcomes_on_sqlite() {
    job_tally_counts_the_stored_outcomes(Backend::Sqlite).await;
}

/// The counts the triggers keep, and a count of the job table, by state.
async fn counts(db: &sea_orm::DatabaseConnection) -> (Vec<(String, i64)>, Vec<(String, i64)>) {
    use sea_orm::{ConnectionTrait as _, Statement};
    let read = |sql: &str| {
        let sql = sql.to_owned();
        async move {
            let rows = db
                .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap();
            let mut out: Vec<(String, i64)> = rows
                .iter()
                .map(|r| (r.try_get("", "state").unwrap(), r.try_get("", "n").unwrap()))
                .filter(|(_, n)| *n != 0)
                .collect();
            out.sort();
            out
        }
    };
    (
        read("SELECT state, CAST(SUM(n) AS BIGINT) AS n FROM job_count GROUP BY state").await,
        read("SELECT state, COUNT(*) AS n FROM job GROUP BY state").await,
    )
}

async fn job_counts_follow_every_write(backend: Backend) {
    use entity::{JobState, query};
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let provider = acme(db).await;
    let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    // Jobs made and moved one after the other: pending, running, then completed or failed.
    let mut ids = Vec::new();
    for n in 0..6 {
        let job = enqueue(db, provider, start + chrono::TimeDelta::minutes(n)).await;
        let (kept, expected) = counts(db).await;
        assert_eq!(kept, expected, "after an insert");
        let last = if n % 3 == 0 {
            JobState::Failed
        } else {
            JobState::Completed
        };
        for state in [JobState::Running, last] {
            query::job::force_state(db, job.id, state).await.unwrap();
        }
        ids.push(job.id);
    }
    let (kept, expected) = counts(db).await;
    assert_eq!(kept, expected, "after state changes");
    assert_eq!(
        kept,
        [("completed".to_owned(), 4), ("failed".to_owned(), 2)]
    );
    // Retention deletes a batch in one statement.
    entity::job::Entity::delete_many()
        .filter(entity::job::Column::Id.is_in(ids[..4].iter().copied()))
        .exec(db)
        .await
        .unwrap();
    let (kept, expected) = counts(db).await;
    assert_eq!(kept, expected, "after a batch delete");
    assert_eq!(kept, [("completed".to_owned(), 2)]);

    // Existing jobs are counted when the table arrives.
    revert_to_before(db, "m20261201_000009_job_count").await;
    migration::apply_pending(db).await.unwrap();
    let (kept, expected) = counts(db).await;
    assert_eq!(kept, expected, "counted by the migration");
}

#[tokio::test]
async fn job_counts_follow_every_write_on_postgres() {
    job_counts_follow_every_write(Backend::Postgres).await;
}

#[tokio::test]
async fn job_counts_follow_every_write_on_sqlite() {
    job_counts_follow_every_write(Backend::Sqlite).await;
}

/// The columns of `table`, in order, with their types (PostgreSQL).
async fn columns_of(db: &sea_orm::DatabaseConnection, table: &str) -> Vec<(String, String)> {
    let sql = format!(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_name = '{table}' ORDER BY ordinal_position"
    );
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql,
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_event_stage_holds_every_column_of_event_on_postgres() {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let stage = columns_of(db, "event_stage").await;
    let event = columns_of(db, "event").await;
    assert_eq!(
        stage[..2],
        [
            ("job_id".to_owned(), "bigint".to_owned()),
            ("is_new".to_owned(), "boolean".to_owned())
        ]
    );
    assert_eq!(stage[2..], event[..], "the stage follows event's columns");

    revert_to_before(db, "m20261201_000010_event_stage").await;
    assert!(!table_exists(db, "event_stage").await);
    Migrator::up(db, None).await.unwrap();
    assert!(table_exists(db, "event_stage").await);
}

#[tokio::test]
async fn the_event_provider_check_goes_down_to_the_foreign_key_and_up_again_on_postgres() {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let has_fk = || async {
        db.query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*)::bigint FROM pg_constraint WHERE conname = 'event_provider_fk'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
            == 1
    };
    assert!(!has_fk().await);
    revert_to_before(db, "m20261201_000011_event_provider_check").await;
    assert!(has_fk().await);
    Migrator::up(db, None).await.unwrap();
    assert!(!has_fk().await);
}
