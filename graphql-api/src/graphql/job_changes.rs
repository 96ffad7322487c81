//! `Job.changes`: what a completed job did to its provider's events, kind by kind.

use std::sync::Arc;

use async_graphql::{Context, Object, dataloader::DataLoader};
use entity::{EventId, ProviderId, job_outcome, query::job_change::ChangedIds};

use super::{Event, loaders::DbLoader};
use crate::error::ApiError;

/// What a job's feed did to its provider's events.
pub(crate) struct JobChanges {
    pub provider: ProviderId,
    pub outcome: job_outcome::Model,
    pub ids: ChangedIds,
}

impl JobChanges {
    fn kind(&self, count: i32, ids: &[EventId]) -> ChangedEvents {
        ChangedEvents {
            provider: self.provider,
            count,
            ids: ids.to_vec(),
        }
    }
}

/// What a job's feed did to its provider's events: new ones, changed ones, those carried
/// again as they were, and those the previous feed listed that this one does not (they are
/// kept, as every event is). Each kind is counted whole and named up to a cap.
#[Object]
impl JobChanges {
    /// Events stored for the first time.
    async fn inserted(&self) -> ChangedEvents {
        self.kind(self.outcome.inserted, &self.ids.inserted)
    }

    /// Known events the feed carried with other content.
    async fn updated(&self) -> ChangedEvents {
        self.kind(self.outcome.updated, &self.ids.updated)
    }

    /// Known events the feed carried as they were.
    async fn unchanged(&self) -> ChangedEvents {
        self.kind(self.outcome.unchanged, &self.ids.unchanged)
    }

    /// Events the provider's previous feed listed and this one does not: no longer on sale
    /// there. An empty feed stops nothing (it looks like an outage), and a rejected record
    /// still lists its event.
    async fn stopped(&self) -> ChangedEvents {
        self.kind(self.outcome.stopped, &self.ids.stopped)
    }
}

/// One kind of change.
pub(crate) struct ChangedEvents {
    provider: ProviderId,
    count: i32,
    ids: Vec<EventId>,
}

/// One kind of change: how many events, and the first of them.
#[Object]
impl ChangedEvents {
    /// How many events.
    async fn count(&self) -> i32 {
        self.count
    }

    /// Whether `events` names only the first of them (at most 20: in feed order; stopped
    /// ones by id).
    async fn truncated(&self) -> bool {
        usize::try_from(self.count).is_ok_and(|count| count > self.ids.len())
    }

    /// The first of them, as they are stored now. Read for every job of the answer at once.
    async fn events(&self, ctx: &Context<'_>) -> Result<Vec<Event>, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<DbLoader>>();
        let provider: Arc<str> = loader
            .load_one(self.provider)
            .await?
            .map_or_else(|| Arc::from(""), |p| Arc::from(p.name));
        let found = loader.load_many(self.ids.iter().copied()).await?;
        Ok(self
            .ids
            .iter()
            .filter_map(|id| found.get(id))
            .map(|event| Event::new(Arc::clone(event), Arc::clone(&provider)))
            .collect())
    }
}
