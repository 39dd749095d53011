//! End-to-end: shops, seller API keys checked at the edge, image uploads.

use meridian_e2e::call::Send as _;
use meridian_e2e::{login, open_shop, Cluster, Options};
use serde_json::{json, Value};

fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 2048));
    bytes
}

fn upload(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_keys_are_checked_at_the_edge_and_revoked_at_once() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let owner = login(&cluster, &client, "owner@example.com").await;
    let shop = open_shop(&cluster, &owner, "hudson").await;

    // Public shop page, by slug.
    let public = cluster.get("/api/sellers/shops/hudson").reply().await;
    assert_eq!(public.status(), 200);
    let public: Value = public.json.clone();
    assert_eq!(public["id"], shop["id"]);
    assert!(
        public.get("contact_email").is_none(),
        "contact stays private"
    );

    // A second shop for the same account, or a taken slug, is refused.
    let other = login(&cluster, &client, "other@example.com").await;
    let r = cluster
        .post("/api/sellers/shops")
        .bearer_auth(&other)
        .json(&json!({ "name": "Copy", "slug": "hudson", "contact_email": "x@example.com" }))
        .reply()
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.code(), "slug_taken");

    // Create a key: shown once, listed without the secret.
    let r = cluster
        .post("/api/sellers/me/keys")
        .bearer_auth(&owner)
        .json(&json!({ "name": "inventory sync", "scopes": ["catalog:write"] }))
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json.clone();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mk_") && key.len() == 46);
    let list: Value = cluster
        .get("/api/sellers/me/keys")
        .bearer_auth(&owner)
        .reply()
        .await
        .json;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key), "secret never listed");

    // The key authenticates as the shop (x-seller-id injected by the edge).
    let me = cluster
        .get("/api/sellers/me")
        .bearer_auth(&key)
        .reply()
        .await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json.clone();
    assert_eq!(me["id"], shop["id"]);

    // A spoofed x-seller-id without a key does not make anyone a seller.
    let spoof = cluster
        .get("/api/sellers/me")
        .bearer_auth(&other)
        .header("x-seller-id", shop["id"].as_str().unwrap())
        .header("x-seller-scopes", "catalog:write orders:write")
        .reply()
        .await;
    assert_eq!(
        spoof.status(),
        404,
        "other user has no shop; spoofed seller ignored"
    );

    // Keys cannot mint keys.
    let r = cluster
        .post("/api/sellers/me/keys")
        .bearer_auth(&key)
        .json(&json!({ "name": "escalate", "scopes": ["orders:write"] }))
        .reply()
        .await;
    assert_eq!(r.status(), 403);

    // Image upload with the key (catalog:write), sniffed and served back.
    let r = cluster
        .post("/api/sellers/me/images")
        .bearer_auth(&key)
        .multipart(upload(png(), "photo.jpg"))
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let image: Value = r.json.clone();
    assert_eq!(
        image["content_type"], "image/png",
        "type from bytes, not the name"
    );
    let fetched = cluster.get(image["url"].as_str().unwrap()).reply().await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.body.to_vec(), png());

    // Not an image, or too large.
    let r = cluster
        .post("/api/sellers/me/images")
        .bearer_auth(&key)
        .multipart(upload(b"GIF89a........".to_vec(), "x.gif"))
        .reply()
        .await;
    assert_eq!(r.status(), 415);
    let mut huge = png();
    huge.resize(5 * 1024 * 1024 + 1, 0);
    let r = cluster
        .post("/api/sellers/me/images")
        .bearer_auth(&key)
        .multipart(upload(huge, "big.png"))
        .reply()
        .await;
    assert_eq!(r.status(), 413);
    // Not multipart, or a broken multipart body: JSON errors like the rest.
    for (content_type, status, code) in [
        ("text/plain", 415, "unsupported_media_type"),
        ("multipart/form-data; boundary=zz", 400, "invalid_multipart"),
    ] {
        let r = cluster
            .post("/api/sellers/me/images")
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body("not a form")
            .reply()
            .await;
        assert_eq!(r.status(), status, "{content_type}");
        assert_eq!(r.code(), code, "{content_type}");
    }
    // One part named `file`, as the document says: no `file`, an extra
    // part or a second `file` is refused, not silently dropped.
    let part = || reqwest::multipart::Part::bytes(png()).file_name("p.png");
    for (what, form) in [
        (
            "no file",
            reqwest::multipart::Form::new().part("image", part()),
        ),
        ("extra part", upload(png(), "p.png").text("caption", "hi")),
        ("second file", upload(png(), "p.png").part("file", part())),
    ] {
        let r = cluster
            .post("/api/sellers/me/images")
            .bearer_auth(&key)
            .multipart(form)
            .reply()
            .await;
        assert_eq!(
            (r.status().as_u16(), r.code()),
            (422, "validation_failed"),
            "{what}"
        );
    }

    // Another seller cannot revoke this key.
    let key_id = created["id"].as_str().unwrap();
    open_shop(&cluster, &other, "other-shop").await;
    let r = cluster
        .delete(&format!("/api/sellers/me/keys/{key_id}"))
        .bearer_auth(&other)
        .reply()
        .await;
    assert_eq!(r.status(), 404);
    let still = cluster
        .get("/api/sellers/me")
        .bearer_auth(&key)
        .reply()
        .await;
    assert_eq!(still.status(), 200);

    // Revocation by the owner takes effect at once despite the edge cache.
    let r = cluster
        .delete(&format!("/api/sellers/me/keys/{key_id}"))
        .bearer_auth(&owner)
        .reply()
        .await;
    assert_eq!(r.status(), 204);
    let after = cluster
        .get("/api/sellers/me")
        .bearer_auth(&key)
        .reply()
        .await;
    assert_eq!(after.status(), 401);
    cluster.shutdown().await;
}

