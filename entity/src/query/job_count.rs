//! Job counts by state, from `job_count` (kept by triggers): what the monitoring views show
//! without counting the job table.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};

use crate::{JobState, ProviderId, job_count::*};

/// How many jobs are in each state: of one provider, or of all. A state without jobs is
/// absent (or 0).
pub async fn by_state(
    db: &impl ConnectionTrait,
    provider: Option<ProviderId>,
) -> Result<HashMap<JobState, i64>, DbErr> {
    // SUM of a bigint is a numeric on PostgreSQL: cast back.
    let mut select = Entity::find()
        .select_only()
        .column(Column::State)
        .column_as(Expr::cust("CAST(SUM(n) AS BIGINT)"), "n")
        .group_by(Column::State);
    if let Some(provider) = provider {
        select = select.filter(Column::ProviderId.eq(provider));
    }
    let counts: Vec<(JobState, i64)> = select.into_tuple().all(db).await?;
    Ok(counts.into_iter().collect())
}
