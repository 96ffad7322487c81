//! Zones move into their event's row, as a JSON array in `event.zones`; `zone` becomes a view.
//!
//! Why: zones are the feed's list for one event, always written and read with it and never
//! queried alone. As rows of their own, a 100k-event feed with 5 zones each wrote 600k rows,
//! each zone row paying a primary-key insert on a random UUID and a foreign-key check: on the
//! reference machine that alone took over 3 s of PostgreSQL time. Inline, the same feed writes
//! 100k rows. The `zone` view keeps the relational shape for SQL readers (reports, psql).
//!
//! The JSON is written by the ingestor only, one object per zone in feed order:
//! `{"zone_id":"40","name":"Platea","capacity":243,"price_cents":2000,"numbered":true}`.
//!
//! The partial index on `(starts_at, ends_at)` goes too: search is served from the API's
//! in-memory index, built by one scan at start-up and refreshed by `catalog_version`, so no
//! query ranges over dates in the database, and the index cost a fifth of every event write.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261125_000001_create_tables::zone_table;

/// Moves zones into `event.zones` and replaces the `zone` table with a view.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const PG_ZONES_FROM_TABLE: &str = "UPDATE event SET zones = COALESCE((
        SELECT json_agg(json_build_object('zone_id', z.zone_id, 'name', z.name,
            'capacity', z.capacity, 'price_cents', z.price_cents, 'numbered', z.numbered)
            ORDER BY z.position)::text
        FROM zone z WHERE z.event_id = event.id), '[]')";

const SQLITE_ZONES_FROM_TABLE: &str = "UPDATE event SET zones = COALESCE((
        SELECT json_group_array(json_object('zone_id', z.zone_id, 'name', z.name,
            'capacity', z.capacity, 'price_cents', z.price_cents,
            'numbered', json(CASE WHEN z.numbered THEN 'true' ELSE 'false' END)))
        FROM (SELECT * FROM zone WHERE zone.event_id = event.id ORDER BY position) z), '[]')";

const PG_ZONE_VIEW: &str = "CREATE VIEW zone AS
    SELECT e.id AS event_id, (z.ordinality - 1)::int AS position,
        z.value->>'zone_id' AS zone_id, z.value->>'name' AS name,
        (z.value->>'capacity')::int AS capacity, (z.value->>'price_cents')::bigint AS price_cents,
        (z.value->>'numbered')::boolean AS numbered
    FROM event e CROSS JOIN LATERAL jsonb_array_elements(e.zones::jsonb) WITH ORDINALITY AS z(value, ordinality)";

const SQLITE_ZONE_VIEW: &str = "CREATE VIEW zone AS
    SELECT e.id AS event_id, CAST(j.key AS INTEGER) AS position,
        json_extract(j.value, '$.zone_id') AS zone_id, json_extract(j.value, '$.name') AS name,
        json_extract(j.value, '$.capacity') AS capacity,
        json_extract(j.value, '$.price_cents') AS price_cents,
        json_extract(j.value, '$.numbered') AS numbered
    FROM event e, json_each(e.zones) j";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        db.execute_unprepared("ALTER TABLE event ADD COLUMN zones TEXT NOT NULL DEFAULT '[]'")
            .await?;
        db.execute_unprepared(if postgres {
            PG_ZONES_FROM_TABLE
        } else {
            SQLITE_ZONES_FROM_TABLE
        })
        .await?;
        if postgres {
            // Every write names the column; no row should rely on a default.
            db.execute_unprepared("ALTER TABLE event ALTER COLUMN zones DROP DEFAULT")
                .await?;
        }
        db.execute_unprepared("DROP TABLE zone").await?;
        db.execute_unprepared(if postgres {
            PG_ZONE_VIEW
        } else {
            SQLITE_ZONE_VIEW
        })
        .await?;
        db.execute_unprepared("DROP INDEX event_searchable_start")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX event_searchable_start ON event (starts_at, ends_at) WHERE ever_online",
        )
        .await?;
        db.execute_unprepared("DROP VIEW zone").await?;
        manager.create_table(zone_table()).await?;
        let restore = if manager.get_database_backend() == DbBackend::Postgres {
            "INSERT INTO zone (event_id, position, zone_id, name, capacity, price_cents, numbered)
             SELECT e.id, (z.ordinality - 1)::int, z.value->>'zone_id', z.value->>'name',
                (z.value->>'capacity')::int, (z.value->>'price_cents')::bigint,
                (z.value->>'numbered')::boolean
             FROM event e CROSS JOIN LATERAL jsonb_array_elements(e.zones::jsonb)
                WITH ORDINALITY AS z(value, ordinality)"
        } else {
            "INSERT INTO zone (event_id, position, zone_id, name, capacity, price_cents, numbered)
             SELECT e.id, CAST(j.key AS INTEGER), json_extract(j.value, '$.zone_id'),
                json_extract(j.value, '$.name'), json_extract(j.value, '$.capacity'),
                json_extract(j.value, '$.price_cents'), json_extract(j.value, '$.numbered')
             FROM event e, json_each(e.zones) j"
        };
        db.execute_unprepared(restore).await?;
        db.execute_unprepared("ALTER TABLE event DROP COLUMN zones")
            .await?;
        Ok(())
    }
}
