//! The system as operators run it: the whole thing in one process, and the real binaries as
//! separate processes on one PostgreSQL database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers are test code: a failure should stop the test loudly"
)]

mod architecture;
mod e2e;
mod whole_system;
