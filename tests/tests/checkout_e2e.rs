//! End-to-end checkout: the shopper journey through the edge, and the
//! concurrency guarantees (no oversell, one charge per idempotency key).

use meridian_e2e::call::Send as _;
use meridian_e2e::{as_edge, login, send_retrying_503, settled_count, Cluster, Options};
use reqwest::Method;
use serde_json::{json, Value};

/// A seller with one product of `stock` units at $25.00; returns (owner token, product id).
async fn seller_with_product(
    cluster: &Cluster,
    client: &reqwest::Client,
    stock: u32,
) -> (String, String) {
    let owner = login(cluster, client, "seller@example.com").await;
    let r = cluster
        .post("/api/sellers/shops")
        .bearer_auth(&owner)
        .json(
            &json!({ "name": "Teapot Co", "slug": "teapot-co", "contact_email": "t@example.com" }),
        )
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let r = cluster
        .post("/api/catalog/products")
        .bearer_auth(&owner)
        .json(&json!({
            "title": "Cast Iron Teapot", "price": { "amount": 2500, "currency": "USD" },
            "category": "home-kitchen", "stock": stock,
        }))
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let product: Value = r.json.clone();
    (owner, product["id"].as_str().unwrap().to_owned())
}

fn address() -> Value {
    json!({ "name": "Ann Example", "line1": "1 Main St", "city": "Portland", "state": "OR", "postal_code": "97201", "country": "US" })
}

/// A new buyer (presented as the edge would) with one unit of `product`
/// in the cart; the buyer's id.
async fn buyer_with_one(
    direct: &reqwest::Client,
    origin: std::net::SocketAddr,
    product: &str,
) -> String {
    let buyer = uuid::Uuid::new_v4().to_string();
    let r = as_edge(
        direct,
        Method::POST,
        origin,
        "/api/cart/items",
        Some(&buyer),
    )
    .json(&json!({ "product_id": product, "quantity": 1 }))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    buyer
}

