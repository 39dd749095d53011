//! Thin handlers: extract → domain → store → respond.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_common::cache_tags;
use meridian_common::email::Email;
use meridian_common::error::Validator;
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{Id, Json, Path};
use meridian_common::internal::{Caller, Scope};
use meridian_common::{wire::internal as wire, ApiError, FieldError, SellerId, UserId};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::{self, ApiKey, ApiKeyId, ImageId, Shop, ShopUpdate, Slug};
use crate::images::{self, MAX_IMAGE_BYTES};
use crate::{keys, AppState};

fn event(
    state: &AppState,
    kind: &str,
    aggregate: impl ToString,
    payload: serde_json::Value,
) -> EventEnvelope {
    EventEnvelope::new(&state.region, kind, 1, aggregate, payload)
}

/// The shop the caller acts for: the API key's seller (which must hold
/// `scope`), else the signed-in user's own shop.
pub async fn acting_shop(
    state: &AppState,
    caller: &Caller,
    scope: Option<Scope>,
) -> Result<Shop, ApiError> {
    if let Some((seller, scopes)) = &caller.key {
        if let Some(needed) = scope {
            if !scopes.contains(&needed) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!("this API key lacks the {} scope", needed.as_str()),
                ));
            }
        }
        return state
            .store
            .shop(*seller)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the API key's shop no longer exists"));
    }
    let user = caller.require_user()?;
    state.store.shop_by_owner(user).await?.ok_or_else(|| {
        ApiError::not_found("you have no shop yet; open one with POST /api/sellers/shops")
    })
}

/// Key management needs the owner's session: a key cannot mint keys.
async fn owner_shop(state: &AppState, caller: &Caller) -> Result<Shop, ApiError> {
    if caller.key.is_some() {
        return Err(ApiError::forbidden(
            "API keys are managed with a signed-in session, not a key",
        ));
    }
    acting_shop(state, caller, None).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenShop {
    #[schema(schema_with = meridian_common::openapi::text::<1, 80>)]
    name: String,
    #[schema(pattern = "^(?=.{3,40}$)[a-z0-9]+(-[a-z0-9]+)*$")]
    slug: String,
    #[serde(default)]
    #[schema(schema_with = meridian_common::openapi::text::<0, 2000>)]
    description: String,
    #[schema(value_type = meridian_common::email::Email)]
    contact_email: String,
}

#[utoipa::path(post, path = "/api/sellers/shops", security(("session" = [])), tag = "sellers", request_body = OpenShop,
    responses((status = 201, body = crate::domain::Shop), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 409, description = "slug_taken / shop_exists", body = meridian_common::openapi::ErrorBody)))]
pub async fn open_shop(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<OpenShop>,
) -> Result<Response, ApiError> {
    if caller.key.is_some() {
        return Err(ApiError::forbidden(
            "shops are opened with a signed-in session",
        ));
    }
    let owner = caller.require_user()?;
    let mut v = Validator::default();
    let name = v.check("name", domain::text(&body.name, 1, 80));
    let slug = v.check("slug", Slug::parse(&body.slug));
    let description = v.check("description", domain::text(&body.description, 0, 2000));
    let email = v.check("contact_email", Email::parse(&body.contact_email));
    v.finish()?;
    let (Some(name), Some(slug), Some(description), Some(contact_email)) =
        (name, slug, description, email)
    else {
        unreachable!("validated above");
    };
    let now = meridian_common::now();
    let shop = Shop {
        id: SellerId::new(),
        owner_id: owner,
        name,
        slug,
        description,
        contact_email,
        created_at: now,
        updated_at: now,
    };
    let opened = event(
        &state,
        "sellers.shop.opened",
        shop.id,
        json!({ "seller_id": shop.id, "owner_id": owner, "name": shop.name, "slug": shop.slug }),
    );
    state.store.create_shop(&shop, vec![opened]).await?;
    Ok((StatusCode::CREATED, axum::Json(shop)).into_response())
}

fn public_view(shop: &Shop) -> serde_json::Value {
    json!({
        "id": shop.id,
        "name": shop.name,
        "slug": shop.slug,
        "description": shop.description,
        "created_at": shop.created_at,
    })
}

/// Public shop page, by slug or id.
#[utoipa::path(get, path = "/api/sellers/shops/{slug}", tag = "sellers", params(("slug" = String, Path, min_length = 3, max_length = 40, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")),
    responses((status = 200, description = "public shop page", body = Object), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody)))]
