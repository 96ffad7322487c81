//! Integration tests of the schema, on PostgreSQL and SQLite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers are test code: a failure should stop the test loudly"
)]

mod constraints;
mod migrations;
