//! Compiled plans answer exactly as the executor does. Random documents (fields, aliases,
//! duplicates, fragments, `@skip`/`@include`, variables, filters, orders, cursors, bad
//! values) go to two servers over one database: one with plans, one without. Each answer is
//! compared byte for byte, and the plan side must have answered a good share by plan.
//! `PLAN_PARITY_CASES=4000` runs more documents (each run draws other ones).

use serde_json::{Map, Value, json};
use test_support::Backend;

use super::{
    app::{TestApp, serve_beside, spawn_app},
    index::{Lcg, ingest_generated},
};

const EVENT_FIELDS: [&str; 17] = [
    "id",
    "title",
    "sellMode",
    "startsAt",
    "endsAt",
    "startDate",
    "startTime",
    "endDate",
    "endTime",
    "sellFrom",
    "sellTo",
    "soldOut",
    "minPrice",
    "maxPrice",
    "firstSeenAt",
    "lastSeenAt",
    "updatedAt",
];

const ORDERS: [(&str, &str); 6] = [
    ("STARTS_AT", "ASC"),
    ("STARTS_AT", "DESC"),
    ("PRICE", "ASC"),
    ("PRICE", "DESC"),
    ("TITLE", "ASC"),
    ("TITLE", "DESC"),
];

/// One random document and two sets of variables: `good` (every value readable) and `random`
/// (some values wrong or left out).
struct Case {
    query: String,
    operation: Option<&'static str>,
    good: Map<String, Value>,
    random: Map<String, Value>,
}

/// Writes random documents.
struct Writer<'a> {
    rng: Lcg,
    /// Real cursors of each order (index in `ORDERS`).
    cursors: &'a [Vec<String>],
    declared: Vec<String>,
    good: Map<String, Value>,
    random: Map<String, Value>,
    fragments: Vec<String>,
    names: usize,
}

