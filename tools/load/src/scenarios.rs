//! The sessions: what a shopper, the seller or the carrier does in one
//! visit, as requests through the edge.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::Rng;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::api::Api;
use crate::plan::Scenario;
use crate::record::CheckoutEnd;
use crate::world::{self, lock, Shopper, World};

const HTML: [u16; 1] = [200];
const CART_WRITE: [u16; 3] = [200, 201, 204];
/// Attempts of one checkout with one Idempotency-Key before it is left
/// unresolved.
const CHECKOUT_ATTEMPTS: u32 = 5;
const SCANS: [&str; 3] = ["in_transit", "out_for_delivery", "delivered"];

pub async fn run(scenario: Scenario, api: &Api, world: &World, rng: &mut SmallRng) {
    match scenario {
        Scenario::Browse => browse(api, world, rng).await,
        Scenario::Search => search(api, world, rng).await,
        Scenario::Checkout => checkout(api, world, rng).await,
        Scenario::NewShopper => new_shopper(api, world, rng).await,
        Scenario::Returning => returning(api, world).await,
        Scenario::Seller => seller(api, world, rng).await,
        Scenario::Carrier => carrier(api, world).await,
    }
}

fn one<'a, T>(items: &'a [T], rng: &mut SmallRng) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// A shopper who is turned away (a busy page, an error) leaves rather than
/// clicking on: the rest of the visit is not sent, as a real one would not
/// be, so a shed first page saves the system the whole visit.
async fn visit(api: &Api, pages: &[(String, &[u16])]) {
    for (path, want) in pages {
        let answer = api.get(path).expect(want).await;
        if !answer.is_some_and(|a| want.contains(&a.status)) {
            return;
        }
    }
}

async fn browse(api: &Api, world: &World, rng: &mut SmallRng) {
    let category = one(&world.categories, rng);
    let product = one(&world.demo_products, rng);
    visit(
        api,
        &[
            ("/".into(), &HTML),
            (format!("/c/{category}"), &HTML),
            (
                format!("/api/catalog/products?category={category}&limit=24"),
                &[200],
            ),
            (format!("/p/{product}"), &HTML),
            (format!("/api/catalog/products/{product}"), &[200]),
            (format!("/api/reviews/products/{product}/summary"), &[200]),
        ],
    )
    .await;
}

async fn search(api: &Api, world: &World, rng: &mut SmallRng) {
    let word = one(&world.words, rng);
    visit(
        api,
        &[
            (format!("/search?q={word}"), &HTML),
            (format!("/api/search?q={word}&limit=20"), &[200]),
        ],
    )
    .await;
}

/// A signed-in shopper buys one or two of the shop's products; one time in
/// four also a scarce one.
async fn checkout(api: &Api, world: &World, rng: &mut SmallRng) {
    let mut shopper = world.shoppers.take().await;
    let product = one(&world.plenty, rng).id;
    let mut added = add_to_cart(api, &shopper.token, product, rng.gen_range(1..=2)).await;
    if !world.scarce.is_empty() && rng.gen_ratio(1, 4) {
        let scarce = one(&world.scarce, rng).id;
        added &= add_to_cart(api, &shopper.token, scarce, 1).await;
    }
    if added {
        place(api, world, &mut shopper).await;
    } else {
        clear_cart(api, &shopper.token).await;
    }
    world.shoppers.give(shopper);
}

/// A guest fills a cart, registers, signs in (the cart follows) and buys.
async fn new_shopper(api: &Api, world: &World, rng: &mut SmallRng) {
    let product = one(&world.plenty, rng).id;
    let Some(added) = api
        .post("/api/cart/items")
        .json(&json!({ "product_id": product, "quantity": 1 }))
        .expect(&CART_WRITE)
        .await
    else {
        return;
    };
    let guest = added
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|kv| kv.starts_with("meridian_cart="))
        })
        .map(str::to_owned);
    let email = format!(
        "new-{}-{}@load.example.com",
        world.run,
        Uuid::new_v4().simple()
    );
    let Ok(token) = world::register(api, &email).await else {
        return;
    };
    if let Some(guest) = guest {
        let merged = api
            .post("/api/cart/merge")
            .bearer(&token)
            .header("cookie", &guest)
            .expect(&[200])
            .await
            .is_some_and(|a| a.status == 200);
        // Turned away with the cart still the guest's: nothing to buy.
        if !merged {
            return;
        }
    }
    let mut shopper = Shopper {
        token,
        placed: Vec::new(),
        unresolved: 0,
    };
    place(api, world, &mut shopper).await;
    world.shoppers.give(shopper);
}

async fn add_to_cart(api: &Api, token: &str, product: Uuid, quantity: u32) -> bool {
    api.post("/api/cart/items")
        .bearer(token)
        .json(&json!({ "product_id": product, "quantity": quantity }))
        .expect(&CART_WRITE)
        .await
        .is_some_and(|a| CART_WRITE.contains(&a.status))
}

async fn clear_cart(api: &Api, token: &str) {
    api.call(Method::DELETE, "/api/cart")
        .bearer(token)
        .expect(&[200, 204])
        .await;
}

