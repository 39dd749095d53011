//! A checkout its client left (a 503 never retried, a process that died)
//! is settled by the sweeper once its key has been idle long enough: the
//! order is cancelled, what was authorized voided, what was captured
//! refunded, the stock released, and the key keeps that answer. A paid
//! order whose answer was lost is recorded as the answer instead.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use meridian_common::UserId;
use meridian_orders::domain::{Order, Status};
use meridian_orders::store::OrderStore;
use meridian_orders::sweeper::Sweeper;
use serde_json::json;
use support::{checkout, world, World};

/// Sweeps keys idle for any time at all.
async fn sweep(w: &World) -> usize {
    Sweeper::new()
        .sweep(&w.state, Duration::ZERO)
        .await
        .unwrap()
}

/// The buyer's one order.
async fn the_order(w: &World, buyer: UserId) -> Order {
    let mut orders = w.store.by_buyer(buyer, 10).await.unwrap();
    assert_eq!(orders.len(), 1, "one order");
    orders.remove(0)
}

async fn assert_expired(w: &World, buyer: UserId, key: &str) {
    for _ in 0..2 {
        let retry = checkout(w, buyer, key, "tok_visa").await;
        assert_eq!(
            (retry.status, retry.code()),
            (409, "checkout_expired"),
            "{}",
            retry.json
        );
    }
}

#[tokio::test]
async fn a_capture_left_unanswered_is_refunded_and_its_order_cancelled() {
    let w = world();
    let buyer = UserId::new();
    w.services.fail_capture.store(1, Ordering::SeqCst);
    let first = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(first.status, 503);

    // Within the idle time the key is the client's to retry.
    let patient = Sweeper::new();
    assert_eq!(
        patient
            .sweep(&w.state, Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(the_order(&w, buyer).await.status, Status::PendingPayment);

    assert_eq!(sweep(&w).await, 1);
    let order = the_order(&w, buyer).await;
    assert_eq!(order.status, Status::Cancelled);
    assert_eq!(order.failure.as_deref(), Some("checkout_expired"));
    let refunds = w.services.refunded.lock().unwrap().clone();
    assert_eq!(refunds, [(format!("{}:expired", order.id), 2500)]);
    assert!(w.services.voided.lock().unwrap().is_empty());
    assert_eq!(*w.services.released.lock().unwrap(), [order.id.to_string()]);
    assert_expired(&w, buyer, "k-1").await;
    // Settled keys are not swept again.
    assert_eq!(sweep(&w).await, 0);
    assert_eq!(w.services.refunded.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_authorization_left_is_voided_and_a_checkout_that_placed_nothing_just_expires() {
    let w = world();
    let buyer = UserId::new();
    w.services.lose_capture.store(1, Ordering::SeqCst);
    assert_eq!(checkout(&w, buyer, "k-1", "tok_visa").await.status, 503);
    w.services.fail_cart.store(1, Ordering::SeqCst);
    let other = UserId::new();
    assert_eq!(checkout(&w, other, "k-1", "tok_visa").await.status, 503);

    assert_eq!(sweep(&w).await, 2);
    let order = the_order(&w, buyer).await;
    assert_eq!(order.status, Status::Cancelled);
    assert_eq!(
        *w.services.voided.lock().unwrap(),
        [format!("{}:void", order.id)]
    );
    assert!(w.services.captured.lock().unwrap().is_empty());
    assert!(w.services.refunded.lock().unwrap().is_empty());
    assert_expired(&w, buyer, "k-1").await;

    // The cart did not answer: no order, nothing reserved or charged.
    assert!(w.store.by_buyer(other, 10).await.unwrap().is_empty());
    assert_eq!(w.services.released.lock().unwrap().len(), 1);
    assert_expired(&w, other, "k-1").await;
}

#[tokio::test]
async fn a_paid_order_whose_answer_was_lost_becomes_the_answer() {
    let w = world();
    let buyer = UserId::new();
    w.services.fail_capture.store(1, Ordering::SeqCst);
    assert_eq!(checkout(&w, buyer, "k-1", "tok_visa").await.status, 503);
    // A retry paid it, and died before recording its answer.
    let id = the_order(&w, buyer).await.id;
    let pay = |o: &mut Order| {
        for sub in &mut o.sub_orders {
            sub.transition(Status::Paid)?;
        }
        o.derive_status();
        Ok(Vec::new())
    };
    w.store.update(id, &pay).await.unwrap().unwrap().unwrap();

    assert_eq!(sweep(&w).await, 1);
    let replay = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(replay.status, 200, "{}", replay.json);
    assert_eq!(replay.json["id"], json!(id));
    assert_eq!(replay.json["status"], "paid");
    assert!(w.services.refunded.lock().unwrap().is_empty());
    assert!(w.services.released.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_key_the_sweeper_could_not_settle_is_taken_again() {
    let w = world();
    let buyer = UserId::new();
    w.services.lose_capture.store(1, Ordering::SeqCst);
    assert_eq!(checkout(&w, buyer, "k-1", "tok_visa").await.status, 503);
    // The payment lookup fails once: the order is cancelled, the money not
    // yet given back, and the key left for the next round.
    w.services.lose_lookup.store(1, Ordering::SeqCst);
    assert_eq!(sweep(&w).await, 1);
    assert_eq!(the_order(&w, buyer).await.status, Status::Cancelled);
    assert!(w.services.voided.lock().unwrap().is_empty());
    assert_eq!(sweep(&w).await, 1);
    assert_eq!(w.services.voided.lock().unwrap().len(), 1);
    assert_eq!(w.services.released.lock().unwrap().len(), 1);
    assert_expired(&w, buyer, "k-1").await;
}
