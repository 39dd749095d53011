//! What storefront tests set up through the API: a seller with a product,
//! a buyer's checkout, a carrier's delivery scan, and page-level requests
//! made as a browser makes them (form posts with an `Origin`, cookies).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::{login, Cluster, CARRIER_SECRET};

/// A seller account (`<slug>@example.com`) with a shop (`<slug>`, named
/// `<slug> shop`) and one product.
pub struct SellerFixture {
    pub email: String,
    pub token: String,
    pub slug: String,
    pub product: String,
}

async fn ok(r: reqwest::Response, expected: u16) -> Value {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{body}");
    body
}

pub async fn seller_with_product(
    cluster: &Cluster,
    client: &reqwest::Client,
    slug: &str,
    title: &str,
    cents: i64,
    stock: u32,
) -> SellerFixture {
    let email = format!("{slug}@example.com");
    let token = login(cluster, client, &email).await;
    ok(
        client
            .post(cluster.url("/api/sellers/shops"))
            .bearer_auth(&token)
            .json(&json!({ "name": format!("{slug} shop"), "slug": slug, "contact_email": email }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let product = ok(
        client
            .post(cluster.url("/api/catalog/products"))
            .bearer_auth(&token)
            .json(&json!({
                "title": title, "description": format!("{title}, made by hand."),
                "price": { "amount": cents, "currency": "USD" }, "category": "home-kitchen",
                "stock": stock, "attributes": { "finish": "glazed" }, "image_urls": [],
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    SellerFixture {
        email,
        token,
        slug: slug.to_owned(),
        product: product["id"].as_str().unwrap().to_owned(),
    }
}

/// A new buyer (`email`) puts `quantity` of `product` in the cart and
/// checks out with the test card; returns the order id.
pub async fn buyer_checks_out(
    cluster: &Cluster,
    client: &reqwest::Client,
    email: &str,
    product: &str,
    quantity: u32,
) -> String {
    let token = login(cluster, client, email).await;
    ok(
        client
            .post(cluster.url("/api/cart/items"))
            .bearer_auth(&token)
            .json(&json!({ "product_id": product, "quantity": quantity }))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let order = ok(
        client
            .post(cluster.url("/api/orders/checkout"))
            .bearer_auth(&token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({
                "shipping_address": { "name": "Pat Buyer", "line1": "1 Main St", "city": "Portland",
                    "state": "OR", "postal_code": "97201", "country": "US" },
                "payment_token": "tok_visa",
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    order["id"].as_str().unwrap().to_owned()
}

/// The carrier scans the parcel as delivered.
pub async fn carrier_delivers(
    cluster: &Cluster,
    client: &reqwest::Client,
    carrier: &str,
    tracking: &str,
) {
    ok(
        client
            .post(cluster.url("/api/logistics/carrier/updates"))
            .header("x-carrier-secret", CARRIER_SECRET)
            .json(
                &json!({ "carrier": carrier, "tracking_number": tracking, "status": "delivered",
                "location": "Portland, OR", "note": "Left at the front door" }),
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
}

/// A real photo-like PNG: the browser paints a gradient and screenshots it.
pub async fn sample_image(b: &Browser) -> PathBuf {
    b.client
        .goto("data:text/html,<body style='margin:0;height:100vh;background:linear-gradient(135deg,%23b45309,%230f766e)'><h1 style='font:bold 80px serif;color:white;padding:2em'>Ash glaze</h1></body>")
        .await
        .unwrap();
    let png = b.client.screenshot().await.unwrap();
    let path = std::env::temp_dir().join(format!(
        "meridian-photo-{}.png",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, png).unwrap();
    path
}

/// Form posts and page loads as a browser sends them: cookies kept, an
/// `Origin` and `Sec-Fetch-Site` on posts, redirects not followed.
#[derive(Clone)]
pub struct PageClient {
    /// `https://localhost:<port>` of the edge.
    pub base: String,
    pub client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

impl PageClient {
    pub fn new(cluster: &Cluster) -> Self {
        Self {
            base: cluster.url(""),
            client: cluster.client(),
            cookies: Vec::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The session cookie's value (a bearer token for API calls).
    pub fn session(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "meridian_session")
            .map(|(_, v)| v.clone())
            .expect("signed in")
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !text.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let r = self
            .client
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    /// A form post from `origin` (this site's own unless given otherwise).
    pub async fn post_from(
        &mut self,
        origin: &str,
        site: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let r = self
            .client
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .header("origin", origin)
            .header("sec-fetch-site", site)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let origin = self.base.clone();
        self.post_from(&origin, "same-origin", path, form).await
    }
}
