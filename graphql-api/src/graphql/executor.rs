//! The one door every GraphQL request goes through, over HTTP and over the WebSocket.
//!
//! Before the schema sees a request: a persisted query's hash becomes its text, the text
//! becomes a parsed document (cached), and the document is measured ([`super::cost`]) and
//! refused past the limits, so no document can make validation walk an exponential tree.
//! Then the schema runs it within the request timeout, with a cap on the database connections
//! the request holds; after it, every error gets its stable `extensions.code`, an error that
//! says the database is unreachable trips the breaker, and errors are counted by code. A
//! response carries what its document cost against the limits in `extensions.cost`, so a
//! client learns its budget; [`Wire`] is how a response is written.
//!
//! Over HTTP ([`GraphQl::respond`]), a document with a proven plan (`graphql::plan`) is
//! answered by the plan straight from the search index, and by the schema only when the plan
//! hands it over.

use std::{sync::Arc, time::Duration};

use async_graphql::{
    Data, ErrorExtensions as _, Executor, Request, Response, ServerError, Value,
    futures_util::stream::{self, BoxStream, StreamExt as _},
};

use super::{
    cost,
    documents::{Documents, Parsed},
    limits::Limits,
    schema::ApiSchema,
};
use crate::{
    access::{Access, Role, SearchAccess},
    counters::Metrics,
    database::{Database, RequestConnections},
    error::ApiError,
    search::SearchIndex,
};

/// The schema behind its checks. Clone it freely.
#[derive(Clone)]
pub struct GraphQl {
    schema: ApiSchema,
    documents: Arc<Documents>,
    limits: Limits,
    database: Arc<Database>,
    metrics: Arc<Metrics>,
    index: Arc<SearchIndex>,
    search_access: SearchAccess,
}

/// A request ready to run: its parsed document (none when it does not parse) and what the
/// document costs.
struct Prepared {
    request: Request,
    parsed: Option<Arc<Parsed>>,
    cost: Option<cost::Cost>,
}

impl GraphQl {
    /// The door to `schema`, whose plans read `index` (searching as `search_access` allows).
    pub fn new(
        schema: ApiSchema,
        limits: Limits,
        database: Arc<Database>,
        metrics: Arc<Metrics>,
        index: Arc<SearchIndex>,
        search_access: SearchAccess,
    ) -> Self {
        Self {
            schema,
            documents: Arc::new(Documents::new(
                limits.persisted_queries,
                limits.compiled_plans,
            )),
            limits,
            database,
            metrics,
            index,
            search_access,
        }
    }

    /// The schema itself (its SDL, say).
    pub fn schema(&self) -> &ApiSchema {
        &self.schema
    }

    /// The limits it applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Resolves, parses and measures a request; an error carries its code. The cost is
    /// unknown for a document that does not parse (the executor then says where it fails).
    fn prepare(&self, request: Request) -> Result<Prepared, ServerError> {
        let (request, parsed) = self.documents.prepare(request)?;
        let cost = match &parsed {
            Some(parsed) => Some(
                cost::check(
                    &parsed.document,
                    request.operation_name.as_deref(),
                    &request.variables,
                    &self.limits,
                )
                .map_err(|err| coded(err.code(), &err.to_string()))?,
            ),
            None => None,
        };
        Ok(Prepared {
            request,
            parsed,
            cost,
        })
    }

    /// The request as the schema runs it: with its parsed document and its share of database
    /// connections.
    fn for_schema(&self, request: Request, parsed: Option<&Parsed>) -> Request {
        let mut request = request.data(RequestConnections::new(
            self.limits.db_connections_per_request,
        ));
        if let Some(parsed) = parsed {
            request.set_parsed_query(parsed.document.clone());
        }
        request
    }

    /// Runs one query or mutation, within the request timeout.
    pub async fn run(&self, request: Request) -> Response {
        match self.prepare(request) {
            Ok(prepared) => self.execute(prepared).await,
            Err(error) => self.failed(error),
        }
    }

    /// Answers one query or mutation over HTTP, as the JSON to send: by the document's plan
    /// when it has a proven one and the plan takes the request, else by the schema (within the
    /// request timeout). `access` is what the request's token allows.
    pub async fn respond(&self, request: Request, access: Access) -> Vec<u8> {
        let searchable =
            !self.search_access.requires_viewer || access.require(Role::Viewer).is_ok();
        let prepared = match self.prepare(request.data(access)) {
            Ok(prepared) => prepared,
            Err(error) => return self.encode(&self.failed(error)),
        };
        let operation = prepared.request.operation_name.as_deref();
        let plan = prepared
            .parsed
            .as_ref()
            .and_then(|parsed| parsed.plan())
            .filter(|(plan, _)| searchable && plan.serves(operation));
        if let (Some((plan, true)), Some(cost)) = (plan, prepared.cost)
            && let Some(data) = plan.run(
                &self.index.snapshot(),
                self.limits.max_page_size,
                &prepared.request.variables,
            )
        {
            self.metrics.record_graphql_plan(true);
            return self.written(&data, cost);
        }
        let candidate = plan.is_some().then(|| prepared.parsed.clone()).flatten();
        let response = self.execute(prepared).await;
        if let Some(parsed) = candidate
            && response.errors.is_empty()
        {
            parsed.prove();
        }
        self.metrics.record_graphql_plan(false);
        self.encode(&response)
    }

