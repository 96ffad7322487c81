//! How GraphQL requests use the database: a breaker that answers `UNAVAILABLE` at once while
//! the database is known to be down, and a cap on the connections one request holds.
//!
//! Without the breaker, every request that needs the database during an outage waits the
//! pool's whole acquire timeout (5 s by default) before it fails. Here the first failure marks
//! the database down; from then on requests fail at once, and a prober pings it until it
//! answers again. Search never needs the database, so it is not affected either way.
//!
//! The prober stops with the server's cancellation token.

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;

/// How often the prober pings a database that is down.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long one ping may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The API's database, with what is known of its health.
pub struct Database {
    connection: DatabaseConnection,
    down: AtomicBool,
    went_down: Notify,
}

impl Database {
    /// The pool, assumed up.
    pub fn new(connection: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self {
            connection,
            down: AtomicBool::new(false),
            went_down: Notify::new(),
        })
    }

    /// The pool, whatever its health (readiness and the change feed use it directly).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// The pool, or `UNAVAILABLE` at once while the database is known to be down.
    pub fn available(&self) -> Result<&DatabaseConnection, ApiError> {
        if self.is_down() {
            Err(ApiError::Unavailable)
        } else {
            Ok(&self.connection)
        }
    }

    /// Whether the database is known to be down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records that a request could not reach the database.
    pub fn mark_down(&self) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!("database unreachable: answering UNAVAILABLE until it answers a ping");
            self.went_down.notify_one();
        }
    }

    /// Pings the database while it is down, and marks it up once it answers; until `stop`.
    pub async fn run_prober(self: Arc<Self>, stop: CancellationToken) {
        loop {
            if !self.is_down() {
                tokio::select! {
                    () = self.went_down.notified() => {}
                    () = stop.cancelled() => return,
                }
            }
            while self.is_down() {
                let up = tokio::time::timeout(
                    PROBE_TIMEOUT,
                    lifecycle::database::ping(&self.connection),
                )
                .await
                .unwrap_or(false);
                if up {
                    self.down.store(false, Ordering::Release);
                    tracing::info!("database answers again");
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(PROBE_INTERVAL) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}

/// The connections one GraphQL request may hold at once, put in its data: however many
/// fields of a request ask for the database together, they take turns on this many.
pub struct RequestConnections(Semaphore);

impl RequestConnections {
    /// Up to `n` connections at once (at least one).
    pub fn new(n: usize) -> Self {
        Self(Semaphore::new(n.max(1)))
    }
}

/// The pool, held for one query of one request.
pub struct Connection<'a> {
    connection: &'a DatabaseConnection,
    _turn: Option<SemaphorePermit<'a>>,
}

impl Deref for Connection<'_> {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        self.connection
    }
}

impl Database {
    /// The pool for one query of a request: `UNAVAILABLE` at once while the database is down,
    /// else after the request's turn (see [`RequestConnections`]).
    pub async fn for_request<'a>(
        &'a self,
        turns: Option<&'a RequestConnections>,
    ) -> Result<Connection<'a>, ApiError> {
        let connection = self.available()?;
        let turn = match turns {
            Some(turns) => Some(turns.0.acquire().await.map_err(|_| ApiError::Internal)?),
            None => None,
        };
        Ok(Connection {
            connection,
            _turn: turn,
        })
    }
}
