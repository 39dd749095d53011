//! Seller writes: create, edit, restock and archive products.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use meridian_common::clients::ShopRef;
use meridian_common::error::{text, Validator};
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{Id, Json};
use meridian_common::internal::{Caller, Scope};
use meridian_common::{ApiError, FieldError, Money, ProductId};
use serde::Deserialize;
use serde_json::json;

use crate::domain::{Category, Product, ProductPatch, ProductStatus, RatingSummary};
use crate::limits::{
    MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE, MAX_IMAGES, MAX_IMAGE_URL, MAX_PRICE,
    MAX_STOCK,
};
use crate::AppState;

/// Pushes the product's new state to search: indexed while active,
/// removed once archived. Search lagging never fails the seller's write; the
/// catalog stays the source of truth and the next change re-indexes.
async fn sync_search(state: &AppState, caller: &Caller, product: &Product) {
    let headers = caller.forward();
    let result = if product.is_active() {
        state.search.index(&product.search_doc(), &headers).await
    } else {
        state.search.remove(product.id, &headers).await
    };
    if let Err(e) = result {
        tracing::warn!(product_id = %product.id, error = %e, "search not updated");
    }
}

/// The shop the caller acts for, allowed to write the catalog.
pub async fn acting_seller(state: &AppState, caller: &Caller) -> Result<ShopRef, ApiError> {
    state
        .sellers
        .acting_seller(caller, &[Scope::CatalogWrite])
        .await
}

/// The product, if the acting seller owns it: 404 if unknown, 403 if not theirs.
async fn owned_product(
    state: &AppState,
    caller: &Caller,
    id: ProductId,
) -> Result<(ShopRef, Product), ApiError> {
    let seller = acting_seller(state, caller).await?;
    let product = state
        .products
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such product"))?;
    if product.seller_id != seller.seller_id {
        return Err(ApiError::forbidden(
            "this product belongs to another seller",
        ));
    }
    Ok((seller, product))
}

fn price(p: &Money) -> Result<Money, String> {
    if p.amount <= 0 || p.amount > MAX_PRICE {
        return Err(format!(
            "amount must be between 1 and {MAX_PRICE} minor units"
        ));
    }
    Ok(*p)
}

fn attributes(raw: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    if raw.len() > MAX_ATTRIBUTES {
        return Err(format!("at most {MAX_ATTRIBUTES} attributes"));
    }
    raw.iter()
        .map(|(k, v)| {
            let key = text(k, 1, MAX_ATTRIBUTE_KEY).map_err(|e| format!("key {k:?}: {e}"))?;
            let value = text(v, 0, MAX_ATTRIBUTE_VALUE).map_err(|e| format!("{key}: {e}"))?;
            Ok((key.to_lowercase(), value))
        })
        .collect()
}

fn image_urls(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_IMAGES {
        return Err(format!("at most {MAX_IMAGES} images"));
    }
    raw.iter()
        .map(|u| {
            let ok = u.len() <= MAX_IMAGE_URL
                && (u.starts_with("/api/sellers/images/") || u.starts_with("https://"))
                && !u.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok {
                Ok(u.clone())
            } else {
                Err(format!(
                    "{u:?} must be an uploaded image path or an https URL"
                ))
            }
        })
        .collect()
}

fn stock(n: u32) -> Result<u32, String> {
    if n > MAX_STOCK {
        Err(format!("must be at most {MAX_STOCK}"))
    } else {
        Ok(n)
    }
}

