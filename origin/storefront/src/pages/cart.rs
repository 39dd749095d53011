//! The cart: lines grouped by shop with their flags (price changed,
//! unavailable, not enough stock), quantities to change, and a preview of
//! shipping and tax as checkout would charge them now. Guests have a cart
//! too (a cookie); it merges into the account's at sign-in.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use meridian_common::client::ClientError;
use meridian_common::public_api::{Actor, Cart, CartItem, Quote};
use meridian_common::ProductId;
use serde::Deserialize;
use serde_json::json;

use super::{notice, personal_with_cart, redirect, wants_json, with_cookies, Form, Query};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::view::Totals;
use crate::AppState;

struct Line {
    product_id: ProductId,
    title: String,
    quantity: u32,
    unit: String,
    total: String,
    flags: Vec<(&'static str, String)>,
    choices: Vec<u32>,
}

struct Group {
    shop: String,
    lines: Vec<Line>,
    /// This shop's part, when priced.
    totals: Option<Totals>,
}

#[derive(Template)]
#[template(path = "cart.html")]
struct CartPage {
    chrome: Chrome,
    groups: Vec<Group>,
    count: u32,
    /// The whole cart, when priced.
    totals: Option<Totals>,
    signed_in: bool,
    problem: Option<String>,
}

fn flags(item: &CartItem) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !item.available {
        out.push(("bad", "No longer sold: remove it to check out".to_owned()));
    } else if !item.in_stock {
        out.push((
            "bad",
            match item.stock {
                0 => "Sold out".to_owned(),
                n => format!("Only {n} left: lower the quantity"),
            },
        ));
    }
    if item.available && item.price_changed {
        out.push((
            "",
            format!(
                "Price changed from {} to {}",
                format::money(item.price_at_add),
                format::money(item.unit_price)
            ),
        ));
    }
    out
}

/// The cart's lines by shop, with each shop's priced share when `quote`
/// has it.
fn groups(cart: &Cart, quote: Option<&Quote>) -> Vec<Group> {
    let mut by_shop: BTreeMap<String, Group> = BTreeMap::new();
    for item in &cart.items {
        let shop = item
            .seller_name
            .clone()
            .unwrap_or_else(|| "Unavailable".to_owned());
        let group = by_shop.entry(shop.clone()).or_insert_with(|| Group {
            totals: quote.and_then(|q| {
                q.sellers
                    .iter()
                    .find(|s| Some(s.seller_id) == item.seller_id)
                    .map(|s| Totals::new(s.items, s.shipping, s.tax, s.total))
            }),
            shop,
            lines: Vec::new(),
        });
        group.lines.push(Line {
            product_id: item.product_id,
            title: item
                .title
                .clone()
                .unwrap_or_else(|| "A product no longer listed".to_owned()),
            quantity: item.quantity,
            unit: format::money(item.unit_price),
            total: format::money(item.line_total),
            flags: flags(item),
            choices: (1..=item.quantity.clamp(10, 99)).collect(),
        });
    }
    by_shop.into_values().collect()
}

pub async fn view(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<super::catalog::Done>,
) -> Result<Response, PageError> {
    let actor = Actor::from_headers(&headers);
    let api = &state.api;
    let cart = api.cart(&actor).await?;
    let buyable = cart.buyable();
    let (quote, problem) = if buyable.is_empty() {
        (None, None)
    } else {
        match api.quote(&actor, &buyable).await {
            Ok(q) => (Some(q), None),
            Err(ClientError::Api { message, .. }) => (None, Some(message)),
            Err(e) => return Err(e.into()),
        }
    };
    let mut chrome = Chrome::personal(
        "Your cart",
        personal_with_cart(api, &actor, cart.item_count).await,
    );
    chrome.notice = notice(q.done.as_deref());
    let page = CartPage {
        chrome,
        groups: groups(&cart, quote.as_ref()),
        count: cart.item_count,
        totals: quote
            .as_ref()
            .map(|q| Totals::new(q.items, q.shipping, q.tax, q.total)),
        signed_in: actor.user.is_some(),
        problem,
    };
    Ok(with_cookies(&actor, layout::personal(&page)?))
}

#[derive(Deserialize)]
pub struct LineForm {
    product_id: String,
    quantity: String,
}

fn parse_line(line: &LineForm, zero_ok: bool) -> Result<(ProductId, u32), PageError> {
    let product = line
        .product_id
        .parse()
        .map_err(|_| PageError::BadRequest("That product does not exist.".to_owned()))?;
    let quantity = line
        .quantity
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|q| (if zero_ok { 0 } else { 1 }..=99).contains(q))
        .ok_or_else(|| PageError::BadRequest("Choose a quantity from 1 to 99.".to_owned()))?;
    Ok((product, quantity))
}

/// An API refusal for the script (JSON) or the page (an error page).
fn refused(json: bool, e: ClientError) -> Response {
    match (&e, json) {
        (
            ClientError::Api {
                status,
                code,
                message,
                ..
            },
            true,
        ) => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response(),
        _ => PageError::from(e).into_response(),
    }
}

/// `POST /cart/add`: from a product page (a plain form, or the script,
/// which asks for JSON and stays on the page).
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(line): Form<LineForm>,
) -> Response {
    let json = wants_json(&headers);
    let (product, quantity) = match parse_line(&line, false) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let actor = Actor::from_headers(&headers);
    match state.api.add_to_cart(&actor, product, quantity).await {
        Ok(cart) if json => with_cookies(
            &actor,
            axum::Json(json!({ "item_count": cart.item_count })).into_response(),
        ),
        Ok(_) => redirect(&actor, "/cart?done=added"),
        Err(e) => refused(json, e),
    }
}

/// `POST /cart/update`: a new quantity for a line (0 removes it).
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(line): Form<LineForm>,
) -> Result<Response, PageError> {
    let (product, quantity) = parse_line(&line, true)?;
    let actor = Actor::from_headers(&headers);
    match state.api.set_cart_quantity(&actor, product, quantity).await {
        Ok(_) => Ok(redirect(&actor, "/cart?done=updated")),
        // Already gone (another tab removed it): the cart says so.
        Err(ClientError::Api { status: 404, .. }) => Ok(redirect(&actor, "/cart")),
        Err(e) => Err(e.into()),
    }
}
