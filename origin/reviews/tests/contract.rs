//! The `ReviewStore` contract, run against every impl.

use std::sync::Arc;

use chrono::Utc;
use meridian_common::events::MemoryOutbox;
use meridian_common::{ProductId, SellerId, UserId};
use meridian_reviews::domain::{Reply, Review};
use meridian_reviews::store::memory::MemoryReviewStore;
use meridian_reviews::store::{ReviewStore, Sort};
use uuid::Uuid;

fn review(product: ProductId, user: UserId, rating: u8) -> Review {
    let now = Utc::now();
    Review {
        id: Uuid::now_v7(),
        product_id: product,
        seller_id: SellerId::new(),
        user_id: user,
        rating,
        text: "ok".into(),
        reply: None,
        helpful: 0,
        reports: 0,
        created_at: now,
        updated_at: now,
    }
}

async fn review_store_contract(store: Arc<dyn ReviewStore>) {
    store.ping().await.unwrap();
    let product = ProductId::new();
    let (ann, bob) = (UserId::new(), UserId::new());
    let none = |_: Option<u8>| Vec::new();
    let (first, old) = store.upsert(&review(product, ann, 5), &none).await.unwrap();
    assert_eq!(old, None);
    // One review per user and product: a second submission edits it.
    let (edited, old) = store.upsert(&review(product, ann, 2), &none).await.unwrap();
    assert_eq!((edited.id, edited.rating, old), (first.id, 2, Some(5)));
    store.upsert(&review(product, bob, 4), &none).await.unwrap();
    let summary = store.summary(product).await.unwrap();
    assert_eq!(
        (summary.count, summary.histogram, summary.average_centi()),
        (2, [0, 1, 0, 1, 0], 300)
    );
    assert_eq!(store.summary(ProductId::new()).await.unwrap().count, 0);

    assert_eq!(store.vote(first.id, bob).await.unwrap(), Some(true));
    assert_eq!(
        store.vote(first.id, bob).await.unwrap(),
        Some(false),
        "one vote per user"
    );
    assert_eq!(store.vote(Uuid::now_v7(), bob).await.unwrap(), None);
    let helpful = store
        .by_product(product, Sort::Helpful, 0, 10)
        .await
        .unwrap();
    assert_eq!(
        (helpful.len(), helpful[0].id, helpful[0].helpful),
        (2, first.id, 1)
    );
    // Pages: an offset skips, a limit bounds, in the same order.
    let second = store
        .by_product(product, Sort::Helpful, 1, 10)
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|r| r.id).collect::<Vec<_>>(),
        [helpful[1].id]
    );
    let one = store
        .by_product(product, Sort::Helpful, 0, 1)
        .await
        .unwrap();
    assert_eq!(
        one.iter().map(|r| r.id).collect::<Vec<_>>(),
        [helpful[0].id]
    );
    assert!(store
        .by_product(product, Sort::Newest, 5, 10)
        .await
        .unwrap()
        .is_empty());
    // One review per author and product, found by both.
    let own = store.by_author(product, bob).await.unwrap().unwrap();
    assert_eq!((own.user_id, own.rating), (bob, 4));
    assert!(store
        .by_author(ProductId::new(), bob)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .report(first.id, bob, "spam", Vec::new())
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        store
            .report(first.id, bob, "spam", Vec::new())
            .await
            .unwrap(),
        Some(false)
    );
    let reply = Reply {
        text: "Thanks!".into(),
        at: Utc::now(),
    };
    let replied = store
        .reply(first.id, &reply, Vec::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replied.reply, Some(reply));
    assert_eq!(store.get(first.id).await.unwrap().unwrap().reports, 1);
}

#[tokio::test]
async fn memory_review_store() {
    review_store_contract(Arc::new(MemoryReviewStore::new(MemoryOutbox::new()))).await;
}

#[cfg(feature = "mongodb")]
#[tokio::test]
async fn mongodb_review_store() {
    use meridian_common::events::{EventEnvelope, OutboxReader};
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_reviews::store::mongo::MongoReviewStore;

    let Some(url) = backend_endpoint("MERIDIAN_TEST_MONGODB") else {
        return;
    };
    let database = unique_namespace("reviews");
    let store = Arc::new(MongoReviewStore::connect(&url, &database).await.unwrap());
    review_store_contract(store.clone()).await;

    // Events are embedded in the same single-document write and drain once.
    let outbox = store.outbox();
    let product = ProductId::new();
    let user = UserId::new();
    let emitted = |old: Option<u8>| {
        vec![EventEnvelope::new(
            "test",
            "reviews.review.submitted",
            1,
            "r",
            old,
        )]
    };
    store
        .upsert(&review(product, user, 3), &emitted)
        .await
        .unwrap();
    store
        .upsert(&review(product, user, 4), &emitted)
        .await
        .unwrap();
    let pending = outbox.pending(100).await.unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[1].payload, serde_json::json!(3), "old rating");
    assert_eq!(outbox.backlog().await.unwrap(), 2);
    let ids: Vec<_> = pending.iter().map(|e| e.id).collect();
    outbox.mark_published(&ids).await.unwrap();
    assert_eq!(outbox.backlog().await.unwrap(), 0);
    assert!(outbox.pending(100).await.unwrap().is_empty());
}
