//! `ingestor collect NAME`: one collection now, in the foreground, through the job path every
//! scheduled job takes (a manual job is created, claimed, run and recorded with its outcome);
//! and `ingestor replay JOB_ID`: the same for a replay job, which parses, validates and stores
//! the feed body an earlier job kept, without contacting the provider. Neither creates a
//! retry when it fails: the operator sees the outcome and decides.

use entity::{
    JobState, query,
    query::job::{Claim, Enqueued, NewJob},
    time,
};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::{
    IngestorError,
    collector::{CollectSettings, Fetcher},
    jobs::{JobRunner, OutcomeReport, RunnerSettings},
};

/// Creates a manual job for `name`, runs it under `settings` (where it may fetch from, what a
/// record may carry), and returns its recorded outcome. `stop` (Ctrl-C) interrupts it; the job
/// is then recorded as failed with kind `interrupted`.
pub async fn collect_now(
    db: &DatabaseConnection,
    name: &str,
    settings: CollectSettings,
    stop: &CancellationToken,
) -> Result<OutcomeReport, IngestorError> {
    let provider = query::provider::find_by_name(db, name)
        .await?
        .ok_or_else(|| IngestorError::UnknownProvider(name.to_owned()))?;
    let job = NewJob::manual(provider.id, time::now());
    run_now(db, &provider, job, settings, stop).await
}

/// Creates a replay of job `job_id`, runs it, and returns its recorded outcome (whose job names
/// the replayed one in `replay_of`). The provider is not contacted.
pub async fn replay_now(
    db: &DatabaseConnection,
    job_id: i64,
    settings: CollectSettings,
    stop: &CancellationToken,
) -> Result<OutcomeReport, IngestorError> {
    let replayed = query::feed_snapshot::replayable(db, entity::JobId(job_id))
        .await?
        .ok_or(IngestorError::NothingToReplay(job_id))?;
    let provider = query::provider::find_by_id(db, replayed.provider_id)
        .await?
        .ok_or(IngestorError::NothingToReplay(job_id))?;
    let job = NewJob::replay(&replayed, time::now());
    run_now(db, &provider, job, settings, stop).await
}

/// Creates `new`, claims it at once, runs it in this process and reads back its outcome.
async fn run_now(
    db: &DatabaseConnection,
    provider: &entity::provider::Model,
    new: NewJob,
    settings: CollectSettings,
    stop: &CancellationToken,
) -> Result<OutcomeReport, IngestorError> {
    let now = new.run_at;
    let job = match query::job::enqueue(db, new).await? {
        Enqueued::Created(job) => job,
        Enqueued::Conflict => return Err(busy(db, provider).await),
    };
    let runner = JobRunner::new(
        db.clone(),
        Fetcher::new(settings.destinations),
        RunnerSettings {
            retries: false,
            collect: settings,
            ..RunnerSettings::default()
        },
    );
    let worker_id = format!("collect-{}", std::process::id());
    let claim = Claim {
        worker_id: &worker_id,
        now,
        lease_until: runner.lease_until(now),
    };
    let claimed = query::job::claim_by_id(db, job.id, &claim)
        .await?
        .ok_or_else(|| IngestorError::Busy {
            provider: provider.name.clone(),
            job_id: job.id.0,
            state: "running",
        })?;
    let report = runner.run(claimed, stop).await?;
    let outcome = query::job_outcome::find(db, report.job.id)
        .await?
        .ok_or_else(|| {
            sea_orm::DbErr::RecordNotFound(format!("outcome of job {}", report.job.id))
        })?;
    Ok(OutcomeReport::new(
        &report.job,
        &provider.name,
        outcome,
        report.retry.as_ref(),
    ))
}

async fn busy(db: &DatabaseConnection, provider: &entity::provider::Model) -> IngestorError {
    match query::job::find_active(db, provider.id).await {
        Ok(Some(active)) => IngestorError::Busy {
            provider: provider.name.clone(),
            job_id: active.id.0,
            state: if active.state == JobState::Running {
                "running"
            } else {
                "pending"
            },
        },
        Ok(None) => IngestorError::Busy {
            provider: provider.name.clone(),
            job_id: 0,
            state: "just finished",
        },
        Err(err) => err.into(),
    }
}
