//! Listing jobs for monitoring: which jobs (a [`JobFilter`]), in which order (by creation,
//! finish or duration, either way: a [`JobOrder`]), a page at a time in either direction from
//! a [`JobPosition`] (keyset pagination), and how many.
//!
//! An order by finish or duration has jobs without a value (not finished yet): they come
//! last, whichever the direction, by id. Each page is read as at most two index-friendly
//! statements: the jobs with a value, compared as a row `(value, id)`, then, if the page is
//! not full, the jobs without one.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Value,
    sea_query::{Expr, ExprTrait as _, SimpleExpr},
};

use super::super::Window;
use crate::{
    ErrorKind, JobId, JobState, JobTrigger, ProviderId,
    job::{Column, Entity, Model},
    job_outcome,
    search::Direction,
    time,
};

/// Which jobs a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this provider's.
    pub provider_id: Option<ProviderId>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs with this trigger.
    pub trigger: Option<JobTrigger>,
    /// Only jobs created at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only jobs created at or before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only failed jobs with this error kind.
    pub error_kind: Option<ErrorKind>,
    /// Only failed jobs of this error group (its fingerprint; see `query::error_group`).
    pub error_group: Option<i64>,
}

impl JobFilter {
    /// Whether the filter reads the job's outcome (the query must join it).
    pub fn reads_outcome(&self) -> bool {
        self.error_kind.is_some() || self.error_group.is_some()
    }

    /// The filter as a condition on `job` (joined to `job_outcome` when
    /// [`Self::reads_outcome`]).
    pub fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(provider) = self.provider_id {
            condition = condition.add(Column::ProviderId.eq(provider));
        }
        if let Some(state) = self.state {
            condition = condition.add(Column::State.eq(state));
        }
        if let Some(trigger) = self.trigger {
            condition = condition.add(Column::Trigger.eq(trigger));
        }
        if let Some(from) = self.from {
            condition = condition.add(Column::CreatedAt.gte(time::truncate(from)));
        }
        if let Some(to) = self.to {
            condition = condition.add(Column::CreatedAt.lte(time::truncate(to)));
        }
        if let Some(kind) = self.error_kind {
            condition = condition.add(job_outcome::Column::ErrorKind.eq(kind));
        }
        if let Some(group) = self.error_group {
            condition = condition.add(job_outcome::Column::ErrorGroup.eq(group));
        }
        condition
    }
}

/// What jobs are listed by; the id breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobOrderField {
    /// Creation (the id grows with it).
    #[default]
    Created,
    /// When it finished (its transaction committed).
    Finished,
    /// How long its outcome says it took.
    Duration,
}

/// A listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOrder {
    /// By what.
    pub field: JobOrderField,
    /// Which way.
    pub direction: Direction,
}

impl JobOrder {
    /// Newest first: what a listing without an order uses.
    pub const NEWEST_FIRST: Self = Self {
        field: JobOrderField::Created,
        direction: Direction::Desc,
    };
}

impl Default for JobOrder {
    fn default() -> Self {
        Self::NEWEST_FIRST
    }
}

/// A job's value of an order's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKey {
    /// By creation: the id is the value.
    Created,
    /// When it finished, if it did.
    Finished(Option<DateTime<Utc>>),
    /// How long it took, in milliseconds, if it finished.
    Duration(Option<i64>),
}

/// Where a job stands in an order: a cursor names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPosition {
    /// Its value of the order's field.
    pub key: JobKey,
    /// Its id.
    pub id: JobId,
}

/// A run of the order read by one statement: the jobs with a value of the field, or those
/// without, from a position (exclusive) or from the run's start.
#[derive(Debug, Clone)]
enum Run {
    Valued(Option<(Value, JobId)>),
    Unvalued(Option<JobId>),
}

/// Up to `limit` jobs matching `filter` in `window` of the list in `order`, returned in that
/// order whichever way the page goes, each with its position.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &JobFilter,
    order: JobOrder,
    window: Window<JobPosition>,
    limit: u64,
) -> Result<Vec<(Model, JobPosition)>, DbErr> {
    let (forward, cursor) = match window {
        Window::After(cursor) => (true, cursor),
        Window::Before(cursor) => (false, cursor),
    };
    let cursor = cursor.map(|at| (key_value(at.key), at.id));
    // The order is the valued run, then the unvalued one; a page backward reads them the
    // other way round, each reversed.
    let runs = match (forward, cursor) {
        (true, None) => vec![Run::Valued(None), Run::Unvalued(None)],
        (true, Some((Some(value), id))) => {
            vec![Run::Valued(Some((value, id))), Run::Unvalued(None)]
        }
        (true, Some((None, id))) => vec![Run::Unvalued(Some(id))],
        (false, None) => vec![Run::Unvalued(None), Run::Valued(None)],
        (false, Some((None, id))) => vec![Run::Unvalued(Some(id)), Run::Valued(None)],
        (false, Some((Some(value), id))) => vec![Run::Valued(Some((value, id)))],
    };
    let mut rows = Vec::new();
    for run in runs {
        let wanted = limit.saturating_sub(rows.len() as u64);
        if wanted == 0 {
            break;
        }
        if order.field == JobOrderField::Created && matches!(run, Run::Unvalued(_)) {
            continue; // every job has an id
        }
        rows.extend(read_run(db, filter, order, forward, run, wanted).await?);
    }
    if !forward {
        rows.reverse();
    }
    Ok(rows)
}

