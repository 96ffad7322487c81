//! The API's command line: one typed configuration, validated before anything runs.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};
use lifecycle::CommonArgs;

use entity::{destination::DestinationPolicy, feed_snapshot::Directory};

use crate::{access::Tokens, graphql::limits::Limits, http::serve::ConnectionLimits};

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
    Serve(Box<ServeArgs>),
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

    /// Answer introspection (`__schema`, `__type`), which GraphiQL's docs and autocompletion
    /// and client code generators need: `false` turns it off.
    #[arg(
        long,
        env = "GRAPHQL_INTROSPECTION",
        default_value_t = Limits::default().introspection,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub graphql_introspection: bool,

    /// Answer the hot query shapes (`events` with fields the index holds) by compiled plans
    /// written straight from the index; `false` leaves every request to the general executor
    /// (the answers are the same, only slower).
    #[arg(
        long,
        env = "GRAPHQL_COMPILED_PLANS",
        default_value_t = Limits::default().compiled_plans,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub graphql_compiled_plans: bool,

    /// Largest page a connection returns.
    #[arg(long, env = "GRAPHQL_MAX_PAGE_SIZE", default_value_t = Limits::default().max_page_size)]
    pub graphql_max_page_size: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_REQUEST_BYTES", default_value_t = ServeConfig::default().max_request_bytes)]
    pub max_request_bytes: usize,

    /// Longest a request may take, in milliseconds.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = millis(Limits::default().request_timeout))]
    pub request_timeout_ms: u64,

    /// How long in-flight requests may finish after a shutdown signal, in milliseconds.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = millis(ServeConfig::default().shutdown_grace))]
    pub shutdown_grace_ms: u64,

    /// One admin token, named `admin` (`Authorization: Bearer <token>`); at least 16
    /// characters. See also `--api-tokens`.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Named tokens with a role each, comma-separated `name:role:token` (role `viewer`: reads
    /// providers, jobs, outcomes; `admin`: also acts); tokens of at least 16 characters.
    /// Without any token, only event search is served.
    #[arg(
        long,
        env = "API_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_tokens: Vec<String>,

    /// Let `upsertProvider` register provider URLs at private and loopback addresses (the demo
    /// and tests); by default only public addresses are accepted.
    #[arg(long, env = "ALLOW_PRIVATE_PROVIDERS", default_value_t = false)]
    pub allow_private_providers: bool,

    /// Require a viewer token for event search too (GraphQL `events`, `event`, `node` and REST
    /// `/search`); public by default.
    #[arg(long, env = "SEARCH_REQUIRES_VIEWER", default_value_t = false)]
    pub search_requires_viewer: bool,

    /// Largest GraphQL answer sent, in bytes; a larger one is refused with
    /// `RESPONSE_TOO_LARGE`.
    #[arg(long, env = "MAX_RESPONSE_BYTES", default_value_t = Limits::default().max_response_bytes)]
    pub max_response_bytes: usize,

    /// Most database connections one GraphQL request holds at once.
    #[arg(long, env = "GRAPHQL_DB_CONNECTIONS_PER_REQUEST", default_value_t = Limits::default().db_connections_per_request)]
    pub graphql_db_connections_per_request: usize,

    /// Most connections served at once (past it, new ones wait in the listen backlog).
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max_connections)]
    pub max_connections: usize,

    /// Longest a client may take to send a request's headers, or leave a keep-alive
    /// connection idle, in milliseconds.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = millis(ConnectionLimits::default().header_read_timeout))]
    pub header_read_timeout_ms: u64,

    /// Most WebSockets (`/graphql/ws`) open at once.
    #[arg(long, env = "MAX_WEBSOCKETS", default_value_t = ServeConfig::default().max_websockets)]
    pub max_websockets: usize,

    /// Longest a new WebSocket may wait before its `connection_init`, in milliseconds.
    #[arg(long, env = "WEBSOCKET_INIT_TIMEOUT_MS", default_value_t = millis(ServeConfig::default().websocket_init_timeout))]
    pub websocket_init_timeout_ms: u64,

    /// Large `/search` answers (over 1,000 events) streamed at once; others wait for a turn
    /// up to the request timeout, then get 503.
    #[arg(long, env = "MAX_CONCURRENT_LARGE_SEARCHES", default_value_t = ServeConfig::default().max_concurrent_large_searches)]
    pub max_concurrent_large_searches: usize,

    /// Origins allowed to call the API from a browser (comma-separated; `*` for any). None by
    /// default: same-origin only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// How often the search index checks for catalogue changes without a notification, in
    /// milliseconds (the only mechanism on SQLite).
    #[arg(long, env = "INDEX_REFRESH_INTERVAL_MS", default_value_t = millis(ServeConfig::default().refresh_interval))]
    pub index_refresh_interval_ms: u64,

    /// The directory where the ingestor keeps feed bodies as files (its `--snapshot-dir`), to
    /// serve their downloads (`GET /jobs/<id>/body`); read only. Without it, only bodies kept
    /// in the database can be downloaded.
    #[arg(long, env = "FEED_SNAPSHOT_DIR", value_name = "PATH")]
    pub snapshot_dir: Option<std::path::PathBuf>,
}

