//! The auth service's own router, through `oneshot`: register, sign in,
//! the profile, sign out and the edge's introspection, with the embedded
//! stores and no cart service (guest carts merge later).

use std::sync::Arc;
use std::time::Duration;

use meridian_auth::store::memory::{MemorySessionStore, MemoryUserStore};
use meridian_auth::AppState;
use meridian_common::testing::router::call;
use serde_json::json;

fn state() -> AppState {
    AppState {
        users: Arc::new(MemoryUserStore::default()),
        sessions: Arc::new(MemorySessionStore::default()),
        session_ttl: Duration::from_secs(3600),
        cookie_secure: true,
        cart: None,
        hashing: meridian_auth::password::gate(2, Duration::ZERO),
    }
}

#[tokio::test]
async fn an_account_signs_in_reads_its_profile_and_signs_out() {
    let state = state();
    let api = meridian_auth::router(state.clone());
    let internal = meridian_auth::internal_router(state.clone());
    // Blanks around the address are refused, as the schema's pattern says;
    // the case is folded.
    let padded = json!({
        "email": " Ann@Example.com ",
        "password": "correct horse battery",
        "display_name": "Ann"
    });
    let refused = call(&api, "POST", "/register", &[], Some(padded)).await;
    assert_eq!((refused.status, refused.code()), (422, "validation_failed"));
    let account = json!({
        "email": "Ann@Example.com",
        "password": "correct horse battery",
        "display_name": "Ann"
    });

    let created = call(&api, "POST", "/register", &[], Some(account.clone())).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["email"], "ann@example.com");
    let user = created.json["id"].as_str().unwrap().to_owned();
    let again = call(&api, "POST", "/register", &[], Some(account)).await;
    assert_eq!((again.status, again.code()), (409, "email_taken"));

    let wrong = json!({ "email": "ann@example.com", "password": "not the password" });
    let refused = call(&api, "POST", "/login", &[], Some(wrong)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (401, "invalid_credentials")
    );
    let right = json!({ "email": "ann@example.com", "password": "correct horse battery" });
    let login = call(&api, "POST", "/login", &[], Some(right)).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.json["token"].as_str().unwrap().to_owned();
    let cookie = login.header("set-cookie");
    assert!(
        cookie.starts_with(&format!("meridian_session={token};")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );

    // The edge's question about the token, and its answer's wire shape.
    let asked = call(
        &internal,
        "POST",
        "/introspect",
        &[],
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(asked.json["active"], true, "{}", asked.text);
    assert_eq!(asked.json["user_id"], user.as_str());

    let me = call(&api, "GET", "/me", &[("x-user-id", &user)], None).await;
    assert_eq!(
        (me.status, me.json["display_name"].as_str()),
        (200, Some("Ann"))
    );
    let anonymous = call(&api, "GET", "/me", &[], None).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "unauthorized"));

    let bearer = format!("Bearer {token}");
    let out = call(
        &api,
        "POST",
        "/logout",
        &[("x-user-id", &user), ("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let after = call(
        &internal,
        "POST",
        "/introspect",
        &[],
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(after.json, json!({ "active": false }));
}

#[tokio::test]
async fn bad_bodies_are_refused_naming_the_fields_and_nothing_is_stored() {
    let state = state();
    let api = meridian_auth::router(state.clone());
    let bad = json!({ "email": "not-an-email", "password": "short", "display_name": "" });
    let refused = call(&api, "POST", "/register", &[], Some(bad)).await;
    assert_eq!((refused.status, refused.code()), (422, "validation_failed"));
    let fields: Vec<&str> = refused.json["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "display_name"]);
    let unknown = json!({ "email": "a@b.co", "password": "correct horse battery", "display_name": "A", "admin": true });
    assert_eq!(
        call(&api, "POST", "/register", &[], Some(unknown))
            .await
            .status,
        422
    );
    let email = meridian_common::email::Email::parse("a@b.co").unwrap();
    assert!(state.users.by_email(&email).await.unwrap().is_none());
    let garbage = call(
        &meridian_auth::internal_router(state),
        "POST",
        "/introspect",
        &[],
        Some(json!({ "token": "x" })),
    )
    .await;
    assert_eq!(garbage.json, json!({ "active": false }));
}

/// Passwords are hashed a few at a time: a sign-in or registration that
/// finds every turn taken past its wait is refused at once, marked as load
/// shedding, and nothing was created.
#[tokio::test]
async fn sign_ins_past_the_hashing_limit_are_shed() {
    let state = state();
    let api = meridian_auth::router(state.clone());
    let account = json!({
        "email": "bo@example.com",
        "password": "correct horse battery",
        "display_name": "Bo"
    });
    assert_eq!(
        call(&api, "POST", "/register", &[], Some(account))
            .await
            .status,
        201
    );
    let a = state.hashing.admit().await.unwrap();
    let b = state.hashing.admit().await.unwrap();
    let login = json!({ "email": "bo@example.com", "password": "correct horse battery" });
    let shed = call(&api, "POST", "/login", &[], Some(login.clone())).await;
    assert_eq!((shed.status, shed.code()), (503, "overloaded"));
    assert_eq!(shed.headers["retry-after"], "1");
    assert!(shed.headers.contains_key("x-meridian-overloaded"));
    let other = json!({
        "email": "cy@example.com",
        "password": "correct horse battery",
        "display_name": "Cy"
    });
    let refused = call(&api, "POST", "/register", &[], Some(other.clone())).await;
    assert_eq!(refused.status, 503);
    assert_eq!(state.hashing.refused(), 2);
    drop((a, b));
    assert_eq!(
        call(&api, "POST", "/login", &[], Some(login)).await.status,
        200
    );
    // The refused registration created nothing: it can be made now.
    assert_eq!(
        call(&api, "POST", "/register", &[], Some(other))
            .await
            .status,
        201
    );
}