/// The jobs of one run, in the order (reversed going backward).
async fn read_run(
    db: &impl ConnectionTrait,
    filter: &JobFilter,
    order: JobOrder,
    forward: bool,
    run: Run,
    limit: u64,
) -> Result<Vec<(Model, JobPosition)>, DbErr> {
    let ascending = (order.direction == Direction::Asc) == forward;
    let way = if ascending { Order::Asc } else { Order::Desc };
    let beyond = |left: SimpleExpr, right: SimpleExpr| {
        if ascending {
            left.gt(right)
        } else {
            left.lt(right)
        }
    };
    // By duration the id is read from the outcome, beside its duration, so one index of the
    // outcome answers the row comparison and the order.
    let id = match order.field {
        JobOrderField::Duration => Expr::col((job_outcome::Entity, job_outcome::Column::JobId)),
        _ => Expr::col((Entity, Column::Id)),
    };
    let key = key_column(order.field);
    let mut select = Entity::find()
        .filter(filter.condition())
        .find_also_related(job_outcome::Entity);
    match (&run, &key) {
        (Run::Valued(from), Some(key)) => {
            select = select.filter(key.clone().is_not_null());
            if let Some((value, after)) = from {
                select = select.filter(beyond(
                    Expr::tuple([key.clone(), id.clone()]),
                    Expr::tuple([Expr::val(value.clone()), Expr::val(after.0)]),
                ));
            }
            select = select.order_by(key.clone(), way.clone());
        }
        (Run::Valued(from), None) => {
            if let Some((_, after)) = from {
                select = select.filter(beyond(id.clone(), Expr::val(after.0)));
            }
        }
        (Run::Unvalued(from), key) => {
            if let Some(key) = key {
                select = select.filter(key.clone().is_null());
            }
            if let Some(after) = from {
                select = select.filter(beyond(id.clone(), Expr::val(after.0)));
            }
        }
    }
    let rows = select.order_by(id, way).limit(limit).all(db).await?;
    Ok(rows
        .into_iter()
        .map(|(job, outcome)| {
            let key = match order.field {
                JobOrderField::Created => JobKey::Created,
                JobOrderField::Finished => JobKey::Finished(job.finished_at),
                JobOrderField::Duration => JobKey::Duration(outcome.and_then(|o| o.duration_ms)),
            };
            let position = JobPosition { key, id: job.id };
            (job, position)
        })
        .collect())
}

/// The column an order's field reads (none by creation: the id is the value).
fn key_column(field: JobOrderField) -> Option<Expr> {
    match field {
        JobOrderField::Created => None,
        JobOrderField::Finished => Some(Expr::col((Entity, Column::FinishedAt))),
        JobOrderField::Duration => Some(Expr::col((
            job_outcome::Entity,
            job_outcome::Column::DurationMs,
        ))),
    }
}

/// A position's value, as the database compares it (`None` for a job without one). By
/// creation every job has one, its id, which [`read_run`] compares on its own: the value
/// only places the position in the valued run.
fn key_value(key: JobKey) -> Option<Value> {
    match key {
        JobKey::Created => Some(Value::from(0i64)),
        JobKey::Finished(at) => at.map(|at| time::truncate(at).into()),
        JobKey::Duration(ms) => ms.map(Value::from),
    }
}

/// How many jobs match `filter`: from the kept counts (`job_count`) when it names at most a
/// provider and a state, else by counting the matching jobs.
pub async fn count(db: &impl ConnectionTrait, filter: &JobFilter) -> Result<u64, DbErr> {
    if filter.trigger.is_none()
        && filter.from.is_none()
        && filter.to.is_none()
        && !filter.reads_outcome()
    {
        let counts = crate::query::job_count::by_state(db, filter.provider_id).await?;
        let n: i64 = match filter.state {
            Some(state) => counts.get(&state).copied().unwrap_or(0),
            None => counts.values().sum(),
        };
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    let mut select = Entity::find().filter(filter.condition());
    if filter.reads_outcome() {
        select = select.inner_join(job_outcome::Entity);
    }
    sea_orm::PaginatorTrait::count(select, db).await
}
