//! Mutations, behind an admin token (see `access`).
//!
//! Without a token the answer is `UNAUTHENTICATED`; with an unknown one, or a viewer's,
//! `FORBIDDEN`; and nothing changes. Mutations are refused over `GET`, whatever the token.

use async_graphql::{Context, ID, InputObject, Object};
use entity::{
    destination::DestinationPolicy,
    query::{
        self,
        job::{Cancelled, Enqueued, NewJob},
    },
    settings::{FeedUrl, ProviderPatch},
    time,
};

use super::{Job, JobFilter, Provider, ProviderKind, RetryReport, db, job::job_id, provider_named};
use crate::{
    access::{AdminGuard, token_name},
    error::ApiError,
};

/// A provider's settings; those left out keep their value (or the default, for a new one).
#[derive(Debug, Clone, InputObject)]
pub struct ProviderInput {
    /// Unique name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The feed's address (http or https); required for a new provider.
    pub url: Option<String>,
    /// The collector.
    pub kind: Option<ProviderKind>,
    /// Cron schedule, with seconds or in the classic 5-field form.
    pub schedule: Option<String>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    /// Whether the scheduler creates jobs for it.
    pub enabled: Option<bool>,
    /// Limit for connecting, in milliseconds.
    pub connect_timeout_ms: Option<i32>,
    /// Limit between two reads, in milliseconds.
    pub read_timeout_ms: Option<i32>,
    /// Limit for the whole fetch, in milliseconds.
    pub total_timeout_ms: Option<i32>,
    /// Largest feed accepted, in bytes.
    pub max_body_bytes: Option<i64>,
    /// Attempts per tick.
    pub max_attempts: Option<i32>,
    /// Backoff before the first retry, in milliseconds.
    pub retry_base_delay_ms: Option<i32>,
    /// How old its last successful collection may get before it is overdue, in milliseconds
    /// (1 s to 30 days); 0 returns to the default, three intervals of its schedule.
    pub freshness_ms: Option<i64>,
    /// Consecutive failed collections after which its schedule is stretched (×2 with each
    /// further failure, up to 64 intervals or an hour) and its retries stop; 0: never
    /// (0 to 10,000; a new provider gets 3).
    pub backoff_after: Option<i32>,
    /// Consecutive failed collections after which it is paused until enabled again; 0: never
    /// (0 to 10,000; a new provider gets 30).
    pub pause_after: Option<i32>,
}

fn invalid(err: impl std::fmt::Display) -> ApiError {
    ApiError::BadUserInput(err.to_string())
}

/// Entry points for changing things (admin token required).
pub struct MutationRoot;

