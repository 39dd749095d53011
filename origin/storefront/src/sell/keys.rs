//! API keys for the shop's own integrations: listed by their prefix,
//! created with scopes (the secret shown once, on the page that created
//! it, never stored by any cache), revoked.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use meridian_common::public_api::ApiKey;
use uuid::Uuid;

use super::{chrome, seller, tabs, Seller};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::pages::catalog::Done;
use crate::pages::{redirect, with_status, Path, Query};
use crate::view::FormErrors;
use crate::AppState;

/// (scope, what it allows).
pub const SCOPES: &[(&str, &str)] = &[
    (
        "catalog:write",
        "Create and edit products, set stock, reply to reviews",
    ),
    ("orders:read", "Read orders and sales figures"),
    ("orders:write", "Ship, cancel and refund orders"),
];

struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "sell/keys.html")]
struct KeysPage {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str, bool)>,
    keys: Vec<KeyRow>,
    scopes: &'static [(&'static str, &'static str)],
    /// (name, secret) of a key just created.
    created: Option<(String, String)>,
    errors: FormErrors,
    name: String,
}

fn row(k: &ApiKey) -> KeyRow {
    KeyRow {
        id: k.id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        scopes: k.scopes.join(", "),
        created: format::date(k.created_at),
        revoked: k.revoked_at.map(format::date),
    }
}

async fn page(
    state: &AppState,
    s: &Seller,
    done: Option<&str>,
    created: Option<(String, String)>,
    errors: FormErrors,
    name: String,
) -> Result<Response, PageError> {
    let keys = state.api.api_keys(&s.actor).await?;
    let view = KeysPage {
        chrome: chrome(state, &s.actor, "API keys", done).await,
        tabs: tabs("/sell/keys"),
        keys: keys.iter().map(row).collect(),
        scopes: SCOPES,
        created,
        errors,
        name,
    };
    layout::personal(&view)
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    page(
        &state,
        &s,
        q.done.as_deref(),
        None,
        FormErrors::default(),
        String::new(),
    )
    .await
}

/// Scopes arrive as repeated `scope` fields (checkboxes), which a struct
/// form cannot hold; read the pairs.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&body)
        .map_err(|_| PageError::BadRequest("The form could not be read.".to_owned()))?;
    let name = pairs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == "scope" && SCOPES.iter().any(|(s, _)| s == v))
        .map(|(_, v)| v.clone())
        .collect();
    let mut errors = FormErrors::default();
    if scopes.is_empty() {
        errors.field("scopes", "Choose at least one thing the key may do.");
    } else {
        match state.api.create_api_key(&s.actor, &name, &scopes).await {
            Ok(key) => {
                return page(
                    &state,
                    &s,
                    None,
                    Some((key.name, key.key)),
                    errors,
                    String::new(),
                )
                .await;
            }
            Err(e) => errors = FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?,
        }
    }
    Ok(with_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        page(&state, &s, None, None, errors, name).await?,
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    state.api.revoke_api_key(&s.actor, id).await?;
    Ok(redirect(&s.actor, "/sell/keys?done=revoked"))
}
