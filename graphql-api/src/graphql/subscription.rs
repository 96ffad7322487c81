//! The subscription root: each job state change as it happens, over the WebSocket, and what a
//! reconnecting client missed.
//!
//! Updates come from the process's change feed ([`ChangeFeed`]), which reads the job change
//! log once for every subscriber. A subscriber that passes `after` first reads the log past
//! that change (at most [`job_transition::RESUMABLE`] back), then follows the feed; it was
//! subscribed to the feed before reading, and skips the changes it already delivered, so
//! nothing falls between the two. A subscriber too slow for the feed's buffer reads what it
//! missed from the log the same way.

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use async_graphql::{Context, Object, Subscription};
use entity::{
    query::job_transition::{self, Transition},
    time,
};
use futures::Stream;
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::error::RecvError;

use super::{
    Job,
    cursors::{parse_update_cursor, update_cursor},
    job::JobState,
    provider_named,
    scalars::Instant,
};
use crate::{access::ViewerGuard, changes::ChangeFeed, database::Database, error::ApiError};

/// Live updates.
pub struct SubscriptionRoot;

/// Live updates, over the WebSocket at `/graphql/ws`.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Each state change of each job (`PENDING` when created, `RUNNING`, then `COMPLETED` or
    /// `FAILED`), in the order it happened, for one provider or all of them. To resume after
    /// a reconnect, pass the `cursor` of the last update received as `after`: the changes
    /// since then arrive first (`EXPIRED` if it is older than 10 minutes: reload the jobs and
    /// subscribe without it). Needs a viewer token (sent in `connection_init`).
    #[graphql(guard = "ViewerGuard")]
    async fn job_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this provider's jobs.")] provider: Option<String>,
        #[graphql(desc = "The `cursor` of the last update received: start after it.")]
        after: Option<String>,
    ) -> Result<impl Stream<Item = async_graphql::Result<JobUpdate>> + use<>, ApiError> {
        let db = ctx.data_unchecked::<Arc<Database>>().available()?.clone();
        let provider = match provider {
            Some(name) => Some(provider_named(&db, &name).await?.id),
            None => None,
        };
        let feed = ctx.data_unchecked::<ChangeFeed>();
        // Subscribed before anything is read, so no change falls between the log and the feed.
        let mut live = feed.jobs();
        let mut catch_up = after.is_some();
        // Where a catch-up starts until this subscription has delivered something.
        let start = match after {
            Some(cursor) => resumable(&db, parse_update_cursor(&cursor)?).await?,
            None => feed.high(),
        };
        Ok(async_stream::stream! {
            let mut delivered = Delivered::default();
            loop {
                if catch_up {
                    catch_up = false;
                    // Page by page through what the log kept, from just before the oldest
                    // change this subscription remembers delivering.
                    let mut from = delivered.oldest().map_or(start, |oldest| oldest - 1);
                    let since = time::now() - job_transition::RESUMABLE;
                    loop {
                        let page = match job_transition::replay(&db, from, since, provider, PAGE).await {
                            Ok(page) => page,
                            Err(err) => {
                                yield Err(ApiError::from(err).into());
                                return;
                            }
                        };
                        let full = page.len() as u64 == PAGE;
                        for change in page {
                            from = change.change.seq;
                            if delivered.insert(from) {
                                yield Ok(JobUpdate(Arc::new(change)));
                            }
                        }
                        if !full {
                            break;
                        }
                    }
                }
                match live.recv().await {
                    Ok(change) => {
                        if provider.is_none_or(|p| p == change.change.provider_id)
                            && delivered.insert(change.change.seq)
                        {
                            yield Ok(JobUpdate(change));
                        }
                    }
                    Err(RecvError::Lagged(_)) => catch_up = true,
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}

/// Changes read from the log per query when catching up.
const PAGE: u64 = 1_000;

/// `seq` if a subscriber may resume after it: the change is still in the log and recent.
async fn resumable(db: &DatabaseConnection, seq: i64) -> Result<i64, ApiError> {
    let oldest = time::now() - job_transition::RESUMABLE;
    match job_transition::find(db, seq).await? {
        Some(change) if change.at >= oldest => Ok(seq),
        _ => Err(ApiError::Expired(
            "this update is older than 10 minutes, and what followed it is not kept: \
             reload the jobs and subscribe without `after`"
                .to_owned(),
        )),
    }
}

/// The change numbers a subscription delivered lately, so none is delivered twice when the
/// log and the feed overlap. Bounded: a number older than the newest [`Delivered::KEPT`]
/// cannot come again, as the feed delivers each change once and a catch-up starts from the
/// oldest number kept.
#[derive(Default)]
struct Delivered {
    order: VecDeque<i64>,
    set: HashSet<i64>,
}

impl Delivered {
    const KEPT: usize = 8_192;

    /// Records `seq`; `false` if it was delivered already.
    fn insert(&mut self, seq: i64) -> bool {
        if !self.set.insert(seq) {
            return false;
        }
        self.order.push_back(seq);
        if self.order.len() > Self::KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    /// The lowest number kept.
    fn oldest(&self) -> Option<i64> {
        self.set.iter().min().copied()
    }
}

/// A job's state change, as `jobUpdates` delivers it.
pub(crate) struct JobUpdate(Arc<Transition>);

/// A job's state change.
#[Object]
impl JobUpdate {
    /// Pass it as `jobUpdates(after:)` after a reconnect to receive what followed this
    /// update.
    async fn cursor(&self) -> String {
        update_cursor(self.0.change.seq)
    }

    /// The state this change produced.
    async fn state(&self) -> JobState {
        self.0.change.state.into()
    }

    /// When the job entered that state.
    async fn at(&self) -> Instant {
        self.0.change.at.into()
    }

    /// The job, as read when the change was announced: by then it may have changed again
    /// (its `state` may be later than this update's).
    async fn job(&self) -> Job {
        Job(self.0.job.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_numbers_are_remembered_once_and_boundedly() {
        let mut delivered = Delivered::default();
        assert!(delivered.insert(7));
        assert!(!delivered.insert(7), "a second delivery is refused");
        assert!(delivered.insert(3), "a late, lower number is new");
        assert_eq!(delivered.oldest(), Some(3));
        for seq in 100..100 + Delivered::KEPT as i64 {
            delivered.insert(seq);
        }
        assert_eq!(delivered.set.len(), Delivered::KEPT);
        assert_eq!(delivered.order.len(), Delivered::KEPT);
        assert_eq!(delivered.oldest(), Some(100), "the first ones were let go");
    }
}