/// Entry points for changing things (admin token required).
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Queues a collection of the provider now (a manual job).
    #[graphql(guard = "AdminGuard")]
    async fn trigger_collection(
        &self,
        ctx: &Context<'_>,
        provider: String,
    ) -> Result<Job, ApiError> {
        let result = async {
            let db = db(ctx).await?;
            let found = provider_named(&*db, &provider).await?;
            match query::job::enqueue(&db, NewJob::manual(found.id, time::now())).await? {
                Enqueued::Created(job) => Ok(Job(job)),
                Enqueued::Conflict => Err(ApiError::Conflict(format!(
                    "provider `{provider}` already has a pending or running job"
                ))),
            }
        }
        .await;
        audited(
            ctx,
            "triggerCollection",
            &format!("provider {provider}"),
            result,
            created,
        )
        .await
    }

    /// Queues a new attempt of a failed job now.
    #[graphql(guard = "AdminGuard")]
    async fn retry_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job, ApiError> {
        let result = async {
            let db = db(ctx).await?;
            let failed = query::job::find(&*db, job_id(&id)?)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no job has id {}", id.as_str())))?;
            if failed.state != entity::JobState::Failed {
                return Err(ApiError::BadUserInput(
                    "only a failed job can be retried".to_owned(),
                ));
            }
            match query::job::enqueue(&db, NewJob::retry(&failed, time::now())).await? {
                Enqueued::Created(job) => Ok(Job(job)),
                Enqueued::Conflict => Err(ApiError::Conflict(
                    "the provider already has a pending or running job".to_owned(),
                )),
            }
        }
        .await;
        audited(ctx, "retryJob", &job_target(&id), result, created).await
    }

    /// Parses, validates and stores again the feed body job `id` kept, as a new job (trigger
    /// `REPLAY`, `replayOf` naming `id`) that a worker runs without contacting the provider:
    /// after a parser fix, say. `NOT_FOUND` when the job kept no body (it read no changed
    /// feed, or retention dropped it); `CONFLICT` when the provider has a job waiting or
    /// running.
    #[graphql(guard = "AdminGuard")]
    async fn replay_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job, ApiError> {
        let result = async {
            let db = db(ctx).await?;
            let Some(job) = query::feed_snapshot::replayable(&*db, job_id(&id)?).await? else {
                return Err(ApiError::NotFound(format!(
                    "job {} kept no feed body to replay",
                    id.as_str()
                )));
            };
            match query::job::enqueue(&db, NewJob::replay(&job, time::now())).await? {
                Enqueued::Created(job) => Ok(Job(job)),
                Enqueued::Conflict => Err(ApiError::Conflict(
                    "the provider already has a pending or running job".to_owned(),
                )),
            }
        }
        .await;
        audited(ctx, "replayJob", &job_target(&id), result, created).await
    }

    /// Retries, in one action, the failed jobs `filter` matches (its `state` is ignored):
    /// an error group's (`errorGroup`), an error kind's, a provider's, a time range's. Each
    /// provider gets one retry at most, of its newest failed job matched: its jobs all
    /// collect the same feed. The answer says how many matched, were queued and were skipped,
    /// and why.
    #[graphql(guard = "AdminGuard")]
    async fn retry_failed_jobs(
        &self,
        ctx: &Context<'_>,
        filter: JobFilter,
    ) -> Result<RetryReport, ApiError> {
        let target = describe_filter(&filter);
        let result = async {
            let db = db(ctx).await?;
            let filter = super::query::job_filter(&*db, Some(filter)).await?;
            let tally = query::job::retry_failed(&db, &filter, time::now()).await?;
            Ok(RetryReport::from(tally))
        }
        .await;
        audited(ctx, "retryFailedJobs", &target, result, |report| {
            Some(format!(
                "matched {}, queued {}, skipped {}",
                report.matched, report.queued, report.skipped
            ))
        })
        .await
    }

    /// Cancels a pending or running job. It fails at once with a `CANCELLED` outcome that
    /// names the token that cancelled it, and is not retried. A running job's worker stops
    /// collecting at its next heartbeat and writes nothing. `CONFLICT` if the job already
    /// ended.
    #[graphql(guard = "AdminGuard")]
    async fn cancel_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job, ApiError> {
        let by = token_name(ctx).map_or_else(|| "an admin".to_owned(), |name| format!("`{name}`"));
        let result = async {
            let db = db(ctx).await?;
            match query::job::cancel(&db, job_id(&id)?, &by, time::now()).await? {
                Cancelled::Now { job, was } => {
                    tracing::info!(job.id = %job.id, was = ?was, by = %by, "job cancelled");
                    Ok(Job(job))
                }
                Cancelled::AlreadyEnded(_) => Err(ApiError::Conflict(
                    "the job already ended; only a pending or running job can be cancelled"
                        .to_owned(),
                )),
                Cancelled::NotFound => {
                    Err(ApiError::NotFound(format!("no job has id {}", id.as_str())))
                }
            }
        }
        .await;
        audited(ctx, "cancelJob", &job_target(&id), result, |_| None).await
    }

    /// Turns scheduling of a provider on or off.
    #[graphql(guard = "AdminGuard")]
    async fn set_provider_enabled(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's name.")] provider: String,
        #[graphql(desc = "`true` schedules it again, `false` stops scheduling it.")] enabled: bool,
    ) -> Result<Provider, ApiError> {
        let result = async {
            query::provider::set_enabled(&*db(ctx).await?, &provider, enabled)
                .await?
                .map(Provider::from)
                .ok_or_else(|| ApiError::unknown_provider(&provider))
        }
        .await;
        let detail = if enabled { "enabled" } else { "disabled" };
        audited(
            ctx,
            "setProviderEnabled",
            &format!("provider {provider}"),
            result,
            |_| Some(detail.to_owned()),
        )
        .await
    }

    /// Creates a provider, or updates the settings given of an existing one.
    #[graphql(guard = "AdminGuard")]
    async fn upsert_provider(
        &self,
        ctx: &Context<'_>,
        input: ProviderInput,
    ) -> Result<Provider, ApiError> {
        let target = format!("provider {}", input.name);
        let result = upsert(ctx, input).await;
        audited(ctx, "upsertProvider", &target, result, |_| None).await
    }
}

