//! `error_group`: one provider's failures with the same error kind and normalised message,
//! counted by the hour (see `query::error_group`).

use sea_orm::entity::prelude::*;

use crate::{ErrorKind, JobId, ProviderId};

/// A group's failures in one hour.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_group")]
pub struct Model {
    /// The provider.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: ProviderId,
    /// Hash of the error kind and the normalised message.
    #[sea_orm(primary_key, auto_increment = false)]
    pub fingerprint: i64,
    /// The hour counted (its first instant).
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: DateTimeUtc,
    /// Why they failed.
    pub error_kind: ErrorKind,
    /// What failed, normalised (numbers, ids and addresses replaced).
    pub message: String,
    /// How many failed that hour.
    pub failures: i64,
    /// When the first of them failed.
    pub first_seen: DateTimeUtc,
    /// When the last of them failed.
    pub last_seen: DateTimeUtc,
    /// The last of them.
    pub last_job_id: JobId,
}

/// Relations of an error group.
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
