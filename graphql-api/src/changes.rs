//! The change feed: what the ingestor announces, fanned out to this process's subscribers.
//!
//! On PostgreSQL the ingestor notifies `fever_catalog` (a catalogue change) and `fever_job`
//! (a job's id) on commit, and the feed listens; on SQLite, which has no notifications, it
//! polls for jobs created, started or finished since the last poll. The search index's
//! refresher and the `jobUpdates` subscription both read it. Its tasks stop when their
//! cancellation token fires.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    JobId,
    query::{self, CATALOG_CHANNEL, JOB_CHANNEL},
    time,
};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A change announced by the ingestor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The catalogue has a new version.
    Catalog,
    /// A job changed.
    Job(JobId),
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
    const OVERLAP: TimeDelta = TimeDelta::seconds(2);
    let mut since: DateTime<Utc> = time::now();
    let mut announced: HashMap<JobId, entity::JobState> = HashMap::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = time::now();
        let Ok(changed) = query::job::changed_since(&db, since - OVERLAP).await else {
            continue;
        };
        let mut seen = HashSet::new();
        for (id, state) in changed {
            seen.insert(id);
            if announced.get(&id) != Some(&state) {
                announced.insert(id, state);
                let _ = sender.send(Change::Job(id));
            }
        }
        announced.retain(|id, _| seen.contains(id));
        since = now;
    }
}
