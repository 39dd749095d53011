//! The storefront's own router, through `oneshot`, with stub public APIs:
//! readable HTML errors, the sign-in redirect, and forged form posts
//! refused before any API is called.

use std::sync::{Arc, Mutex};

use axum::routing::any;
use axum::Router;
use meridian_common::public_api::PublicApi;
use meridian_common::testing::router::{call, stub_client};
use meridian_storefront::AppState;
use serde_json::json;

/// A storefront whose APIs answer "sign in first" to everything, and the
/// paths they were asked for.
fn storefront() -> (Router, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let apis = Router::new().route(
        "/{*path}",
        any(move |uri: axum::http::Uri| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(uri.path().to_owned());
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(
                        json!({ "error": { "code": "unauthorized", "message": "sign in" } }),
                    ),
                )
            }
        }),
    );
    let api = PublicApi::new(|service| stub_client(service, apis.clone()));
    (meridian_storefront::router(AppState { api }), asked)
}

#[tokio::test]
async fn pages_answer_people_in_html_and_forged_posts_go_nowhere() {
    let (site, asked) = storefront();

    let missing = call(&site, "GET", "/p/not-a-product", &[], None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-type").starts_with("text/html"));
    assert!(missing.text.contains("find that page"), "{}", missing.text);

    let account = call(&site, "GET", "/account", &[], None).await;
    assert_eq!(account.status, 303, "{}", account.text);
    assert_eq!(account.header("location"), "/signin?next=%2Faccount");
    // Nobody is signed in: no API is asked.
    assert!(asked.lock().unwrap().is_empty());
    // Signed in as far as the edge knows, but the session is gone by the
    // time the account is read: back to sign in, too.
    let user = meridian_common::UserId::new().to_string();
    let stale = call(&site, "GET", "/account", &[("x-user-id", &user)], None).await;
    assert_eq!(stale.status, 303, "{}", stale.text);
    assert!(!asked.lock().unwrap().is_empty());

    asked.lock().unwrap().clear();
    let forged = call(
        &site,
        "POST",
        "/cart/add",
        &[
            ("sec-fetch-site", "cross-site"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        None,
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(forged.header("content-type").starts_with("text/html"));
    assert!(
        asked.lock().unwrap().is_empty(),
        "{:?}",
        asked.lock().unwrap()
    );

    let asset = call(&site, "GET", "/assets/app.0000000000.css", &[], None).await;
    assert_eq!(asset.status, 404);
}
