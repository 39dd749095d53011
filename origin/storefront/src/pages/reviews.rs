//! Writing or editing a review (the reviews service decides who is a
//! verified buyer), and helpful votes.

use askama::Template;
use axum::extract::State;
use axum::http::header::REFERER;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use meridian_common::client::ClientError;
use meridian_common::public_api::Actor;
use meridian_common::ProductId;
use serde::Deserialize;
use uuid::Uuid;

use super::{personal, redirect, signed_in, with_status, Form, Path};
use crate::error::PageError;
use crate::layout::{self, Chrome};
use crate::view::FormErrors;
use crate::AppState;

#[derive(Template)]
#[template(path = "review_form.html")]
struct ReviewForm {
    chrome: Chrome,
    product_id: ProductId,
    title: String,
    rating: u8,
    text: String,
    editing: bool,
    errors: FormErrors,
}

impl ReviewForm {
    fn rated(&self, stars: &u8) -> bool {
        self.rating == *stars
    }

    fn star_choices(&self) -> [u8; 5] {
        [5, 4, 3, 2, 1]
    }
}

fn product_id(raw: &str) -> Result<ProductId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

async fn show(
    state: &AppState,
    actor: &Actor,
    product: ProductId,
    draft: Option<(u8, String)>,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let (p, mine) = futures::join!(
        state.api.product(actor, product),
        state.api.my_review(actor, product)
    );
    let p = p?.ok_or(PageError::NotFound)?;
    let mine = mine?;
    let editing = mine.is_some();
    let (rating, text) = draft
        .or_else(|| mine.map(|r| (r.rating, r.text)))
        .unwrap_or((0, String::new()));
    let page = ReviewForm {
        chrome: Chrome::personal(
            &format!("Review {}", p.title),
            personal(&state.api, actor).await,
        ),
        product_id: product,
        title: p.title,
        rating,
        text,
        editing,
        errors,
    };
    layout::personal(&page)
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product): Path<String>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    show(
        &state,
        &actor,
        product_id(&product)?,
        None,
        FormErrors::default(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct ReviewInput {
    #[serde(default)]
    rating: String,
    #[serde(default)]
    text: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product): Path<String>,
    Form(input): Form<ReviewInput>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let product = product_id(&product)?;
    let text = input.text.trim().to_owned();
    let mut errors = FormErrors::default();
    let rating = match input.rating.parse::<u8>() {
        Ok(r @ 1..=5) => r,
        _ => {
            errors.field("rating", "Choose from 1 to 5 stars.");
            0
        }
    };
    if errors.is_empty() {
        match state
            .api
            .submit_review(&actor, product, rating, &text)
            .await
        {
            Ok(_) => {
                return Ok(redirect(
                    &actor,
                    &format!("/p/{product}?done=reviewed#reviews"),
                ))
            }
            Err(ClientError::Api { status: 403, .. }) => {
                errors.form = Some(
                    "Only shoppers who received this product can review it. \
                     Once your order is delivered, come back here."
                        .to_owned(),
                );
            }
            Err(e) => errors = FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?,
        }
    }
    let status = if errors.form.is_some() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(with_status(
        status,
        show(&state, &actor, product, Some((rating, text)), errors).await?,
    ))
}

/// `POST /reviews/{id}/helpful`, then back to the page it came from.
pub async fn helpful(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    state.api.vote_helpful(&actor, id).await?;
    let back = headers
        .get(REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/p/").map(|i| r[i..].to_owned()))
        .map(|path| path.split('#').next().unwrap_or("/").to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(redirect(&actor, &format!("{back}{sep}done=voted#reviews")))
}
