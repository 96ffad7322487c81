//! The API's counters: requests by route template and status, a latency histogram by route,
//! GraphQL errors by code, GraphQL answers by what wrote them. The HTTP middleware and the GraphQL door count into them;
//! `http::metrics` renders them.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

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
    /// GraphQL queries and mutations over HTTP answered by a compiled plan.
    graphql_by_plan: AtomicU64,
    /// ... and by the schema's executor.
    graphql_by_executor: AtomicU64,
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

    /// Counts one GraphQL answer over HTTP, written by a compiled plan (`true`) or by the
    /// executor.
    pub fn record_graphql_plan(&self, by_plan: bool) {
        let counter = if by_plan {
            &self.graphql_by_plan
        } else {
            &self.graphql_by_executor
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one GraphQL error with `code`.
    pub fn record_graphql_error(&self, code: &str) {
        self.with(|m| *m.graphql_errors.entry(code.to_owned()).or_default() += 1);
    }

    /// Writes every counter in the Prometheus text format.
    pub fn render_counters(&self, out: &mut String) {
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
            out.push_str("# HELP graphql_answers_total GraphQL answers over HTTP by what wrote them: a compiled plan or the executor.\n");
            out.push_str("# TYPE graphql_answers_total counter\n");
            for (by, counter) in [("plan", &self.graphql_by_plan), ("executor", &self.graphql_by_executor)] {
                let _ = writeln!(out, "graphql_answers_total{{by=\"{by}\"}} {}", counter.load(Ordering::Relaxed));
            }
        });
    }
}
