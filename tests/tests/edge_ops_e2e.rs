//! End-to-end: operating the edge — live config and certificate reloads
//! under load, shared rate limits across edges, failover with passive
//! ejection, draining a region.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meridian_common::testing::backend_endpoint;
use meridian_e2e::{error_code, metric_sum, region_of, Cluster, Options};
use reqwest::Method;
use serde_json::Value;

/// Load against the edge until `stop`: each worker loops GETs, half of
/// them over a new connection each time (new TLS handshakes). Returns
/// (requests, failures) with the first failures described.
fn spawn_load(
    cluster: &Cluster,
    workers: usize,
    geo: Option<&'static str>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize, Vec<String>, Vec<String>)> {
    let url = cluster.url("/api/catalog/products?limit=2&sort=price_asc");
    let builder = || cluster.client_builder().timeout(Duration::from_secs(5));
    let shared = builder().build().unwrap();
    let builders: Vec<reqwest::ClientBuilder> = (0..workers).map(|_| builder()).collect();
    tokio::spawn(async move {
        let done = Arc::new(AtomicUsize::new(0));
        let tasks = builders.into_iter().enumerate().map(|(w, b)| {
            let (url, stop, shared, done) =
                (url.clone(), stop.clone(), shared.clone(), done.clone());
            let fresh_each_time = w % 2 == 1;
            let template = b.build().unwrap();
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut regions = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let client = if fresh_each_time {
                        template.clone()
                    } else {
                        shared.clone()
                    };
                    let mut request = client.get(&url);
                    if let Some(geo) = geo {
                        request = request.header("x-client-geo", geo);
                    }
                    match request.send().await {
                        Ok(r) if r.status() == 200 => regions.push(region_of(&r)),
                        Ok(r) => failures.push(format!("status {}", r.status())),
                        Err(e) => failures.push(format!("error {e}")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                (failures, regions)
            })
        });
        let results = futures::future::join_all(tasks).await;
        let mut failures = Vec::new();
        let mut regions = Vec::new();
        for r in results {
            let (f, g) = r.unwrap();
            failures.extend(f);
            regions.extend(g);
        }
        (
            done.load(Ordering::Relaxed),
            failures.len(),
            failures,
            regions,
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_every_second_under_load_fail_no_request_and_rotate_the_certificate() {
    let cluster = Cluster::start(Options::default()).await;
    let original = std::fs::read_to_string(&cluster.edge_path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = spawn_load(&cluster, 6, None, stop.clone());

    let started = Instant::now();
    let (mut ok, mut rejected, mut rotated) = (0, 0, false);
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        round += 1;
        // Rotate the certificate half way through; every valid config
        // after that keeps the rotated one.
        let base = if round >= 10 {
            rotated = true;
            original
                .replace("leaf.crt", "rotated.crt")
                .replace("leaf.key", "rotated.key")
        } else {
            original.clone()
        };
        let (text, valid) = match round % 3 {
            // Valid: a new cache rule, and one region fewer (Virginia; the
            // load comes from Chicago's clients).
            0 => (
                format!(
                    "{}\n[[cache.rules]]\nprefix = \"/api/search\"\nmax_ttl_ms = {}\n",
                    without_region(&base, "virginia"),
                    1000 + round
                ),
                true,
            ),
            // Invalid: an unknown key (named in the answer).
            1 => (base.replace("[health]", "[health]\nintervall_ms = 5"), false),
            // Invalid: a route to no rate-limit group.
            _ if round % 2 == 0 => (
                base.replace(
                    "prefix = \"/api/cart\"\n        service = \"cart\"",
                    "prefix = \"/api/cart\"\n        service = \"cart\"\n        rate_limit = \"missing\"",
                ),
                false,
            ),
            _ => (base.replace("max_body_bytes = 1048576", "max_body_bytes = 2097152"), true),
        };
        std::fs::write(&cluster.edge_path, &text).unwrap();
        let (status, body) = cluster.admin(Method::POST, "/admin/reload", None).await;
        if valid {
            assert_eq!(status, 200, "{body}");
            let regions = if round % 3 == 0 { 5 } else { 6 };
            assert_eq!(body["loaded"]["regions"], regions, "{body}");
            let (_, listed) = cluster.admin(Method::GET, "/admin/regions", None).await;
            assert_eq!(listed["regions"].as_array().unwrap().len(), regions);
            ok += 1;
        } else {
            assert_eq!(status, 422, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("intervall_ms") || message.contains("routes["),
                "the reason names the key: {message}"
            );
            rejected += 1;
        }
        if rotated && valid {
            // New connections get the rotated certificate.
            let client = cluster.client_builder().tls_info(true).build().unwrap();
            let r = client
                .get(cluster.url("/api/catalog/categories"))
                .send()
                .await
                .unwrap();
            let info = r.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
            let served = info.peer_certificate().unwrap().to_vec();
            let pem = std::fs::read(cluster.dir.join("rotated.crt")).unwrap();
            let expected = pem_to_der(&pem);
            assert_eq!(
                served, expected,
                "new connections see the rotated certificate"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (requests, failed, failures, _) = load.await.unwrap();
    assert!(
        rotated && ok >= 6 && rejected >= 6,
        "ok {ok} rejected {rejected}"
    );
    assert!(requests > 300, "only {requests} requests in 20 s");
    assert_eq!(
        failed,
        0,
        "failed requests during reloads: {:?}",
        &failures[..failures.len().min(5)]
    );
    let metrics = cluster.edge_metrics().await;
    assert_eq!(
        metric_sum(
            &metrics,
            "meridian_edge_config_reloads_total",
            &["result=\"ok\""]
        ),
        ok as f64
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "meridian_edge_config_reloads_total",
            &["result=\"failed\""]
        ),
        rejected as f64
    );
    cluster.shutdown().await;
}

/// `config` without the `[[regions]]` entry of `id`.
fn without_region(config: &str, id: &str) -> String {
    let start = config
        .find(&format!("[[regions]]\nid = \"{id}\""))
        .expect("the region is configured");
    let origin = start + config[start..].find("origin = ").unwrap();
    let end = origin + config[origin..].find('\n').unwrap() + 1;
    format!("{}{}", &config[..start], &config[end..])
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64_decode(&b64)
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_shared_by_edges_and_fall_back_to_local_without_redis() {
    let Some(redis) = backend_endpoint("MERIDIAN_TEST_REDIS") else {
        return;
    };
    let prefix = format!("e2e-rl-{}:", uuid::Uuid::new_v4().simple());
    let limits = |url: &str| {
        format!(
            r#"
            [rate_limit]
            redis_url = "{url}"
            redis_key_prefix = "{prefix}"
            redis_timeout_ms = 200
            [[rate_limit.groups]]
            name = "search"
            window_ms = 30000
            per_ip = 5
            [[routes]]
            prefix = "/api/search"
            service = "search"
            methods = ["GET"]
            rate_limit = "search"
            "#
        )
    };
    let cluster = Cluster::start(Options {
        edge_extra: limits(&redis),
        ..Options::default()
    })
    .await;
    let other = cluster.start_extra_edge("b", &limits(&redis)).await;
    let (a, b) = (cluster.client(), other.client());
    let search_a = cluster.url("/api/search?q=lamp");
    let search_b = other.url("/api/search?q=lamp");
    for (client, url) in [
        (&a, &search_a),
        (&b, &search_b),
        (&a, &search_a),
        (&b, &search_b),
        (&a, &search_a),
    ] {
        let r = client.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Each edge saw at most 3 of this client's requests, under the limit
    // of its own bucket: only the shared window knows it is the 6th.
    let r = b.get(&search_b).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(r).await, "rate_limited");
    assert_eq!(a.get(&search_a).send().await.unwrap().status(), 429);
    // Other routes are not in the group.
    let r = a
        .get(cluster.url("/api/catalog/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let metrics = cluster.edge_metrics().await;
    assert!(metric_sum(&metrics, "meridian_edge_rate_limited_total", &["ip"]) >= 1.0);
    other.stop().await;

    // Redis unreachable: each edge still enforces its local bucket and
    // never answers 5xx for it.
    let lonely = cluster
        .start_extra_edge("c", &limits("redis://127.0.0.1:1"))
        .await;
    let c = lonely.client();
    let url = lonely.url("/api/search?q=lamp");
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(c.get(&url).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    let metrics = lonely.metrics().await;
    assert!(metric_sum(&metrics, "meridian_edge_rate_limit_fallbacks_total", &[]) >= 1.0);
    lonely.stop().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_failing_under_load_is_ejected_then_drained_and_returns() {
    // Health checks every 2 s: passive ejection must move traffic first.
    let mut cluster = Cluster::start(Options {
        health_interval_ms: 2000,
        upstream_extra: "eject_after_failures = 3\neject_ms = 300".into(),
        ..Options::default()
    })
    .await;
    let salem = "44.94,-123.03";
    let stop = Arc::new(AtomicBool::new(false));
    let load = spawn_load(&cluster, 4, Some(salem), stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    cluster.stop_region("portland").await;
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let metrics = cluster.edge_metrics().await;
    assert!(
        metric_sum(
            &metrics,
            "meridian_edge_region_ejections_total",
            &["portland"]
        ) >= 1.0,
        "the breaker opened before the health checks noticed"
    );
    let client = cluster.client();
    let url = cluster.url("/api/catalog/products?limit=2&sort=price_asc");
    let get = || client.get(&url).header("x-client-geo", salem).send();
    assert_eq!(region_of(&get().await.unwrap()), "los-angeles");

    // Back: the breaker's trial request finds it and traffic returns.
    cluster.restart_region("portland").await;
    let back = Instant::now();
    while region_of(&get().await.unwrap()) != "portland" {
        assert!(
            back.elapsed() < Duration::from_secs(8),
            "portland never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Draining moves Portland's clients away at once, without errors.
    let (status, body) = cluster
        .admin(Method::POST, "/admin/regions/portland/drain", None)
        .await;
    assert_eq!((status, body["drained"].as_bool()), (200, Some(true)));
    for _ in 0..20 {
        assert_eq!(region_of(&get().await.unwrap()), "los-angeles");
    }
    let (_, regions) = cluster.admin(Method::GET, "/admin/regions", None).await;
    let portland = regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "portland")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        (
            portland["drained"].as_bool(),
            portland["routable"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let (status, _) = cluster
        .admin(Method::POST, "/admin/regions/atlantis/drain", None)
        .await;
    assert_eq!(status, 404);
    cluster
        .admin(Method::POST, "/admin/regions/portland/undrain", None)
        .await;
    assert_eq!(region_of(&get().await.unwrap()), "portland");

    stop.store(true, Ordering::Relaxed);
    let (requests, failed, failures, regions) = load.await.unwrap();
    assert!(requests > 200, "{requests}");
    assert_eq!(
        failed,
        0,
        "{:?} (stopped {:?} ago)",
        &failures[..failures.len().min(5)],
        stopped.elapsed()
    );
    assert!(regions.iter().any(|r| r == "los-angeles") && regions.iter().any(|r| r == "portland"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_behind_mutual_tls_serve_only_the_edge() {
    let cluster = Cluster::start(Options {
        origin_tls: true,
        ..Options::default()
    })
    .await;
    let client = cluster.client();
    // Proxying, health checks and credential introspection all cross the
    // mutual-TLS hop.
    for (geo, region) in [("45.52,-122.68", "portland"), ("32.78,-96.80", "dallas")] {
        let r = client
            .get(cluster.url("/api/catalog/categories"))
            .header("x-client-geo", geo)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (r.status().as_u16(), region_of(&r)),
            (200, region.to_owned())
        );
    }
    let token = meridian_e2e::login(&cluster, &client, "mtls@example.com").await;
    let r = client
        .get(cluster.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, regions) = cluster.admin(Method::GET, "/admin/regions", None).await;
    assert!(regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["healthy"] == true));

    // Straight to an origin: plain HTTP, or TLS without the edge's client
    // certificate, gets nowhere.
    let origin = cluster.region("chicago").addr;
    let plain = reqwest::get(format!("http://{origin}/healthz")).await;
    assert!(
        !matches!(plain, Ok(r) if r.status() == 200),
        "plain HTTP is refused"
    );
    let ca = std::fs::read(cluster.dir.join("ca.crt")).unwrap();
    let no_identity = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve("origin.meridian.internal", origin)
        .build()
        .unwrap();
    let url = format!("https://origin.meridian.internal:{}/healthz", origin.port());
    assert!(
        no_identity.get(&url).send().await.is_err(),
        "a client certificate is required"
    );
    let mut identity = std::fs::read(cluster.dir.join("edge-client.crt")).unwrap();
    identity.extend(std::fs::read(cluster.dir.join("edge-client.key")).unwrap());
    let edge_like = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .resolve("origin.meridian.internal", origin)
        .build()
        .unwrap();
    assert_eq!(edge_like.get(&url).send().await.unwrap().status(), 200);
    cluster.shutdown().await;
}

/// An origin that accepts connections and reads, but never answers.
async fn black_hole() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_timeouts_answer_504_and_repeated_failures_open_the_breaker() {
    let cluster = Cluster::start(Options {
        upstream_extra: "eject_after_failures = 2\neject_ms = 60000".into(),
        ..Options::default()
    })
    .await;
    // Chicago is a black hole for this edge; Dallas is a real origin.
    let hole = black_hole().await;
    let dallas = cluster.region("dallas").addr;
    let edge = cluster
        .start_edge_for(
            "timeouts",
            &[("chicago", hole), ("dallas", dallas)],
            r#"
            [[routes]]
            prefix = "/api/catalog"
            service = "catalog"
            methods = ["GET"]
            timeout_ms = 300
            "#,
        )
        .await;
    let client = edge.client();
    let url = edge.url("/api/catalog/categories");
    // A client in Chicago: nearest is the black hole.
    let get = || {
        client
            .get(&url)
            .header("x-client-geo", "41.88,-87.63")
            .send()
    };
    let started = Instant::now();
    let r = get().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(r.status(), 504);
    assert_eq!(error_code(r).await, "gateway_timeout");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // A second timeout opens Chicago's breaker: its clients go to Dallas at
    // once, before the health checks (1 s timeout each) can notice. Had the
    // third request tried Chicago, it would have waited out the timeout.
    assert_eq!(get().await.unwrap().status(), 504);
    let r = get().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), region_of(&r)),
        (200, "dallas".to_owned())
    );
    let metrics = edge.metrics().await;
    assert_eq!(
        metric_sum(&metrics, "meridian_edge_region_breaker_open", &["chicago"]),
        1.0
    );
    edge.stop().await;
    cluster.shutdown().await;
}
