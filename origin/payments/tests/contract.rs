//! The `PaymentStore` contract, run against every impl; and the internal API
//! through its router (idempotency under concurrency).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use meridian_common::events::{MemoryOutbox, OutboxReader};
use meridian_common::{Currency, Money};
use meridian_payments::domain::{Payment, PaymentError, PaymentId, PaymentStatus};
use meridian_payments::gateway::SimulatedGateway;
use meridian_payments::store::memory::MemoryPaymentStore;
use meridian_payments::store::{PaymentStore, StoreError};
use serde_json::{json, Value};
use tower::ServiceExt;

fn usd(n: i64) -> Money {
    Money::new(n, Currency::Usd)
}

async fn payment_store_contract(store: Arc<dyn PaymentStore>, outbox: Arc<dyn OutboxReader>) {
    store.ping().await.unwrap();
    let p = Payment::authorized("order-1", usd(5000), Utc::now());
    let entry = p.authorization_entry("auth-1");
    let first = store
        .create("auth-1", "fp", &p, Some(&entry), Vec::new())
        .await
        .unwrap();
    assert_eq!(first.outcome.as_ref().unwrap(), &p);
    // Same key again: the first record wins, nothing new stored.
    let other = Payment::authorized("order-1", usd(5000), Utc::now());
    let again = store
        .create("auth-1", "fp", &other, None, Vec::new())
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(store.payment(other.id).await.unwrap(), None);
    assert_eq!(store.record("auth-1").await.unwrap(), Some(first));
    assert_eq!(store.record("nope").await.unwrap(), None);

    let capture = |amount: i64| {
        move |p: &Payment| {
            let (next, e) = p.capture(usd(amount), "cap", Utc::now())?;
            Ok((next, e, Vec::new()))
        }
    };
    let too_much = store
        .transition("cap-0", "fp", p.id, &capture(9999))
        .await
        .unwrap();
    assert!(matches!(
        too_much.outcome,
        Err(PaymentError::InvalidAmount(_))
    ));
    // A refused operation is replayed as refused, even if it would now pass.
    let replay = store
        .transition("cap-0", "fp", p.id, &capture(5000))
        .await
        .unwrap();
    assert_eq!(replay, too_much);
    let captured = store
        .transition("cap-1", "fp", p.id, &capture(5000))
        .await
        .unwrap();
    assert_eq!(captured.outcome.unwrap().status, PaymentStatus::Captured);
    assert!(matches!(
        store
            .transition("x", "fp", PaymentId(uuid::Uuid::new_v4()), &capture(1))
            .await,
        Err(StoreError::NotFound)
    ));

    // 20 concurrent refunds of 1000 against 5000 captured: exactly 5 pass.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let refund = |p: &Payment| {
                    let (next, e) = p.refund(usd(1000), "r", Utc::now())?;
                    Ok((next, e, Vec::new()))
                };
                store
                    .transition(&format!("refund-{i}"), "fp", p.id, &refund)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().outcome.is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 5);
    let stored = store.payment(p.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.refunded, stored.status),
        (5000, PaymentStatus::Refunded)
    );
    let ledger = store.ledger(p.id).await.unwrap();
    assert_eq!(
        ledger.len(),
        1 + 1 + 5,
        "authorization, capture, five refunds"
    );
    let _ = outbox.backlog().await.unwrap();
}

#[tokio::test]
async fn memory_payment_store() {
    let outbox = MemoryOutbox::new();
    payment_store_contract(Arc::new(MemoryPaymentStore::new(outbox.clone())), outbox).await;
}

fn router() -> axum::Router {
    meridian_payments::internal_router(meridian_payments::AppState {
        store: Arc::new(MemoryPaymentStore::new(MemoryOutbox::new())),
        gateway: Arc::new(SimulatedGateway::new(Duration::from_millis(50))),
        region: "test".into(),
    })
}

async fn post(router: &axum::Router, path: &str, body: Value) -> (u16, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(router, request).await
}

