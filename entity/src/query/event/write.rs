//! The writes of a collected feed: new and changed events in batches, and "seen again".
//!
//! Every statement is built from the entity's own column list (`Column::iter()`) and two
//! exhaustive matches: [`rewrite`] says which columns a changed record rewrites, [`value`]
//! what each column is written from, on both databases. A column added to the table does not
//! compile until both say how it is written (and `event_stage` gets it too: see its migration).

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, IdenStatic,
    Iterable, QueryFilter, RuntimeErr, Statement, Value,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SimpleExpr},
    sqlx::postgres::PgPoolCopyExt,
};

use super::ID_BATCH;
use crate::{
    EventId, JobId, ProviderId,
    event::{Column, Entity},
    record::EventRecord,
    search::fold,
};

/// An event to insert or update, with what the store computed about it.
#[derive(Debug, Clone, Copy)]
pub struct EventWrite<'a> {
    /// Its id.
    pub id: EventId,
    /// The record.
    pub record: &'a EventRecord,
    /// `record.content_hash()`.
    pub content_hash: i64,
}

/// What a feed that carries a stored event again with other content does to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    /// Kept: the identity and the first sighting.
    Keep,
    /// Replaced by the record's value.
    Replace,
    /// Turned on, never off (`ever_online`).
    Sticky,
}

fn rewrite(column: Column) -> Rewrite {
    use Column as C;
    match column {
        C::Id | C::ProviderId | C::BaseEventId | C::EventId | C::FirstSeenAt => Rewrite::Keep,
        C::EverOnline => Rewrite::Sticky,
        C::Title
        | C::TitleFolded
        | C::SellMode
        | C::OrganizerCompanyId
        | C::StartsLocal
        | C::EndsLocal
        | C::StartsAt
        | C::EndsAt
        | C::SellFrom
        | C::SellTo
        | C::SoldOut
        | C::MinPriceCents
        | C::MaxPriceCents
        | C::ContentHash
        | C::LastSeenAt
        | C::Listed
        | C::UpdatedAt
        | C::CatalogVersion
        | C::Zones => Rewrite::Replace,
    }
}

/// Bytes of binary `COPY` data sent to the server at a time: the rows of a large write are
/// encoded and sent as they go, never held whole.
const COPY_CHUNK: usize = 1 << 20;

/// Events per multi-row statement on SQLite: 24 parameters each stays under its limit of
/// 32 766.
const SQLITE_BATCH: usize = 1_000;

/// A feed's writes, made ready before the job's transaction by [`stage`] and written inside
/// it by [`write_many`].
///
/// On PostgreSQL the rows are already in `event_stage`, sent there with binary `COPY` on a
/// connection of their own; on SQLite they wait here.
#[must_use = "staged rows are written by write_many, or dropped by discard"]
#[derive(Debug)]
pub struct Staged<'w, 'r> {
    job: JobId,
    provider_id: ProviderId,
    now: DateTime<Utc>,
    new: &'w [EventWrite<'r>],
    changed: &'w [EventWrite<'r>],
    copied: bool,
}

impl Staged<'_, '_> {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.changed.is_empty()
    }
}

/// Makes `job`'s writes of events of `provider_id` ready: `new` ones (not stored yet) to
/// insert, `changed` ones (stored with another content hash) to rewrite, at `now`. No triple
/// may repeat. Runs before the job's transaction, outside it.
///
/// On PostgreSQL the rows go to `event_stage` with one `COPY ... FROM STDIN (FORMAT binary)`,
/// encoded a chunk at a time: the server parses binary COPY data at a fraction of what array
/// parameters cost it, and the job's transaction, which moves them with two set-based
/// statements, stays short. The unlogged stage costs no write-ahead log; rows a crashed job
/// leaves behind are cleared by [`clear_abandoned_stages`].
pub async fn stage<'w, 'r>(
    db: &DatabaseConnection,
    job: JobId,
    provider_id: ProviderId,
    new: &'w [EventWrite<'r>],
    changed: &'w [EventWrite<'r>],
    now: DateTime<Utc>,
) -> Result<Staged<'w, 'r>, DbErr> {
    let mut staged = Staged {
        job,
        provider_id,
        now,
        new,
        changed,
        copied: false,
    };
    if db.get_database_backend() != DbBackend::Postgres || staged.is_empty() {
        return Ok(staged);
    }
    let stamp = staged.stamp(0);
    let mut copy = db
        .get_postgres_connection_pool()
        .copy_in_raw(&COPY_STAGE)
        .await
        .map_err(sqlx_err)?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    buf.extend_from_slice(COPY_HEADER);
    let rows = new.iter().map(|w| (w, true));
    for (write, is_new) in rows.chain(changed.iter().map(|w| (w, false))) {
        let fields = 2 + Column::iter().count();
        buf.extend_from_slice(&i16::try_from(fields).unwrap_or(i16::MAX).to_be_bytes());
        let head = [Value::BigInt(Some(job.0)), Value::Bool(Some(is_new))];
        let columns = Column::iter().map(|c| value(c, write, stamp));
        for field in head.into_iter().chain(columns) {
            if let Err(e) = encode_binary(&field, &mut buf) {
                let _ = copy.abort(e.to_string()).await;
                return Err(e);
            }
        }
        if buf.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buf))
                .await
                .map_err(sqlx_err)?;
            buf.reserve(COPY_CHUNK + 64 * 1024);
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buf).await.map_err(sqlx_err)?;
    copy.finish().await.map_err(sqlx_err)?;
    staged.copied = true;
    Ok(staged)
}

