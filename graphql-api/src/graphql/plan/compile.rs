//! From a parsed document to a [`Plan`]: every selection typed, fragments inlined with the
//! conditions they were spread under; or no plan, for anything else.

use async_graphql::{
    Positioned, Variables,
    parser::types::{
        Directive, DocumentOperations, ExecutableDocument, OperationType, SelectionSet,
    },
};

use super::{Condition, Field, Plan, Selection, Type, run};

/// Most selections a plan holds once fragments are inlined: a document that spreads fragments
/// into fragments can name exponentially many, and compiling it must stay cheap.
const MAX_SELECTIONS: usize = 512;

/// Deepest nesting of fragments a plan inlines.
const MAX_NESTING: usize = 16;

/// The plan of `document`'s operation, if it has exactly one, a query, and every selection
/// in it is one a plan answers.
pub(crate) fn compile(document: &ExecutableDocument) -> Option<Plan> {
    let (name, operation) = match &document.operations {
        DocumentOperations::Single(operation) => (None, operation),
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            let (name, operation) = operations.iter().next()?;
            (Some(name.clone()), operation)
        }
        DocumentOperations::Multiple(_) => return None,
    };
    let operation = &operation.node;
    if operation.ty != OperationType::Query || !operation.directives.is_empty() {
        return None;
    }
    let mut compiler = Compiler {
        document,
        budget: MAX_SELECTIONS,
    };
    let mut selections = Vec::new();
    compiler.set(
        &operation.selection_set.node,
        Type::Query,
        &[],
        0,
        &mut selections,
    )?;
    let fixed = if unconditional(&selections) {
        Some(run::choose(&[&selections], &Variables::default())?)
    } else {
        None
    };
    Some(Plan {
        operation: name,
        variables: operation.variable_definitions.clone(),
        selections,
        fixed,
    })
}

struct Compiler<'a> {
    document: &'a ExecutableDocument,
    /// Selections it may still add.
    budget: usize,
}

impl Compiler<'_> {
    /// Adds the selections of `set`, on an object of type `ty`, selected under `when`, to
    /// `out`; `nesting` is how many fragments enclose it.
    fn set(
        &mut self,
        set: &SelectionSet,
        ty: Type,
        when: &[Condition],
        nesting: usize,
        out: &mut Vec<Selection>,
    ) -> Option<()> {
        use async_graphql::parser::types::Selection as Item;
        for item in &set.items {
            let mut when = when.to_vec();
            match &item.node {
                Item::Field(field) => {
                    let field = &field.node;
                    conditions(&field.directives, &mut when)?;
                    self.budget = self.budget.checked_sub(1)?;
                    let name = field.name.node.as_str();
                    let (kind, child) = if name == "__typename" {
                        (Field::Typename(ty.name()), None)
                    } else {
                        ty.field(name)?
                    };
                    if kind != Field::Events && !field.arguments.is_empty() {
                        return None;
                    }
                    let sub = &field.selection_set.node;
                    let mut children = Vec::new();
                    match child {
                        Some(child) if !sub.items.is_empty() => {
                            self.set(sub, child, &[], nesting, &mut children)?;
                        }
                        None if sub.items.is_empty() => {}
                        _ => return None,
                    }
                    out.push(Selection {
                        key: field.response_key().node.clone(),
                        field: kind,
                        when,
                        arguments: field
                            .arguments
                            .iter()
                            .map(|(name, value)| (name.node.clone(), value.node.clone()))
                            .collect(),
                        children,
                    });
                }
                Item::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    conditions(&spread.directives, &mut when)?;
                    let fragment = &self
                        .document
                        .fragments
                        .get(&spread.fragment_name.node)?
                        .node;
                    if nesting >= MAX_NESTING
                        || !fragment.directives.is_empty()
                        || !ty.admits(&fragment.type_condition.node.on.node)
                    {
                        return None;
                    }
                    self.set(&fragment.selection_set.node, ty, &when, nesting + 1, out)?;
                }
                Item::InlineFragment(inline) => {
                    let inline = &inline.node;
                    conditions(&inline.directives, &mut when)?;
                    let applies = inline
                        .type_condition
                        .as_ref()
                        .is_none_or(|condition| ty.admits(&condition.node.on.node));
                    if nesting >= MAX_NESTING || !applies {
                        return None;
                    }
                    self.set(&inline.selection_set.node, ty, &when, nesting + 1, out)?;
                }
            }
        }
        Some(())
    }
}

/// Adds the `@skip`/`@include` conditions of `directives` to `when`; none for any other
/// directive.
fn conditions(directives: &[Positioned<Directive>], when: &mut Vec<Condition>) -> Option<()> {
    for directive in directives {
        let directive = &directive.node;
        let include = match directive.name.node.as_str() {
            "include" => true,
            "skip" => false,
            _ => return None,
        };
        let [(name, value)] = directive.arguments.as_slice() else {
            return None;
        };
        if name.node != "if" {
            return None;
        }
        when.push(Condition {
            include,
            value: value.node.clone(),
        });
    }
    Some(())
}

/// Whether no selection depends on a condition.
fn unconditional(selections: &[Selection]) -> bool {
    selections
        .iter()
        .all(|s| s.when.is_empty() && unconditional(&s.children))
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn plan(query: &str) -> Option<Plan> {
        compile(&parse_query(query).unwrap())
    }

    #[test]
    fn event_searches_get_plans_and_everything_else_goes_to_the_executor() {
        let planned = [
            "{ events { nodes { id title } } }",
            "query Q($n: Int) { a: events(first: $n) { totalCount pageInfo { endCursor } edges { cursor node { ...F provider { id name } } } } }
             fragment F on Event { startsAt ... on Node { id } }",
            "{ events { nodes { id @skip(if: true) title } } __typename }",
        ];
        for query in planned {
            assert!(plan(query).is_some(), "{query}");
        }
        let unplanned = [
            "{ events { nodes { zones { name } } } }",
            "{ events { nodes { provider { url } } } }",
            "{ limits { maxDepth } }",
            "mutation { triggerCollection(provider: \"a\") { id } }",
            "{ events { nodes { id @deprecated } } }",
            "{ events { nodes { ... on Job { id } } } }",
            "query A { events { totalCount } } query B { events { totalCount } }",
            "{ events { nodes { title(x: 1) } } }",
        ];
        for query in unplanned {
            assert!(plan(query).is_none(), "{query}");
        }
    }

    #[test]
    fn a_plan_is_grouped_once_unless_a_condition_depends_on_the_request() {
        assert!(plan("{ events { nodes { id } } }").unwrap().fixed.is_some());
        let conditional = plan("query($s: Boolean!) { events { nodes { id @skip(if: $s) } } }");
        assert!(conditional.unwrap().fixed.is_none());
    }

    #[test]
    fn fragment_cycles_and_fan_outs_stop_the_compiler_early() {
        // A cycle (which validation refuses) must not recurse without end.
        assert!(plan("{ events { nodes { ...A } } } fragment A on Event { id ...A }").is_none());
        // Each fragment spreads the next twice: 2^30 selections once inlined.
        let mut query = String::from("{ events { nodes { ...F0 } } }\n");
        for i in 0..30 {
            query.push_str(&format!(
                "fragment F{i} on Event {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str("fragment F30 on Event { id }\n");
        let started = std::time::Instant::now();
        assert!(plan(&query).is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
