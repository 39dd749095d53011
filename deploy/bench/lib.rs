//! No library: the benchmarks live in `benches/` (`cargo bench -p
//! meridian-bench`), beside `edge-vs-nginx.sh`.
