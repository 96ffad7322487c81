//! What a GraphQL request may ask for, and take: a config struct with safe defaults.

use std::time::Duration;

/// What a GraphQL request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest selection accepted.
    pub max_depth: usize,
    /// Highest complexity accepted (a field costs 1; a connection, its page size times its
    /// children).
    pub max_complexity: usize,
    /// Largest page a connection returns.
    pub max_page_size: usize,
    /// Queries kept for automatic persisted queries (see `documents`).
    pub persisted_queries: usize,
    /// Largest answer sent, in bytes (JSON); a larger one is refused with
    /// `RESPONSE_TOO_LARGE`.
    pub max_response_bytes: usize,
    /// Longest a request may take: a query or mutation stops then (`TIMEOUT`), and anything
    /// else is cut with a 503 just after.
    pub request_timeout: Duration,
    /// Most database connections one request holds at once.
    pub db_connections_per_request: usize,
    /// Whether the schema answers introspection (`__schema`, `__type`): GraphiQL's docs and
    /// autocompletion and every client code generator need it.
    pub introspection: bool,
    /// Whether the hot operation shapes are answered by compiled plans (see `plan`); off, the
    /// general executor answers everything.
    pub compiled_plans: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_page_size: 100,
            persisted_queries: 1_000,
            max_response_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            db_connections_per_request: 2,
            introspection: true,
            compiled_plans: true,
        }
    }
}
