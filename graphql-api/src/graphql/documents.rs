//! Query documents before they reach the executor: automatic persisted queries, and a cache of
//! parsed documents with their compiled plans.
//!
//! Both used to be left to `async-graphql`: its persisted-query extension, and parsing every
//! request. Profiles of the `events` query showed the cost: with any extension installed, the
//! executor routes every field of the answer through the extension chain (registry lookups
//! per field), and parsing was a seventh of each request. Here, before execution, a persisted
//! query's hash becomes its text, and the text of a query seen recently becomes its parsed
//! document; the schema runs without extensions. A cached document also keeps its compiled plan
//! (`graphql::plan`), if it has one, and whether the executor has answered it without an error.

use std::{
    num::NonZeroUsize,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_graphql::{
    ErrorExtensions as _, Request, ServerError, Value,
    parser::{parse_query, types::ExecutableDocument},
};
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::plan::{self, Plan};

/// Parsed documents kept.
const PARSED_DOCUMENTS: usize = 256;
/// Longest query whose parsed document is kept: a cache entry stays small, and one client
/// sending large unique queries cannot make the cache big.
const MAX_CACHED_QUERY_BYTES: usize = 8 * 1024;

/// A parsed document, with its plan when it has one.
pub struct Parsed {
    /// The document.
    pub document: ExecutableDocument,
    plan: Option<Plan>,
    /// The executor answered it once without an error: it passed validation.
    proven: AtomicBool,
}

impl Parsed {
    fn new(document: ExecutableDocument, compile: bool) -> Self {
        let plan = if compile {
            plan::compile(&document)
        } else {
            None
        };
        Self {
            document,
            plan,
            proven: AtomicBool::new(false),
        }
    }

    /// Its plan, if it has one, and whether the executor has answered the document without
    /// an error yet (only then may the plan answer it).
    pub(crate) fn plan(&self) -> Option<(&Plan, bool)> {
        let plan = self.plan.as_ref()?;
        Some((plan, self.proven.load(Ordering::Relaxed)))
    }

    /// Records that the executor answered the document without an error.
    pub(crate) fn prove(&self) {
        self.proven.store(true, Ordering::Relaxed);
    }
}

/// Persisted queries (hash → text) and parsed documents (text → document and plan), both LRU.
pub struct Documents {
    persisted: Mutex<LruCache<String, String>>,
    parsed: Mutex<LruCache<String, Arc<Parsed>>>,
    /// Whether cached documents get plans.
    plans: bool,
}

impl Documents {
    /// Keeps up to `persisted_queries` persisted queries; compiles plans when `plans`.
    pub fn new(persisted_queries: usize, plans: bool) -> Self {
        let cap = |n: usize| NonZeroUsize::new(n.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            persisted: Mutex::new(LruCache::new(cap(persisted_queries))),
            parsed: Mutex::new(LruCache::new(cap(PARSED_DOCUMENTS))),
            plans,
        }
    }

    /// Resolves a persisted query and parses the query (or finds it parsed); none when it
    /// does not parse (the executor then reports where). An error carries its
    /// `extensions.code` (`PERSISTED_QUERY_NOT_FOUND` or `BAD_REQUEST`).
    pub fn prepare(
        &self,
        mut request: Request,
    ) -> Result<(Request, Option<Arc<Parsed>>), ServerError> {
        if let Some(persisted) = request.extensions.0.remove("persistedQuery") {
            self.resolve_persisted(&mut request, &persisted)?;
        }
        if request.query.len() > MAX_CACHED_QUERY_BYTES {
            let parsed = parse_query(&request.query).ok();
            return Ok((request, parsed.map(|d| Arc::new(Parsed::new(d, false)))));
        }
        let cached = lock(&self.parsed).get(&request.query).cloned();
        let parsed = match cached {
            Some(parsed) => parsed,
            None => match parse_query(&request.query) {
                Ok(document) => {
                    let parsed = Arc::new(Parsed::new(document, self.plans));
                    lock(&self.parsed).put(request.query.clone(), Arc::clone(&parsed));
                    parsed
                }
                Err(_) => return Ok((request, None)),
            },
        };
        Ok((request, Some(parsed)))
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
        let docs = Documents::new(10, true);
        let by_hash =
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": digest() } } });
        let err = docs.prepare(request(by_hash.clone())).err().unwrap();
        assert_eq!(code(&err), "PERSISTED_QUERY_NOT_FOUND");

        let register = json!({ "query": QUERY, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": digest() } } });
        docs.prepare(request(register)).unwrap();
        let (resolved, _) = docs.prepare(request(by_hash)).unwrap();
        assert_eq!(resolved.query, QUERY);
    }

    #[test]
    fn a_wrong_hash_or_version_is_refused() {
        let docs = Documents::new(10, true);
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
        let docs = Documents::new(1, true);
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
        let docs = Documents::new(10, true);
        let parsed: Vec<_> = (0..2)
            .map(|_| docs.prepare(request(json!({ "query": QUERY }))).unwrap().1)
            .collect();
        assert!(Arc::ptr_eq(
            parsed[0].as_ref().unwrap(),
            parsed[1].as_ref().unwrap()
        ));
        assert_eq!(lock(&docs.parsed).len(), 1);
        let (_, bad) = docs
            .prepare(request(json!({ "query": "{ providers { " })))
            .unwrap();
        assert!(bad.is_none());
        assert_eq!(lock(&docs.parsed).len(), 1);
    }
}
