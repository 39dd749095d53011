//! Typed clients of each service's internal API, and the JSON contracts
//! they exchange. Services depend on these, never on each other's crates.

use axum::http::{HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::{ClientError, InternalClient};
use crate::{Money, ProductId, SellerId, UserId};

type Headers = [(HeaderName, HeaderValue)];

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
    /// The shop owned by `user`, if any.
    pub async fn shop_of_owner(
        &self,
        user: UserId,
        headers: &Headers,
    ) -> Result<Option<ShopRef>, ClientError> {
        let path = format!("/internal/sellers/by-owner/{user}");
        match self
            .0
            .call::<(), ShopRef>(Method::GET, &path, None, headers)
            .await
        {
            Ok(shop) => Ok(Some(shop)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn shop(
        &self,
        seller: SellerId,
        headers: &Headers,
    ) -> Result<Option<ShopRef>, ClientError> {
        let path = format!("/internal/sellers/shops/{seller}");
        match self
            .0
            .call::<(), ShopRef>(Method::GET, &path, None, headers)
            .await
        {
            Ok(shop) => Ok(Some(shop)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Items<T> {
    items: Vec<T>,
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
            .call::<_, serde_json::Value>(
                Method::POST,
                "/internal/catalog/reservations",
                Some(request),
                headers,
            )
            .await
            .map(|_| ())
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