async fn stock_of(cluster: &Cluster, product: &str) -> u64 {
    let p: Value = cluster
        .get(&format!("/api/catalog/products/{product}"))
        .reply()
        .await
        .json;
    p["stock"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopper_checkout_journey_and_seller_fulfilment() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let (owner, product) = seller_with_product(&cluster, &client, 5).await;

    // As a guest: the cart lives behind a cookie.
    let r = cluster
        .post("/api/cart/items")
        .json(&json!({ "product_id": product, "quantity": 2 }))
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let guest_cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(guest_cookie.starts_with("meridian_cart="));
    let cart: Value = r.json.clone();
    assert_eq!(cart["item_count"], 2);
    assert_eq!(cart["subtotal"]["amount"], 5000);

    // Bad cart input.
    for bad in [
        json!({ "product_id": product, "quantity": 0 }),
        json!({ "product_id": product, "quantity": 100 }),
    ] {
        let r = cluster.post("/api/cart/items").json(&bad).reply().await;
        assert_eq!(r.status(), 422);
    }
    let r = cluster
        .post("/api/cart/items")
        .json(&json!({ "product_id": uuid::Uuid::new_v4(), "quantity": 1 }))
        .reply()
        .await;
    assert_eq!(r.status(), 404);

    // Sign in: the guest cart merges into the user's cart.
    let token = login(&cluster, &client, "ann@example.com").await;
    let r = cluster
        .get("/api/cart")
        .bearer_auth(&token)
        .header("cookie", &guest_cookie)
        .reply()
        .await;
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"),
        "guest cookie cleared"
    );
    let cart: Value = r.json.clone();
    assert_eq!(cart["items"][0]["quantity"], 2);
    // Another shopper sees their own (empty) cart.
    let other = login(&cluster, &client, "bob@example.com").await;
    let theirs: Value = cluster
        .get("/api/cart")
        .bearer_auth(&other)
        .reply()
        .await
        .json;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);

    // Checkout needs a key and a valid address.
    let body = json!({ "shipping_address": address(), "payment_token": "tok_visa" });
    let r = cluster
        .post("/api/orders/checkout")
        .bearer_auth(&token)
        .json(&body)
        .reply()
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.code(), "idempotency_key_required");
    let mut bad_address = body.clone();
    bad_address["shipping_address"]["postal_code"] = json!("ABCDE");
    let r = cluster
        .post("/api/orders/checkout")
        .bearer_auth(&token)
        .header("idempotency-key", "k-bad")
        .json(&bad_address)
        .reply()
        .await;
    assert_eq!(r.status(), 422);

    let r = cluster
        .post("/api/orders/checkout")
        .bearer_auth(&token)
        .header("idempotency-key", "k-1")
        .json(&body)
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let order: Value = r.json.clone();
    assert_eq!(order["status"], "paid");
    assert_eq!(order["items"]["amount"], 5000);
    assert_eq!(order["shipping"]["amount"], 0, "free shipping at $50");
    assert_eq!(order["tax"]["amount"], 413, "8.25% of 5000, rounded");
    assert_eq!(order["total"]["amount"], 5413);
    assert_eq!(order["sub_orders"].as_array().unwrap().len(), 1);
    assert_eq!(stock_of(&cluster, &product).await, 3);
    let cart: Value = cluster
        .get("/api/cart")
        .bearer_auth(&token)
        .reply()
        .await
        .json;
    assert_eq!(
        cart["items"].as_array().unwrap().len(),
        0,
        "bought lines left the cart"
    );

    // Replays: same answer; different body with the same key: 422.
    let r = cluster
        .post("/api/orders/checkout")
        .bearer_auth(&token)
        .header("idempotency-key", "k-1")
        .json(&body)
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    let replay: Value = r.json.clone();
    assert_eq!(replay["id"], order["id"]);
    let mut changed = body.clone();
    changed["payment_token"] = json!("tok_declined");
    let r = cluster
        .post("/api/orders/checkout")
        .bearer_auth(&token)
        .header("idempotency-key", "k-1")
        .json(&changed)
        .reply()
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.code(), "idempotency_mismatch");

    // Orders are private to their buyer.
    let id = order["id"].as_str().unwrap();
    let mine: Value = cluster
        .get("/api/orders")
        .bearer_auth(&token)
        .reply()
        .await
        .json;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let r = cluster
        .get(&format!("/api/orders/{id}"))
        .bearer_auth(&other)
        .reply()
        .await;
    assert_eq!(r.status(), 404);
    let r = cluster.get(&format!("/api/orders/{id}")).reply().await;
    assert_eq!(r.status(), 401);

    // The seller sees and fulfils their sub-order; shoppers cannot.
    let seller_view: Value = cluster
        .get("/api/orders/seller")
        .bearer_auth(&owner)
        .reply()
        .await
        .json;
    assert_eq!(seller_view["items"].as_array().unwrap().len(), 1);
    let sub = order["sub_orders"][0]["id"].as_str().unwrap();
    let ship = json!({ "carrier": "UPS", "tracking_number": "1Z999AA10123456784" });
    let r = cluster
        .post(&format!("/api/orders/{id}/sub-orders/{sub}/ship"))
        .bearer_auth(&token)
        .json(&ship)
        .reply()
        .await;
    assert_eq!(r.status(), 403, "a shopper is not a seller");
    // Another seller can neither see nor act on this sub-order.
    let rival = login(&cluster, &client, "rival-seller@example.com").await;
    let r = cluster
        .post("/api/sellers/shops")
        .bearer_auth(&rival)
        .json(&json!({ "name": "Rival", "slug": "rival-co", "contact_email": "r@example.com" }))
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let theirs: Value = cluster
        .get("/api/orders/seller")
        .bearer_auth(&rival)
        .reply()
        .await
        .json;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    for action in ["ship", "cancel"] {
        let r = cluster
            .post(&format!("/api/orders/{id}/sub-orders/{sub}/{action}"))
            .bearer_auth(&rival)
            .json(&ship)
            .reply()
            .await;
        assert_eq!(r.status(), 404, "{action}");
    }
    let r = cluster
        .post(&format!("/api/orders/{id}/sub-orders/{sub}/refunds"))
        .bearer_auth(&rival)
        .header("idempotency-key", "steal")
        .json(&json!({ "product_id": product, "quantity": 1 }))
        .reply()
        .await;
    assert_eq!(r.status(), 404);
    let r = cluster
        .post(&format!("/api/orders/{id}/sub-orders/{sub}/ship"))
        .bearer_auth(&owner)
        .json(&ship)
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    let r = cluster
        .post(&format!("/api/orders/{id}/sub-orders/{sub}/cancel"))
        .bearer_auth(&owner)
        .reply()
        .await;
    assert_eq!(r.status(), 409, "cannot cancel after shipping");
    assert_eq!(r.code(), "illegal_transition");

    // Partial refund of one unit: price + tax, once per key.
    let refund = json!({ "product_id": product, "quantity": 1 });
    for _ in 0..2 {
        let r = cluster
            .post(&format!("/api/orders/{id}/sub-orders/{sub}/refunds"))
            .bearer_auth(&owner)
            .header("idempotency-key", "refund-1")
            .json(&refund)
            .reply()
            .await;
        assert_eq!(r.status(), 200);
    }
    let after: Value = cluster
        .get(&format!("/api/orders/{id}"))
        .bearer_auth(&token)
        .reply()
        .await
        .json;
    assert_eq!(after["status"], "shipped");
    assert_eq!(after["refunded"]["amount"], 2500 + 206);
    assert_eq!(after["sub_orders"][0]["lines"][0]["refunded_quantity"], 1);
    let too_many = json!({ "product_id": product, "quantity": 2 });
    let r = cluster
        .post(&format!("/api/orders/{id}/sub-orders/{sub}/refunds"))
        .bearer_auth(&owner)
        .header("idempotency-key", "refund-2")
        .json(&too_many)
        .reply()
        .await;
    assert_eq!(r.status(), 422);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_payment_releases_stock_and_keeps_the_cart() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let (owner, product) = seller_with_product(&cluster, &client, 3).await;
    let token = login(&cluster, &client, "dee@example.com").await;
    cluster
        .post("/api/cart/items")
        .bearer_auth(&token)
        .json(&json!({ "product_id": product, "quantity": 2 }))
        .reply()
        .await;
    for (key, token_kind, status, code) in [
        ("k-declined", "tok_declined", 402, "payment_declined"),
        ("k-funds", "tok_insufficient_funds", 402, "payment_declined"),
    ] {
        let r = cluster
            .post("/api/orders/checkout")
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({ "shipping_address": address(), "payment_token": token_kind }))
            .reply()
            .await;
        assert_eq!(r.status(), status);
        assert_eq!(r.code(), code);
        assert_eq!(stock_of(&cluster, &product).await, 3, "stock released");
    }
    let cart: Value = cluster
        .get("/api/cart")
        .bearer_auth(&token)
        .reply()
        .await
        .json;
    assert_eq!(cart["items"][0]["quantity"], 2, "cart intact");
    // Out of stock: nothing taken, nothing charged.
    let r = cluster
        .put(&format!("/api/catalog/products/{product}/stock"))
        .bearer_auth(&owner)
        .json(&json!({ "stock": 1 }))
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    let r = cluster
        .post("/api/orders/checkout")
        .bearer_auth(&token)
        .header("idempotency-key", "k-oos")
        .json(&json!({ "shipping_address": address(), "payment_token": "tok_visa" }))
        .reply()
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.code(), "out_of_stock");
    let events = &cluster.region("chicago").events;
    assert_eq!(settled_count(events, "payments.payment.captured").await, 0);
    cluster.shutdown().await;
}

