//! The one short transaction that ends a job: its state, its outcome and, for a completed
//! collection, the events, all committed together or not at all.
//!
//! It runs after the fetch, never across it. Its first statement takes the job's row under the
//! worker's lease token: if the lease was lost (the rescuer failed the job meanwhile), nothing
//! is written. Its last moves the job out of `running`, at the instant the writes ended, so a
//! job's `finishedAt` and duration include the store. Before it begins, a changed feed's events
//! are compared with what is stored by content hash, and only new and changed ones are staged
//! (binary `COPY` on PostgreSQL) for it to write with two set-based statements; the catalogue
//! version is bumped only when something changed. A failed job never touches events.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    EventId, JobId, JobState,
    feed_snapshot::{Compressed, Directory},
    job, provider,
    query::{
        self,
        event::{EventWrite, Staged, StoredState},
        job::NewJob,
        job_change::{ChangedIds, LISTED},
        job_outcome::Finished,
    },
    time,
};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

use crate::collector::{
    Collected, Feed,
    fever_xml::{ReadFeed, Rejection},
};

/// How stale `last_seen_at` may get for an event a feed carries again unchanged before the
/// store rewrites it: rewriting every unchanged row on every run would make an unchanged
/// catalogue cost as much as a new one.
pub const SEEN_RESOLUTION: TimeDelta = TimeDelta::hours(1);

/// What the commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The job ended and its outcome was written.
    Done(Box<Finished>),
    /// The worker no longer held the job: nothing was written.
    LeaseLost,
}

/// Ends `job` as completed with what `collected` brought.
///
/// Before the transaction, a changed feed's records are compared with what is stored and the
/// new and changed ones staged ([`query::event::stage`]); the transaction then writes them with
/// the job's end. Staged rows the transaction did not write are dropped again.
pub async fn complete(
    db: &DatabaseConnection,
    job: &job::Model,
    provider: &provider::Model,
    collected: &Collected,
    snapshot_dir: Option<&Directory>,
    now: DateTime<Utc>,
) -> Result<Committed, DbErr> {
    let started = std::time::Instant::now();
    let snapshot = Snapshot::prepare(snapshot_dir, job.id, collected.snapshot.as_ref()).await;
    let sorted = match &collected.feed {
        Feed::Read(feed) => Some(sort_records(db, provider, feed, now).await?),
        Feed::NotModified | Feed::SameBody => None,
    };
    let staged = match &sorted {
        Some(sorted) => Some(sorted.stage(db, job, provider, now).await?),
        None => None,
    };
    let result = commit(
        db,
        job,
        provider,
        collected,
        Stored {
            sorted: sorted.as_ref(),
            staged,
            snapshot,
            started,
        },
        now,
    )
    .await;
    if !matches!(result, Ok(Committed::Done(_)))
        && let Err(e) = query::event::discard(db, job.id).await
    {
        // The rescuer clears what is left once the job is no longer running.
        tracing::warn!(job.id = %job.id, error = %e, "staged events not dropped");
    }
    result
}

async fn commit(
    db: &DatabaseConnection,
    job: &job::Model,
    provider: &provider::Model,
    collected: &Collected,
    stored: Stored<'_, '_, '_>,
    now: DateTime<Utc>,
) -> Result<Committed, DbErr> {
    let Stored {
        sorted,
        staged,
        snapshot,
        started,
    } = stored;
    let txn = query::begin_write(db).await?;
    if !query::job::hold(&txn, job).await? {
        txn.rollback().await?;
        return Ok(Committed::LeaseLost);
    }
    let mut finished = Finished {
        finished_at: now,
        http_status: collected.http_status,
        bytes: Some(collected.bytes),
        phases: collected.phases,
        ..Finished::default()
    };
    match (&collected.feed, sorted, staged) {
        (Feed::Read(feed), Some(sorted), Some(staged)) => {
            write_events(&txn, provider, staged, sorted, now).await?;
            finished.seen = count(feed.seen);
            finished.inserted = count(sorted.new.len());
            finished.updated = count(sorted.changed.len());
            finished.unchanged = sorted.unchanged;
            finished.stopped = count(sorted.stopped.len());
            query::job_change::insert(&txn, job.id, &sorted.changed_ids()).await?;
            finished.rejected = count(feed.rejected);
            finished.rejections = rejections_json(&feed.rejections);
            // A feed lists what is on sale now: an empty one keeps every stored event, but an
            // operator should know (a provider outage often looks like this).
            finished.empty_feed = feed.seen == 0;
            if finished.empty_feed {
                tracing::warn!(
                    provider = %provider.name,
                    "the feed is well-formed but lists no events; stored events are kept"
                );
            }
            if feed.duplicates > 0 {
                tracing::warn!(
                    provider = %provider.name,
                    duplicates = feed.duplicates,
                    "the feed repeats event triples; the last occurrence of each was kept"
                );
            }
        }
        _ => finished.feed_unchanged = true,
    }
    let validators = &collected.validators;
    let changed = validators.etag != provider.etag
        || validators.last_modified != provider.last_modified
        || validators.body_hash != provider.body_hash;
    if changed {
        query::provider::record_feed_validators(
            &txn,
            provider.id,
            validators.etag.clone(),
            validators.last_modified.clone(),
            validators.body_hash.clone(),
        )
        .await?;
    }
    // The job ends when its writes are done: its finish and duration include the store.
    finished.finished_at = time::now();
    finished.phases.store = Some(started.elapsed());
    if !query::job::finish(&txn, job, JobState::Completed, finished.finished_at).await? {
        txn.rollback().await?;
        return Ok(Committed::LeaseLost);
    }
    query::job_outcome::record_finished(&txn, job, &finished).await?;
    if let Some(snapshot) = snapshot {
        snapshot.insert(&txn, job, finished.finished_at).await?;
    }
    txn.commit().await?;
    Ok(Committed::Done(Box::new(finished)))
}

