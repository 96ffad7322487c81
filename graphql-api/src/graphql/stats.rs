//! Per-provider totals of finished jobs: what `providerStats` answers.

use async_graphql::SimpleObject;
use entity::{provider, query::job_outcome::ProviderTotals};

/// Totals of one provider's finished jobs over a time range.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderStats {
    /// The provider's name.
    pub provider: String,
    /// Finished jobs.
    pub jobs: i64,
    /// Completed jobs.
    pub completed: i64,
    /// Failed jobs.
    pub failed: i64,
    /// Share of completed jobs, from 0 to 1; null without finished jobs (as in `Health`).
    pub success_rate: Option<f64>,
    /// Average job duration, in milliseconds.
    pub average_duration_ms: i64,
    /// Events inserted.
    pub events_inserted: i64,
    /// Events updated.
    pub events_updated: i64,
    /// Records rejected.
    pub records_rejected: i64,
}

/// One row per provider, by the providers' order, from the totals of those that have any.
pub(super) fn per_provider(
    providers: Vec<provider::Model>,
    totals: &[ProviderTotals],
) -> Vec<ProviderStats> {
    providers
        .into_iter()
        .map(|p| {
            let t = totals.iter().find(|t| t.provider_id == p.id);
            let jobs = t.map_or(0, |t| t.jobs);
            let completed = t.map_or(0, |t| t.completed);
            ProviderStats {
                provider: p.name,
                jobs,
                completed,
                failed: jobs - completed,
                success_rate: (jobs > 0).then(|| completed as f64 / jobs as f64),
                average_duration_ms: t.map_or(0, |t| {
                    if t.jobs > 0 {
                        t.duration_ms / t.jobs
                    } else {
                        0
                    }
                }),
                events_inserted: t.map_or(0, |t| t.inserted),
                events_updated: t.map_or(0, |t| t.updated),
                records_rejected: t.map_or(0, |t| t.rejected),
            }
        })
        .collect()
}
