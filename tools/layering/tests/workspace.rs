//! Every crate of the workspace points one way: no two sibling modules
//! (top-level, or inside one directory) import each other, directly or
//! round a circle.

use std::path::{Path, PathBuf};

/// The `src` folder of every member crate (from the workspace manifest).
fn crate_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("a members list");
    members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| root.join(m).join("src"))
        .filter(|src| src.is_dir())
        .collect()
}

#[test]
fn no_crate_has_import_cycles() {
    let sources = crate_sources();
    assert!(sources.len() >= 15, "found only {sources:?}");
    let mut found = Vec::new();
    for src in &sources {
        for cycle in meridian_layering::cycles(src) {
            found.push(format!("{}: {cycle}", src.display()));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}
