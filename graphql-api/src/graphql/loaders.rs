//! Batched loading for fields fetched per row (a page of jobs with their outcomes and
//! providers costs one query per kind, not one per row). One loader type serves every key
//! type; it caches nothing, so an answer is never stale.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use entity::{
    EventId, JobId, ProviderId, job, job_outcome, provider, provider_health, query,
    record::ZoneRecord,
};
use sea_orm::DbErr;

use super::event::MAX_ZONES;
use crate::database::Database;

/// Batches loading at once, over all requests: loads run outside any one request's
/// connection share, so they have their own.
const CONCURRENT_LOADS: usize = 4;

/// Loads rows by id from the database.
pub struct DbLoader {
    database: Arc<Database>,
    loads: tokio::sync::Semaphore,
}

impl DbLoader {
    /// A loader over `database`.
    pub fn new(database: Arc<Database>) -> Self {
        Self {
            database,
            loads: tokio::sync::Semaphore::new(CONCURRENT_LOADS),
        }
    }

    /// A turn to load: at most [`CONCURRENT_LOADS`] batches hold connections at once.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, LoadError> {
        self.loads
            .acquire()
            .await
            .map_err(|_| LoadError(Arc::new(DbErr::Custom("the loader is closed".to_owned()))))
    }
}

/// A failed batch, shared by every field that waited on it.
#[derive(Debug, Clone)]
pub struct LoadError(pub Arc<DbErr>);

impl From<DbErr> for LoadError {
    fn from(err: DbErr) -> Self {
        Self(Arc::new(err))
    }
}

impl From<LoadError> for crate::error::ApiError {
    fn from(err: LoadError) -> Self {
        match Arc::try_unwrap(err.0) {
            Ok(err) => err.into(),
            Err(shared) if crate::error::is_unreachable(&shared) => Self::Unavailable,
            Err(shared) => Self::internal(&*shared),
        }
    }
}

impl DbLoader {
    /// The pool, or the error every waiting field gets while the database is known down.
    fn db(&self) -> Result<&sea_orm::DatabaseConnection, LoadError> {
        self.database.available().map_err(|_| {
            LoadError(Arc::new(DbErr::Conn(sea_orm::RuntimeErr::Internal(
                "the database is down".to_owned(),
            ))))
        })
    }
}

/// The outcome of a job (keyed apart from the job itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutcomeOf(pub JobId);

/// The feed body a job kept (its sizes, never the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeedBodyOf(pub JobId);

/// The events a job changed (the first ids of each kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangesOf(pub JobId);

/// The zones of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZonesOf(pub EventId);

/// What a provider's health is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HealthOf(pub ProviderId);

/// The rows a provider's health is computed from.
#[derive(Debug, Clone, Default)]
pub struct HealthData {
    /// Its newest job.
    pub latest: Option<job::Model>,
    /// Its health summary (none before its first job finishes).
    pub summary: Option<provider_health::Model>,
}

impl Loader<ProviderId> for DbLoader {
    type Value = provider::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProviderId],
    ) -> Result<HashMap<ProviderId, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let rows = query::provider::find_by_ids(self.db()?, keys.iter().copied()).await?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

impl Loader<JobId> for DbLoader {
    type Value = job::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[JobId]) -> Result<HashMap<JobId, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let rows = query::job::find_many(self.db()?, keys.iter().copied()).await?;
        Ok(rows.into_iter().map(|j| (j.id, j)).collect())
    }
}

impl Loader<OutcomeOf> for DbLoader {
    type Value = job_outcome::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OutcomeOf],
    ) -> Result<HashMap<OutcomeOf, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let rows = query::job_outcome::find_many(self.db()?, keys.iter().map(|k| k.0)).await?;
        Ok(rows.into_iter().map(|o| (OutcomeOf(o.job_id), o)).collect())
    }
}

impl Loader<FeedBodyOf> for DbLoader {
    type Value = query::feed_snapshot::SnapshotInfo;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[FeedBodyOf],
    ) -> Result<HashMap<FeedBodyOf, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let rows = query::feed_snapshot::info_many(self.db()?, keys.iter().map(|k| k.0)).await?;
        Ok(rows
            .into_iter()
            .map(|i| (FeedBodyOf(i.job_id), i))
            .collect())
    }
}