impl Writer<'_> {
    fn below(&mut self, n: usize) -> usize {
        (self.rng.next() % n as u64) as usize
    }

    /// True `percent` % of the time.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items[self.below(items.len())]
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names)
    }

    /// Declares a variable of `ty`: `good` is its readable value, `bad` what the random set
    /// holds instead (sometimes); `None` leaves it out of the random set.
    fn variable(&mut self, ty: &str, good: Value, bad: Option<Value>) -> String {
        let name = self.fresh("v");
        self.declared.push(format!("${name}: {ty}"));
        self.good.insert(name.clone(), good.clone());
        if self.chance(25) {
            if let Some(bad) = bad {
                self.random.insert(name.clone(), bad);
            }
        } else {
            self.random.insert(name.clone(), good);
        }
        format!("${name}")
    }

    /// A value written literally, or as a variable.
    fn value(&mut self, ty: &str, literal: &str, json: Value, bad: Option<Value>) -> String {
        if self.chance(35) {
            self.variable(ty, json, bad)
        } else {
            literal.to_owned()
        }
    }

    /// Sometimes a condition.
    fn directive(&mut self) -> String {
        if !self.chance(18) {
            return String::new();
        }
        match self.below(5) {
            0 => " @include(if: true)".to_owned(),
            1 => " @skip(if: false)".to_owned(),
            2 => " @skip(if: true)".to_owned(),
            _ => {
                let good = self.chance(50);
                let var = self.variable("Boolean!", json!(good), Some(json!("yes")));
                let name = self.pick(&["include", "skip"]);
                format!(" @{name}(if: {var})")
            }
        }
    }

    /// A field's response key: sometimes an alias.
    fn key(&mut self, name: &str) -> String {
        if self.chance(15) {
            let alias = self.pick(&["a", "b", "c"]);
            format!("{alias}: {name}")
        } else {
            name.to_owned()
        }
    }

    fn event_selection(&mut self, nesting: usize) -> String {
        let mut out = Vec::new();
        for _ in 0..1 + self.below(6) {
            let field = self.pick(&EVENT_FIELDS);
            let key = self.key(field);
            let directive = self.directive();
            out.push(format!("{key}{directive}"));
        }
        if self.chance(20) {
            out.push("__typename".to_owned());
        }
        if self.chance(20) {
            let mut fields = Vec::new();
            for name in ["id", "name", "__typename"] {
                if self.chance(60) {
                    fields.push(name);
                }
            }
            if fields.is_empty() {
                fields.push("name");
            }
            out.push(format!("provider {{ {} }}", fields.join(" ")));
        }
        if self.chance(10) {
            out.push("... on Node { id }".to_owned());
        }
        if nesting < 2 && self.chance(15) {
            let inner = self.event_selection(nesting + 1);
            let directive = self.directive();
            out.push(format!("... on Event{directive} {{ {inner} }}"));
        }
        if nesting < 2 && self.chance(15) {
            let name = self.fresh("E");
            let inner = self.event_selection(nesting + 1);
            self.fragments
                .push(format!("fragment {name} on Event {{ {inner} }}"));
            let directive = self.directive();
            out.push(format!("...{name}{directive}"));
        }
        if self.chance(4) {
            // Not a field a plan answers: the executor does.
            out.push("zones { name }".to_owned());
        }
        out.join(" ")
    }

    fn connection_selection(&mut self) -> String {
        let mut out = Vec::new();
        if self.chance(35) {
            let key = self.key("totalCount");
            let directive = self.directive();
            out.push(format!("{key}{directive}"));
        }
        if self.chance(40) {
            let mut fields = Vec::new();
            for name in [
                "hasPreviousPage",
                "hasNextPage",
                "startCursor",
                "endCursor",
                "__typename",
            ] {
                if self.chance(50) {
                    fields.push(name);
                }
            }
            if fields.is_empty() {
                fields.push("hasNextPage");
            }
            out.push(format!("pageInfo {{ {} }}", fields.join(" ")));
        }
        let edges = self.chance(60);
        if edges || out.is_empty() {
            for _ in 0..1 + usize::from(self.chance(15)) {
                let mut fields = Vec::new();
                if self.chance(50) {
                    fields.push("cursor".to_owned());
                }
                if self.chance(10) {
                    fields.push("__typename".to_owned());
                }
                if fields.is_empty() || self.chance(75) {
                    let node = self.event_selection(0);
                    let directive = self.directive();
                    fields.push(format!("node{directive} {{ {node} }}"));
                }
                out.push(format!("edges {{ {} }}", fields.join(" ")));
            }
        }
        if !edges || self.chance(15) {
            let node = self.event_selection(0);
            let key = self.key("nodes");
            out.push(format!("{key} {{ {node} }}"));
        }
        if self.chance(10) {
            out.push("__typename".to_owned());
        }
        if self.chance(10) {
            let inner = self.connection_selection();
            out.push(format!("... on EventConnection {{ {inner} }}"));
        }
        out.join(" ")
    }

    fn instant(&mut self) -> String {
        let month = 1 + self.below(12);
        let year = self.pick(&["2021", "2022"]);
        format!(
            "{year}-{month:02}-{:02}T{:02}:00:00Z",
            1 + self.below(28),
            self.below(24)
        )
    }

    fn filter(&mut self) -> (String, Value) {
        let mut literal = Vec::new();
        let mut json = Map::new();
        let mut add = |name: &str, text: String, value: Value| {
            literal.push(format!("{name}: {text}"));
            json.insert(name.to_owned(), value);
        };
        if self.chance(50) {
            let at = self.instant();
            add("startsAt", format!("\"{at}\""), json!(at));
        }
        if self.chance(40) {
            let at = self.instant();
            add("endsAt", format!("\"{at}\""), json!(at));
        }
        if self.chance(25) {
            let name = self.pick(&["acme", "beta", "beta", "nope"]);
            add("providers", format!("[\"{name}\"]"), json!([name]));
        }
        if self.chance(20) {
            let price = self.pick(&["10", "25.5", "40", "x"]);
            add("minPrice", format!("\"{price}\""), json!(price));
        }
        if self.chance(20) {
            let price = self.pick(&["30", "55.00", "90"]);
            add("maxPrice", format!("\"{price}\""), json!(price));
        }
        if self.chance(15) {
            let sold = self.chance(50);
            add("soldOut", sold.to_string(), json!(sold));
        }
        if self.chance(20) {
            let text = self.pick(&["op", "ÓPERA", "jazz", "conc", "zzz"]);
            add("titleContains", format!("\"{text}\""), json!(text));
        }
        (format!("{{ {} }}", literal.join(", ")), Value::Object(json))
    }

    fn arguments(&mut self) -> String {
        let mut args = Vec::new();
        let order = self.below(ORDERS.len());
        let (field, direction) = ORDERS[order];
        if self.chance(50) {
            let literal = format!("{{ field: {field}, direction: {direction} }}");
            let value = self.value(
                "EventOrder",
                &literal,
                json!({ "field": field, "direction": direction }),
                Some(json!({ "field": "NOPE" })),
            );
            args.push(format!("orderBy: {value}"));
        }
        let ordered = args.len() == 1;
        let order = if ordered { order } else { 0 };
        if self.chance(60) {
            let (literal, json) = self.filter();
            let mut bad = json.clone();
            if let Value::Object(fields) = &mut bad {
                fields.insert("bogus".to_owned(), json!(1));
            }
            let value = self.value("EventFilter", &literal, json, Some(bad));
            args.push(format!("filter: {value}"));
        } else if self.chance(5) {
            let at = self.instant();
            args.push(format!("startsAt: \"{at}\""));
        }
        let backward = self.chance(25);
        let size = ["1", "2", "3", "5", "20", "0", "101"][self.below(7)];
        if self.chance(80) {
            let n: i64 = size.parse().unwrap_or(3);
            let value = self.value("Int", size, json!(n), Some(json!("3")));
            args.push(format!(
                "{}: {value}",
                if backward { "last" } else { "first" }
            ));
        }
        if self.chance(30) {
            let cursors = &self.cursors[order];
            let cursor = if self.chance(10) || cursors.is_empty() {
                "bm9wZQ".to_owned()
            } else {
                cursors[self.below(cursors.len())].clone()
            };
            let value = self.value("String", &format!("\"{cursor}\""), json!(cursor), None);
            args.push(format!(
                "{}: {value}",
                if backward { "before" } else { "after" }
            ));
        }
        if self.chance(3) {
            // Both directions at once: refused.
            args.push("first: 2, last: 2".to_owned());
        }
        if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        }
    }

    fn case(&mut self) -> Case {
        self.declared.clear();
        self.good.clear();
        self.random.clear();
        self.fragments.clear();
        let mut root = Vec::new();
        for n in 0..1 + usize::from(self.chance(20)) {
            let arguments = self.arguments();
            let selection = self.connection_selection();
            let key = if n > 0 || self.chance(15) {
                format!("e{n}: events")
            } else {
                "events".to_owned()
            };
            let directive = self.directive();
            root.push(format!("{key}{arguments}{directive} {{ {selection} }}"));
        }
        if self.chance(10) {
            root.push("__typename".to_owned());
        }
        let mut body = root.join(" ");
        if self.chance(10) {
            body = format!("... on Query {{ {body} }}");
        }
        let named = !self.declared.is_empty() || self.chance(20);
        let query = if named {
            let variables = if self.declared.is_empty() {
                String::new()
            } else {
                format!("({})", self.declared.join(", "))
            };
            format!("query Q{variables} {{ {body} }}")
        } else {
            format!("{{ {body} }}")
        };
        let query = std::iter::once(query)
            .chain(self.fragments.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n");
        Case {
            query,
            operation: (named && self.chance(50)).then_some("Q"),
            good: self.good.clone(),
            random: self.random.clone(),
        }
    }
}

