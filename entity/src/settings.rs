//! What a provider is configured with, parsed once: a name, a feed URL, a cron schedule, a
//! time zone, fetch limits and a retry policy. Values that reach the database through these
//! types are valid; the command line and the API both go through them.

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// A setting that cannot be used, with what is wrong in words for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSetting {
    /// Provider names are short identifiers.
    #[error(
        "invalid provider name `{0}`: use 1 to 100 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
    )]
    Name(String),
    /// The feed URL is not an absolute http(s) URL.
    #[error("invalid feed URL `{url}`: {reason}")]
    Url {
        /// What was given, redacted ([`redact_url`]).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cron expression does not parse.
    #[error(
        "invalid cron schedule `{expression}`: {reason} (expected `sec min hour day month weekday [year]`, or the 5-field form without seconds)"
    )]
    Schedule {
        /// What was given.
        expression: String,
        /// The parser's reason.
        reason: String,
    },
    /// The cron expression never fires.
    #[error("cron schedule `{0}` never fires")]
    ScheduleNeverFires(String),
    /// Not an IANA time zone name.
    #[error("unknown time zone `{0}`: use an IANA name such as `UTC` or `Europe/Madrid`")]
    TimeZone(String),
    /// A numeric limit is out of its range.
    #[error("{name} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The setting.
        name: &'static str,
        /// What was given.
        value: i64,
        /// Smallest accepted.
        min: i64,
        /// Largest accepted.
        max: i64,
    },
}

/// A provider's unique name: part of every event id, so it never changes once used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderName(String);

impl ProviderName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ProviderName {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = (1..=100).contains(&s.len())
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidSetting::Name(s.to_owned()))
        }
    }
}

impl std::fmt::Display for ProviderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute `http` or `https` URL with a host. Its `Debug` is redacted ([`redact_url`]):
/// the URL may carry a provider's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct FeedUrl(url::Url);

impl std::fmt::Debug for FeedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FeedUrl")
            .field(&redact_url(self.0.as_str()))
            .finish()
    }
}

impl FeedUrl {
    /// The URL.
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for FeedUrl {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| InvalidSetting::Url {
            url: redact_url(s),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(s.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("a host is required"));
        }
        Ok(Self(url))
    }
}

/// A cron expression, with seconds (`sec min hour day month weekday [year]`). The classic
/// 5-field form is accepted and runs at second 0.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// The expression as stored (always with a seconds field).
    pub fn as_str(&self) -> &str {
        &self.expression
    }

    /// The first tick strictly after `after`, reading the expression in `zone`.
    pub fn next_after(&self, after: DateTime<Utc>, zone: TimeZone) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&after.with_timezone(&zone.0))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The last tick at or before `at`, if one falls after `since` (the catch-up tick after
    /// downtime: only the latest missed tick counts).
    pub fn latest_between(
        &self,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        zone: TimeZone,
    ) -> Option<DateTime<Utc>> {
        // Ticks fall on whole seconds: the last one before the next whole second after `at`
        // is the last one at or before `at`.
        let upper = at.with_timezone(&zone.0).trunc_subsecs(0) + TimeDelta::seconds(1);
        self.schedule
            .after(&upper)
            .next_back()
            .map(|t| t.with_timezone(&Utc))
            .filter(|&tick| tick > since && tick <= at)
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

impl Eq for CronSchedule {}

impl FromStr for CronSchedule {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let expression = if trimmed.split(' ').count() == 5 {
            format!("0 {trimmed}")
        } else {
            trimmed
        };
        let schedule =
            cron::Schedule::from_str(&expression).map_err(|e| InvalidSetting::Schedule {
                expression: s.to_owned(),
                // The parser's message echoes the input with a caret under it; keep the
                // sentence, so the error stays on one line.
                reason: e
                    .to_string()
                    .lines()
                    .map(str::trim)
                    .rfind(|line| !line.is_empty() && *line != "^")
                    .unwrap_or("unparsable")
                    .to_owned(),
            })?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(InvalidSetting::ScheduleNeverFires(s.to_owned()));
        }
        Ok(Self {
            expression,
            schedule,
        })
    }
}

