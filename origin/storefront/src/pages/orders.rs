//! A shopper's orders: the history, and one order with each shop's part,
//! its tracking timeline and, once delivered, links to review what came.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use meridian_common::public_api::{Address, Order, Shipment};
use uuid::Uuid;

use super::{notice, personal, signed_in, Path, Query};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::view::Totals;
use crate::AppState;

struct OrderRow {
    href: String,
    number: String,
    date: String,
    status: String,
    status_text: &'static str,
    total: String,
    shops: String,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    chrome: Chrome,
    orders: Vec<OrderRow>,
}

/// The short order number shoppers quote (the id's last 8 characters).
fn number(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len() - 8..].to_uppercase()
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let orders = state.api.my_orders(&actor).await?;
    let rows = orders
        .iter()
        .map(|o| OrderRow {
            href: format!("/account/orders/{}", o.id),
            number: number(o.id),
            date: format::date(o.created_at),
            status: o.status.clone(),
            status_text: format::status(&o.status),
            total: format::money(o.total),
            shops: o
                .sub_orders
                .iter()
                .map(|s| s.seller_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let page = OrdersPage {
        chrome: Chrome::personal("Your orders", personal(&state.api, &actor).await),
        orders: rows,
    };
    layout::personal(&page)
}

struct LineView {
    product_href: String,
    review_href: Option<String>,
    title: String,
    quantity: u32,
    refunded: u32,
    total: String,
}

struct Step {
    text: &'static str,
    at: String,
    iso: String,
    place: String,
}

struct SubView {
    shop: String,
    status: String,
    status_text: &'static str,
    lines: Vec<LineView>,
    totals: Totals,
    tracking: Option<(String, String)>,
    timeline: Vec<Step>,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    chrome: Chrome,
    number: String,
    date: String,
    status_text: &'static str,
    failure: Option<String>,
    subs: Vec<SubView>,
    address: Address,
    totals: Totals,
}

fn timeline(shipment: Option<&Shipment>) -> Vec<Step> {
    let mut steps: Vec<Step> = shipment
        .map(|s| {
            s.events
                .iter()
                .map(|e| Step {
                    text: format::status(&e.status),
                    at: format::date_time(e.at),
                    iso: format::iso(e.at),
                    place: [e.location.as_deref(), e.note.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · "),
                })
                .collect()
        })
        .unwrap_or_default();
    // Newest first, as people read a tracking page.
    steps.reverse();
    steps
}

fn sub_views(order: &Order, shipments: &[Shipment]) -> Vec<SubView> {
    order
        .sub_orders
        .iter()
        .map(|s| {
            let delivered = s.status == "delivered";
            let shipment = shipments.iter().find(|sh| sh.sub_order_id == s.id);
            SubView {
                shop: s.seller_name.clone(),
                status: s.status.clone(),
                status_text: format::status(&s.status),
                lines: s
                    .lines
                    .iter()
                    .map(|l| LineView {
                        product_href: format!("/p/{}", l.product_id),
                        review_href: delivered
                            .then(|| format!("/account/reviews/{}", l.product_id)),
                        title: l.title.clone(),
                        quantity: l.quantity,
                        refunded: l.refunded_quantity,
                        total: format::money(
                            l.unit_price.checked_mul(l.quantity).unwrap_or(l.unit_price),
                        ),
                    })
                    .collect(),
                totals: Totals::new(s.items, s.shipping, s.tax, s.total).with_refunded(s.refunded),
                tracking: s.carrier.clone().zip(s.tracking_number.clone()),
                timeline: timeline(shipment),
            }
        })
        .collect()
}

pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<super::catalog::Done>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let (order, shipments) = futures::join!(
        state.api.my_order(&actor, id),
        state.api.tracking(&actor, id)
    );
    let order = order?.ok_or(PageError::NotFound)?;
    // No shipment yet (or tracking busy): the order still shows.
    let shipments = shipments.unwrap_or_default();
    let mut chrome = Chrome::personal(
        &format!("Order {}", number(order.id)),
        personal(&state.api, &actor).await,
    );
    chrome.notice = notice(q.done.as_deref());
    let page = OrderPage {
        chrome,
        number: number(order.id),
        date: format::date_time(order.created_at),
        status_text: format::status(&order.status),
        failure: order.failure.clone(),
        subs: sub_views(&order, &shipments),
        totals: Totals::new(order.items, order.shipping, order.tax, order.total)
            .with_refunded(order.refunded),
        address: order.shipping_address,
    };
    layout::personal(&page)
}
