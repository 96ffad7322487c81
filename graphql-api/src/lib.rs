//! The Fever API: GraphQL (async-graphql on axum) for event search and job monitoring, and
//! the REST `GET /search` that existing clients call.
//!
//! Three wings around one state ([`state`]):
//! - [`http`]: the router and how the server runs and stops; the GraphQL transport, the REST
//!   `/search`, health, `/metrics`, the monitoring page, the WebSocket, the accept loop.
//! - [`graphql`]: the schema, its limits and cost, the one door requests go through, the roots
//!   and the output types.
//! - [`search`]: the in-memory index and its refresh.
//!
//! Beside them: [`config`] (the command line), [`access`] (tokens and roles), [`database`] (the
//! breaker and the per-request connection share), [`changes`] (the change feed), [`error`]
//! (the errors clients see), [`counters`] (what `/metrics` shows). Dependencies point one way: `http` uses `graphql` and `search`;
//! `graphql` uses `search`; neither `graphql` nor `search` knows `http`.

pub mod access;
pub mod changes;
pub mod config;
pub mod counters;
pub mod database;
pub mod error;
pub mod graphql;
pub mod http;
pub mod search;
pub mod state;

pub use http::run;
pub use state::AppState;
