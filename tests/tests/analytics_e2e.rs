//! Analytics end to end: shopper and seller flows through the edge, then
//! the analytics API returns exactly the numbers those flows imply — on the
//! embedded default (in-process bus, memory rollups) and on the real path
//! (outbox → Kafka → loader → ClickHouse). Plus the Kafka outage: events
//! wait in the outboxes and arrive once when the broker is back.

use std::time::Duration;

use meridian_e2e::call::Send as _;
use meridian_e2e::{login, send_retrying_503, Cluster, Options, ADMIN_TOKEN, CARRIER_SECRET};
use serde_json::{json, Value};

fn address() -> Value {
    json!({ "name": "Ann Example", "line1": "1 Main St", "city": "Portland", "state": "OR", "postal_code": "97201", "country": "US" })
}

async fn send(request: reqwest::RequestBuilder, status: u16) -> Value {
    let r = request.send().await.unwrap();
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    body
}

/// A shop with two products ($25.00 and $80.00, 50 each); returns (owner
/// token, [product ids]).
async fn shop(cluster: &Cluster, client: &reqwest::Client) -> (String, Vec<String>) {
    let owner = login(cluster, client, "maker@example.com").await;
    send(
        client
            .post(cluster.url("/api/sellers/shops"))
            .bearer_auth(&owner)
            .json(&json!({ "name": "Maker", "slug": "maker", "contact_email": "m@example.com" })),
        201,
    )
    .await;
    let mut products = Vec::new();
    for (title, price) in [("Mug", 2500), ("Lamp", 8000)] {
        let p = send(
            client
                .post(cluster.url("/api/catalog/products"))
                .bearer_auth(&owner)
                .json(
                    &json!({ "title": title, "price": { "amount": price, "currency": "USD" },
                               "category": "home-kitchen", "stock": 50 }),
                ),
            201,
        )
        .await;
        products.push(p["id"].as_str().unwrap().to_owned());
    }
    (owner, products)
}

/// `buyer` buys `quantity` of `product`; returns the order.
async fn buy(
    cluster: &Cluster,
    client: &reqwest::Client,
    buyer: &str,
    product: &str,
    quantity: u32,
) -> Value {
    send(
        client
            .post(cluster.url("/api/cart/items"))
            .bearer_auth(buyer)
            .json(&json!({ "product_id": product, "quantity": quantity })),
        200,
    )
    .await;
    // The real stores may answer 503 under load: retried with the same key.
    let (status, order) = send_retrying_503(
        client
            .post(cluster.url("/api/orders/checkout"))
            .bearer_auth(buyer)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "shipping_address": address(), "payment_token": "tok_visa" })),
    )
    .await;
    assert_eq!(status, 201, "checkout: {order}");
    order
}

fn total(order: &Value) -> i64 {
    order["sub_orders"][0]["total"]["amount"].as_i64().unwrap()
}

