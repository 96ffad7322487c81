//! Finished jobs counted for good: the source of `/metrics`' job counters and job-duration
//! histogram.

use sea_orm::{
    ActiveValue::Set,
    ConnectionTrait, DbErr, EntityTrait, QueryOrder,
    sea_query::{Expr, ExprTrait as _, OnConflict},
};

use crate::{ErrorKind, JobState, ProviderId, job_tally::*};

/// The histogram's upper bounds, in milliseconds (the last bucket, past them, is `+Inf`).
/// Changing them needs a migration that re-buckets `job_tally`.
pub const BOUNDS_MS: [i64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000,
];

/// The bucket of a job that took `duration_ms`.
pub fn bucket_of(duration_ms: i64) -> i16 {
    let index = BOUNDS_MS.partition_point(|&bound| bound < duration_ms);
    i16::try_from(index).unwrap_or(i16::MAX)
}

/// Counts a finished job: to be called in the transaction that records its outcome.
pub async fn record(
    db: &impl ConnectionTrait,
    provider: ProviderId,
    status: JobState,
    error_kind: Option<ErrorKind>,
    duration_ms: i64,
) -> Result<(), DbErr> {
    let kind = error_kind.map_or("", ErrorKind::as_str);
    Entity::insert(ActiveModel {
        provider_id: Set(provider),
        status: Set(status),
        error_kind: Set(kind.to_owned()),
        bucket: Set(bucket_of(duration_ms)),
        jobs: Set(1),
        duration_ms: Set(duration_ms),
    })
    .on_conflict(
        OnConflict::columns([
            Column::ProviderId,
            Column::Status,
            Column::ErrorKind,
            Column::Bucket,
        ])
        .value(Column::Jobs, Expr::col((Entity, Column::Jobs)).add(1))
        .value(
            Column::DurationMs,
            Expr::col((Entity, Column::DurationMs)).add(duration_ms),
        )
        .to_owned(),
    )
    .exec(db)
    .await
    .map(|_| ())
}

/// Every tally, by provider.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .order_by_asc(Column::ProviderId)
        .order_by_asc(Column::Status)
        .order_by_asc(Column::ErrorKind)
        .order_by_asc(Column::Bucket)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_falls_in_the_first_bucket_at_or_above_it() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(50), 0);
        assert_eq!(bucket_of(51), 1);
        assert_eq!(bucket_of(300_000), 11);
        assert_eq!(bucket_of(300_001), 12, "+Inf");
    }
}