/// Writes what [`stage`] made ready, under `catalog_version`, inside the job's transaction
/// (`db`): new events inserted, changed ones rewritten with the latest values; `ever_online`
/// is only ever set, never cleared, and `first_seen_at` keeps its first value.
///
/// On PostgreSQL, one `INSERT ... SELECT` and one `UPDATE ... FROM` over the job's staged
/// rows, then their delete. No `ON CONFLICT` arbitration (its speculative insertion costs about
/// as much as the insert): the split is safe because a provider's events are only written by
/// its one running job, whose lease guards the transaction. SQLite, which has no `COPY`, gets
/// multi-row upserts keyed on the identity triple.
pub async fn write_many(
    db: &impl ConnectionTrait,
    staged: Staged<'_, '_>,
    catalog_version: i64,
) -> Result<(), DbErr> {
    if !staged.copied {
        let all: Vec<EventWrite<'_>> = staged.new.iter().chain(staged.changed).copied().collect();
        return upsert_values(db, &all, staged.stamp(catalog_version)).await;
    }
    let values = || -> Vec<Value> { vec![staged.job.0.into(), catalog_version.into()] };
    for sql in [&*PG_INSERT_STAGED, &*PG_UPDATE_STAGED] {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values(),
        ))
        .await?;
    }
    discard(db, staged.job).await
}

/// Deletes the rows `job` staged (a job that ended without writing them: its lease was lost,
/// or its transaction failed). Nothing on SQLite.
pub async fn discard(db: &impl ConnectionTrait, job: JobId) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM event_stage WHERE job_id = $1",
        [job.0.into()],
    ))
    .await
    .map(|_| ())
}

/// Deletes staged rows of jobs no longer running (their worker died between the stage and the
/// commit); returns how many. Nothing on SQLite.
pub async fn clear_abandoned_stages(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let sql = "DELETE FROM event_stage s WHERE NOT EXISTS \
               (SELECT 1 FROM job WHERE job.id = s.job_id AND job.state = 'running')";
    Ok(db.execute_unprepared(sql).await?.rows_affected())
}

/// Marks events a feed carried again without changes as seen now, and listed.
pub async fn touch_seen(
    db: &impl ConnectionTrait,
    ids: &[EventId],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    set_on(
        db,
        ids,
        &[
            (Column::LastSeenAt, Expr::value(now)),
            (Column::Listed, Expr::value(true)),
        ],
    )
    .await
}

/// Marks events a feed no longer carries as unlisted (they are kept, as every event is).
pub async fn unlist(db: &impl ConnectionTrait, ids: &[EventId]) -> Result<(), DbErr> {
    set_on(db, ids, &[(Column::Listed, Expr::value(false))]).await
}

