//! End-to-end: the edge over TLS in front of six regional origins.

use std::time::{Duration, Instant};

use meridian_e2e::call::Send as _;
use meridian_e2e::{register_and_login, Cluster, Options, PASSWORD, REGIONS, SECRET};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_me_logout() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let (token, user) = register_and_login(&cluster, &client, "ann@example.com").await;

    let me = cluster
        .get("/api/auth/me")
        .bearer_auth(&token)
        .reply()
        .await;
    assert_eq!(me.status(), 200);
    assert!(!me.region().is_empty());
    let me: Value = me.json.clone();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["email"], "ann@example.com");
    assert!(me.get("password_hash").is_none());

    // The cookie works as well as the bearer token.
    let by_cookie = cluster
        .get("/api/auth/me")
        .header("cookie", format!("meridian_session={token}"))
        .reply()
        .await;
    assert_eq!(by_cookie.status(), 200);

    // Profile update.
    let patched = cluster
        .patch("/api/auth/me")
        .bearer_auth(&token)
        .json(&json!({ "display_name": "Ann E.", "bio": "Teapots" }))
        .reply()
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json.clone();
    assert_eq!(patched["display_name"], "Ann E.");

    let logout = cluster
        .post("/api/auth/logout")
        .bearer_auth(&token)
        .reply()
        .await;
    assert_eq!(logout.status(), 204);
    // The edge caches sessions for 60 s in this cluster: the 401 proves the
    // logout dropped the cached entry.
    let after = cluster
        .get("/api/auth/me")
        .bearer_auth(&token)
        .reply()
        .await;
    assert_eq!(after.status(), 401);
    assert_eq!(after.code(), "unauthorized");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors_are_json_and_uniform() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    register_and_login(&cluster, &client, "bob@example.com").await;

    let dup = cluster
        .post("/api/auth/register")
        .json(&json!({ "email": "BOB@example.com", "password": PASSWORD, "display_name": "Bob" }))
        .reply()
        .await;
    assert_eq!(dup.status(), 409);
    assert_eq!(dup.code(), "email_taken");

    let bad = cluster
        .post("/api/auth/register")
        .json(&json!({ "email": "not-an-email", "password": "short", "display_name": "" }))
        .reply()
        .await;
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json.clone();
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "display_name"]);

    let missing = cluster
        .post("/api/auth/register")
        .json(&json!({ "email": "x@example.com" }))
        .reply()
        .await;
    assert_eq!(missing.status(), 422);

    let wrong_password = cluster
        .post("/api/auth/login")
        .json(&json!({ "email": "bob@example.com", "password": "not the password" }))
        .reply()
        .await;
    let unknown_email = cluster
        .post("/api/auth/login")
        .json(&json!({ "email": "nobody@example.com", "password": PASSWORD }))
        .reply()
        .await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let a: Value = wrong_password.json.clone();
    let b: Value = unknown_email.json.clone();
    assert_eq!(a, b, "wrong password and unknown email look the same");

    let no_session = cluster.get("/api/auth/me").reply().await;
    assert_eq!(no_session.status(), 401);
    let forged = cluster
        .get("/api/auth/me")
        .bearer_auth("A".repeat(43))
        .reply()
        .await;
    assert_eq!(forged.status(), 401);

    let unknown = cluster.get("/api/nothing/here").reply().await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.code(), "not_found");
    let traversal = cluster
        .get("/api/catalog/x%2F..%2F..%2Fauth%2Fme")
        .reply()
        .await;
    assert_eq!(traversal.status(), 400);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sent_identity_headers_never_reach_an_origin() {
    // `/api/auth/me` is public at this edge, so only header stripping stands
    // between a spoofed `x-user-id` and the origin.
    let cluster = Cluster::start(Options {
        public_me: true,
        ..Options::default()
    })
    .await;
    let client = cluster.client();
    let (token, user) = register_and_login(&cluster, &client, "carol@example.com").await;
    let victim = user["id"].as_str().unwrap();

    let spoofed = cluster
        .get("/api/auth/me")
        .header("x-user-id", victim)
        .header("x-meridian-internal", SECRET)
        .reply()
        .await;
    assert_eq!(spoofed.status(), 401, "spoofed x-user-id was honoured");

    // With a real session, the edge's identity wins over a spoofed one.
    let other = uuid::Uuid::new_v4().to_string();
    let mixed = cluster
        .get("/api/auth/me")
        .bearer_auth(&token)
        .header("x-user-id", &other)
        .reply()
        .await;
    assert_eq!(mixed.status(), 200);
    let body: Value = mixed.json.clone();
    assert_eq!(body["id"], user["id"]);

    // Origins refuse anything that did not come through the edge.
    let origin = cluster.region("chicago").addr;
    let plain = reqwest::Client::new();
    let direct = plain
        .get(format!("http://{origin}/api/auth/me"))
        .header("x-user-id", victim)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 401);
    let wrong_secret = plain
        .get(format!("http://{origin}/api/catalog/categories"))
        .header("x-meridian-internal", "not-the-secret-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_city_lands_in_its_own_region() {
    let cluster = Cluster::start(Options::default()).await;
    for (id, lat, lon) in REGIONS {
        let r = cluster
            .get("/api/catalog/products?limit=1")
            .header("x-client-geo", format!("{lat},{lon}"))
            .reply()
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.region(), *id);
        assert!(r.headers().contains_key("x-request-id"));
    }
    // No header: the edge's own location (Chicago).
    let r = cluster.get("/api/catalog/categories").reply().await;
    assert_eq!(r.region(), "chicago");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_region_fails_over_to_next_nearest_and_back() {
    let mut cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let salem = "44.94,-123.03";
    let url = cluster.url("/api/catalog/products?limit=2&sort=price_asc");
    let get = || client.get(&url).header("x-client-geo", salem).reply();
    let r = get().await;
    assert_eq!(r.region(), "portland");

    cluster.stop_region("portland").await;
    let stopped_at = Instant::now();
    // Health window: 2 failed checks at 100 ms. Connect failures inside it
    // are retried on the next region, so not even those GETs may fail.
    let window = Duration::from_millis(100 * 2 + 300);
    let mut failures = 0;
    let mut after_window = 0;
    while stopped_at.elapsed() < window + Duration::from_millis(700) {
        let r = get().await;
        if r.status() != 200 {
            failures += 1;
        }
        if stopped_at.elapsed() > window {
            after_window += 1;
            assert_eq!(r.region(), "los-angeles");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(failures, 0);
    assert!(after_window > 10);
    let metrics = cluster.edge_metrics().await;
    assert!(
        metrics.contains("meridian_edge_region_healthy{region=\"portland\"} 0"),
        "{metrics}"
    );

    // Portland comes back: after two passed checks its clients return.
    cluster.restart_region("portland").await;
    let back = Instant::now();
    loop {
        let r = get().await;
        assert_eq!(r.status(), 200);
        if r.region() == "portland" {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "portland never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_and_http1_both_work_and_plain_http_redirects() {
    let cluster = Cluster::start(Options::default()).await;
    let h2 = cluster.client();
    let r = h2
        .get(cluster.url("/api/catalog/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);

    let h1 = cluster.client_builder().http1_only().build().unwrap();
    let r = h1
        .get(cluster.url("/api/catalog/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);

    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(format!(
            "http://{}/api/catalog/products?limit=1",
            cluster.http
        ))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(
        r.headers()["location"],
        format!(
            "https://localhost:{}/api/catalog/products?limit=1",
            cluster.https.port()
        )
        .as_str()
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_rejected_with_413() {
    let cluster = Cluster::start(Options {
        max_body_bytes: 64 * 1024,
        ..Options::default()
    })
    .await;
    let big = vec![b'x'; 200 * 1024];
    // Declared length over the limit: refused before anything is proxied.
    let r = cluster
        .post("/api/auth/register")
        .header("content-type", "application/json")
        .body(big.clone())
        .reply()
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(r.code(), "body_too_large");

    // Streamed without a length: cut off once the limit is crossed.
    let h1 = cluster.client_builder().http1_only().build().unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = h1
        .post(cluster.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        // The edge may close the connection while the client is still
        // sending; what matters is that the origin never accepted it.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }

    // A small body still passes.
    let ok = cluster
        .post("/api/auth/register")
        .json(&json!({ "email": "dee@example.com", "password": PASSWORD, "display_name": "Dee" }))
        .reply()
        .await;
    assert_eq!(ok.status(), 201);
    cluster.shutdown().await;
}

/// A region behind something that accepts the connection and cannot reach
/// the origin (a relay, a balancer; the geo lab's links): the connection
/// closes before any answer, which is the region's failure as much as a
/// refused connect. Idempotent requests go on to the next region, none
/// fails, and the breaker and health checks move the traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_closes_before_answering_fails_over_without_failed_gets() {
    // Health checks too slow to notice within the test: the retries and
    // the breaker must carry it.
    let cluster = Cluster::start(Options {
        health_interval_ms: 10_000,
        ..Options::default()
    })
    .await;
    let (link, regions) = cluster.relaying("portland", Duration::ZERO).await;
    let edge = cluster.start_edge_for("relayed", &regions, "").await;
    let client = edge.client();
    let url = edge.url("/api/catalog/products?limit=2&sort=price_asc");
    let get = || {
        client
            .get(&url)
            .header("x-client-geo", "44.94,-123.03")
            .reply()
    };
    assert_eq!(get().await.region(), "portland");

    // The relay loses its origin: it closes what is open and accepts new
    // connections only to close them.
    link.cut();
    let stopped_at = Instant::now();
    let mut answered_by = std::collections::BTreeMap::<String, u32>::new();
    while stopped_at.elapsed() < Duration::from_millis(1500) {
        let r = get().await;
        assert_eq!(r.status(), 200, "{}", r.text);
        *answered_by.entry(r.region().to_owned()).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        answered_by.keys().collect::<Vec<_>>(),
        ["los-angeles"],
        "{answered_by:?}"
    );
    let metrics = edge.metrics().await;
    assert!(
        meridian_e2e::metric_sum(&metrics, "meridian_edge_upstream_retries_total", &[]) >= 1.0,
        "{metrics}"
    );
    edge.stop().await;
    cluster.shutdown().await;
}

/// When the session store cannot be asked, a signed-in shopper's write is
/// refused with 503 and `Retry-After` rather than carried out as an
/// anonymous one (an add-to-cart once went to a fresh guest cart that way,
/// under load); reads of public routes go on, anonymously.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverifiable_session_never_writes_as_anonymous() {
    let Some(redis_url) = meridian_common::testing::backend_endpoint("MERIDIAN_TEST_REDIS") else {
        return;
    };
    // The edge and the origins reach Redis through a relay that can be cut.
    let upstream: std::net::SocketAddr = redis_url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("MERIDIAN_TEST_REDIS is redis://host:port");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relayed = format!("redis://{}", listener.local_addr().unwrap());
    let link = meridian_relay::Control::new(std::time::Duration::ZERO);
    tokio::spawn(meridian_relay::serve(listener, upstream, link.clone()));
    let cluster = Cluster::start(Options {
        redis_url: Some(relayed),
        ..Options::default()
    })
    .await;
    let client = cluster.client();
    let (token, _) = register_and_login(&cluster, &client, "cut@example.com").await;
    let product = cluster
        .get_json("/api/catalog/products?limit=1", None)
        .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = || {
        cluster
            .post("/api/cart/items")
            .bearer_auth(&token)
            .json(&json!({ "product_id": product, "quantity": 1 }))
    };

    link.cut();
    let refused = add().reply().await;
    assert_eq!(refused.status(), 503, "{}", refused.text);
    assert_eq!(refused.code(), "unavailable");
    assert_eq!(refused.header("retry-after"), "1");
    assert!(
        refused.headers().get("set-cookie").is_none(),
        "no guest cart was made for a signed-in shopper"
    );
    let read = cluster
        .get("/api/catalog/categories")
        .bearer_auth(&token)
        .reply()
        .await;
    assert_eq!(read.status(), 200, "public reads stay up");

    link.restore();
    let added = add().reply().await;
    assert_eq!(added.status(), 200, "{}", added.text);
    let cart = cluster.get("/api/cart").bearer_auth(&token).reply().await;
    assert_eq!(cart.json["items"][0]["product_id"], product.as_str());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_checks_sessions_directly_in_redis() {
    let Some(redis_url) = meridian_common::testing::backend_endpoint("MERIDIAN_TEST_REDIS") else {
        return;
    };
    let cluster = Cluster::start(Options {
        redis_url: Some(redis_url),
        ..Options::default()
    })
    .await;
    let client = cluster.client();
    let (token, user) = register_and_login(&cluster, &client, "erin@example.com").await;
    let me = cluster
        .get("/api/auth/me")
        .bearer_auth(&token)
        .reply()
        .await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json.clone();
    assert_eq!(me["id"], user["id"]);

    let metrics = cluster.edge_metrics().await;
    assert!(
        metrics.contains(r#"meridian_edge_session_lookups_total{result="valid",source="redis"} 1"#),
        "{metrics}"
    );
    assert!(metrics
        .contains(r#"meridian_edge_session_lookups_total{result="valid",source="introspect"} 0"#));

    let logout = cluster
        .post("/api/auth/logout")
        .bearer_auth(&token)
        .reply()
        .await;
    assert_eq!(logout.status(), 204);
    let after = cluster
        .get("/api/auth/me")
        .bearer_auth(&token)
        .reply()
        .await;
    assert_eq!(after.status(), 401);
    let metrics = cluster.edge_metrics().await;
    assert!(metrics
        .contains(r#"meridian_edge_session_lookups_total{result="invalid",source="redis"} 1"#));
    cluster.shutdown().await;
}
