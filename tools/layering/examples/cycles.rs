//! `cargo run -p meridian-layering --example cycles -- edge/src`: the
//! import cycles of a crate, and with `--graph` its sibling arrows.

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let graph = args.iter().any(|a| a == "--graph");
    args.retain(|a| a != "--graph");
    for src in args {
        let src = std::path::Path::new(&src);
        if graph {
            for (parent, edges) in meridian_layering::sibling_graph(src) {
                println!("[{}]", parent.join("::"));
                for (from, to) in edges {
                    let to: Vec<_> = to.into_iter().collect();
                    println!("  {from} -> {}", to.join(", "));
                }
            }
        }
        for cycle in meridian_layering::cycles(src) {
            println!("{}: cycle {cycle}", src.display());
        }
    }
}
