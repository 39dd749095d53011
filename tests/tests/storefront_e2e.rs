//! The storefront and seller console in a real headless Chromium, through
//! the real edge in front of six origins: the shopper's journey from the
//! home page to a review, the seller's from opening a shop to the sales
//! page, pages without JavaScript and on a phone, a declined card. Each key
//! page is saved as a screenshot (the folder is printed) and scanned by
//! axe-core: no serious or critical violations.

use meridian_e2e::browser::{Browser, Setup};
use meridian_e2e::storefront::{
    buyer_checks_out, carrier_delivers, sample_image, seller_with_product,
};
use meridian_e2e::{Cluster, Options, PASSWORD};

fn options() -> Options {
    Options {
        page_cache: true,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_finds_buys_tracks_and_reviews_in_a_browser() {
    shopper_journey(options(), "shopper").await;
}

/// The same journey with every store on its real backend (CI's real-stores
/// step): listings with filters on DynamoDB, reviews pages on MongoDB,
/// carts on Redis Cluster, tracking on Cassandra, search on Elasticsearch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_journey_on_real_stores() {
    let Some(stores) = Options::real_stores_run() else {
        return;
    };
    shopper_journey(
        Options {
            page_cache: true,
            ..stores
        },
        "real-stores-shopper",
    )
    .await;
}

async fn shopper_journey(options: Options, shots: &str) {
    let cluster = Cluster::start(options).await;
    let Some(shopper) = Browser::start(&cluster.url(""), Setup::default()).await else {
        return;
    };
    let api = cluster.client();
    let seller =
        seller_with_product(&cluster, &api, "kiln", "Speckled Stoneware Teapot", 4800, 6).await;

    // Home → a category → search with a typo → the product.
    shopper.goto("/").await;
    assert!(shopper.text("h1").await.contains("made with care"));
    shopper.look(&format!("{shots}-01-home")).await;
    shopper.click("nav.cats a[href='/c/home-kitchen']").await;
    assert_eq!(shopper.text("h1").await, "Home & Kitchen");
    shopper.look(&format!("{shots}-02-category")).await;
    shopper.fill("#q", "speckld teapto").await;
    shopper.click("form.search button").await;
    shopper.wait_for_text("Results for").await;
    assert!(shopper.body().await.contains("Speckled Stoneware Teapot"));
    shopper.look(&format!("{shots}-03-search-typo")).await;
    shopper
        .click(&format!("a.title[href='/p/{}']", seller.product))
        .await;
    assert_eq!(shopper.text("h1").await, "Speckled Stoneware Teapot");
    assert!(shopper.body().await.contains("$48.00"));
    shopper.look(&format!("{shots}-04-product")).await;

    // Add two to the cart as a guest; the script keeps us on the page.
    shopper.select("#quantity", "2").await;
    shopper
        .click("form[data-enhance] button[type=submit]")
        .await;
    shopper.wait_for_text("Your cart has 2 items").await;
    assert_eq!(shopper.path().await, format!("/p/{}", seller.product));
    shopper.wait_for_text("Cart 2").await;
    shopper.goto("/cart").await;
    assert!(shopper.body().await.contains("Speckled Stoneware Teapot"));
    assert!(shopper.body().await.contains("Sign in to check out"));
    shopper.look(&format!("{shots}-05-guest-cart")).await;

    // Register from the cart: the guest cart merges into the account's
    // and checkout opens.
    shopper.click("a[href='/register?next=%2Fcheckout']").await;
    shopper.look(&format!("{shots}-06-register")).await;
    shopper.register("Robin Shopper", "robin@example.com").await;
    shopper.wait_for_text("Order summary").await;
    assert!(shopper.path().await.starts_with("/checkout"));
    let summary = shopper.text("aside").await;
    assert!(summary.contains("kiln shop"), "{summary}");
    // 2 × $48.00 = $96.00, free shipping under the threshold? Tax added.
    assert!(summary.contains("$96.00"), "{summary}");
    shopper
        .fill_address("Robin Shopper", "12 Alder St", "Portland", "OR", "97201")
        .await;
    shopper.look(&format!("{shots}-07-checkout")).await;
    shopper
        .click("form[action='/checkout'] button[type=submit]")
        .await;
    shopper
        .wait_for_text("Thank you! Your order is placed.")
        .await;
    let placed = shopper.path().await;
    assert!(placed.starts_with("/account/orders/"), "{placed}");
    let order_path = placed.split('?').next().unwrap().to_owned();
    assert!(shopper.body().await.contains("Not shipped yet"));
    shopper.look(&format!("{shots}-08-order-placed")).await;

    // The seller ships it in the console; the carrier delivers (its API).
    let Some(seller_browser) = Browser::start(&cluster.url(""), Setup::default()).await else {
        return;
    };
    seller_browser.goto("/signin?next=%2Fsell%2Forders").await;
    seller_browser.fill("#email", &seller.email).await;
    seller_browser.fill("#password", PASSWORD).await;
    seller_browser.click("form[action='/signin'] button").await;
    seller_browser.wait_for_text("To ship").await;
    seller_browser
        .fill("input[name=tracking_number]", "1Z999AA10123456784")
        .await;
    seller_browser.click("form[action$='/ship'] button").await;
    seller_browser.wait_for_text("Marked as shipped").await;
    seller_browser.close().await;
    carrier_delivers(&cluster, &api, "UPS", "1Z999AA10123456784").await;

    shopper.goto(&order_path).await;
    shopper.wait_for_text("Delivered").await;
    assert!(shopper
        .body()
        .await
        .contains("UPS · tracking number 1Z999AA10123456784"));
    shopper
        .look(&format!("{shots}-09-delivered-tracking"))
        .await;

    // A review; the product page shows the new rating.
    shopper.click("a[href^='/account/reviews/']").await;
    shopper.click("input[name=rating][value='5']").await;
    shopper
        .fill("#text", "Pours beautifully, keeps tea hot.")
        .await;
    shopper.look(&format!("{shots}-10-review-form")).await;
    shopper
        .click("form[action^='/account/reviews/'] button")
        .await;
    shopper.wait_for_text("Your review is published").await;
    // The plain (cached) product page is purged by the review's event.
    for _ in 0..50 {
        shopper.goto(&format!("/p/{}", seller.product)).await;
        if shopper.body().await.contains("Pours beautifully") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let page = shopper.body().await;
    assert!(page.contains("Pours beautifully, keeps tea hot."), "{page}");
    assert!(page.contains("5.0 out of 5"), "{page}");
    shopper.look(&format!("{shots}-11-product-reviewed")).await;
    shopper.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_runs_a_shop_in_the_console() {
    let cluster = Cluster::start(options()).await;
    let Some(b) = Browser::start(&cluster.url(""), Setup::default()).await else {
        return;
    };
    let api = cluster.client();

    // Open a shop (registering on the way).
    b.goto("/register?next=%2Fsell").await;
    b.register("Sam Seller", "sam@example.com").await;
    b.wait_for_text("Open your shop").await;
    b.fill("#name", "Sam's Pottery").await;
    b.fill("#slug", "sams-pottery").await;
    b.fill("#contact_email", "sam@example.com").await;
    b.fill("#description", "Mugs and bowls, thrown in Chicago.")
        .await;
    b.look("seller-01-open-shop").await;
    b.click("form[action='/sell/open'] button").await;
    b.wait_for_text("Your shop is open").await;
    b.look("seller-02-overview").await;

    // A product with a photo.
    let photo = sample_image(&b).await;
    b.goto("/sell/products/new").await;
    b.fill("#title", "Ash Glaze Mug").await;
    b.fill("#description", "A 12 oz mug with an ash glaze.")
        .await;
    b.select("#category", "home-kitchen").await;
    b.fill("#price", "24.50").await;
    b.fill("#stock", "9").await;
    b.fill("#attributes", "glaze: ash\ncapacity: 12 oz").await;
    b.find("#image")
        .await
        .send_keys(&photo.display().to_string())
        .await
        .unwrap();
    b.look("seller-03-new-product").await;
    b.click("form[enctype] button[type=submit]").await;
    b.wait_for_text("The product is listed").await;
    let href = b
        .find("table a[href^='/p/']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    b.look("seller-04-products").await;

    // It is on its page, with the photo, and in search.
    b.goto(&href).await;
    assert_eq!(b.text("h1").await, "Ash Glaze Mug");
    let src = b
        .find(".gallery img")
        .await
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert!(src.starts_with("/api/sellers/images/"), "{src}");
    let image = api.get(cluster.url(&src)).send().await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    b.screenshot("seller-05-product-page").await;
    b.goto("/search?q=ash+glaze+mug").await;
    assert!(b.body().await.contains("Ash Glaze Mug"));

    // A shopper buys two; the seller ships, then refunds one.
    let product = href.trim_start_matches("/p/").to_owned();
    let order = buyer_checks_out(&cluster, &api, "buyer@example.com", &product, 2).await;
    b.goto("/sell/orders").await;
    b.wait_for_text("Ash Glaze Mug").await;
    assert!(b.body().await.contains("Portland, OR 97201"));
    b.look("seller-06-orders-to-ship").await;
    b.select("select[name=carrier]", "USPS").await;
    b.fill("input[name=tracking_number]", "9400111899223344556677")
        .await;
    b.click("form[action$='/ship'] button").await;
    b.wait_for_text("Marked as shipped").await;
    b.goto("/sell/orders?show=all").await;
    b.fill("input[name=quantity]", "1").await;
    b.click("form[action$='/refund'] button").await;
    b.wait_for_text("The refund is issued").await;
    let buyer = cluster_buyer_token(&cluster, &api).await;
    let refunded = cluster
        .get_json(&format!("/api/orders/{order}"), Some(&buyer))
        .await;
    assert_eq!(
        refunded["sub_orders"][0]["lines"][0]["refunded_quantity"], 1,
        "{refunded}"
    );
    b.look("seller-07-orders-refunded").await;

    // The sale on the sales page: figures, charts.
    b.goto("/sell/sales").await;
    let body = b.body().await;
    assert!(
        body.contains("1\npaid orders") || body.contains("1 paid orders"),
        "{body}"
    );
    let bars = b
        .client
        .find_all(fantoccini::Locator::Css("svg.chart rect.bar"))
        .await
        .unwrap();
    assert!(
        bars.len() >= 3,
        "a bar per day, a best seller, three funnel stages"
    );
    assert!(
        body.contains("Ash Glaze Mug"),
        "best sellers name the product: {body}"
    );
    assert!(
        b.client
            .source()
            .await
            .unwrap()
            .contains("<title>Paid orders: 1"),
        "the funnel's paid stage"
    );
    b.look("seller-08-sales").await;

    // An API key, shown once, then revoked.
    b.goto("/sell/keys").await;
    b.fill("#name", "Inventory sync").await;
    b.click("input[name=scope][value='catalog:write']").await;
    b.click("form[action='/sell/keys'] button").await;
    b.wait_for_text("only time it is shown").await;
    let secret = b.text(".secret").await;
    assert!(secret.starts_with("mk_"), "{secret}");
    b.look("seller-09-key-created").await;
    let me = api
        .get(cluster.url("/api/sellers/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the new key works");
    b.click("form[action$='/revoke'] button").await;
    b.wait_for_text("The API key is revoked").await;
    b.close().await;
    cluster.shutdown().await;
}

/// The token of `buyer@example.com` (signed in again).
async fn cluster_buyer_token(cluster: &Cluster, api: &reqwest::Client) -> String {
    let r: serde_json::Value = api
        .post(cluster.url("/api/auth/login"))
        .json(&serde_json::json!({ "email": "buyer@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_work_without_javascript_and_on_a_phone() {
    let cluster = Cluster::start(options()).await;
    let Some(b) = Browser::start(
        &cluster.url(""),
        Setup {
            no_javascript: true,
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let api = cluster.client();
    let seller =
        seller_with_product(&cluster, &api, "plain", "Walnut Cutting Board", 3900, 4).await;

    // Without the script the form posts and the cart page follows.
    b.goto(&format!("/p/{}", seller.product)).await;
    b.click("form[action='/cart/add'] button[type=submit]")
        .await;
    b.wait_for_text("Added to your cart.").await;
    assert_eq!(b.path().await, "/cart?done=added");
    b.look("nojs-01-cart").await;
    b.click("a[href='/register?next=%2Fcheckout']").await;
    b.register("Noor", "noor@example.com").await;
    b.wait_for_text("Order summary").await;

    // A declined card: the reason beside the card choice, the cart kept.
    b.fill_address("Noor Haddad", "5 Elm St", "Dallas", "TX", "75201")
        .await;
    b.click("input[value=tok_declined]").await;
    b.click("form[action='/checkout'] button[type=submit]")
        .await;
    b.wait_for_text("Please check the highlighted fields").await;
    let problem = b.text("#payment_token-error").await;
    assert!(problem.to_lowercase().contains("declined"), "{problem}");
    assert_eq!(
        b.find("#city")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Dallas")
    );
    b.look("nojs-02-declined").await;
    b.goto("/cart").await;
    assert!(
        b.body().await.contains("Walnut Cutting Board"),
        "the cart is kept"
    );

    // A good card: one order.
    b.goto("/checkout").await;
    b.fill_address("Noor Haddad", "5 Elm St", "Dallas", "TX", "75201")
        .await;
    b.click("form[action='/checkout'] button[type=submit]")
        .await;
    b.wait_for_text("Thank you! Your order is placed.").await;
    b.look("nojs-03-order").await;
    b.close().await;

    // A phone-sized screen: one column, everything reachable.
    let Some(phone) = Browser::start(
        &cluster.url(""),
        Setup {
            phone: true,
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    for (path, name) in [
        ("/".to_owned(), "phone-01-home"),
        ("/c/books".to_owned(), "phone-02-category"),
        (format!("/p/{}", seller.product), "phone-03-product"),
        ("/search?q=board".to_owned(), "phone-04-search"),
        ("/cart".to_owned(), "phone-05-cart"),
    ] {
        phone.goto(&path).await;
        let overflow: serde_json::Value = phone
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{path} scrolls sideways by {overflow}px"
        );
        phone.look(name).await;
    }
    phone.close().await;
    cluster.shutdown().await;
}
