//! Typed clients of each service's internal API, and the JSON contracts
//! they exchange. Services depend on these, never on each other's crates.

use axum::http::{HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::{ClientError, InternalClient};
use crate::{Money, ProductId, SellerId, UserId};

type Headers = [(HeaderName, HeaderValue)];

/// A 404 answer as `None`.
pub(crate) fn optional<T>(result: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ClientError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A shop, as other services see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopRef {
    pub seller_id: SellerId,
    pub name: String,
    pub slug: String,
}

#[derive(Clone)]
pub struct SellersClient(pub InternalClient);

impl SellersClient {
    /// The shop a request acts for: the API key's shop when the key holds
    /// one of `accepts`, else the signed-in user's own shop. 401 without
    /// credentials, 403 for a key without the scope or a user without a shop.
    pub async fn acting_seller(
        &self,
        caller: &crate::internal::Caller,
        accepts: &[crate::internal::Scope],
    ) -> Result<ShopRef, crate::ApiError> {
        use crate::ApiError;
        let headers = caller.forward();
        if let Some((seller, scopes)) = &caller.key {
            if !accepts.iter().any(|a| scopes.contains(a)) {
                let names: Vec<&str> = accepts.iter().map(|s| s.as_str()).collect();
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!(
                        "this API key needs one of these scopes: {}",
                        names.join(", ")
                    ),
                ));
            }
            return self
                .shop(*seller, &headers)
                .await?
                .ok_or_else(|| ApiError::unauthorized("the API key's shop no longer exists"));
        }
        let user = caller.require_user()?;
        self.shop_of_owner(user, &headers)
            .await?
            .ok_or_else(|| ApiError::forbidden("only sellers can do this; open a shop first"))
    }

    /// The shop owned by `user`, if any.
    pub async fn shop_of_owner(
        &self,
        user: UserId,
        headers: &Headers,
    ) -> Result<Option<ShopRef>, ClientError> {
        self.shop_at(&format!("/internal/sellers/by-owner/{user}"), headers)
            .await
    }

    pub async fn shop(
        &self,
        seller: SellerId,
        headers: &Headers,
    ) -> Result<Option<ShopRef>, ClientError> {
        self.shop_at(&format!("/internal/sellers/shops/{seller}"), headers)
            .await
    }

    /// The shop at `path`; a 404 is `None`.
    async fn shop_at(&self, path: &str, headers: &Headers) -> Result<Option<ShopRef>, ClientError> {
        optional(
            self.0
                .call::<(), ShopRef>(Method::GET, path, None, headers)
                .await,
        )
    }
}

/// What checkout and carts need to know about a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSnapshot {
    pub id: ProductId,
    pub seller_id: SellerId,
    pub seller_name: String,
    pub title: String,
    pub price: Money,
    pub stock: u32,
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    pub product_id: ProductId,
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReserveRequest {
    pub reservation_id: Uuid,
    pub lines: Vec<StockLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// Restock only these products' lines; all lines when absent.
    pub products: Option<Vec<ProductId>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Batch {
    ids: Vec<ProductId>,
}

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Released {
    released: bool,
}

#[derive(Clone)]
pub struct CatalogClient(pub InternalClient);

impl CatalogClient {
    pub async fn products(
        &self,
        ids: &[ProductId],
        headers: &Headers,
    ) -> Result<Vec<ProductSnapshot>, ClientError> {
        let body = Batch { ids: ids.to_vec() };
        let items: Items<ProductSnapshot> = self
            .0
            .call(
                Method::POST,
                "/internal/catalog/products/batch",
                Some(&body),
                headers,
            )
            .await?;
        Ok(items.items)
    }

    /// All-or-nothing stock reservation. A 409 `out_of_stock` or 422
    /// `unavailable_products` comes back as `ClientError::Api`.
    pub async fn reserve(
        &self,
        request: &ReserveRequest,
        headers: &Headers,
    ) -> Result<(), ClientError> {
        self.0
            .call_unit(
                Method::POST,
                "/internal/catalog/reservations",
                Some(request),
                headers,
            )
            .await
    }

    pub async fn release(
        &self,
        reservation: Uuid,
        products: Option<Vec<ProductId>>,
        headers: &Headers,
    ) -> Result<bool, ClientError> {
        let path = format!("/internal/catalog/reservations/{reservation}/release");
        let body = ReleaseRequest { products };
        let answer: Released = self
            .0
            .call(Method::POST, &path, Some(&body), headers)
            .await?;
        Ok(answer.released)
    }
}

/// A payment as checkout sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRef {
    pub id: Uuid,
    pub status: String,
    pub amount: Money,
    pub captured: i64,
    pub refunded: i64,
}