/// Checks out the shopper's cart with one Idempotency-Key, retrying with
/// that key until the answer is definite; records the outcome.
async fn place(api: &Api, world: &World, shopper: &mut Shopper) {
    let key = Uuid::new_v4().to_string();
    let body = json!({
        "shipping_address": {
            "name": "Load Shopper", "line1": "1 Main St", "city": "Portland",
            "state": "OR", "postal_code": "97201", "country": "US"
        },
        "payment_token": "tok_visa",
    });
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    // Whether an earlier attempt with this key may have run: then a refusal
    // of this one says nothing about that attempt, and only the key's own
    // answer (asked again) ends the checkout.
    let mut may_have_run = false;
    for _ in 0..CHECKOUT_ATTEMPTS {
        let answer = api
            .post("/api/orders/checkout")
            .bearer(&shopper.token)
            .header("idempotency-key", &key)
            .json(&body)
            .expect(&[200, 201])
            .await;
        let end = match &answer {
            Some(a) if a.status == 200 || a.status == 201 => {
                let Some(order) = world::id_of(a.json()) else {
                    record(api, CheckoutEnd::Failed);
                    return;
                };
                shopper.placed.push(order);
                let mut to_ship = lock(&world.to_ship);
                for sub in a.json()["sub_orders"].as_array().into_iter().flatten() {
                    if let Some(sub) = world::id_of(sub) {
                        to_ship.push_back((order, sub));
                    }
                }
                CheckoutEnd::Placed(started.elapsed())
            }
            Some(a) if a.status == 503 && a.code() == "overloaded" && may_have_run => {
                tokio::time::sleep(a.retry_after().max(pause)).await;
                continue;
            }
            Some(a) if a.status == 503 && a.code() == "overloaded" => CheckoutEnd::Overloaded,
            Some(a) if a.status == 409 && a.code() == "out_of_stock" => CheckoutEnd::OutOfStock,
            Some(a) if a.status == 402 => CheckoutEnd::Declined,
            // Told to slow down: as a client should, after Retry-After.
            Some(a) if a.status == 429 => {
                tokio::time::sleep(a.retry_after().max(pause)).await;
                continue;
            }
            // Still running, or nothing definite: the same key again.
            Some(a) if a.status == 409 || a.status >= 500 => {
                may_have_run = true;
                tokio::time::sleep(pause).await;
                pause *= 2;
                continue;
            }
            Some(_) => CheckoutEnd::Failed,
            None => {
                may_have_run = true;
                tokio::time::sleep(pause).await;
                pause *= 2;
                continue;
            }
        };
        if !matches!(end, CheckoutEnd::Placed(_)) {
            // A shopper who is refused leaves; the next visit starts afresh.
            clear_cart(api, &shopper.token).await;
        }
        record(api, end);
        return;
    }
    shopper.unresolved += 1;
    record(api, CheckoutEnd::Unresolved);
}

fn record(api: &Api, end: CheckoutEnd) {
    api.recorder.checkout(api.step, end);
}

async fn returning(api: &Api, world: &World) {
    let shopper = world.shoppers.take().await;
    let listed = api
        .get("/api/orders?limit=10")
        .bearer(&shopper.token)
        .expect(&[200])
        .await
        .is_some_and(|a| a.status == 200);
    // Turned away at the first page: the shopper leaves (see `visit`).
    if let Some(order) = shopper.placed.last().filter(|_| listed) {
        api.get(&format!("/api/orders/{order}"))
            .bearer(&shopper.token)
            .expect(&[200])
            .await;
        // No shipment yet is a 404.
        api.get(&format!("/api/logistics/orders/{order}"))
            .bearer(&shopper.token)
            .expect(&[200, 404])
            .await;
    }
    world.shoppers.give(shopper);
}

/// The run's seller adds a product, restocks one, and ships a paid order.
async fn seller(api: &Api, world: &World, rng: &mut SmallRng) {
    let token = &world.seller_token;
    let category = one(&world.categories, rng);
    let title = format!("Load new {} {}", world.run, Uuid::new_v4().simple());
    if let Ok(id) = world::create_product(api, token, &title, category, 100).await {
        lock(&world.created).push(id);
    }
    let restock = {
        let created = lock(&world.created);
        (!created.is_empty()).then(|| created[rng.gen_range(0..created.len())])
    };
    if let Some(id) = restock {
        api.call(Method::PUT, &format!("/api/catalog/products/{id}/stock"))
            .bearer(token)
            .json(&json!({ "stock": rng.gen_range(100..1000) }))
            .expect(&[200])
            .await;
    }
    let next = lock(&world.to_ship).pop_front();
    if let Some((order, sub)) = next {
        let tracking = format!("1Z{}{}", world.run, Uuid::new_v4().simple()).to_uppercase();
        let shipped = api
            .post(&format!("/api/orders/{order}/sub-orders/{sub}/ship"))
            .bearer(token)
            .json(&json!({ "carrier": "UPS", "tracking_number": tracking }))
            .expect(&[200])
            .await;
        if shipped.is_some_and(|a| a.status == 200) {
            lock(&world.in_transit).push_back((tracking, 0));
        }
    }
}

/// The carrier scans one parcel forward: in transit, out for delivery,
/// delivered.
async fn carrier(api: &Api, world: &World) {
    let next = lock(&world.in_transit).pop_front();
    let Some((tracking, scan)) = next else {
        return;
    };
    let sent = api
        .post("/api/logistics/carrier/updates")
        .header("x-carrier-secret", &world.carrier_secret)
        .json(&json!({ "carrier": "UPS", "tracking_number": tracking, "status": SCANS[scan], "location": "Portland, OR" }))
        .expect(&[200, 201, 204])
        .await;
    if sent.is_some() && scan + 1 < SCANS.len() {
        lock(&world.in_transit).push_back((tracking, scan + 1));
    }
}
