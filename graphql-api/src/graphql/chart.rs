//! A provider's jobs over time, per interval: what the monitoring page draws.

use async_graphql::SimpleObject;
use entity::query::chart;

use super::Instant;

/// One interval of a chart.
#[derive(Debug, Clone, SimpleObject)]
pub struct ChartPoint {
    /// Its first instant.
    pub start: Instant,
    /// Its end (exclusive).
    pub end: Instant,
    /// Jobs that finished in it.
    pub jobs: u32,
    /// Of those, the failed ones.
    pub failures: u32,
    /// The 95th percentile of their durations (nearest rank), in milliseconds; null without
    /// jobs.
    pub p95_duration_ms: Option<i64>,
}

impl From<chart::Point> for ChartPoint {
    fn from(point: chart::Point) -> Self {
        Self {
            start: Instant(point.start),
            end: Instant(point.end),
            jobs: point.jobs,
            failures: point.failures,
            p95_duration_ms: point.p95_duration_ms,
        }
    }
}

/// A provider's finished jobs over a range, in equal intervals.
#[derive(Debug, Clone, SimpleObject)]
pub struct JobChart {
    /// The provider's name.
    pub provider: String,
    /// The range's start.
    pub from: Instant,
    /// The range's end.
    pub to: Instant,
    /// The intervals, oldest first.
    pub points: Vec<ChartPoint>,
}
