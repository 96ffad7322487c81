//! Connecting to the database, PostgreSQL or the embedded SQLite file: the one place a pool
//! is opened (binaries through [`super::DatabaseConfig`], tests directly).

use std::{fmt, str::FromStr, time::Duration};

use entity::settings::redact_database_url;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

/// The embedded default: a SQLite file under `./data`, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/fever.db";

/// A database URL that names a backend we support. Its password never appears in `Debug` or
/// `Display`, so it can be logged and printed in errors.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: DbBackend,
}

/// Why a database URL or connection cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbOpenError {
    /// The URL names no backend we support.
    #[error(
        "unsupported database URL `{0}`: expected postgres://USER@HOST:PORT/DB or sqlite://PATH"
    )]
    UnsupportedUrl(String),
    /// The directory of the SQLite file cannot be created.
    #[error("cannot create the directory of the SQLite database {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The database did not accept a connection.
    #[error("cannot connect to the database at {url}: {reason}")]
    Connect {
        /// The URL, password masked.
        url: String,
        /// The driver's reason, on one line.
        reason: String,
    },
}

impl DatabaseUrl {
    /// The backend this URL selects.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Whether this is the embedded SQLite backend.
    pub fn is_sqlite(&self) -> bool {
        self.backend == DbBackend::Sqlite
    }

    /// The full URL, password included: only for handing to the driver.
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// The URL with its secrets masked: the password, and every query value (a password may
    /// be given as `?password=`). The user name is kept.
    pub fn redacted(&self) -> String {
        redact_database_url(&self.url)
    }

    /// `text` (a driver's message) with every secret of this URL masked, should the driver
    /// have echoed the URL or its password.
    pub fn scrub(&self, text: &str) -> String {
        let mut scrubbed = text.replace(&self.url, &self.redacted());
        for secret in self.secrets() {
            scrubbed = scrubbed.replace(&secret, "***");
        }
        scrubbed
    }

    /// The password and query values, as written and percent-decoded.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        if let Ok(parsed) = url::Url::parse(&self.url) {
            secrets.extend(parsed.password().map(str::to_owned));
            secrets.extend(parsed.query_pairs().map(|(_, value)| value.into_owned()));
            if let Some(query) = parsed.query() {
                secrets.extend(
                    query
                        .split('&')
                        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.to_owned())),
                );
            }
        }
        let mut decoded: Vec<String> = secrets
            .iter()
            .filter_map(|s| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            })
            .collect();
        secrets.append(&mut decoded);
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }
}

impl Default for DatabaseUrl {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            backend: DbBackend::Sqlite,
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = DbOpenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let backend = if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            DbBackend::Postgres
        } else if s.starts_with("sqlite:") {
            DbBackend::Sqlite
        } else {
            let shown = Self {
                url: s.to_owned(),
                backend: DbBackend::Postgres,
            }
            .redacted();
            return Err(DbOpenError::UnsupportedUrl(shown));
        };
        if backend == DbBackend::Postgres && url::Url::parse(s).is_err() {
            // Shown masked: an unparsable URL may still carry a password.
            return Err(DbOpenError::UnsupportedUrl(redact_database_url(s)));
        }
        Ok(Self {
            url: s.to_owned(),
            backend,
        })
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a query waits for a free connection, and a new connection for the server.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// How long a SQLite writer waits for the single write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a pool on `url` and checks that the database answers.
///
/// For SQLite, the file and its directory are created on first use, and every pooled
/// connection gets the same pragmas when it opens (WAL, a busy timeout, foreign keys), not
/// just the first one. Writers use `BEGIN IMMEDIATE` (see `query::write_options`), so two
/// connections never both hold a read snapshot they then try to upgrade.
pub async fn connect(
    url: &DatabaseUrl,
    pool: &PoolOptions,
) -> Result<DatabaseConnection, DbOpenError> {
    let mut options = ConnectOptions::new(url.expose());
    options
        .max_connections(pool.max_connections)
        .min_connections(0)
        .acquire_timeout(pool.acquire_timeout)
        .connect_timeout(pool.acquire_timeout)
        .sqlx_logging(false);
    if url.is_sqlite() {
        create_sqlite_dir(url)?;
        options.map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    }
    let connect_error = |err: DbErr| DbOpenError::Connect {
        url: url.redacted(),
        reason: url.scrub(&one_line(&err)),
    };
    if url.backend() == DbBackend::Postgres {
        probe_postgres(url, pool.acquire_timeout).await?;
    }
    let db = Database::connect(options).await.map_err(connect_error)?;
    db.execute_unprepared("SELECT 1")
        .await
        .map_err(connect_error)?;
    Ok(db)
}

