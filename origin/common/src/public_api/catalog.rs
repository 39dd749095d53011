//! Products, categories, search and carts (`/api/catalog`, `/api/search`,
//! `/api/cart`).

use std::collections::BTreeMap;

use axum::http::Method;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{bodiless, found, get, json, with_query, Actor, Items, PublicApi};
use crate::client::ClientError;
use crate::clients::SearchDoc;
use crate::rating::RatingSummary;
use crate::{Money, ProductId, SellerId};

#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub seller_id: SellerId,
    pub title: String,
    pub description: String,
    pub price: Money,
    pub category: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub stock: u32,
    #[serde(default)]
    pub image_urls: Vec<String>,
    /// `active` or `archived`.
    pub status: String,
    #[serde(default)]
    pub seller_name: String,
    #[serde(default)]
    pub rating: RatingSummary,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Product {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CategoryCount {
    pub slug: String,
    pub name: String,
    pub product_count: u64,
}

/// `GET /api/catalog/products` parameters; `None` leaves one out (query
/// strings skip them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductQuery {
    pub category: Option<String>,
    pub seller: Option<SellerId>,
    /// `newest`, `price_asc` or `price_desc`.
    pub sort: Option<String>,
    /// Minor units.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Stars (1–5).
    pub min_rating: Option<f64>,
    pub in_stock: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `GET /api/search` parameters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub category: Option<String>,
    pub seller: Option<SellerId>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub min_rating: Option<f64>,
    pub in_stock: Option<bool>,
    /// `relevance`, `price_asc`, `price_desc`, `newest` or `rating`.
    pub sort: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchResults {
    pub total: u64,
    pub items: Vec<SearchDoc>,
    pub facets: Facets,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Facets {
    /// Category slug → matching products (ignoring the category filter).
    pub category: BTreeMap<String, u64>,
}

/// A cart priced and checked against the catalog now.
#[derive(Debug, Clone, Deserialize)]
pub struct Cart {
    pub items: Vec<CartItem>,
    pub item_count: u32,
    pub subtotal: Option<Money>,
    #[serde(default)]
    pub mixed_currencies: bool,
}

impl Cart {
    /// The lines checkout can take now (still sold, enough in stock), as a
    /// quote asks for them.
    pub fn buyable(&self) -> Vec<super::QuoteLine> {
        self.items
            .iter()
            .filter(|i| i.available && i.in_stock)
            .map(|i| super::QuoteLine {
                product_id: i.product_id,
                quantity: i.quantity,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CartItem {
    pub product_id: ProductId,
    pub title: Option<String>,
    pub seller_id: Option<SellerId>,
    pub seller_name: Option<String>,
    pub quantity: u32,
    pub unit_price: Money,
    pub line_total: Money,
    pub price_at_add: Money,
    pub price_changed: bool,
    pub available: bool,
    pub in_stock: bool,
    pub stock: u32,
}

/// A new product, as the seller console submits it.
#[derive(Debug, Clone, Serialize)]
pub struct NewProduct {
    pub title: String,
    pub description: String,
    pub price: Money,
    pub category: String,
    pub attributes: BTreeMap<String, String>,
    pub stock: u32,
    pub image_urls: Vec<String>,
}

/// Changes to a product; `None` keeps a field (it is left out of the body:
/// the API refuses `null`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductEdit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_urls: Option<Vec<String>>,
}

impl PublicApi {
    pub async fn categories(&self, actor: &Actor) -> Result<Vec<CategoryCount>, ClientError> {
        let page: Items<CategoryCount> =
            get(&self.catalog, actor, "/api/catalog/categories").await?;
        Ok(page.items)
    }

    pub async fn products(
        &self,
        actor: &Actor,
        query: &ProductQuery,
    ) -> Result<ProductPage, ClientError> {
        get(
            &self.catalog,
            actor,
            &with_query("/api/catalog/products", query),
        )
        .await
    }

    /// `None` for an unknown product.
    pub async fn product(
        &self,
        actor: &Actor,
        id: ProductId,
    ) -> Result<Option<Product>, ClientError> {
        found(get(&self.catalog, actor, &format!("/api/catalog/products/{id}")).await)
    }

    pub async fn create_product(
        &self,
        actor: &Actor,
        product: &NewProduct,
    ) -> Result<Product, ClientError> {
        json(
            &self.catalog,
            actor,
            Method::POST,
            "/api/catalog/products",
            product,
        )
        .await
    }

    pub async fn edit_product(
        &self,
        actor: &Actor,
        id: ProductId,
        edit: &ProductEdit,
    ) -> Result<Product, ClientError> {
        let path = format!("/api/catalog/products/{id}");
        json(&self.catalog, actor, Method::PATCH, &path, edit).await
    }

    pub async fn set_stock(
        &self,
        actor: &Actor,
        id: ProductId,
        stock: u32,
    ) -> Result<Product, ClientError> {
        let path = format!("/api/catalog/products/{id}/stock");
        let body = json!({ "stock": stock });
        json(&self.catalog, actor, Method::PUT, &path, &body).await
    }

    pub async fn archive_product(
        &self,
        actor: &Actor,
        id: ProductId,
    ) -> Result<Product, ClientError> {
        let path = format!("/api/catalog/products/{id}/archive");
        bodiless(&self.catalog, actor, Method::POST, &path).await
    }

    pub async fn search(
        &self,
        actor: &Actor,
        query: &SearchQuery,
    ) -> Result<SearchResults, ClientError> {
        get(&self.search, actor, &with_query("/api/search", query)).await
    }

    pub async fn cart(&self, actor: &Actor) -> Result<Cart, ClientError> {
        get(&self.cart, actor, "/api/cart").await
    }

    /// Adds to the actor's cart (a guest cart is created, its cookie kept
    /// on `actor`).
    pub async fn add_to_cart(
        &self,
        actor: &Actor,
        product: ProductId,
        quantity: u32,
    ) -> Result<Cart, ClientError> {
        let body = json!({ "product_id": product, "quantity": quantity });
        json(&self.cart, actor, Method::POST, "/api/cart/items", &body).await
    }

    /// Sets a line's quantity; 0 removes it.
    pub async fn set_cart_quantity(
        &self,
        actor: &Actor,
        product: ProductId,
        quantity: u32,
    ) -> Result<Cart, ClientError> {
        let path = format!("/api/cart/items/{product}");
        if quantity == 0 {
            return bodiless(&self.cart, actor, Method::DELETE, &path).await;
        }
        let body = json!({ "quantity": quantity });
        json(&self.cart, actor, Method::PUT, &path, &body).await
    }
}