pub async fn public_shop(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let shop = match key.parse::<SellerId>() {
        Ok(id) => state.store.shop(id).await?,
        Err(_) => match Slug::parse(&key) {
            Ok(slug) => state.store.shop_by_slug(&slug).await?,
            Err(_) => None,
        },
    };
    let shop = shop.ok_or_else(|| ApiError::not_found("no such shop"))?;
    Ok((
        [
            (CACHE_CONTROL, "public, max-age=60".to_owned()),
            (cache_tags::HEADER, cache_tags::shop(shop.id)),
        ],
        axum::Json(public_view(&shop)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/sellers/me", security(("session" = [])), tag = "sellers",
    responses((status = 200, body = crate::domain::Shop), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn my_shop(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Shop>, ApiError> {
    Ok(axum::Json(acting_shop(&state, &caller, None).await?))
}

/// At least one field; each follows the rule it has when the shop opens.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateShop {
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = meridian_common::openapi::text::<1, 80>)]
    name: Option<String>,
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(schema_with = meridian_common::openapi::text::<0, 2000>)]
    description: Option<String>,
    #[serde(default, deserialize_with = "meridian_common::extract::present")]
    #[schema(value_type = meridian_common::email::Email)]
    contact_email: Option<String>,
}

#[utoipa::path(patch, path = "/api/sellers/me", security(("session" = [])), tag = "sellers", request_body = UpdateShop,
    responses((status = 200, body = crate::domain::Shop), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn update_shop(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<UpdateShop>,
) -> Result<axum::Json<Shop>, ApiError> {
    let shop = owner_shop(&state, &caller).await?;
    if body.name.is_none() && body.description.is_none() && body.contact_email.is_none() {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "give at least one of name, description, contact_email",
        )]));
    }
    let mut v = Validator::default();
    let update = ShopUpdate {
        name: body
            .name
            .as_deref()
            .and_then(|n| v.check("name", domain::text(n, 1, 80))),
        description: body
            .description
            .as_deref()
            .and_then(|d| v.check("description", domain::text(d, 0, 2000))),
        contact_email: body
            .contact_email
            .as_deref()
            .and_then(|e| v.check("contact_email", Email::parse(e))),
    };
    v.finish()?;
    let updated = event(
        &state,
        "sellers.shop.updated",
        shop.id,
        json!({ "seller_id": shop.id }),
    );
    let shop = state
        .store
        .update_shop(shop.id, &update, meridian_common::now(), vec![updated])
        .await?
        .ok_or_else(|| ApiError::not_found("no such shop"))?;
    Ok(axum::Json(shop))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(schema_with = meridian_common::openapi::text::<1, 80>)]
    name: String,
    #[schema(value_type = Vec<meridian_common::internal::Scope>, min_items = 1)]
    scopes: Vec<String>,
}