#[derive(Clone)]
pub struct PaymentsClient(pub InternalClient);

impl PaymentsClient {
    /// Declines come back as `ClientError::Api` with status 402, processor
    /// timeouts with 504.
    pub async fn authorize(
        &self,
        key: &str,
        reference: &str,
        amount: Money,
        token: &str,
        headers: &Headers,
    ) -> Result<PaymentRef, ClientError> {
        let body = serde_json::json!({
            "idempotency_key": key, "reference": reference, "amount": amount, "token": token,
        });
        self.0
            .call(
                Method::POST,
                "/internal/payments/authorizations",
                Some(&body),
                headers,
            )
            .await
    }

    pub async fn capture(
        &self,
        key: &str,
        payment: Uuid,
        amount: Money,
        headers: &Headers,
    ) -> Result<PaymentRef, ClientError> {
        let body = serde_json::json!({ "idempotency_key": key, "amount": amount });
        self.step(payment, "capture", body, headers).await
    }

    pub async fn void(
        &self,
        key: &str,
        payment: Uuid,
        headers: &Headers,
    ) -> Result<PaymentRef, ClientError> {
        let body = serde_json::json!({ "idempotency_key": key });
        self.step(payment, "void", body, headers).await
    }

    pub async fn refund(
        &self,
        key: &str,
        payment: Uuid,
        amount: Money,
        headers: &Headers,
    ) -> Result<PaymentRef, ClientError> {
        let body = serde_json::json!({ "idempotency_key": key, "amount": amount });
        self.step(payment, "refunds", body, headers).await
    }

    /// The payment an authorization key made, as it stands now; `None`
    /// when nothing was authorized under it. The key is a path segment:
    /// checkout's keys (`{order}:authorize`) need no escaping.
    pub async fn authorized_under(
        &self,
        key: &str,
        headers: &Headers,
    ) -> Result<Option<PaymentRef>, ClientError> {
        let path = format!("/internal/payments/authorizations/{key}");
        optional(
            self.0
                .call::<(), _>(Method::GET, &path, None, headers)
                .await,
        )
    }

    /// `POST …/payments/{payment}/{step}`: one step of a payment's life.
    async fn step(
        &self,
        payment: Uuid,
        step: &str,
        body: serde_json::Value,
        headers: &Headers,
    ) -> Result<PaymentRef, ClientError> {
        let path = format!("/internal/payments/payments/{payment}/{step}");
        self.0.call(Method::POST, &path, Some(&body), headers).await
    }
}

/// Most of one product a cart line holds (the cart service's limit; the
/// quote and checkout lines that come from carts share it).
pub const MAX_LINE_QUANTITY: u32 = 99;

/// A cart line as checkout reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartLineRef {
    pub product_id: ProductId,
    /// As in a cart.
    #[schema(schema_with = crate::openapi::count::<1, { MAX_LINE_QUANTITY }>)]
    pub quantity: u32,
}

#[derive(Clone)]
pub struct CartClient(pub InternalClient);

impl CartClient {
    pub async fn lines(
        &self,
        user: UserId,
        headers: &Headers,
    ) -> Result<Vec<CartLineRef>, ClientError> {
        let path = format!("/internal/cart/users/{user}");
        let items: Items<CartLineRef> = self
            .0
            .call::<(), _>(Method::GET, &path, None, headers)
            .await?;
        Ok(items.items)
    }

