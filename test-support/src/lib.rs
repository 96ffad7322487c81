//! Test support for the Fever workspace.
//!
//! - [`TestDb`]: a fresh database per test, on PostgreSQL (created from `TEST_DATABASE_URL`,
//!   dropped when the test ends, even when it panics) or on a temporary SQLite file; the
//!   [`db_test!`] macro runs one test body on both.
//! - [`init_test_logging`]: tracing output for a test run, only when `TEST_LOG=1`.
//! - [`simulator`]: a provider on loopback that serves feeds in sequence and misbehaves on
//!   demand; [`feedgen`]: realistic feeds of any size, deterministic from a seed.
//! - [`proxy`]: a TCP proxy that cuts a connection on demand (a database outage).
//!
//! If PostgreSQL cannot be reached, the first test that needs it fails at once with a message
//! saying how to start it: the suite never skips silently.

#![expect(
    clippy::expect_used,
    reason = "test support: failing loudly with a message is the point"
)]

mod database;
pub mod feedgen;
mod http;
pub mod proxy;
pub mod simulator;

pub use database::{
    Backend, DEFAULT_TEST_DATABASE_URL, START_POSTGRES, TestDb, init_test_logging,
    test_database_url,
};
pub use http::http_client;
pub use simulator::{Fault, ProviderSimulator};

/// The value after `--name` on the command line, parsed, or `default` (benchmark options).
pub fn cli_arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The repository's `fixtures/` directory (sample feeds).
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// A sample feed from `fixtures/feeds/`, e.g. `"response_1.xml"`.
pub fn sample_feed(name: &str) -> axum::body::Bytes {
    let path = fixtures_dir().join("feeds").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("sample feed {}: {e}", path.display()))
        .into()
}
