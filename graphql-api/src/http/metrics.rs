//! `/metrics` in the Prometheus text format: HTTP requests by route template and status, a
//! latency histogram by route, GraphQL errors by code, the search index's size, version and
//! age; read from the database at scrape time, job counts by state, each provider's last
//! success, finished jobs by provider, status and error kind, and a job-duration histogram by
//! provider, and the feed bodies kept (how many, and their size); the process's own figures
//! and the build. Labels are route templates and
//! provider names, never raw URLs.

use std::{
    fmt::Write,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use entity::query;

use crate::state::AppState;

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
        let states = query::job_count::by_state(db, None).await?;
        let providers = query::provider::list(db).await?;
        let ids: Vec<_> = providers.iter().map(|p| p.id).collect();
        let successes = query::provider_health::find_many(db, ids).await?;
        let tallies = query::job_tally::all(db).await?;
        let snapshots = query::feed_snapshot::totals(db).await?;
        Ok::<_, sea_orm::DbErr>(Some((states, providers, successes, tallies, snapshots)))
    };
    match tokio::time::timeout(Duration::from_secs(2), scrape).await {
        Ok(Ok(Some((states, providers, successes, tallies, snapshots)))) => {
            out.push_str("# HELP database_up Whether the database answered this scrape.\n# TYPE database_up gauge\ndatabase_up 1\n");
            out.push_str("# HELP jobs Jobs by state.\n# TYPE jobs gauge\n");
            // Every state, at 0 too: a series that vanishes at 0 breaks rate() and alerts.
            for job_state in [entity::JobState::Pending, entity::JobState::Running, entity::JobState::Completed, entity::JobState::Failed] {
                let n = states.get(&job_state).copied().unwrap_or(0);
                let _ = writeln!(out, "jobs{{state=\"{}\"}} {n}", crate::graphql::JobState::from(job_state).as_label());
            }
            out.push_str("# HELP provider_last_success_timestamp_seconds When each provider last completed a job.\n# TYPE provider_last_success_timestamp_seconds gauge\n");
            // Every provider has the series, 0 until it first succeeds: an alert on its age
            // fires for a provider that never succeeded too.
            let health: std::collections::HashMap<_, _> =
                successes.into_iter().map(|s| (s.provider_id, s)).collect();
            let last_success = |provider| health.get(provider).and_then(|h| h.last_success_at);
            for provider in &providers {
                let at = last_success(&provider.id).map_or(0, |at| at.timestamp());
                let _ = writeln!(
                    out,
                    "provider_last_success_timestamp_seconds{{provider=\"{}\"}} {at}",
                    provider.name
                );
            }
            out.push_str("# HELP provider_overdue Whether each provider's last success is older than its expected freshness (1), or not (0; always for a disabled provider).\n# TYPE provider_overdue gauge\n");
            let now = chrono::Utc::now();
            for provider in &providers {
                let overdue =
                    entity::settings::overdue_since(provider, last_success(&provider.id), now)
                        .is_some();
                let _ = writeln!(
                    out,
                    "provider_overdue{{provider=\"{}\"}} {}",
                    provider.name,
                    u8::from(overdue)
                );
            }
            out.push_str("# HELP provider_backing_off Whether the scheduler skips each provider's ticks after consecutive failed collections (1), or not (0).\n# TYPE provider_backing_off gauge\n");
            for provider in &providers {
                let backing_off = health
                    .get(&provider.id)
                    .and_then(|h| h.backing_off_until)
                    .is_some_and(|until| until > now);
                let _ = writeln!(
                    out,
                    "provider_backing_off{{provider=\"{}\"}} {}",
                    provider.name,
                    u8::from(backing_off)
                );
            }
            out.push_str("# HELP provider_paused Whether each provider was paused after failing too many collections in a row (1) and not enabled since, or not (0).\n# TYPE provider_paused gauge\n");
            for provider in &providers {
                let paused = health.get(&provider.id).is_some_and(|h| h.paused_at.is_some());
                let _ = writeln!(
                    out,
                    "provider_paused{{provider=\"{}\"}} {}",
                    provider.name,
                    u8::from(paused)
                );
            }
            render_tallies(&mut out, &providers, &tallies);
            out.push_str("# HELP feed_snapshots Feed bodies kept for replays and downloads.\n# TYPE feed_snapshots gauge\n");
            let _ = writeln!(out, "feed_snapshots {}", snapshots.count);
            out.push_str("# HELP feed_snapshots_bytes What the kept feed bodies weigh, compressed (what FEED_SNAPSHOT_MAX_MIB bounds).\n# TYPE feed_snapshots_bytes gauge\n");
            let _ = writeln!(out, "feed_snapshots_bytes {}", snapshots.stored_bytes);
        }
        _ => out.push_str("# HELP database_up Whether the database answered this scrape.\n# TYPE database_up gauge\ndatabase_up 0\n"),
    }
    super::process::render(&mut out);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}

