//! The change feed: what the ingestor announces, fanned out to this process's subscribers.
//!
//! Two kinds of change, on two channels:
//! - the catalogue has a new version: PostgreSQL notifies `fever_catalog`; the search index's
//!   refresher listens (on SQLite it polls on its own);
//! - a job changed state: triggers on `job` log each change in `job_transition`, numbered by
//!   `seq`. One follower per process reads the log past the last number it saw (woken by the
//!   `fever_job` notification on PostgreSQL, polling on SQLite) and broadcasts each change
//!   with its job, so a subscriber costs no query of its own.
//!
//! PostgreSQL may commit a lower `seq` after a higher one (two jobs' transactions racing); the
//! follower remembers the numbers it skipped and reads them again for [`LATE_WAIT`], so a
//! change that commits late is still delivered (per job, numbers follow commit order, so each
//! job's changes still arrive in order). Its tasks stop when their cancellation token fires.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use entity::query::{
    CATALOG_CHANNEL, JOB_CHANNEL,
    job_transition::{self, Transition},
};
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// How long the follower keeps reading a number it skipped, waiting for its transaction to
/// commit. A job's commit transaction is short (it writes the events it fetched and parsed
/// before): this is far above it.
pub const LATE_WAIT: Duration = Duration::from_secs(30);

/// At most this many skipped numbers are remembered (the oldest are given up first).
const MAX_LATE: usize = 1_000;

/// Changes read per query.
const BATCH: u64 = 1_000;

/// On PostgreSQL, the follower also reads this often without a notification, in case one
/// was lost while the listener reconnected.
const SAFETY_POLL: Duration = Duration::from_secs(10);

/// Announces changes to every subscriber in this process.
#[derive(Clone)]
pub struct ChangeFeed {
    catalog: broadcast::Sender<()>,
    jobs: broadcast::Sender<Arc<Transition>>,
    /// The highest change number broadcast so far.
    high: Arc<AtomicI64>,
}

impl ChangeFeed {
    /// Starts listening (PostgreSQL) and following the job change log until `stop` fires.
    pub fn start(db: &DatabaseConnection, poll: Duration, stop: &CancellationToken) -> Self {
        let feed = Self {
            catalog: broadcast::channel(16).0,
            jobs: broadcast::channel(4096).0,
            high: Arc::new(AtomicI64::new(0)),
        };
        let wake = Arc::new(Notify::new());
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        if postgres {
            tokio::spawn(listen(
                db.clone(),
                feed.catalog.clone(),
                Arc::clone(&wake),
                stop.clone(),
            ));
        }
        let follower = Follower {
            db: db.clone(),
            feed: feed.clone(),
            high: None,
            late: BTreeMap::new(),
        };
        let idle = if postgres { SAFETY_POLL } else { poll };
        tokio::spawn(follower.run(wake, poll, idle, stop.clone()));
        feed
    }

    /// A receiver of every new catalogue version from now on (PostgreSQL only).
    pub fn catalog(&self) -> broadcast::Receiver<()> {
        self.catalog.subscribe()
    }

    /// A receiver of every job change from now on.
    pub fn jobs(&self) -> broadcast::Receiver<Arc<Transition>> {
        self.jobs.subscribe()
    }

    /// The highest change number broadcast so far (0 before the follower's first read).
    pub fn high(&self) -> i64 {
        self.high.load(Ordering::Acquire)
    }
}

/// PostgreSQL: `LISTEN` on both channels, reconnecting after failures. A catalogue
/// notification is passed on; a job notification wakes the follower.
async fn listen(
    db: DatabaseConnection,
    catalog: broadcast::Sender<()>,
    wake: Arc<Notify>,
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
        let _ = catalog.send(());
        wake.notify_one();
        loop {
            let notification = tokio::select! {
                () = stop.cancelled() => return,
                notification = listener.recv() => notification,
            };
            match notification {
                Ok(n) if n.channel() == CATALOG_CHANNEL => {
                    let _ = catalog.send(());
                }
                Ok(_) => wake.notify_one(),
                Err(err) => {
                    tracing::warn!(error = %err, "lost the change listener; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Reads the job change log in order and broadcasts each change once.
struct Follower {
    db: DatabaseConnection,
    feed: ChangeFeed,
    /// Every number at or below it was read or skipped; `None` before the first read, which
    /// starts at the newest change (history is not broadcast).
    high: Option<i64>,
    /// Numbers skipped, with when, read again until [`LATE_WAIT`] passes.
    late: BTreeMap<i64, Instant>,
}

impl Follower {
    /// Reads after each wake-up, after `poll` while numbers are late, and after `idle`
    /// otherwise.
    async fn run(
        mut self,
        wake: Arc<Notify>,
        poll: Duration,
        idle: Duration,
        stop: CancellationToken,
    ) {
        let mut failing = false;
        loop {
            match self.read().await {
                Ok(()) if failing => {
                    tracing::info!("job changes: database reachable again");
                    failing = false;
                }
                Ok(()) => {}
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "job changes: database unavailable");
                    }
                    failing = true;
                }
            }
            let wait = if self.late.is_empty() && !failing {
                idle
            } else {
                poll
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Broadcasts every change committed since the last read, and the late ones that
    /// committed meanwhile.
    async fn read(&mut self) -> Result<(), DbErr> {
        let mut high = match self.high {
            Some(high) => high,
            None => {
                let high = job_transition::latest(&self.db).await?;
                self.high = Some(high);
                self.feed.high.store(high, Ordering::Release);
                return Ok(());
            }
        };
        loop {
            let late: Vec<i64> = self.late.keys().copied().collect();
            let changes = job_transition::following(&self.db, high, &late, BATCH).await?;
            let full = changes.len() as u64 == BATCH;
            let now = Instant::now();
            for change in changes {
                let seq = change.change.seq;
                if seq > high {
                    // Only the newest skipped numbers are worth remembering.
                    let skipped_from = (high + 1).max(seq - MAX_LATE as i64);
                    for skipped in skipped_from..seq {
                        self.late.insert(skipped, now);
                    }
                    high = seq;
                } else {
                    self.late.remove(&seq);
                }
                let _ = self.feed.jobs.send(Arc::new(change));
            }
            self.high = Some(high);
            self.feed.high.store(high, Ordering::Release);
            if !full {
                break;
            }
        }
        self.late.retain(|_, since| since.elapsed() < LATE_WAIT);
        while self.late.len() > MAX_LATE {
            self.late.pop_first();
        }
        Ok(())
    }
}
