//! A provider's jobs over time: how many finished, how many failed and how long they took
//! (p95), per interval of a range, for the monitoring page's charts.
//!
//! Read from the provider's finished jobs in the range (the `job_provider_finished` index), so
//! the range is bounded ([`MAX_RANGE`]): a provider on a 10 s schedule finishes 60,480 jobs
//! in a week.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::{JobState, ProviderId, job, job_outcome, time};

/// The longest range a chart reads.
pub const MAX_RANGE: TimeDelta = TimeDelta::days(7);

/// How far past [`MAX_RANGE`] a range may go: a client that asks for "the last 7 days" from
/// its own clock (late, or behind the server's) asks for a little more.
pub const RANGE_SLACK: TimeDelta = TimeDelta::hours(1);

/// The most intervals a chart has.
pub const MAX_INTERVALS: u32 = 336;

/// One interval of a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// Its first instant.
    pub start: DateTime<Utc>,
    /// Its end (exclusive).
    pub end: DateTime<Utc>,
    /// Jobs that finished in it.
    pub jobs: u32,
    /// Of those, the failed ones.
    pub failures: u32,
    /// The 95th percentile of their durations (nearest rank), in milliseconds.
    pub p95_duration_ms: Option<i64>,
}

/// The 95th percentile (nearest rank) of `durations`, which it sorts.
pub fn p95(durations: &mut [i64]) -> Option<i64> {
    if durations.is_empty() {
        return None;
    }
    durations.sort_unstable();
    let rank = (durations.len() as f64 * 0.95).ceil() as usize;
    Some(durations[rank.clamp(1, durations.len()) - 1])
}

/// `provider`'s jobs that finished in `[from, to)`, in `intervals` equal intervals (the last
/// one ends at `to`). The caller bounds the range and the interval count.
pub async fn provider_chart(
    db: &impl ConnectionTrait,
    provider: ProviderId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    intervals: u32,
) -> Result<Vec<Point>, DbErr> {
    let (from, to) = (time::truncate(from), time::truncate(to));
    let intervals = intervals.max(1);
    let span = (to - from).num_milliseconds().max(1);
    let step = (span / i64::from(intervals)).max(1);
    let rows: Vec<(Option<DateTime<Utc>>, JobState, Option<i64>)> = job::Entity::find()
        .select_only()
        .column(job::Column::FinishedAt)
        .column(job::Column::State)
        .column(job_outcome::Column::DurationMs)
        .inner_join(job_outcome::Entity)
        .filter(job::Column::ProviderId.eq(provider))
        .filter(job::Column::FinishedAt.gte(from))
        .filter(job::Column::FinishedAt.lt(to))
        .into_tuple()
        .all(db)
        .await?;
    let n = intervals as usize;
    let mut counts = vec![(0u32, 0u32); n];
    let mut durations: Vec<Vec<i64>> = vec![Vec::new(); n];
    for (finished, state, duration) in rows {
        let Some(finished) = finished else { continue };
        let index = usize::try_from((finished - from).num_milliseconds() / step)
            .unwrap_or(0)
            .min(n - 1);
        counts[index].0 += 1;
        if state == JobState::Failed {
            counts[index].1 += 1;
        }
        durations[index].extend(duration);
    }
    Ok((0..n)
        .map(|i| {
            let start = from + TimeDelta::milliseconds(step * i as i64);
            let end = if i + 1 == n {
                to
            } else {
                start + TimeDelta::milliseconds(step)
            };
            Point {
                start,
                end,
                jobs: counts[i].0,
                failures: counts[i].1,
                p95_duration_ms: p95(&mut durations[i]),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_95th_percentile_is_the_nearest_rank() {
        assert_eq!(p95(&mut []), None);
        assert_eq!(p95(&mut [7]), Some(7));
        let mut hundred: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(p95(&mut hundred), Some(95));
        let mut twenty: Vec<i64> = (1..=20).collect();
        assert_eq!(p95(&mut twenty), Some(19));
    }
}
