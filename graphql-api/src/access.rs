//! Who is asking: named API tokens, each with a role, and what a request presented.
//!
//! Event search is public (unless `--search-requires-viewer`); everything an operator sees
//! (providers, jobs, outcomes, stats, live job updates) needs a `viewer` token; acting needs an
//! `admin` token. Tokens are configured as `name:role:token` (`API_TOKENS`), plus `ADMIN_TOKEN`
//! as one admin token called `admin`. They are kept only as SHA-256 digests and compared in
//! constant time, and no `Debug` or error shows one.

use std::sync::Arc;

use async_graphql::{Context, Enum, Guard};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The shortest token accepted: a guessable token is no token.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum)]
pub enum Role {
    /// Reads everything an operator sees: providers, jobs, outcomes, stats, live updates.
    Viewer,
    /// Everything a viewer can, and acts: triggers, retries, enables, edits providers.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Self::Viewer),
            "admin" => Ok(Self::Admin),
            _ => Err(()),
        }
    }
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name, as configured (never the token).
    pub name: Arc<str>,
    /// What it allows.
    pub role: Role,
}

struct Token {
    principal: Principal,
    digest: [u8; 32],
}

/// A token setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTokens {
    /// Not `name:role:token`.
    #[error("API_TOKENS entry {0} is not `name:role:token`")]
    Shape(usize),
    /// The name is empty or not an identifier.
    #[error("API_TOKENS entry {0}: the name must be 1 to 64 letters, digits, `-`, `_` or `.`")]
    Name(usize),
    /// The role is not `viewer` or `admin`.
    #[error("API_TOKENS entry {0}: the role must be `viewer` or `admin`")]
    Role(usize),
    /// The token is too short.
    #[error("{0}: a token must be at least {MIN_TOKEN_LEN} characters")]
    TooShort(String),
    /// Two tokens share a name or a value.
    #[error("API_TOKENS: two tokens share the name or the value of `{0}`")]
    Duplicate(String),
}

/// The configured tokens.
#[derive(Clone, Default)]
pub struct Tokens(Arc<Vec<Token>>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .map(|t| format!("{}:{:?}:***", t.principal.name, t.principal.role)),
            )
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// Reads `name:role:token` entries and the single admin token.
    pub fn parse(entries: &[String], admin_token: Option<&str>) -> Result<Self, InvalidTokens> {
        let mut tokens: Vec<Token> = Vec::new();
        let mut add = |name: &str, role: Role, token: &str, what: String| {
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(InvalidTokens::TooShort(what));
            }
            let digest = digest(token);
            if tokens
                .iter()
                .any(|t| &*t.principal.name == name || t.digest == digest)
            {
                return Err(InvalidTokens::Duplicate(name.to_owned()));
            }
            tokens.push(Token {
                principal: Principal {
                    name: Arc::from(name),
                    role,
                },
                digest,
            });
            Ok(())
        };
        if let Some(token) = admin_token.filter(|t| !t.is_empty()) {
            add("admin", Role::Admin, token, "ADMIN_TOKEN".to_owned())?;
        }
        for (i, entry) in entries
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let n = i + 1;
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(role), Some(token)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(InvalidTokens::Shape(n));
            };
            let name = name.trim();
            let valid_name = (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid_name {
                return Err(InvalidTokens::Name(n));
            }
            let role: Role = role.parse().map_err(|()| InvalidTokens::Role(n))?;
            add(
                name,
                role,
                token,
                format!("API_TOKENS entry {n} (`{name}`)"),
            )?;
        }
        Ok(Self(Arc::new(tokens)))
    }

    /// Whether no token is configured (then nothing but public search is reachable).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The principal a presented token belongs to. Every configured token is compared, in
    /// constant time, whatever matches first.
    pub fn identify(&self, presented: &str) -> Option<Principal> {
        let presented = digest(presented);
        let mut found = None;
        for token in self.0.iter() {
            if bool::from(token.digest.ct_eq(&presented)) {
                found = Some(token.principal.clone());
            }
        }
        found
    }

    /// What a request that presented `bearer` (if anything) may do.
    pub fn access(&self, bearer: Option<&str>, via_get: bool) -> Access {
        match bearer {
            None => Access {
                via_get,
                ..Access::default()
            },
            Some(token) => {
                let principal = self.identify(token);
                Access {
                    token_rejected: principal.is_none(),
                    principal,
                    via_get,
                }
            }
        }
    }
}

/// The token of an `Authorization` header value: `Bearer <token>`, the scheme in any case.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What one request (or one WebSocket connection) may do, put in its GraphQL data.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Who presented a valid token.
    pub principal: Option<Principal>,
    /// A token was presented and matched none.
    pub token_rejected: bool,
    /// The request came as a `GET` (never allowed to act).
    pub via_get: bool,
}

