//! Events keep their provider by a check per statement instead of a foreign key, on PostgreSQL.
//!
//! Why: the foreign key `event_provider_fk` checks its provider once per inserted row (a
//! trigger and a key-share lookup each). A provider's first 100k-event feed spent 0.75 s of
//! its 2.1 s insert there, and the same insert without it ran at the speed of PostgreSQL's own
//! `COPY` (issue 13, item 2). Every event of a statement belongs to the one provider whose job
//! writes it, so one check per statement holds the same rule:
//!
//! - Insert: once per statement, the providers named by the new rows (its transition table)
//!   must all exist; they are locked `FOR KEY SHARE`, as the foreign key's own check locks
//!   them, so a concurrent delete of one waits for the insert and then sees its events.
//! - An event never moves to another provider (its identity is the triple).
//! - A provider with events cannot be deleted, nor its id changed (`ON DELETE RESTRICT`, as
//!   before).
//!
//! SQLite keeps its foreign key: its checks are in-process and its writes are small upserts.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// Replaces `event_provider_fk` with statement-level checks (PostgreSQL only).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE event DROP CONSTRAINT event_provider_fk",
    "CREATE FUNCTION fever_event_provider_exists() RETURNS trigger LANGUAGE plpgsql AS $$
     DECLARE
         named bigint;
         found bigint;
     BEGIN
         SELECT count(DISTINCT provider_id) INTO named FROM new_events;
         SELECT count(*) INTO found FROM (
             SELECT 1 FROM provider
             WHERE id IN (SELECT DISTINCT provider_id FROM new_events)
             FOR KEY SHARE) locked;
         IF found <> named THEN
             RAISE EXCEPTION 'an event names a provider that does not exist'
                 USING ERRCODE = 'foreign_key_violation';
         END IF;
         RETURN NULL;
     END $$",
    "CREATE TRIGGER event_provider_exists AFTER INSERT ON event \
     REFERENCING NEW TABLE AS new_events \
     FOR EACH STATEMENT EXECUTE FUNCTION fever_event_provider_exists()",
    "CREATE FUNCTION fever_event_stays() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         RAISE EXCEPTION 'an event never moves to another provider'
             USING ERRCODE = 'foreign_key_violation';
     END $$",
    "CREATE TRIGGER event_stays_with_provider BEFORE UPDATE OF provider_id ON event \
     FOR EACH ROW WHEN (OLD.provider_id IS DISTINCT FROM NEW.provider_id) \
     EXECUTE FUNCTION fever_event_stays()",
    "CREATE FUNCTION fever_provider_keeps_events() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         IF (TG_OP = 'DELETE' OR NEW.id <> OLD.id)
             AND EXISTS (SELECT 1 FROM event WHERE provider_id = OLD.id) THEN
             RAISE EXCEPTION 'provider % has events', OLD.id
                 USING ERRCODE = 'foreign_key_violation';
         END IF;
         IF TG_OP = 'DELETE' THEN
             RETURN OLD;
         END IF;
         RETURN NEW;
     END $$",
    "CREATE TRIGGER provider_keeps_events BEFORE DELETE OR UPDATE OF id ON provider \
     FOR EACH ROW EXECUTE FUNCTION fever_provider_keeps_events()",
];

const DOWN: &[&str] = &[
    "DROP TRIGGER provider_keeps_events ON provider",
    "DROP FUNCTION fever_provider_keeps_events()",
    "DROP TRIGGER event_stays_with_provider ON event",
    "DROP FUNCTION fever_event_stays()",
    "DROP TRIGGER event_provider_exists ON event",
    "DROP FUNCTION fever_event_provider_exists()",
    "ALTER TABLE event ADD CONSTRAINT event_provider_fk FOREIGN KEY (provider_id) \
     REFERENCES provider (id) ON DELETE RESTRICT",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
