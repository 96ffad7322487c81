//! The API's errors. Each has a stable code for clients (`extensions.code` in GraphQL, `code`
//! in REST); an internal error is logged with its cause and reaches the client only as
//! "internal error", so database text never leaks.

use async_graphql::ErrorExtensions;

use crate::access::Role;

/// Every error a resolver returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or its arguments are invalid.
    #[error("{0}")]
    BadUserInput(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the current state (a job is already queued, say).
    #[error("{0}")]
    Conflict(String),
    /// What the client asks to resume from is no longer kept (an old subscription cursor).
    #[error("{0}")]
    Expired(String),
    /// The operation needs a token with this role and none was given.
    #[error("this needs {} token (Authorization: Bearer ...)", role_article(*.0))]
    Unauthenticated(Role),
    /// The token given does not allow the operation.
    #[error("the token given does not allow this operation")]
    Forbidden,
    /// A dependency is down (the database, typically); retrying later may work.
    #[error("service unavailable, retry later")]
    Unavailable,
    /// The answer would be larger than the server sends.
    #[error("the response would be larger than {0} bytes: ask for fewer items or fields")]
    ResponseTooLarge(usize),
    /// The request took longer than the server allows.
    #[error("the request took longer than {0} ms")]
    Timeout(u64),
    /// Anything else; the cause is logged, never shown.
    #[error("internal error")]
    Internal,
}

fn role_article(role: Role) -> &'static str {
    match role {
        Role::Viewer => "a viewer (or admin)",
        Role::Admin => "an admin",
    }
}

impl ApiError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::Expired(_) => "EXPIRED",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::Unavailable => "UNAVAILABLE",
            Self::ResponseTooLarge(_) => "RESPONSE_TOO_LARGE",
            Self::Timeout(_) => "TIMEOUT",
            Self::Internal => "INTERNAL",
        }
    }

    /// No provider is called `name`.
    pub fn unknown_provider(name: &str) -> Self {
        Self::NotFound(format!("no provider is called `{name}`"))
    }

    /// An internal failure: logs `cause` with its chain and returns the opaque error.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %error_chain(cause), "internal error");
        Self::Internal
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_unreachable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::Unavailable
        } else {
            Self::internal(&err)
        }
    }
}

/// Whether `err` says the database could not be reached (no connection, a connection that
/// broke, a closed pool), as opposed to a query it refused.
pub fn is_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            matches!(
                **e,
                Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| e.set("code", self.code()))
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        err.extend()
    }
}

/// `err` and its sources, joined with ": ".
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_carries_its_code_and_hides_internals() {
        let db_error = sea_orm::DbErr::Custom("relation \"secret_table\" does not exist".into());
        let cases = [
            (
                ApiError::BadUserInput("bad".into()),
                "BAD_USER_INPUT",
                "bad",
            ),
            (
                ApiError::NotFound("no such job".into()),
                "NOT_FOUND",
                "no such job",
            ),
            (
                ApiError::Unauthenticated(Role::Admin),
                "UNAUTHENTICATED",
                "this needs an admin token (Authorization: Bearer ...)",
            ),
            (
                ApiError::Unauthenticated(Role::Viewer),
                "UNAUTHENTICATED",
                "this needs a viewer (or admin) token (Authorization: Bearer ...)",
            ),
            (
                ApiError::ResponseTooLarge(1024),
                "RESPONSE_TOO_LARGE",
                "the response would be larger than 1024 bytes: ask for fewer items or fields",
            ),
            (
                ApiError::Timeout(10),
                "TIMEOUT",
                "the request took longer than 10 ms",
            ),
            (ApiError::Expired("gone".into()), "EXPIRED", "gone"),
            (
                ApiError::Forbidden,
                "FORBIDDEN",
                "the token given does not allow this operation",
            ),
            (
                ApiError::Unavailable,
                "UNAVAILABLE",
                "service unavailable, retry later",
            ),
            (ApiError::from(db_error), "INTERNAL", "internal error"),
        ];
        for (err, code, message) in cases {
            let gql: async_graphql::Error = err.into();
            assert_eq!(gql.message, message);
            let ext = gql.extensions.expect("extensions are set");
            assert_eq!(ext.get("code"), Some(&async_graphql::Value::from(code)));
        }
    }
}
