//! `job_count`: how many jobs each provider has in each state. Triggers on `job` keep it
//! (see the `migration` crate); nothing in Rust writes it.

use sea_orm::entity::prelude::*;

use crate::{JobState, ProviderId};

/// The number of one provider's jobs in one state.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_count")]
pub struct Model {
    /// The provider.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: ProviderId,
    /// The state.
    #[sea_orm(primary_key, auto_increment = false)]
    pub state: JobState,
    /// How many of its jobs are in it.
    pub n: i64,
}

/// Relations of a count (none: it outlives no provider, the triggers keep it).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
