//! Error groups: failures grouped by provider, error kind and normalised message, kept as
//! they are recorded (one row per group and hour) and read over a range.
//!
//! A message is normalised by replacing what varies from one failure of the same problem to
//! the next: addresses (`<addr>`), ids and long hex strings (`<id>`) and numbers (`<n>`).
//! "connection refused (10.0.0.7:8080)" and "connection refused (10.0.0.9:81)" are one group.

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait as _, OnConflict},
};

use crate::{ErrorKind, JobId, ProviderId, error_group::*, time};

/// The longest normalised message kept, in characters.
pub const MESSAGE_CHARS: usize = 300;

/// `message` with its addresses, ids and numbers replaced, cut at [`MESSAGE_CHARS`].
pub fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * MESSAGE_CHARS));
    let mut rest = message;
    let mut chars = 0;
    while let Some(c) = rest.chars().next() {
        if chars >= MESSAGE_CHARS {
            out.push('…');
            break;
        }
        let word_start = !out.chars().next_back().is_some_and(char::is_alphanumeric);
        let replaced = if word_start {
            address_len(rest)
                .map(|n| ("<addr>", n))
                .or_else(|| id_len(rest).map(|n| ("<id>", n)))
        } else {
            None
        };
        let (text, n) = match replaced {
            Some(found) => found,
            None if c.is_ascii_digit() => ("<n>", number_len(rest)),
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
                chars += 1;
                continue;
            }
        };
        out.push_str(text);
        rest = &rest[n..];
        chars += text.len();
    }
    out
}

/// The group of a failure of `kind` whose normalised message is `normalised`.
pub fn fingerprint(kind: ErrorKind, normalised: &str) -> i64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(kind.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(normalised.as_bytes());
    // Any 64 bits will do as a key: the sign is only how they are stored.
    i64::from_ne_bytes(hasher.digest().to_ne_bytes())
}

/// Bytes of an address at the start of `text`: IPv4 (`10.0.0.7`, with a port or not), IPv6
/// in brackets (`[::1]:80`), or bare with `::` (`fe80::1`).
fn address_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let ended = |n: usize| {
        !bytes
            .get(n)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b':')
    };
    let with_port = |n: usize| match bytes.get(n) {
        Some(b':') if bytes.get(n + 1).is_some_and(u8::is_ascii_digit) => {
            n + 1 + run(&bytes[n + 1..], |b| b.is_ascii_digit())
        }
        _ => n,
    };
    if bytes.first() == Some(&b'[') {
        let inside = run(&bytes[1..], |b| {
            b.is_ascii_hexdigit() || b == b':' || b == b'.'
        });
        if inside >= 2 && bytes.get(1 + inside) == Some(&b']') {
            return Some(with_port(inside + 2));
        }
        return None;
    }
    // IPv4: four groups of one to three digits.
    let mut n = 0;
    for group in 0..4 {
        let digits = run(&bytes[n..], |b| b.is_ascii_digit());
        if !(1..=3).contains(&digits) {
            break;
        }
        n += digits;
        if group == 3 {
            let end = with_port(n);
            return ended(end).then_some(end);
        }
        if bytes.get(n) != Some(&b'.') {
            break;
        }
        n += 1;
    }
    // Bare IPv6: hex digits and colons with a `::` in them.
    let n = run(bytes, |b| b.is_ascii_hexdigit() || b == b':');
    let candidate = &text[..n];
    (n >= 3 && candidate.contains("::") && ended(n)).then_some(n)
}

/// Bytes of an id at the start of `text`: a UUID, or a run of eight or more hex digits with
/// at least one decimal digit, ending a word.
fn id_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let n = run(bytes, |b| b.is_ascii_hexdigit() || b == b'-');
    let candidate = &text[..n];
    let ends_word = !bytes.get(n).is_some_and(u8::is_ascii_alphanumeric);
    let uuid = n == 36 && candidate.split('-').map(str::len).eq([8, 4, 4, 4, 12]);
    if uuid && ends_word {
        return Some(n);
    }
    let hex = run(bytes, |b| b.is_ascii_hexdigit());
    let ends_word = !bytes.get(hex).is_some_and(u8::is_ascii_alphanumeric);
    let has_digit = bytes[..hex].iter().any(u8::is_ascii_digit);
    let has_letter = bytes[..hex].iter().any(u8::is_ascii_alphabetic);
    (hex >= 8 && has_digit && has_letter && ends_word).then_some(hex)
}

/// Bytes of a number at the start of `text`: digits, with a decimal part or not.
fn number_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let whole = run(bytes, |b| b.is_ascii_digit());
    match bytes.get(whole) {
        Some(b'.') if bytes.get(whole + 1).is_some_and(u8::is_ascii_digit) => {
            whole + 1 + run(&bytes[whole + 1..], |b| b.is_ascii_digit())
        }
        _ => whole,
    }
}

fn run(bytes: &[u8], matches: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|b| matches(**b)).count()
}

/// A failure to count.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// Its provider.
    pub provider: ProviderId,
    /// Its job.
    pub job: JobId,
    /// Why it failed.
    pub kind: ErrorKind,
    /// What failed, as recorded.
    pub message: &'a str,
    /// When it failed.
    pub at: DateTime<Utc>,
}

