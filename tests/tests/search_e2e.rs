//! End-to-end search through the edge: typo tolerance, facets, filters, and
//! the index following catalog changes and checkouts.

use meridian_e2e::call::Send as _;
use meridian_e2e::{login, Cluster, Options};
use serde_json::{json, Value};

async fn search(cluster: &Cluster, query: &str) -> (u16, Value) {
    let r = cluster.get(&format!("/api/search?{query}")).reply().await;
    let status = r.status().as_u16();
    (status, r.json.clone())
}

/// Polls until `check` holds for the search answer (indexing is immediate
/// for seller edits, asynchronous for stock taken by checkouts).
async fn eventually(cluster: &Cluster, query: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let (_, body) = search(cluster, query).await;
        if check(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("search for {query} never satisfied the check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_follows_and_validates() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();

    // Demo catalog, with a typo.
    let (status, body) = search(&cluster, "q=hedphones").await;
    assert_eq!(status, 200);
    let items = body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|i| i["title"].as_str().unwrap().contains("Headphone")),
        "{body}"
    );
    assert!(body["facets"]["category"]["electronics"].as_u64().unwrap() >= 1);
    let (_, cheap) = search(
        &cluster,
        "category=books&max_price=1500&sort=price_asc&limit=5",
    )
    .await;
    let prices: Vec<i64> = cheap["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["price"]["amount"].as_i64().unwrap())
        .collect();
    assert!(
        prices.windows(2).all(|w| w[0] <= w[1]) && prices.iter().all(|p| *p <= 1500),
        "{prices:?}"
    );

    // Bad parameters.
    for bad in [
        "min_rating=9",
        "limit=0",
        "category=cars",
        "min_price=10&max_price=5",
        "seller=nope",
    ] {
        assert_eq!(search(&cluster, bad).await.0, 422, "{bad}");
    }
    assert_eq!(search(&cluster, "colour=red").await.0, 400);

    // A seller's new product is searchable at once; archived, it is gone.
    let owner = login(&cluster, &client, "kettle@example.com").await;
    let r = cluster.post("/api/sellers/shops")
        .bearer_auth(&owner)
        .json(&json!({ "name": "Kettle Works", "slug": "kettle-works", "contact_email": "k@example.com" }))
.reply()
.await;
    assert_eq!(r.status(), 201);
    let product: Value = cluster
        .post("/api/catalog/products")
        .bearer_auth(&owner)
        .json(&json!({
            "title": "Zanzibar Kettle", "description": "Whistling stovetop kettle",
            "price": { "amount": 4200, "currency": "USD" }, "category": "home-kitchen", "stock": 1,
        }))
        .reply()
        .await
        .json;
    let id = product["id"].as_str().unwrap().to_owned();
    let (_, found) = search(&cluster, "q=zanzibr").await;
    assert_eq!(found["items"][0]["product_id"], id.as_str());

    // The last unit sells: `in_stock=true` stops listing it.
    let buyer = login(&cluster, &client, "buyer@example.com").await;
    cluster
        .post("/api/cart/items")
        .bearer_auth(&buyer)
        .json(&json!({ "product_id": id, "quantity": 1 }))
        .reply()
        .await;
    let r = cluster.post("/api/orders/checkout")
        .bearer_auth(&buyer)
        .header("idempotency-key", "k1")
        .json(&json!({
            "shipping_address": { "name": "B", "line1": "1 A St", "city": "Austin", "state": "TX", "postal_code": "73301", "country": "US" },
            "payment_token": "tok_visa",
        }))
.reply()
.await;
    assert_eq!(r.status(), 201);
    eventually(&cluster, "q=zanzibar&in_stock=true", |b| b["total"] == 0).await;
    let (_, any) = search(&cluster, "q=zanzibar").await;
    assert_eq!(any["total"], 1, "still listed without the stock filter");

    let r = cluster
        .post(&format!("/api/catalog/products/{id}/archive"))
        .bearer_auth(&owner)
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    let (_, gone) = search(&cluster, "q=zanzibar").await;
    assert_eq!(gone["total"], 0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_covers_every_public_route_with_errors() {
    let cluster = Cluster::start(Options::default()).await;
    let r = cluster.get("/api/openapi.json").reply().await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json.clone();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/me",
        "/api/catalog/products",
        "/api/catalog/products/{id}",
        "/api/search",
        "/api/sellers/shops",
        "/api/sellers/me/keys",
        "/api/sellers/me/images",
        "/api/cart/items",
        "/api/orders/checkout",
        "/api/orders/{id}/sub-orders/{sub}/refunds",
        "/api/logistics/carrier/updates",
        "/api/reviews/products/{product}",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    // Every operation documents at least one error response with the JSON error body.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let errors: Vec<&String> = responses
                .keys()
                .filter(|s| s.starts_with('4') || s.starts_with('5'))
                .collect();
            assert!(!errors.is_empty(), "{method} {path} documents no error");
        }
    }
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    let checkout = &paths["/api/orders/checkout"]["post"]["responses"];
    for status in ["201", "402", "409", "422"] {
        assert!(checkout.get(status).is_some(), "checkout {status}");
    }
    cluster.shutdown().await;
}