/// Ends `job` as failed with `finished` (whose `error` is set), keeps `snapshot` (the body the
/// parser read before it failed, in `snapshot_dir` if set), and creates `retry` in the same
/// transaction when there is one, so a failure is never left without its retry; unless the
/// provider now backs off or is paused: then its retries stop.
pub async fn fail(
    db: &DatabaseConnection,
    job: &job::Model,
    finished: Finished,
    snapshot: Option<&Compressed>,
    snapshot_dir: Option<&Directory>,
    retry: Option<NewJob>,
) -> Result<(Committed, Option<job::Model>), DbErr> {
    let snapshot = Snapshot::prepare(snapshot_dir, job.id, snapshot).await;
    let txn = query::begin_write(db).await?;
    if !query::job::finish(&txn, job, JobState::Failed, finished.finished_at).await? {
        txn.rollback().await?;
        return Ok((Committed::LeaseLost, None));
    }
    let standing = query::job_outcome::record_finished(&txn, job, &finished).await?;
    if let Some(snapshot) = snapshot {
        snapshot.insert(&txn, job, finished.finished_at).await?;
    }
    let retried = match retry.filter(|_| !standing.holds_retries()) {
        Some(new) => query::job::enqueue_in(&txn, new).await?,
        None => None,
    };
    txn.commit().await?;
    Ok((Committed::Done(Box::new(finished)), retried))
}

/// What the transaction writes of a changed feed, the body it keeps, and when the store began.
struct Stored<'s, 'w, 'r> {
    sorted: Option<&'s Sorted<'r>>,
    staged: Option<Staged<'w, 'r>>,
    snapshot: Option<Snapshot<'s>>,
    started: std::time::Instant,
}

/// A body to keep with a job's end, and the file that holds it already when bodies go to a
/// snapshot directory.
struct Snapshot<'b> {
    body: &'b Compressed,
    file: Option<String>,
}

impl<'b> Snapshot<'b> {
    /// Makes `body`, if any, ready to keep with `job`'s end: when `directory` is set, its file
    /// is written first, before the transaction (a file whose row never commits is swept by
    /// retention). A file that cannot be written is logged and the body not kept: the job is
    /// not affected.
    async fn prepare(
        directory: Option<&Directory>,
        job: JobId,
        body: Option<&'b Compressed>,
    ) -> Option<Self> {
        let body = body?;
        let Some(directory) = directory else {
            return Some(Self { body, file: None });
        };
        let (directory, frame) = (directory.clone(), body.body.clone());
        let written = tokio::task::spawn_blocking(move || directory.write(job, &frame))
            .await
            .map_err(std::io::Error::other)
            .flatten();
        match written {
            Ok(file) => Some(Self {
                body,
                file: Some(file),
            }),
            Err(err) => {
                tracing::warn!(error = %err, "the feed body could not be kept in the snapshot directory");
                None
            }
        }
    }

    /// Records the body with `job`, ended at `at`, in the job's transaction.
    async fn insert(
        self,
        txn: &DatabaseTransaction,
        job: &job::Model,
        at: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        query::feed_snapshot::insert(txn, job.id, job.provider_id, at, self.body, self.file).await
    }
}

/// What a feed's records do to the stored events.
struct Sorted<'r> {
    /// Not stored yet.
    new: Vec<EventWrite<'r>>,
    /// Stored with another content hash.
    changed: Vec<EventWrite<'r>>,
    /// Unchanged, and last seen more than [`SEEN_RESOLUTION`] ago or not listed.
    seen_again: Vec<EventId>,
    /// Unchanged.
    unchanged: u32,
    /// The first [`LISTED`] unchanged, in feed order.
    unchanged_first: Vec<EventId>,
    /// Listed by the provider's previous feed, not by this one; by id.
    stopped: Vec<EventId>,
}

