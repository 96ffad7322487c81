//! Newtype identifiers, so a job id is never passed where a provider id is meant.

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares an id newtype stored as its inner type.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, DeriveValueType, Serialize,
            Deserialize,
        )]
        pub struct $name(pub $inner);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A provider's database id.
    ProviderId(i64)
);
id_type!(
    /// A job's database id; it grows with creation order.
    JobId(i64)
);
id_type!(
    /// An event's stable id: a UUID v5 of (provider name, base event id, event id), the same
    /// in every database and forever.
    EventId(Uuid)
);

/// The namespace of event ids (itself the UUID v5 of `https://fever.events/event` in the URL
/// namespace). Changing it would change every event id: never do.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x5e54_fefe_f425_503f_97ca_fa64_99ec_f4a1);

impl EventId {
    /// The id of the event `event_id` under `base_event_id` of the provider named `provider`.
    ///
    /// The parts are joined with a unit separator, which none of them may contain, so two
    /// different triples never hash the same input.
    pub fn derive(provider: &str, base_event_id: &str, event_id: &str) -> Self {
        let name = format!("{provider}\u{1f}{base_event_id}\u{1f}{event_id}");
        Self(Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()))
    }
}

// Only integer keys come back as "last insert id"; an event id is always given, never
// generated, so this conversion is never used but SeaORM requires it of primary keys.
impl sea_orm::TryFromU64 for EventId {
    fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
        Err(sea_orm::DbErr::ConvertFromU64("EventId"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_and_distinguish_each_part() {
        let id = EventId::derive("acme", "322", "1642");
        assert_eq!(id, EventId::derive("acme", "322", "1642"));
        assert_ne!(id, EventId::derive("acme", "1591", "1642"));
        assert_ne!(id, EventId::derive("other", "322", "1642"));
        assert_eq!(id.0.get_version_num(), 5);
        // Pinned: a change here would change every stored event's id.
        assert_eq!(id.0.to_string(), "9645c3fd-24fa-5d32-909d-f4bd76c5eb03");
        let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://fever.events/event");
        assert_eq!(ns, EVENT_NAMESPACE);
    }
}
