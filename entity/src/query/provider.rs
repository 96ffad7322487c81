//! Queries over `provider`.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TryIntoModel, sea_query::Expr,
};

use crate::{
    ProviderId, ProviderKind,
    provider::{ActiveModel, Column, Entity, Model},
    settings::{
        CronSchedule, DEFAULT_SCHEDULE, FailurePolicy, FeedUrl, FetchLimits, ProviderName,
        RetryPolicy, TimeZone,
    },
    time,
};

impl FetchLimits {
    /// The limits `provider` is configured with.
    pub fn of(provider: &Model) -> Self {
        Self {
            connect_timeout_ms: provider.connect_timeout_ms,
            read_timeout_ms: provider.read_timeout_ms,
            total_timeout_ms: provider.total_timeout_ms,
            max_body_bytes: provider.max_body_bytes,
        }
    }
}

impl RetryPolicy {
    /// The retry policy `provider` is configured with.
    pub fn of(provider: &Model) -> Self {
        Self {
            max_attempts: provider.max_attempts,
            base_delay_ms: provider.retry_base_delay_ms,
        }
    }
}

impl FailurePolicy {
    /// The thresholds `provider` is configured with.
    pub fn of(provider: &Model) -> Self {
        Self {
            backoff_after: provider.backoff_after,
            pause_after: provider.pause_after,
        }
    }
}

/// Settings to set on a provider; `None` keeps the current value (or the default, when the
/// provider is created).
#[derive(Debug, Clone, Default)]
pub struct ProviderChanges {
    /// The collector.
    pub kind: Option<ProviderKind>,
    /// The feed address; required to create a provider.
    pub url: Option<FeedUrl>,
    /// The cron schedule.
    pub schedule: Option<CronSchedule>,
    /// The time zone of the feed and the schedule.
    pub time_zone: Option<TimeZone>,
    /// Whether the scheduler creates jobs for it.
    pub enabled: Option<bool>,
    /// How the feed is fetched.
    pub limits: Option<FetchLimits>,
    /// How failed jobs are retried.
    pub retry: Option<RetryPolicy>,
    /// Its expected freshness in milliseconds (`Some(None)`: the default).
    pub freshness_ms: Option<Option<i64>>,
    /// When it backs off and when it is paused.
    pub failures: Option<FailurePolicy>,
}

/// What [`upsert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// A new provider.
    Created(Model),
    /// An existing provider, with the changes applied.
    Updated(Model),
}

impl Upserted {
    /// The provider as stored now.
    pub fn model(&self) -> &Model {
        match self {
            Self::Created(m) | Self::Updated(m) => m,
        }
    }
}

