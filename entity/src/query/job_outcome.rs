//! Queries over `job_outcome`.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::{
    JobId, JobState, job,
    job_outcome::{ActiveModel, Entity, Model},
};

/// Creates the outcome of a new job, in the job's transaction: status pending, no counts.
pub async fn insert_pending(db: &impl ConnectionTrait, job: &job::Model) -> Result<Model, DbErr> {
    ActiveModel {
        job_id: Set(job.id),
        provider_id: Set(job.provider_id),
        status: Set(JobState::Pending),
        created_at: Set(job.created_at),
        processed_at: Set(None),
        finished_at: Set(None),
        duration_ms: Set(None),
        error_kind: Set(None),
        error_message: Set(None),
        http_status: Set(None),
        bytes: Set(None),
        retry_after: Set(None),
        feed_unchanged: Set(false),
        seen: Set(0),
        inserted: Set(0),
        updated: Set(0),
        unchanged: Set(0),
        rejected: Set(0),
        rejections: Set(None),
    }
    .insert(db)
    .await
}

/// The outcome of job `job_id`.
pub async fn find(db: &impl ConnectionTrait, job_id: JobId) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(job_id).one(db).await
}
