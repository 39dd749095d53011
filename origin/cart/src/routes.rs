//! Cart handlers. The caller's cart is found from the session (edge-set
//! `x-user-id`) or the guest cookie; there is no cart id in any URL, so no
//! one can address another shopper's cart.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use meridian_common::clients::{CartLineRef, ProductSnapshot};
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{Id, Json};
use meridian_common::internal::Caller;
use meridian_common::{ApiError, FieldError, Money, ProductId, UserId};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::{Cart, CartError, CartKey, GUEST_COOKIE, GUEST_TTL_SECS, MAX_QUANTITY};
use crate::AppState;

fn guest_from(headers: &HeaderMap) -> Option<CartKey> {
    meridian_common::internal::cookie(headers, GUEST_COOKIE).and_then(CartKey::guest)
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.cookie_secure { "; Secure" } else { "" };
    format!("{GUEST_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

fn event(state: &AppState, kind: &str, key: &CartKey, payload: Value) -> EventEnvelope {
    EventEnvelope::new(&state.region, kind, 1, key.id(), payload)
}

/// Whose cart this request is about, merging a guest cart into the user's
/// when both are present. `create` makes a guest cart for anonymous writes.
struct Resolved {
    key: Option<CartKey>,
    set_cookie: Option<String>,
}

async fn resolve(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    create: bool,
) -> Result<Resolved, ApiError> {
    if caller.key.is_some() && caller.user.is_none() {
        return Err(ApiError::forbidden("seller API keys cannot use carts"));
    }
    let guest = guest_from(headers);
    if let Some(user) = caller.user {
        let user_key = CartKey::User(user);
        let mut set_cookie = None;
        if let Some(guest) = guest {
            let merged = event(
                state,
                "cart.cart.merged",
                &user_key,
                json!({ "from": guest.id() }),
            );
            state.store.merge(&guest, &user_key, vec![merged]).await?;
            set_cookie = Some(cookie(state, "", 0));
        }
        return Ok(Resolved {
            key: Some(user_key),
            set_cookie,
        });
    }
    Ok(match guest {
        Some(g) => Resolved {
            key: Some(g),
            set_cookie: None,
        },
        None if create => {
            let g = CartKey::new_guest();
            let CartKey::Guest(id) = &g else {
                unreachable!()
            };
            let set_cookie = Some(cookie(state, id, GUEST_TTL_SECS));
            Resolved {
                key: Some(g),
                set_cookie,
            }
        }
        None => Resolved {
            key: None,
            set_cookie: None,
        },
    })
}

/// The cart priced and checked against the catalog right now.
async fn priced(state: &AppState, caller: &Caller, cart: &Cart) -> Result<Value, ApiError> {
    let ids: Vec<ProductId> = cart.lines.iter().map(|l| l.product_id).collect();
    let products = if ids.is_empty() {
        Vec::new()
    } else {
        state.catalog.products(&ids, &caller.forward()).await?
    };
    let mut subtotal: Option<Money> = None;
    let mut mixed = false;
    let mut items = Vec::new();
    let mut item_count = 0u32;
    for line in &cart.lines {
        let product: Option<&ProductSnapshot> = products.iter().find(|p| p.id == line.product_id);
        let available = product.is_some_and(|p| p.active);
        let in_stock = product.is_some_and(|p| p.stock >= line.quantity);
        let unit = product.map_or(line.price_at_add, |p| p.price);
        let line_total = unit
            .checked_mul(line.quantity)
            .map_err(ApiError::internal)?;
        if available && in_stock {
            item_count += line.quantity;
            subtotal = Some(match subtotal {
                None => line_total,
                Some(s) => match s.checked_add(line_total) {
                    Ok(t) => t,
                    Err(_) => {
                        mixed = true;
                        s
                    }
                },
            });
        }
        items.push(json!({
            "product_id": line.product_id,
            "title": product.map(|p| p.title.as_str()),
            "seller_id": product.map(|p| p.seller_id),
            "seller_name": product.map(|p| p.seller_name.as_str()),
            "quantity": line.quantity,
            "unit_price": unit,
            "line_total": line_total,
            "price_at_add": line.price_at_add,
            "price_changed": unit != line.price_at_add,
            "available": available,
            "in_stock": in_stock,
            "stock": product.map_or(0, |p| p.stock),
        }));
    }
    Ok(json!({
        "items": items,
        "item_count": item_count,
        "subtotal": subtotal,
        "mixed_currencies": mixed,
        "updated_at": cart.updated_at,
    }))
}

fn with_cookie(body: Value, set_cookie: Option<String>, status: StatusCode) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(c) = set_cookie.and_then(|c| c.parse().ok()) {
        response.headers_mut().append(SET_COOKIE, c);
    }
    response
}

fn cart_error(e: CartError) -> ApiError {
    match e {
        CartError::Quantity => {
            ApiError::validation(vec![FieldError::new("quantity", e.to_string())])
        }
        // The request is well-formed; the cart as it is cannot take it.
        CartError::LineFull => ApiError::new(StatusCode::CONFLICT, "line_full", e.to_string()),
        CartError::TooManyLines => ApiError::new(StatusCode::CONFLICT, "cart_full", e.to_string()),
        CartError::NotInCart => ApiError::not_found(e.to_string()),
    }
}

#[utoipa::path(get, path = "/api/cart", security((), ("session" = [])), tag = "cart",
    responses((status = 200, description = "the cart, priced and stock-checked now", body = Object), (status = 403, description = "forbidden: seller keys cannot use carts", body = meridian_common::openapi::ErrorBody)))]
