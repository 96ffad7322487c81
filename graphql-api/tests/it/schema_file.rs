//! `schema.graphql` at the repository root is the exported SDL.

use std::path::PathBuf;

#[test]
fn schema_graphql_is_the_exported_sdl() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let exported = graphql_api::graphql::schema::sdl();
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &exported).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == exported,
        "schema.graphql is out of date with the code. Regenerate it with\n  \
         cargo run -p graphql-api -- export-schema > schema.graphql\n\
         (or UPDATE_SCHEMA=1 cargo nextest run -p graphql-api schema_graphql) and commit it."
    );
}