/// 200 buyers race for the last 10 units: exactly 10 orders, stock 0,
/// payments captured only for those 10. Buyers are distinct users whose
/// identity is presented as the edge would (no 200 password hashes).
/// 200 distinct buyers, each with one unit in the cart, check out at once
/// against a product with 10 units (retrying 503s with their key). Buyers present their identity as the
/// edge would (no 200 password hashes). Returns the seller's token, the
/// product and every checkout's (status, body).
async fn two_hundred_buyers_race(
    cluster: &Cluster,
    client: &reqwest::Client,
) -> (String, String, Vec<(u16, Value)>) {
    let (owner, product) = seller_with_product(cluster, client, 10).await;
    let origin = cluster.region("chicago").addr;
    let direct = reqwest::Client::new();
    let buyers: Vec<String> = (0..200).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for buyer in &buyers {
        let r = as_edge(
            &direct,
            Method::POST,
            origin,
            "/api/cart/items",
            Some(buyer),
        )
        .json(&json!({ "product_id": product, "quantity": 1 }))
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    let tasks: Vec<_> = buyers
        .iter()
        .map(|buyer| {
            let request = as_edge(
                &direct,
                Method::POST,
                origin,
                "/api/orders/checkout",
                Some(buyer),
            )
            .header("idempotency-key", format!("race-{buyer}"))
            .json(&json!({ "shipping_address": address(), "payment_token": "tok_visa" }));
            tokio::spawn(send_retrying_503(request))
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    (owner, product, results)
}

/// 200 buyers race for the last 10 units: exactly 10 orders, stock 0,
/// payments captured only for those 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_buyers_ten_units_no_oversell() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let (_, product, results) = two_hundred_buyers_race(&cluster, &client).await;
    let (mut paid, mut out_of_stock) = (0, 0);
    for (status, body) in results {
        match status {
            201 => {
                assert_eq!(body["status"], "paid");
                paid += 1;
            }
            409 => {
                assert_eq!(body["error"]["code"], "out_of_stock");
                out_of_stock += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((paid, out_of_stock), (10, 190));
    assert_eq!(stock_of(&cluster, &product).await, 0);
    let events = &cluster.region("chicago").events;
    assert_eq!(settled_count(events, "payments.payment.captured").await, 10);
    assert_eq!(
        settled_count(events, "payments.payment.authorized").await,
        10
    );
    assert_eq!(settled_count(events, "orders.order.paid").await, 10);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_fifty_times_is_one_order_and_one_charge() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let (_, product) = seller_with_product(&cluster, &client, 10).await;
    let origin = cluster.region("chicago").addr;
    let direct = reqwest::Client::new();
    let buyer = buyer_with_one(&direct, origin, &product).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let request = as_edge(
                &direct,
                Method::POST,
                origin,
                "/api/orders/checkout",
                Some(&buyer),
            )
            .header("idempotency-key", "the-one-key")
            .json(&json!({ "shipping_address": address(), "payment_token": "tok_visa" }));
            tokio::spawn(send_retrying_503(request))
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(status == 201 || status == 200, "{status} {body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one order");
    assert_eq!(stock_of(&cluster, &product).await, 9);
    let events = &cluster.region("chicago").events;
    assert_eq!(
        settled_count(events, "payments.payment.captured").await,
        1,
        "one charge"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_tracked_delivered_then_reviewed() {
    delivered_then_reviewed(Cluster::start(Options::default()).await).await;
}

/// The same story with every store on its real backend: carts in the Redis
/// Cluster, stock and payments in DynamoDB, orders in PostgreSQL, shipments
/// in Cassandra, reviews in MongoDB, search in Elasticsearch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_then_reviewed_on_the_real_stores() {
    let Some(options) = Options::real_stores_run() else {
        return;
    };
    delivered_then_reviewed(Cluster::start(options).await).await;
}

async fn delivered_then_reviewed(cluster: Cluster) {
    let client = cluster.client();
    let (owner, product) = seller_with_product(&cluster, &client, 5).await;
    let buyer = login(&cluster, &client, "gia@example.com").await;
    let stranger = login(&cluster, &client, "hal@example.com").await;
    cluster
        .post("/api/cart/items")
        .bearer_auth(&buyer)
        .json(&json!({ "product_id": product, "quantity": 1 }))
        .reply()
        .await;
    let order: Value = cluster
        .post("/api/orders/checkout")
        .bearer_auth(&buyer)
        .header("idempotency-key", "k")
        .json(&json!({ "shipping_address": address(), "payment_token": "tok_visa" }))
        .reply()
        .await
        .json;
    let id = order["id"].as_str().unwrap();
    let sub = order["sub_orders"][0]["id"].as_str().unwrap();

    // Not delivered yet: no review.
    let review = json!({ "rating": 4, "text": "Pours well." });
    let r = cluster
        .post(&format!("/api/reviews/products/{product}"))
        .bearer_auth(&buyer)
        .json(&review)
        .reply()
        .await;
    assert_eq!(r.status(), 403);

    let ship = json!({ "carrier": "UPS", "tracking_number": "1ZTEST0001" });
    let r = cluster
        .post(&format!("/api/orders/{id}/sub-orders/{sub}/ship"))
        .bearer_auth(&owner)
        .json(&ship)
        .reply()
        .await;
    assert_eq!(r.status(), 200);

    // Tracking is the buyer's alone.
    let r = cluster
        .get(&format!("/api/logistics/orders/{id}"))
        .bearer_auth(&stranger)
        .reply()
        .await;
    assert_eq!(r.status(), 404);
    let tracking: Value = cluster
        .get(&format!("/api/logistics/orders/{id}"))
        .bearer_auth(&buyer)
        .reply()
        .await
        .json;
    assert_eq!(tracking["items"][0]["status"], "label_created");

    // Carrier scans: a wrong secret is refused; a backwards scan is a 409.
    let scan = |status: &str| json!({ "carrier": "UPS", "tracking_number": "1ZTEST0001", "status": status, "location": "Portland, OR" });
    let r = cluster
        .post("/api/logistics/carrier/updates")
        .header("x-carrier-secret", "wrong-secret-wrong-secret")
        .json(&scan("in_transit"))
        .reply()
        .await;
    assert_eq!(r.status(), 401);
    for status in ["in_transit", "out_for_delivery", "delivered"] {
        let r = cluster
            .post("/api/logistics/carrier/updates")
            .header("x-carrier-secret", meridian_e2e::CARRIER_SECRET)
            .json(&scan(status))
            .reply()
            .await;
        assert_eq!(r.status(), 200, "{status}");
    }
    let r = cluster
        .post("/api/logistics/carrier/updates")
        .header("x-carrier-secret", meridian_e2e::CARRIER_SECRET)
        .json(&scan("in_transit"))
        .reply()
        .await;
    assert_eq!(r.status(), 409);
    let delivered: Value = cluster
        .get(&format!("/api/orders/{id}"))
        .bearer_auth(&buyer)
        .reply()
        .await
        .json;
    assert_eq!(delivered["status"], "delivered");

    // Now the buyer may review, once (a second submission edits it).
    let r = cluster
        .post(&format!("/api/reviews/products/{product}"))
        .bearer_auth(&buyer)
        .json(&json!({ "rating": 9 }))
        .reply()
        .await;
    assert_eq!(r.status(), 422);
    let r = cluster
        .post(&format!("/api/reviews/products/{product}"))
        .bearer_auth(&buyer)
        .json(&review)
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json.clone();
    let r = cluster
        .post(&format!("/api/reviews/products/{product}"))
        .bearer_auth(&buyer)
        .json(&json!({ "rating": 5, "text": "Even better after a week." }))
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    let r = cluster
        .post(&format!("/api/reviews/products/{product}"))
        .bearer_auth(&stranger)
        .json(&review)
        .reply()
        .await;
    assert_eq!(r.status(), 403, "only buyers review");

    let listing: Value = cluster
        .get(&format!("/api/reviews/products/{product}"))
        .reply()
        .await
        .json;
    assert_eq!(listing["items"].as_array().unwrap().len(), 1);
    assert_eq!(listing["summary"]["count"], 1);
    assert_eq!(listing["summary"]["average_centi"], 500);

    // The catalog's summary follows through events.
    let mut caught_up = false;
    for _ in 0..50 {
        let p: Value = cluster
            .get(&format!("/api/catalog/products/{product}"))
            .reply()
            .await
            .json;
        if p["rating"]["count"] == 1 && p["rating"]["histogram"][4] == 1 {
            caught_up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(caught_up, "catalog rating summary never updated");

    // Seller reply; a stranger's helpful vote counts once; own vote refused.
    let review_id = created["id"].as_str().unwrap();
    let r = cluster
        .post(&format!("/api/reviews/{review_id}/reply"))
        .bearer_auth(&stranger)
        .json(&json!({ "text": "Not my product" }))
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    let r = cluster
        .post(&format!("/api/reviews/{review_id}/reply"))
        .bearer_auth(&owner)
        .json(&json!({ "text": "Thank you!" }))
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    for expected in [true, false] {
        let v: Value = cluster
            .post(&format!("/api/reviews/{review_id}/helpful"))
            .bearer_auth(&stranger)
            .reply()
            .await
            .json;
        assert_eq!(v["counted"], expected);
    }
    let r = cluster
        .post(&format!("/api/reviews/{review_id}/helpful"))
        .bearer_auth(&buyer)
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    let r = cluster
        .post(&format!("/api/reviews/{review_id}/reports"))
        .bearer_auth(&stranger)
        .json(&json!({ "reason": "off-topic" }))
        .reply()
        .await;
    assert_eq!(r.status(), 202);
    cluster.shutdown().await;
}

/// The race again with users, sellers and orders on PostgreSQL (YugabyteDB's
/// wire protocol): exactly 10 orders stored, 10 captures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_oversell_with_orders_on_postgres() {
    let Some(url) = meridian_common::testing::backend_endpoint("MERIDIAN_TEST_POSTGRES") else {
        return;
    };
    let cluster = Cluster::start(Options {
        postgres_url: Some(url),
        ..Options::default()
    })
    .await;
    race_on_stored_orders(cluster).await;
}

/// The race on the production stores: stock and payments in DynamoDB
/// (condition expressions, `TransactWriteItems`), the catalog cached in
/// Redis, carts in the Redis Cluster, orders in PostgreSQL (and every other
/// store real too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_oversell_on_the_real_stores() {
    let Some(options) = Options::real_stores_run() else {
        return;
    };
    let cluster = Cluster::start(options).await;
    race_on_stored_orders(cluster).await;
}

/// 200 buyers, 10 units, orders in a database: exactly 10 stored orders,
/// 10 captures, stock 0, every event relayed from its outbox.
async fn race_on_stored_orders(cluster: Cluster) {
    let client = cluster.client();
    let (owner, product, results) = two_hundred_buyers_race(&cluster, &client).await;
    let mut statuses = std::collections::BTreeMap::new();
    let mut unexpected = None;
    for (status, body) in results {
        *statuses.entry(status).or_insert(0) += 1;
        if status != 201 && status != 409 {
            unexpected = Some(body);
        }
    }
    assert_eq!(
        statuses,
        [(201, 10), (409, 190)].into_iter().collect(),
        "e.g. {unexpected:?}"
    );
    assert_eq!(stock_of(&cluster, &product).await, 0);
    let seller_orders: Value = cluster
        .get("/api/orders/seller")
        .bearer_auth(&owner)
        .reply()
        .await
        .json;
    assert_eq!(
        seller_orders["items"].as_array().unwrap().len(),
        10,
        "10 paid orders stored in PostgreSQL"
    );
    let events = &cluster.region("chicago").events;
    assert_eq!(settled_count(events, "payments.payment.captured").await, 10);
    assert_eq!(
        settled_count(events, "orders.order.paid").await,
        10,
        "relayed from the orders outbox table"
    );
    cluster.shutdown().await;
}

/// A shopper whose connection drops while the card processor hangs: the
/// checkout runs on (it is detached from the request), releases the stock
/// when the processor times out, and records its answer, so the retry with
/// the same key is told at once what happened instead of finding the key
/// stranded ("still running") for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_up_mid_checkout_does_not_strand_the_key() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let (_, product) = seller_with_product(&cluster, &client, 3).await;
    let origin = cluster.region("chicago").addr;
    let direct = reqwest::Client::new();
    let buyer = buyer_with_one(&direct, origin, &product).await;
    let checkout = || {
        as_edge(
            &direct,
            Method::POST,
            origin,
            "/api/orders/checkout",
            Some(&buyer),
        )
        .header("idempotency-key", "hang-up")
        .json(&json!({ "shipping_address": address(), "payment_token": "tok_timeout" }))
    };
    // The client gives up long before the processor's timeout.
    let hung_up = checkout()
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(hung_up.is_err(), "the first attempt should time out");
    let started = std::time::Instant::now();
    let retry = checkout().send().await.unwrap();
    assert_eq!(retry.status(), 504);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(meridian_e2e::error_code(retry).await, "payment_timeout");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the retry waited out the stranded key: {:?}",
        started.elapsed()
    );
    assert_eq!(stock_of(&cluster, &product).await, 3, "stock released");
    cluster.shutdown().await;
}

/// Past its checkout slots an origin answers at once with 503
/// `overloaded` and `Retry-After`, through the edge, and the edge does not
/// count that against the region: ten refusals in a row (more than its
/// breaker's threshold) leave the region routed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_admission_sheds_load_without_ejecting_the_region() {
    let cluster = Cluster::start(Options {
        orders: "max_checkouts_in_flight = 2\ncheckout_wait_ms = 0".into(),
        upstream_extra: "eject_after_failures = 3".into(),
        ..Options::default()
    })
    .await;
    let client = cluster.client();
    let (_, product) = seller_with_product(&cluster, &client, 100).await;
    let mut buyers = Vec::new();
    for i in 0..12 {
        let token = login(&cluster, &client, &format!("shed-{i}@example.com")).await;
        let r = cluster
            .post("/api/cart/items")
            .bearer_auth(&token)
            .json(&json!({ "product_id": product, "quantity": 1 }))
            .reply()
            .await;
        assert_eq!(r.status(), 200);
        buyers.push(token);
    }
    let serving = cluster
        .get("/api/catalog/categories")
        .reply()
        .await
        .region()
        .to_owned();
    // Each admitted checkout hangs on the card processor for seconds.
    let tasks: Vec<_> = buyers
        .iter()
        .map(|token| {
            let request = cluster
                .post("/api/orders/checkout")
                .bearer_auth(token)
                .header("idempotency-key", "shed")
                .json(&json!({ "shipping_address": address(), "payment_token": "tok_timeout" }));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut shed = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status() == 503 {
            assert_eq!(r.headers()["retry-after"], "1");
            assert_eq!(meridian_e2e::error_code(r).await, "overloaded");
            shed += 1;
        } else {
            assert_eq!(
                r.status(),
                504,
                "an admitted checkout meets the hanging processor"
            );
        }
    }
    assert_eq!(shed, 10, "two slots, twelve checkouts");
    let metrics = cluster.edge_metrics().await;
    let open = meridian_e2e::metric_sum(&metrics, "meridian_edge_region_breaker_open", &[&serving]);
    assert_eq!(open, 0.0, "the breaker of {serving} stayed closed");
    let after = cluster.get("/api/catalog/products?limit=1").reply().await;
    assert_eq!(after.region(), serving, "traffic stays in the full region");
    cluster.shutdown().await;
}
