//! A fresh database per test, on PostgreSQL or SQLite.

use std::sync::OnceLock;

use lifecycle::database::{DatabaseUrl, PoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

/// Where the tests find PostgreSQL when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str =
    "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";

/// How to start the local PostgreSQL (see DEVELOPERS.md).
pub const START_POSTGRES: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// The databases a test can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh database on the PostgreSQL server of `TEST_DATABASE_URL`.
    Postgres,
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
}

impl Backend {
    /// SeaORM's name for it.
    pub fn db_backend(self) -> DbBackend {
        match self {
            Self::Postgres => DbBackend::Postgres,
            Self::Sqlite => DbBackend::Sqlite,
        }
    }
}

/// A database that exists for one test.
pub struct TestDb {
    /// A pool on it.
    pub db: DatabaseConnection,
    /// Its URL, for code (or processes) that open their own connections.
    pub url: DatabaseUrl,
    backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin_url: String, name: String },
    // Holds the directory until the test ends.
    Sqlite(#[expect(dead_code, reason = "kept alive for its Drop")] tempfile::TempDir),
}

impl TestDb {
    /// A fresh, empty database.
    pub async fn empty(backend: Backend) -> Self {
        init_test_logging();
        match backend {
            Backend::Postgres => Self::empty_postgres().await,
            Backend::Sqlite => Self::empty_sqlite().await,
        }
    }

    /// A fresh database with every migration applied.
    pub async fn migrated(backend: Backend) -> Self {
        let test_db = Self::empty(backend).await;
        migration::apply_pending(&test_db.db)
            .await
            .expect("migrations apply to a fresh database");
        test_db
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens another pool on the same database.
    pub async fn connect_again(&self) -> DatabaseConnection {
        lifecycle::database::connect(&self.url, &PoolOptions::default())
            .await
            .expect("the test database accepts a second pool")
    }

    async fn empty_postgres() -> Self {
        let admin_url = test_database_url();
        let admin = admin_connection(&admin_url).await;
        let name = format!("fever_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("the test user may create databases");
        drop(admin);
        let url: DatabaseUrl = with_database(&admin_url, &name)
            .parse()
            .expect("TEST_DATABASE_URL is a PostgreSQL URL");
        let db = lifecycle::database::connect(&url, &PoolOptions::default())
            .await
            .expect("the new test database accepts connections");
        Self {
            db,
            url,
            backend: Backend::Postgres,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }

    async fn empty_sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for SQLite");
        let path = dir.path().join("fever.db");
        let url: DatabaseUrl = format!("sqlite://{}", path.display())
            .parse()
            .expect("a SQLite URL");
        let db = lifecycle::database::connect(&url, &PoolOptions::default())
            .await
            .expect("a SQLite file opens");
        Self {
            db,
            url,
            backend: Backend::Sqlite,
            cleanup: Cleanup::Sqlite(dir),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs outside async code: use a small runtime on its own thread, and FORCE, which
        // ends the sessions the test's pool still holds.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let admin = admin_connection(&admin_url).await;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) && !std::thread::panicking() {
            tracing::warn!("could not drop a test database; it is named fever_test_*");
        }
    }
}

/// `TEST_DATABASE_URL`, or the local default.
pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

async fn admin_connection(admin_url: &str) -> DatabaseConnection {
    let url: DatabaseUrl = admin_url
        .parse()
        .expect("TEST_DATABASE_URL must be a postgres:// URL");
    let options = PoolOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(3),
    };
    match lifecycle::database::connect(&url, &options).await {
        Ok(db) => db,
        Err(err) => panic!(
            "\n\nPostgreSQL is not reachable, and these tests need it: {err}\n\
             Start it with:  {START_POSTGRES}\n\
             or point TEST_DATABASE_URL at a server where the user may create databases.\n"
        ),
    }
}

/// `url` with its database path replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Prints tracing output for the test run when `TEST_LOG=1`; otherwise tests are quiet.
pub fn init_test_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,sqlx=warn".into()),
                )
                .with_test_writer()
                .try_init();
        }
    });
}

/// Runs one async test body on both databases, as two tests named `postgres` and `sqlite`
/// in a module named after the test, each with a fresh migrated [`TestDb`]:
///
/// ```ignore
/// db_test!(async fn stores_a_provider(test_db) {
///     assert!(entity::query::provider::list(&test_db.db).await.unwrap().is_empty());
/// });
/// ```
#[macro_export]
macro_rules! db_test {
    ($(#[$attr:meta])* async fn $name:ident($db:ident) $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports, reason = "the body may not need the parent's imports")]
            use super::*;

            async fn run($db: $crate::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::TestDb::migrated($crate::Backend::Postgres).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::TestDb::migrated($crate::Backend::Sqlite).await).await
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