/// An IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    /// Coordinated Universal Time, the default.
    pub const UTC: Self = Self(chrono_tz::UTC);

    /// The IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl FromStr for TimeZone {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| InvalidSetting::TimeZone(s.to_owned()))
    }
}

/// How a provider's feed is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// Limit for establishing the connection.
    pub connect_timeout_ms: i32,
    /// Limit between two reads of the body.
    pub read_timeout_ms: i32,
    /// Limit for the whole fetch; a slow drip hits it.
    pub total_timeout_ms: i32,
    /// Largest body accepted, compressed or decompressed.
    pub max_body_bytes: i64,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            read_timeout_ms: 15_000,
            total_timeout_ms: 60_000,
            max_body_bytes: 256 * 1024 * 1024,
        }
    }
}

impl FetchLimits {
    /// Checks every limit is in its range.
    pub fn validate(self) -> Result<Self, InvalidSetting> {
        in_range(
            "connect_timeout_ms",
            self.connect_timeout_ms.into(),
            1,
            600_000,
        )?;
        in_range("read_timeout_ms", self.read_timeout_ms.into(), 1, 600_000)?;
        in_range(
            "total_timeout_ms",
            self.total_timeout_ms.into(),
            1,
            3_600_000,
        )?;
        in_range(
            "max_body_bytes",
            self.max_body_bytes,
            1,
            4 * 1024 * 1024 * 1024,
        )?;
        Ok(self)
    }
}

/// How failed jobs of a provider are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per tick, the first one included (1 = never retry).
    pub max_attempts: i32,
    /// Backoff before the first retry, doubled for each further one (with jitter).
    pub base_delay_ms: i32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay_ms: 2_000,
        }
    }
}

impl RetryPolicy {
    /// Checks both values are in their ranges.
    pub fn validate(self) -> Result<Self, InvalidSetting> {
        in_range("max_attempts", self.max_attempts.into(), 1, 20)?;
        in_range(
            "retry_base_delay_ms",
            self.base_delay_ms.into(),
            1,
            3_600_000,
        )?;
        Ok(self)
    }
}

/// The provider's next cron tick after `now`, read in its time zone; none when it is disabled
/// or its stored schedule or zone no longer parse. The scheduler and the API's health both
/// read it from here.
pub fn next_tick(provider: &crate::provider::Model, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !provider.enabled {
        return None;
    }
    let schedule: CronSchedule = provider.schedule.parse().ok()?;
    let zone: TimeZone = provider.time_zone.parse().ok()?;
    schedule.next_after(now, zone)
}

/// When a provider that keeps failing is collected less often, and when it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Consecutive failed collections after which its schedule is stretched (0: never).
    pub backoff_after: i32,
    /// Consecutive failed collections after which it is paused (0: never).
    pub pause_after: i32,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            backoff_after: 3,
            pause_after: 30,
        }
    }
}

impl FailurePolicy {
    /// The largest threshold accepted.
    pub const MAX: i32 = 10_000;

    /// Checks both thresholds are in their ranges.
    pub fn validate(self) -> Result<Self, InvalidSetting> {
        in_range(
            "backoff_after",
            self.backoff_after.into(),
            0,
            Self::MAX.into(),
        )?;
        in_range("pause_after", self.pause_after.into(), 0, Self::MAX.into())?;
        Ok(self)
    }
}

/// The longest a backoff stretches a provider's schedule.
pub const MAX_BACKOFF: TimeDelta = TimeDelta::hours(1);

/// The most schedule intervals a backoff stretches a provider's schedule to.
pub const MAX_BACKOFF_INTERVALS: i32 = 64;

/// The interval between `provider`'s next two ticks after `now`; none when its stored
/// schedule or zone no longer parse.
pub fn schedule_interval(
    provider: &crate::provider::Model,
    now: DateTime<Utc>,
) -> Option<TimeDelta> {
    let schedule: CronSchedule = provider.schedule.parse().ok()?;
    let zone: TimeZone = provider.time_zone.parse().ok()?;
    let first = schedule.next_after(now, zone)?;
    let second = schedule.next_after(first, zone)?;
    Some(second - first)
}

