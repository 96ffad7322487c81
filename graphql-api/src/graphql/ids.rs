//! Global ids: each object's one id, the same in its `id` field, in `node(id:)`, in `job(id:)`
//! and in mutation arguments.
//!
//! An event's id is its UUID, already unique across providers and databases. A job's, an
//! outcome's and a provider's is `Type:number` in URL-safe base64 (`Job:42` is `Sm9iOjQy`):
//! opaque, so clients pass it back rather than build it. A job's bare number is still accepted
//! where a job id is read, for clients written before global ids; `Job.databaseId` gives it.

use async_graphql::ID;
use entity::{EventId, JobId, ProviderId};

use super::cursors;
use crate::error::ApiError;

/// What a global id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobalId {
    /// An event.
    Event(EventId),
    /// A job.
    Job(JobId),
    /// A job's outcome (one per job).
    JobOutcome(JobId),
    /// A provider.
    Provider(ProviderId),
    /// A provider's error group (its fingerprint; see `entity::query::error_group`).
    ErrorGroup(ProviderId, i64),
}

impl GlobalId {
    /// The id as clients see it.
    pub(crate) fn to_id(self) -> ID {
        let (kind, number) = match self {
            Self::Event(id) => return ID(id.0.to_string()),
            Self::Job(id) => ("Job", id.0),
            Self::JobOutcome(id) => ("JobOutcome", id.0),
            Self::Provider(id) => ("Provider", id.0),
            Self::ErrorGroup(provider, fingerprint) => {
                return ID(cursors::encode(&format!(
                    "ErrorGroup:{}:{fingerprint}",
                    provider.0
                )));
            }
        };
        ID(cursors::encode(&format!("{kind}:{number}")))
    }

    /// What `id` names; `BAD_USER_INPUT` for an id this API did not give.
    pub(crate) fn parse(id: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::BadUserInput(format!("`{id}` is not an id of this API"));
        if let Ok(uuid) = id.parse::<uuid::Uuid>() {
            return Ok(Self::Event(EventId(uuid)));
        }
        let raw = cursors::decode(id).ok_or_else(invalid)?;
        let (kind, number) = raw.split_once(':').ok_or_else(invalid)?;
        if kind == "ErrorGroup" {
            let (provider, fingerprint) = number.split_once(':').ok_or_else(invalid)?;
            let provider = canonical(provider).filter(|n| *n > 0).ok_or_else(invalid)?;
            let fingerprint = canonical(fingerprint).ok_or_else(invalid)?;
            return Ok(Self::ErrorGroup(ProviderId(provider), fingerprint));
        }
        // Only the canonical spelling: one object, one id.
        let number: i64 = number
            .parse()
            .ok()
            .filter(|n: &i64| *n > 0 && n.to_string() == number)
            .ok_or_else(invalid)?;
        match kind {
            "Job" => Ok(Self::Job(JobId(number))),
            "JobOutcome" => Ok(Self::JobOutcome(JobId(number))),
            "Provider" => Ok(Self::Provider(ProviderId(number))),
            _ => Err(invalid()),
        }
    }
}

/// `text` as a number, when it is the number's only spelling.
fn canonical(text: &str) -> Option<i64> {
    text.parse().ok().filter(|n: &i64| n.to_string() == text)
}

/// Reads a job id argument: a job's global id, or (deprecated) its bare number.
pub(crate) fn job_id(id: &ID) -> Result<JobId, ApiError> {
    if let Some(number) = id.parse::<i64>().ok().filter(|n| *n > 0) {
        return Ok(JobId(number));
    }
    match GlobalId::parse(id) {
        Ok(GlobalId::Job(job)) => Ok(job),
        _ => Err(ApiError::BadUserInput(format!(
            "`{}` is not a job id",
            id.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_reads_back_as_what_it_names() {
        let event = EventId(uuid::Uuid::from_u128(7));
        for id in [
            GlobalId::Event(event),
            GlobalId::Job(JobId(42)),
            GlobalId::JobOutcome(JobId(42)),
            GlobalId::Provider(ProviderId(3)),
            GlobalId::ErrorGroup(ProviderId(3), -7_123_456_789),
            GlobalId::ErrorGroup(ProviderId(3), 0),
        ] {
            assert_eq!(GlobalId::parse(&id.to_id()).ok(), Some(id), "{id:?}");
        }
        assert_eq!(GlobalId::Job(JobId(42)).to_id().as_str(), "Sm9iOjQy");
        assert_ne!(
            GlobalId::Job(JobId(42)).to_id(),
            GlobalId::JobOutcome(JobId(42)).to_id()
        );
    }

    #[test]
    fn ids_this_api_did_not_give_are_refused() {
        for id in [
            "",
            "42x",
            "Sm9iOg",     // "Job:"
            "Sm9iOi0x",   // "Job:-1"
            "Sm9iOjA0Mg", // "Job:042"
            "VXNlcjo0Mg", // "User:42"
            "not base64 at all!",
        ] {
            assert!(GlobalId::parse(id).is_err(), "{id}");
        }
    }

    #[test]
    fn a_job_is_read_by_its_global_id_or_its_number() {
        assert_eq!(job_id(&ID::from("Sm9iOjQy")).ok(), Some(JobId(42)));
        assert_eq!(job_id(&ID::from("42")).ok(), Some(JobId(42)));
        let provider = GlobalId::Provider(ProviderId(42)).to_id();
        assert!(job_id(&provider).is_err());
        assert!(job_id(&ID::from("0")).is_err());
    }
}
