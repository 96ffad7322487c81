//! `job_change`: which events a completed job inserted, changed, left unchanged and found
//! no longer listed, the first few of each (see `query::job_change`).

use sea_orm::entity::prelude::*;

use crate::JobId;

/// A job's changed events.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_change")]
pub struct Model {
    /// The job.
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: JobId,
    /// The ids, as the JSON of `query::job_change::ChangedIds`.
    #[sea_orm(column_type = "Text")]
    pub ids: String,
}

/// Relations of a job's changes.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its job (the changes go with it).
    #[sea_orm(
        belongs_to = "super::job::Entity",
        from = "Column::JobId",
        to = "super::job::Column::Id",
        on_delete = "Cascade"
    )]
    Job,
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