/// Until when the scheduler skips `provider`'s ticks after `failed` consecutive failed
/// collections, the last one for the tick `tick`; none below its `backoff_after`.
///
/// From `backoff_after` on, its interval is doubled with each failed collection (two
/// intervals after the first, four after the next), up to [`MAX_BACKOFF_INTERVALS`] intervals
/// or [`MAX_BACKOFF`], whichever is shorter, and never less than one interval (a schedule
/// slower than the cap is not stretched).
pub fn backoff_until(
    provider: &crate::provider::Model,
    failed: i32,
    tick: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if provider.backoff_after <= 0 || failed < provider.backoff_after {
        return None;
    }
    let interval = schedule_interval(provider, tick)?;
    let cap = (interval * MAX_BACKOFF_INTERVALS)
        .min(MAX_BACKOFF)
        .max(interval);
    let doublings = u32::try_from(failed - provider.backoff_after + 1)
        .unwrap_or(0)
        .min(30);
    let stretch = interval.checked_mul(1 << doublings).unwrap_or(cap).min(cap);
    Some(tick + stretch)
}

/// A provider's expected freshness when none is set: this many intervals of its schedule.
pub const FRESHNESS_INTERVALS: i32 = 3;

/// The longest freshness a provider may be given, in milliseconds (30 days).
pub const MAX_FRESHNESS_MS: i64 = 30 * 24 * 3_600_000;

/// How old `provider`'s last successful collection may get before it is overdue: its own
/// setting, else [`FRESHNESS_INTERVALS`] times the interval between its next two ticks after
/// `now`; none when its stored schedule or zone no longer parse.
pub fn freshness(provider: &crate::provider::Model, now: DateTime<Utc>) -> Option<TimeDelta> {
    if let Some(ms) = provider.freshness_ms {
        return Some(TimeDelta::milliseconds(ms));
    }
    Some(schedule_interval(provider, now)? * FRESHNESS_INTERVALS)
}

/// Since when `provider` is overdue at `now`: its last success (its creation, if it never
/// succeeded) plus its [`freshness`], once that is past. Never for a disabled provider:
/// nothing is expected of it.
pub fn overdue_since(
    provider: &crate::provider::Model,
    last_success: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !provider.enabled {
        return None;
    }
    let due = last_success.unwrap_or(provider.created_at) + freshness(provider, now)?;
    (due < now).then_some(due)
}

/// A change to a provider's settings as every writer asks for it (`ingestor provider add`, the
/// API's `upsertProvider`, the demo): each value given replaces the current one; fetch limits
/// and the retry policy given in part are merged with the provider's current ones (or the
/// defaults, for a new provider) and checked together. The one place these rules live.
#[derive(Debug, Clone, Default)]
pub struct ProviderPatch {
    /// The collector.
    pub kind: Option<crate::ProviderKind>,
    /// The feed address; required to create a provider.
    pub url: Option<FeedUrl>,
    /// The cron schedule.
    pub schedule: Option<CronSchedule>,
    /// The time zone of the feed and the schedule.
    pub time_zone: Option<TimeZone>,
    /// Whether the scheduler creates jobs for it.
    pub enabled: Option<bool>,
    /// Limit for connecting, in milliseconds.
    pub connect_timeout_ms: Option<i32>,
    /// Limit between two reads, in milliseconds.
    pub read_timeout_ms: Option<i32>,
    /// Limit for the whole fetch, in milliseconds.
    pub total_timeout_ms: Option<i32>,
    /// Largest feed accepted, in bytes.
    pub max_body_bytes: Option<i64>,
    /// Attempts per tick.
    pub max_attempts: Option<i32>,
    /// Backoff before the first retry, in milliseconds.
    pub retry_base_delay_ms: Option<i32>,
    /// How old its last success may get before it is overdue, in milliseconds; 0 returns to
    /// the default ([`FRESHNESS_INTERVALS`] schedule intervals).
    pub freshness_ms: Option<i64>,
    /// Consecutive failed collections after which the schedule is stretched (0: never).
    pub backoff_after: Option<i32>,
    /// Consecutive failed collections after which it is paused (0: never).
    pub pause_after: Option<i32>,
}

