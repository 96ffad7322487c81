//! What the integration tests share: a provider with limits and retries quick enough for tests.

use entity::{
    ProviderId,
    query::{self, provider::ProviderChanges},
    settings::{FetchLimits, RetryPolicy},
};
use sea_orm::DatabaseConnection;

/// A provider to create for a test; the defaults keep failures fast.
pub(crate) struct TestProvider<'a> {
    pub(crate) name: &'a str,
    pub(crate) url: &'a str,
    pub(crate) schedule: Option<&'a str>,
    pub(crate) time_zone: &'a str,
    pub(crate) read_timeout_ms: i32,
    pub(crate) total_timeout_ms: i32,
}

impl<'a> TestProvider<'a> {
    /// `acme`, at `url`, in UTC, on the default schedule; 1 s read and 2 s total timeouts.
    pub(crate) fn at(url: &'a str) -> Self {
        Self {
            name: "acme",
            url,
            schedule: None,
            time_zone: "UTC",
            read_timeout_ms: 1_000,
            total_timeout_ms: 2_000,
        }
    }

    /// Creates it (or updates it), with 3 attempts per tick and a 100 ms base backoff.
    pub(crate) async fn save(self, db: &DatabaseConnection) -> ProviderId {
        let changes = ProviderChanges {
            url: Some(self.url.parse().unwrap()),
            schedule: self.schedule.map(|s| s.parse().unwrap()),
            time_zone: Some(self.time_zone.parse().unwrap()),
            limits: Some(FetchLimits {
                connect_timeout_ms: 1_000,
                read_timeout_ms: self.read_timeout_ms,
                total_timeout_ms: self.total_timeout_ms,
                max_body_bytes: 64 * 1024,
            }),
            retry: Some(RetryPolicy {
                max_attempts: 3,
                base_delay_ms: 100,
            }),
            ..Default::default()
        };
        query::provider::upsert(db, &self.name.parse().unwrap(), changes)
            .await
            .unwrap()
            .model()
            .id
    }
}

/// `ingestor collect acme` on `db`, loopback allowed: one collection through the job path.
pub(crate) async fn collect_acme(db: &DatabaseConnection) -> ingestor::jobs::OutcomeReport {
    ingestor::collect::collect_now(
        db,
        "acme",
        ingestor::collector::CollectSettings::allowing_private(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap()
}