/// `upsertProvider`'s work.
async fn upsert(ctx: &Context<'_>, input: ProviderInput) -> Result<Provider, ApiError> {
    let name = input.name.parse().map_err(invalid)?;
    let url: Option<FeedUrl> = input
        .url
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(invalid)?;
    if let Some(url) = &url {
        ctx.data_unchecked::<DestinationPolicy>()
            .check_url(url.as_url())
            .map_err(invalid)?;
    }
    let patch = ProviderPatch {
        kind: input.kind.map(Into::into),
        url,
        schedule: input
            .schedule
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(invalid)?,
        time_zone: input
            .time_zone
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(invalid)?,
        enabled: input.enabled,
        connect_timeout_ms: input.connect_timeout_ms,
        read_timeout_ms: input.read_timeout_ms,
        total_timeout_ms: input.total_timeout_ms,
        max_body_bytes: input.max_body_bytes,
        max_attempts: input.max_attempts,
        retry_base_delay_ms: input.retry_base_delay_ms,
        freshness_ms: input.freshness_ms,
        backoff_after: input.backoff_after,
        pause_after: input.pause_after,
    };
    let db = db(ctx).await?;
    let current = query::provider::find_by_name(&*db, &input.name).await?;
    let changes = patch.resolve(current.as_ref()).map_err(invalid)?;
    match query::provider::upsert(&*db, &name, changes).await {
        Ok(upserted) => Ok(Provider::from(upserted.model().clone())),
        Err(query::provider::UpsertError::MissingUrl(name)) => Err(ApiError::BadUserInput(
            format!("provider `{name}` does not exist yet: a url is required to create it"),
        )),
        Err(query::provider::UpsertError::Database(err)) => Err(err.into()),
    }
}

/// What an action on job `id` names in the audit log: its number, as the logs and the page
/// show it (the id as given when it is not one).
fn job_target(id: &ID) -> String {
    job_id(id).map_or_else(|_| format!("job {}", id.as_str()), |n| format!("job {n}"))
}

/// The job an action created, for the audit log.
/// A bulk action's target as the audit log shows it: the filter's fields that are set.
fn describe_filter(filter: &JobFilter) -> String {
    let mut parts = Vec::new();
    if let Some(provider) = &filter.provider {
        parts.push(format!("provider {provider}"));
    }
    if let Some(kind) = filter.error_kind {
        parts.push(format!(
            "errorKind {}",
            entity::ErrorKind::from(kind).as_str()
        ));
    }
    if let Some(group) = &filter.error_group {
        parts.push(format!("errorGroup {}", group.as_str()));
    }
    if let Some(trigger) = filter.trigger {
        parts.push(format!("trigger {trigger:?}"));
    }
    if let Some(from) = filter.from {
        parts.push(format!("from {}", from.0.to_rfc3339()));
    }
    if let Some(to) = filter.to {
        parts.push(format!("to {}", to.0.to_rfc3339()));
    }
    if parts.is_empty() {
        "every failed job".to_owned()
    } else {
        format!("failed jobs of {}", parts.join(", "))
    }
}

fn created(job: &Job) -> Option<String> {
    Some(format!("created job {}", job.0.id))
}

/// Records how an admin action ended (`ok`, or the error code and message the client got)
/// in the audit log, and hands its result back. A failed write is logged, not returned: the
/// action itself has happened.
async fn audited<T>(
    ctx: &Context<'_>,
    action: &str,
    target: &str,
    result: Result<T, ApiError>,
    detail: impl FnOnce(&T) -> Option<String>,
) -> Result<T, ApiError> {
    let actor = token_name(ctx).map_or_else(|| "unknown".to_owned(), |name| name.to_string());
    let (outcome, detail) = match &result {
        Ok(value) => ("ok", detail(value)),
        Err(err) => (err.code(), Some(err.to_string())),
    };
    let entry = query::audit_log::Action {
        at: time::now(),
        actor: &actor,
        action,
        target,
        result: outcome,
        detail: detail.as_deref(),
    };
    let written = match db(ctx).await {
        Ok(db) => query::audit_log::record(&*db, &entry)
            .await
            .map_err(|err| err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    if let Err(error) = written {
        tracing::error!(%error, action, target, actor, "the audit log could not record an action");
    }
    result
}