pub async fn view(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = resolve(&state, &caller, &headers, false).await?;
    let cart = match &who.key {
        Some(key) => state.store.get(key).await?,
        None => Cart::default(),
    };
    let body = priced(&state, &caller, &cart).await?;
    Ok(with_cookie(body, who.set_cookie, StatusCode::OK))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    product_id: ProductId,
    #[schema(schema_with = meridian_common::openapi::count::<1, { MAX_QUANTITY }>)]
    quantity: u32,
}

#[utoipa::path(post, path = "/api/cart/items", security((), ("session" = [])), tag = "cart", request_body = AddItem,
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 409, description = "unavailable_product: no longer sold / line_full: the line would pass 99 / cart_full: 50 products already", body = meridian_common::openapi::ErrorBody)))]
pub async fn add_item(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<AddItem>,
) -> Result<Response, ApiError> {
    if body.quantity == 0 || body.quantity > MAX_QUANTITY {
        return Err(cart_error(CartError::Quantity));
    }
    let product = state
        .catalog
        .products(&[body.product_id], &caller.forward())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("no such product"))?;
    // The request is right; the product's state is what stands in the way.
    if !product.active {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "unavailable_product",
            "this product is no longer sold",
        ));
    }
    let who = resolve(&state, &caller, &headers, true).await?;
    let key = who.key.clone().expect("created when missing");
    let s = state.clone();
    let k = key.clone();
    let change = move |cart: &mut Cart| {
        cart.add(body.product_id, body.quantity, product.price, Utc::now())?;
        Ok(vec![event(
            &s,
            "cart.item.added",
            &k,
            // The seller, so analytics can count each shop's own funnel.
            json!({ "product_id": body.product_id, "quantity": body.quantity, "seller_id": product.seller_id }),
        )])
    };
    let cart = state
        .store
        .update(&key, &change)
        .await?
        .map_err(cart_error)?;
    let view = priced(&state, &caller, &cart).await?;
    Ok(with_cookie(view, who.set_cookie, StatusCode::OK))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetItem {
    #[schema(schema_with = meridian_common::openapi::count::<1, { MAX_QUANTITY }>)]
    quantity: u32,
}

async fn set_quantity(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    product: ProductId,
    quantity: u32,
) -> Result<Response, ApiError> {
    let who = resolve(state, caller, headers, false).await?;
    let key = who
        .key
        .clone()
        .ok_or_else(|| ApiError::not_found("this product is not in your cart"))?;
    let s = state.clone();
    let k = key.clone();
    let change = move |cart: &mut Cart| {
        if !cart.set(product, quantity, Utc::now())? {
            return Err(CartError::NotInCart);
        }
        let kind = if quantity == 0 {
            "cart.item.removed"
        } else {
            "cart.item.updated"
        };
        Ok(vec![event(
            &s,
            kind,
            &k,
            json!({ "product_id": product, "quantity": quantity }),
        )])
    };
    let cart = state
        .store
        .update(&key, &change)
        .await?
        .map_err(cart_error)?;
    let view = priced(state, caller, &cart).await?;
    Ok(with_cookie(view, who.set_cookie, StatusCode::OK))
}

