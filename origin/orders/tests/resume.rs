//! A checkout whose outcome is unknown (a dependency did not answer) answers
//! 503 and the retry with the same key resumes the same order: one order,
//! one reservation, one capture, whatever step failed.

mod support;

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use meridian_common::UserId;
use meridian_orders::store::OrderStore;
use serde_json::json;
use support::{checkout, world};

#[tokio::test]
async fn a_capture_that_did_not_answer_is_resumed_not_repeated() {
    let w = world();
    let buyer = UserId::new();
    w.services.fail_capture.store(1, Ordering::SeqCst);
    let first = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!((first.status, first.code()), (503, "unavailable"));
    // Unknown whether the money moved: nothing is undone.
    assert!(w.services.voided.lock().unwrap().is_empty());
    assert!(w.services.released.lock().unwrap().is_empty());
    let pending = w.store.by_buyer(buyer, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].status,
        meridian_orders::domain::Status::PendingPayment
    );

    // A different request may not take the key over.
    let other = checkout(&w, buyer, "k-1", "tok_mastercard").await;
    assert_eq!((other.status, other.code()), (422, "idempotency_mismatch"));

    let retry = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_eq!(retry.json["id"], json!(pending[0].id));
    assert_eq!(retry.json["status"], "paid");
    let orders = w.store.by_buyer(buyer, 10).await.unwrap();
    assert_eq!(orders.len(), 1, "one order, not two");
    assert_eq!(w.services.authorized.lock().unwrap().len(), 1);
    assert_eq!(w.services.captured.lock().unwrap().len(), 1);
    // The same reservation asked for twice (the catalog makes it once).
    let reserved = w.services.reserved.lock().unwrap().clone();
    assert_eq!(reserved.len(), 1);
    assert_eq!(reserved.values().sum::<u32>(), 2);
    // And the answer is kept for later retries.
    let replay = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.json["id"], retry.json["id"]);
}

#[tokio::test]
async fn a_reservation_that_did_not_answer_is_resumed_and_a_refusal_fails_the_order() {
    let w = world();
    let buyer = UserId::new();
    *w.services.reserve_failure.lock().unwrap() = Some(StatusCode::SERVICE_UNAVAILABLE);
    w.services.fail_reserve.store(1, Ordering::SeqCst);
    let first = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(first.status, 503);
    let retry = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_eq!(w.store.by_buyer(buyer, 10).await.unwrap().len(), 1);
    assert_eq!(w.services.reserved.lock().unwrap().len(), 1);
    assert!(w.services.released.lock().unwrap().is_empty());

    // A refusal is an answer: the order fails and the key keeps the 409.
    *w.services.reserve_failure.lock().unwrap() = Some(StatusCode::CONFLICT);
    w.services.fail_reserve.store(1, Ordering::SeqCst);
    let refused = checkout(&w, buyer, "k-2", "tok_visa").await;
    assert_eq!((refused.status, refused.code()), (409, "out_of_stock"));
    let again = checkout(&w, buyer, "k-2", "tok_visa").await;
    assert_eq!((again.status, again.code()), (409, "out_of_stock"));
    let orders = w.store.by_buyer(buyer, 10).await.unwrap();
    assert_eq!(orders.len(), 2);
    assert_eq!(
        orders
            .iter()
            .filter(|o| o.status == meridian_orders::domain::Status::Cancelled)
            .count(),
        1
    );
}
