//! The origin's operational endpoints and its edge-only trust boundary.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use meridian_server::config::RegionConfig;
use serde_json::Value;
use tower::ServiceExt;

async fn origin() -> axum::Router {
    let text = r#"
        id = "chicago"
        name = "Chicago"
        latitude = 41.88
        longitude = -87.63
        listen = "127.0.0.1:0"
        internal_secret = "ops-test-internal-secret"
    "#;
    let mut config = RegionConfig::parse(text, "ops").unwrap();
    config.validate("ops").unwrap();
    config.sellers.images_dir = Some(std::env::temp_dir().join("meridian-ops-test-images"));
    meridian_server::build(&config).await.unwrap().router
}

async fn get(router: &axum::Router, path: &str, secret: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::get(path);
    if let Some(s) = secret {
        request = request.header("x-meridian-internal", s);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn readyz_reports_every_store_and_api_needs_the_edge() {
    let router = origin().await;
    let (status, body) = get(&router, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    let stores = body["stores"].as_object().unwrap();
    for role in [
        "users",
        "sessions",
        "products",
        "sellers",
        "images",
        "carts",
        "payments",
        "orders",
        "shipments",
        "reviews",
    ] {
        let entry = stores
            .iter()
            .find(|(k, _)| k.starts_with(&format!("{role}:")))
            .unwrap_or_else(|| panic!("{role} missing: {body}"));
        assert_eq!(entry.1, "ok");
    }
    assert_eq!(get(&router, "/healthz", None).await.0, StatusCode::OK);
    let (status, body) = get(&router, "/api/catalog/categories", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = get(
        &router,
        "/api/catalog/categories",
        Some("ops-test-internal-secret"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&router, "/api/nope", Some("ops-test-internal-secret")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, doc) = get(
        &router,
        "/internal/openapi.json",
        Some("ops-test-internal-secret"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]
        .get("/internal/payments/authorizations")
        .is_some());
    assert_eq!(
        get(&router, "/internal/openapi.json", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let metrics = router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = axum::body::to_bytes(metrics.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&text).contains("meridian_http_requests_total"));
}

/// Sellers on PostgreSQL: the shop and its event commit together, and the
/// polling relay publishes the event from the outbox table.
#[tokio::test]
async fn sellers_on_postgres_publish_through_their_outbox() {
    let Some(url) = meridian_common::testing::backend_endpoint("MERIDIAN_TEST_POSTGRES") else {
        return;
    };
    let schema = meridian_common::testing::unique_namespace("sellers_ops");
    let text = format!(
        r#"
        id = "chicago"
        name = "Chicago"
        latitude = 41.88
        longitude = -87.63
        listen = "127.0.0.1:0"
        internal_secret = "ops-test-internal-secret"
        [stores.sellers]
        backend = "postgres"
        url = "{url}"
        schema = "{schema}"
        "#
    );
    let mut config = RegionConfig::parse(&text, "ops").unwrap();
    config.validate("ops").unwrap();
    config.sellers.images_dir = Some(std::env::temp_dir().join("meridian-ops-test-images"));
    let origin = meridian_server::build(&config).await.unwrap();
    let (router, events) = (origin.router, origin.events);

    let (_, ready) = get(&router, "/readyz", None).await;
    assert_eq!(ready["stores"]["sellers:postgres"], "ok", "{ready}");
    let owner = uuid::Uuid::new_v4().to_string();
    let request = Request::post("/api/sellers/shops")
        .header("x-meridian-internal", "ops-test-internal-secret")
        .header("x-user-id", &owner)
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"name":"Lakeside","slug":"lakeside-pg","contact_email":"l@example.com"}"#,
        ))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let mut published = false;
    for _ in 0..50 {
        if events
            .published()
            .iter()
            .any(|e| e.event_type == "sellers.shop.opened")
        {
            published = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(published, "the outbox row was never relayed");
    meridian_common::testing::drop_pg_schema(&url, &schema).await;
}
