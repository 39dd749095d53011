//! The edge's modules point one way: no two sibling modules (top-level, or
//! inside one directory) import each other, directly or round a circle.

use std::path::Path;

#[test]
fn the_edge_has_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let cycles = meridian_layering::cycles(&src);
    let listed: Vec<String> = cycles.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "import cycles:\n{}", listed.join("\n"));
}
