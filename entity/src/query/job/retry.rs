//! Retrying failed jobs in bulk: every failed job a filter matches (an error kind, an error
//! group, a provider, a time range), in one action.
//!
//! A provider's jobs all collect the same feed, so however many of its jobs failed, one new
//! collection serves them all: each provider gets at most one retry, of its newest failed job
//! matched, and the others are counted as covered by it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{Enqueued, JobFilter, NewJob, enqueue};
use crate::{
    JobId, JobState, ProviderId,
    job::{Column, Entity, Model},
    job_outcome, provider,
};

/// The most failed jobs one action reads: the newest, when more match.
pub const MAX_MATCHED: u64 = 10_000;

/// What a bulk retry did with the failed jobs it matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryTally {
    /// Failed jobs matched (at most [`MAX_MATCHED`]).
    pub matched: u64,
    /// More than [`MAX_MATCHED`] matched: only the newest were read.
    pub limited: bool,
    /// The retries created, one per provider at most.
    pub queued: Vec<Model>,
    /// Matched jobs already retried (a later attempt exists).
    pub already_retried: u64,
    /// Matched jobs of disabled or removed providers.
    pub provider_disabled: u64,
    /// Matched jobs whose provider already has a pending or running job.
    pub provider_busy: u64,
    /// Matched jobs covered by the retry queued for another job of their provider.
    pub covered: u64,
}

impl RetryTally {
    /// Matched jobs that got no retry of their own.
    pub fn skipped(&self) -> u64 {
        self.already_retried + self.provider_disabled + self.provider_busy + self.covered
    }
}

/// Queues, due `now`, one retry per provider for the failed jobs `filter` matches (its state,
/// if any, is ignored: only failed jobs are retried).
pub async fn retry_failed(
    db: &DatabaseConnection,
    filter: &JobFilter,
    now: DateTime<Utc>,
) -> Result<RetryTally, DbErr> {
    let filter = JobFilter {
        state: Some(JobState::Failed),
        ..filter.clone()
    };
    let mut select = Entity::find()
        .filter(filter.condition())
        .order_by_desc(Column::Id)
        .limit(MAX_MATCHED + 1);
    if filter.reads_outcome() {
        select = select.inner_join(job_outcome::Entity);
    }
    let mut failed = select.all(db).await?;
    let mut tally = RetryTally {
        limited: failed.len() as u64 > MAX_MATCHED,
        ..RetryTally::default()
    };
    failed.truncate(MAX_MATCHED as usize);
    tally.matched = failed.len() as u64;

    let mut retried: HashSet<JobId> = HashSet::new();
    for ids in failed.chunks(1_000) {
        let found: Vec<Option<JobId>> = Entity::find()
            .select_only()
            .column(Column::RetryOf)
            .filter(Column::RetryOf.is_in(ids.iter().map(|j| j.id)))
            .into_tuple()
            .all(db)
            .await?;
        retried.extend(found.into_iter().flatten());
    }
    let providers: HashSet<ProviderId> = failed.iter().map(|j| j.provider_id).collect();
    let mut enabled: HashSet<ProviderId> = HashSet::new();
    let wanted: Vec<ProviderId> = providers.into_iter().collect();
    for ids in wanted.chunks(1_000) {
        let found: Vec<ProviderId> = provider::Entity::find()
            .select_only()
            .column(provider::Column::Id)
            .filter(provider::Column::Id.is_in(ids.iter().copied()))
            .filter(provider::Column::Enabled.eq(true))
            .into_tuple()
            .all(db)
            .await?;
        enabled.extend(found);
    }

    // Newest first: the first job left of each provider is the one retried.
    let mut by_provider: HashMap<ProviderId, Vec<Model>> = HashMap::new();
    let mut order = Vec::new();
    for job in failed {
        if retried.contains(&job.id) {
            tally.already_retried += 1;
        } else if !enabled.contains(&job.provider_id) {
            tally.provider_disabled += 1;
        } else {
            let jobs = by_provider.entry(job.provider_id).or_default();
            if jobs.is_empty() {
                order.push(job.provider_id);
            }
            jobs.push(job);
        }
    }
    for provider in order {
        let jobs = &by_provider[&provider];
        let newest = &jobs[0];
        match enqueue(db, NewJob::retry(newest, now)).await? {
            Enqueued::Created(job) => {
                tally.queued.push(job);
                tally.covered += jobs.len() as u64 - 1;
            }
            Enqueued::Conflict => tally.provider_busy += jobs.len() as u64,
        }
    }
    Ok(tally)
}
