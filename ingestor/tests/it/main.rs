//! Integration tests of the ingestor, through its binary and its library.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers are test code: a failure should stop the test loudly"
)]

mod backoff;
mod changes;
mod cli;
mod collector;
mod destinations;
mod processes;
mod snapshots;
mod support;
mod worker;
