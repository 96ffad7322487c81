//! The Fever API: GraphQL (async-graphql on axum) for event search and job monitoring, and
//! the REST `GET /search` that existing clients call.
//!
//! - [`config`]: the command line and its validated configuration.
//! - [`schema`]: the GraphQL schema, built apart from the server so the SDL can be exported
//!   and checked without a database.
//! - [`graphql`]: resolvers and their output types (never the database entities).
//! - [`error`]: the one error enum every resolver returns, mapped to `extensions.code`.
//! - [`http`]: the axum router: `/graphql`, `/search`, health, metrics, and how the server
//!   runs and stops; [`serve`]: accepting connections with their limits; [`websocket`]:
//!   `/graphql/ws`.
//! - [`access`]: tokens and roles; [`executor`]: the one door every GraphQL request goes
//!   through ([`documents`], [`cost`]); [`database`]: the breaker and the per-request
//!   connection cap.
//! - [`search`]: the in-memory search index; [`catalog`]: loading and refreshing it, and the
//!   change feed; [`rest`]: `GET /search`; [`metrics`]: `/metrics`.
//! - [`ui`]: the job-monitoring page on `/`, a single HTML file that uses only the GraphQL API.

pub mod access;
pub mod catalog;
pub mod config;
pub mod cost;
pub mod database;
pub mod documents;
pub mod error;
pub mod executor;
mod format;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod rest;
pub mod schema;
pub mod search;
pub mod serve;
pub mod ui;
pub mod websocket;

pub use http::{AppState, run};