/// Counts `failure` in its group's hour and returns the group's fingerprint: to be called in
/// the transaction that records the failure.
pub async fn record(db: &impl ConnectionTrait, failure: &Failure<'_>) -> Result<i64, DbErr> {
    let message = normalise(failure.message);
    let fingerprint = fingerprint(failure.kind, &message);
    let at = time::truncate(failure.at);
    Entity::insert(ActiveModel {
        provider_id: Set(failure.provider),
        fingerprint: Set(fingerprint),
        hour: Set(hour_of(at)),
        error_kind: Set(failure.kind),
        message: Set(message),
        failures: Set(1),
        first_seen: Set(at),
        last_seen: Set(at),
        last_job_id: Set(failure.job),
    })
    .on_conflict(
        OnConflict::columns([Column::ProviderId, Column::Fingerprint, Column::Hour])
            .value(
                Column::Failures,
                Expr::col((Entity, Column::Failures)).add(1),
            )
            .update_columns([Column::LastSeen, Column::LastJobId])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(fingerprint)
}

/// The first instant of `at`'s hour.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Which groups to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFilter {
    /// Only this provider's.
    pub provider: Option<ProviderId>,
    /// Failures from this instant (counted from the start of its hour).
    pub from: DateTime<Utc>,
    /// Failures up to this instant (counted to the end of its hour).
    pub to: DateTime<Utc>,
}

/// A group's failures over a range.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Group {
    /// The provider.
    pub provider_id: ProviderId,
    /// Hash of the kind and normalised message.
    pub fingerprint: i64,
    /// Why they failed.
    pub error_kind: ErrorKind,
    /// What failed, normalised.
    pub message: String,
    /// How many failed in the range.
    pub failures: i64,
    /// The first of them.
    pub first_seen: DateTime<Utc>,
    /// The last of them.
    pub last_seen: DateTime<Utc>,
    /// The last of them.
    pub last_job_id: JobId,
}

/// Up to `limit` groups with failures in `filter`'s range, the one that failed last first
/// (by its last job), from after the group whose last job is `before` (exclusive).
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &GroupFilter,
    before: Option<JobId>,
    limit: u64,
) -> Result<Vec<Group>, DbErr> {
    let last_job = Expr::cust("MAX(last_job_id)");
    let mut select = Entity::find()
        .select_only()
        .column(Column::ProviderId)
        .column(Column::Fingerprint)
        .column_as(Expr::cust("MIN(error_kind)"), "error_kind")
        .column_as(Expr::cust("MIN(message)"), "message")
        // SUM of a bigint is a numeric on PostgreSQL: cast back.
        .column_as(Expr::cust("CAST(SUM(failures) AS BIGINT)"), "failures")
        .column_as(Expr::cust("MIN(first_seen)"), "first_seen")
        .column_as(Expr::cust("MAX(last_seen)"), "last_seen")
        .column_as(last_job.clone(), "last_job_id")
        .filter(Column::Hour.gte(hour_of(time::truncate(filter.from))))
        .filter(Column::Hour.lte(time::truncate(filter.to)))
        .group_by(Column::ProviderId)
        .group_by(Column::Fingerprint)
        .order_by_desc(last_job.clone())
        .limit(limit);
    if let Some(provider) = filter.provider {
        select = select.filter(Column::ProviderId.eq(provider));
    }
    if let Some(before) = before {
        select = select.having(last_job.lt(before.0));
    }
    select.into_model::<Group>().all(db).await
}

/// Drops the hours before `before` (retention).
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    Entity::delete_many()
        .filter(Column::Hour.lt(hour_of(time::truncate(before))))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_varies_between_failures_of_one_problem_is_replaced() {
        for (message, normalised) in [
            (
                "cannot reach the provider: connection refused (127.0.0.1:9)",
                "cannot reach the provider: connection refused (<addr>)",
            ),
            (
                "refused: [::1]:8080 and fe80::1",
                "refused: <addr> and <addr>",
            ),
            (
                "the provider answered 503 after 2.5 s",
                "the provider answered <n> after <n> s",
            ),
            (
                "the feed is not well-formed XML at byte 1234: unexpected `<`",
                "the feed is not well-formed XML at byte <n>: unexpected `<`",
            ),
            (
                "lease 1b4e28ba-2fa1-11d2-883f-0016d3cca427 lost, body deadbeef0042",
                "lease <id> lost, body <id>",
            ),
            ("utf8 and UTF-8", "utf<n> and UTF-<n>"),
            ("the feed is empty", "the feed is empty"),
            ("décembre 2026, 10 h", "décembre <n>, <n> h"),
        ] {
            assert_eq!(normalise(message), normalised, "{message}");
        }
        let a = normalise("connection refused (10.0.0.7:8080)");
        let b = normalise("connection refused (10.0.0.9:81)");
        assert_eq!(
            fingerprint(ErrorKind::Connect, &a),
            fingerprint(ErrorKind::Connect, &b)
        );
        assert_ne!(
            fingerprint(ErrorKind::Connect, &a),
            fingerprint(ErrorKind::Timeout, &a)
        );
    }

    #[test]
    fn a_long_message_is_cut() {
        let long = "x".repeat(10_000);
        let normalised = normalise(&long);
        assert_eq!(normalised.chars().count(), MESSAGE_CHARS + 1);
        assert!(normalised.ends_with('…'));
        // Numbers count as what they become.
        let digits = "1 ".repeat(10_000);
        assert!(normalise(&digits).chars().count() <= MESSAGE_CHARS + 4);
    }
}