/// Why [`upsert`] did nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpsertError {
    /// A new provider needs a feed URL.
    #[error("provider `{0}` does not exist yet: a feed URL is required to create it")]
    MissingUrl(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Creates the provider `name` with `changes` over the defaults, or applies `changes` to it.
///
/// Two concurrent creations of the same name both succeed: the loser of the insert race
/// finds the winner's row and updates it.
pub async fn upsert(
    db: &impl ConnectionTrait,
    name: &ProviderName,
    changes: ProviderChanges,
) -> Result<Upserted, UpsertError> {
    if let Some(existing) = find_by_name(db, name.as_str()).await? {
        return Ok(Upserted::Updated(update(db, existing, changes).await?));
    }
    let Some(url) = changes.url.clone() else {
        return Err(UpsertError::MissingUrl(name.to_string()));
    };
    let now = time::now();
    let limits = changes.limits.unwrap_or_default();
    let retry = changes.retry.unwrap_or_default();
    let failures = changes.failures.unwrap_or_default();
    let schedule = match &changes.schedule {
        Some(schedule) => schedule.as_str().to_owned(),
        None => DEFAULT_SCHEDULE.to_owned(),
    };
    let new = ActiveModel {
        name: Set(name.to_string()),
        kind: Set(changes.kind.unwrap_or(ProviderKind::FeverXml)),
        url: Set(url.as_str().to_owned()),
        schedule: Set(schedule),
        enabled: Set(changes.enabled.unwrap_or(true)),
        time_zone: Set(changes.time_zone.unwrap_or(TimeZone::UTC).name().to_owned()),
        connect_timeout_ms: Set(limits.connect_timeout_ms),
        read_timeout_ms: Set(limits.read_timeout_ms),
        total_timeout_ms: Set(limits.total_timeout_ms),
        max_body_bytes: Set(limits.max_body_bytes),
        max_attempts: Set(retry.max_attempts),
        retry_base_delay_ms: Set(retry.base_delay_ms),
        freshness_ms: Set(changes.freshness_ms.flatten()),
        backoff_after: Set(failures.backoff_after),
        pause_after: Set(failures.pause_after),
        etag: Set(None),
        last_modified: Set(None),
        body_hash: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    match new.insert(db).await {
        Ok(model) => Ok(Upserted::Created(model)),
        Err(err) if super::is_unique_violation(&err) => {
            let existing = find_by_name(db, name.as_str()).await?.ok_or(err)?;
            Ok(Upserted::Updated(update(db, existing, changes).await?))
        }
        Err(err) => Err(err.into()),
    }
}

async fn update(
    db: &impl ConnectionTrait,
    existing: Model,
    changes: ProviderChanges,
) -> Result<Model, DbErr> {
    let existing_enabled = existing.enabled;
    let mut row = existing.into_active_model();
    if let Some(kind) = changes.kind {
        row.kind = Set(kind);
    }
    if let Some(url) = changes.url {
        // A new address is a new feed: forget the old one's validators.
        row.url = Set(url.as_str().to_owned());
        row.etag = Set(None);
        row.last_modified = Set(None);
        row.body_hash = Set(None);
    }
    if let Some(schedule) = changes.schedule {
        row.schedule = Set(schedule.as_str().to_owned());
    }
    if let Some(zone) = changes.time_zone {
        row.time_zone = Set(zone.name().to_owned());
    }
    if let Some(enabled) = changes.enabled {
        row.enabled = Set(enabled);
    }
    if let Some(limits) = changes.limits {
        row.connect_timeout_ms = Set(limits.connect_timeout_ms);
        row.read_timeout_ms = Set(limits.read_timeout_ms);
        row.total_timeout_ms = Set(limits.total_timeout_ms);
        row.max_body_bytes = Set(limits.max_body_bytes);
    }
    if let Some(retry) = changes.retry {
        row.max_attempts = Set(retry.max_attempts);
        row.retry_base_delay_ms = Set(retry.base_delay_ms);
    }
    if let Some(freshness_ms) = changes.freshness_ms {
        row.freshness_ms = Set(freshness_ms);
    }
    if let Some(failures) = changes.failures {
        row.backoff_after = Set(failures.backoff_after);
        row.pause_after = Set(failures.pause_after);
    }
    if !row.is_changed() {
        return row.try_into_model();
    }
    let resumed = changes.enabled == Some(true) && !existing_enabled;
    row.updated_at = Set(time::now());
    let model = row.update(db).await?;
    if resumed {
        // Enabled again: it starts afresh, with no backoff and no failures counted.
        super::provider_health::resume(db, model.id).await?;
    }
    Ok(model)
}

/// Pauses the provider `id` (the scheduler stops creating its jobs) unless it is already
/// disabled; whether it did.
pub(crate) async fn pause(db: &impl ConnectionTrait, id: ProviderId) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::Enabled, Expr::value(false))
        .col_expr(Column::UpdatedAt, Expr::value(time::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::Enabled.eq(true))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The provider called `name`.
pub async fn find_by_name(db: &impl ConnectionTrait, name: &str) -> Result<Option<Model>, DbErr> {
    Entity::find().filter(Column::Name.eq(name)).one(db).await
}

/// The provider with database id `id`.
pub async fn find_by_id(db: &impl ConnectionTrait, id: ProviderId) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// The providers with these ids, in no particular order (for batched loading).
pub async fn find_by_ids(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = ProviderId>,
) -> Result<Vec<Model>, DbErr> {
    Entity::find().filter(Column::Id.is_in(ids)).all(db).await
}

/// Every provider, by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find().order_by_asc(Column::Name).all(db).await
}

/// Up to `limit` providers whose name sorts after `after` (from the first without it), by
/// name: a page of [`list`].
pub async fn page(
    db: &impl ConnectionTrait,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut select = Entity::find().order_by_asc(Column::Name).limit(limit);
    if let Some(after) = after {
        select = select.filter(Column::Name.gt(after));
    }
    select.all(db).await
}

/// The providers the scheduler serves, by name.
pub async fn list_enabled(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::Enabled.eq(true))
        .order_by_asc(Column::Name)
        .all(db)
        .await
}

/// Turns the provider called `name` on or off; `None` when there is no such provider.
pub async fn set_enabled(
    db: &impl ConnectionTrait,
    name: &str,
    enabled: bool,
) -> Result<Option<Model>, DbErr> {
    let Some(existing) = find_by_name(db, name).await? else {
        return Ok(None);
    };
    update(
        db,
        existing,
        ProviderChanges {
            enabled: Some(enabled),
            ..Default::default()
        },
    )
    .await
    .map(Some)
}

/// Keeps what the last stored feed's response said, for the next conditional GET.
pub async fn record_feed_validators(
    db: &impl ConnectionTrait,
    id: ProviderId,
    etag: Option<String>,
    last_modified: Option<String>,
    body_hash: Option<String>,
) -> Result<(), DbErr> {
    let row = ActiveModel {
        id: Set(id),
        etag: Set(etag),
        last_modified: Set(last_modified),
        body_hash: Set(body_hash),
        ..Default::default()
    };
    Entity::update(row).exec(db).await.map(|_| ())
}