/// `jobs_finished_total` and `job_duration_seconds`, from the tallies kept as jobs finish: they
/// only grow (retention does not lower them), so `rate()` and `histogram_quantile()` work on
/// them. Every provider has a histogram, at 0 before its first job.
fn render_tallies(
    out: &mut String,
    providers: &[entity::provider::Model],
    tallies: &[entity::job_tally::Model],
) {
    use entity::query::job_tally::BOUNDS_MS;
    let mut by_provider: std::collections::HashMap<_, Vec<&entity::job_tally::Model>> =
        std::collections::HashMap::new();
    for tally in tallies {
        by_provider
            .entry(tally.provider_id)
            .or_default()
            .push(tally);
    }
    out.push_str("# HELP jobs_finished_total Finished jobs by provider, status and error kind (none for completed jobs).\n# TYPE jobs_finished_total counter\n");
    for provider in providers {
        let mut totals: Vec<(&str, &str, i64)> = Vec::new();
        for tally in by_provider.get(&provider.id).into_iter().flatten() {
            let status = crate::graphql::JobState::from(tally.status).as_label();
            let kind = if tally.error_kind.is_empty() {
                "none"
            } else {
                tally.error_kind.as_str()
            };
            match totals
                .iter_mut()
                .find(|(s, k, _)| *s == status && *k == kind)
            {
                Some(total) => total.2 += tally.jobs,
                None => totals.push((status, kind, tally.jobs)),
            }
        }
        for (status, kind, n) in totals {
            let _ = writeln!(
                out,
                "jobs_finished_total{{provider=\"{}\",status=\"{status}\",error_kind=\"{kind}\"}} {n}",
                provider.name
            );
        }
    }
    out.push_str("# HELP job_duration_seconds How long finished jobs took, fetch to commit, by provider.\n# TYPE job_duration_seconds histogram\n");
    for provider in providers {
        let mut counts = [0i64; BOUNDS_MS.len() + 1];
        let mut sum_ms = 0i64;
        for tally in by_provider.get(&provider.id).into_iter().flatten() {
            let bucket = usize::try_from(tally.bucket)
                .unwrap_or(0)
                .min(BOUNDS_MS.len());
            counts[bucket] += tally.jobs;
            sum_ms += tally.duration_ms;
        }
        let name = &provider.name;
        let mut cumulative = 0;
        for (bound, n) in BOUNDS_MS.iter().zip(counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "job_duration_seconds_bucket{{provider=\"{name}\",le=\"{}\"}} {cumulative}",
                *bound as f64 / 1000.0
            );
        }
        cumulative += counts[BOUNDS_MS.len()];
        let _ = writeln!(
            out,
            "job_duration_seconds_bucket{{provider=\"{name}\",le=\"+Inf\"}} {cumulative}\n\
             job_duration_seconds_sum{{provider=\"{name}\"}} {:.3}\n\
             job_duration_seconds_count{{provider=\"{name}\"}} {cumulative}",
            sum_ms as f64 / 1000.0
        );
    }
}