/// The body `POST /graphql` answers with.
async fn answer(app: &TestApp, addr: std::net::SocketAddr, case: &Case, good: bool) -> String {
    let mut body = json!({
        "query": case.query,
        "variables": if good { &case.good } else { &case.random },
    });
    if let Some(name) = case.operation {
        body["operationName"] = json!(name);
    }
    app.client
        .post(format!("http://{addr}/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Whether two answers are the executor's same errors in another order: it validates
/// fragments in no fixed order (a plan never writes an error).
fn same_errors(a: &str, b: &str) -> bool {
    let sorted = |text: &str| {
        let mut answer: Value = serde_json::from_str(text).unwrap();
        let errors = answer.get_mut("errors").and_then(Value::as_array_mut)?;
        errors.sort_by_key(Value::to_string);
        Some(answer)
    };
    sorted(a).is_some_and(|a| Some(a) == sorted(b))
}

/// How many answers the server at `addr` wrote by plan.
async fn answered_by_plan(app: &TestApp, addr: std::net::SocketAddr) -> u64 {
    let metrics = app
        .client
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(super::app::VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("graphql_answers_total{by=\"plan\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no plan counter in {metrics}"))
}

async fn plans_answer_as_the_executor_does(backend: Backend, cases: usize) {
    let app = spawn_app(backend).await;
    let db = &app.test_db.db;
    ingest_generated(db, "beta", 3, 300).await;
    super::app::ingest_samples(db).await;
    // Values the generated feed never holds: escapes, no prices, no sales dates, other modes.
    for sql in [
        r#"UPDATE event SET title = 'Quote " back \ tab	end' WHERE id IN (SELECT id FROM event ORDER BY id LIMIT 3)"#,
        "UPDATE event SET title = 'Ópera 🎭 <b>&amp;</b>', sold_out = true WHERE id IN (SELECT id FROM event ORDER BY id DESC LIMIT 3)",
        "UPDATE event SET min_price_cents = NULL, max_price_cents = NULL, sell_from = NULL, sell_to = NULL WHERE id IN (SELECT id FROM event ORDER BY title LIMIT 5)",
        "UPDATE event SET sell_mode = 'box office' WHERE id IN (SELECT id FROM event ORDER BY starts_at LIMIT 4)",
    ] {
        sea_orm::ConnectionTrait::execute_unprepared(db, sql)
            .await
            .unwrap();
    }
    // Both servers load their index from the database as it now is.
    let (with_plans, stop_plans) = serve_beside(&app, |_| {}).await;
    let (without, stop_without) =
        serve_beside(&app, |config| config.limits.compiled_plans = false).await;

    let mut cursors = Vec::new();
    for (field, direction) in ORDERS {
        let query = format!(
            "{{ events(orderBy: {{ field: {field}, direction: {direction} }}, first: 100) {{ edges {{ cursor }} }} }}"
        );
        let body = app.graphql_anonymous(&query, json!({})).await;
        let edges = body["data"]["events"]["edges"].as_array().unwrap().clone();
        assert!(edges.len() > 50, "{body}");
        cursors.push(
            edges
                .iter()
                .map(|e| e["cursor"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
    }

    let mut writer = Writer {
        rng: Lcg(0x5eed_0001 + cases as u64),
        cursors: &cursors,
        declared: Vec::new(),
        good: Map::new(),
        random: Map::new(),
        fragments: Vec::new(),
        names: 0,
    };
    let mut mismatches = Vec::new();
    let mut with_data = 0;
    for _ in 0..cases {
        let case = writer.case();
        let expected_good = answer(&app, without, &case, true).await;
        let expected_random = answer(&app, without, &case, false).await;
        if !expected_good.contains("\"errors\"") {
            with_data += 1;
        }
        // The first good answer proves the document; the second is the plan's.
        for (good, expected) in [
            (true, &expected_good),
            (true, &expected_good),
            (false, &expected_random),
        ] {
            let got = answer(&app, with_plans, &case, good).await;
            if &got != expected && !same_errors(&got, expected) {
                mismatches.push(format!(
                    "{}\nvariables: {:?}\nexecutor: {expected}\nplan:     {got}",
                    case.query,
                    if good { &case.good } else { &case.random }
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} answers differ; the first:\n{}",
        mismatches.len(),
        cases * 3,
        mismatches[..mismatches.len().min(3)].join("\n\n")
    );
    // Most documents are ones a plan answers: the comparison above is not vacuous.
    let by_plan = answered_by_plan(&app, with_plans).await;
    assert!(
        by_plan as usize >= cases / 2,
        "only {by_plan} of {} answers by plan ({with_data} documents answered without error)",
        cases * 3
    );
    assert_eq!(answered_by_plan(&app, without).await, 0);
    stop_plans.cancel();
    stop_without.cancel();
}

/// How many documents: `default`, or `PLAN_PARITY_CASES` for a longer run.
fn cases(default: usize) -> usize {
    std::env::var("PLAN_PARITY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
async fn plans_answer_as_the_executor_does_on_postgres() {
    plans_answer_as_the_executor_does(Backend::Postgres, cases(400)).await;
}

#[tokio::test]
async fn plans_answer_as_the_executor_does_on_sqlite() {
    plans_answer_as_the_executor_does(Backend::Sqlite, cases(150)).await;
}
