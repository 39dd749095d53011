//! The sellers service's own router, through `oneshot`: a shop opened and
//! found by slug, and an API key shown once, known to the edge's
//! introspection, then revoked.

use std::sync::Arc;

use meridian_common::events::MemoryOutbox;
use meridian_common::testing::router::call;
use meridian_common::UserId;
use meridian_sellers::images::LocalDirImageStore;
use meridian_sellers::store::memory::MemorySellerStore;
use meridian_sellers::AppState;
use serde_json::json;

fn state() -> AppState {
    let dir = std::env::temp_dir().join(format!("meridian-router-{}", uuid::Uuid::now_v7()));
    AppState {
        store: Arc::new(MemorySellerStore::new(MemoryOutbox::new())),
        images: Arc::new(LocalDirImageStore::new(dir).unwrap()),
        region: "los-angeles".into(),
    }
}

#[tokio::test]
async fn a_shop_opens_and_its_key_works_until_revoked() {
    let state = state();
    let api = meridian_sellers::router(state.clone());
    let internal = meridian_sellers::internal_router(state);
    let owner = UserId::new().to_string();
    let me = [("x-user-id", owner.as_str())];
    let shop =
        json!({ "name": "Clay & Co", "slug": "clay-co", "contact_email": "hi@clay.example" });

    let opened = call(&api, "POST", "/shops", &me, Some(shop.clone())).await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let again = call(&api, "POST", "/shops", &me, Some(shop)).await;
    assert_eq!(again.status, 409, "{}", again.text);
    let public = call(&api, "GET", "/shops/clay-co", &[], None).await;
    assert_eq!(
        (public.status, public.json["name"].as_str()),
        (200, Some("Clay & Co"))
    );
    let owned = call(&internal, "GET", &format!("/by-owner/{owner}"), &[], None).await;
    assert_eq!(owned.json["slug"], "clay-co", "{}", owned.text);

    let key = json!({ "name": "sync", "scopes": ["catalog:write"] });
    let created = call(&api, "POST", "/me/keys", &me, Some(key)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("cache-control"), "no-store");
    let secret = created.json["key"].as_str().unwrap().to_owned();
    let key_id = created.json["id"].as_str().unwrap().to_owned();
    let listed = call(&api, "GET", "/me/keys", &me, None).await;
    assert!(
        !listed.text.contains(&secret),
        "the secret is shown once only"
    );

    let asked = call(
        &internal,
        "POST",
        "/keys/introspect",
        &[],
        Some(json!({ "key": secret })),
    )
    .await;
    assert_eq!(asked.json["active"], true, "{}", asked.text);
    assert_eq!(asked.json["key_id"], key_id.as_str());
    assert_eq!(asked.json["scopes"], json!(["catalog:write"]));

    let revoked = call(&api, "DELETE", &format!("/me/keys/{key_id}"), &me, None).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let asked = call(
        &internal,
        "POST",
        "/keys/introspect",
        &[],
        Some(json!({ "key": secret })),
    )
    .await;
    assert_eq!(asked.json, json!({ "active": false }));
    let bad = call(&api, "DELETE", "/me/keys/k1", &me, None).await;
    assert_eq!(
        (bad.status, bad.json["error"]["message"].as_str()),
        (400, Some("key id must be a UUID"))
    );
}
