//! When a failed job is tried again: a pure decision, from the job, its provider's policy, the
//! error and the clock.
//!
//! A retry happens only for an error a retry can help with, within the provider's attempt
//! budget, after an exponential backoff with jitter (or the provider's `Retry-After`, if
//! later), and never at or past the provider's next scheduled tick: that tick will try anyway.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{ErrorKind, job, provider};

/// The longest backoff, whatever the attempt.
const MAX_BACKOFF: TimeDelta = TimeDelta::hours(1);

/// When to retry `job`, which just failed with `kind`, or `None` for no retry.
///
/// `jitter` is a number in `[0, 1)`; the delay is drawn from the upper half of the backoff
/// ("equal jitter"), so retries of many jobs that failed together spread out without any one
/// coming back too early.
pub fn retry_at(
    job: &job::Model,
    provider: &provider::Model,
    kind: ErrorKind,
    retry_after: Option<DateTime<Utc>>,
    next_tick: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    if !kind.is_retryable() || job.attempt >= provider.max_attempts {
        return None;
    }
    let exponent = u32::try_from(job.attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let backoff = TimeDelta::milliseconds(i64::from(provider.retry_base_delay_ms))
        .checked_mul(1 << exponent)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    let half = backoff / 2;
    let spread = half.num_milliseconds() as f64 * jitter.clamp(0.0, 1.0);
    let delay = half + TimeDelta::milliseconds(spread as i64);
    let mut at = now + delay;
    if let Some(asked) = retry_after.filter(|t| *t > at) {
        at = asked;
    }
    match next_tick {
        Some(tick) if at >= tick => None,
        _ => Some(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::{JobId, JobState, JobTrigger, ProviderId, ProviderKind};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn provider() -> provider::Model {
        provider::Model {
            id: ProviderId(1),
            name: "acme".into(),
            kind: ProviderKind::FeverXml,
            url: "http://x".into(),
            schedule: "0 */5 * * * *".into(),
            enabled: true,
            time_zone: "UTC".into(),
            connect_timeout_ms: 1,
            read_timeout_ms: 1,
            total_timeout_ms: 1,
            max_body_bytes: 1,
            max_attempts: 3,
            retry_base_delay_ms: 2_000,
            freshness_ms: None,
            backoff_after: 3,
            pause_after: 30,
            etag: None,
            last_modified: None,
            body_hash: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn job(attempt: i32) -> job::Model {
        job::Model {
            id: JobId(1),
            provider_id: ProviderId(1),
            state: JobState::Failed,
            trigger: JobTrigger::Schedule,
            tick: Some(now()),
            scheduled_for: now(),
            attempt,
            retry_of: None,
            replay_of: None,
            run_at: now(),
            started_at: Some(now()),
            finished_at: Some(now()),
            worker_id: None,
            lease_token: None,
            lease_expires_at: None,
            heartbeat_at: None,
            created_at: now(),
        }
    }

    fn seconds_after_now(at: Option<DateTime<Utc>>) -> Option<i64> {
        at.map(|t| (t - now()).num_milliseconds())
    }

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half() {
        let p = provider();
        let at = |attempt, jitter| {
            seconds_after_now(retry_at(
                &job(attempt),
                &p,
                ErrorKind::Timeout,
                None,
                None,
                now(),
                jitter,
            ))
        };
        assert_eq!(at(1, 0.0), Some(1_000));
        assert_eq!(at(1, 0.999_9), Some(1_999));
        assert_eq!(at(2, 0.0), Some(2_000));
        assert_eq!(at(2, 0.5), Some(3_000));
        assert_eq!(at(3, 0.0), None, "the third attempt was the last");
    }

    #[test]
    fn only_errors_a_retry_can_help_are_retried() {
        let p = provider();
        for kind in [ErrorKind::Parse, ErrorKind::Config, ErrorKind::Cancelled] {
            assert_eq!(
                retry_at(&job(1), &p, kind, None, None, now(), 0.0),
                None,
                "{kind:?}"
            );
        }
        for kind in [
            ErrorKind::Connect,
            ErrorKind::HttpStatus,
            ErrorKind::Interrupted,
            ErrorKind::Database,
        ] {
            assert!(
                retry_at(&job(1), &p, kind, None, None, now(), 0.0).is_some(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_but_never_past_the_next_tick() {
        let p = provider();
        let asked = now() + TimeDelta::seconds(30);
        let at = retry_at(
            &job(1),
            &p,
            ErrorKind::HttpStatus,
            Some(asked),
            None,
            now(),
            0.0,
        );
        assert_eq!(at, Some(asked));
        let tick = now() + TimeDelta::seconds(20);
        assert_eq!(
            retry_at(
                &job(1),
                &p,
                ErrorKind::HttpStatus,
                Some(asked),
                Some(tick),
                now(),
                0.0
            ),
            None,
            "the next tick comes first"
        );
        let early = now() + TimeDelta::milliseconds(500);
        assert_eq!(
            seconds_after_now(retry_at(
                &job(1),
                &p,
                ErrorKind::HttpStatus,
                Some(early),
                None,
                now(),
                0.0
            )),
            Some(1_000),
            "a Retry-After sooner than the backoff does not shorten it"
        );
    }
}
