//! A crate's module graph, read from its sources, and the cycles in it.
//!
//! Used by tests that keep a crate's arrows pointing one way: modules that
//! share a parent (the crate root's top-level modules, or the files of one
//! directory module) must not import each other in a circle. A module's
//! imports are everything its files name through `crate::…` or `super::…`
//! (in `use` trees, grouped or not, and in inline paths), test modules
//! included.
//!
//! Reading the sources rather than asking the compiler keeps this a plain
//! test with no tools to install; the price is a small parser that knows
//! the shapes our code uses (`use` trees and paths), not all of Rust.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path below the crate root, e.g. `["proxy", "caching"]`.
pub type ModPath = Vec<String>;

/// Which module each source file under `src` is. `lib.rs` and `main.rs`
/// are the root; `a/mod.rs` and `a.rs` are `a`; `bin/` is left out (each
/// binary is its own crate).
pub fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<ModPath, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let rel = path.strip_prefix(root).expect("under root");
        if rel.starts_with("bin") {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let file = parts.pop().expect("a file name");
        let stem = file.trim_end_matches(".rs");
        let is_root = parts.is_empty() && (stem == "lib" || stem == "main");
        if !is_root && stem != "mod" {
            parts.push(stem.to_owned());
        }
        out.insert(parts, path);
    }
}

/// Module → the modules it names (absolute paths, as written: they may go
/// deeper than a module, into items; callers cut them to the level they
/// compare).
pub fn imports(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    modules(src)
        .into_iter()
        .map(|(module, file)| {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let text = strip_comments(&text);
            let mut named = BTreeSet::new();
            for (base, path) in paths_in(&text) {
                let absolute = match base {
                    Base::Crate => path,
                    Base::Super(n) => {
                        // `super` of `a::b` (file a/b.rs) is `a`.
                        let Some(keep) = module.len().checked_sub(n) else {
                            continue;
                        };
                        module[..keep].iter().cloned().chain(path).collect()
                    }
                };
                named.insert(absolute);
            }
            (module, named)
        })
        .collect()
}

/// A cycle among sibling modules: `parent` and the children that reach
/// each other (a strongly connected component, sorted by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub parent: ModPath,
    pub members: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parent = if self.parent.is_empty() {
            "crate".to_owned()
        } else {
            self.parent.join("::")
        };
        write!(
            f,
            "in {parent}: {} import each other (round a circle)",
            self.members.join(", ")
        )
    }
}