fn product_event(state: &AppState, kind: &str, p: &Product) -> EventEnvelope {
    EventEnvelope::new(
        &state.region,
        kind,
        1,
        p.id,
        json!({
            "product_id": p.id,
            "seller_id": p.seller_id,
            "title": p.title,
            "price": p.price,
            "category": p.category,
            "stock": p.stock,
            "status": p.status,
        }),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[schema(schema_with = meridian_common::openapi::text::<1, 200>)]
    title: String,
    #[serde(default)]
    #[schema(schema_with = meridian_common::openapi::text::<0, 5000>)]
    description: String,
    #[schema(schema_with = crate::write_schema::price)]
    price: Money,
    #[schema(value_type = meridian_common::openapi::CategorySlug)]
    category: String,
    #[serde(default)]
    #[schema(schema_with = crate::write_schema::attributes)]
    attributes: BTreeMap<String, String>,
    #[schema(schema_with = meridian_common::openapi::count::<0, { MAX_STOCK }>)]
    stock: u32,
    #[serde(default)]
    #[schema(schema_with = crate::write_schema::image_urls)]
    image_urls: Vec<String>,
}

#[utoipa::path(post, path = "/api/catalog/products", security(("session" = [])), tag = "catalog", request_body = NewProduct,
    responses((status = 201, body = Product), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewProduct>,
) -> Result<Response, ApiError> {
    let seller = acting_seller(&state, &caller).await?;
    let mut v = Validator::default();
    let title = v.check("title", text(&body.title, 1, 200));
    let description = v.check("description", text(&body.description, 0, 5000));
    let price = v.check("price", price(&body.price));
    let category = v.check("category", Category::parse(&body.category));
    let attributes = v.check("attributes", attributes(&body.attributes));
    let stock = v.check("stock", stock(body.stock));
    let image_urls = v.check("image_urls", image_urls(&body.image_urls));
    v.finish()?;
    let (
        Some(title),
        Some(description),
        Some(price),
        Some(category),
        Some(attributes),
        Some(stock),
        Some(image_urls),
    ) = (
        title,
        description,
        price,
        category,
        attributes,
        stock,
        image_urls,
    )
    else {
        unreachable!("validated above");
    };
    let now = Utc::now();
    let product = Product {
        id: ProductId::new(),
        seller_id: seller.seller_id,
        title,
        description,
        price,
        category,
        attributes,
        stock,
        image_urls,
        status: ProductStatus::Active,
        seller_name: seller.name,
        rating: RatingSummary::default(),
        created_at: now,
        updated_at: now,
    };
    let event = product_event(&state, "catalog.product.created", &product);
    state.products.put(&product, vec![event]).await?;
    sync_search(&state, &caller, &product).await;
    Ok((StatusCode::CREATED, axum::Json(product)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditProduct {
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = meridian_common::openapi::text::<1, 200>)]
    title: Option<String>,
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = meridian_common::openapi::text::<0, 5000>)]
    description: Option<String>,
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = crate::write_schema::price)]
    price: Option<Money>,
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(value_type = meridian_common::openapi::CategorySlug)]
    category: Option<String>,
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = crate::write_schema::attributes)]
    attributes: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = crate::write_schema::image_urls)]
    image_urls: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/api/catalog/products/{id}", security(("session" = [])), tag = "catalog", request_body = EditProduct, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Product), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ProductId>,
    Json(body): Json<EditProduct>,
) -> Result<axum::Json<Product>, ApiError> {
    let (_, product) = owned_product(&state, &caller, id).await?;
    let mut v = Validator::default();
    let patch = ProductPatch {
        title: body
            .title
            .as_deref()
            .and_then(|t| v.check("title", text(t, 1, 200))),
        description: body
            .description
            .as_deref()
            .and_then(|d| v.check("description", text(d, 0, 5000))),
        price: body.price.as_ref().and_then(|p| v.check("price", price(p))),
        category: body
            .category
            .as_deref()
            .and_then(|c| v.check("category", Category::parse(c))),
        attributes: body
            .attributes
            .as_ref()
            .and_then(|a| v.check("attributes", attributes(a))),
        image_urls: body
            .image_urls
            .as_ref()
            .and_then(|u| v.check("image_urls", image_urls(u))),
        status: None,
    };
    v.finish()?;
    if patch == ProductPatch::default() {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "nothing to change",
        )]));
    }
    apply_patch(&state, &caller, &product, &patch, "catalog.product.updated").await
}

/// Stores `patch` of `product` with its event (`kind`), and tells search.
async fn apply_patch(
    state: &AppState,
    caller: &Caller,
    product: &Product,
    patch: &ProductPatch,
    kind: &str,
) -> Result<axum::Json<Product>, ApiError> {
    let mut preview = product.clone();
    preview.apply(patch, Utc::now());
    let event = product_event(state, kind, &preview);
    let updated = state
        .products
        .update(product.id, patch, preview.updated_at, vec![event])
        .await?
        .ok_or_else(|| ApiError::not_found("no such product"))?;
    sync_search(state, caller, &updated).await;
    Ok(axum::Json(updated))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStock {
    #[schema(schema_with = meridian_common::openapi::count::<0, { MAX_STOCK }>)]
    stock: u32,
}

#[utoipa::path(put, path = "/api/catalog/products/{id}/stock", security(("session" = [])), tag = "catalog", request_body = SetStock, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Product), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn set_stock(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ProductId>,
    Json(body): Json<SetStock>,
) -> Result<axum::Json<Product>, ApiError> {
    let (_, product) = owned_product(&state, &caller, id).await?;
    let level =
        stock(body.stock).map_err(|m| ApiError::validation(vec![FieldError::new("stock", m)]))?;
    let mut preview = product.clone();
    preview.stock = level;
    let event = product_event(&state, "catalog.product.stock_changed", &preview);
    let updated = state
        .products
        .set_stock(product.id, level, Utc::now(), vec![event])
        .await?
        .ok_or_else(|| ApiError::not_found("no such product"))?;
    sync_search(&state, &caller, &updated).await;
    Ok(axum::Json(updated))
}

#[utoipa::path(post, path = "/api/catalog/products/{id}/archive", security(("session" = [])), tag = "catalog", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Product), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn archive_product(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ProductId>,
) -> Result<axum::Json<Product>, ApiError> {
    let (_, product) = owned_product(&state, &caller, id).await?;
    let patch = ProductPatch {
        status: Some(ProductStatus::Archived),
        ..ProductPatch::default()
    };
    apply_patch(
        &state,
        &caller,
        &product,
        &patch,
        "catalog.product.archived",
    )
    .await
}
