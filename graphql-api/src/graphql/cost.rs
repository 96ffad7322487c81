//! What a GraphQL document costs, measured before anything else looks at it.
//!
//! async-graphql computes depth and complexity by walking the document with every fragment
//! spread expanded in place, for every fragment definition and every operation, before it
//! applies its limits. A document of 25 fragments that each spread the previous one twice is
//! 1.3 KB and expands to 2^25 selections: it was refused only after 25 s of CPU on an async
//! worker thread. Here each fragment is measured once (memoised) with saturating arithmetic,
//! so any document within the body limit is measured in time linear in its size, and refused
//! before async-graphql walks it. Our limits are the only ones the schema applies.
//!
//! Complexity: a field costs 1 plus its children's cost times the field's expected list size:
//! a connection's page size (`first`/`last`, as asked, 20 when not: also what a job keeps of
//! each kind of change, `ChangedEvents.events`), and realistic
//! sizes for the plain lists (zones of an event, rejections of an outcome, providers).

use std::collections::HashMap;

use async_graphql::{
    Name, Variables,
    parser::types::{ExecutableDocument, Field, Selection, SelectionSet},
};
use async_graphql_value::{ConstValue, Value};

use super::limits::Limits;

/// The page size a connection field is costed at when the query does not say.
const DEFAULT_PAGE_SIZE: u64 = 20;

/// Expected sizes of the list fields that are not connections. Zones: events carry a handful
/// (the samples at most 6; ingestion refuses more than 1,000); rejections: an outcome keeps
/// at most 20; providers: a deployment's providers, as a page of them; attempts: a job's
/// collection has a few (its provider's `max_attempts`, 3 by default, and operators' retries),
/// and each costs a query or two.
const LIST_SIZES: [(&str, u64); 5] = [
    ("zones", 20),
    ("rejections", 20),
    ("providers", 100),
    ("providerStats", 100),
    ("attempts", 10),
];

/// Fields whose children describe the schema, not data: costed, but their depth is limited
/// apart (the introspection query of GraphiQL and code generators nests about 15 deep).
const INTROSPECTION_FIELDS: [&str; 2] = ["__schema", "__type"];

/// How deep an introspection selection may go.
pub const INTROSPECTION_MAX_DEPTH: usize = 24;

/// How deeply selection sets may nest, fields, inline fragments and fragment spreads alike:
/// validation recurses once per level, and a chain of thousands of fragments would overflow
/// a thread's stack.
pub const MAX_NESTING: usize = 64;

/// The most selections a whole document may expand to (every fragment and operation, spreads
/// in place): what async-graphql's validation walks. Documents that clients write are far
/// below; a bomb is far above.
pub const MAX_EXPANDED_SELECTIONS: u64 = 20_000;

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// Nested deeper than the limit.
    #[error("the query is nested {depth} levels deep; the limit is {max}")]
    TooDeep {
        /// Its depth.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// More complex than the limit.
    #[error("the query's complexity is {cost}; the limit is {max}")]
    TooComplex {
        /// Its complexity (saturated at `u64::MAX`).
        cost: u64,
        /// The limit.
        max: u64,
    },
    /// Selection sets (fields, fragments) nest too deeply.
    #[error("selections and fragments nest over {MAX_NESTING} levels deep")]
    TooNested,
    /// Its fragments expand to too many selections.
    #[error(
        "the document's fragments expand to over {MAX_EXPANDED_SELECTIONS} selections; spread fewer fragments"
    )]
    TooLarge,
    /// It asks for introspection, which this server does not answer.
    #[error("introspection (`__schema`, `__type`) is turned off on this server")]
    IntrospectionDisabled,
}

impl CostError {
    /// The stable `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooDeep { .. } | Self::TooNested => "QUERY_TOO_DEEP",
            Self::TooComplex { .. } | Self::TooLarge => "QUERY_TOO_COMPLEX",
            Self::IntrospectionDisabled => "INTROSPECTION_DISABLED",
        }
    }
}

