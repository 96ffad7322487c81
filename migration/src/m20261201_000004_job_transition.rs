//! `job_transition`: every state a job entered, in the order it entered them.
//!
//! Why: the `jobUpdates` subscription promises each change of each job (pending, running,
//! completed or failed). Re-reading the job when a notification arrives collapses quick
//! changes into the last one, and a client that reconnects cannot learn what it missed. This
//! log records the state each change produced, numbered by `seq`, which readers follow
//! (`seq` greater than the last one seen) and clients pass back to resume.
//!
//! Triggers write it, so every path that inserts a job or changes its state (the scheduler,
//! operators, claims, workers, the rescuer, a worker shutting down, an older binary during a
//! rolling deploy) is recorded without each having to remember. On PostgreSQL the trigger
//! also notifies `fever_job` with the job's id, delivered when the transaction commits.
//!
//! - `at` is copied from the job's own timestamp for that state (`created_at`, `started_at`,
//!   `finished_at`), which Rust wrote: the log keeps the one timestamp format.
//! - `seq` is an identity (`AUTOINCREMENT` on SQLite, so a number is never reused after the
//!   newest rows are pruned).
//! - No foreign key to `job`: the log is short-lived (the ingestor prunes it after minutes),
//!   and a job deleted by retention must not need a cascade through it.
//! - Per job, `seq` follows commit order: a change locks the job's row until it commits, and
//!   the trigger numbers the change after taking that lock. Across jobs, PostgreSQL may commit
//!   a lower `seq` after a higher one; readers wait for such gaps (see `graphql-api`'s
//!   change feed).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// Creates `job_transition` and the triggers on `job` that fill it.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The state's timestamp, as the trigger's `NEW` row has it (both databases accept this).
const AT: &str = "CASE NEW.state WHEN 'pending' THEN NEW.created_at \
                  WHEN 'running' THEN NEW.started_at ELSE NEW.finished_at END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobTransition::Table)
                    .col(
                        ColumnDef::new(JobTransition::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(JobTransition::JobId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(JobTransition::ProviderId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(JobTransition::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(JobTransition::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by age.
        manager
            .create_index(
                Index::create()
                    .name("job_transition_at")
                    .table(JobTransition::Table)
                    .col(JobTransition::At)
                    .to_owned(),
            )
            .await?;
        let insert = format!(
            "INSERT INTO job_transition (job_id, provider_id, state, at) \
             VALUES (NEW.id, NEW.provider_id, NEW.state, COALESCE({AT}, NEW.created_at))"
        );
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION fever_job_transition() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       {insert}; \
                       PERFORM pg_notify('fever_job', NEW.id::text); \
                       RETURN NULL; \
                     END $$"
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER job_transition_insert AFTER INSERT ON job \
                     FOR EACH ROW EXECUTE FUNCTION fever_job_transition()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER job_transition_update AFTER UPDATE OF state ON job \
                     FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) \
                     EXECUTE FUNCTION fever_job_transition()",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER job_transition_insert AFTER INSERT ON job \
                     BEGIN {insert}; END"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER job_transition_update AFTER UPDATE OF state ON job \
                     WHEN OLD.state IS NOT NEW.state BEGIN {insert}; END"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for trigger in ["job_transition_insert", "job_transition_update"] {
            let on = match manager.get_database_backend() {
                DbBackend::Postgres => " ON job",
                _ => "",
            };
            db.execute_unprepared(&format!("DROP TRIGGER {trigger}{on}"))
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION fever_job_transition()")
                .await?;
        }
        manager
            .drop_table(Table::drop().table(JobTransition::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum JobTransition {
    Table,
    Seq,
    JobId,
    ProviderId,
    State,
    At,
}