async fn create_key(cluster: &Cluster, owner: &str, scopes: &[&str]) -> String {
    let r = cluster
        .post("/api/sellers/me/keys")
        .bearer_auth(owner)
        .json(&json!({ "name": "k", "scopes": scopes }))
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json.clone();
    body["key"].as_str().unwrap().to_owned()
}

async fn count_in(cluster: &Cluster, client: &reqwest::Client, category: &str) -> usize {
    let url = cluster.url(&format!(
        "/api/catalog/products?category={category}&limit=100"
    ));
    let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    body["items"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sellers_manage_only_their_own_products() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();
    let owner = login(&cluster, &client, "maker@example.com").await;
    let shop = open_shop(&cluster, &owner, "maker-shop").await;
    let writer = create_key(&cluster, &owner, &["catalog:write"]).await;
    let reader = create_key(&cluster, &owner, &["orders:read"]).await;
    let rival = login(&cluster, &client, "rival@example.com").await;
    open_shop(&cluster, &rival, "rival-shop").await;
    let shopper = login(&cluster, &client, "shopper@example.com").await;

    let books_before = count_in(&cluster, &client, "books").await;
    let new_product = json!({
        "title": "Field Notes Vol. 1",
        "description": "Pocket notebook",
        "price": { "amount": 1299, "currency": "USD" },
        "category": "books",
        "attributes": { "Color": "kraft" },
        "stock": 5,
    });

    // Unauthenticated → 401 at the edge; a shopper → 403; a key without the
    // scope → 403; nothing stored by any of them.
    let r = cluster
        .post("/api/catalog/products")
        .json(&new_product)
        .reply()
        .await;
    assert_eq!(r.status(), 401);
    let r = cluster
        .post("/api/catalog/products")
        .bearer_auth(&shopper)
        .json(&new_product)
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    let r = cluster
        .post("/api/catalog/products")
        .bearer_auth(&reader)
        .json(&new_product)
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.code(), "insufficient_scope");

    // Bad input: every field reported, nothing stored.
    let bad = json!({
        "title": "",
        "price": { "amount": -5, "currency": "USD" },
        "category": "cars",
        "stock": 5,
        "image_urls": ["javascript:alert(1)"],
    });
    let r = cluster
        .post("/api/catalog/products")
        .bearer_auth(&writer)
        .json(&bad)
        .reply()
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json.clone();
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "price", "category", "image_urls"]);
    let r = cluster.post("/api/catalog/products")
        .bearer_auth(&writer)
        .json(&json!({ "title": "x", "price": { "amount": 1, "currency": "XYZ" }, "category": "books", "stock": -1 }))
.reply()
.await;
    assert_eq!(
        r.status(),
        422,
        "unknown currency / negative stock are type errors"
    );
    assert_eq!(count_in(&cluster, &client, "books").await, books_before);

    // Created with the key, by the owner's session too.
    let r = cluster
        .post("/api/catalog/products")
        .bearer_auth(&writer)
        .json(&new_product)
        .reply()
        .await;
    assert_eq!(r.status(), 201);
    let product: Value = r.json.clone();
    assert_eq!(product["seller_id"], shop["id"]);
    assert_eq!(product["seller_name"], "Hudson Workshop");
    assert_eq!(product["attributes"]["color"], "kraft");
    let id = product["id"].as_str().unwrap();
    assert_eq!(count_in(&cluster, &client, "books").await, books_before + 1);

    // Public detail.
    let detail: Value = cluster
        .get(&format!("/api/catalog/products/{id}"))
        .reply()
        .await
        .json;
    assert_eq!(detail["title"], "Field Notes Vol. 1");
    assert_eq!(detail["rating"]["count"], 0);

    // The rival cannot touch it.
    let path = format!("/api/catalog/products/{id}");
    let r = cluster
        .patch(&path)
        .bearer_auth(&rival)
        .json(&json!({ "price": { "amount": 1, "currency": "USD" } }))
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    let r = cluster
        .put(&format!("{path}/stock"))
        .bearer_auth(&rival)
        .json(&json!({ "stock": 0 }))
        .reply()
        .await;
    assert_eq!(r.status(), 403);
    let r = cluster
        .post(&format!("{path}/archive"))
        .bearer_auth(&rival)
        .reply()
        .await;
    assert_eq!(r.status(), 403);

    // The owner edits price and stock, then archives.
    let r = cluster
        .patch(&path)
        .bearer_auth(&owner)
        .json(&json!({ "price": { "amount": 999, "currency": "USD" } }))
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    let edited: Value = r.json.clone();
    assert_eq!(edited["price"]["amount"], 999);
    assert_eq!(edited["stock"], 5);
    let r = cluster
        .put(&format!("{path}/stock"))
        .bearer_auth(&writer)
        .json(&json!({ "stock": 42 }))
        .reply()
        .await;
    let restocked: Value = r.json.clone();
    assert_eq!(restocked["stock"], 42);
    let r = cluster
        .post(&format!("{path}/archive"))
        .bearer_auth(&writer)
        .reply()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(count_in(&cluster, &client, "books").await, books_before);
    let r = cluster.get(&path).reply().await;
    let archived: Value = r.json.clone();
    assert_eq!(archived["status"], "archived");
    cluster.shutdown().await;
}
