//! Integration tests of the API: the real router served on 127.0.0.1:0, real HTTP requests,
//! a fresh database per test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers are test code: a failure should stop the test loudly"
)]

mod abuse;
mod app;
mod backoff;
mod charts;
mod error_groups;
mod feed_bodies;
mod freshness;
mod graphql;
mod health;
mod index;
mod job_changes;
mod plans;
mod rest;
mod schema_file;
mod subscription;
mod workers;
