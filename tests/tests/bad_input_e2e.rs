//! Every write endpoint, fed malformed, mistyped, oversized and out-of-range
//! input through the edge, answers 4xx with a JSON error and stores nothing.

use meridian_e2e::call::Send as _;
use meridian_e2e::{login, Cluster, Options, CARRIER_SECRET};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy)]
enum Who {
    Shopper,
    Owner,
    Key,
    Carrier,
    Nobody,
}

async fn send(
    cluster: &Cluster,
    client: &reqwest::Client,
    who: Who,
    tokens: &(String, String, String),
    method: &Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut r = client.request(method.clone(), cluster.url(path));
    r = match who {
        Who::Shopper => r.bearer_auth(&tokens.0),
        Who::Owner => r.bearer_auth(&tokens.1),
        Who::Key => r.bearer_auth(&tokens.2),
        Who::Carrier => r.header("x-carrier-secret", CARRIER_SECRET),
        Who::Nobody => r,
    };
    r = r.header("idempotency-key", "bad-input");
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let response = r.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_endpoint_rejects_bad_input_cleanly() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let shopper = login(&cluster, &client, "shopper@example.com").await;
    let owner = login(&cluster, &client, "owner@example.com").await;
    let r = cluster.post("/api/sellers/shops")
        .bearer_auth(&owner)
        .json(&json!({ "name": "Bad Input Co", "slug": "bad-input", "contact_email": "b@example.com" }))
.reply()
.await;
    assert_eq!(r.status(), 201);
    let key: Value = cluster
        .post("/api/sellers/me/keys")
        .bearer_auth(&owner)
        .json(&json!({ "name": "k", "scopes": ["catalog:write", "orders:write"] }))
        .reply()
        .await
        .json;
    let tokens = (shopper, owner, key["key"].as_str().unwrap().to_owned());
    let product: Value = cluster.post("/api/catalog/products")
        .bearer_auth(&tokens.1)
        .json(&json!({ "title": "Probe", "price": { "amount": 100, "currency": "USD" }, "category": "books", "stock": 3 }))
.reply()
.await
.json;
    let pid = product["id"].as_str().unwrap().to_owned();
    let unknown = uuid::Uuid::new_v4();
    let huge = "x".repeat(100_000);

    // (who, method, path, endpoint-specific invalid bodies)
    let cases: Vec<(Who, Method, String, Vec<Value>)> = vec![
        (
            Who::Nobody,
            Method::POST,
            "/api/auth/register".into(),
            vec![
                json!({ "email": "a@example.com", "password": 123456789012i64, "display_name": "A" }),
                json!({ "email": huge, "password": "correct horse battery", "display_name": huge }),
            ],
        ),
        (
            Who::Nobody,
            Method::POST,
            "/api/auth/login".into(),
            vec![json!({ "email": [], "password": "x" })],
        ),
        (
            Who::Shopper,
            Method::PATCH,
            "/api/auth/me".into(),
            vec![
                json!({ "display_name": huge }),
                json!({ "bio": 5 }),
                json!({ "bio": null }),
                json!({ "display_name": " " }),
            ],
        ),
        (
            Who::Shopper,
            Method::POST,
            "/api/sellers/shops".into(),
            vec![json!({ "name": "x", "slug": "Not A Slug", "contact_email": "nope" })],
        ),
        (
            Who::Owner,
            Method::PATCH,
            "/api/sellers/me".into(),
            vec![
                json!({ "contact_email": "nope" }),
                json!({ "name": huge }),
                json!({ "name": null }),
            ],
        ),
        (
            Who::Owner,
            Method::POST,
            "/api/sellers/me/keys".into(),
            vec![
                json!({ "name": "k", "scopes": ["root"] }),
                json!({ "name": "", "scopes": [] }),
            ],
        ),
        (
            Who::Key,
            Method::POST,
            "/api/catalog/products".into(),
            vec![
                json!({ "title": huge, "price": { "amount": 100, "currency": "USD" }, "category": "books", "stock": 1 }),
                json!({ "title": "t", "price": { "amount": 0, "currency": "USD" }, "category": "books", "stock": 1 }),
                json!({ "title": "t", "price": { "amount": 100, "currency": "USD" }, "category": "books", "stock": 1, "attributes": { "": "x" } }),
            ],
        ),
        (
            Who::Key,
            Method::PATCH,
            format!("/api/catalog/products/{pid}"),
            vec![
                json!({ "price": { "amount": -1, "currency": "USD" } }),
                json!({}),
            ],
        ),
        (
            Who::Key,
            Method::PUT,
            format!("/api/catalog/products/{pid}/stock"),
            vec![json!({ "stock": -1 }), json!({ "stock": 2_000_000 })],
        ),
        (
            Who::Key,
            Method::PATCH,
            format!("/api/catalog/products/{unknown}"),
            vec![json!({ "title": "x" })],
        ),
        (
            Who::Shopper,
            Method::POST,
            "/api/cart/items".into(),
            vec![
                json!({ "product_id": pid, "quantity": -1 }),
                json!({ "product_id": pid, "quantity": 0 }),
                json!({ "product_id": unknown, "quantity": 1 }),
                json!({ "product_id": "not-a-uuid", "quantity": 1 }),
            ],
        ),
        (
            Who::Shopper,
            Method::PUT,
            format!("/api/cart/items/{pid}"),
            vec![json!({ "quantity": 100 }), json!({ "quantity": 1 })],
        ),
        (
            Who::Shopper,
            Method::POST,
            "/api/orders/checkout".into(),
            vec![
                json!({ "shipping_address": { "name": "", "line1": "", "city": "", "state": "oregon", "postal_code": "1", "country": "FR" }, "payment_token": "tok_visa" }),
                json!({ "shipping_address": { "name": "A", "line1": "1 A St", "city": "B", "state": "OR", "postal_code": "97201", "country": "US" }, "payment_token": "tok_visa" }),
            ],
        ),
        (
            Who::Key,
            Method::POST,
            format!("/api/orders/{unknown}/sub-orders/{unknown}/ship"),
            vec![json!({ "carrier": "UPS", "tracking_number": "1Z" })],
        ),
        (
            Who::Key,
            Method::POST,
            format!("/api/orders/{unknown}/sub-orders/{unknown}/refunds"),
            vec![json!({ "product_id": pid, "quantity": 1 })],
        ),
        (
            Who::Carrier,
            Method::POST,
            "/api/logistics/carrier/updates".into(),
            vec![
                json!({ "carrier": "UPS", "tracking_number": "none", "status": "teleported" }),
                json!({ "carrier": "UPS", "tracking_number": "none", "status": "in_transit" }),
            ],
        ),
        (
            Who::Shopper,
            Method::POST,
            format!("/api/reviews/products/{pid}"),
            vec![
                json!({ "rating": 0 }),
                json!({ "rating": 5, "text": huge }),
                json!({ "rating": 5 }),
            ],
        ),
        (
            Who::Shopper,
            Method::POST,
            format!("/api/reviews/{unknown}/reports"),
            vec![json!({ "reason": "" }), json!({ "reason": "spam" })],
        ),
    ];
    let generic = ["{", "[]", "{}", "{\"unexpected\": true}"];
    for (who, method, path, specific) in &cases {
        let bodies: Vec<String> = generic
            .iter()
            .map(|s| s.to_string())
            .chain(specific.iter().map(Value::to_string))
            .collect();
        for body in &bodies {
            let (status, answer) =
                send(&cluster, &client, *who, &tokens, method, path, Some(body)).await;
            assert!(
                (400..500).contains(&status),
                "{method} {path} {:.80} → {status} {answer}",
                body
            );
            let code = answer["error"]["code"].as_str();
            assert!(
                code.is_some_and(|c| !c.is_empty()),
                "{method} {path} → {status} without a JSON error: {answer}"
            );
            assert!(
                answer["error"]["message"].is_string(),
                "{method} {path}: {answer}"
            );
        }
        // No JSON content type at all.
        let (status, _) = send(&cluster, &client, *who, &tokens, method, path, None).await;
        assert!(
            (400..500).contains(&status),
            "{method} {path} without a body → {status}"
        );
    }

    // Nothing was stored by any of it.
    let p: Value = cluster
        .get(&format!("/api/catalog/products/{pid}"))
        .reply()
        .await
        .json;
    assert_eq!(
        (
            p["stock"].as_u64(),
            p["title"].as_str(),
            p["price"]["amount"].as_i64()
        ),
        (Some(3), Some("Probe"), Some(100))
    );
    let books: Value = cluster.get("/api/search?q=probe").reply().await.json;
    assert_eq!(books["total"], 1);
    let cart: Value = cluster
        .get("/api/cart")
        .bearer_auth(&tokens.0)
        .reply()
        .await
        .json;
    assert_eq!(cart["items"].as_array().unwrap().len(), 0);
    let orders: Value = cluster
        .get("/api/orders")
        .bearer_auth(&tokens.0)
        .reply()
        .await
        .json;
    assert_eq!(orders["items"].as_array().unwrap().len(), 0);
    let keys: Value = cluster
        .get("/api/sellers/me/keys")
        .bearer_auth(&tokens.1)
        .reply()
        .await
        .json;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    let me: Value = cluster
        .get("/api/auth/me")
        .bearer_auth(&tokens.0)
        .reply()
        .await
        .json;
    assert_eq!(me["bio"], "");
    let reviews: Value = cluster
        .get(&format!("/api/reviews/products/{pid}"))
        .reply()
        .await
        .json;
    assert_eq!(reviews["summary"]["count"], 0);
    let shop: Value = cluster
        .get("/api/sellers/me")
        .bearer_auth(&tokens.1)
        .reply()
        .await
        .json;
    assert_eq!(shop["contact_email"], "b@example.com");
    cluster.shutdown().await;
}
