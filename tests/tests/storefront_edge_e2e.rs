//! The storefront at the edge and its defences, request by request: shared
//! pages served from the cache to signed-in shoppers too (the personal part
//! from an uncached fragment), purged within a second of a price change;
//! forged cross-site posts refused (also from a real browser on another
//! site); output escaped; one order however often the checkout form is
//! sent; sign-in round trips that cannot redirect elsewhere; HTML errors on
//! pages and JSON on APIs; the security headers; the page-weight budget.

use std::time::Duration;

use meridian_e2e::browser::{Browser, Setup};
use meridian_e2e::storefront::{seller_with_product, PageClient};
use meridian_e2e::{Cluster, Options, PASSWORD};
use serde_json::json;

fn options() -> Options {
    Options {
        page_cache: true,
        ..Options::default()
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Registers through the pages and returns a client signed in as `email`.
async fn signed_in(cluster: &Cluster, email: &str, name: &str) -> PageClient {
    let mut page = PageClient::new(cluster);
    let r = page
        .post(
            "/register",
            &[
                ("display_name", name),
                ("email", email),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/account?done=registered");
    assert!(page.cookies.iter().any(|(k, _)| k == "meridian_session"));
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_pages_come_from_the_edge_for_everyone_and_purge_on_change() {
    let cluster = Cluster::start(options()).await;
    let api = cluster.client();
    let seller = seller_with_product(&cluster, &api, "oak", "Oak Serving Board", 5500, 3).await;
    let path = format!("/p/{}", seller.product);

    // Anonymous: MISS, then HIT; tagged for purges, tags not shown.
    let mut anon = PageClient::new(&cluster);
    let first = anon.get(&path).await;
    assert_eq!(
        (first.status().as_u16(), header(&first, "x-cache")),
        (200, "MISS".into())
    );
    assert!(header(&first, "cache-control").contains("s-maxage=300"));
    assert_eq!(
        header(&first, "surrogate-key"),
        "",
        "tags stay between origin and edge"
    );
    let anonymous_html = first.text().await.unwrap();
    assert!(anonymous_html.contains("$55.00"));
    assert_eq!(header(&anon.get(&path).await, "x-cache"), "HIT");

    // Signed in: the very same cached page (no name in it), and the
    // personal header from the uncached fragment.
    let mut robin = signed_in(&cluster, "robin@example.com", "Robin Reader").await;
    let hit = robin.get(&path).await;
    assert_eq!(header(&hit, "x-cache"), "HIT");
    let html = hit.text().await.unwrap();
    assert!(
        !html.contains("Robin"),
        "a shared page never carries a name"
    );
    assert_eq!(html, anonymous_html);
    let fragment = robin.get("/fragments/header").await;
    assert_eq!(header(&fragment, "cache-control"), "private, no-store");
    assert_ne!(header(&fragment, "x-cache"), "HIT");
    assert!(fragment.text().await.unwrap().contains("Hi, Robin Reader"));
    let account = robin.get("/account").await;
    assert_eq!(header(&account, "cache-control"), "private, no-store");
    assert!(account.text().await.unwrap().contains("robin@example.com"));

    // The seller changes the price: the page shows it within about a second.
    let r = api
        .patch(cluster.url(&format!("/api/catalog/products/{}", seller.product)))
        .bearer_auth(&seller.token)
        .json(&json!({ "price": { "amount": 4900, "currency": "USD" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = std::time::Instant::now();
    loop {
        let page = anon.get(&path).await;
        if page.text().await.unwrap().contains("$49.00") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the price change never showed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("price change visible after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        header(&anon.get(&path).await, "x-cache"),
        "HIT",
        "and cached again"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_posts_are_refused_and_output_is_escaped() {
    let cluster = Cluster::start(options()).await;
    let mut robin = signed_in(&cluster, "robin@example.com", "Robin").await;

    // Another site's form, with the shopper's cookie attached: refused
    // with a readable page, nothing changed.
    for (origin, site) in [
        ("https://evil.example", "cross-site"),
        ("https://shop.evil.example", "same-site"),
        ("null", "cross-site"),
    ] {
        let r = robin
            .post_from(
                origin,
                site,
                "/account",
                &[("display_name", "Hacked"), ("bio", "")],
            )
            .await;
        assert_eq!(r.status(), 403, "{origin}");
        assert!(header(&r, "content-type").starts_with("text/html"));
        assert!(r.text().await.unwrap().contains("sent from another site"));
    }
    // A post with neither Origin nor Sec-Fetch-Site (no browser sends one).
    let r = robin
        .client
        .post(cluster.url("/account"))
        .header("cookie", format!("meridian_session={}", robin.session()))
        .form(&[("display_name", "Hacked")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(robin
        .get("/account")
        .await
        .text()
        .await
        .unwrap()
        .contains("value=\"Robin\""));
    // From our own page it works.
    let r = robin
        .post("/account", &[("display_name", "Robin Q"), ("bio", "")])
        .await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (303, "/account?done=profile".into())
    );

    // A title with a script in it is text on every page.
    let api = cluster.client();
    let evil =
        seller_with_product(&cluster, &api, "xss", "<script>alert(1)</script>", 1000, 5).await;
    let html = robin
        .get(&format!("/p/{}", evil.product))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<h1>&#60;script&#62;alert(1)&#60;/script&#62;</h1>"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"));
    let search = robin.get("/search?q=alert").await.text().await.unwrap();
    assert!(!search.contains("<script>alert(1)"));

    // In a real browser: the title reads as text and nothing runs; a page
    // on another site that posts a form to us gets the refusal.
    let Some(b) = Browser::start(&cluster.url(""), Setup::default()).await else {
        return;
    };
    b.goto(&format!("/p/{}", evil.product)).await;
    assert_eq!(b.text("h1").await, "<script>alert(1)</script>");
    assert!(b.client.get_alert_text().await.is_err(), "no script ran");
    b.screenshot("security-01-escaped-title").await;
    // The page is cached; a price change shows on the next load anyway.
    assert!(b.body().await.contains("$10.00"));
    let r = api
        .patch(cluster.url(&format!("/api/catalog/products/{}", evil.product)))
        .bearer_auth(&evil.token)
        .json(&json!({ "price": { "amount": 1250, "currency": "USD" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    b.goto(&format!("/p/{}", evil.product)).await;
    b.wait_for_text("$12.50").await;
    b.goto("/register").await;
    b.register("Victim", "victim@example.com").await;
    b.wait_for_text("Your account").await;
    let evil_site = evil_site(&cluster.url("/account")).await;
    b.client.goto(&evil_site).await.unwrap();
    b.wait_for_text("sent from another site").await;
    b.screenshot("security-02-forged-post-refused").await;
    b.goto("/account").await;
    assert_eq!(
        b.find("#display_name")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Victim"),
        "the forged post changed nothing"
    );
    b.close().await;
    cluster.shutdown().await;
}

/// A page on another origin (plain HTTP on loopback) whose script posts a
/// form to `target` as soon as it loads.
async fn evil_site(target: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page = format!(
        "<!doctype html><form id=f method=post action=\"{target}\">\
         <input name=display_name value=Hacked><input name=bio value=x></form>\
         <script>document.getElementById('f').submit()</script>"
    );
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_however_often_the_checkout_form_is_sent() {
    let cluster = Cluster::start(options()).await;
    let api = cluster.client();
    let seller = seller_with_product(&cluster, &api, "twice", "Linen Apron", 3200, 10).await;
    let mut buyer = signed_in(&cluster, "pat@example.com", "Pat").await;
    let r = buyer
        .post(
            "/cart/add",
            &[("product_id", seller.product.as_str()), ("quantity", "1")],
        )
        .await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (303, "/cart?done=added".into())
    );
    let form_page = buyer.get("/checkout").await.text().await.unwrap();
    let key = form_page
        .split("name=\"idempotency_key\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let form = [
        ("idempotency_key", key.as_str()),
        ("name", "Pat Lee"),
        ("line1", "9 Pine St"),
        ("city", "Chicago"),
        ("state", "IL"),
        ("postal_code", "60601"),
        ("payment_token", "tok_visa"),
    ];
    // Pressed three times at once, then the result reloaded (re-sent).
    let presses = (0..3).map(|_| {
        let mut again = buyer.clone();
        async move {
            let r = again.post("/checkout", &form).await;
            (r.status().as_u16(), header(&r, "location"))
        }
    });
    let mut places = futures::future::join_all(presses).await;
    let reload = buyer.post("/checkout", &form).await;
    places.push((reload.status().as_u16(), header(&reload, "location")));
    let first = places[0].1.clone();
    assert!(first.starts_with("/account/orders/"), "{places:?}");
    for (status, location) in &places {
        assert_eq!(
            (*status, location.as_str()),
            (303, first.as_str()),
            "{places:?}"
        );
    }
    let orders = cluster
        .get_json("/api/orders", Some(&buyer.session()))
        .await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "{orders}");
    assert_eq!(orders["items"][0]["status"], "paid");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_errors_headers_and_the_page_budget() {
    let cluster = Cluster::start(options()).await;
    let mut page = PageClient::new(&cluster);

    // Personal pages send an anonymous visitor to sign in, and back.
    let r = page.get("/account/orders").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (303, "/signin?next=%2Faccount%2Forders".into())
    );
    let api = cluster.client();
    meridian_e2e::login(&cluster, &api, "lee@example.com").await;
    let r = page
        .post(
            "/signin",
            &[
                ("email", "lee@example.com"),
                ("password", "wrong password!!"),
                ("next", "/account/orders"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("match an account"));
    let r = page
        .post(
            "/signin",
            &[
                ("email", "lee@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (303, "/account".into()),
        "no open redirect"
    );
    let r = page
        .post(
            "/signin",
            &[
                ("email", "lee@example.com"),
                ("password", PASSWORD),
                ("next", "/account/orders"),
            ],
        )
        .await;
    assert_eq!(header(&r, "location"), "/account/orders");

    // Readable HTML errors on pages, JSON on APIs.
    let r = page.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("find that page"));
    let r = page.get("/api/no/such/route").await;
    assert_eq!(r.status(), 404);
    assert_eq!(meridian_e2e::error_code(r).await, "not_found");
    for bad in ["/p/not-a-uuid", "/p/%FF%FE", "/shop/%C0"] {
        let r = page.get(bad).await;
        assert_eq!(r.status(), 404, "{bad}");
        assert!(header(&r, "content-type").starts_with("text/html"), "{bad}");
    }
    let r = page.post("/account/orders", &[]).await;
    assert_eq!(r.status(), 405);
    assert!(header(&r, "content-type").starts_with("text/html"));
    let r = page.client.put(page.url("/api/cart")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(header(&r, "content-type").starts_with("application/json"));
    // A product form that is not multipart: a readable 400 page.
    let r = page.post("/sell/products", &[("title", "x")]).await;
    assert!(r.status().is_client_error());
    assert!(header(&r, "content-type").starts_with("text/html"));
    let r = page.get("/c/books?min_price=cheap").await;
    assert_eq!(r.status(), 200, "a bad filter is explained beside it");
    assert!(r.text().await.unwrap().contains("Not a price"));

    // Security headers on pages; HSTS from the edge on every answer.
    let r = page.get("/").await;
    assert!(header(&r, "content-security-policy").contains("frame-ancestors 'none'"));
    assert!(!header(&r, "content-security-policy").contains("unsafe-inline"));
    assert_eq!(
        header(&r, "referrer-policy"),
        "strict-origin-when-cross-origin"
    );
    assert_eq!(header(&r, "strict-transport-security"), "max-age=31536000");
    let html = r.text().await.unwrap();
    let r = page.get("/api/catalog/categories").await;
    assert_eq!(header(&r, "strict-transport-security"), "max-age=31536000");

    // Hashed assets, cached forever; the product page's budget.
    let asset = |ext: &str| {
        html.split("/assets/app.")
            .filter_map(|rest| rest.split('"').next())
            .find(|name| name.ends_with(ext))
            .map(|name| format!("/assets/app.{name}"))
            .unwrap()
    };
    let (css, js) = (asset(".css"), asset(".js"));
    let r = page.get(&css).await;
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let css_bytes = r.bytes().await.unwrap().len();
    let js_bytes = page.get(&js).await.bytes().await.unwrap().len();
    let seller = seller_with_product(&cluster, &api, "budget", "Budget Bowl", 2000, 5).await;
    let product = page
        .get(&format!("/p/{}", seller.product))
        .await
        .bytes()
        .await
        .unwrap()
        .len();
    let total = product + css_bytes + js_bytes;
    eprintln!("product page: html {product} + css {css_bytes} + js {js_bytes} = {total} bytes");
    assert!(
        total <= 60 * 1024,
        "HTML + CSS + JS of a product page is {total} bytes, over 60 KiB"
    );
    assert_eq!(page.get("/assets/app.000000000000.css").await.status(), 404);

    // No region can answer (an edge in front of origins that are gone):
    // the edge's own page for pages, JSON for APIs.
    let (gone, _held): (Vec<(&str, std::net::SocketAddr)>, Vec<_>) = meridian_e2e::REGIONS
        .iter()
        .map(|(id, _, _)| {
            let (addr, socket) = meridian_e2e::refused_port();
            ((*id, addr), socket)
        })
        .unzip();
    let lonely = cluster.start_edge_for("lonely", &gone, "").await;
    let r = lonely
        .client()
        .get(lonely.url("/account"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert!(header(&r, "content-type").starts_with("text/html"));
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<h1>Meridian is having trouble right now</h1>"),
        "{body}"
    );
    let r = lonely
        .client()
        .get(lonely.url("/api/cart"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error());
    assert!(header(&r, "content-type").starts_with("application/json"));
    lonely.stop().await;
    cluster.shutdown().await;
}

#[test]
fn the_deployed_edge_config_routes_pages_and_limits_sign_in() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/edge.toml");
    let config = meridian_edge::config::EdgeConfig::load(&path).unwrap();
    let route = |prefix: &str| config.routes.iter().find(|r| r.prefix == prefix).unwrap();
    assert_eq!(route("/").errors, meridian_edge::config::ErrorFormat::Html);
    assert_eq!(route("/signin").rate_limit.as_deref(), Some("login"));
    assert_eq!(route("/register").rate_limit.as_deref(), Some("login"));
    assert_eq!(route("/checkout").rate_limit.as_deref(), Some("checkout"));
    assert!(route("/signout").ends_session && route("/api/auth/logout").ends_session);
    let shared: Vec<&str> = config
        .cache
        .rules
        .iter()
        .filter(|r| r.shared)
        .map(|r| r.prefix.as_str())
        .collect();
    assert_eq!(shared, ["/", "/c", "/p", "/shop", "/search", "/assets"]);
    assert!(config
        .cache
        .rules
        .iter()
        .all(|r| !r.shared || !r.prefix.starts_with("/api")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_limited_sign_out_ends_the_session_and_shops_keep_to_their_own() {
    let cluster = Cluster::start(Options {
        edge_extra: r#"
            [[rate_limit.groups]]
            name = "login"
            window_ms = 60000
            per_ip = 5
            [[routes]]
            prefix = "/signin"
            service = "storefront"
            methods = ["POST"]
            errors = "html"
            rate_limit = "login"
        "#
        .into(),
        ..options()
    })
    .await;

    // Guessing passwords: five tries, then the edge's own 429 page.
    let mut guesser = PageClient::new(&cluster);
    let guess = [
        ("email", "nobody@example.com"),
        ("password", "guess guess guess"),
    ];
    for _ in 0..5 {
        assert_eq!(guesser.post("/signin", &guess).await.status(), 422);
    }
    let r = guesser.post("/signin", &guess).await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert!(!header(&r, "retry-after").is_empty());
    assert!(r.text().await.unwrap().contains("Too many requests"));

    // Sign out: the cookie is cleared and the session is over at once,
    // even for a copy of the old cookie.
    let mut robin = signed_in(&cluster, "robin@example.com", "Robin").await;
    let old = robin.cookies.clone();
    assert_eq!(robin.get("/account").await.status(), 200);
    let r = robin.post("/signout", &[]).await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (303, "/?done=signed_out".into())
    );
    assert!(
        robin.cookies.iter().all(|(k, _)| k != "meridian_session"),
        "cookie cleared"
    );
    let mut replay = PageClient::new(&cluster);
    replay.cookies = old;
    let r = replay.get("/account").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (303, "/signin?next=%2Faccount".into())
    );

    // A seller's console reaches only their own products: another shop's
    // product has no edit page, and the API refuses a change to it.
    let api = cluster.client();
    let other = seller_with_product(&cluster, &api, "other", "Someone Else's Vase", 9000, 2).await;
    let mut sam = signed_in(&cluster, "sam@example.com", "Sam").await;
    let r = sam
        .post(
            "/sell/open",
            &[
                ("name", "Sam's"),
                ("slug", "sams"),
                ("contact_email", "sam@example.com"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(header(&r, "location"), "/sell?done=opened");
    let edit = sam.get(&format!("/sell/products/{}", other.product)).await;
    assert_eq!(edit.status(), 404);
    let r = sam
        .post(
            &format!("/sell/products/{}/stock", other.product),
            &[("stock", "0")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(header(&r, "content-type").starts_with("text/html"));
    let r = sam
        .post(&format!("/sell/products/{}/archive", other.product), &[])
        .await;
    assert_eq!(r.status(), 403);
    let product = cluster
        .get_json(&format!("/api/catalog/products/{}", other.product), None)
        .await;
    assert_eq!(
        (product["stock"].as_u64(), product["status"].as_str()),
        (Some(2), Some("active"))
    );
    // Someone without a shop is told to open one.
    let mut robin2 = signed_in(&cluster, "robin2@example.com", "Robin").await;
    assert_eq!(robin2.get("/sell/orders").await.status(), 403);
    cluster.shutdown().await;
}
