//! `job_count`: how many jobs each provider has in each state, kept by triggers on `job`.
//!
//! Why: the monitoring page shows job counts (all jobs, and per state) on every poll, and a
//! `COUNT(*)` over the job table grows with it: job dashboards are known to fall over on
//! exactly that at tens of millions of rows (issue 13). Triggers keep the counts in the
//! transaction that changes a job, so every write path (the scheduler, claims, workers, the
//! rescuer, retention, an older binary during a rolling deploy) keeps them exact, and reading
//! them costs a row per provider and state.
//!
//! - An insert adds one to its (provider, state), a change of state moves one, on both
//!   databases, row by row (a job's changes are one row each).
//! - A delete (retention prunes in batches) subtracts: on PostgreSQL once per statement, from
//!   its transition table grouped by (provider, state), so a batch of thousands updates a few
//!   count rows instead of one per job; on SQLite row by row.
//! - Existing jobs are counted here once.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// Creates `job_count`, its triggers on `job`, and counts the existing jobs.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// Adds `delta` to the count of (`provider`, `state`), creating it at 0 first, in a trigger of
/// `backend`.
fn add(backend: DbBackend, provider: &str, state: &str, delta: i32) -> String {
    let create = match backend {
        DbBackend::Postgres => format!(
            "INSERT INTO job_count (provider_id, state, n) VALUES ({provider}, {state}, 0) \
             ON CONFLICT (provider_id, state) DO NOTHING"
        ),
        _ => format!(
            "INSERT OR IGNORE INTO job_count (provider_id, state, n) \
             VALUES ({provider}, {state}, 0)"
        ),
    };
    format!(
        "{create}; UPDATE job_count SET n = n + ({delta}) \
         WHERE provider_id = {provider} AND state = {state}"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobCount::Table)
                    .col(
                        ColumnDef::new(JobCount::ProviderId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(JobCount::State).string_len(16).not_null())
                    .col(
                        ColumnDef::new(JobCount::N)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(JobCount::ProviderId)
                            .col(JobCount::State),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let inserted = add(backend, "NEW.provider_id", "NEW.state", 1);
        let moved = format!(
            "{}; {}",
            add(backend, "OLD.provider_id", "OLD.state", -1),
            add(backend, "NEW.provider_id", "NEW.state", 1)
        );
        match backend {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION fever_job_count_row() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       IF TG_OP = 'INSERT' THEN {inserted}; ELSE {moved}; END IF; \
                       RETURN NULL; \
                     END $$"
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE FUNCTION fever_job_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       UPDATE job_count SET n = job_count.n - gone.n \
                       FROM (SELECT provider_id, state, count(*) AS n FROM deleted_jobs \
                             GROUP BY provider_id, state) gone \
                       WHERE job_count.provider_id = gone.provider_id \
                         AND job_count.state = gone.state; \
                       RETURN NULL; \
                     END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER job_count_insert AFTER INSERT ON job \
                     FOR EACH ROW EXECUTE FUNCTION fever_job_count_row()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job \
                     FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) \
                     EXECUTE FUNCTION fever_job_count_row()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER job_count_delete AFTER DELETE ON job \
                     REFERENCING OLD TABLE AS deleted_jobs \
                     FOR EACH STATEMENT EXECUTE FUNCTION fever_job_count_deleted()",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER job_count_insert AFTER INSERT ON job BEGIN {inserted}; END"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job \
                     WHEN OLD.state IS NOT NEW.state BEGIN {moved}; END"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER job_count_delete AFTER DELETE ON job BEGIN {}; END",
                    add(backend, "OLD.provider_id", "OLD.state", -1)
                ))
                .await?;
            }
        }
        db.execute_unprepared(
            "INSERT INTO job_count (provider_id, state, n) \
             SELECT provider_id, state, count(*) FROM job GROUP BY provider_id, state",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        for trigger in ["job_count_insert", "job_count_update", "job_count_delete"] {
            let on = if postgres { " ON job" } else { "" };
            db.execute_unprepared(&format!("DROP TRIGGER {trigger}{on}"))
                .await?;
        }
        if postgres {
            for function in ["fever_job_count_row", "fever_job_count_deleted"] {
                db.execute_unprepared(&format!("DROP FUNCTION {function}()"))
                    .await?;
            }
        }
        manager
            .drop_table(Table::drop().table(JobCount::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum JobCount {
    Table,
    ProviderId,
    State,
    N,
}