impl ProviderPatch {
    /// The changes to write to `current` (none: a new provider), limits merged and checked.
    pub fn resolve(
        self,
        current: Option<&crate::provider::Model>,
    ) -> Result<crate::query::provider::ProviderChanges, InvalidSetting> {
        let limits_given = self.connect_timeout_ms.is_some()
            || self.read_timeout_ms.is_some()
            || self.total_timeout_ms.is_some()
            || self.max_body_bytes.is_some();
        let limits = if limits_given {
            let base = current.map_or_else(FetchLimits::default, FetchLimits::of);
            Some(
                FetchLimits {
                    connect_timeout_ms: self.connect_timeout_ms.unwrap_or(base.connect_timeout_ms),
                    read_timeout_ms: self.read_timeout_ms.unwrap_or(base.read_timeout_ms),
                    total_timeout_ms: self.total_timeout_ms.unwrap_or(base.total_timeout_ms),
                    max_body_bytes: self.max_body_bytes.unwrap_or(base.max_body_bytes),
                }
                .validate()?,
            )
        } else {
            None
        };
        let retry = if self.max_attempts.is_some() || self.retry_base_delay_ms.is_some() {
            let base = current.map_or_else(RetryPolicy::default, RetryPolicy::of);
            Some(
                RetryPolicy {
                    max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
                    base_delay_ms: self.retry_base_delay_ms.unwrap_or(base.base_delay_ms),
                }
                .validate()?,
            )
        } else {
            None
        };
        let freshness_ms = match self.freshness_ms {
            Some(0) => Some(None),
            Some(ms) => {
                in_range("freshness_ms", ms, 1_000, MAX_FRESHNESS_MS)?;
                Some(Some(ms))
            }
            None => None,
        };
        let failures = if self.backoff_after.is_some() || self.pause_after.is_some() {
            let base = current.map_or_else(FailurePolicy::default, FailurePolicy::of);
            Some(
                FailurePolicy {
                    backoff_after: self.backoff_after.unwrap_or(base.backoff_after),
                    pause_after: self.pause_after.unwrap_or(base.pause_after),
                }
                .validate()?,
            )
        } else {
            None
        };
        Ok(crate::query::provider::ProviderChanges {
            kind: self.kind,
            url: self.url,
            schedule: self.schedule,
            time_zone: self.time_zone,
            enabled: self.enabled,
            limits,
            retry,
            freshness_ms,
            failures,
        })
    }
}

fn in_range(name: &'static str, value: i64, min: i64, max: i64) -> Result<(), InvalidSetting> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(InvalidSetting::OutOfRange {
            name,
            value,
            min,
            max,
        })
    }
}

/// `url` as it may be shown anywhere (lists, logs, errors, the API): userinfo (user and
/// password) and every query value replaced by `***`, query keys kept, fragment dropped.
/// A query segment without `=` is masked whole, as it is often a bare key. Text that is not
/// a URL is masked conservatively (everything up to the last `@` after the scheme is taken
/// as userinfo).
pub fn redact_url(url: &str) -> String {
    redact(url, Userinfo::Mask)
}

/// A database URL as it may be shown: like [`redact_url`], but the user name is kept (it is
/// not a secret, and it tells an operator which role failed).
pub fn redact_database_url(url: &str) -> String {
    redact(url, Userinfo::KeepUser)
}

/// What [`redact`] does with a URL's userinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Userinfo {
    /// Replace user and password with one `***` (provider URLs).
    Mask,
    /// Keep the user name, mask the password (database URLs: the user is not a secret).
    KeepUser,
}

/// Masks the secrets of `url` (see [`redact_url`]).
fn redact(url: &str, userinfo: Userinfo) -> String {
    let url = url.trim();
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.has_host() || !url.contains('@') => {
            let has_userinfo = !parsed.username().is_empty() || parsed.password().is_some();
            // Setting userinfo only fails for URLs that cannot have one, which have none.
            if has_userinfo {
                match userinfo {
                    Userinfo::Mask => {
                        let _ = parsed.set_password(None);
                        let _ = parsed.set_username("***");
                    }
                    Userinfo::KeepUser => {
                        if parsed.password().is_some() {
                            let _ = parsed.set_password(Some("***"));
                        }
                    }
                }
            }
            if let Some(query) = parsed.query().map(mask_query) {
                parsed.set_query(Some(&query));
            }
            parsed.set_fragment(None);
            parsed.to_string()
        }
        _ => redact_text(url, userinfo),
    }
}

