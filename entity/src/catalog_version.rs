//! `catalog_version`: one row whose version grows with every commit that changes events.
//!
//! The ingestor bumps it first thing in its write transaction, which also serialises those
//! transactions, so versions become visible in order; the API's search index loads the events
//! whose `catalog_version` is above the one it holds.

use sea_orm::entity::prelude::*;

/// The single catalogue version row (`id` is always 1).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_version")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Grows by one per commit that changed events.
    pub version: i64,
    /// When it last grew.
    pub updated_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
