//! A product page served from the edge's cache against the same page made
//! by an origin (what a cache miss costs), measured in one run on the same
//! machine so their ratio means something; and the page's weight (HTML +
//! CSS + JS, images aside) against its 60 KiB budget.
//!
//!     cargo bench -p meridian-bench --bench storefront_pages
//!
//! The edge is reached over TLS (HTTP/2, a kept-alive connection), as a
//! browser reaches it; the origin over plain HTTP with the edge's
//! credential, as the edge reaches it.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use meridian_e2e::{Cluster, Options, SECRET};

/// HTML + CSS + JS of a product page, uncompressed.
const BUDGET_BYTES: usize = 60 * 1024;

struct Setup {
    runtime: tokio::runtime::Runtime,
    cluster: Cluster,
    page: String,
    edge: reqwest::Client,
    origin: reqwest::Client,
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (cluster, page) = runtime.block_on(async {
        let cluster = Cluster::start(Options {
            page_cache: true,
            ..Options::default()
        })
        .await;
        let products = cluster
            .get_json("/api/catalog/products?limit=1", None)
            .await;
        let page = format!("/p/{}", products["items"][0]["id"].as_str().unwrap());
        (cluster, page)
    });
    Setup {
        edge: cluster.client(),
        origin: reqwest::Client::new(),
        runtime,
        cluster,
        page,
    }
}

impl Setup {
    fn chicago(&self) -> String {
        format!(
            "http://{}{}",
            self.cluster.region("chicago").addr,
            self.page
        )
    }

    async fn get_via_edge(&self) -> usize {
        let r = self
            .edge
            .get(self.cluster.url(&self.page))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["x-cache"],
            "HIT",
            "the page must come from the cache"
        );
        r.bytes().await.unwrap().len()
    }

    async fn get_from_origin(&self) -> usize {
        let r = self
            .origin
            .get(self.chicago())
            .header("x-meridian-internal", SECRET)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap().len()
    }

    /// Bytes of the page and of the stylesheet and script it names.
    async fn weight(&self) -> (usize, usize, usize) {
        let html = self
            .edge
            .get(self.cluster.url(&self.page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let asset = |ext: &str| {
            html.split("/assets/app.")
                .filter_map(|rest| rest.split('"').next())
                .find(|name| name.ends_with(ext))
                .map(|name| self.cluster.url(&format!("/assets/app.{name}")))
                .expect("the page names its assets")
        };
        let mut sizes = Vec::new();
        for url in [asset(".css"), asset(".js")] {
            sizes.push(
                self.edge
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
                    .len(),
            );
        }
        (html.len(), sizes[0], sizes[1])
    }

    /// Mean time of `n` sequential requests, for the same-run ratio.
    async fn mean(&self, n: u32, edge: bool) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            if edge {
                self.get_via_edge().await;
            } else {
                self.get_from_origin().await;
            }
        }
        start.elapsed() / n
    }
}

fn product_page(c: &mut Criterion) {
    let s = setup();
    let rt = &s.runtime;
    rt.block_on(async {
        // Fill the cache (the first request is the miss).
        let _ = s
            .edge
            .get(s.cluster.url(&s.page))
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
        s.get_via_edge().await;
    });

    let (html, css, js) = rt.block_on(s.weight());
    let total = html + css + js;
    println!("product page weight: html {html} + css {css} + js {js} = {total} bytes (budget {BUDGET_BYTES})");
    assert!(total <= BUDGET_BYTES, "over the page budget");

    let mut group = c.benchmark_group("product_page");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("edge_cache_hit_tls_h2", |b| {
        b.to_async(rt).iter(|| s.get_via_edge())
    });
    group.bench_function("origin_render_http", |b| {
        b.to_async(rt).iter(|| s.get_from_origin())
    });
    group.finish();

    let (edge, origin) =
        rt.block_on(async { (s.mean(2000, true).await, s.mean(2000, false).await) });
    println!(
        "same run, 2000 sequential requests each: edge cache hit {edge:?}, origin render {origin:?}, \
         origin / edge = {:.2}",
        origin.as_secs_f64() / edge.as_secs_f64()
    );
    let Setup {
        runtime, cluster, ..
    } = s;
    runtime.block_on(cluster.shutdown());
}

criterion_group!(benches, product_page);
criterion_main!(benches);