    /// Moves a guest cart into the user's cart (at login).
    pub async fn merge_guest(
        &self,
        user: UserId,
        guest: &str,
        headers: &Headers,
    ) -> Result<(), ClientError> {
        let path = format!("/internal/cart/users/{user}/merge");
        let body = serde_json::json!({ "guest": guest });
        self.0
            .call_unit(Method::POST, &path, Some(&body), headers)
            .await
    }

    /// Removes these lines (as bought) from the user's cart.
    pub async fn remove(
        &self,
        user: UserId,
        lines: &[CartLineRef],
        headers: &Headers,
    ) -> Result<(), ClientError> {
        let path = format!("/internal/cart/users/{user}/checked-out");
        let body = serde_json::json!({ "lines": lines });
        self.0
            .call_unit(Method::POST, &path, Some(&body), headers)
            .await
    }
}

/// What logistics needs to open a shipment for a shipped sub-order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewShipment {
    pub order_id: Uuid,
    pub sub_order_id: Uuid,
    pub seller_id: SellerId,
    pub buyer_id: UserId,
    pub carrier: String,
    pub tracking_number: String,
}

#[derive(Clone)]
pub struct LogisticsClient(pub InternalClient);

impl LogisticsClient {
    /// Idempotent per sub-order.
    pub async fn open_shipment(
        &self,
        shipment: &NewShipment,
        headers: &Headers,
    ) -> Result<(), ClientError> {
        self.0
            .call_unit(
                Method::POST,
                "/internal/logistics/shipments",
                Some(shipment),
                headers,
            )
            .await
    }
}

#[derive(Clone)]
pub struct OrdersClient(pub InternalClient);

impl OrdersClient {
    /// Marks a sub-order delivered (idempotent).
    pub async fn delivered(
        &self,
        order: Uuid,
        sub_order: Uuid,
        headers: &Headers,
    ) -> Result<(), ClientError> {
        let path = format!("/internal/orders/{order}/sub-orders/{sub_order}/delivered");
        self.0
            .call_unit::<()>(Method::POST, &path, None, headers)
            .await
    }

    /// The seller of `product` in a delivered order of `user`, if any.
    pub async fn seller_of_purchase(
        &self,
        user: UserId,
        product: ProductId,
        headers: &Headers,
    ) -> Result<Option<SellerId>, ClientError> {
        let path = format!("/internal/orders/purchases/{user}/{product}");
        let answer: serde_json::Value = self
            .0
            .call::<(), _>(Method::GET, &path, None, headers)
            .await?;
        Ok(answer["seller_id"].as_str().and_then(|s| s.parse().ok()))
    }
}

/// A product as the search index holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchDoc {
    pub product_id: ProductId,
    pub seller_id: SellerId,
    pub seller_name: String,
    pub title: String,
    pub description: String,
    /// Attribute values, space-separated, searchable as text.
    pub attributes: String,
    pub category: String,
    pub price: Money,
    /// Average rating in hundredths of a star.
    pub rating_centi: u32,
    /// Ratings behind that average.
    #[serde(default)]
    pub rating_count: u32,
    pub in_stock: bool,
    /// The first image, for result cards.
    #[serde(default)]
    pub image_url: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone)]
pub struct SearchClient(pub InternalClient);

impl SearchClient {
    pub async fn index(&self, doc: &SearchDoc, headers: &Headers) -> Result<(), ClientError> {
        let path = format!("/internal/search/products/{}", doc.product_id);
        self.0
            .call_unit(Method::PUT, &path, Some(doc), headers)
            .await
    }

    pub async fn remove(&self, product: ProductId, headers: &Headers) -> Result<(), ClientError> {
        let path = format!("/internal/search/products/{product}");
        self.0
            .call_unit::<()>(Method::DELETE, &path, None, headers)
            .await
    }
}
