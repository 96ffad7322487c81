//! Resolvers and their output types. A resolver validates its arguments, calls one query
//! function of the `entity` crate and converts the rows to the output types here.

mod provider;

pub use provider::{Provider, ProviderKind};

use async_graphql::{Context, Object, Result};
use sea_orm::DatabaseConnection;

use crate::error::ApiError;

/// The database the schema was built with.
pub(crate) fn db<'a>(ctx: &Context<'a>) -> Result<&'a DatabaseConnection, ApiError> {
    ctx.data::<DatabaseConnection>().map_err(|_| {
        tracing::error!("the schema was built without a database");
        ApiError::Internal
    })
}

/// Entry points for reading.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Every provider, by name.
    async fn providers(&self, ctx: &Context<'_>) -> Result<Vec<Provider>> {
        let rows = entity::query::provider::list(db(ctx)?)
            .await
            .map_err(ApiError::from)?;
        Ok(rows.into_iter().map(Provider::from).collect())
    }

    /// The provider called `name`, or null.
    async fn provider(&self, ctx: &Context<'_>, name: String) -> Result<Option<Provider>> {
        let row = entity::query::provider::find_by_name(db(ctx)?, &name)
            .await
            .map_err(ApiError::from)?;
        Ok(row.map(Provider::from))
    }
}