/// The measure of a selection set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Measure {
    /// Deepest data selection below (introspection excluded).
    depth: usize,
    /// Deepest introspection selection below.
    introspection_depth: usize,
    /// Complexity, list sizes applied.
    complexity: u64,
    /// Selections once every spread is expanded.
    expanded: u64,
}

/// A document's cost, as the operation that runs would incur it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Its depth.
    pub depth: usize,
    /// Its complexity.
    pub complexity: u64,
}

/// Measures `document` (the operation `operation_name`, or every operation when none is
/// named) and refuses it past `limits`.
pub fn check(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    limits: &Limits,
) -> Result<Cost, CostError> {
    let mut measurer = Measurer {
        document,
        variables,
        fragments: HashMap::new(),
        level: 0,
        too_nested: false,
    };
    // What async-graphql's validation will walk: every fragment and every operation.
    let mut expanded = 0u64;
    for name in document.fragments.keys() {
        expanded = expanded.saturating_add(measurer.fragment(name).expanded);
    }
    let mut cost = Cost {
        depth: 0,
        complexity: 0,
    };
    for (name, operation) in document.operations.iter() {
        let measure = measurer.selection_set(&operation.node.selection_set.node);
        expanded = expanded.saturating_add(measure.expanded);
        let runs = operation_name.is_none_or(|wanted| name.is_some_and(|n| n.as_str() == wanted));
        if runs {
            check_operation(measure, limits)?;
            cost.depth = cost.depth.max(measure.depth);
            cost.complexity = cost.complexity.max(measure.complexity);
        }
    }
    if measurer.too_nested {
        return Err(CostError::TooNested);
    }
    if expanded > MAX_EXPANDED_SELECTIONS {
        return Err(CostError::TooLarge);
    }
    Ok(cost)
}

fn check_operation(measure: Measure, limits: &Limits) -> Result<(), CostError> {
    if measure.depth > limits.max_depth {
        return Err(CostError::TooDeep {
            depth: measure.depth,
            max: limits.max_depth,
        });
    }
    if measure.introspection_depth > 0 && !limits.introspection {
        return Err(CostError::IntrospectionDisabled);
    }
    if measure.introspection_depth > INTROSPECTION_MAX_DEPTH {
        return Err(CostError::TooDeep {
            depth: measure.introspection_depth,
            max: INTROSPECTION_MAX_DEPTH,
        });
    }
    let max = limits.max_complexity as u64;
    if measure.complexity > max || measure.expanded > MAX_EXPANDED_SELECTIONS {
        return Err(CostError::TooComplex {
            cost: measure.complexity,
            max,
        });
    }
    Ok(())
}

struct Measurer<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// Measured fragments; `None` while one is being measured (a cycle, which validation
    /// refuses, counts as empty here).
    fragments: HashMap<&'a str, Option<Measure>>,
    /// Selection sets open on the way down.
    level: usize,
    /// Whether they went past [`MAX_NESTING`] (then the measure stops going down).
    too_nested: bool,
}

