//! Error groups (a provider's failures of one kind with the same normalised message, counted
//! over a range) and what a bulk retry did.

use async_graphql::{ComplexObject, Context, ID, SimpleObject, dataloader::DataLoader};
use entity::query::{error_group, job::RetryTally};

use super::{DbLoader, ErrorKind, Instant, Job, Provider, ids::GlobalId};
use crate::error::ApiError;

/// A provider's failures of one kind whose messages differ only by numbers, ids and
/// addresses, over the range asked for.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct ErrorGroup {
    /// Its id: give it to `JobFilter.errorGroup` to list or retry its jobs.
    pub id: ID,
    /// Why they failed.
    pub kind: ErrorKind,
    /// What failed, with numbers (`<n>`), ids (`<id>`) and addresses (`<addr>`) replaced.
    pub message: String,
    /// How many failed in the range (counted by the hour: a range takes in every hour it
    /// touches).
    pub count: i64,
    /// When the first of them failed.
    pub first_seen: Instant,
    /// When the last of them failed.
    pub last_seen: Instant,
    #[graphql(skip)]
    provider_id: entity::ProviderId,
    #[graphql(skip)]
    last_job_id: entity::JobId,
}

impl From<error_group::Group> for ErrorGroup {
    fn from(group: error_group::Group) -> Self {
        Self {
            id: GlobalId::ErrorGroup(group.provider_id, group.fingerprint).to_id(),
            kind: group.error_kind.into(),
            message: group.message,
            count: group.failures,
            first_seen: Instant(group.first_seen),
            last_seen: Instant(group.last_seen),
            provider_id: group.provider_id,
            last_job_id: group.last_job_id,
        }
    }
}

impl ErrorGroup {
    /// Where the next page starts: the group's last job.
    pub(super) fn cursor(&self) -> String {
        self.last_job_id.to_string()
    }
}

#[ComplexObject]
impl ErrorGroup {
    /// The provider that failed.
    async fn provider(&self, ctx: &Context<'_>) -> Result<Provider, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        loader
            .load_one(self.provider_id)
            .await?
            .map(Provider::from)
            .ok_or_else(|| ApiError::NotFound("the group's provider no longer exists".to_owned()))
    }

    /// The last job that failed this way; null once retention pruned it.
    async fn last_job(&self, ctx: &Context<'_>) -> Result<Option<Job>, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        Ok(loader.load_one(self.last_job_id).await?.map(Job))
    }
}

/// What `retryFailedJobs` did with the failed jobs its filter matched. A provider's jobs all
/// collect the same feed, so each provider gets one retry at most, of its newest failed job;
/// `matched = queued + skipped`.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetryReport {
    /// Failed jobs the filter matched (the newest 10,000 at most).
    pub matched: u64,
    /// More than 10,000 matched: only the newest were read; run it again for the rest.
    pub limited: bool,
    /// Retries queued.
    pub queued: u64,
    /// Matched jobs that got no retry of their own (the four reasons below).
    pub skipped: u64,
    /// Already retried: a later attempt exists.
    pub already_retried: u64,
    /// Their provider is disabled.
    pub provider_disabled: u64,
    /// Their provider already has a pending or running job, which collects the same feed.
    pub provider_busy: u64,
    /// Covered by the retry queued for a newer failed job of the same provider.
    pub covered: u64,
    /// The retries queued.
    pub jobs: Vec<Job>,
}

impl From<RetryTally> for RetryReport {
    fn from(tally: RetryTally) -> Self {
        Self {
            matched: tally.matched,
            limited: tally.limited,
            queued: tally.queued.len() as u64,
            skipped: tally.skipped(),
            already_retried: tally.already_retried,
            provider_disabled: tally.provider_disabled,
            provider_busy: tally.provider_busy,
            covered: tally.covered,
            jobs: tally.queued.into_iter().map(Job).collect(),
        }
    }
}