/// Validated server settings.
#[derive(Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// GraphQL limits.
    pub limits: Limits,
    /// Largest request body accepted.
    pub max_request_bytes: usize,
    /// How long in-flight requests may finish after shutdown starts.
    pub shutdown_grace: Duration,
    /// The API tokens (masked in `Debug`).
    pub tokens: Tokens,
    /// Whether event search needs a viewer token.
    pub search_requires_viewer: bool,
    /// Which provider addresses `upsertProvider` accepts.
    pub destinations: DestinationPolicy,
    /// Origins allowed by CORS (and to open WebSockets).
    pub cors_origins: Vec<String>,
    /// How often the index checks for changes without a notification.
    pub refresh_interval: Duration,
    /// Connection cap and header read timeout.
    pub connections: ConnectionLimits,
    /// Most WebSockets open at once.
    pub max_websockets: usize,
    /// Longest a WebSocket may wait before its `connection_init`.
    pub websocket_init_timeout: Duration,
    /// Large `/search` answers streamed at once.
    pub max_concurrent_large_searches: usize,
    /// Where the ingestor keeps feed bodies as files, if it does.
    pub snapshot_dir: Option<Directory>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            limits: Limits::default(),
            max_request_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(10),
            tokens: Tokens::default(),
            search_requires_viewer: false,
            destinations: DestinationPolicy::default(),
            cors_origins: Vec::new(),
            refresh_interval: Duration::from_millis(500),
            connections: ConnectionLimits::default(),
            max_websockets: 256,
            websocket_init_timeout: Duration::from_secs(5),
            max_concurrent_large_searches: 4,
            snapshot_dir: None,
        }
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tokens", &self.tokens)
            .field("search_requires_viewer", &self.search_requires_viewer)
            .field("destinations", &self.destinations)
            .field("cors_origins", &self.cors_origins)
            .field("refresh_interval", &self.refresh_interval)
            .field("connections", &self.connections)
            .field("max_websockets", &self.max_websockets)
            .field("websocket_init_timeout", &self.websocket_init_timeout)
            .field(
                "max_concurrent_large_searches",
                &self.max_concurrent_large_searches,
            )
            .field("snapshot_dir", &self.snapshot_dir)
            .finish()
    }
}

/// A duration in whole milliseconds, for a flag's default.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Binds the API's listener, saying which address could not be used.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ApiRunError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ApiRunError::Listen { addr, source })
}

/// Why the API could not run.
#[derive(Debug, thiserror::Error)]
pub enum ApiRunError {
    /// A setting is invalid.
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] lifecycle::database::OpenError),
    /// The listener failed.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the server stopped: {source}")]
    Serve {
        /// Why.
        source: std::io::Error,
    },
    /// The search index could not be built.
    #[error("cannot load the search index: {0}")]
    LoadIndex(sea_orm::DbErr),
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
        if !(1_024..=1024 * 1024 * 1024).contains(&self.max_response_bytes) {
            return invalid("--max-response-bytes must be between 1024 and 1073741824");
        }
        if !(1..=64).contains(&self.graphql_db_connections_per_request) {
            return invalid("--graphql-db-connections-per-request must be between 1 and 64");
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return invalid("--max-connections must be between 1 and 1000000");
        }
        if !(100..=600_000).contains(&self.header_read_timeout_ms) {
            return invalid("--header-read-timeout-ms must be between 100 and 600000");
        }
        if !(1..=1_000_000).contains(&self.max_websockets) {
            return invalid("--max-websockets must be between 1 and 1000000");
        }
        if !(100..=600_000).contains(&self.websocket_init_timeout_ms) {
            return invalid("--websocket-init-timeout-ms must be between 100 and 600000");
        }
        if !(1..=1_024).contains(&self.max_concurrent_large_searches) {
            return invalid("--max-concurrent-large-searches must be between 1 and 1024");
        }
        let tokens = Tokens::parse(&self.api_tokens, self.admin_token.as_deref())
            .map_err(|e| ApiRunError::Invalid(e.to_string()))?;
        let request_timeout = Duration::from_millis(self.request_timeout_ms);
        Ok(ServeConfig {
            listen: self.listen,
            limits: Limits {
                max_depth: self.graphql_max_depth,
                max_complexity: self.graphql_max_complexity,
                max_page_size: self.graphql_max_page_size,
                max_response_bytes: self.max_response_bytes,
                request_timeout,
                db_connections_per_request: self.graphql_db_connections_per_request,
                introspection: self.graphql_introspection,
                compiled_plans: self.graphql_compiled_plans,
                ..Limits::default()
            },
            max_request_bytes: self.max_request_bytes,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            tokens,
            search_requires_viewer: self.search_requires_viewer,
            destinations: DestinationPolicy {
                allow_private: self.allow_private_providers,
            },
            cors_origins: self.cors_allowed_origins.clone(),
            refresh_interval: Duration::from_millis(
                self.index_refresh_interval_ms.clamp(50, 60_000),
            ),
            connections: ConnectionLimits {
                max_connections: self.max_connections,
                header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            },
            max_websockets: self.max_websockets,
            websocket_init_timeout: Duration::from_millis(self.websocket_init_timeout_ms),
            max_concurrent_large_searches: self.max_concurrent_large_searches,
            snapshot_dir: self.snapshot_dir.clone().map(Directory::at),
        })
    }
}

/// Runs the subcommand.
pub async fn execute(cli: Cli) -> Result<(), ApiRunError> {
    match cli.command {
        Command::ExportSchema => {
            print!("{}", crate::graphql::schema::sdl());
            Ok(())
        }
        Command::Serve(args) => {
            let config = args.validate()?;
            let database = cli.common.database.validate()?;
            let db = database.open().await?;
            let listener = bind(config.listen).await?;
            let shutdown = lifecycle::shutdown_on_signal();
            crate::run(config, db, listener, shutdown).await
        }
    }
}