    /// Runs a prepared request through the schema, within the request timeout.
    async fn execute(&self, prepared: Prepared) -> Response {
        let Prepared {
            request,
            parsed,
            cost,
        } = prepared;
        let request = self.for_schema(request, parsed.as_deref());
        let mut response =
            match tokio::time::timeout(self.limits.request_timeout, self.schema.execute(request))
                .await
            {
                Ok(response) => response,
                Err(_) => {
                    let err = ApiError::Timeout(millis(self.limits.request_timeout));
                    Response::from_errors(vec![server_error(&err)])
                }
            };
        if let Some(cost) = cost {
            response
                .extensions
                .insert("cost".to_owned(), self.cost_extension(cost));
        }
        self.finish(&mut response);
        response
    }

    /// The answer to a request refused before it ran.
    fn failed(&self, error: ServerError) -> Response {
        let mut response = Response::from_errors(vec![error]);
        self.finish(&mut response);
        response
    }

    /// A response as JSON, or the `RESPONSE_TOO_LARGE` error in its place past the cap.
    fn encode(&self, response: &Response) -> Vec<u8> {
        let cap = self.limits.max_response_bytes;
        encode_within(&Wire(response), cap)
            .or_else(|| encode_within(&Wire(&self.too_large()), cap))
            .unwrap_or_default()
    }

    /// The answer a plan wrote (`data`), with the document's cost, as [`Wire`] writes a
    /// response without errors.
    fn written(&self, data: &[u8], cost: cost::Cost) -> Vec<u8> {
        let extensions =
            std::collections::BTreeMap::from([("cost".to_owned(), self.cost_extension(cost))]);
        let mut out = Vec::with_capacity(data.len() + 128);
        out.extend_from_slice(b"{\"data\":");
        out.extend_from_slice(data);
        out.extend_from_slice(b",\"extensions\":");
        if serde_json::to_writer(&mut out, &extensions).is_err() {
            return Vec::new();
        }
        out.push(b'}');
        if out.len() > self.limits.max_response_bytes {
            return self.encode(&self.too_large());
        }
        out
    }

    /// `extensions.cost`: what the document cost, and what it may cost.
    fn cost_extension(&self, cost: cost::Cost) -> Value {
        let number = |n: u64| Value::Number(n.into());
        let size = |n: usize| number(u64::try_from(n).unwrap_or(u64::MAX));
        Value::Object(
            [
                ("requested", number(cost.complexity)),
                ("limit", size(self.limits.max_complexity)),
                ("depth", size(cost.depth)),
                ("maxDepth", size(self.limits.max_depth)),
            ]
            .into_iter()
            .map(|(name, value)| (async_graphql::Name::new(name), value))
            .collect(),
        )
    }

    /// Gives each error its code, counts it, and trips the breaker on `UNAVAILABLE`.
    fn finish(&self, response: &mut Response) {
        for error in &mut response.errors {
            let code = normalize(error);
            if code == "UNAVAILABLE" {
                self.database.mark_down();
            }
            self.metrics.record_graphql_error(&code);
        }
    }

    /// The error to send instead of a response over `max_response_bytes`.
    pub fn too_large(&self) -> Response {
        let err = ApiError::ResponseTooLarge(self.limits.max_response_bytes);
        self.metrics.record_graphql_error(err.code());
        Response::from_errors(vec![server_error(&err)])
    }
}

