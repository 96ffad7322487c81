//! The subscription root: job changes as they happen, over the WebSocket.

use std::sync::Arc;

use async_graphql::{Context, Subscription};
use entity::query;
use futures::{Stream, StreamExt};

use super::Job;
use crate::{
    access::ViewerGuard,
    changes::{Change, ChangeFeed},
    database::Database,
    error::ApiError,
};

/// Live updates.
pub struct SubscriptionRoot;

/// Live updates, over the WebSocket at `/graphql/ws`.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// A job each time its state changes (created, running, completed, failed), as read just
    /// after the change, for one provider or all of them. Changes close together may arrive
    /// as the latest one only (a quick job can go from `PENDING` to `COMPLETED` with no
    /// `RUNNING` update; on SQLite changes are polled). Needs a viewer token (sent in
    /// `connection_init`).
    #[graphql(guard = "ViewerGuard")]
    async fn job_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this provider's jobs.")] provider: Option<String>,
    ) -> Result<impl Stream<Item = Job> + use<>, ApiError> {
        let db = ctx.data_unchecked::<Arc<Database>>().available()?.clone();
        let provider_id = match provider {
            Some(name) => Some(
                query::provider::find_by_name(&db, &name)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no provider is called `{name}`")))?
                    .id,
            ),
            None => None,
        };
        let changes = ctx.data_unchecked::<ChangeFeed>().subscribe();
        let stream = tokio_stream_from(changes).filter_map(move |change| {
            let db = db.clone();
            async move {
                let Change::Job(id) = change else { return None };
                let job = query::job::find(&db, id).await.ok().flatten()?;
                provider_id
                    .is_none_or(|p| p == job.provider_id)
                    .then_some(Job(job))
            }
        });
        Ok(stream)
    }
}

/// The changes a broadcast receiver delivers, as a stream (lagging skips what was missed).
fn tokio_stream_from(
    receiver: tokio::sync::broadcast::Receiver<Change>,
) -> impl Stream<Item = Change> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(change) => return Some((change, receiver)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
