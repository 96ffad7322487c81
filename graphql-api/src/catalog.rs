//! Keeping the search index in step with the database, and hearing about job changes.
//!
//! At start-up the index is built from one scan of the searchable events. Then a refresher
//! loads only what changed: the ingestor bumps the catalogue version in each transaction that
//! changes events (and, on PostgreSQL, notifies `fever_catalog` on commit); the refresher reads
//! the events of versions it has not seen and swaps in the next snapshot. On SQLite, which has
//! no notifications, it polls the version. When the database is unreachable the last snapshot
//! keeps serving and the refresher retries; [`CatalogStatus`] says how old the snapshot is.
//!
//! The same feed carries job changes (`fever_job` on PostgreSQL, polling on SQLite) for the
//! `jobUpdates` subscription. Every task here stops when its cancellation token fires.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    JobId, ProviderId,
    query::{self, CATALOG_CHANNEL, JOB_CHANNEL},
    time,
};
use futures::StreamExt as _;
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::search::{IndexedEvent, SearchIndex, Snapshot};

/// Rows a refresh decodes between two yields to the runtime.
const REFRESH_YIELD_ROWS: usize = 256;

/// Builds a snapshot of every searchable event.
pub async fn load(db: &DatabaseConnection) -> Result<Snapshot, DbErr> {
    // The version first: anything committed while the pages load has a later version and is
    // applied again by the first refresh, which is harmless.
    let version = query::catalog_version::current(db).await?;
    let providers = provider_names(db).await?;
    let mut events = Vec::new();
    let mut rows = std::pin::pin!(query::event::searchable_stream(db).await?);
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
    /// Whether the last attempt failed.
    database_down: AtomicBool,
}

impl CatalogStatus {
    fn checked(&self) {
        self.checked_at_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        self.database_down.store(false, Ordering::Relaxed);
    }

    /// How long ago the snapshot was known to be current.
    pub fn age(&self) -> Duration {
        let checked = self.checked_at_ms.load(Ordering::Relaxed);
        let age = Utc::now().timestamp_millis() - checked;
        Duration::from_millis(u64::try_from(age).unwrap_or(0))
    }

    /// Whether the refresher could not reach the database last time.
    pub fn database_down(&self) -> bool {
        self.database_down.load(Ordering::Relaxed)
    }
}

/// A change announced by the ingestor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The catalogue has a new version.
    Catalog,
    /// A job changed.
    Job(JobId),
}

/// Loads what changed since the snapshot's version and swaps in the next snapshot; returns
/// whether anything changed.
pub async fn refresh(
    db: &DatabaseConnection,
    index: &SearchIndex,
    status: &CatalogStatus,
) -> Result<bool, DbErr> {
    let result = refresh_inner(db, index).await;
    match &result {
        Ok(_) => status.checked(),
        Err(_) => status.database_down.store(true, Ordering::Relaxed),
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
    let mut changed: Vec<IndexedEvent> = Vec::new();
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
    let next =
        tokio::task::spawn_blocking(move || current.apply(version, changed, providers, |_| true))
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
    mut changes: broadcast::Receiver<Change>,
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
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(poll) => break,
                change = changes.recv() => match change {
                    Ok(Change::Catalog) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(Change::Job(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

/// Announces changes to every subscriber in this process.
#[derive(Clone)]
pub struct ChangeFeed {
    sender: broadcast::Sender<Change>,
}

impl ChangeFeed {
    /// Starts listening (PostgreSQL) or polling (SQLite) until `stop` fires.
    pub fn start(db: &DatabaseConnection, poll: Duration, stop: &CancellationToken) -> Self {
        let (sender, _) = broadcast::channel(1024);
        let feed = Self { sender };
        if db.get_database_backend() == DbBackend::Postgres {
            tokio::spawn(listen(db.clone(), feed.sender.clone(), stop.clone()));
        } else {
            tokio::spawn(poll_jobs(
                db.clone(),
                feed.sender.clone(),
                poll,
                stop.clone(),
            ));
        }
        feed
    }

    /// A receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }
}

/// PostgreSQL: `LISTEN` on the two channels, reconnecting after failures.
async fn listen(
    db: DatabaseConnection,
    sender: broadcast::Sender<Change>,
    stop: CancellationToken,
) {
    use sea_orm::sqlx::postgres::PgListener;
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all([CATALOG_CHANNEL, JOB_CHANNEL]).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = stop.cancelled() => return,
            listener = listener => match listener {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for changes; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        // Anything may have changed while not listening.
        let _ = sender.send(Change::Catalog);
        loop {
            let notification = tokio::select! {
                () = stop.cancelled() => return,
                notification = listener.recv() => notification,
            };
            match notification {
                Ok(n) if n.channel() == CATALOG_CHANNEL => {
                    let _ = sender.send(Change::Catalog);
                }
                Ok(n) => {
                    if let Ok(id) = n.payload().parse() {
                        let _ = sender.send(Change::Job(JobId(id)));
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "lost the change listener; reconnecting");
                    break;
                }
            }
        }
    }
}

/// SQLite: poll for jobs created, started or finished since the last poll. Writers stamp
/// those times from their own clocks, so each poll looks a little further back and skips the
/// (job, state) pairs it already announced.
async fn poll_jobs(
    db: DatabaseConnection,
    sender: broadcast::Sender<Change>,
    every: Duration,
    stop: CancellationToken,
) {
    use entity::job::{Column, Entity};
    const OVERLAP: TimeDelta = TimeDelta::seconds(2);
    let mut since: DateTime<Utc> = time::now();
    let mut announced: HashMap<JobId, entity::JobState> = HashMap::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = time::now();
        let look_from = since - OVERLAP;
        let changed = Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(Column::CreatedAt.gte(look_from))
                    .add(Column::StartedAt.gte(look_from))
                    .add(Column::FinishedAt.gte(look_from)),
            )
            .all(&db)
            .await;
        let Ok(changed) = changed else { continue };
        let mut seen = HashSet::new();
        for job in changed {
            seen.insert(job.id);
            if announced.get(&job.id) != Some(&job.state) {
                announced.insert(job.id, job.state);
                let _ = sender.send(Change::Job(job.id));
            }
        }
        announced.retain(|id, _| seen.contains(id));
        since = now;
    }
}