/// Compares `feed`'s records with what `provider` has stored, by content hash, and finds the
/// listed events it no longer carries.
///
/// A rejected record still lists its event (when its ids were readable): only an event
/// absent from the feed stops. An empty feed stops nothing: it keeps every stored event, as
/// it looks like an outage more often than an empty catalogue.
async fn sort_records<'r>(
    db: &DatabaseConnection,
    provider: &provider::Model,
    feed: &'r ReadFeed,
    now: DateTime<Utc>,
) -> Result<Sorted<'r>, DbErr> {
    let started = std::time::Instant::now();
    let mut stored: HashMap<EventId, StoredState> =
        query::event::stored_states(db, provider.id).await?;
    let loaded_ms = started.elapsed().as_millis() as u64;
    let mut sorted = Sorted {
        new: Vec::new(),
        changed: Vec::new(),
        seen_again: Vec::new(),
        unchanged: 0,
        unchanged_first: Vec::new(),
        stopped: Vec::new(),
    };
    for record in &feed.records {
        let id = record.id(&provider.name);
        let content_hash = record.content_hash();
        let write = EventWrite {
            id,
            record,
            content_hash,
        };
        match stored.remove(&id) {
            None => sorted.new.push(write),
            Some(state) if state.content_hash != content_hash => sorted.changed.push(write),
            Some(state) => {
                sorted.unchanged += 1;
                if sorted.unchanged_first.len() < LISTED {
                    sorted.unchanged_first.push(id);
                }
                if !state.listed || now - state.last_seen_at >= SEEN_RESOLUTION {
                    sorted.seen_again.push(id);
                }
            }
        }
    }
    if feed.seen > 0 {
        for (base_event_id, event_id) in &feed.rejected_ids {
            stored.remove(&EventId::derive(&provider.name, base_event_id, event_id));
        }
        sorted.stopped = stored
            .into_values()
            .filter(|state| state.listed)
            .map(|state| state.id)
            .collect();
        sorted.stopped.sort_unstable();
    }
    tracing::debug!(
        provider = %provider.name,
        load_ms = loaded_ms,
        compare_ms = started.elapsed().as_millis() as u64 - loaded_ms,
        rows.new = sorted.new.len(),
        rows.changed = sorted.changed.len(),
        rows.unchanged = sorted.unchanged,
        rows.stopped = sorted.stopped.len(),
        "events compared"
    );
    Ok(sorted)
}

impl<'r> Sorted<'r> {
    /// The first ids of each kind, as the job keeps them.
    fn changed_ids(&self) -> ChangedIds {
        let first = |writes: &[EventWrite<'_>]| writes.iter().take(LISTED).map(|w| w.id).collect();
        ChangedIds {
            inserted: first(&self.new),
            updated: first(&self.changed),
            unchanged: self.unchanged_first.clone(),
            stopped: self.stopped.iter().take(LISTED).copied().collect(),
        }
    }

    /// Stages the new and changed events for `job`'s transaction.
    async fn stage<'w>(
        &'w self,
        db: &DatabaseConnection,
        job: &job::Model,
        provider: &provider::Model,
        now: DateTime<Utc>,
    ) -> Result<Staged<'w, 'r>, DbErr> {
        let started = std::time::Instant::now();
        let staged =
            query::event::stage(db, job.id, provider.id, &self.new, &self.changed, now).await?;
        tracing::debug!(
            provider = %provider.name,
            stage_ms = started.elapsed().as_millis() as u64,
            "events staged"
        );
        Ok(staged)
    }
}

/// Writes the staged events under a new catalogue version (when there are any), marks the
/// unchanged ones seen again and the stopped ones unlisted.
async fn write_events(
    txn: &DatabaseTransaction,
    provider: &provider::Model,
    staged: Staged<'_, '_>,
    sorted: &Sorted<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let seen_again = &sorted.seen_again;
    let started = std::time::Instant::now();
    if !staged.is_empty() {
        let version = query::catalog_version::bump(txn).await?;
        query::event::write_many(txn, staged, version).await?;
        query::notify(txn, query::CATALOG_CHANNEL, &version.to_string()).await?;
    }
    let written_ms = started.elapsed().as_millis() as u64;
    query::event::touch_seen(txn, seen_again, now).await?;
    query::event::unlist(txn, &sorted.stopped).await?;
    tracing::debug!(
        provider = %provider.name,
        write_ms = written_ms,
        touch_ms = started.elapsed().as_millis() as u64 - written_ms,
        rows.touched = seen_again.len(),
        "events stored"
    );
    Ok(())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn rejections_json(rejections: &[Rejection]) -> Option<serde_json::Value> {
    if rejections.is_empty() {
        None
    } else {
        serde_json::to_value(rejections).ok()
    }
}
