//! Checkout, orders, sellers' fulfilment and tracking (`/api/orders`,
//! `/api/logistics`).

use axum::http::{HeaderName, HeaderValue, Method};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{bodiless, found, get, json, send, Actor, Items, PublicApi};
use crate::client::{ClientError, Payload};
use crate::{Money, ProductId, SellerId};

/// A US shipping address, as checkout takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub title: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub refunded_quantity: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubOrder {
    pub id: Uuid,
    pub seller_id: SellerId,
    pub seller_name: String,
    pub lines: Vec<OrderLine>,
    pub items: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
    pub refunded: Money,
    /// `pending_payment`, `paid`, `shipped`, `delivered`, `cancelled`, `refunded`.
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub status: String,
    pub sub_orders: Vec<SubOrder>,
    pub items: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
    pub refunded: Money,
    pub shipping_address: Address,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a seller sees of an order: their sub-orders and where to ship.
#[derive(Debug, Clone, Deserialize)]
pub struct SellerOrder {
    pub order_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub shipping_address: Address,
    pub sub_orders: Vec<SubOrder>,
}

/// Lines priced as checkout would price them now, per seller.
#[derive(Debug, Clone, Deserialize)]
pub struct Quote {
    pub sellers: Vec<SellerQuote>,
    pub items: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SellerQuote {
    pub seller_id: SellerId,
    pub seller_name: String,
    pub items: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct QuoteLine {
    pub product_id: ProductId,
    pub quantity: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Shipment {
    pub sub_order_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    /// `label_created`, `in_transit`, `out_for_delivery`, `delivered`, `exception`.
    pub status: String,
    pub events: Vec<TrackingEvent>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TrackingEvent {
    pub status: String,
    pub at: DateTime<Utc>,
    pub location: Option<String>,
    pub note: Option<String>,
}

fn idempotency(key: &str) -> Result<[(HeaderName, HeaderValue); 1], ClientError> {
    let value = HeaderValue::from_str(key).map_err(|_| ClientError::Api {
        status: 400,
        code: "invalid_idempotency_key".into(),
        message: "the form's idempotency key is not printable ASCII".into(),
        fields: Vec::new(),
    })?;
    Ok([(HeaderName::from_static("idempotency-key"), value)])
}

impl PublicApi {
    pub async fn quote(&self, actor: &Actor, lines: &[QuoteLine]) -> Result<Quote, ClientError> {
        let body = json!({ "lines": lines });
        json(
            &self.orders,
            actor,
            Method::POST,
            "/api/orders/quote",
            &body,
        )
        .await
    }

    /// Checks out the actor's cart; a replay of `key` answers the same.
    pub async fn checkout(
        &self,
        actor: &Actor,
        key: &str,
        address: &Address,
        payment_token: &str,
    ) -> Result<Order, ClientError> {
        let body = json!({ "shipping_address": address, "payment_token": payment_token });
        send(
            &self.orders,
            actor,
            Method::POST,
            "/api/orders/checkout",
            Payload::json(self.orders.service(), &body)?,
            &idempotency(key)?,
        )
        .await
    }

    pub async fn my_orders(&self, actor: &Actor) -> Result<Vec<Order>, ClientError> {
        let page: Items<Order> = get(&self.orders, actor, "/api/orders").await?;
        Ok(page.items)
    }

    /// `None` for an unknown order or another buyer's.
    pub async fn my_order(&self, actor: &Actor, id: Uuid) -> Result<Option<Order>, ClientError> {
        found(get(&self.orders, actor, &format!("/api/orders/{id}")).await)
    }

    pub async fn tracking(&self, actor: &Actor, order: Uuid) -> Result<Vec<Shipment>, ClientError> {
        let path = format!("/api/logistics/orders/{order}");
        let page: Items<Shipment> = get(&self.logistics, actor, &path).await?;
        Ok(page.items)
    }

    pub async fn seller_orders(&self, actor: &Actor) -> Result<Vec<SellerOrder>, ClientError> {
        let page: Items<SellerOrder> = get(&self.orders, actor, "/api/orders/seller").await?;
        Ok(page.items)
    }

    pub async fn ship(
        &self,
        actor: &Actor,
        order: Uuid,
        sub: Uuid,
        carrier: &str,
        tracking_number: &str,
    ) -> Result<(), ClientError> {
        let path = format!("/api/orders/{order}/sub-orders/{sub}/ship");
        let body = json!({ "carrier": carrier, "tracking_number": tracking_number });
        json::<_, serde::de::IgnoredAny>(&self.orders, actor, Method::POST, &path, &body)
            .await
            .map(|_| ())
    }

    pub async fn cancel_sub_order(
        &self,
        actor: &Actor,
        order: Uuid,
        sub: Uuid,
    ) -> Result<(), ClientError> {
        let path = format!("/api/orders/{order}/sub-orders/{sub}/cancel");
        bodiless::<serde::de::IgnoredAny>(&self.orders, actor, Method::POST, &path)
            .await
            .map(|_| ())
    }

    /// Refunds `quantity` of one line; a replay of `key` changes nothing.
    pub async fn refund_line(
        &self,
        actor: &Actor,
        order: Uuid,
        sub: Uuid,
        key: &str,
        product: ProductId,
        quantity: u32,
    ) -> Result<(), ClientError> {
        let path = format!("/api/orders/{order}/sub-orders/{sub}/refunds");
        let body = json!({ "product_id": product, "quantity": quantity });
        send::<serde::de::IgnoredAny>(
            &self.orders,
            actor,
            Method::POST,
            &path,
            Payload::json(self.orders.service(), &body)?,
            &idempotency(key)?,
        )
        .await
        .map(|_| ())
    }
}