/// [`redact`] for text the URL parser refuses: no structure is trusted.
fn redact_text(text: &str, userinfo: Userinfo) -> String {
    let text = text.split('#').next().unwrap_or_default();
    let (scheme, rest) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    // A password may hold `/`, `?` or `@` when it is not percent-encoded: everything up to
    // the last `@` may be userinfo.
    let (user, rest) = match rest.rfind('@') {
        Some(at) => {
            let info = &rest[..at];
            let shown = match (userinfo, info.split_once(':')) {
                (Userinfo::KeepUser, Some((user, _))) => format!("{user}:***@"),
                (Userinfo::KeepUser, None) => format!("{info}@"),
                (Userinfo::Mask, _) => "***@".to_owned(),
            };
            (shown, &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    let rest = match rest.split_once('?') {
        Some((before, query)) => format!("{before}?{}", mask_query(query)),
        None => rest.to_owned(),
    };
    format!("{scheme}{user}{rest}")
}

/// Every value of a query replaced by `***`, keys kept; a segment without `=` masked whole.
fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}=***"),
            None if pair.is_empty() => String::new(),
            None => "***".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The schedule a new provider gets: every five minutes.
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";

#[cfg(test)]
mod tests {
    #[test]
    fn a_patch_merges_partial_limits_with_the_current_ones_and_checks_them_together() {
        let nothing = ProviderPatch::default().resolve(None).unwrap();
        assert!(
            nothing.limits.is_none() && nothing.retry.is_none(),
            "only what is given"
        );
        let one = ProviderPatch {
            read_timeout_ms: Some(1_234),
            max_attempts: Some(5),
            ..ProviderPatch::default()
        }
        .resolve(None)
        .unwrap();
        let limits = one.limits.unwrap();
        assert_eq!(limits.read_timeout_ms, 1_234);
        assert_eq!(
            limits.connect_timeout_ms,
            FetchLimits::default().connect_timeout_ms
        );
        assert_eq!(
            one.retry.unwrap().base_delay_ms,
            RetryPolicy::default().base_delay_ms
        );
        let bad = ProviderPatch {
            max_attempts: Some(0),
            ..ProviderPatch::default()
        }
        .resolve(None);
        assert!(matches!(
            bad,
            Err(InvalidSetting::OutOfRange {
                name: "max_attempts",
                ..
            })
        ));
    }

    use super::*;

    fn provider(schedule: &str, freshness_ms: Option<i64>) -> crate::provider::Model {
        let at = "2026-12-01T00:00:00Z".parse().unwrap();
        crate::provider::Model {
            id: crate::ProviderId(1),
            name: "acme".to_owned(),
            kind: crate::ProviderKind::FeverXml,
            url: "https://feeds.example/".to_owned(),
            schedule: schedule.to_owned(),
            enabled: true,
            time_zone: "Europe/Madrid".to_owned(),
            connect_timeout_ms: 1,
            read_timeout_ms: 1,
            total_timeout_ms: 1,
            max_body_bytes: 1,
            max_attempts: 1,
            retry_base_delay_ms: 1,
            freshness_ms,
            backoff_after: 3,
            pause_after: 30,
            etag: None,
            last_modified: None,
            body_hash: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_provider_is_overdue_three_intervals_after_its_last_success_unless_told_otherwise() {
        let now: DateTime<Utc> = "2026-12-02T12:00:00Z".parse().unwrap();
        let every_five = provider("0 */5 * * * *", None);
        assert_eq!(freshness(&every_five, now), Some(TimeDelta::minutes(15)));
        let success = now - TimeDelta::minutes(14);
        assert_eq!(overdue_since(&every_five, Some(success), now), None);
        let success = now - TimeDelta::minutes(16);
        assert_eq!(
            overdue_since(&every_five, Some(success), now),
            Some(success + TimeDelta::minutes(15))
        );
        // Never succeeded: counted from its creation.
        assert_eq!(
            overdue_since(&every_five, None, now),
            Some(every_five.created_at + TimeDelta::minutes(15))
        );
        // Its own setting wins; a disabled provider is never overdue.
        let told = provider("0 */5 * * * *", Some(3_600_000));
        assert_eq!(
            overdue_since(&told, Some(now - TimeDelta::minutes(59)), now),
            None
        );
        let disabled = crate::provider::Model {
            enabled: false,
            ..every_five
        };
        assert_eq!(overdue_since(&disabled, None, now), None);
        // A daily schedule: three days.
        assert_eq!(
            freshness(&provider("0 0 3 * * *", None), now),
            Some(TimeDelta::days(3))
        );
    }

    #[test]
    fn a_backoff_doubles_the_interval_from_the_threshold_up_to_its_cap() {
        let tick: DateTime<Utc> = "2026-12-02T12:00:00Z".parse().unwrap();
        let every_second = provider("* * * * * *", None);
        let stretch = |failed| backoff_until(&every_second, failed, tick).map(|t| t - tick);
        assert_eq!(stretch(0), None);
        assert_eq!(stretch(2), None, "below backoff_after (3)");
        assert_eq!(stretch(3), Some(TimeDelta::seconds(2)));
        assert_eq!(stretch(4), Some(TimeDelta::seconds(4)));
        assert_eq!(stretch(8), Some(TimeDelta::seconds(64)), "64 intervals");
        assert_eq!(stretch(1_000), Some(TimeDelta::seconds(64)));
        // Every five minutes: 64 intervals is more than an hour, so an hour is the cap.
        let every_five = provider("0 */5 * * * *", None);
        let stretch = |failed| backoff_until(&every_five, failed, tick).map(|t| t - tick);
        assert_eq!(stretch(3), Some(TimeDelta::minutes(10)));
        assert_eq!(stretch(6), Some(TimeDelta::minutes(60)));
        assert_eq!(stretch(9_999), Some(TimeDelta::minutes(60)));
        // A daily schedule is not stretched past its own interval.
        let daily = provider("0 0 3 * * *", None);
        assert_eq!(
            backoff_until(&daily, 5, tick).map(|t| t - tick),
            Some(TimeDelta::days(1))
        );
        // Off.
        let never = crate::provider::Model {
            backoff_after: 0,
            ..every_second
        };
        assert_eq!(backoff_until(&never, 100, tick), None);
    }

    #[test]
    fn failure_thresholds_are_zero_to_ten_thousand_and_merge_with_the_current_ones() {
        let patch = |backoff_after, pause_after| {
            ProviderPatch {
                backoff_after,
                pause_after,
                ..ProviderPatch::default()
            }
            .resolve(Some(&provider("* * * * * *", None)))
        };
        assert_eq!(
            patch(Some(0), None).unwrap().failures,
            Some(FailurePolicy {
                backoff_after: 0,
                pause_after: 30
            })
        );
        assert!(patch(Some(-1), None).is_err());
        assert!(patch(None, Some(FailurePolicy::MAX + 1)).is_err());
        assert_eq!(patch(None, None).unwrap().failures, None);
    }

    #[test]
    fn a_freshness_is_a_second_to_thirty_days_and_zero_resets_it() {
        let patch = |ms| {
            ProviderPatch {
                freshness_ms: Some(ms),
                ..ProviderPatch::default()
            }
            .resolve(None)
        };
        assert_eq!(patch(0).unwrap().freshness_ms, Some(None));
        assert_eq!(patch(60_000).unwrap().freshness_ms, Some(Some(60_000)));
        for bad in [-1, 999, MAX_FRESHNESS_MS + 1] {
            assert!(patch(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ProviderPatch::default().resolve(None).unwrap().freshness_ms,
            None
        );
    }

    #[test]
    fn names_are_short_identifiers() {
        assert!("acme-events_2.eu".parse::<ProviderName>().is_ok());
        for bad in ["", "-x", "a b", "ñ", &"x".repeat(101), "a\u{1f}b"] {
            assert!(bad.parse::<ProviderName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn feed_urls_must_be_absolute_http() {
        assert!(
            "https://provider.example/api/events"
                .parse::<FeedUrl>()
                .is_ok()
        );
        for bad in ["ftp://x/y", "not a url", "/relative", "http://"] {
            let err = bad.parse::<FeedUrl>().unwrap_err();
            assert!(err.to_string().contains("invalid feed URL"), "{err}");
        }
    }

    #[test]
    fn cron_accepts_seconds_and_the_classic_five_fields() {
        let with_seconds: CronSchedule = "*/10 * * * * *".parse().unwrap();
        assert_eq!(with_seconds.as_str(), "*/10 * * * * *");
        let classic: CronSchedule = "*/5 * * * *".parse().unwrap();
        assert_eq!(classic.as_str(), "0 */5 * * * *");
        let err = "every minute".parse::<CronSchedule>().unwrap_err();
        assert!(
            err.to_string().starts_with("invalid cron schedule"),
            "{err}"
        );
    }

    #[test]
    fn ticks_are_read_in_the_provider_time_zone() {
        let daily: CronSchedule = "0 0 9 * * *".parse().unwrap();
        let madrid: TimeZone = "Europe/Madrid".parse().unwrap();
        let after = DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = daily.next_after(after, madrid).unwrap();
        // 09:00 in Madrid in winter is 08:00 UTC, the next day.
        assert_eq!(next.to_rfc3339(), "2026-01-11T08:00:00+00:00");
    }

    #[test]
    fn catch_up_keeps_only_the_latest_missed_tick() {
        let minutely: CronSchedule = "0 * * * * *".parse().unwrap();
        let since = DateTime::parse_from_rfc3339("2026-01-10T12:00:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = DateTime::parse_from_rfc3339("2026-01-10T12:10:10Z")
            .unwrap()
            .with_timezone(&Utc);
        let latest = minutely.latest_between(since, at, TimeZone::UTC).unwrap();
        assert_eq!(latest.to_rfc3339(), "2026-01-10T12:10:00+00:00");
        assert_eq!(minutely.latest_between(at, at, TimeZone::UTC), None);
    }

    #[test]
    fn limits_are_checked() {
        assert!(FetchLimits::default().validate().is_ok());
        let err = FetchLimits {
            total_timeout_ms: 0,
            ..FetchLimits::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "total_timeout_ms must be between 1 and 3600000, got 0"
        );
        assert!(RetryPolicy::default().validate().is_ok());
    }

    #[test]
    fn redacted_urls_hide_userinfo_and_query_values_and_keep_the_rest() {
        assert_eq!(
            redact_url(
                "https://user:p%40ss@feeds.example:8443/v1/feed.xml?key=s3cret&lang=es#frag"
            ),
            "https://***@feeds.example:8443/v1/feed.xml?key=***&lang=***"
        );
        assert_eq!(
            redact_url("http://token@feeds.example/feed?APIKEY123&x=&=y"),
            "http://***@feeds.example/feed?***&x=***&=***"
        );
        assert_eq!(
            redact_url("https://feeds.example/feed.xml"),
            "https://feeds.example/feed.xml"
        );
        assert_eq!(redact_url("http://:pw@h/"), "http://***@h/");
        // Not a URL: masked without trusting its structure.
        let text = redact_url("http://u:pa/ss@host:99999/x?token=abc");
        assert_eq!(text, "http://***@host:99999/x?token=***");
        assert_eq!(redact_url("no url at all"), "no url at all");
    }

    #[test]
    fn debug_of_a_feed_url_is_redacted() {
        let url: FeedUrl = "https://u:hunter2@feeds.example/f.xml?key=s3cret"
            .parse()
            .unwrap();
        assert_eq!(
            format!("{url:?}"),
            "FeedUrl(\"https://***@feeds.example/f.xml?key=***\")"
        );
        assert!(url.as_str().contains("hunter2"), "the URL itself is intact");
    }

    #[test]
    fn invalid_feed_urls_are_reported_without_their_secrets() {
        let err = "http://user:hunter2@host:99999/feed?key=s3cret"
            .parse::<FeedUrl>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2") && !err.contains("s3cret"), "{err}");
        assert!(
            err.starts_with("invalid feed URL `http://***@host:99999/feed?key=***`"),
            "{err}"
        );
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!("UTC".parse::<TimeZone>().unwrap(), TimeZone::UTC);
        assert!("Mars/Olympus".parse::<TimeZone>().is_err());
    }
}
