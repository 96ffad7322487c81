//! The GraphQL schema, kept apart from the server wiring: [`sdl`] needs no database, and the
//! server adds its data when it builds the schema with [`build`].

use std::sync::Arc;

use entity::destination::DestinationPolicy;

use super::{DbLoader, MutationRoot, QueryRoot, SubscriptionRoot, limits::Limits};
use crate::{access::SearchAccess, changes::ChangeFeed, database::Database, search::SearchIndex};
use async_graphql::{Schema, SchemaBuilder, dataloader::DataLoader};

/// The API's schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder(limits: Limits) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    // Depth and complexity are measured before the schema sees a document (`cost`), with
    // fragments costed once: async-graphql's own limits expand every spread first.
    let builder = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_recursive_depth(32)
        .limit_directives(16)
        // No extensions: with one, the executor sends every field through the extension
        // chain. Persisted queries are resolved before execution (`documents`).
        .data(limits);
    if limits.introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// What the schema's resolvers read.
pub struct SchemaData {
    /// The database, with its breaker.
    pub database: Arc<Database>,
    /// The search index.
    pub index: Arc<SearchIndex>,
    /// Job and catalogue changes, for subscriptions.
    pub changes: ChangeFeed,
    /// Whether event search needs a viewer token.
    pub search_access: SearchAccess,
    /// Which provider addresses `upsertProvider` accepts.
    pub destinations: DestinationPolicy,
}

/// The schema the server runs.
pub fn build(data: SchemaData, limits: Limits) -> ApiSchema {
    let loader = DataLoader::new(DbLoader::new(Arc::clone(&data.database)), tokio::spawn);
    builder(limits)
        .data(data.database)
        .data(data.index)
        .data(data.changes)
        .data(data.search_access)
        .data(data.destinations)
        .data(loader)
        .finish()
}

/// The schema without data: enough to parse and validate documents (tests of error codes).
#[cfg(test)]
pub(crate) fn without_data() -> ApiSchema {
    builder(Limits::default()).finish()
}

/// The schema's SDL, as `graphql-api export-schema` prints it and `schema.graphql` holds it:
/// async-graphql's export, made readable by [`readable_sdl`].
pub fn sdl() -> String {
    readable_sdl(&builder(Limits::default()).finish().sdl())
}

/// Widest line a one-line description may make.
const SDL_WIDTH: usize = 100;