async fn get(cluster: &Cluster, client: &reqwest::Client, path: &str, auth: Auth<'_>) -> Value {
    let mut request = client.get(cluster.url(path));
    request = match auth {
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Admin => request.header("x-admin-token", ADMIN_TOKEN),
    };
    send(request, 200).await
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Bearer(&'a str),
    Admin,
}

/// Polls `path` until `done` holds (analytics trail the writes), then
/// returns the last answer.
async fn eventually(
    cluster: &Cluster,
    client: &reqwest::Client,
    path: &str,
    auth: Auth<'_>,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = get(cluster, client, path, auth).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never reached the expected figures; last: {last}");
}

/// The story both event paths must count the same way.
async fn sales_story(cluster: &Cluster) {
    let client = cluster.client();
    let (owner, products) = shop(cluster, &client).await;
    let (mug, lamp) = (&products[0], &products[1]);
    let ann = login(cluster, &client, "ann@example.com").await;
    let bob = login(cluster, &client, "bob@example.com").await;
    let cy = login(cluster, &client, "cy@example.com").await;
    let first = buy(cluster, &client, &ann, mug, 2).await;
    let second = buy(cluster, &client, &bob, lamp, 1).await;
    let third = buy(cluster, &client, &cy, mug, 1).await;
    // A cart that never checks out: in the funnel, not in sales.
    send(
        client
            .post(cluster.url("/api/cart/items"))
            .json(&json!({ "product_id": mug, "quantity": 1 })),
        200,
    )
    .await;
    // The seller cancels the third order (full refund)…
    let (id, sub) = (
        third["id"].as_str().unwrap(),
        third["sub_orders"][0]["id"].as_str().unwrap(),
    );
    send(
        client
            .post(cluster.url(&format!("/api/orders/{id}/sub-orders/{sub}/cancel")))
            .bearer_auth(&owner),
        200,
    )
    .await;
    // …and ships the first, which is delivered and reviewed.
    let (id, sub) = (
        first["id"].as_str().unwrap(),
        first["sub_orders"][0]["id"].as_str().unwrap(),
    );
    send(
        client
            .post(cluster.url(&format!("/api/orders/{id}/sub-orders/{sub}/ship")))
            .bearer_auth(&owner)
            .json(&json!({ "carrier": "UPS", "tracking_number": "1ZANALYTICS1" })),
        200,
    )
    .await;
    for status in ["in_transit", "delivered"] {
        send(
            client
                .post(cluster.url("/api/logistics/carrier/updates"))
                .header("x-carrier-secret", CARRIER_SECRET)
                .json(&json!({ "carrier": "UPS", "tracking_number": "1ZANALYTICS1", "status": status, "location": "Portland, OR" })),
            200,
        )
        .await;
    }
    send(
        client
            .post(cluster.url(&format!("/api/reviews/products/{mug}")))
            .bearer_auth(&ann)
            .json(&json!({ "rating": 4, "text": "Holds coffee." })),
        201,
    )
    .await;

    let gross = total(&first) + total(&second) + total(&third);
    let summary = eventually(
        cluster,
        &client,
        "/api/analytics/seller/summary",
        Auth::Bearer(&owner),
        |s| {
            s["sales"]["totals"][0]["orders"] == 3
                && s["sales"]["totals"][0]["refunded_cents"] == total(&third)
        },
    )
    .await;
    let totals = &summary["sales"]["totals"];
    assert_eq!(totals.as_array().unwrap().len(), 1, "one currency");
    assert_eq!(totals[0]["currency"], "USD");
    assert_eq!(totals[0]["gross_cents"], gross);
    assert_eq!(totals[0]["net_cents"], gross - total(&third));
    let by_day = summary["sales"]["by_day"].as_array().unwrap();
    assert_eq!(by_day.len(), 1);
    assert_eq!(by_day[0]["orders"], 3);
    let regions: i64 = summary["sales"]["by_region"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["gross_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(regions, gross);

    let top = get(
        cluster,
        &client,
        "/api/analytics/seller/top-products?limit=5",
        Auth::Bearer(&owner),
    )
    .await;
    let items: Vec<(String, u64, i64)> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["product_id"].as_str().unwrap().to_owned(),
                p["units"].as_u64().unwrap(),
                p["gross_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![(lamp.clone(), 1, 8000), (mug.clone(), 3, 7500)],
        "by item value"
    );

    let platform = eventually(
        cluster,
        &client,
        "/api/analytics/platform/summary",
        Auth::Admin,
        |p| p["ratings"]["ratings"] == 1 && p["deliveries"][0]["deliveries"] == 1,
    )
    .await;
    let funnel = &platform["funnel"];
    assert_eq!(
        (&funnel["carts"], &funnel["checkouts"], &funnel["paid"]),
        (&json!(4), &json!(3), &json!(3)),
        "{funnel}"
    );
    assert_eq!(funnel["checkout_rate"], 0.75);
    assert_eq!(platform["ratings"]["average"], 4.0);
    assert_eq!(platform["deliveries"][0]["carrier"], "UPS");
    assert_eq!(platform["sales"]["totals"][0]["gross_cents"], gross);
    let paid = platform["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "orders.order.paid")
        .unwrap();
    assert_eq!(paid["events"], 3, "each event once");

    // Who may see what.
    let r = cluster.get("/api/analytics/seller/summary").reply().await;
    assert_eq!(r.status(), 401, "sellers sign in");
    let r = cluster
        .get("/api/analytics/seller/summary")
        .bearer_auth(&ann)
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.code(), "forbidden", "a shopper has no shop");
    let r = cluster
        .get("/api/analytics/platform/summary")
        .bearer_auth(&owner)
        .reply()
        .await;
    assert_eq!(r.status(), 401, "platform figures need the ops credential");
    let r = cluster
        .get("/api/analytics/platform/summary")
        .header("x-admin-token", "not-the-admin-token-at-all")
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    let r = cluster
        .get("/api/analytics/seller/summary")
        .bearer_auth(&owner)
        .reply()
        .await;
    assert_eq!(r.headers()["cache-control"], "private, no-store");

    // Validated ranges and parameters.
    for (query, status, code) in [
        ("from=2026-02-30", 422, "validation_failed"),
        ("from=2026-03-02&to=2026-03-01", 422, "validation_failed"),
        ("from=2020-01-01&to=2026-01-01", 422, "validation_failed"),
        ("limit=0", 422, "validation_failed"),
        ("limit=ten", 400, "invalid_query"),
        ("since=2026-01-01", 400, "invalid_query"),
    ] {
        let r = cluster
            .get(&format!("/api/analytics/seller/top-products?{query}"))
            .bearer_auth(&owner)
            .reply()
            .await;
        assert_eq!(r.status(), status, "{query}");
        assert_eq!(r.code(), code, "{query}");
    }
    // A range without sales is empty, not an error.
    let empty = get(
        cluster,
        &client,
        "/api/analytics/seller/summary?from=2020-01-01&to=2020-01-31",
        Auth::Bearer(&owner),
    )
    .await;
    assert_eq!(empty["sales"]["totals"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_count_the_flows_exactly_on_the_embedded_default() {
    let cluster = Cluster::start(Options::default()).await;
    sales_story(&cluster).await;
    cluster.shutdown().await;
}

/// Kafka and ClickHouse, other stores embedded (the path under test is
/// outbox → Kafka → loader → ClickHouse).
fn kafka_and_clickhouse() -> Option<Options> {
    use meridian_common::testing::backend_endpoint;
    Some(Options {
        kafka: Some(backend_endpoint("MERIDIAN_TEST_KAFKA")?),
        clickhouse_url: Some(backend_endpoint("MERIDIAN_TEST_CLICKHOUSE")?),
        ..Options::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_count_the_flows_exactly_through_kafka_and_clickhouse() {
    let Some(options) = kafka_and_clickhouse() else {
        return;
    };
    let cluster = Cluster::start(options).await;
    sales_story(&cluster).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_count_the_flows_exactly_on_the_real_stores() {
    let Some(options) = Options::real_stores_run() else {
        return;
    };
    let cluster = Cluster::start(options).await;
    sales_story(&cluster).await;
    cluster.shutdown().await;
}

/// A Kafka broker of the test's own (the shared one must stay up for the
/// other tests), stopped and started on the same data directory.
struct Broker {
    bin: String,
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl Broker {
    fn new(bin: String) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("meridian-kafka-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            bin,
            dir,
            port,
            child: None,
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let child = std::process::Command::new(&self.bin)
            .args(["start", "--data-dir"])
            .arg(&self.dir)
            .args(["--host", "127.0.0.1", "--only", "kafka", "--kafka-port"])
            .arg(self.port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(self.address()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private Kafka broker did not start");
    }

    /// A graceful stop (SIGTERM), as an operator's restart would do.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_down_checkouts_wait_in_the_outbox_and_arrive_once() {
    use meridian_common::testing::backend_endpoint;
    let (Some(bin), Some(clickhouse)) = (
        backend_endpoint("MERIDIAN_TEST_KAFKA_SERVER"),
        backend_endpoint("MERIDIAN_TEST_CLICKHOUSE"),
    ) else {
        return;
    };
    let mut broker = Broker::new(bin);
    broker.start().await;
    let cluster = Cluster::start(Options {
        kafka: Some(broker.address()),
        clickhouse_url: Some(clickhouse),
        ..Options::default()
    })
    .await;
    let client = cluster.client();
    let (owner, products) = shop(&cluster, &client).await;
    const N: usize = 5;
    let mut buyers = Vec::new();
    for i in 0..N {
        buyers.push(login(&cluster, &client, &format!("buyer{i}@example.com")).await);
    }

    broker.stop();
    let mut gross = 0;
    for buyer in &buyers {
        gross += total(&buy(&cluster, &client, buyer, &products[0], 1).await);
    }
    // The events wait in the orders outbox, visibly.
    let backlog = (
        "meridian_events_outbox_backlog_events",
        "service=\"orders\"",
    );
    let mut waiting = 0.0;
    for _ in 0..100 {
        waiting = cluster.origin_metric(backlog.0, &[backlog.1]).await;
        if waiting >= (2 * N) as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        waiting >= (2 * N) as f64,
        "placed + paid of {N} orders queued; saw {waiting}"
    );
    let summary = get(
        &cluster,
        &client,
        "/api/analytics/seller/summary",
        Auth::Bearer(&owner),
    )
    .await;
    assert_eq!(summary["sales"]["totals"], json!([]), "nothing arrived yet");

    broker.start().await;
    let summary = eventually(
        &cluster,
        &client,
        "/api/analytics/seller/summary",
        Auth::Bearer(&owner),
        |s| s["sales"]["totals"][0]["orders"].as_u64() >= Some(N as u64),
    )
    .await;
    assert_eq!(summary["sales"]["totals"][0]["orders"], N);
    assert_eq!(summary["sales"]["totals"][0]["gross_cents"], gross);
    let platform = get(
        &cluster,
        &client,
        "/api/analytics/platform/summary",
        Auth::Admin,
    )
    .await;
    let paid = platform["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "orders.order.paid")
        .unwrap();
    assert_eq!(paid["events"], N, "each event once");
    for _ in 0..100 {
        if cluster.origin_metric(backlog.0, &[backlog.1]).await == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cluster.origin_metric(backlog.0, &[backlog.1]).await,
        0.0,
        "outboxes drained"
    );
    cluster.shutdown().await;
}
