//! The `SellerStore` and `ImageStore` contracts, run against every impl.

use std::sync::Arc;

use meridian_common::email::Email;
use meridian_common::events::{EventEnvelope, MemoryOutbox, OutboxReader};
use meridian_common::internal::Scope;
use meridian_common::{SellerId, UserId};
use meridian_sellers::domain::{ApiKey, ApiKeyId, Shop, ShopUpdate, Slug};
use meridian_sellers::images::{ImageStore, ImageType, LocalDirImageStore};
use meridian_sellers::keys;
use meridian_sellers::store::memory::MemorySellerStore;
use meridian_sellers::store::{SellerStore, StoreError};
use uuid::Uuid;

fn shop(owner: UserId, slug: &str) -> Shop {
    let now = meridian_common::now();
    Shop {
        id: SellerId::new(),
        owner_id: owner,
        name: "Hudson Workshop".into(),
        slug: Slug::parse(slug).unwrap(),
        description: String::new(),
        contact_email: Email::parse("shop@example.com").unwrap(),
        created_at: now,
        updated_at: now,
    }
}

fn ev(kind: &str) -> Vec<EventEnvelope> {
    vec![EventEnvelope::new(
        "test",
        kind,
        1,
        "x",
        serde_json::json!({}),
    )]
}

async fn seller_store_contract(store: Arc<dyn SellerStore>, outbox: Arc<dyn OutboxReader>) {
    store.ping().await.unwrap();
    let owner = UserId::new();
    let a = shop(owner, "hudson");
    store
        .create_shop(&a, ev("sellers.shop.opened"))
        .await
        .unwrap();
    assert_eq!(store.shop(a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(
        store.shop_by_slug(&a.slug).await.unwrap().as_ref(),
        Some(&a)
    );
    assert_eq!(store.shop_by_owner(owner).await.unwrap().as_ref(), Some(&a));
    assert_eq!(
        outbox.backlog().await.unwrap(),
        1,
        "event committed with the shop"
    );

    // One shop per owner, unique slugs; nothing written on conflict.
    let again = shop(owner, "other-slug");
    assert!(matches!(
        store.create_shop(&again, ev("x")).await,
        Err(StoreError::Conflict("owner"))
    ));
    let taken = shop(UserId::new(), "hudson");
    assert!(matches!(
        store.create_shop(&taken, ev("x")).await,
        Err(StoreError::Conflict("slug"))
    ));
    assert_eq!(store.shop(again.id).await.unwrap(), None);
    assert_eq!(
        outbox.backlog().await.unwrap(),
        1,
        "no event for a failed write"
    );

    let update = ShopUpdate {
        name: Some("Hudson & Co".into()),
        ..ShopUpdate::default()
    };
    let updated = store
        .update_shop(a.id, &update, meridian_common::now(), ev("u"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.name, "Hudson & Co");
    assert_eq!(updated.slug, a.slug);
    assert_eq!(
        store
            .update_shop(SellerId::new(), &update, meridian_common::now(), ev("u"))
            .await
            .unwrap(),
        None
    );

    // Keys: stored hashed, listed, revoked only by their seller.
    let secret = keys::generate();
    let key = ApiKey {
        id: ApiKeyId(Uuid::now_v7()),
        seller_id: a.id,
        name: "ci".into(),
        prefix: keys::display_prefix(&secret),
        hash: keys::hash(&secret),
        scopes: vec![Scope::CatalogWrite],
        created_at: meridian_common::now(),
        revoked_at: None,
    };
    store.create_key(&key, ev("k")).await.unwrap();
    assert_eq!(
        store
            .key_by_hash(&keys::hash(&secret))
            .await
            .unwrap()
            .as_ref(),
        Some(&key)
    );
    assert_eq!(
        store.key_by_hash(&keys::hash("mk_other")).await.unwrap(),
        None
    );
    assert_eq!(store.keys(a.id).await.unwrap(), vec![key.clone()]);
    assert!(store.keys(SellerId::new()).await.unwrap().is_empty());
    assert!(!store
        .revoke_key(SellerId::new(), key.id, meridian_common::now(), ev("r"))
        .await
        .unwrap());
    assert!(store
        .revoke_key(a.id, key.id, meridian_common::now(), ev("r"))
        .await
        .unwrap());
    assert!(
        !store
            .revoke_key(a.id, key.id, meridian_common::now(), ev("r"))
            .await
            .unwrap(),
        "already revoked"
    );
    let stored = store.key_by_hash(&key.hash).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some());
}

async fn image_store_contract(store: Arc<dyn ImageStore>) {
    store.ping().await.unwrap();
    let id = Uuid::now_v7();
    let png = b"\x89PNG\r\n\x1a\nrest-of-image".to_vec();
    store.put(id, ImageType::Png, &png).await.unwrap();
    assert_eq!(store.get(id).await.unwrap(), Some((ImageType::Png, png)));
    assert_eq!(store.get(Uuid::now_v7()).await.unwrap(), None);
}

#[tokio::test]
async fn memory_seller_store() {
    let outbox = MemoryOutbox::new();
    seller_store_contract(Arc::new(MemorySellerStore::new(outbox.clone())), outbox).await;
}

#[tokio::test]
async fn local_dir_image_store() {
    let dir = std::env::temp_dir().join(format!("meridian-images-{}", Uuid::new_v4().simple()));
    image_store_contract(Arc::new(LocalDirImageStore::new(&dir).unwrap())).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_seller_store() {
    use meridian_common::pg::PgSettings;
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_sellers::store::postgres::PostgresSellerStore;

    let Some(url) = backend_endpoint("MERIDIAN_TEST_POSTGRES") else {
        return;
    };
    let schema = unique_namespace("sellers_test");
    let settings = PgSettings {
        schema: Some(schema.clone()),
        ..PgSettings::new("sellers", &url)
    };
    let store = PostgresSellerStore::connect(&settings).await.unwrap();
    let outbox = Arc::new(store.outbox());
    seller_store_contract(Arc::new(store), outbox.clone()).await;
    // The outbox rows committed with the changes read back in order.
    let pending = outbox.pending(100).await.unwrap();
    assert_eq!(pending.len() as u64, outbox.backlog().await.unwrap());
    let ids: Vec<_> = pending.iter().map(|e| e.id).collect();
    outbox.mark_published(&ids).await.unwrap();
    assert_eq!(outbox.backlog().await.unwrap(), 0);
    meridian_common::testing::drop_pg_schema(&url, &schema).await;
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn s3_image_store() {
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_sellers::images_s3::S3ImageStore;

    let Some(endpoint) = backend_endpoint("MERIDIAN_TEST_S3") else {
        return;
    };
    let bucket = unique_namespace("images").replace('_', "-");
    let store = S3ImageStore::connect(Some(&endpoint), "us-east-1", &bucket)
        .await
        .unwrap();
    image_store_contract(Arc::new(store)).await;
}
