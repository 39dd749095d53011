//! Orders to fulfil: each of the shop's sub-orders with where to ship it,
//! and the actions its status allows (ship with carrier and tracking
//! number, cancel before shipping, refund part of a line).

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use meridian_common::public_api::{Address, SellerOrder};
use meridian_common::ProductId;
use serde::Deserialize;
use uuid::Uuid;

use super::{chrome, seller, tabs};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::pages::{redirect, Form, Path, Query};
use crate::AppState;

pub const CARRIERS: &[&str] = &["UPS", "USPS", "FedEx", "DHL"];

struct LineRow {
    product_id: ProductId,
    title: String,
    quantity: u32,
    refundable: u32,
    price: String,
}

struct SubRow {
    order_id: Uuid,
    sub_id: Uuid,
    number: String,
    date: String,
    status: String,
    status_text: &'static str,
    total: String,
    refunded: Option<String>,
    lines: Vec<LineRow>,
    address: Address,
    tracking: Option<String>,
    can_ship: bool,
    can_cancel: bool,
    can_refund: bool,
    /// A fresh key per rendering: a refund form sent twice refunds once.
    refund_key: String,
}

#[derive(Template)]
#[template(path = "sell/orders.html")]
struct OrdersPage {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str, bool)>,
    subs: Vec<SubRow>,
    all: bool,
    carriers: &'static [&'static str],
}

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    show: Option<String>,
    done: Option<String>,
}

fn rows(orders: &[SellerOrder], all: bool) -> Vec<SubRow> {
    orders
        .iter()
        .flat_map(|o| o.sub_orders.iter().map(move |s| (o, s)))
        .filter(|(_, s)| all || s.status == "paid")
        .map(|(o, s)| {
            let id = s.id.simple().to_string();
            SubRow {
                order_id: o.order_id,
                sub_id: s.id,
                number: id[id.len() - 8..].to_uppercase(),
                date: format::date(o.created_at),
                status: s.status.clone(),
                status_text: format::status(&s.status),
                total: format::money(s.total),
                refunded: (s.refunded.amount > 0).then(|| format::money(s.refunded)),
                lines: s
                    .lines
                    .iter()
                    .map(|l| LineRow {
                        product_id: l.product_id,
                        title: l.title.clone(),
                        quantity: l.quantity,
                        refundable: l.quantity - l.refunded_quantity.min(l.quantity),
                        price: format::money(l.unit_price),
                    })
                    .collect(),
                address: o.shipping_address.clone(),
                tracking: s
                    .carrier
                    .as_ref()
                    .zip(s.tracking_number.as_ref())
                    .map(|(c, t)| format!("{c} {t}")),
                can_ship: s.status == "paid",
                can_cancel: s.status == "paid",
                can_refund: matches!(s.status.as_str(), "paid" | "shipped" | "delivered")
                    && s.lines.iter().any(|l| l.refunded_quantity < l.quantity),
                refund_key: Uuid::new_v4().to_string(),
            }
        })
        .collect()
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let orders = state.api.seller_orders(&s.actor).await?;
    let all = q.show.as_deref() == Some("all");
    let page = OrdersPage {
        chrome: chrome(&state, &s.actor, "Orders", q.done.as_deref()).await,
        tabs: tabs("/sell/orders"),
        subs: rows(&orders, all),
        all,
        carriers: CARRIERS,
    };
    layout::personal(&page)
}

fn ids(order: &str, sub: &str) -> Result<(Uuid, Uuid), PageError> {
    match (order.parse(), sub.parse()) {
        (Ok(o), Ok(s)) => Ok((o, s)),
        _ => Err(PageError::NotFound),
    }
}

#[derive(Debug, Deserialize)]
pub struct ShipForm {
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_number: String,
}

pub async fn ship(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((order, sub)): Path<(String, String)>,
    Form(form): Form<ShipForm>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let (order, sub) = ids(&order, &sub)?;
    if !CARRIERS.contains(&form.carrier.as_str()) {
        return Err(PageError::BadRequest(
            "Choose a carrier from the list.".to_owned(),
        ));
    }
    let tracking = form.tracking_number.trim();
    if tracking.is_empty() {
        return Err(PageError::BadRequest(
            "Enter the tracking number from the shipping label.".to_owned(),
        ));
    }
    state
        .api
        .ship(&s.actor, order, sub, &form.carrier, tracking)
        .await?;
    Ok(redirect(&s.actor, "/sell/orders?done=shipped"))
}

pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((order, sub)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let (order, sub) = ids(&order, &sub)?;
    state.api.cancel_sub_order(&s.actor, order, sub).await?;
    Ok(redirect(&s.actor, "/sell/orders?show=all&done=cancelled"))
}

#[derive(Debug, Deserialize)]
pub struct RefundForm {
    product_id: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    refund_key: String,
}

pub async fn refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((order, sub)): Path<(String, String)>,
    Form(form): Form<RefundForm>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let (order, sub) = ids(&order, &sub)?;
    let product: ProductId = form
        .product_id
        .parse()
        .map_err(|_| PageError::BadRequest("Choose the line to refund.".to_owned()))?;
    let quantity = form
        .quantity
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|q| *q > 0)
        .ok_or_else(|| PageError::BadRequest("Enter how many units to refund.".to_owned()))?;
    if form.refund_key.is_empty() || form.refund_key.len() > 100 {
        return Err(PageError::BadRequest(
            "This refund form is incomplete; open the orders page again.".to_owned(),
        ));
    }
    state
        .api
        .refund_line(&s.actor, order, sub, &form.refund_key, product, quantity)
        .await?;
    Ok(redirect(&s.actor, "/sell/orders?show=all&done=refunded"))
}
