//! The database options every binary takes, and opening the database with them: connect
//! ([`connect`]), then bring the schema to what the binary needs (`migration::prepare`).

mod connect;

use std::time::Duration;

pub use connect::{DEFAULT_DATABASE_URL, DatabaseUrl, DbOpenError, PoolOptions, connect, ping};
use migration::{SchemaError, StartupMigrations};
use sea_orm::DatabaseConnection;

/// Where the database is and how to use it.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Database and logging (every command)")]
pub struct DatabaseArgs {
    /// Database URL: `postgres://USER@HOST:PORT/DB` or `sqlite://PATH`; the default is the
    /// embedded SQLite file, created on first use.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Most connections this process opens.
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub database_max_connections: u32,

    /// How long to wait for a connection before failing, in milliseconds.
    #[arg(
        long = "database-timeout-ms",
        env = "DATABASE_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub database_timeout_ms: u64,

    /// Apply pending migrations at start-up on PostgreSQL too (under an advisory lock). The
    /// embedded SQLite default always does; a PostgreSQL deployment normally runs
    /// `ingestor migrate` as its deploy step instead.
    #[arg(
        long = "migrate-on-start",
        env = "MIGRATE_ON_START",
        default_value_t = false,
        global = true
    )]
    pub migrate_on_start: bool,
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // An invalid URL is masked as text: it may still carry a password.
        let url = self.database_url.parse::<DatabaseUrl>().map_or_else(
            |_| entity::settings::redact_url(&self.database_url),
            |u| u.redacted(),
        );
        f.debug_struct("DatabaseArgs")
            .field("url", &url)
            .field("max_connections", &self.database_max_connections)
            .field("timeout_ms", &self.database_timeout_ms)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

/// Validated database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Where it is.
    pub url: DatabaseUrl,
    /// Pool limits.
    pub pool: PoolOptions,
    /// What to do with the schema at start-up.
    pub startup: StartupMigrations,
}

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A setting is invalid.
    #[error("invalid database setting: {0}")]
    Invalid(String),
    /// The URL or the connection failed.
    #[error(transparent)]
    Open(#[from] DbOpenError),
    /// The schema is not what this binary needs.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

impl DatabaseArgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<DatabaseConfig, OpenError> {
        let url: DatabaseUrl = self.database_url.parse()?;
        if self.database_max_connections == 0 {
            return Err(OpenError::Invalid(
                "--database-max-connections must be at least 1".to_owned(),
            ));
        }
        if !(100..=600_000).contains(&self.database_timeout_ms) {
            return Err(OpenError::Invalid(
                "--database-timeout-ms must be between 100 and 600000".to_owned(),
            ));
        }
        let startup = if self.migrate_on_start {
            StartupMigrations::Apply
        } else {
            StartupMigrations::default_for(url.backend())
        };
        Ok(DatabaseConfig {
            url,
            pool: PoolOptions {
                max_connections: self.database_max_connections,
                acquire_timeout: Duration::from_millis(self.database_timeout_ms),
            },
            startup,
        })
    }
}

impl DatabaseConfig {
    /// Connects and brings the schema to what this binary needs (or refuses to).
    pub async fn open(&self) -> Result<DatabaseConnection, OpenError> {
        let db = self.connect().await?;
        migration::prepare(&db, self.startup).await?;
        Ok(db)
    }

    /// Connects without looking at the schema (for `migrate` itself).
    pub async fn connect(&self) -> Result<DatabaseConnection, OpenError> {
        Ok(connect(&self.url, &self.pool).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> DatabaseArgs {
        DatabaseArgs {
            database_url: url.to_owned(),
            database_max_connections: 10,
            database_timeout_ms: 5_000,
            migrate_on_start: false,
        }
    }

    #[test]
    fn debug_of_the_database_settings_never_shows_a_password() {
        for url in [
            "postgres://app:hunter2@db:5432/fever",
            "postgres://app@db:5432/fever?password=hunter2",
            "postgres://app:hunter2@db:99999/fever",
            "mysql://app:hunter2@db/fever",
        ] {
            let shown = format!("{:?}", args(url));
            assert!(!shown.contains("hunter2"), "{shown}");
            if let Ok(config) = args(url).validate() {
                let shown = format!("{config:?}");
                assert!(!shown.contains("hunter2"), "{shown}");
            }
        }
    }

    #[test]
    fn invalid_database_urls_are_refused_without_their_password() {
        for url in [
            "postgres://app:hunter2@db:99999/fever",
            "mysql://app:hunter2@db/fever",
        ] {
            let err = args(url).validate().unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