/// async-graphql's SDL, made readable: two-space indentation, a description on one line when
/// it fits, the arguments of a field one per line when it has more than one (without the
/// commas, which GraphQL does not need), and a description on the connection types
/// async-graphql generates (which have none).
pub fn readable_sdl(sdl: &str) -> String {
    // async-graphql writes the arguments before the first described one on the field's line,
    // separated by tabs: give each its own line first.
    let lines: Vec<String> = sdl
        .lines()
        .flat_map(split_inline_arguments)
        .map(|l| indent_with_spaces(&l))
        .collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut in_arguments = false;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed == "\"\"\"" {
            // A description: its text runs to the next `"""` line.
            let close = (i + 1..lines.len())
                .find(|&j| lines[j].trim() == "\"\"\"")
                .unwrap_or(lines.len() - 1);
            let text = lines.get(i + 1).map_or("", |l| l.trim());
            if close == i + 2 && indent.len() + text.len() + 6 <= SDL_WIDTH {
                out.push(format!("{indent}\"\"\"{text}\"\"\""));
            } else {
                out.extend(lines[i..=close].iter().cloned());
            }
            i = close + 1;
            continue;
        }
        if let Some(description) = generated_type_description(trimmed)
            && !out.last().is_some_and(|l| l.trim_end().ends_with("\"\"\""))
        {
            out.push(format!("\"\"\"{description}\"\"\""));
        }
        if in_arguments {
            if trimmed.starts_with(')') {
                in_arguments = false;
                out.push(line.clone());
            } else {
                // Arguments after a described one share its line, tab-separated.
                for (n, argument) in line.split(",\t\t").enumerate() {
                    let argument = argument.trim_end_matches(',');
                    out.push(if n == 0 {
                        argument.to_owned()
                    } else {
                        format!("{indent}{}", argument.trim_start())
                    });
                }
            }
        } else if trimmed.ends_with('(') && !trimmed.starts_with('"') {
            in_arguments = true;
            out.push(line.clone());
        } else {
            out.extend(arguments_one_per_line(line));
        }
        i += 1;
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// `\tname(\t\ta: A,\t\tb: B,` as `\tname(`, `\t\ta: A,`, `\t\tb: B,`.
fn split_inline_arguments(line: &str) -> Vec<String> {
    let body = line.trim_start_matches('\t');
    let depth = line.len() - body.len();
    if !body.contains("(\t") {
        return vec![line.to_owned()];
    }
    let mut parts = body.split('\t').filter(|p| !p.is_empty());
    let mut out = Vec::new();
    if let Some(head) = parts.next() {
        out.push(format!("{}{head}", "\t".repeat(depth)));
    }
    out.extend(parts.map(|p| format!("{}{p}", "\t".repeat(depth + 1))));
    out
}

fn indent_with_spaces(line: &str) -> String {
    let tabs = line.len() - line.trim_start_matches('\t').len();
    format!("{}{}", "  ".repeat(tabs), &line[tabs..])
}

/// A description for the types async-graphql generates for connections.
fn generated_type_description(line: &str) -> Option<String> {
    let name = line.strip_prefix("type ")?.split_whitespace().next()?;
    if name == "PageInfo" {
        return Some("Where a page stands in its connection.".to_owned());
    }
    if let Some(item) = name.strip_suffix("Connection") {
        return Some(format!(
            "A page of {item} items, with their cursors and totals."
        ));
    }
    name.strip_suffix("Edge")
        .map(|item| format!("One {item} of a page, with its cursor."))
}

/// `name(a: A, b: B): T` as one argument per line; a field with one argument stays as it is.
fn arguments_one_per_line(line: &str) -> Vec<String> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let (Some(open), Some(close)) = (trimmed.find('('), trimmed.rfind("):")) else {
        return vec![line.to_owned()];
    };
    if trimmed.starts_with('"') || trimmed.starts_with('@') || open > close {
        return vec![line.to_owned()];
    }
    let arguments = split_top_level(&trimmed[open + 1..close]);
    if arguments.len() < 2 {
        return vec![line.to_owned()];
    }
    let mut out = vec![format!("{indent}{}(", &trimmed[..open])];
    out.extend(arguments.iter().map(|a| format!("{indent}  {a}")));
    out.push(format!("{indent}{}", &trimmed[close..]));
    out
}

/// Splits on the commas outside brackets and strings.
fn split_top_level(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth, mut in_string) =
        (Vec::new(), String::new(), 0i32, false);
    for c in text.chars() {
        match c {
            '"' => in_string = !in_string,
            '[' | '{' | '(' if !in_string => depth += 1,
            ']' | '}' | ')' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdl_is_made_readable() {
        let raw = "type Query {\n\t\"\"\"\n\tJobs, newest first.\n\t\"\"\"\n\tjobs(filter: JobFilter, first: Int = 20, after: String): JobConnection!\n\tjob(id: ID!): Job\n}\n\ntype JobConnection {\n\tx: Int\n}\n";
        assert_eq!(
            readable_sdl(raw),
            "type Query {\n  \"\"\"Jobs, newest first.\"\"\"\n  jobs(\n    filter: JobFilter\n    first: Int = 20\n    after: String\n  ): JobConnection!\n  job(id: ID!): Job\n}\n\n\"\"\"A page of Job items, with their cursors and totals.\"\"\"\ntype JobConnection {\n  x: Int\n}\n"
        );
    }

    #[test]
    fn arguments_after_a_described_one_get_their_own_lines() {
        let raw = "type Mutation {\n\tset(\n\t\t\"\"\"\n\t\tWhich.\n\t\t\"\"\"\n\t\tname: String!,\t\tenabled: Boolean!\n\t): Int\n}\n";
        assert_eq!(
            readable_sdl(raw),
            "type Mutation {\n  set(\n    \"\"\"Which.\"\"\"\n    name: String!\n    enabled: Boolean!\n  ): Int\n}\n"
        );
    }

    #[test]
    fn every_type_of_the_schema_has_a_description() {
        let sdl = sdl();
        let lines: Vec<&str> = sdl.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let defines = [
                "type ",
                "enum ",
                "input ",
                "interface ",
                "scalar ",
                "union ",
            ]
            .iter()
            .any(|k| line.starts_with(k));
            if defines {
                let previous = i.checked_sub(1).map_or("", |p| lines[p]);
                assert!(previous.ends_with("\"\"\""), "no description on `{line}`");
            }
        }
        assert!(!sdl.contains('\t'), "two-space indentation");
        async_graphql::parser::parse_schema(&sdl).expect("the readable SDL is still valid SDL");
    }
}
