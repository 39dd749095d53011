//! The two journeys end to end through the edge, each as one continuous
//! story: the seller's (shop → key → image → product → search → fulfil →
//! refund) interleaved with the shopper's (search with facets → guest cart →
//! login merges it → checkout → delivery → review → rating summaries).

use meridian_e2e::call::Send as _;
use meridian_e2e::{login, Cluster, Options, CARRIER_SECRET, PASSWORD};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_and_shopper_journeys() {
    let cluster = Cluster::start(Options::default()).await;
    let client = cluster.client();

    // Seller: shop, key, image, product.
    let owner = login(&cluster, &client, "maker@example.com").await;
    let shop = cluster.post("/api/sellers/shops")
            .bearer_auth(&owner)
            .json(&json!({ "name": "Quartz Ceramics", "slug": "quartz-ceramics", "contact_email": "q@example.com" }))
.reply()
.await.expect(201);
    let key = cluster.post("/api/sellers/me/keys")
            .bearer_auth(&owner)
            .json(&json!({ "name": "shop app", "scopes": ["catalog:write", "orders:read", "orders:write"] }))
.reply()
.await.expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend(std::iter::repeat_n(1u8, 4096));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(jpeg).file_name("vase.jpg"),
    );
    let image = cluster
        .post("/api/sellers/me/images")
        .bearer_auth(&key)
        .multipart(form)
        .reply()
        .await
        .expect(201);
    let product = cluster
        .post("/api/catalog/products")
        .bearer_auth(&key)
        .json(&json!({
            "title": "Speckled Quartzite Vase", "description": "Hand-thrown stoneware vase",
            "price": { "amount": 3000, "currency": "USD" }, "category": "art", "stock": 5,
            "attributes": { "glaze": "speckled" }, "image_urls": [image["url"]],
        }))
        .reply()
        .await
        .expect(201);
    let pid = product["id"].as_str().unwrap().to_owned();
    assert_eq!(product["seller_id"], shop["id"]);

    // Shopper: search with facets finds it (with a typo).
    let found = cluster
        .get("/api/search?q=quartzit%20vase")
        .reply()
        .await
        .expect(200);
    assert_eq!(found["items"][0]["product_id"], pid.as_str());
    assert_eq!(found["facets"]["category"]["art"], 1);
    let image_url = image["url"].as_str().unwrap();
    assert_eq!(cluster.get(image_url).reply().await.status(), 200);

    // Guest cart, then the login that carries its cookie merges it.
    let r = cluster
        .post("/api/cart/items")
        .json(&json!({ "product_id": pid, "quantity": 2 }))
        .reply()
        .await;
    let guest = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    r.expect(200);
    let r = cluster
        .post("/api/auth/register")
        .json(
            &json!({ "email": "shopper@example.com", "password": PASSWORD, "display_name": "Sam" }),
        )
        .reply()
        .await;
    r.expect(201);
    let r = cluster
        .post("/api/auth/login")
        .header("cookie", &guest)
        .json(&json!({ "email": "shopper@example.com", "password": PASSWORD }))
        .reply()
        .await;
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("meridian_cart=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let token = r.expect(200)["token"].as_str().unwrap().to_owned();
    let cart = cluster
        .get("/api/cart")
        .bearer_auth(&token)
        .reply()
        .await
        .expect(200);
    assert_eq!(cart["items"][0]["quantity"], 2, "merged at login");
    assert_eq!(cart["subtotal"]["amount"], 6000);

    // Checkout and pay.
    let order = cluster.post("/api/orders/checkout")
            .bearer_auth(&token)
            .header("idempotency-key", "journey-1")
            .json(&json!({
                "shipping_address": { "name": "Sam", "line1": "9 Elm St", "city": "Chicago", "state": "IL", "postal_code": "60601", "country": "US" },
                "payment_token": "tok_visa",
            }))
.reply()
.await.expect(201);
    assert_eq!(order["status"], "paid");
    assert_eq!(
        order["total"]["amount"],
        6000 + 495,
        "free shipping over $50, 8.25% tax"
    );
    let oid = order["id"].as_str().unwrap().to_owned();

    // Seller receives and fulfils the sub-order with the key.
    let inbox = cluster
        .get("/api/orders/seller")
        .bearer_auth(&key)
        .reply()
        .await
        .expect(200);
    let sub = inbox["items"][0]["sub_orders"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(inbox["items"][0]["order_id"], oid.as_str());
    cluster
        .post(&format!("/api/orders/{oid}/sub-orders/{sub}/ship"))
        .bearer_auth(&key)
        .json(&json!({ "carrier": "USPS", "tracking_number": "9400111899223" }))
        .reply()
        .await
        .expect(200);

    // The carrier delivers.
    for status in ["in_transit", "delivered"] {
        cluster
            .post("/api/logistics/carrier/updates")
            .header("x-carrier-secret", CARRIER_SECRET)
            .json(
                &json!({ "carrier": "USPS", "tracking_number": "9400111899223", "status": status }),
            )
            .reply()
            .await
            .expect(200);
    }
    let tracking = cluster
        .get(&format!("/api/logistics/orders/{oid}"))
        .bearer_auth(&token)
        .reply()
        .await
        .expect(200);
    assert_eq!(tracking["items"][0]["status"], "delivered");
    let delivered = cluster
        .get(&format!("/api/orders/{oid}"))
        .bearer_auth(&token)
        .reply()
        .await
        .expect(200);
    assert_eq!(delivered["status"], "delivered");

    // The shopper reviews; both summaries follow.
    cluster
        .post(&format!("/api/reviews/products/{pid}"))
        .bearer_auth(&token)
        .json(&json!({ "rating": 4, "text": "Lovely glaze." }))
        .reply()
        .await
        .expect(201);
    let summary = cluster
        .get(&format!("/api/reviews/products/{pid}/summary"))
        .reply()
        .await
        .expect(200);
    assert_eq!(
        (summary["count"].as_u64(), summary["average_centi"].as_u64()),
        (Some(1), Some(400))
    );
    let mut rated = false;
    for _ in 0..50 {
        let p = cluster
            .get(&format!("/api/catalog/products/{pid}"))
            .reply()
            .await
            .expect(200);
        if p["rating"]["count"] == 1 {
            rated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(rated, "catalog summary followed the review");

    // The seller refunds one of the two units.
    let refunded = cluster
        .post(&format!("/api/orders/{oid}/sub-orders/{sub}/refunds"))
        .bearer_auth(&key)
        .header("idempotency-key", "refund-one")
        .json(&json!({ "product_id": pid, "quantity": 1 }))
        .reply()
        .await
        .expect(200);
    assert_eq!(refunded["sub_orders"][0]["refunded"]["amount"], 3000 + 248);
    let after = cluster
        .get(&format!("/api/orders/{oid}"))
        .bearer_auth(&token)
        .reply()
        .await
        .expect(200);
    assert_eq!(after["refunded"]["amount"], 3248);
    cluster.shutdown().await;
}
