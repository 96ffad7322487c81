//! The API's command line: one typed configuration, validated before anything runs.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};
use service::CommonArgs;

use crate::schema::Limits;

/// Serves event search and job monitoring over GraphQL, and the REST `/search`.
#[derive(Debug, Parser)]
#[command(name = "graphql-api", version, about)]
pub struct Cli {
    /// Database and logging settings.
    #[command(flatten)]
    pub common: CommonArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The API's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Print the GraphQL schema (SDL); `schema.graphql` is its output.
    ExportSchema,
}

/// `graphql-api serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Deepest GraphQL query accepted.
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = Limits::default().max_depth)]
    pub graphql_max_depth: usize,

    /// Most complex GraphQL query accepted (each field costs 1, a list its page size times
    /// its children).
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = Limits::default().max_complexity)]
    pub graphql_max_complexity: usize,

    /// Largest page a connection returns.
    #[arg(long, env = "GRAPHQL_MAX_PAGE_SIZE", default_value_t = Limits::default().max_page_size)]
    pub graphql_max_page_size: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_REQUEST_BYTES", default_value_t = 64 * 1024)]
    pub max_request_bytes: usize,

    /// Longest a request may take, in milliseconds.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,

    /// How long in-flight requests may finish after a shutdown signal, in milliseconds.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

/// Validated server settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// GraphQL limits.
    pub limits: Limits,
    /// Largest request body accepted.
    pub max_request_bytes: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// How long in-flight requests may finish after shutdown starts.
    pub shutdown_grace: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            limits: Limits::default(),
            max_request_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Why the API could not run.
#[derive(Debug, thiserror::Error)]
pub enum ApiRunError {
    /// A setting is invalid.
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] service::database::OpenError),
    /// The listener failed.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl ServeArgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<ServeConfig, ApiRunError> {
        let invalid = |s: &str| Err(ApiRunError::Invalid(s.to_owned()));
        if !(1..=64).contains(&self.graphql_max_depth) {
            return invalid("--graphql-max-depth must be between 1 and 64");
        }
        if !(1..=1_000_000).contains(&self.graphql_max_complexity) {
            return invalid("--graphql-max-complexity must be between 1 and 1000000");
        }
        if !(1..=10_000).contains(&self.graphql_max_page_size) {
            return invalid("--graphql-max-page-size must be between 1 and 10000");
        }
        if !(1_024..=64 * 1024 * 1024).contains(&self.max_request_bytes) {
            return invalid("--max-request-bytes must be between 1024 and 67108864");
        }
        if !(100..=600_000).contains(&self.request_timeout_ms) {
            return invalid("--request-timeout-ms must be between 100 and 600000");
        }
        Ok(ServeConfig {
            listen: self.listen,
            limits: Limits {
                max_depth: self.graphql_max_depth,
                max_complexity: self.graphql_max_complexity,
                max_page_size: self.graphql_max_page_size,
            },
            max_request_bytes: self.max_request_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        })
    }
}

/// Runs the subcommand.
pub async fn execute(cli: Cli) -> Result<(), ApiRunError> {
    match cli.command {
        Command::ExportSchema => {
            print!("{}", crate::schema::sdl());
            Ok(())
        }
        Command::Serve(args) => {
            let config = args.validate()?;
            let database = cli.common.database.validate()?;
            let db = database.open().await?;
            let listener =
                tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|source| ApiRunError::Listen {
                        addr: config.listen,
                        source,
                    })?;
            let shutdown = service::shutdown_on_signal();
            crate::run(config, db, listener, shutdown)
                .await
                .map_err(|source| ApiRunError::Listen {
                    addr: args.listen,
                    source,
                })
        }
    }
}
