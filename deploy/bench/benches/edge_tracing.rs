//! What tracing costs the edge, measured in one run so the ratios mean
//! something: the same requests through three edges in front of the same
//! origins — `[tracing]` absent (off, the default), on with nothing sampled
//! (`sample_ratio = 0`: ids made and propagated, no span recorded), and on
//! with every request sampled and exported to a collector.
//!
//!     cargo bench -p meridian-bench --bench edge_tracing
//!
//! Two paths: a product page answered from the edge's cache (no origin
//! work, so the edge's own cost is most of the time) and a small API read
//! the origin answers. Off must be the floor: it pays one `None` check per
//! phase.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use meridian_e2e::otlp::OtlpReceiver;
use meridian_e2e::{Cluster, ExtraEdge, Options};

const OFF: &str = "off";
const UNSAMPLED: &str = "on_ratio_0";
const SAMPLED: &str = "on_ratio_1";

struct Setup {
    runtime: tokio::runtime::Runtime,
    cluster: Cluster,
    _collector: OtlpReceiver,
    /// (label, client, base URL) per edge.
    edges: Vec<(&'static str, reqwest::Client, String, Option<ExtraEdge>)>,
    page: String,
}

fn tracing_table(endpoint: &str, ratio: f64) -> String {
    format!("\n[tracing]\nendpoint = \"{endpoint}\"\nsample_ratio = {ratio:.1}\n")
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (cluster, collector, edges, page) = runtime.block_on(async {
        let collector = OtlpReceiver::start().await;
        let options = Options {
            page_cache: true,
            ..Options::default()
        };
        let cluster = Cluster::start(options).await;
        let products = cluster
            .get_json("/api/catalog/products?limit=1", None)
            .await;
        let page = format!("/p/{}", products["items"][0]["id"].as_str().unwrap());
        let mut edges = vec![(OFF, cluster.client(), cluster.url(""), None)];
        for (label, ratio) in [(UNSAMPLED, 0.0), (SAMPLED, 1.0)] {
            // The page cache rules come with `page_cache`; the extra edge
            // takes only `edge_extra` in place of the cluster's.
            let edge = cluster
                .start_extra_edge(label, &tracing_table(&collector.endpoint(), ratio))
                .await;
            edges.push((label, edge.client(), edge.url(""), Some(edge)));
        }
        (cluster, collector, edges, page)
    });
    Setup {
        runtime,
        cluster,
        _collector: collector,
        edges,
        page,
    }
}

async fn get(client: &reqwest::Client, url: &str, want_hit: bool) {
    let r = client.get(url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    if want_hit {
        assert_eq!(
            r.headers()["x-cache"],
            "HIT",
            "{url} must come from the cache"
        );
    }
    r.bytes().await.unwrap();
}

fn edge_tracing(c: &mut Criterion) {
    let s = setup();
    let rt = &s.runtime;
    let paths = [
        ("cached_page", s.page.clone(), true),
        ("api_read", "/api/catalog/categories".to_owned(), false),
    ];
    rt.block_on(async {
        for (_, client, base, _) in &s.edges {
            for (_, path, _) in &paths {
                // Fill each edge's cache (the first request is the miss).
                let _ = client
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await;
            }
        }
    });
    for (name, path, hit) in &paths {
        let mut group = c.benchmark_group(format!("edge_tracing_{name}"));
        group.measurement_time(Duration::from_secs(5));
        for (label, client, base, _) in &s.edges {
            let url = format!("{base}{path}");
            group.bench_function(*label, |b| b.to_async(rt).iter(|| get(client, &url, *hit)));
        }
        group.finish();
    }

    // The same-run ratios: rounds interleave the edges so drift on a
    // shared machine falls on all three alike.
    for (name, path, hit) in &paths {
        let mut totals = vec![Duration::ZERO; s.edges.len()];
        let rounds = 10;
        let per_round = 300;
        rt.block_on(async {
            for _ in 0..rounds {
                for (i, (_, client, base, _)) in s.edges.iter().enumerate() {
                    let url = format!("{base}{path}");
                    let start = Instant::now();
                    for _ in 0..per_round {
                        get(client, &url, *hit).await;
                    }
                    totals[i] += start.elapsed();
                }
            }
        });
        let n = rounds * per_round;
        let off = totals[0].as_secs_f64();
        let line: Vec<String> = s
            .edges
            .iter()
            .zip(&totals)
            .map(|((label, ..), t)| {
                format!("{label} {:?} ({:.3}× off)", *t / n, t.as_secs_f64() / off)
            })
            .collect();
        println!(
            "same run, {name}, {n} sequential requests per edge: {}",
            line.join(", ")
        );
    }

    let Setup {
        runtime,
        cluster,
        edges,
        ..
    } = s;
    runtime.block_on(async {
        for (_, _, _, edge) in edges {
            if let Some(edge) = edge {
                edge.stop().await;
            }
        }
        cluster.shutdown().await;
    });
}

criterion_group!(benches, edge_tracing);
criterion_main!(benches);
