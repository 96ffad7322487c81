//! Provider health summaries: kept as jobs finish, read by the monitoring views.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::OnConflict,
};

use crate::{ErrorKind, JobId, JobState, ProviderId, provider_health::*};

/// Finished jobs a summary keeps per provider.
pub const WINDOW: usize = 100;

/// One finished job, as a summary keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Whether it completed (else it failed).
    pub completed: bool,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<i64>,
}

impl Model {
    /// Its last finished jobs, newest first (entries it cannot read are skipped).
    pub fn recent(&self) -> Vec<Finished> {
        self.recent
            .split(',')
            .filter_map(|entry| {
                let completed = match entry.as_bytes().first()? {
                    b'c' => true,
                    b'f' => false,
                    _ => return None,
                };
                Some(Finished {
                    completed,
                    duration_ms: entry[1..].parse().ok(),
                })
            })
            .collect()
    }
}

/// `recent` with `finished` in front, keeping the newest [`WINDOW`] entries.
fn prepend(recent: &str, finished: Finished) -> String {
    let mut out = String::with_capacity(recent.len() + 8);
    out.push(if finished.completed { 'c' } else { 'f' });
    if let Some(ms) = finished.duration_ms {
        out.push_str(&ms.to_string());
    }
    for entry in recent.split(',').filter(|e| !e.is_empty()).take(WINDOW - 1) {
        out.push(',');
        out.push_str(entry);
    }
    out
}

/// A finished job, as its provider's summary takes it in.
#[derive(Debug, Clone, Copy)]
pub struct JobEnd<'a> {
    /// The job.
    pub job: JobId,
    /// `Completed` or `Failed`.
    pub state: JobState,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// What it saw of a changed feed (none for an unchanged feed or a failure).
    pub feed: Option<FeedSeen>,
    /// Why it failed, and what failed in words.
    pub error: Option<(ErrorKind, &'a str)>,
}

/// Counts a finished job of `provider` in its summary: to be called in the transaction that
/// records the job's outcome, so the summary and the outcomes never disagree. The summary row
/// is locked for the rest of that transaction (one provider's jobs rarely finish at once).
pub async fn record(
    db: &impl ConnectionTrait,
    provider: ProviderId,
    end: &JobEnd<'_>,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        provider_id: Set(provider),
        recent: Set(String::new()),
        last_success_at: Set(None),
        last_feed_empty: Set(false),
        last_finished_job_id: Set(None),
        last_finished_at: Set(None),
        last_error_job_id: Set(None),
        last_error_at: Set(None),
        last_error_kind: Set(None),
        last_error_message: Set(None),
    })
    .on_conflict(
        OnConflict::column(Column::ProviderId)
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(db)
    .await?;
    let Some(current) = Entity::find_by_id(provider)
        .lock_exclusive()
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let completed = end.state == JobState::Completed;
    let recent = prepend(
        &current.recent,
        Finished {
            completed,
            duration_ms: end.duration_ms,
        },
    );
    let finished_at = crate::time::truncate(end.finished_at);
    let mut update = ActiveModel {
        provider_id: Set(provider),
        recent: Set(recent),
        last_finished_job_id: Set(Some(end.job)),
        last_finished_at: Set(Some(finished_at)),
        ..Default::default()
    };
    if completed {
        update.last_success_at = Set(Some(finished_at));
        if let Some(FeedSeen { empty }) = end.feed {
            update.last_feed_empty = Set(empty);
        }
    }
    if let Some((kind, message)) = end.error {
        update.last_error_job_id = Set(Some(end.job));
        update.last_error_at = Set(Some(finished_at));
        update.last_error_kind = Set(Some(kind));
        update.last_error_message = Set(Some(message.to_owned()));
    }
    Entity::update(update).exec(db).await.map(|_| ())
}

/// What a completed job saw of a changed feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedSeen {
    /// It listed no events.
    pub empty: bool,
}

/// The summaries of these providers (a provider without finished jobs may have none).
pub async fn find_many(
    db: &impl ConnectionTrait,
    providers: impl IntoIterator<Item = ProviderId>,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::ProviderId.is_in(providers))
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_newest_entries_first() {
        let mut recent = String::new();
        for ms in 0..150 {
            recent = prepend(
                &recent,
                Finished {
                    completed: ms % 3 != 0,
                    duration_ms: Some(ms),
                },
            );
        }
        let model = Model {
            provider_id: ProviderId(1),
            recent,
            last_success_at: None,
            last_feed_empty: false,
            last_finished_job_id: None,
            last_finished_at: None,
            last_error_job_id: None,
            last_error_at: None,
            last_error_kind: None,
            last_error_message: None,
        };
        let read = model.recent();
        assert_eq!(read.len(), WINDOW);
        assert_eq!(read[0].duration_ms, Some(149));
        assert_eq!(read[WINDOW - 1].duration_ms, Some(50));
        assert!(
            read[1].completed && !read[2].completed,
            "148 completed, 147 failed"
        );
        assert_eq!(
            prepend(
                "",
                Finished {
                    completed: false,
                    duration_ms: None
                }
            ),
            "f"
        );
    }
}
