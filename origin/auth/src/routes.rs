//! Thin handlers: extract → domain → store → respond.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use meridian_common::admission::overloaded;
use meridian_common::error::Validator;
use meridian_common::extract::Json;
use meridian_common::internal::CurrentUser;
use meridian_common::{wire::internal as wire, ApiError, UserId};
use serde::Deserialize;
use serde_json::json;

use crate::domain::{
    self, Bio, DisplayName, Email, Password, ProfileUpdate, Session, User, UserView,
};
use crate::store::unix_now;
use crate::token::{self, SessionToken};
use crate::{password, AppState};

/// Too many passwords being hashed at once (`password::gate`).
const BUSY: &str = "too many sign-ins at this moment; retry in a second";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Trimmed and lower-cased before use.
    #[schema(value_type = meridian_common::email::Email)]
    email: String,
    #[schema(min_length = 12, max_length = 256, pattern = "\\S")]
    password: String,
    /// 1 to 64 characters after trimming, no control characters.
    #[schema(schema_with = meridian_common::openapi::line::<1, 64>)]
    display_name: String,
}

#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, description = "account created", body = UserView),
        (status = 409, description = "email_taken", body = meridian_common::openapi::ErrorBody),
        (status = 422, description = "validation_failed: fields of email, password (12+ chars), display_name", body = meridian_common::openapi::ErrorBody),
        (status = 400, description = "malformed_json", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody),
        (status = 503, description = "overloaded: too many passwords being hashed at once; see Retry-After", body = meridian_common::openapi::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    let mut v = Validator::default();
    let email = v.check("email", Email::parse(&body.email));
    let pass = v.check("password", Password::parse(&body.password));
    let name = v.check("display_name", DisplayName::parse(&body.display_name));
    v.finish()?;
    let (Some(email), Some(pass), Some(display_name)) = (email, pass, name) else {
        unreachable!("Validator::finish returned Ok, so every field parsed");
    };
    // Cheap duplicate check first so a taken email does not cost a hash; the
    // store's unique constraint remains the real guard against races.
    if state.users.by_email(&email).await?.is_some() {
        return Err(ApiError::conflict(
            "email_taken",
            "an account with this email already exists",
        ));
    }
    let Some(_turn) = state.hashing.admit().await else {
        return Ok(overloaded(BUSY));
    };
    let password_hash = password::hash(pass).await?;
    let now = domain::now();
    let user = User {
        id: UserId::new(),
        email,
        display_name,
        bio: Bio::empty(),
        password_hash,
        created_at: now,
        updated_at: now,
    };
    state.users.insert(&user).await?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok((StatusCode::CREATED, axum::Json(UserView::from(&user))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "session created; also set as the meridian_session cookie", body = LoginResponse),
        (status = 401, description = "invalid_credentials (unknown email and wrong password alike)", body = meridian_common::openapi::ErrorBody),
        (status = 422, description = "invalid_body", body = meridian_common::openapi::ErrorBody), (status = 400, description = "malformed_json", body = meridian_common::openapi::ErrorBody),
        (status = 503, description = "overloaded: too many passwords being hashed at once; see Retry-After", body = meridian_common::openapi::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let user = match Email::parse(&body.email) {
        Ok(email) => state.users.by_email(&email).await?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let Some(turn) = state.hashing.admit().await else {
        return Ok(overloaded(BUSY));
    };
    let verified = password::verify(body.password, stored).await?;
    drop(turn);
    if !verified {
        // Same answer for unknown email and wrong password.
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "email or password is incorrect",
        ));
    }
    let user = user.expect("verify returns true only for an existing account");
    let token = SessionToken::generate();
    let now = unix_now();
    let ttl = state.session_ttl.as_secs();
    let session = Session {
        user_id: user.id,
        created_at: now,
        expires_at: now + ttl as i64,
    };
    state.sessions.create(&token.hash(), &session).await?;
    tracing::info!(user_id = %user.id, "session created");
    let cookie = token::session_cookie(&token, ttl, state.cookie_secure);
    let body = json!({
        "token": token.as_str(),
        "expires_at": session.expires_at,
        "user": UserView::from(&user),
    });
    let mut response = ([(SET_COOKIE, cookie)], axum::Json(body)).into_response();
    if let Some(cleared) = merge_guest_cart(&state, &headers, user.id).await {
        if let Ok(v) = cleared.parse() {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    Ok(response)
}

/// Cookie of the guest cart a shopper built before signing in.
const GUEST_CART_COOKIE: &str = "meridian_cart";

/// Moves the guest cart into the account's cart; returns the `Set-Cookie`
/// that clears the guest cookie once merged. A failed merge never fails the
/// login: the cart service merges on the next cart request instead.
async fn merge_guest_cart(state: &AppState, headers: &HeaderMap, user: UserId) -> Option<String> {
    let cart = state.cart.as_ref()?;
    let guest = meridian_common::internal::cookie(headers, GUEST_CART_COOKIE)?;
    match cart.merge_guest(user, guest, &[]).await {
        Ok(()) => {
            let secure = if state.cookie_secure { "; Secure" } else { "" };
            Some(format!(
                "{GUEST_CART_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, "guest cart not merged at login");
            None
        }
    }
}

#[utoipa::path(post, path = "/api/auth/logout", security(("session" = [])), tag = "auth",
    responses((status = 204, description = "session revoked, cookie cleared"),
        (status = 401, description = "unauthorized: no session", body = meridian_common::openapi::ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = SessionToken::from_headers(&headers)
        .ok_or_else(|| ApiError::unauthorized("no session to log out of"))?;
    state.sessions.revoke(&token.hash()).await?;
    let cookie = token::clear_cookie(state.cookie_secure);
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie)]).into_response())
}

#[utoipa::path(get, path = "/api/auth/me", security(("session" = [])), tag = "auth",
    responses((status = 200, body = UserView), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody),
        (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = state
        .users
        .by_id(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("account not found"))?;
    Ok(axum::Json(UserView::from(&user)))
}

/// At least one field.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// As at registration.
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = meridian_common::openapi::line::<1, 64>)]
    display_name: Option<String>,
    /// Up to 1000 characters; line breaks allowed.
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = meridian_common::openapi::text::<0, 1000>)]
    bio: Option<String>,
}

