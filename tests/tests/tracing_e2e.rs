//! One request followed everywhere: a checkout through the edge, orders,
//! catalog, payments, the outbox relay into Kafka and the loader into
//! ClickHouse arrives at an OTLP receiver as one trace, every span under
//! its parent; a client's own `traceparent` starts nothing unless the edge
//! trusts where it came from.
//!
//! The origins run in this test's process, so their exporter is this
//! process's (installed once, as `origin` installs it from `[tracing]`);
//! the edge exports through its own pipeline from its `[tracing]` table.

use std::collections::HashMap;
use std::time::Duration;

use meridian_common::testing::backend_endpoint;
use meridian_e2e::otlp::{self, OtlpReceiver, ReceivedSpan};
use meridian_e2e::{login, open_shop, send_retrying_503, Cluster, Options};
use reqwest::Method;
use serde_json::json;

const FOREIGN_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const FOREIGN_PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn tracing_table(endpoint: &str, trusted: &str) -> String {
    format!(
        "\n[tracing]\nendpoint = \"{endpoint}\"\nsample_ratio = 1.0\ntrusted_sources = [{trusted}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkout_is_one_trace_from_the_edge_to_the_loader() {
    let (Some(kafka), Some(clickhouse)) = (
        backend_endpoint("MERIDIAN_TEST_KAFKA"),
        backend_endpoint("MERIDIAN_TEST_CLICKHOUSE"),
    ) else {
        return;
    };
    // Batches leave every 100 ms instead of every 5 s.
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let receiver = OtlpReceiver::start().await;
    let export = meridian_telemetry::Export {
        endpoint: receiver.endpoint(),
        sample_ratio: 1.0,
        service_name: None,
    };
    let _origins = meridian_common::telemetry::init("origin", Some(&export), "test")
        .unwrap()
        .expect("the first subscriber of this test binary");

    let cluster = Cluster::start(Options {
        kafka: Some(kafka),
        clickhouse_url: Some(clickhouse),
        // Nobody the test runs as: the client's traceparent is not believed.
        edge_extra: tracing_table(&receiver.endpoint(), "\"10.255.255.1/32\""),
        ..Options::default()
    })
    .await;

    untrusted_traceparent_starts_a_new_trace(&cluster, &receiver).await;
    edge_without_tracing_drops_client_trace_context(&cluster, &receiver).await;
    let order_id = checkout(&cluster).await;
    checkout_trace_is_whole(&receiver, &order_id).await;
    trusted_traceparent_is_continued(&cluster, &receiver).await;
    cluster.shutdown().await;
}

/// A shopper buys one lamp from a new shop; returns the order id.
async fn checkout(cluster: &Cluster) -> String {
    let client = cluster.client();
    let owner = login(cluster, &client, "maker@example.com").await;
    open_shop(cluster, &owner, "lamps").await;
    let product = cluster
        .post("/api/catalog/products")
        .bearer_auth(&owner)
        .json(
            &json!({ "title": "Lamp", "price": { "amount": 8000, "currency": "USD" },
                       "category": "home-kitchen", "stock": 5 }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(product.status(), 201);
    let product: serde_json::Value = product.json().await.unwrap();
    let buyer = login(cluster, &client, "ann@example.com").await;
    let added = client
        .post(cluster.url("/api/cart/items"))
        .bearer_auth(&buyer)
        .json(&json!({ "product_id": product["id"], "quantity": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let address = json!({ "name": "Ann Example", "line1": "1 Main St", "city": "Portland",
                          "state": "OR", "postal_code": "97201", "country": "US" });
    let (status, order) = send_retrying_503(
        client
            .post(cluster.url("/api/orders/checkout"))
            .bearer_auth(&buyer)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            // A client's claim to a trace of its own: not believed.
            .header("traceparent", FOREIGN_PARENT)
            .json(&json!({ "shipping_address": address, "payment_token": "tok_visa" })),
    )
    .await;
    assert_eq!(status, 201, "checkout: {order}");
    order["id"].as_str().unwrap().to_owned()
}

/// The checkout's trace holds the edge's request and its try at the
/// origin, the orders handler, the calls to catalog and payments and their
/// handlers, store calls, the relay's publish and the loader's consume,
/// each under the span that caused it.
async fn checkout_trace_is_whole(receiver: &OtlpReceiver, order_id: &str) {
    let is_checkout = |s: &ReceivedSpan| {
        s.service == "meridian-origin"
            && s.kind == otlp::SERVER
            && s.name == "POST /api/orders/checkout"
    };
    let spans = receiver
        .wait_for(
            "the checkout's handler span",
            Duration::from_secs(30),
            |spans| spans.iter().any(is_checkout),
        )
        .await;
    let trace_id = spans
        .iter()
        .find(|s| is_checkout(s))
        .unwrap()
        .trace_id
        .clone();
    let trace = receiver
        .wait_for(
            "the loader's span in the checkout's trace",
            Duration::from_secs(60),
            |spans| {
                spans.iter().any(|s| {
                    s.trace_id == trace_id
                        && s.kind == otlp::CONSUMER
                        && s.name.ends_with(".orders.events")
                })
            },
        )
        .await
        .into_iter()
        .filter(|s| s.trace_id == trace_id)
        .collect::<Vec<_>>();
    assert_ne!(
        trace_id, FOREIGN_TRACE,
        "the client's traceparent was continued"
    );
    let by_id: HashMap<&str, &ReceivedSpan> =
        trace.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |s: &ReceivedSpan| parent_in(&by_id, s);
    let describe = |s: &ReceivedSpan| format!("{}:{} ({})", s.service, s.name, s.kind);

    // One root, the edge's server span; every other span's parent is in
    // the trace (nothing dangles, nothing started a trace of its own).
    let roots: Vec<_> = trace.iter().filter(|s| s.parent_id.is_empty()).collect();
    assert_eq!(
        roots.len(),
        1,
        "roots: {:?}",
        roots.iter().map(|s| describe(s)).collect::<Vec<_>>()
    );
    let root = roots[0];
    assert_eq!(
        (root.service.as_str(), root.kind),
        ("meridian-edge", otlp::SERVER)
    );
    assert_eq!(root.name, "POST /api/orders");
    assert_eq!(root.attr("http.response.status_code"), Some("201"));
    assert_eq!(root.attr("meridian.service"), Some("orders"));
    for s in &trace {
        assert!(
            s.parent_id.is_empty() || by_id.contains_key(s.parent_id.as_str()),
            "{} has a parent outside the trace",
            describe(s)
        );
    }

    // The edge's phases under its request: the session check and the try
    // at the origin, which is the orders handler's parent.
    let child_of_root = |name: &str, kind: i32| {
        trace
            .iter()
            .find(|s| s.name == name && s.kind == kind && s.parent_id == root.span_id)
            .unwrap_or_else(|| panic!("edge span {name:?} under the request"))
    };
    child_of_root("session check", otlp::INTERNAL);
    let upstream = child_of_root("upstream", otlp::CLIENT);
    assert!(upstream.attr("meridian.region").is_some());
    let handler = trace.iter().find(|s| is_checkout(s)).unwrap();
    assert_eq!(
        handler.parent_id, upstream.span_id,
        "orders handler under the edge's try"
    );
    assert_eq!(handler.attr("meridian.service"), Some("orders"));
    assert_eq!(handler.attr("http.response.status_code"), Some("201"));

    // Orders calls catalog and payments: a client span under the handler
    // (or under one of its descendants), the callee's handler under it.
    let descends_from = |s: &ReceivedSpan, ancestor: &ReceivedSpan| {
        let mut at = parent_in(&by_id, s);
        while let Some(p) = at {
            if p.span_id == ancestor.span_id {
                return true;
            }
            at = parent_in(&by_id, p);
        }
        false
    };
    for service in ["catalog", "payments"] {
        let served = trace
            .iter()
            .find(|s| s.kind == otlp::SERVER && s.attr("meridian.service") == Some(service))
            .unwrap_or_else(|| panic!("no {service} handler span in the checkout's trace"));
        let call = parent(served).unwrap();
        assert_eq!(
            call.kind,
            otlp::CLIENT,
            "{service} handler's parent: {}",
            describe(call)
        );
        assert_eq!(call.attr("peer.service"), Some(service));
        assert!(
            descends_from(call, handler),
            "the {service} call is under the checkout"
        );
    }
    // Store calls under the handler, with their system and no arguments.
    let store = trace
        .iter()
        .find(|s| s.attr("db.system").is_some() && descends_from(s, handler))
        .expect("a store span under the checkout");
    assert_eq!(store.kind, otlp::CLIENT);

    // The events the checkout wrote: each published by the relay under the
    // span that wrote it, each consumed by the loader under its publish.
    let publishes: Vec<_> = trace.iter().filter(|s| s.kind == otlp::PRODUCER).collect();
    assert!(
        publishes.iter().any(|p| p.name.ends_with(".orders.events")),
        "the relay's publish of the order's events"
    );
    for publish in &publishes {
        assert!(
            descends_from(publish, handler),
            "{} under the checkout",
            describe(publish)
        );
        assert_eq!(publish.attr("messaging.system"), Some("kafka"));
    }
    let consumes: Vec<_> = trace.iter().filter(|s| s.kind == otlp::CONSUMER).collect();
    assert!(consumes.iter().any(|c| c.name.ends_with(".orders.events")));
    for consume in consumes {
        let publish = parent(consume).unwrap();
        assert_eq!(
            publish.kind,
            otlp::PRODUCER,
            "{} under a publish",
            describe(consume)
        );
        assert_eq!(
            publish.attr("messaging.destination.name"),
            consume.attr("messaging.destination.name")
        );
    }

    // Bounded attributes only: no path with the order's id, no user.
    for s in &trace {
        for (key, value) in &s.attributes {
            assert!(
                !value.contains(order_id),
                "{}: {key} = {value}",
                describe(s)
            );
        }
        assert!(!s.attributes.contains_key("url.path") && !s.attributes.contains_key("path"));
    }
}

/// `request` (a categories read) sent with a client's trace context.
async fn categories_claiming(request: reqwest::RequestBuilder, traceparent: &str) {
    let response = request
        .header("traceparent", traceparent)
        .header("tracestate", "vendor=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn parent_in<'a>(
    by_id: &HashMap<&str, &'a ReceivedSpan>,
    span: &ReceivedSpan,
) -> Option<&'a ReceivedSpan> {
    by_id.get(span.parent_id.as_str()).copied()
}

/// From an address outside `trusted_sources`, a `traceparent` is replaced:
/// the edge starts a trace of its own and the origin continues that one.
async fn untrusted_traceparent_starts_a_new_trace(cluster: &Cluster, receiver: &OtlpReceiver) {
    categories_claiming(cluster.get("/api/catalog/categories"), FOREIGN_PARENT).await;
    let spans = receiver
        .wait_for("the categories request", Duration::from_secs(30), |spans| {
            spans
                .iter()
                .any(|s| s.service == "meridian-origin" && s.name == "GET /api/catalog/categories")
                && spans
                    .iter()
                    .any(|s| s.service == "meridian-edge" && s.name == "GET /api/catalog")
        })
        .await;
    assert!(
        spans.iter().all(|s| s.trace_id != FOREIGN_TRACE),
        "an untrusted traceparent was continued"
    );
    let edge = spans
        .iter()
        .find(|s| s.service == "meridian-edge" && s.name == "GET /api/catalog")
        .unwrap();
    assert!(edge.parent_id.is_empty(), "the edge's span is a new root");
    let origin = spans
        .iter()
        .find(|s| s.service == "meridian-origin" && s.name == "GET /api/catalog/categories")
        .unwrap();
    assert_eq!(
        origin.trace_id, edge.trace_id,
        "the origin continues the edge's trace"
    );
}

/// An edge without `[tracing]` passes no client's trace context on: the
/// origin (tracing on) starts a trace of its own instead of joining the
/// client's.
async fn edge_without_tracing_drops_client_trace_context(
    cluster: &Cluster,
    receiver: &OtlpReceiver,
) {
    const OTHER_TRACE: &str = "5b8efff798038103d269b633813fc60c";
    let edge = cluster.start_extra_edge("untraced", "").await;
    let claim = format!("00-{OTHER_TRACE}-eee19b7ec3c1b174-01");
    categories_claiming(
        edge.client().get(edge.url("/api/catalog/categories")),
        &claim,
    )
    .await;
    // Its origin span: a root of the origin's own, or (the bug) a child in
    // the client's trace. The traced edge's requests are never roots.
    let spans = receiver
        .wait_for(
            "the origin's span behind the untraced edge",
            Duration::from_secs(30),
            |spans| {
                spans.iter().any(|s| {
                    s.service == "meridian-origin"
                        && s.name == "GET /api/catalog/categories"
                        && (s.parent_id.is_empty() || s.trace_id == OTHER_TRACE)
                })
            },
        )
        .await;
    assert!(
        spans.iter().all(|s| s.trace_id != OTHER_TRACE),
        "a client's traceparent crossed an edge without tracing"
    );
    edge.stop().await;
}

/// Once the test's address is trusted (a reload), its trace is continued:
/// the edge's request span is the child of the client's span.
async fn trusted_traceparent_is_continued(cluster: &Cluster, receiver: &OtlpReceiver) {
    let config = std::fs::read_to_string(&cluster.edge_path).unwrap();
    let trusting = config.replace("\"10.255.255.1/32\"", "\"127.0.0.0/8\", \"::1/128\"");
    assert_ne!(config, trusting);
    std::fs::write(&cluster.edge_path, trusting).unwrap();
    let (status, body) = cluster.admin(Method::POST, "/admin/reload", None).await;
    assert_eq!(status, 200, "{body}");
    categories_claiming(cluster.get("/api/catalog/categories"), FOREIGN_PARENT).await;
    let spans = receiver
        .wait_for(
            "the trusted request's spans",
            Duration::from_secs(30),
            |spans| {
                spans
                    .iter()
                    .any(|s| s.trace_id == FOREIGN_TRACE && s.service == "meridian-origin")
            },
        )
        .await;
    let edge = spans
        .iter()
        .find(|s| {
            s.trace_id == FOREIGN_TRACE && s.service == "meridian-edge" && s.kind == otlp::SERVER
        })
        .expect("the edge's span in the client's trace");
    assert_eq!(edge.parent_id, "b7ad6b7169203331");

    // The exporter itself cannot change on reload: refused, old config kept.
    let config = std::fs::read_to_string(&cluster.edge_path).unwrap();
    std::fs::write(
        &cluster.edge_path,
        config.replace("sample_ratio = 1.0", "sample_ratio = 0.5"),
    )
    .unwrap();
    let (status, body) = cluster.admin(Method::POST, "/admin/reload", None).await;
    assert_ne!(status, 200, "{body}");
    assert!(body.to_string().contains("tracing"), "{body}");
}
