//! The crate graph and the rooms of docs/ARCHITECTURE.md, checked so they stay true.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
};

/// Each crate of ours and the crates of ours it may use (normal dependencies, not dev).
const ALLOWED: &[(&str, &[&str])] = &[
    ("entity", &[]),
    ("migration", &[]),
    ("lifecycle", &["entity", "migration"]),
    ("ingestor", &["entity", "lifecycle", "migration"]),
    ("graphql-api", &["entity", "lifecycle"]),
    ("fever", &["entity", "graphql-api", "ingestor", "lifecycle"]),
    ("test-support", &["lifecycle", "migration"]),
];

#[test]
fn crates_depend_only_as_the_architecture_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let ours: BTreeSet<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let mut actual: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for package in packages {
        let uses = actual.entry(package["name"].as_str().unwrap()).or_default();
        for dependency in package["dependencies"].as_array().unwrap() {
            let name = dependency["name"].as_str().unwrap();
            if ours.contains(name) && dependency["kind"].is_null() {
                uses.insert(name);
            }
        }
    }
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(name, uses)| (*name, uses.iter().copied().collect()))
        .collect();
    assert_eq!(
        actual, allowed,
        "update docs/ARCHITECTURE.md and ALLOWED together"
    );
}

#[test]
fn the_collector_reads_the_domain_never_the_queries() {
    let collector = Path::new(env!("CARGO_MANIFEST_DIR")).join("ingestor/src/collector");
    let mut files = vec![collector];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for forbidden in [
                "entity::query",
                "sea_orm",
                "crate::store",
                "DatabaseConnection",
            ] {
                assert!(
                    !source.contains(forbidden),
                    "{} uses {forbidden}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} collector files found");
}
