//! Creating, updating and listing providers from the command line.

use entity::{
    destination::{DestinationPolicy, RefusedDestination},
    provider,
    query::provider::{UpsertError, Upserted},
    settings::{ProviderName, ProviderPatch, redact_url},
};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// Creates the provider `name`, or applies `patch` to it. A new URL must point where
/// `destinations` allows (`--allow-private-providers`); it is checked again on every fetch.
pub async fn add(
    db: &DatabaseConnection,
    name: &ProviderName,
    patch: ProviderPatch,
    destinations: DestinationPolicy,
) -> Result<Upserted, AddProviderError> {
    if let Some(url) = &patch.url {
        destinations.check_url(url.as_url())?;
    }
    let current = entity::query::provider::find_by_name(db, name.as_str()).await?;
    let changes = patch.resolve(current.as_ref())?;
    Ok(entity::query::provider::upsert(db, name, changes).await?)
}

/// Why `provider add` refused.
#[derive(Debug, thiserror::Error)]
pub enum AddProviderError {
    /// A setting is out of range.
    #[error(transparent)]
    Invalid(#[from] entity::settings::InvalidSetting),
    /// The upsert failed.
    #[error(transparent)]
    Upsert(#[from] UpsertError),
    /// The URL points where providers may not be fetched from.
    #[error(transparent)]
    Refused(#[from] RefusedDestination),
}

impl From<sea_orm::DbErr> for AddProviderError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Upsert(UpsertError::Database(err))
    }
}

/// One line saying what `provider add` did (the URL redacted: no userinfo or query values).
pub fn describe_upsert(upserted: &Upserted) -> String {
    let (verb, p) = match upserted {
        Upserted::Created(p) => ("created", p),
        Upserted::Updated(p) => ("updated", p),
    };
    format!(
        "{verb} provider {} (id {}) at {}",
        p.name,
        p.id,
        redact_url(&p.url)
    )
}

/// A provider as `provider list --json` prints it (the URL redacted).
#[derive(Serialize)]
struct ListedProvider<'a> {
    id: i64,
    name: &'a str,
    kind: &'a str,
    url: String,
    schedule: &'a str,
    time_zone: &'a str,
    enabled: bool,
    connect_timeout_ms: i32,
    read_timeout_ms: i32,
    total_timeout_ms: i32,
    max_body_bytes: i64,
    max_attempts: i32,
    retry_base_delay_ms: i32,
    freshness_ms: Option<i64>,
    backoff_after: i32,
    pause_after: i32,
}

impl<'a> From<&'a provider::Model> for ListedProvider<'a> {
    fn from(p: &'a provider::Model) -> Self {
        Self {
            id: p.id.0,
            name: &p.name,
            kind: p.kind.as_str(),
            url: redact_url(&p.url),
            schedule: &p.schedule,
            time_zone: &p.time_zone,
            enabled: p.enabled,
            connect_timeout_ms: p.connect_timeout_ms,
            read_timeout_ms: p.read_timeout_ms,
            total_timeout_ms: p.total_timeout_ms,
            max_body_bytes: p.max_body_bytes,
            max_attempts: p.max_attempts,
            retry_base_delay_ms: p.retry_base_delay_ms,
            freshness_ms: p.freshness_ms,
            backoff_after: p.backoff_after,
            pause_after: p.pause_after,
        }
    }
}

/// The providers as a table, or as one JSON object per line.
pub fn render_list(providers: &[provider::Model], json: bool) -> String {
    let mut out = String::new();
    if json {
        for p in providers {
            // Serialising plain strings and numbers cannot fail.
            if let Ok(line) = serde_json::to_string(&ListedProvider::from(p)) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        return out;
    }
    if providers.is_empty() {
        return "no providers yet: add one with `ingestor provider add NAME --url URL`\n"
            .to_owned();
    }
    let rows: Vec<[String; 6]> = providers
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.kind.as_str().to_owned(),
                if p.enabled { "yes" } else { "no" }.to_owned(),
                p.schedule.clone(),
                p.time_zone.clone(),
                redact_url(&p.url),
            ]
        })
        .collect();
    let header = ["NAME", "KIND", "ENABLED", "SCHEDULE", "TIME ZONE", "URL"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