impl<'a> Measurer<'a> {
    fn fragment(&mut self, name: &'a Name) -> Measure {
        match self.fragments.get(name.as_str()) {
            Some(Some(measure)) => return *measure,
            Some(None) => return Measure::default(),
            None => {}
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return Measure::default();
        };
        self.fragments.insert(name.as_str(), None);
        let measure = self.selection_set(&fragment.node.selection_set.node);
        self.fragments.insert(name.as_str(), Some(measure));
        measure
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> Measure {
        if self.level >= MAX_NESTING {
            self.too_nested = true;
            return Measure::default();
        }
        self.level += 1;
        let measure = self.selection_set_items(set);
        self.level -= 1;
        measure
    }

    fn selection_set_items(&mut self, set: &'a SelectionSet) -> Measure {
        let mut total = Measure::default();
        for selection in &set.items {
            let part = match &selection.node {
                Selection::Field(field) => self.field(&field.node),
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            total.depth = total.depth.max(part.depth);
            total.introspection_depth = total.introspection_depth.max(part.introspection_depth);
            total.complexity = total.complexity.saturating_add(part.complexity);
            total.expanded = total.expanded.saturating_add(part.expanded);
        }
        total
    }

    fn field(&mut self, field: &'a Field) -> Measure {
        let children = self.selection_set(&field.selection_set.node);
        let name = field.name.node.as_str();
        let size = self.list_size(field);
        let complexity = children.complexity.saturating_mul(size).saturating_add(1);
        let expanded = children.expanded.saturating_add(1);
        if INTROSPECTION_FIELDS.contains(&name) {
            Measure {
                depth: 1,
                introspection_depth: 1 + children.depth.max(children.introspection_depth),
                complexity,
                expanded,
            }
        } else {
            Measure {
                depth: 1 + children.depth,
                introspection_depth: children
                    .introspection_depth
                    .saturating_add(u8::from(children.introspection_depth > 0).into()),
                complexity,
                expanded,
            }
        }
    }

    /// How many items a field's children are expected to repeat for.
    fn list_size(&self, field: &Field) -> u64 {
        let page = ["first", "last"]
            .iter()
            .filter_map(|arg| field.get_argument(arg))
            .filter_map(|value| self.integer(&value.node))
            .max();
        if let Some(page) = page {
            // As asked: a page over the limit is refused by the resolver, unless its cost
            // already is (a page of a million is refused before anything runs).
            return page;
        }
        let name = field.name.node.as_str();
        if matches!(name, "events" | "jobs" | "jobOutcomes") {
            return DEFAULT_PAGE_SIZE;
        }
        LIST_SIZES
            .iter()
            .find(|(list, _)| *list == name)
            .map_or(1, |(_, size)| *size)
    }

    fn integer(&self, value: &Value) -> Option<u64> {
        let number = match value {
            Value::Number(n) => n.as_i64(),
            Value::Variable(name) => match self.variables.get(name) {
                Some(ConstValue::Number(n)) => n.as_i64(),
                _ => None,
            },
            _ => None,
        }?;
        Some(u64::try_from(number).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::{fmt::Write as _, time::Instant};

    use async_graphql::parser::parse_query;

    use super::*;

    #[test]
    fn a_jobs_changed_events_are_costed_as_many_as_it_keeps() {
        // `ChangedEvents.events` has no page argument: it is costed as a default page, which
        // must be what a job keeps of each kind of change.
        assert_eq!(DEFAULT_PAGE_SIZE, entity::query::job_change::LISTED as u64);
    }

    fn cost(query: &str) -> Result<Cost, CostError> {
        let document = parse_query(query).unwrap();
        check(&document, None, &Variables::default(), &Limits::default())
    }

    #[test]
    fn a_page_of_events_costs_its_page_size_times_its_fields() {
        let cost = cost("{ events(first: 10) { edges { node { id title } } } }").unwrap();
        // events: 1 + 10 × (edges: 1 + (node: 1 + 2)).
        assert_eq!(cost.complexity, 41);
        assert_eq!(cost.depth, 4);
    }

    #[test]
    fn list_fields_count_with_realistic_sizes() {
        let cost = cost("{ events(first: 5) { nodes { zones { name price } } } }").unwrap();
        // events: 1 + 5 × (nodes: 1 + (zones: 1 + 20 × 2)).
        assert_eq!(cost.complexity, 1 + 5 * (1 + (1 + 20 * 2)));
        let fifty_aliases: String = (0..50).fold(String::from("{"), |mut q, i| {
            let _ = write!(
                q,
                " e{i}: event(id: \"x\") {{ zones {{ zoneId name capacity price numbered }} }}"
            );
            q
        }) + " }";
        assert!(
            cost_of(&fifty_aliases).is_ok(),
            "50 × 101 + 50 = 5100 is over 5000"
        );
    }

    fn cost_of(query: &str) -> Result<(), ()> {
        match cost(query) {
            Err(CostError::TooComplex { .. }) => Ok(()),
            _ => Err(()),
        }
    }

    #[test]
    fn a_fragment_bomb_is_refused_at_once() {
        let mut query =
            String::from("query { providers { ...F24 } }\nfragment F0 on Provider { name }\n");
        for i in 1..25 {
            let _ = writeln!(
                query,
                "fragment F{i} on Provider {{ ...F{p} a: name ...F{p} }}",
                p = i - 1
            );
        }
        let started = Instant::now();
        let err = cost(&query).unwrap_err();
        assert!(
            started.elapsed().as_millis() < 50,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.code(), "QUERY_TOO_COMPLEX");
    }

    #[test]
    fn an_unused_fragment_bomb_is_refused_too() {
        // async-graphql's validation walks every fragment, used or not.
        let mut query = String::from("query { __typename }\nfragment F0 on Provider { name }\n");
        for i in 1..40 {
            let _ = writeln!(
                query,
                "fragment F{i} on Provider {{ ...F{p} ...F{p} }}",
                p = i - 1
            );
        }
        assert_eq!(cost(&query).unwrap_err(), CostError::TooLarge);
    }

    #[test]
    fn a_long_chain_of_fragments_is_refused_without_recursing_down_it() {
        let mut query = String::from("query { ...F4999 } fragment F0 on Query { __typename }\n");
        for i in 1..5_000 {
            let _ = writeln!(query, "fragment F{i} on Query {{ ...F{} }}", i - 1);
        }
        assert_eq!(cost(&query).unwrap_err(), CostError::TooNested);
        let inline =
            "{ ".to_owned() + &"... on Query { ".repeat(63) + "__typename" + &" }".repeat(64);
        assert!(matches!(cost(&inline), Ok(_) | Err(CostError::TooNested)));
    }

    #[test]
    fn depth_counts_through_fragments_and_introspection_has_its_own_limit() {
        let deep = "{ a { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } } }";
        assert!(matches!(
            cost(deep),
            Err(CostError::TooDeep { depth: 13, max: 12 })
        ));
        let through =
            "query { ...A } fragment A on Query { a { ...B } } fragment B on A { b { c } }";
        assert_eq!(cost(through).unwrap().depth, 3);
        let introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
        assert!(cost(introspection).is_ok());
    }

    #[test]
    fn the_page_size_comes_from_a_variable_and_is_costed_as_asked() {
        let document = parse_query("query($n: Int) { jobs(first: $n) { nodes { id } } }").unwrap();
        let variables = Variables::from_json(serde_json::json!({ "n": 7 }));
        let cost = check(&document, None, &variables, &Limits::default()).unwrap();
        assert_eq!(cost.complexity, 1 + 7 * 2);
        let over = self::cost("{ jobs(first: 101) { nodes { id } } }").unwrap();
        assert_eq!(
            over.complexity,
            1 + 101 * 2,
            "the resolver refuses the page size"
        );
        let huge = self::cost("{ jobs(first: 1000000) { nodes { id } } }");
        assert!(matches!(huge, Err(CostError::TooComplex { .. })));
    }

    #[test]
    fn only_the_operation_that_runs_is_limited() {
        let mut big = String::from("query Big { ");
        for i in 0..60 {
            let _ = write!(big, "e{i}: events(first: 100) {{ nodes {{ id }} }} ");
        }
        big.push_str("} query Small { __typename }");
        let document = parse_query(&big).unwrap();
        let limits = Limits::default();
        assert!(check(&document, Some("Small"), &Variables::default(), &limits).is_ok());
        assert!(check(&document, Some("Big"), &Variables::default(), &limits).is_err());
    }
}