#[utoipa::path(put, path = "/api/cart/items/{product_id}", security((), ("session" = [])), tag = "cart", request_body = SetItem, params(("product_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn set_item(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Id(id): Id<ProductId>,
    Json(body): Json<SetItem>,
) -> Result<Response, ApiError> {
    if body.quantity > MAX_QUANTITY {
        return Err(cart_error(CartError::Quantity));
    }
    set_quantity(&state, &caller, &headers, id, body.quantity).await
}

#[utoipa::path(delete, path = "/api/cart/items/{product_id}", security((), ("session" = [])), tag = "cart", params(("product_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn remove_item(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Id(id): Id<ProductId>,
) -> Result<Response, ApiError> {
    set_quantity(&state, &caller, &headers, id, 0).await
}

#[utoipa::path(delete, path = "/api/cart", security((), ("session" = [])), tag = "cart",
    responses((status = 204, description = "emptied"), (status = 403, description = "forbidden", body = meridian_common::openapi::ErrorBody)))]
pub async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = resolve(&state, &caller, &headers, false).await?;
    if let Some(key) = &who.key {
        let s = state.clone();
        let k = key.clone();
        let change = move |cart: &mut Cart| {
            cart.lines.clear();
            cart.updated_at = Some(Utc::now());
            Ok(vec![event(&s, "cart.cart.cleared", &k, json!({}))])
        };
        state
            .store
            .update(key, &change)
            .await?
            .map_err(cart_error)?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(c) = who.set_cookie.and_then(|c| c.parse().ok()) {
        response.headers_mut().append(SET_COOKIE, c);
    }
    Ok(response)
}

/// Explicit merge after login (reads merge implicitly too).
#[utoipa::path(post, path = "/api/cart/merge", security(("session" = [])), tag = "cart",
    responses((status = 200, body = Object), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody)))]
pub async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require_user()?;
    view(State(state), caller, headers).await
}

pub async fn user_lines(
    State(state): State<AppState>,
    Id(user): Id<UserId>,
) -> Result<axum::Json<Value>, ApiError> {
    let cart = state.store.get(&CartKey::User(user)).await?;
    let items: Vec<CartLineRef> = cart
        .lines
        .iter()
        .map(|l| CartLineRef {
            product_id: l.product_id,
            quantity: l.quantity,
        })
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckedOut {
    lines: Vec<CartLineRef>,
}

pub async fn checked_out(
    State(state): State<AppState>,
    Id(user): Id<UserId>,
    Json(body): Json<CheckedOut>,
) -> Result<axum::Json<Value>, ApiError> {
    let key = CartKey::User(user);
    let bought: Vec<(ProductId, u32)> = body
        .lines
        .iter()
        .map(|l| (l.product_id, l.quantity))
        .collect();
    let s = state.clone();
    let k = key.clone();
    let change = move |cart: &mut Cart| {
        cart.checked_out(&bought, Utc::now());
        Ok(vec![event(
            &s,
            "cart.cart.checked_out",
            &k,
            json!({ "lines": bought.len() }),
        )])
    };
    state
        .store
        .update(&key, &change)
        .await?
        .map_err(cart_error)?;
    Ok(axum::Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeGuest {
    guest: String,
}

/// At login: the guest cart (from the `meridian_cart` cookie the shopper
/// sent with the login) moves into the user's cart.
pub async fn merge_guest(
    State(state): State<AppState>,
    Id(user): Id<UserId>,
    Json(body): Json<MergeGuest>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = CartKey::User(user);
    let guest = CartKey::guest(&body.guest)
        .ok_or_else(|| ApiError::bad_request("invalid_guest_cart", "malformed guest cart id"))?;
    let merged = event(
        &state,
        "cart.cart.merged",
        &user,
        json!({ "from": guest.id() }),
    );
    let cart = state.store.merge(&guest, &user, vec![merged]).await?;
    Ok(axum::Json(json!({ "lines": cart.lines.len() })))
}