async fn get(router: &axum::Router, path: &str) -> (u16, Value) {
    send(router, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn send(router: &axum::Router, request: Request<Body>) -> (u16, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn test_tokens_and_idempotent_authorization() {
    let router = router();
    let auth = |key: &str, token: &str| json!({ "idempotency_key": key, "reference": "order-9", "amount": { "amount": 2500, "currency": "USD" }, "token": token });
    // 10 concurrent authorizations with one key → one payment.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let router = router.clone();
            let body = auth("k-visa", "tok_visa");
            tokio::spawn(async move { post(&router, "/authorizations", body).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(status == 201 || status == 200, "{status} {body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);

    let (status, body) = post(&router, "/authorizations", auth("k-dec", "tok_declined")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (402, Some("payment_declined"))
    );
    let (status, body) = post(
        &router,
        "/authorizations",
        auth("k-funds", "tok_insufficient_funds"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (402, Some("insufficient_funds"))
    );
    let (status, body) = post(&router, "/authorizations", auth("k-time", "tok_timeout")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (504, Some("gateway_timeout"))
    );
    let (status, _) = post(&router, "/authorizations", auth("k-bad", "tok_nope")).await;
    assert_eq!(status, 422);
    // Same key, different request.
    let mut changed = auth("k-visa", "tok_visa");
    changed["amount"]["amount"] = json!(9999);
    let (status, body) = post(&router, "/authorizations", changed).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("idempotency_mismatch"))
    );
    // Bad amounts.
    let mut negative = auth("k-neg", "tok_visa");
    negative["amount"]["amount"] = json!(-1);
    assert_eq!(post(&router, "/authorizations", negative).await.0, 422);

    // Capture, refund more than captured (422), refund, ledger.
    let id = ids.into_iter().next().unwrap();
    let cap = json!({ "idempotency_key": "c1", "amount": { "amount": 2500, "currency": "USD" } });
    assert_eq!(
        post(&router, &format!("/payments/{id}/capture"), cap.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        post(&router, &format!("/payments/{id}/capture"), cap)
            .await
            .0,
        200,
        "replayed"
    );
    let over = json!({ "idempotency_key": "r0", "amount": { "amount": 2501, "currency": "USD" } });
    assert_eq!(
        post(&router, &format!("/payments/{id}/refunds"), over)
            .await
            .0,
        422
    );
    let part = json!({ "idempotency_key": "r1", "amount": { "amount": 1000, "currency": "USD" } });
    let (status, body) = post(&router, &format!("/payments/{id}/refunds"), part).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("partially_refunded"))
    );
    let void = json!({ "idempotency_key": "v1" });
    assert_eq!(
        post(&router, &format!("/payments/{id}/void"), void).await.0,
        409
    );

    // The payment an authorization key made, as it stands now (checkout's
    // sweeper finds what an abandoned checkout holds this way).
    let (status, body) = get(&router, "/authorizations/k-visa").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"].as_str(), Some(id.as_str()));
    assert_eq!(body["status"], "partially_refunded");
    assert_eq!(body["refunded"], 1000);
    let (status, body) = get(&router, "/authorizations/k-dec").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("declined")));
    for nothing in ["k-time", "k-bad", "k-never"] {
        let (status, body) = get(&router, &format!("/authorizations/{nothing}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{nothing}"
        );
    }
    let long = "k".repeat(201);
    let (status, body) = get(&router, &format!("/authorizations/{long}")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
}

#[cfg(feature = "dynamodb")]
#[tokio::test]
async fn dynamodb_payment_store() {
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_payments::store::dynamo::DynamoPaymentStore;

    let Some(endpoint) = backend_endpoint("MERIDIAN_TEST_DYNAMODB") else {
        return;
    };
    let table = unique_namespace("payments");
    let store = DynamoPaymentStore::connect(Some(&endpoint), "us-east-1", &table)
        .await
        .unwrap();
    let outbox = Arc::new(store.outbox());
    payment_store_contract(Arc::new(store), outbox).await;
}
