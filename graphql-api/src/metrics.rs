//! `/metrics` in the Prometheus text format: HTTP requests by route template and status, a
//! latency histogram by route, GraphQL errors by code, the search index's size, version and
//! age, and, read from the database at scrape time, job counts by state and each provider's
//! last success. Labels are route templates and provider names, never raw URLs.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use entity::query;

use crate::http::AppState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Route {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

#[derive(Default)]
struct Inner {
    // By route template; looked up by `&str`, so counting a request allocates nothing.
    routes: BTreeMap<String, Route>,
    graphql_errors: BTreeMap<String, u64>,
}

/// The API's counters.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts one request to `route` that answered `status` after `elapsed`.
    pub fn record_request(&self, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.with(|m| {
            if !m.routes.contains_key(route) {
                m.routes.insert(route.to_owned(), Route::default());
            }
            let Some(r) = m.routes.get_mut(route) else {
                return;
            };
            *r.statuses.entry(status).or_default() += 1;
            let h = &mut r.latency;
            h.count += 1;
            h.sum += seconds;
            for (bucket, bound) in h.counts.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
        });
    }

    /// Counts one GraphQL error with `code`.
    pub fn record_graphql_error(&self, code: &str) {
        self.with(|m| *m.graphql_errors.entry(code.to_owned()).or_default() += 1);
    }

    fn render_counters(&self, out: &mut String) {
        self.with(|m| {
            out.push_str("# HELP http_requests_total HTTP requests by route template and status.\n");
            out.push_str("# TYPE http_requests_total counter\n");
            for (route, r) in &m.routes {
                for (status, n) in &r.statuses {
                    let _ = writeln!(out, "http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
                }
            }
            out.push_str("# HELP http_request_duration_seconds HTTP request latency by route template.\n");
            out.push_str("# TYPE http_request_duration_seconds histogram\n");
            for (route, h) in m.routes.iter().map(|(route, r)| (route, &r.latency)) {
                for (bound, n) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(out, "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(out, "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
            out.push_str("# HELP graphql_errors_total GraphQL errors by extensions.code.\n");
            out.push_str("# TYPE graphql_errors_total counter\n");
            for (code, n) in &m.graphql_errors {
                let _ = writeln!(out, "graphql_errors_total{{code=\"{code}\"}} {n}");
            }
        });
    }
}

/// Middleware: times every request and counts it under its route template.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /metrics`.
pub async fn render(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut out = String::with_capacity(4096);
    state.metrics.render_counters(&mut out);
    let snapshot = state.index.snapshot();
    out.push_str("# HELP search_index_events Events in the search index.\n# TYPE search_index_events gauge\n");
    let _ = writeln!(out, "search_index_events {}", snapshot.len());
    out.push_str("# HELP search_index_version Catalogue version of the search index.\n# TYPE search_index_version gauge\n");
    let _ = writeln!(out, "search_index_version {}", snapshot.version);
    out.push_str("# HELP search_index_age_seconds Time since the index was last known current.\n# TYPE search_index_age_seconds gauge\n");
    let _ = writeln!(
        out,
        "search_index_age_seconds {:.3}",
        state.catalog.age().as_secs_f64()
    );

    // From the database; when it is down, say so and skip these.
    // While the database is known to be down, say so at once.
    let scrape = async {
        let Ok(db) = state.database.available() else {
            return Ok(None);
        };
        let states = query::job::state_counts(db).await?;
        let providers = query::provider::list(db).await?;
        let ids: Vec<_> = providers.iter().map(|p| p.id).collect();
        let successes = query::job_outcome::last_success(db, ids).await?;
        Ok::<_, sea_orm::DbErr>(Some((states, providers, successes)))
    };
    match tokio::time::timeout(Duration::from_secs(2), scrape).await {
        Ok(Ok(Some((states, providers, successes)))) => {
            out.push_str("# HELP database_up Whether the database answered this scrape.\n# TYPE database_up gauge\ndatabase_up 1\n");
            out.push_str("# HELP jobs Jobs by state.\n# TYPE jobs gauge\n");
            for (job_state, n) in states {
                let _ = writeln!(out, "jobs{{state=\"{}\"}} {n}", crate::graphql::JobState::from(job_state).as_label());
            }
            out.push_str("# HELP provider_last_success_timestamp_seconds When each provider last completed a job.\n# TYPE provider_last_success_timestamp_seconds gauge\n");
            for (provider_id, at) in successes {
                let Some(at) = at else { continue };
                let Some(provider) = providers.iter().find(|p| p.id == provider_id) else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "provider_last_success_timestamp_seconds{{provider=\"{}\"}} {}",
                    provider.name,
                    at.timestamp()
                );
            }
        }
        _ => out.push_str("# HELP database_up Whether the database answered this scrape.\n# TYPE database_up gauge\ndatabase_up 0\n"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
