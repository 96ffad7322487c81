//! Provider health summaries: kept as jobs finish, read by the monitoring views.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait as _, OnConflict},
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
    /// The collection it belongs to: its `scheduled_for`, which its retries share; none for
    /// a replay (which asked the provider nothing, so neither counts towards its backoff nor
    /// ends it).
    pub collection: Option<DateTime<Utc>>,
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

/// Where a provider stands after one of its jobs ended: what its retries and its scheduler
/// must respect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// Until when its ticks are skipped; set while it backs off.
    pub backing_off_until: Option<DateTime<Utc>>,
    /// It was paused for failing too often (now, or before).
    pub paused: bool,
}

impl Standing {
    /// A failed job of this provider gets no retry: it backs off, or is paused.
    pub fn holds_retries(&self) -> bool {
        self.backing_off_until.is_some() || self.paused
    }
}

/// Who the audit log names for what the ingestor does on its own (an automatic pause).
pub const AUTOMATIC_ACTOR: &str = "ingestor";

/// Counts a finished job of `provider` in its summary: to be called in the transaction that
/// records the job's outcome, so the summary and the outcomes never disagree. The summary row
/// is locked for the rest of that transaction (one provider's jobs rarely finish at once).
///
/// A completed job ends any backoff. A failure that is the provider's doing
/// ([`ErrorKind::blames_provider`]) counts its collection once (a tick's retries share it);
/// from the provider's `backoff_after` on, its schedule is stretched
/// ([`crate::settings::backoff_until`]), and at its `pause_after` it is paused, with the reason
/// in its summary and in the audit log.
pub async fn record(
    db: &impl ConnectionTrait,
    provider: ProviderId,
    end: &JobEnd<'_>,
) -> Result<Standing, DbErr> {
    Entity::insert(ActiveModel {
        provider_id: Set(provider),
        recent: Set(String::new()),
        last_feed_empty: Set(false),
        failed_collections: Set(0),
        skipped_ticks: Set(0),
        ..ActiveModel::default()
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
        return Ok(Standing::default());
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
    let mut standing = Standing {
        backing_off_until: current.backing_off_until,
        paused: current.paused_at.is_some(),
    };
    if completed && let Some(FeedSeen { empty }) = end.feed {
        update.last_feed_empty = Set(empty);
    }
    // A replay read a stored body: it says nothing of the provider now.
    if completed && end.collection.is_some() {
        update.last_success_at = Set(Some(finished_at));
        update.failed_collections = Set(0);
        update.last_failed_collection = Set(None);
        update.backing_off_until = Set(None);
        update.skipped_ticks = Set(0);
        standing.backing_off_until = None;
    }
    if let Some((kind, message)) = end.error {
        update.last_error_job_id = Set(Some(end.job));
        update.last_error_at = Set(Some(finished_at));
        update.last_error_kind = Set(Some(kind));
        update.last_error_message = Set(Some(message.to_owned()));
        if let Some(collection) = end.collection.map(crate::time::truncate)
            && kind.blames_provider()
            && current.last_failed_collection != Some(collection)
        {
            let failed = current.failed_collections.saturating_add(1);
            update.failed_collections = Set(failed);
            update.last_failed_collection = Set(Some(collection));
            if let Some(row) = super::provider::find_by_id(db, provider).await? {
                standing.backing_off_until =
                    crate::settings::backoff_until(&row, failed, collection)
                        .map(crate::time::truncate);
                update.backing_off_until = Set(standing.backing_off_until);
                let due = row.pause_after > 0 && failed >= row.pause_after;
                if due && !standing.paused && super::provider::pause(db, provider).await? {
                    let reason = format!(
                        "paused after {failed} consecutive failed collections; the last failed with {}: {message}",
                        kind.as_str(),
                    );
                    super::audit_log::record(
                        db,
                        &super::audit_log::Action {
                            at: finished_at,
                            actor: AUTOMATIC_ACTOR,
                            action: "pauseProvider",
                            target: &format!("provider {}", row.name),
                            result: "ok",
                            detail: Some(&reason),
                        },
                    )
                    .await?;
                    update.paused_at = Set(Some(finished_at));
                    update.pause_reason = Set(Some(reason));
                    standing.paused = true;
                }
            }
        }
    }
    Entity::update(update).exec(db).await?;
    Ok(standing)
}

/// Starts `provider` afresh (it was enabled again): no failures counted, no backoff, no pause.
pub async fn resume(db: &impl ConnectionTrait, provider: ProviderId) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::FailedCollections, Expr::value(0))
        .col_expr(
            Column::LastFailedCollection,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            Column::BackingOffUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::SkippedTicks, Expr::value(0_i64))
        .col_expr(Column::PausedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(Column::PauseReason, Expr::value(Option::<String>::None))
        .filter(Column::ProviderId.eq(provider))
        .exec(db)
        .await
        .map(|_| ())
}

/// The providers backing off, with the end of each one's backoff (a few rows: only those).
pub async fn backoffs(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<ProviderId, DateTime<Utc>>, DbErr> {
    let rows: Vec<(ProviderId, DateTime<Utc>)> = Entity::find()
        .select_only()
        .column(Column::ProviderId)
        .column(Column::BackingOffUntil)
        .filter(Column::BackingOffUntil.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Counts `tick` as skipped by `provider`'s backoff, once however many schedulers skip it:
/// only a tick later than the last one counted is.
pub async fn skip_tick(
    db: &impl ConnectionTrait,
    provider: ProviderId,
    tick: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tick = crate::time::truncate(tick);
    Entity::update_many()
        .col_expr(
            Column::SkippedTicks,
            Expr::col(Column::SkippedTicks).add(1_i64),
        )
        .col_expr(Column::LastSkippedTick, Expr::value(tick))
        .filter(Column::ProviderId.eq(provider))
        .filter(
            Column::LastSkippedTick
                .is_null()
                .or(Column::LastSkippedTick.lt(tick)),
        )
        .exec(db)
        .await
        .map(|_| ())
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
            failed_collections: 0,
            last_failed_collection: None,
            backing_off_until: None,
            skipped_ticks: 0,
            last_skipped_tick: None,
            paused_at: None,
            pause_reason: None,
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