#[utoipa::path(patch, path = "/api/auth/me", security(("session" = [])), tag = "auth", request_body = UpdateProfileRequest,
    responses((status = 200, body = UserView), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody),
        (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 400, description = "malformed_json", body = meridian_common::openapi::ErrorBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    Json(body): Json<UpdateProfileRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    if body.display_name.is_none() && body.bio.is_none() {
        return Err(ApiError::validation(vec![
            meridian_common::FieldError::new("body", "give at least one of display_name, bio"),
        ]));
    }
    let mut v = Validator::default();
    let update = ProfileUpdate {
        display_name: body
            .display_name
            .as_deref()
            .and_then(|n| v.check("display_name", DisplayName::parse(n))),
        bio: body
            .bio
            .as_deref()
            .and_then(|b| v.check("bio", Bio::parse(b))),
    };
    v.finish()?;
    let user = state
        .users
        .update_profile(user_id, &update, domain::now())
        .await?
        .ok_or_else(|| ApiError::not_found("account not found"))?;
    Ok(axum::Json(UserView::from(&user)))
}

/// For the edge: is this token a live session, and whose? Unknown and
/// malformed tokens are simply inactive; only a store failure is an error.
pub async fn introspect(
    State(state): State<AppState>,
    Json(body): Json<wire::SessionQuery>,
) -> Result<axum::Json<wire::Session>, ApiError> {
    let Some(token) = SessionToken::parse(&body.token) else {
        return Ok(axum::Json(wire::Session::INACTIVE));
    };
    let answer = match state.sessions.get(&token.hash()).await? {
        Some(s) => wire::Session {
            active: true,
            user_id: Some(s.user_id.to_string()),
            expires_at: Some(s.expires_at),
        },
        None => wire::Session::INACTIVE,
    };
    Ok(axum::Json(answer))
}

/// Answer of `POST /api/auth/login`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LoginResponse {
    /// Bearer token (also set as the `meridian_session` cookie).
    token: String,
    /// Unix seconds.
    expires_at: i64,
    user: UserView,
}