/// Says plainly when nothing listens where a PostgreSQL URL points: the pool itself would
/// only report a timeout.
async fn probe_postgres(url: &DatabaseUrl, timeout: Duration) -> Result<(), DbOpenError> {
    let Ok(parsed) = url::Url::parse(url.expose()) else {
        return Ok(());
    };
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        // A Unix socket given in the query string: let the driver try it.
        return Ok(());
    };
    let port = parsed.port().unwrap_or(5432);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let reason =
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(err)) => format!("{err} (is PostgreSQL running on {host}:{port}?)"),
            Err(_) => format!(
                "no answer from {host}:{port} within {} ms",
                timeout.as_millis()
            ),
        };
    Err(DbOpenError::Connect {
        url: url.redacted(),
        reason: url.scrub(&reason),
    })
}

/// Whether the database answers a trivial query now.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

fn create_sqlite_dir(url: &DatabaseUrl) -> Result<(), DbOpenError> {
    let path = url
        .expose()
        .trim_start_matches("sqlite:")
        .trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| DbOpenError::CreateDir {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// A driver error on one line, without the nesting SeaORM adds.
fn one_line(err: &DbErr) -> String {
    let text = match err {
        DbErr::Conn(inner) => inner.to_string(),
        other => other.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_their_backend_and_hide_passwords() {
        let pg: DatabaseUrl = "postgres://app:s3cret@db:5432/fever".parse().unwrap();
        assert_eq!(pg.backend(), DbBackend::Postgres);
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert!(!pg.to_string().contains("s3cret"));
        assert!(pg.expose().contains("s3cret"));

        let lite: DatabaseUrl = "sqlite://data/fever.db".parse().unwrap();
        assert!(lite.is_sqlite());
        assert_eq!(DatabaseUrl::default().to_string(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn unknown_schemes_are_refused_with_the_password_masked() {
        let err = "mysql://root:hunter2@db/x"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unsupported database URL"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!("not a url".parse::<DatabaseUrl>().is_err());
        let err = "mysql://root:hunter2/x@db/x"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_postgres_url_that_does_not_parse_is_refused_without_its_password() {
        for bad in [
            "postgres://app:hunter2@db:99999/fever",
            "postgres://app:hun/ter2@db/fever",
            "postgresql://app:hunter2@[::1/fever",
        ] {
            let text = bad.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(text.contains("unsupported database URL"), "{text}");
            assert!(
                !text.contains("hunter2") && !text.contains("hun/ter2"),
                "{text}"
            );
            assert!(text.contains("app:***@"), "the user is kept: {text}");
        }
    }

    #[test]
    fn a_password_given_as_a_query_parameter_is_masked() {
        let url: DatabaseUrl = "postgres://app@db:5432/fever?password=s3cret&sslmode=require"
            .parse()
            .unwrap();
        for shown in [url.to_string(), format!("{url:?}"), url.redacted()] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("password=***"), "{shown}");
        }
        assert_eq!(
            url.scrub("driver said: bad password s3cret for postgres://app@db:5432/fever?password=s3cret&sslmode=require"),
            "driver said: bad password *** for postgres://app@db:5432/fever?password=***&sslmode=***"
        );
        let encoded: DatabaseUrl = "postgres://app:p%40ss%2Fw0rd@db/fever".parse().unwrap();
        assert_eq!(encoded.scrub("x p@ss/w0rd y p%40ss%2Fw0rd"), "x *** y ***");
    }

    #[tokio::test]
    async fn a_failed_connection_names_the_url_without_its_password() {
        // Port 1 on loopback: nothing listens, so the probe fails at once.
        let url: DatabaseUrl = "postgres://app:hunter2@127.0.0.1:1/fever?password=s3cret"
            .parse()
            .unwrap();
        let pool = PoolOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(2),
        };
        let text = connect(&url, &pool).await.unwrap_err().to_string();
        assert!(
            text.starts_with("cannot connect to the database at"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "{text}"
        );
    }
}
