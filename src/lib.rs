//! The whole Fever system in one process, for a first look and for development: the
//! embedded SQLite database (migrated at start-up), a demo provider serving the sample feeds
//! on loopback, the ingestor's scheduler and job processor, and the API.
//!
//! It stops when its cancellation token fires (Ctrl-C in `main`): the API drains its
//! requests, the worker lets its jobs finish (or interrupts them after its grace period), and
//! the demo provider stops.

pub mod demo;

use std::{net::SocketAddr, time::Duration};

use clap::Parser;
use entity::settings::ProviderPatch;
use graphql_api::{
    access::Tokens,
    config::{ApiRunError, ServeConfig},
};
use ingestor::{
    collector::CollectSettings,
    jobs::RunnerSettings,
    worker::{self, WorkerSettings},
};
use lifecycle::CommonArgs;
use tokio_util::sync::CancellationToken;

/// The admin token when none is configured: fine on loopback, to be replaced anywhere else.
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin-token";

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

    /// Token for the admin mutations and the monitoring page's actions.
    #[arg(long, env = "ADMIN_TOKEN", default_value = DEMO_ADMIN_TOKEN, hide_env_values = true)]
    pub admin_token: String,

    /// Run without the demo provider (only the providers already in the database).
    #[arg(long)]
    pub no_demo: bool,

    /// How long the demo provider serves each sample snapshot before the next, in seconds.
    #[arg(long, default_value_t = 20)]
    pub demo_snapshot_secs: u64,
}

/// Why the system could not run.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// The API failed to start or serve.
    #[error(transparent)]
    Api(#[from] ApiRunError),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] lifecycle::database::OpenError),
    /// The demo provider could not start or be registered.
    #[error("cannot set up the demo provider: {0}")]
    Demo(String),
}

/// Where the running system answers.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// The API's address.
    pub api: SocketAddr,
    /// The demo provider's base URL, when it runs.
    pub demo: Option<String>,
}

/// Opens the database, starts everything, then runs until `shutdown` fires. `on_ready` gets
/// the addresses (ports the system chose when asked for port 0) once the API is about to
/// serve.
pub async fn run(
    config: SystemConfig,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(&Addresses),
) -> Result<(), SystemError> {
    let db = config.common.database.validate()?.open().await?;
    let demo = if config.no_demo {
        None
    } else {
        let every = Duration::from_secs(config.demo_snapshot_secs.max(1));
        let base = demo::start(every, shutdown.child_token())
            .await
            .map_err(|e| SystemError::Demo(e.to_string()))?;
        register_demo_providers(&db, &base).await?;
        Some(base)
    };
    let listener = graphql_api::config::bind(config.listen).await?;
    let api = listener.local_addr().unwrap_or(config.listen);
    on_ready(&Addresses { api, demo });

    let settings = WorkerSettings {
        concurrency: 2,
        runner: RunnerSettings {
            // The demo provider serves on loopback; without it, only public providers.
            collect: if config.no_demo {
                CollectSettings::default()
            } else {
                CollectSettings::allowing_private()
            },
            ..RunnerSettings::default()
        },
        ..WorkerSettings::default()
    };
    let worker = tokio::spawn(worker::run(db.clone(), settings, shutdown.clone()));
    let tokens = Tokens::parse(&[], Some(&config.admin_token))
        .map_err(|e| ApiRunError::Invalid(e.to_string()))?;
    let serve = ServeConfig {
        listen: api,
        tokens,
        // The demo provider serves on loopback; without it, only public providers.
        destinations: entity::destination::DestinationPolicy {
            allow_private: !config.no_demo,
        },
        ..ServeConfig::default()
    };
    let served = graphql_api::run(serve, db, listener, shutdown.clone()).await;
    // The API stopped (shutdown, or a failure): stop the worker too and wait for it.
    shutdown.cancel();
    let _ = worker.await;
    served?;
    Ok(())
}

/// Points the two demo providers at the demo server (its port changes on every start),
/// collecting every ten seconds, and queues a first collection of each.
async fn register_demo_providers(
    db: &sea_orm::DatabaseConnection,
    base: &str,
) -> Result<(), SystemError> {
    let invalid = |e: entity::settings::InvalidSetting| SystemError::Demo(e.to_string());
    for (name, path) in [("demo-events", "events.xml"), ("demo-plans", "plans.xml")] {
        let name: entity::settings::ProviderName = name.parse().map_err(invalid)?;
        let current = entity::query::provider::find_by_name(db, name.as_str())
            .await
            .map_err(|e| SystemError::Demo(e.to_string()))?;
        let changes = ProviderPatch {
            url: Some(format!("{base}/{path}").parse().map_err(invalid)?),
            schedule: Some("*/10 * * * * *".parse().map_err(invalid)?),
            time_zone: Some("Europe/Madrid".parse().map_err(invalid)?),
            ..ProviderPatch::default()
        }
        .resolve(current.as_ref())
        .map_err(invalid)?;
        let provider = entity::query::provider::upsert(db, &name, changes)
            .await
            .map_err(|e| SystemError::Demo(e.to_string()))?;
        // A first collection at once, so there is data before the first tick.
        let first = entity::query::job::NewJob::manual(provider.model().id, entity::time::now());
        entity::query::job::enqueue(db, first)
            .await
            .map_err(|e| SystemError::Demo(e.to_string()))?;
    }
    Ok(())
}