/// Edges between siblings: for each parent module, child → children it
/// imports (through any file inside it).
pub fn sibling_graph(src: &Path) -> BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> {
    let imports = imports(src);
    let mut graph: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for module in imports.keys() {
        for depth in 0..module.len() {
            let parent = module[..depth].to_vec();
            graph
                .entry(parent)
                .or_default()
                .entry(module[depth].clone())
                .or_default();
        }
    }
    for (module, named) in &imports {
        for target in named {
            // The deepest common parent: that is where the arrow is drawn.
            let common = module
                .iter()
                .zip(target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= target.len() {
                continue; // a module naming its own insides or an ancestor
            }
            let parent = module[..common].to_vec();
            let (from, to) = (&module[common], &target[common]);
            let Some(siblings) = graph.get_mut(&parent) else {
                continue;
            };
            // Only arrows to real sibling modules (not to items of the
            // parent, such as a type defined in lib.rs).
            if siblings.contains_key(to) {
                siblings
                    .get_mut(from)
                    .expect("every module is registered")
                    .insert(to.clone());
            }
        }
    }
    graph
}

/// Every cycle among siblings, each reported once (as a strongly
/// connected component, in a stable order).
pub fn cycles(src: &Path) -> Vec<Cycle> {
    let mut out = Vec::new();
    for (parent, edges) in sibling_graph(src) {
        for component in strongly_connected(&edges) {
            let self_loop = component.len() == 1
                && edges
                    .get(&component[0])
                    .is_some_and(|t| t.contains(&component[0]));
            if component.len() > 1 || self_loop {
                out.push(Cycle {
                    parent: parent.clone(),
                    members: component,
                });
            }
        }
    }
    out
}

/// Tarjan's algorithm over a small graph (recursion depth = module count).
fn strongly_connected(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            let edges = self.edges;
            for w in edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                component.sort();
                self.out.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Crate,
    /// `super::` repeated n times.
    Super(usize),
}

/// Comments and string literals removed (a doc comment that mentions
/// `crate::x` is not an import).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(bytes.len(), |e| i + 4 + e);
                i = end;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => {
                // A char literal such as '"' or '{' (lifetimes have no
                // closing quote two bytes on).
                i += 3;
                out.push_str("' '");
            }
            _ => {
                let ch = text[i..].chars().next().expect("in bounds");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Every `crate::…` / `super::…` path in `text`, `use` trees expanded.
fn paths_in(text: &str) -> Vec<(Base, ModPath)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        if boundary {
            // Bytes, not `str` slices: `i` may sit inside a multi-byte
            // character.
            let (base, after) = if bytes[i..].starts_with(b"crate::") {
                (Some(Base::Crate), i + "crate::".len())
            } else if bytes[i..].starts_with(b"super::") {
                let mut n = 0;
                let mut j = i;
                while bytes[j..].starts_with(b"super::") {
                    n += 1;
                    j += "super::".len();
                }
                (Some(Base::Super(n)), j)
            } else {
                (None, i)
            };
            if let Some(base) = base {
                let mut tree = Vec::new();
                let end = use_tree(text, after, &mut Vec::new(), &mut tree);
                out.extend(tree.into_iter().map(|p| (base, p)));
                i = end.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Parses `a::b::{c, d::{e}}` from `at`, pushing each full path; returns
/// where it stopped.
fn use_tree(text: &str, mut at: usize, prefix: &mut Vec<String>, out: &mut Vec<ModPath>) -> usize {
    let bytes = text.as_bytes();
    let skip_ws = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    };
    let depth = prefix.len();
    loop {
        at = skip_ws(at);
        if at < bytes.len() && bytes[at] == b'{' {
            at += 1;
            loop {
                at = skip_ws(at);
                if at >= bytes.len() {
                    break;
                }
                if bytes[at] == b'}' {
                    at += 1;
                    break;
                }
                if bytes[at] == b',' {
                    at += 1;
                    continue;
                }
                let before = at;
                at = use_tree(text, at, prefix, out);
                if at == before {
                    at += 1; // something we do not parse: step over it
                }
            }
            prefix.truncate(depth);
            return at;
        }
        let start = at;
        while at < bytes.len() && is_ident(bytes[at]) {
            at += 1;
        }
        if start == at {
            if text[at..].starts_with('*') {
                at += 1;
            }
            break;
        }
        let word = &text[start..at];
        if word != "self" {
            prefix.push(word.to_owned());
        }
        if text[at..].starts_with("::") {
            at += 2;
            continue;
        }
        break;
    }
    if prefix.len() > depth || !prefix.is_empty() {
        out.push(prefix.clone());
    }
    prefix.truncate(depth);
    // `as alias` and the rest are not paths.
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_trees_expand() {
        let text = "use crate::{cache::{self, policy}, config::X};\n\
                    let y = crate::routing::segment_prefix(a, b);\n\
                    use super::super::state::S;";
        let paths: Vec<_> = paths_in(text)
            .into_iter()
            .map(|(b, p)| (b, p.join("::")))
            .collect();
        assert_eq!(
            paths,
            vec![
                (Base::Crate, "cache".to_owned()),
                (Base::Crate, "cache::policy".to_owned()),
                (Base::Crate, "config::X".to_owned()),
                (Base::Crate, "routing::segment_prefix".to_owned()),
                (Base::Super(2), "state::S".to_owned()),
            ]
        );
    }

    #[test]
    fn comments_and_strings_are_not_imports() {
        let text = "// crate::a::b\n/* crate::c */ let s = \"crate::d\"; use crate::e;";
        let paths: Vec<_> = paths_in(&strip_comments(text))
            .into_iter()
            .map(|(_, p)| p.join("::"))
            .collect();
        assert_eq!(paths, vec!["e".to_owned()]);
    }

    #[test]
    fn cycles_are_found_among_siblings() {
        let edges: BTreeMap<String, BTreeSet<String>> = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec!["a"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        let found = strongly_connected(&edges);
        let big: Vec<_> = found.into_iter().filter(|c| c.len() > 1).collect();
        assert_eq!(big, vec![vec!["a".to_owned(), "b".into(), "c".into()]]);
    }
}