/// Sets `values` on the events `ids`, [`ID_BATCH`] ids per statement.
async fn set_on(
    db: &impl ConnectionTrait,
    ids: &[EventId],
    values: &[(Column, SimpleExpr)],
) -> Result<(), DbErr> {
    for chunk in ids.chunks(ID_BATCH) {
        let mut update = Entity::update_many();
        for (column, value) in values {
            update = update.col_expr(*column, value.clone());
        }
        update
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What a whole batch shares: whose events, when, and under which catalogue version.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    provider_id: ProviderId,
    now: DateTime<Utc>,
    catalog_version: i64,
}

impl Staged<'_, '_> {
    fn stamp(&self, catalog_version: i64) -> Stamp {
        Stamp {
            provider_id: self.provider_id,
            now: self.now,
            catalog_version,
        }
    }
}

/// What a column is written from: the one place that says it, for both databases.
fn value(column: Column, write: &EventWrite<'_>, stamp: Stamp) -> Value {
    use Column as C;
    let r = write.record;
    match column {
        C::Id => write.id.into(),
        C::ProviderId => stamp.provider_id.into(),
        C::BaseEventId => r.base_event_id.as_str().into(),
        C::EventId => r.event_id.as_str().into(),
        C::Title => r.title.as_str().into(),
        C::TitleFolded => fold(&r.title).into(),
        C::SellMode => r.sell_mode.as_str().into(),
        C::OrganizerCompanyId => r.organizer_company_id.clone().into(),
        C::EverOnline => r.is_online().into(),
        C::StartsLocal => r.starts_local.into(),
        C::EndsLocal => r.ends_local.into(),
        C::StartsAt => r.starts_at.into(),
        C::EndsAt => r.ends_at.into(),
        C::SellFrom => r.sell_from.into(),
        C::SellTo => r.sell_to.into(),
        C::SoldOut => r.sold_out.into(),
        C::MinPriceCents => r.min_price_cents().into(),
        C::MaxPriceCents => r.max_price_cents().into(),
        C::ContentHash => write.content_hash.into(),
        C::Listed => true.into(),
        C::FirstSeenAt | C::LastSeenAt | C::UpdatedAt => stamp.now.into(),
        C::CatalogVersion => stamp.catalog_version.into(),
        C::Zones => r.zones_json().into(),
    }
}

// PostgreSQL: binary COPY into the stage, then two set-based statements.

/// `COPY event_stage (job_id, is_new, <every column of event>) FROM STDIN (FORMAT binary)`.
static COPY_STAGE: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = Column::iter().map(|c| c.as_str()).collect();
    format!(
        "COPY event_stage (job_id, is_new, {}) FROM STDIN (FORMAT binary)",
        columns.join(", ")
    )
});

/// What a column is moved from: the staged row `u`, but for the catalogue version (`$2`),
/// which the job's transaction takes only after the stage.
fn moved(column: Column) -> String {
    match column {
        Column::CatalogVersion => "$2".to_owned(),
        other => format!("u.{}", other.as_str()),
    }
}

/// Inserts the new events `$1` staged.
static PG_INSERT_STAGED: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = Column::iter().map(|c| c.as_str()).collect();
    let values: Vec<String> = Column::iter().map(moved).collect();
    format!(
        "INSERT INTO event ({}) SELECT {} FROM event_stage u WHERE u.job_id = $1 AND u.is_new",
        columns.join(", "),
        values.join(", "),
    )
});

/// Rewrites the changed events `$1` staged.
static PG_UPDATE_STAGED: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = Column::iter()
        .filter_map(|c| match rewrite(c) {
            Rewrite::Keep => None,
            Rewrite::Replace => Some(format!("{} = {}", c.as_str(), moved(c))),
            Rewrite::Sticky => Some(format!("{0} = event.{0} OR {1}", c.as_str(), moved(c))),
        })
        .collect();
    format!(
        "UPDATE event SET {} FROM event_stage u WHERE u.job_id = $1 AND NOT u.is_new \
         AND event.id = u.id AND event.provider_id = u.provider_id",
        sets.join(", "),
    )
});

