//! The enumerations stored as text columns. Each value's string is part of the schema (the
//! migration's CHECK constraints list them), of the GraphQL API and of the outcome JSON.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a job is in its life: `pending -> running -> completed | failed`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker to claim it (at or after its `run_at`).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Claimed by a worker that holds its lease.
    #[sea_orm(string_value = "running")]
    Running,
    /// Finished and stored what the feed held.
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Finished without storing anything; the outcome says why.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// What created a job.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum JobTrigger {
    /// A tick of the provider's cron schedule.
    #[sea_orm(string_value = "schedule")]
    Schedule,
    /// An operator (`ingestor collect`, or the API's trigger mutation).
    #[sea_orm(string_value = "manual")]
    Manual,
    /// The retry of a failed job.
    #[sea_orm(string_value = "retry")]
    Retry,
    /// Parses the stored feed body of an earlier job again (`ingestor replay`, the API's
    /// `replayJob`), without contacting the provider.
    #[sea_orm(string_value = "replay")]
    Replay,
}

/// Why a job failed. Each kind says whether a retry can help ([`ErrorKind::is_retryable`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The provider did not answer in time (connect, read or total timeout).
    #[sea_orm(string_value = "timeout")]
    Timeout,
    /// The provider could not be reached (DNS, refused, reset, TLS).
    #[sea_orm(string_value = "connect")]
    Connect,
    /// The provider answered with an error status.
    #[sea_orm(string_value = "http_status")]
    HttpStatus,
    /// The feed exceeded the size cap (compressed or decompressed).
    #[sea_orm(string_value = "too_large")]
    TooLarge,
    /// The feed is not well-formed XML, is truncated, or is not a known dialect.
    #[sea_orm(string_value = "parse")]
    Parse,
    /// Our database failed while storing the result.
    #[sea_orm(string_value = "database")]
    Database,
    /// The worker running the job stopped before finishing it (lease expired, shutdown).
    #[sea_orm(string_value = "interrupted")]
    Interrupted,
    /// An operator cancelled the job.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// The provider's configuration cannot be used (unknown kind, bad URL).
    #[sea_orm(string_value = "config")]
    Config,
    /// The provider's address is refused by the destination policy: private, loopback,
    /// link-local or metadata, given literally, resolved from its name or reached by a
    /// redirect (see `entity::destination`).
    #[sea_orm(string_value = "destination")]
    Destination,
}

impl ErrorKind {
    /// Whether the failure is the provider's doing (its address, its answer, its feed), so it
    /// counts towards its backoff and pause; an interrupted worker, a cancel or our own
    /// database do not.
    pub fn blames_provider(self) -> bool {
        match self {
            Self::Timeout
            | Self::Connect
            | Self::HttpStatus
            | Self::TooLarge
            | Self::Parse
            | Self::Config
            | Self::Destination => true,
            Self::Database | Self::Interrupted | Self::Cancelled => false,
        }
    }

    /// Whether running the same job again later may succeed.
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Timeout
            | Self::Connect
            | Self::HttpStatus
            | Self::TooLarge
            | Self::Database
            | Self::Interrupted => true,
            // A malformed feed is usually a provider bug that a retry minutes later does not
            // fix; the next tick tries again anyway.
            // A refused destination stays refused until an operator changes the URL or the
            // policy.
            Self::Parse | Self::Cancelled | Self::Config | Self::Destination => false,
        }
    }

    /// The stable string stored in the database and shown to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::HttpStatus => "http_status",
            Self::TooLarge => "too_large",
            Self::Parse => "parse",
            Self::Database => "database",
            Self::Interrupted => "interrupted",
            Self::Cancelled => "cancelled",
            Self::Config => "config",
            Self::Destination => "destination",
        }
    }
}

/// Which collector reads a provider's feed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The Fever XML feed, in either dialect (`eventList` or `planList`).
    #[sea_orm(string_value = "fever_xml")]
    FeverXml,
}

impl ProviderKind {
    /// The stable string stored in the database and accepted on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FeverXml => "fever_xml",
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fever_xml" => Ok(Self::FeverXml),
            other => Err(format!(
                "unknown provider kind `{other}` (known: fever_xml)"
            )),
        }
    }
}