#[utoipa::path(post, path = "/api/sellers/me/keys", security(("session" = [])), tag = "sellers", request_body = CreateKey,
    responses((status = 201, description = "the key, with its secret shown this once", body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateKey>,
) -> Result<Response, ApiError> {
    let shop = owner_shop(&state, &caller).await?;
    let mut v = Validator::default();
    let name = v.check("name", domain::text(&body.name, 1, 80));
    let scopes = v.check("scopes", domain::parse_scopes(&body.scopes));
    v.finish()?;
    let (Some(name), Some(scopes)) = (name, scopes) else {
        unreachable!("validated above");
    };
    let secret = keys::generate();
    let key = ApiKey {
        id: ApiKeyId(Uuid::now_v7()),
        seller_id: shop.id,
        name,
        prefix: keys::display_prefix(&secret),
        hash: keys::hash(&secret),
        scopes,
        created_at: meridian_common::now(),
        revoked_at: None,
    };
    let created = event(
        &state,
        "sellers.key.created",
        shop.id,
        json!({ "seller_id": shop.id, "key_id": key.id, "scopes": key.scopes }),
    );
    state.store.create_key(&key, vec![created]).await?;
    let mut body = serde_json::to_value(&key).map_err(ApiError::internal)?;
    // The only time the secret is ever shown.
    body["key"] = json!(secret);
    Ok((
        StatusCode::CREATED,
        [(CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/sellers/me/keys", security(("session" = [])), tag = "sellers",
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let shop = owner_shop(&state, &caller).await?;
    let keys = state.store.keys(shop.id).await?;
    Ok(axum::Json(json!({ "items": keys })))
}

#[utoipa::path(delete, path = "/api/sellers/me/keys/{id}", security(("session" = [])), tag = "sellers", params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "revoked"), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    let shop = owner_shop(&state, &caller).await?;
    let revoked = event(
        &state,
        "sellers.key.revoked",
        shop.id,
        json!({ "seller_id": shop.id, "key_id": id }),
    );
    if state
        .store
        .revoke_key(shop.id, id, meridian_common::now(), vec![revoked])
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        // Someone else's key and an unknown key look the same.
        Err(ApiError::not_found("no such active key"))
    }
}

/// The body of an image upload: one part, `file` (other parts are not read).
// Deserialize only so `deny_unknown_fields` gives the schema
// `additionalProperties: false`; the handler reads the parts itself.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// JPEG, PNG or WebP (recognised from its bytes), at most 5 MiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[utoipa::path(post, path = "/api/sellers/me/images", security(("session" = [])), tag = "sellers", request_body(content = ImageUpload, content_type = "multipart/form-data", encoding(("file" = (content_type = "image/jpeg, image/png, image/webp")))),
    responses((status = 201, body = Object), (status = 400, description = "invalid_multipart", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 413, description = "image_too_large", body = meridian_common::openapi::ErrorBody)))]
pub async fn upload_image(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let shop = acting_shop(&state, &caller, Some(Scope::CatalogWrite)).await?;
    // axum's own rejection is plain text; every error here is JSON.
    let mut multipart = multipart.map_err(|e| match e {
        MultipartRejection::InvalidBoundary(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: multipart/form-data with a boundary",
        ),
        other => ApiError::bad_request("invalid_multipart", other.body_text()),
    })?;
    // Exactly one part, `file`, as the document says: another part is an
    // error rather than silently dropped.
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?
    {
        if field.name() != Some("file") || file.is_some() {
            let name = field.name().unwrap_or_default().to_owned();
            return Err(ApiError::validation(vec![FieldError::new(
                "file",
                format!("unexpected part {name:?}: send one part, named `file`"),
            )]));
        }
        let bytes = field.bytes().await.map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "image_too_large",
                e.body_text(),
            )
        })?;
        file = Some(bytes);
    }
    let bytes = file.ok_or_else(|| {
        ApiError::validation(vec![FieldError::new(
            "file",
            "a multipart field named `file` is required",
        )])
    })?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            "images are limited to 5 MiB",
        ));
    }
    let kind = images::sniff(&bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image",
            "only JPEG, PNG and WebP images are accepted",
        )
    })?;
    let id = Uuid::now_v7();
    state
        .images
        .put(id, kind, &bytes)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tracing::info!(seller_id = %shop.id, image_id = %id, size = bytes.len(), "image uploaded");
    let body = json!({
        "id": id,
        "url": format!("/api/sellers/images/{id}"),
        "content_type": kind.content_type(),
        "size": bytes.len(),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/sellers/images/{id}", tag = "sellers", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "the image bytes", content_type = "image/*"), (status = 400, description = "invalid_id", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody)))]
pub async fn get_image(
    State(state): State<AppState>,
    Id(ImageId(id)): Id<ImageId>,
) -> Result<Response, ApiError> {
    let (kind, bytes) = state
        .images
        .get(id)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::not_found("no such image"))?;
    Ok((
        [
            (CONTENT_TYPE, kind.content_type().to_owned()),
            (
                CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_owned(),
            ),
            (ETAG, format!("\"{id}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// For the edge: is this a live API key, and whose?
pub async fn introspect_key(
    State(state): State<AppState>,
    Json(body): Json<wire::KeyQuery>,
) -> Result<axum::Json<wire::Key>, ApiError> {
    if !keys::is_well_formed(&body.key) {
        return Ok(axum::Json(wire::Key::INACTIVE));
    }
    let answer = match state.store.key_by_hash(&keys::hash(&body.key)).await? {
        Some(k) if k.revoked_at.is_none() => wire::Key {
            active: true,
            seller_id: Some(k.seller_id.to_string()),
            key_id: Some(k.id.0.to_string()),
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        },
        _ => wire::Key::INACTIVE,
    };
    Ok(axum::Json(answer))
}

/// For other services: a shop by id.
pub async fn shop_ref(
    State(state): State<AppState>,
    Id(id): Id<SellerId>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let shop = state
        .store
        .shop(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such shop"))?;
    Ok(axum::Json(
        json!({ "seller_id": shop.id, "name": shop.name, "slug": shop.slug }),
    ))
}

/// For other services: which shop does this user own?
pub async fn shop_of_owner(
    State(state): State<AppState>,
    Id(user): Id<UserId>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let shop = state
        .store
        .shop_by_owner(user)
        .await?
        .ok_or_else(|| ApiError::not_found("this user has no shop"))?;
    Ok(axum::Json(
        json!({ "seller_id": shop.id, "name": shop.name, "slug": shop.slug }),
    ))
}