impl Access {
    /// Allows `role` or says why not: no token is `UNAUTHENTICATED`; an unknown token, or one
    /// whose role is too low, `FORBIDDEN`.
    pub fn require(&self, role: Role) -> Result<&Principal, ApiError> {
        match &self.principal {
            Some(principal) if principal.role >= role => Ok(principal),
            Some(_) => Err(ApiError::Forbidden),
            None if self.token_rejected => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthenticated(role)),
        }
    }
}

/// Whether event search needs a viewer token (`--search-requires-viewer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchAccess {
    /// Search needs a viewer token.
    pub requires_viewer: bool,
}

fn access<'a>(ctx: &Context<'a>) -> std::borrow::Cow<'a, Access> {
    ctx.data_opt::<Access>().map_or_else(
        || std::borrow::Cow::Owned(Access::default()),
        std::borrow::Cow::Borrowed,
    )
}

/// The name of the request's valid token, if it has one (never the token).
pub(crate) fn token_name(ctx: &Context<'_>) -> Option<Arc<str>> {
    let access = ctx.data_opt::<Access>()?;
    access.principal.as_ref().map(|p| Arc::clone(&p.name))
}

/// Allows the request to read what an operator sees, or says why not (for a field that only
/// sometimes returns operator data, as `node` does).
pub(crate) fn require_viewer(ctx: &Context<'_>) -> Result<(), ApiError> {
    access(ctx).require(Role::Viewer).map(|_| ())
}

/// A field an operator reads: needs a `viewer` (or `admin`) token.
pub struct ViewerGuard;

impl Guard for ViewerGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(require_viewer(ctx)?)
    }
}

/// A field that acts: needs an `admin` token, and a `POST`.
pub struct AdminGuard;

impl Guard for AdminGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let access = access(ctx);
        if access.via_get {
            return Err(ApiError::BadUserInput(
                "mutations are not accepted over GET; use POST".to_owned(),
            )
            .into());
        }
        access.require(Role::Admin)?;
        Ok(())
    }
}

/// Event search: public, unless the server requires a viewer token for it.
pub struct SearchGuard;

impl Guard for SearchGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(require_search(ctx)?)
    }
}

/// Allows the request to search events, or says why not.
pub(crate) fn require_search(ctx: &Context<'_>) -> Result<(), ApiError> {
    if ctx
        .data_opt::<SearchAccess>()
        .is_some_and(|s| s.requires_viewer)
    {
        access(ctx).require(Role::Viewer)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789";
    const VIEWER: &str = "viewer-token-0123456789";

    fn tokens() -> Tokens {
        Tokens::parse(&[format!("grafana:viewer:{VIEWER}")], Some(ADMIN)).unwrap()
    }

    #[test]
    fn each_token_maps_to_its_name_and_role() {
        let tokens = tokens();
        let admin = tokens.identify(ADMIN).unwrap();
        assert_eq!((&*admin.name, admin.role), ("admin", Role::Admin));
        let viewer = tokens.identify(VIEWER).unwrap();
        assert_eq!((&*viewer.name, viewer.role), ("grafana", Role::Viewer));
        assert_eq!(tokens.identify("not-a-configured-token"), None);
    }

    #[test]
    fn roles_are_ordered_and_missing_or_wrong_tokens_are_told_apart() {
        let tokens = tokens();
        let anonymous = tokens.access(None, false);
        assert!(matches!(
            anonymous.require(Role::Viewer),
            Err(ApiError::Unauthenticated(Role::Viewer))
        ));
        let wrong = tokens.access(Some("wrong-token-0123456789"), false);
        assert!(matches!(
            wrong.require(Role::Viewer),
            Err(ApiError::Forbidden)
        ));
        let viewer = tokens.access(Some(VIEWER), false);
        assert!(viewer.require(Role::Viewer).is_ok());
        assert!(matches!(
            viewer.require(Role::Admin),
            Err(ApiError::Forbidden)
        ));
        let admin = tokens.access(Some(ADMIN), false);
        assert!(admin.require(Role::Viewer).is_ok());
        assert!(admin.require(Role::Admin).is_ok());
    }

    #[test]
    fn bad_token_settings_are_refused_without_showing_the_token() {
        let cases = [
            (vec!["nameonly".to_owned()], None, "not `name:role:token`"),
            (
                vec![format!("a b:viewer:{VIEWER}")],
                None,
                "the name must be",
            ),
            (vec![format!("x:owner:{VIEWER}")], None, "the role must be"),
            (vec!["x:viewer:short".to_owned()], None, "at least 16"),
            (vec![], Some("short"), "ADMIN_TOKEN: a token must be"),
            (
                vec![format!("x:viewer:{ADMIN}")],
                Some(ADMIN),
                "share the name or the value",
            ),
        ];
        for (entries, admin, expected) in cases {
            let err = Tokens::parse(&entries, admin).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("short:") && !err.contains(VIEWER) && !err.contains(ADMIN));
        }
        let debug = format!("{:?}", tokens());
        assert!(!debug.contains(ADMIN) && !debug.contains(VIEWER), "{debug}");
        assert!(debug.contains("grafana:Viewer:***"), "{debug}");
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
