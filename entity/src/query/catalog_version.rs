//! Queries over `catalog_version`.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};

use crate::{
    catalog_version::{Column, Entity},
    time,
};

/// The current catalogue version.
pub async fn current(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(Entity::find_by_id(1)
        .one(db)
        .await?
        .map_or(0, |row| row.version))
}

/// Takes the next catalogue version. Call it first in a write transaction: the row lock it
/// takes serialises the transactions that change events, so versions commit in order and a
/// reader that has seen version N has seen every change up to N.
pub async fn bump(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let rows = Entity::update_many()
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(time::now()))
        .filter(Column::Id.eq(1))
        .exec_with_returning(db)
        .await?;
    rows.first()
        .map(|row| row.version)
        .ok_or_else(|| DbErr::RecordNotFound("catalog_version row 1".to_owned()))
}