impl Executor for GraphQl {
    async fn execute(&self, request: Request) -> Response {
        self.run(request).await
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let this = self.clone();
        match self.prepare(request) {
            Err(error) => {
                let response = this.failed(error);
                stream::once(async move { response }).boxed()
            }
            Ok(prepared) => {
                let request = self.for_schema(prepared.request, prepared.parsed.as_deref());
                Executor::execute_stream(&self.schema, request, session_data)
                    .map(move |mut response| {
                        this.finish(&mut response);
                        // Every message is held to the same size cap as an HTTP answer.
                        if encoded_len_within(&response, this.limits.max_response_bytes).is_none() {
                            return this.too_large();
                        }
                        response
                    })
                    .boxed()
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A response as it is written: `data`, `errors` and `extensions` as the GraphQL spec shapes
/// them. `data` is left out when the request failed before it ran (no data, and no error
/// with a path: a field error always has one), where async-graphql would write `null`.
pub struct Wire<'a>(pub &'a Response);

impl serde::Serialize for Wire<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let response = self.0;
        let request_error = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let mut map = serializer.serialize_map(None)?;
        if !request_error {
            map.serialize_entry("data", &response.data)?;
        }
        if !response.errors.is_empty() {
            map.serialize_entry("errors", &response.errors)?;
        }
        if !response.extensions.is_empty() {
            map.serialize_entry("extensions", &response.extensions)?;
        }
        map.end()
    }
}

/// `value` as JSON, unless it is longer than `cap` bytes (the writing stops there).
pub fn encode_within(value: &impl serde::Serialize, cap: usize) -> Option<Vec<u8>> {
    let mut out = Capped {
        bytes: Vec::with_capacity(1024),
        cap,
    };
    serde_json::to_writer(&mut out, value).ok()?;
    Some(out.bytes)
}

fn encoded_len_within(value: &impl serde::Serialize, cap: usize) -> Option<usize> {
    let mut out = Counted { len: 0, cap };
    serde_json::to_writer(&mut out, value).ok()?;
    Some(out.len)
}

/// A writer that refuses to grow past its cap.
struct Capped {
    bytes: Vec<u8>,
    cap: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.cap {
            return Err(std::io::ErrorKind::FileTooLarge.into());
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer that only counts, and refuses past its cap.
struct Counted {
    len: usize,
    cap: usize,
}

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.len += buf.len();
        if self.len > self.cap {
            return Err(std::io::ErrorKind::FileTooLarge.into());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn coded(code: &str, message: &str) -> ServerError {
    async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", code))
        .into_server_error(async_graphql::Pos::default())
}

fn server_error(err: &ApiError) -> ServerError {
    coded(err.code(), &err.to_string())
}

/// Gives every error a stable `extensions.code`: resolver errors and our own checks carry
/// theirs; the executor's parse and validation errors get one here. Each message matched
/// below is pinned by a test, so a library upgrade that changes one fails that test instead
/// of changing a code.
pub fn normalize(error: &mut ServerError) -> String {
    if let Some(Value::String(code)) = error.extensions.as_ref().and_then(|e| e.get("code")) {
        return code.clone();
    }
    let code = if error.message.contains("not supported on this transport") {
        // A subscription posted over HTTP: it belongs on /graphql/ws.
        "BAD_REQUEST"
    } else if error.message.starts_with("Failed to parse")
        || error.message.starts_with("Invalid value for argument")
        // A required variable left out: reported while resolving, so with a path.
        || (error.message.starts_with("Variable ") && error.message.ends_with("is not defined."))
        || (error.path.is_empty()
            && (error.message.contains("argument") || error.message.contains("variable")))
    {
        // An argument or variable of the wrong type or format.
        "BAD_USER_INPUT"
    } else if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        // A resolver error without a code comes from the library, not our resolvers: show
        // nothing of it.
        tracing::error!(message = %error.message, "GraphQL error without a code");
        error.message = "internal error".to_owned();
        "INTERNAL"
    };
    let extended =
        async_graphql::Error::new(error.message.clone()).extend_with(|_, e| e.set("code", code));
    error.extensions = extended.extensions;
    code.to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The codes of the errors `query` gets from the schema itself (parse and validation).
    async fn codes(query: &str, variables: serde_json::Value) -> Vec<(String, String)> {
        let schema = crate::graphql::schema::without_data();
        let request = Request::new(query).variables(async_graphql::Variables::from_json(variables));
        let mut response = schema.execute(request).await;
        response
            .errors
            .iter_mut()
            .map(|e| {
                let original = e.message.clone();
                (normalize(e), original)
            })
            .collect()
    }

    // Each async-graphql message that `normalize` reads is pinned here: an upgrade that
    // changes one fails this test instead of silently changing a client's code.
    #[tokio::test]
    async fn library_messages_map_to_their_codes() {
        let cases = [
            // A syntax error: the parser's located message.
            ("{ events(", json!({}), "GRAPHQL_VALIDATION_FAILED", "-->"),
            (
                "{ events(first: \"x\") { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                "Invalid value for argument",
            ),
            (
                "query($n: Int) { events(first: $n) { totalCount } }",
                json!({ "n": "x" }),
                "BAD_USER_INPUT",
                "Invalid value for argument",
            ),
            (
                "{ events(startsAt: \"nope\") { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                "Failed to parse",
            ),
            (
                "query($n: Int!) { events(first: $n) { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                "Variable n is not defined.",
            ),
            (
                "query($n: Int) { events(first: 1) { totalCount } }",
                json!({}),
                "GRAPHQL_VALIDATION_FAILED",
                "is not used",
            ),
            (
                "{ nope }",
                json!({}),
                "GRAPHQL_VALIDATION_FAILED",
                "Unknown field",
            ),
            (
                "subscription { jobUpdates { cursor } }",
                json!({}),
                "BAD_REQUEST",
                "not supported on this transport",
            ),
        ];
        for (query, variables, code, message) in cases {
            let got = codes(query, variables).await;
            let (got_code, got_message) =
                got.first().unwrap_or_else(|| panic!("{query}: no error"));
            assert_eq!(got_code, code, "{query}: {got_message}");
            assert!(
                got_message.contains(message),
                "{query}: `{got_message}` lost `{message}`"
            );
        }
    }

    #[test]
    fn an_answer_past_the_cap_is_not_encoded() {
        let big = json!({ "a": "x".repeat(100) });
        assert!(encode_within(&big, 50).is_none());
        assert_eq!(
            encode_within(&big, 1000).map(|b| b.len()),
            encoded_len_within(&big, 1000)
        );
    }
}
