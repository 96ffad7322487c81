//! Keeping the search index in step with the database.
//!
//! At start-up the index is built from one scan of the searchable events. Then a refresher
//! loads only what changed: the ingestor bumps the catalogue version in each transaction that
//! changes events (and, on PostgreSQL, notifies `fever_catalog` on commit); the refresher reads
//! the events of versions it has not seen and swaps in the next snapshot. On SQLite, which has
//! no notifications, it polls the version. When the database is unreachable the last snapshot
//! keeps serving and the refresher retries; [`CatalogStatus`] says how old the snapshot is.
//!
//! The refresher hears about new versions from the change feed (`crate::changes`), and polls
//! as well. It stops when its cancellation token fires.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use entity::{ProviderId, query};
use futures::StreamExt as _;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{EventSummary, SearchIndex, Snapshot};

/// Rows a refresh decodes between two yields to the runtime.
const REFRESH_YIELD_ROWS: usize = 256;

/// Builds a snapshot of every searchable event.
pub async fn load(db: &DatabaseConnection) -> Result<Snapshot, DbErr> {
    // The version first: anything committed while the pages load has a later version and is
    // applied again by the first refresh, which is harmless.
    let version = query::catalog_version::current(db).await?;
    let providers = provider_names(db).await?;
    let mut events = Vec::new();
    let mut rows = std::pin::pin!(query::event::summary_stream(db).await?);
    while let Some(event) = rows.next().await {
        events.push(Arc::new(event?));
    }
    Ok(Snapshot::from_shared(version, events, providers))
}

async fn provider_names(db: &DatabaseConnection) -> Result<HashMap<ProviderId, Arc<str>>, DbErr> {
    Ok(query::provider::list(db)
        .await?
        .into_iter()
        .map(|p| (p.id, Arc::from(p.name)))
        .collect())
}

/// How fresh the index is, for `/readyz` and `/metrics`.
#[derive(Debug, Default)]
pub struct CatalogStatus {
    /// When the refresher last reached the database (Unix milliseconds).
    checked_at_ms: AtomicI64,
}

impl CatalogStatus {
    fn checked(&self) {
        self.checked_at_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// How long ago the snapshot was known to be current.
    pub fn age(&self) -> Duration {
        let checked = self.checked_at_ms.load(Ordering::Relaxed);
        let age = Utc::now().timestamp_millis() - checked;
        Duration::from_millis(u64::try_from(age).unwrap_or(0))
    }
}

/// Loads what changed since the snapshot's version and swaps in the next snapshot; returns
/// whether anything changed.
pub async fn refresh(
    db: &DatabaseConnection,
    index: &SearchIndex,
    status: &CatalogStatus,
) -> Result<bool, DbErr> {
    let result = refresh_inner(db, index).await;
    // A failure leaves the snapshot's age growing: that is what /readyz and /metrics show.
    if result.is_ok() {
        status.checked();
    }
    result
}

async fn refresh_inner(db: &DatabaseConnection, index: &SearchIndex) -> Result<bool, DbErr> {
    let current = index.snapshot();
    let version = query::catalog_version::current(db).await?;
    if version <= current.version {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    // Streamed, and the task yields to requests every few hundred rows: a socket read can
    // hold thousands of rows, and a large commit (100k events) must not keep a worker thread
    // from serving for its whole decoding.
    let mut count = 0_usize;
    let mut changed: Vec<EventSummary> = Vec::new();
    let mut rows =
        std::pin::pin!(query::event::changed_between(db, current.version, version).await?);
    while let Some(event) = rows.next().await {
        let event = event?;
        count += 1;
        if count.is_multiple_of(REFRESH_YIELD_ROWS) {
            tokio::task::yield_now().await;
        }
        if event.ever_online {
            changed.push(event);
        }
    }
    let providers = provider_names(db).await?;
    let loaded_ms = started.elapsed().as_millis() as u64;
    // Building the next snapshot is CPU work proportional to the index: keep it off the
    // threads that serve requests. Events are never un-published: a changed event that is not
    // searchable was never in the index either.
    let next = tokio::task::spawn_blocking(move || current.apply(version, changed, providers))
        .await
        .map_err(|e| DbErr::Custom(format!("building the next snapshot failed: {e}")))?;
    tracing::info!(
        catalog.version = version,
        events.changed = count,
        events.indexed = next.len(),
        load_ms = loaded_ms,
        build_ms = started.elapsed().as_millis() as u64 - loaded_ms,
        "search index refreshed"
    );
    index.replace(next);
    Ok(true)
}

/// Refreshes the index on every catalogue change announced by `changes`, and at least every
/// `poll` (the whole mechanism on SQLite, a safety net on PostgreSQL), until `stop` fires.
pub async fn run_refresher(
    db: DatabaseConnection,
    index: Arc<SearchIndex>,
    status: Arc<CatalogStatus>,
    mut changes: broadcast::Receiver<()>,
    poll: Duration,
    stop: CancellationToken,
) {
    let mut failing = false;
    loop {
        match refresh(&db, &index, &status).await {
            Ok(_) if failing => {
                tracing::info!("search index: database reachable again");
                failing = false;
            }
            Ok(_) => {}
            Err(err) => {
                if !failing {
                    tracing::warn!(
                        error = %err,
                        "search index: database unavailable; serving the last snapshot"
                    );
                }
                failing = true;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
            change = changes.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = change {
                    return;
                }
            }
        }
    }
}
