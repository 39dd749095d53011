//! Shops, API keys, images and sales figures (`/api/sellers`,
//! `/api/analytics/seller`).

use axum::http::{HeaderValue, Method};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{bodiless, found, get, json, send, with_query, Actor, Items, PublicApi};
use crate::client::{ClientError, Payload};
use crate::SellerId;

/// A shop as everyone sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Shop {
    pub id: SellerId,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// A shop as its owner sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct MyShop {
    pub id: SellerId,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub description: String,
    pub contact_email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewShop {
    pub name: String,
    pub slug: String,
    pub description: String,
    pub contact_email: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only answer that carries its secret.
#[derive(Debug, Clone, Deserialize)]
pub struct NewKey {
    pub key: String,
    pub name: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub id: Uuid,
    pub url: String,
}

/// Sales of one shop over a range of days.
#[derive(Debug, Clone, Deserialize)]
pub struct SalesSummary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sales: Sales,
    pub funnel: Funnel,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Sales {
    pub totals: Vec<SalesRow>,
    pub by_day: Vec<SalesRow>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SalesRow {
    pub day: Option<NaiveDate>,
    pub currency: String,
    pub orders: u64,
    pub gross_cents: i64,
    pub refunded_cents: i64,
    pub net_cents: i64,
}

/// Distinct carts holding the shop's products, checkouts including them,
/// and paid orders, over the range.
#[derive(Debug, Clone, Deserialize)]
pub struct Funnel {
    pub carts: u64,
    pub checkouts: u64,
    pub paid: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopProducts {
    pub items: Vec<ProductSales>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProductSales {
    pub product_id: String,
    pub currency: String,
    pub units: u64,
    pub gross_cents: i64,
}

#[derive(Serialize)]
struct Range {
    from: NaiveDate,
    to: NaiveDate,
    limit: Option<u32>,
}

impl PublicApi {
    /// A shop by slug or id; `None` if there is none.
    pub async fn shop(&self, actor: &Actor, slug_or_id: &str) -> Result<Option<Shop>, ClientError> {
        let path = format!("/api/sellers/shops/{slug_or_id}");
        found(get(&self.sellers, actor, &path).await)
    }

    /// The actor's own shop; `None` until they open one.
    pub async fn my_shop(&self, actor: &Actor) -> Result<Option<MyShop>, ClientError> {
        found(get(&self.sellers, actor, "/api/sellers/me").await)
    }

    pub async fn open_shop(&self, actor: &Actor, shop: &NewShop) -> Result<MyShop, ClientError> {
        json(
            &self.sellers,
            actor,
            Method::POST,
            "/api/sellers/shops",
            shop,
        )
        .await
    }

    pub async fn api_keys(&self, actor: &Actor) -> Result<Vec<ApiKey>, ClientError> {
        let page: Items<ApiKey> = get(&self.sellers, actor, "/api/sellers/me/keys").await?;
        Ok(page.items)
    }

    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        scopes: &[String],
    ) -> Result<NewKey, ClientError> {
        let body = json!({ "name": name, "scopes": scopes });
        json(
            &self.sellers,
            actor,
            Method::POST,
            "/api/sellers/me/keys",
            &body,
        )
        .await
    }

    pub async fn revoke_api_key(&self, actor: &Actor, id: Uuid) -> Result<(), ClientError> {
        let path = format!("/api/sellers/me/keys/{id}");
        bodiless::<serde::de::IgnoredAny>(&self.sellers, actor, Method::DELETE, &path)
            .await
            .map(|_| ())
    }

    /// Uploads an image file for the actor's shop.
    pub async fn upload_image(
        &self,
        actor: &Actor,
        file_name: &str,
        bytes: Bytes,
    ) -> Result<Image, ClientError> {
        // A one-part multipart body, as API clients send it.
        let boundary = format!("meridian-{}", Uuid::new_v4().simple());
        let safe_name: String = file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .take(100)
            .collect();
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type =
            HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                .map_err(|e| ClientError::Decode("sellers", e.to_string()))?;
        send(
            &self.sellers,
            actor,
            Method::POST,
            "/api/sellers/me/images",
            Payload::Raw {
                content_type,
                bytes: body.into(),
            },
            &[],
        )
        .await
    }

    pub async fn sales_summary(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<SalesSummary, ClientError> {
        let range = Range {
            from,
            to,
            limit: None,
        };
        let path = with_query("/api/analytics/seller/summary", &range);
        get(&self.analytics, actor, &path).await
    }

    pub async fn top_products(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        limit: u32,
    ) -> Result<Vec<ProductSales>, ClientError> {
        let range = Range {
            from,
            to,
            limit: Some(limit),
        };
        let path = with_query("/api/analytics/seller/top-products", &range);
        let page: TopProducts = get(&self.analytics, actor, &path).await?;
        Ok(page.items)
    }
}
