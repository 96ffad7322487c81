//! The audit log: written by the API's admin mutations, read by operators.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::{audit_log::*, time};

/// An action to record.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// The token's name.
    pub actor: &'a str,
    /// The mutation.
    pub action: &'a str,
    /// What it acted on.
    pub target: &'a str,
    /// `ok` or the error code.
    pub result: &'a str,
    /// The job it created, or the client's error message.
    pub detail: Option<&'a str>,
}

/// Records `action`.
pub async fn record(db: &impl ConnectionTrait, action: &Action<'_>) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        id: NotSet,
        at: Set(time::truncate(action.at)),
        actor: Set(action.actor.to_owned()),
        action: Set(action.action.to_owned()),
        target: Set(action.target.to_owned()),
        result: Set(action.result.to_owned()),
        detail: Set(action.detail.map(str::to_owned)),
    })
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// Up to `limit` entries older than `before` (from the newest without it), newest first.
pub async fn newest(
    db: &impl ConnectionTrait,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut select = Entity::find().order_by_desc(Column::Id).limit(limit);
    if let Some(before) = before {
        select = select.filter(Column::Id.lt(before));
    }
    select.all(db).await
}