impl Loader<ChangesOf> for DbLoader {
    type Value = query::job_change::ChangedIds;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ChangesOf],
    ) -> Result<HashMap<ChangesOf, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let rows = query::job_change::find_many(self.db()?, keys.iter().map(|k| k.0)).await?;
        Ok(rows
            .into_iter()
            .map(|(job, ids)| (ChangesOf(job), ids))
            .collect())
    }
}

impl Loader<EventId> for DbLoader {
    type Value = Arc<query::event::EventSummary>;
    type Error = LoadError;

    async fn load(&self, keys: &[EventId]) -> Result<HashMap<EventId, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let rows = query::event::find_summaries(self.db()?, keys.iter().copied()).await?;
        Ok(rows.into_iter().map(|e| (e.id, Arc::new(e))).collect())
    }
}

impl Loader<ZonesOf> for DbLoader {
    type Value = Vec<ZoneRecord>;
    type Error = LoadError;

    async fn load(&self, keys: &[ZonesOf]) -> Result<HashMap<ZonesOf, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let rows = query::event::zones_of(self.db()?, keys.iter().map(|k| k.0)).await?;
        Ok(rows
            .into_iter()
            .map(|(id, json)| {
                let zones = first_zones(&json).unwrap_or_else(|err| {
                    tracing::error!(event.id = %id, error = %err, "stored zones are not valid JSON");
                    Vec::new()
                });
                (ZonesOf(id), zones)
            })
            .collect())
    }
}

/// The first [`MAX_ZONES`] zones of an event's stored zones: the rest are read past, never
/// kept (an event stored before ingestion capped zones may carry 100,000).
fn first_zones(json: &str) -> Result<Vec<ZoneRecord>, serde_json::Error> {
    struct FirstZones(Vec<ZoneRecord>);

    impl<'de> serde::Deserialize<'de> for FirstZones {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(FirstZonesVisitor)
        }
    }

    struct FirstZonesVisitor;

    impl<'de> serde::de::Visitor<'de> for FirstZonesVisitor {
        type Value = FirstZones;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of zones")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<FirstZones, A::Error> {
            let mut zones = Vec::new();
            while zones.len() < MAX_ZONES {
                match seq.next_element::<ZoneRecord>()? {
                    Some(zone) => zones.push(zone),
                    None => return Ok(FirstZones(zones)),
                }
            }
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(FirstZones(zones))
        }
    }

    serde_json::from_str::<FirstZones>(json).map(|z| z.0)
}

impl Loader<HealthOf> for DbLoader {
    type Value = HealthData;
    type Error = LoadError;

    async fn load(&self, keys: &[HealthOf]) -> Result<HashMap<HealthOf, Self::Value>, Self::Error> {
        let _turn = self.turn().await?;
        let ids: Vec<ProviderId> = keys.iter().map(|k| k.0).collect();
        let latest = query::job::latest_of(self.db()?, ids.iter().copied()).await?;
        let summaries = query::provider_health::find_many(self.db()?, ids.iter().copied()).await?;
        let mut data: HashMap<HealthOf, HealthData> = ids
            .iter()
            .map(|id| (HealthOf(*id), HealthData::default()))
            .collect();
        for job in latest {
            if let Some(d) = data.get_mut(&HealthOf(job.provider_id)) {
                d.latest = Some(job);
            }
        }
        for summary in summaries {
            if let Some(d) = data.get_mut(&HealthOf(summary.provider_id)) {
                d.summary = Some(summary);
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_zones_are_kept() {
        let zone = r#"{"zone_id":"1","name":"A","capacity":1,"price_cents":100,"numbered":false}"#;
        let many = format!("[{}]", vec![zone; MAX_ZONES + 5].join(","));
        assert_eq!(first_zones(&many).unwrap().len(), MAX_ZONES);
        assert_eq!(first_zones(&format!("[{zone}]")).unwrap().len(), 1);
        assert!(first_zones("[").is_err());
    }
}
