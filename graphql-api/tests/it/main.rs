//! Integration tests of the API: the real router served on 127.0.0.1:0, real HTTP requests,
//! a fresh database per test.

mod app;
mod graphql;
mod health;
mod schema_file;
