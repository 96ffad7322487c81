//! The whole Fever system in one process, for a first look and for development: the
//! embedded SQLite database (migrated at start-up) and the API serving it.
//!
//! It stops when its cancellation token fires (Ctrl-C in `main`), after in-flight requests
//! finish.

use std::net::SocketAddr;

use clap::Parser;
use graphql_api::config::{ApiRunError, ServeConfig};
use service::CommonArgs;
use tokio_util::sync::CancellationToken;

/// Runs the whole Fever system in one process on the embedded SQLite default.
#[derive(Debug, Parser)]
#[command(name = "fever", version, about)]
pub struct SystemConfig {
    /// Database (the embedded SQLite file unless told otherwise) and logging settings.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Address the API listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// Why the system could not run.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// The API failed to start or serve.
    #[error(transparent)]
    Api(#[from] ApiRunError),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] service::database::OpenError),
}

/// Opens the database, then serves until `shutdown` fires. `on_ready` gets the address the
/// API listens on (which may be a port chosen by the system when asked for port 0).
pub async fn run(
    config: SystemConfig,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), SystemError> {
    let db = config.common.database.validate()?.open().await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ApiRunError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(config.listen);
    on_ready(addr);
    let serve = ServeConfig {
        listen: addr,
        ..ServeConfig::default()
    };
    graphql_api::run(serve, db, listener, shutdown).await?;
    Ok(())
}