/// The signature, flags and header extension length that open binary `COPY` data.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Appends `value` as one field of a binary `COPY` row: its length, then its bytes in the
/// column type's binary format (NULL is the length -1).
fn encode_binary(value: &Value, buf: &mut Vec<u8>) -> Result<(), DbErr> {
    fn field(buf: &mut Vec<u8>, bytes: &[u8]) {
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    match value {
        Value::Bool(Some(b)) => field(buf, &[u8::from(*b)]),
        Value::BigInt(Some(n)) => field(buf, &n.to_be_bytes()),
        Value::String(Some(s)) => field(buf, s.as_bytes()),
        Value::Uuid(Some(u)) => field(buf, u.as_bytes()),
        Value::ChronoDateTime(Some(t)) => {
            let micros = t.and_utc().timestamp_micros() - PG_EPOCH_MICROS;
            field(buf, &micros.to_be_bytes());
        }
        Value::ChronoDateTimeUtc(Some(t)) => {
            let micros = t.timestamp_micros() - PG_EPOCH_MICROS;
            field(buf, &micros.to_be_bytes());
        }
        Value::Bool(None)
        | Value::BigInt(None)
        | Value::String(None)
        | Value::Uuid(None)
        | Value::ChronoDateTime(None)
        | Value::ChronoDateTimeUtc(None) => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        other => {
            return Err(DbErr::Custom(format!(
                "no binary COPY encoding for {other:?}"
            )));
        }
    }
    Ok(())
}

fn sqlx_err(err: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

// SQLite: multi-row upserts.

async fn upsert_values(
    db: &impl ConnectionTrait,
    writes: &[EventWrite<'_>],
    stamp: Stamp,
) -> Result<(), DbErr> {
    let mut on_conflict =
        OnConflict::columns([Column::ProviderId, Column::BaseEventId, Column::EventId]);
    on_conflict.update_columns(Column::iter().filter(|&c| rewrite(c) == Rewrite::Replace));
    for sticky in Column::iter().filter(|&c| rewrite(c) == Rewrite::Sticky) {
        on_conflict.value(
            sticky,
            Expr::col((Entity, sticky)).or(Expr::col((Alias::new("excluded"), sticky))),
        );
    }
    for chunk in writes.chunks(SQLITE_BATCH) {
        let mut insert = Query::insert();
        insert.into_table(Entity).columns(Column::iter());
        for write in chunk {
            let row = Column::iter().map(|c| SimpleExpr::Value(value(c, write, stamp)));
            insert
                .values(row)
                .map_err(|e| DbErr::Custom(format!("event insert: {e}")))?;
        }
        insert.on_conflict(on_conflict.clone());
        db.execute(&insert).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_moves_every_column_and_an_update_never_rewrites_the_identity() {
        let copy = &*COPY_STAGE;
        let staged = copy
            .strip_prefix("COPY event_stage (job_id, is_new, ")
            .and_then(|rest| rest.split_once(") FROM STDIN"))
            .map(|(columns, _)| columns.split(", ").count());
        assert_eq!(staged, Some(Column::iter().count()), "{copy}");

        let insert = &*PG_INSERT_STAGED;
        let listed = insert
            .strip_prefix("INSERT INTO event (")
            .and_then(|rest| rest.split_once(") SELECT "))
            .map(|(columns, _)| columns.split(", ").count());
        assert_eq!(listed, Some(Column::iter().count()), "{insert}");
        assert!(
            insert.contains(", $2, ") && !insert.contains("u.catalog_version"),
            "the version is the transaction's own: {insert}"
        );

        let update = &*PG_UPDATE_STAGED;
        let set: Vec<&str> = update
            .strip_prefix("UPDATE event SET ")
            .and_then(|rest| rest.split_once(" FROM event_stage"))
            .map(|(sets, _)| {
                sets.split(", ")
                    .map(|s| s.split(" = ").next().unwrap_or(s))
                    .collect()
            })
            .unwrap_or_default();
        for kept in [
            "id",
            "provider_id",
            "base_event_id",
            "event_id",
            "first_seen_at",
        ] {
            assert!(!set.contains(&kept), "{kept} rewritten: {update}");
        }
        assert!(
            set.contains(&"zones") && set.contains(&"last_seen_at"),
            "{update}"
        );
        assert!(
            update.contains("ever_online = event.ever_online OR u.ever_online"),
            "{update}"
        );
    }

    #[test]
    fn binary_copy_fields_are_length_prefixed_big_endian_values() {
        let mut buf = Vec::new();
        let at = DateTime::from_timestamp(946_684_801, 500_000_000).expect("an instant");
        for value in [
            Value::Bool(Some(true)),
            Value::BigInt(Some(-2)),
            Value::String(Some("é".to_owned())),
            Value::String(None),
            Value::ChronoDateTimeUtc(Some(at)),
            Value::ChronoDateTime(Some(at.naive_utc())),
        ] {
            encode_binary(&value, &mut buf).expect("encodable");
        }
        let micros = 1_500_000i64.to_be_bytes();
        let mut expected = vec![0, 0, 0, 1, 1, 0, 0, 0, 8];
        expected.extend_from_slice(&(-2i64).to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 2, 0xc3, 0xa9, 0xff, 0xff, 0xff, 0xff]);
        for _ in 0..2 {
            expected.extend_from_slice(&[0, 0, 0, 8]);
            expected.extend_from_slice(&micros);
        }
        assert_eq!(buf, expected);
        assert!(encode_binary(&Value::Int(Some(1)), &mut buf).is_err());
    }
}
