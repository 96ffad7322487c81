//! `job_tally`: every finished job, counted for good, by provider, status, error kind and
//! duration bucket (see `query::job_tally`). Retention never prunes it.

use sea_orm::entity::prelude::*;

use crate::{JobState, ProviderId};

/// How many of a provider's jobs finished with one status and error kind, in one duration
/// bucket, and their total duration.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_tally")]
pub struct Model {
    /// The provider.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: ProviderId,
    /// `Completed` or `Failed`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: JobState,
    /// Why they failed (`""` for completed jobs).
    #[sea_orm(primary_key, auto_increment = false)]
    pub error_kind: String,
    /// The index of the first bound of `query::job_tally::BOUNDS_MS` at or above their
    /// duration (the bound count: longer).
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: i16,
    /// How many.
    pub jobs: i64,
    /// Their durations added up, in milliseconds.
    pub duration_ms: i64,
}

/// Relations of a tally.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its provider.
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderId",
        to = "super::provider::Column::Id",
        on_delete = "Cascade"
    )]
    Provider,
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
