//! `audit_log`: every action taken through the API's admin mutations (see
//! `query::audit_log`).

use sea_orm::entity::prelude::*;

/// One action: when, by which token, what, on what, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Its number, in the order actions ended.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When it ended.
    pub at: DateTimeUtc,
    /// The token's name (never the token).
    pub actor: String,
    /// The mutation, as the schema names it (`cancelJob`).
    pub action: String,
    /// What it acted on (`provider acme`, `job 42`).
    #[sea_orm(column_type = "Text")]
    pub target: String,
    /// `ok`, or the error code the client got.
    pub result: String,
    /// The job it created, or the message the client got.
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
}

/// Relations of an entry (none: it outlives what it names).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
