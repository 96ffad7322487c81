//! Test support for the Fever workspace.
//!
//! - [`TestDb`]: a fresh database per test, on PostgreSQL (created from `TEST_DATABASE_URL`,
//!   dropped when the test ends, even when it panics) or on a temporary SQLite file; the
//!   [`db_test!`] macro runs one test body on both.
//! - [`init_test_logging`]: tracing output for a test run, only when `TEST_LOG=1`.
//!
//! If PostgreSQL cannot be reached, the first test that needs it fails at once with a message
//! saying how to start it: the suite never skips silently.

#![expect(
    clippy::expect_used,
    reason = "test support: failing loudly with a message is the point"
)]

mod database;
mod http;

pub use database::{
    Backend, DEFAULT_TEST_DATABASE_URL, START_POSTGRES, TestDb, init_test_logging,
    test_database_url,
};
pub use http::http_client;
