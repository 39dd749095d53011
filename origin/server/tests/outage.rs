//! A store that goes away mid-flight gives a clear 503 with a JSON error (no
//! hang, no panic), `/readyz` reports it, and the service recovers by itself
//! when the store returns — for PostgreSQL (users), Redis (sessions),
//! DynamoDB (products), MongoDB (reviews) and Elasticsearch (search).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use meridian_common::testing::{backend_endpoint, drop_pg_schema, unique_namespace, FlakyProxy};
use meridian_server::config::RegionConfig;
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &str = "outage-test-internal-secret";

fn host_port(url: &str) -> std::net::SocketAddr {
    let rest = url.split("://").nth(1).unwrap();
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    use std::net::ToSocketAddrs;
    host_port.to_socket_addrs().unwrap().next().unwrap()
}

fn via(url: &str, proxy: std::net::SocketAddr) -> String {
    url.replacen(
        &host_port(url).port().to_string(),
        &proxy.port().to_string(),
        1,
    )
    .replacen("localhost", "127.0.0.1", 1)
}

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("x-meridian-internal", SECRET)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        started.elapsed(),
    )
}

/// A Chicago origin with these `[stores.*]` tables.
async fn chicago_with(stores: &str) -> axum::Router {
    let text = format!(
        "id = \"chicago\"\nname = \"Chicago\"\nlatitude = 41.88\nlongitude = -87.63\n\
         listen = \"127.0.0.1:0\"\ninternal_secret = \"{SECRET}\"\n{stores}"
    );
    let mut config = RegionConfig::parse(&text, "outage").unwrap();
    config.validate("outage").unwrap();
    config.sellers.images_dir = Some(std::env::temp_dir().join("meridian-outage-images"));
    meridian_server::build(&config).await.unwrap().router
}

fn register(n: u32) -> String {
    format!(
        r#"{{"email":"user{n}@example.com","password":"correct horse battery","display_name":"U"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis_outages_give_503_then_recover() {
    let (Some(pg), Some(redis)) = (
        backend_endpoint("MERIDIAN_TEST_POSTGRES"),
        backend_endpoint("MERIDIAN_TEST_REDIS"),
    ) else {
        return;
    };
    let pg_proxy = FlakyProxy::start(host_port(&pg)).await;
    let redis_proxy = FlakyProxy::start(host_port(&redis)).await;
    let schema = unique_namespace("outage");
    let stores = format!(
        r#"
        [stores.users]
        backend = "postgres"
        url = "{pg_url}"
        schema = "{schema}"
        connect_timeout_ms = 1000
        [stores.sessions]
        backend = "redis"
        url = "{redis_url}"
        key_prefix = "{schema}:"
        "#,
        pg_url = via(&pg, pg_proxy.addr),
        redis_url = via(&redis, redis_proxy.addr),
    );
    let router = chicago_with(&stores).await;
    assert_eq!(
        call(&router, "POST", "/api/auth/register", &register(1))
            .await
            .0,
        StatusCode::CREATED
    );
    let login = r#"{"email":"user1@example.com","password":"correct horse battery"}"#;
    assert_eq!(
        call(&router, "POST", "/api/auth/login", login).await.0,
        StatusCode::OK
    );

    // PostgreSQL goes away: a clear 503, quickly, and readiness says so.
    pg_proxy.down();
    let (status, body, took) = call(&router, "POST", "/api/auth/register", &register(2)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let (status, ready, _) = call(&router, "GET", "/readyz", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        ready["stores"]["users:postgres"]
            .as_str()
            .unwrap()
            .starts_with("error"),
        "{ready}"
    );

    // Redis goes away too: login (which needs both) is a 503, not a hang.
    redis_proxy.down();
    pg_proxy.up().await;
    let (status, body, took) = call(&router, "POST", "/api/auth/login", login).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(took < Duration::from_secs(8), "took {took:?}");

    // Both back: the service recovers by itself.
    redis_proxy.up().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, _) = call(&router, "POST", "/api/auth/login", login).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        call(&router, "POST", "/api/auth/register", &register(3))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(call(&router, "GET", "/readyz", "").await.0, StatusCode::OK);
    drop_pg_schema(&pg, &schema).await;
}

/// The same for the catalog on DynamoDB (no cache, so reads need the
/// table), reviews on MongoDB and search on Elasticsearch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_mongodb_elasticsearch_outages_give_503_then_recover() {
    let (Some(dynamodb), Some(mongodb), Some(elastic)) = (
        backend_endpoint("MERIDIAN_TEST_DYNAMODB"),
        backend_endpoint("MERIDIAN_TEST_MONGODB"),
        backend_endpoint("MERIDIAN_TEST_ELASTICSEARCH"),
    ) else {
        return;
    };
    let proxies = [
        FlakyProxy::start(host_port(&dynamodb)).await,
        FlakyProxy::start(host_port(&mongodb)).await,
        FlakyProxy::start(host_port(&elastic)).await,
    ];
    let ns = unique_namespace("outage");
    let stores = format!(
        r#"
        [stores.products]
        backend = "dynamodb"
        endpoint = "{dynamodb_url}"
        table = "{ns}"
        [stores.reviews]
        backend = "mongodb"
        url = "{mongodb_url}"
        database = "{ns}"
        [stores.search]
        backend = "elasticsearch"
        url = "{elastic_url}"
        index = "{ns}"
        "#,
        dynamodb_url = via(&dynamodb, proxies[0].addr),
        mongodb_url = via(&mongodb, proxies[1].addr),
        elastic_url = via(&elastic, proxies[2].addr),
    );
    let router = chicago_with(&stores).await;
    let product = meridian_catalog::demo::products()[0].id;
    let paths = [
        format!("/api/catalog/products/{product}"),
        format!("/api/reviews/products/{product}/summary"),
        "/api/search?q=watercolor".to_owned(),
    ];
    for path in &paths {
        assert_eq!(
            call(&router, "GET", path, "").await.0,
            StatusCode::OK,
            "{path}"
        );
    }

    for proxy in &proxies {
        proxy.down();
    }
    for path in &paths {
        let (status, body, took) = call(&router, "GET", path, "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{path}");
        assert!(took < Duration::from_secs(10), "{path} took {took:?}");
    }
    assert_eq!(
        call(&router, "GET", "/readyz", "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    for proxy in &proxies {
        proxy.up().await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for path in &paths {
        loop {
            let (status, _, _) = call(&router, "GET", path, "").await;
            if status == StatusCode::OK {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never recovered: {status}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(call(&router, "GET", "/readyz", "").await.0, StatusCode::OK);
}
