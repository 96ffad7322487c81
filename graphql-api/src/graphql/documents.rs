//! Query documents before they reach the executor: automatic persisted queries, and a cache of
//! parsed documents.
//!
//! Both used to be left to `async-graphql`: its persisted-query extension, and parsing every
//! request. Profiles of the `events` query showed the cost: with any extension installed, the
//! executor routes every field of the answer through the extension chain (registry lookups
//! per field), and parsing was a seventh of each request. Here, before execution, a persisted
//! query's hash becomes its text, and the text of a query seen recently becomes its parsed
//! document; the schema runs without extensions. Validation still runs on every request, as
//! its outcome depends on the variables.

use std::{num::NonZeroUsize, sync::Mutex};

use async_graphql::{
    ErrorExtensions as _, Request, ServerError, Value,
    parser::{parse_query, types::ExecutableDocument},
};
use lru::LruCache;
use sha2::{Digest, Sha256};

/// Parsed documents kept.
const PARSED_DOCUMENTS: usize = 256;
/// Longest query whose parsed document is kept: a cache entry stays small, and one client
/// sending large unique queries cannot make the cache big.
const MAX_CACHED_QUERY_BYTES: usize = 8 * 1024;

/// Persisted queries (hash → text) and parsed documents (text → document), both LRU.
pub struct Documents {
    persisted: Mutex<LruCache<String, String>>,
    parsed: Mutex<LruCache<String, ExecutableDocument>>,
}

impl Documents {
    /// Keeps up to `persisted_queries` persisted queries.
    pub fn new(persisted_queries: usize) -> Self {
        let cap = |n: usize| NonZeroUsize::new(n.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            persisted: Mutex::new(LruCache::new(cap(persisted_queries))),
            parsed: Mutex::new(LruCache::new(cap(PARSED_DOCUMENTS))),
        }
    }

    /// Resolves a persisted query and attaches the parsed document when it is known. An error
    /// carries its `extensions.code` (`PERSISTED_QUERY_NOT_FOUND` or `BAD_REQUEST`).
    pub fn prepare(&self, mut request: Request) -> Result<Request, ServerError> {
        if let Some(persisted) = request.extensions.0.remove("persistedQuery") {
            self.resolve_persisted(&mut request, &persisted)?;
        }
        if request.query.len() > MAX_CACHED_QUERY_BYTES {
            return Ok(request);
        }
        let cached = lock(&self.parsed).get(&request.query).cloned();
        let document = match cached {
            Some(document) => document,
            // A query that does not parse goes on as it is: the executor reports the error.
            None => match parse_query(&request.query) {
                Ok(document) => {
                    lock(&self.parsed).put(request.query.clone(), document.clone());
                    document
                }
                Err(_) => return Ok(request),
            },
        };
        request.set_parsed_query(document);
        Ok(request)
    }

    /// Apollo's automatic persisted queries, version 1: a hash alone runs the query stored
    /// under it; a query with its hash is checked against it and stored.
    fn resolve_persisted(
        &self,
        request: &mut Request,
        persisted: &Value,
    ) -> Result<(), ServerError> {
        let (version, hash) = match persisted {
            Value::Object(fields) => (fields.get("version"), fields.get("sha256Hash")),
            _ => (None, None),
        };
        let (Some(Value::Number(version)), Some(Value::String(hash))) = (version, hash) else {
            return Err(error(
                "BAD_REQUEST",
                "the persistedQuery extension needs `version` and `sha256Hash`",
            ));
        };
        if version.as_u64() != Some(1) {
            return Err(error(
                "BAD_REQUEST",
                "only version 1 of the persistedQuery extension is supported",
            ));
        }
        if request.query.is_empty() {
            let stored = lock(&self.persisted).get(hash.as_str()).cloned();
            request.query = stored
                .ok_or_else(|| error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound"))?;
        } else {
            let actual = hex(&Sha256::digest(request.query.as_bytes()));
            if !actual.eq_ignore_ascii_case(hash) {
                return Err(error(
                    "BAD_REQUEST",
                    "the sha256Hash of the persistedQuery extension does not match the query",
                ));
            }
            lock(&self.persisted).put(actual, request.query.clone());
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A cache is consistent after any panic of a holder: every operation is one call.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn error(code: &str, message: &str) -> ServerError {
    async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", code))
        .into_server_error(async_graphql::Pos::default())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(body: serde_json::Value) -> Request {
        serde_json::from_value(body).unwrap()
    }

    const QUERY: &str = "{ providers { name } }";
    // sha256 of QUERY.
    fn digest() -> String {
        hex(&Sha256::digest(QUERY.as_bytes()))
    }

    fn code(err: &ServerError) -> String {
        match err.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(code)) => code.clone(),
            other => panic!("no code: {other:?}"),
        }
    }

    #[test]
    fn a_hash_runs_the_query_stored_under_it() {
        let docs = Documents::new(10);
        let by_hash =
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": digest() } } });
        let err = docs.prepare(request(by_hash.clone())).err().unwrap();
        assert_eq!(code(&err), "PERSISTED_QUERY_NOT_FOUND");

        let register = json!({ "query": QUERY, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": digest() } } });
        docs.prepare(request(register)).unwrap();
        let resolved = docs.prepare(request(by_hash)).unwrap();
        assert_eq!(resolved.query, QUERY);
    }

    #[test]
    fn a_wrong_hash_or_version_is_refused() {
        let docs = Documents::new(10);
        let wrong = json!({ "query": QUERY, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "00" } } });
        assert_eq!(
            code(&docs.prepare(request(wrong)).err().unwrap()),
            "BAD_REQUEST"
        );
        let version = json!({ "query": QUERY, "extensions": { "persistedQuery": { "version": 2, "sha256Hash": digest() } } });
        assert_eq!(
            code(&docs.prepare(request(version)).err().unwrap()),
            "BAD_REQUEST"
        );
    }

    #[test]
    fn the_persisted_queries_kept_are_bounded() {
        let docs = Documents::new(1);
        for query in [QUERY, "{ jobs { totalCount } }"] {
            let hash = hex(&Sha256::digest(query.as_bytes()));
            let body = json!({ "query": query, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
            docs.prepare(request(body)).unwrap();
        }
        let first =
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": digest() } } });
        assert!(docs.prepare(request(first)).is_err(), "evicted");
    }

    #[test]
    fn a_parsed_document_is_reused_and_a_bad_query_left_to_the_executor() {
        let docs = Documents::new(10);
        for _ in 0..2 {
            let mut prepared = docs.prepare(request(json!({ "query": QUERY }))).unwrap();
            assert!(prepared.parsed_query().is_ok());
        }
        assert_eq!(lock(&docs.parsed).len(), 1);
        docs.prepare(request(json!({ "query": "{ providers { " })))
            .unwrap();
        assert_eq!(lock(&docs.parsed).len(), 1);
    }
}
