//! Checkout: a shipping address, a test card, and one order however often
//! the button is pressed or the result reloaded. The form carries the
//! checkout's Idempotency-Key, so every submission of the same form is the
//! same checkout to the orders service; a declined card is shown beside the
//! card choice and the cart stays as it was.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use meridian_common::client::ClientError;
use meridian_common::public_api::{Actor, Address, Quote};
use serde::Deserialize;
use uuid::Uuid;

use super::{personal_with_cart, redirect, signed_in, with_status, Form};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::view::{FormErrors, Totals};
use crate::AppState;

/// The simulated processor's test cards: (token, label).
pub const CARDS: &[(&str, &str)] = &[
    ("tok_visa", "Visa ending 4242: approved"),
    ("tok_declined", "Card that is declined"),
    ("tok_insufficient_funds", "Card without enough funds"),
    ("tok_timeout", "Card whose bank does not answer"),
];

pub const STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
];

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    payment_token: String,
    #[serde(default)]
    idempotency_key: String,
}

#[derive(Template)]
#[template(path = "checkout.html")]
struct CheckoutPage {
    chrome: Chrome,
    form: CheckoutForm,
    errors: FormErrors,
    /// (shop, its total) and the order's totals.
    shops: Vec<(String, String)>,
    totals: Totals,
    cards: &'static [(&'static str, &'static str)],
    states: &'static [&'static str],
}

impl CheckoutPage {
    fn card_checked(&self, token: &str) -> bool {
        self.form.payment_token == token
    }
}

/// The cart priced: what checkout would charge, and the cart's item count.
struct Priced {
    quote: Quote,
    cart_count: u32,
}

/// The cart's buyable lines priced; `None` when nothing can be bought.
async fn priced(state: &AppState, actor: &Actor) -> Result<Option<Priced>, PageError> {
    let cart = state.api.cart(actor).await?;
    let lines = cart.buyable();
    if lines.is_empty() || lines.len() != cart.items.len() {
        // Empty, or lines that cannot be bought: the cart page says which.
        return Ok(None);
    }
    Ok(Some(Priced {
        quote: state.api.quote(actor, &lines).await?,
        cart_count: cart.item_count,
    }))
}

async fn page(
    state: &AppState,
    actor: &Actor,
    Priced { quote, cart_count }: Priced,
    form: CheckoutForm,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let personal = personal_with_cart(&state.api, actor, cart_count).await;
    let page = CheckoutPage {
        chrome: Chrome::personal("Check out", personal),
        shops: quote
            .sellers
            .iter()
            .map(|s| (s.seller_name.clone(), format::money(s.total)))
            .collect(),
        totals: Totals::new(quote.items, quote.shipping, quote.tax, quote.total),
        form,
        errors,
        cards: CARDS,
        states: STATES,
    };
    layout::personal(&page)
}

fn fresh_key() -> String {
    Uuid::new_v4().to_string()
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let Some(priced) = priced(&state, &actor).await? else {
        return Ok(redirect(&actor, "/cart"));
    };
    let form = CheckoutForm {
        payment_token: CARDS[0].0.to_owned(),
        idempotency_key: fresh_key(),
        ..CheckoutForm::default()
    };
    page(&state, &actor, priced, form, FormErrors::default()).await
}

pub async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(mut form): Form<CheckoutForm>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    if form.idempotency_key.is_empty() || form.idempotency_key.len() > 100 {
        return Err(PageError::BadRequest(
            "This checkout form is incomplete; open the checkout page again.".to_owned(),
        ));
    }
    let address = Address {
        name: form.name.trim().to_owned(),
        line1: form.line1.trim().to_owned(),
        line2: form.line2.trim().to_owned(),
        city: form.city.trim().to_owned(),
        state: form.state.trim().to_uppercase(),
        postal_code: form.postal_code.trim().to_owned(),
        country: "US".to_owned(),
    };
    let answer = state
        .api
        .checkout(&actor, &form.idempotency_key, &address, &form.payment_token)
        .await;
    let error = match answer {
        Ok(order) => {
            return Ok(redirect(
                &actor,
                &format!("/account/orders/{}?done=placed", order.id),
            ))
        }
        Err(e) => e,
    };
    let status = match &error {
        ClientError::Api { code, .. } if code == "empty_cart" => {
            return Ok(redirect(&actor, "/cart"))
        }
        ClientError::Api { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
        }
        // The orders service could not finish: the same key is sent again
        // and resumes the same order, so a second press never charges twice.
        ClientError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
        ClientError::Decode(..) => return Err(error.into()),
    };
    let mut errors = FormErrors::from_api(&error, "shipping_address.").unwrap_or_else(|| FormErrors {
        form: Some("Checkout could not finish just now. Please press the button again: it completes this same order, and you are never charged twice.".to_owned()),
        ..FormErrors::default()
    });
    if let ClientError::Api { code, message, .. } = &error {
        // A refused card belongs beside the card choice, in words.
        let said = match code.as_str() {
            "payment_declined" => Some(format!(
                "Your bank declined this card ({message}). You were not charged; try another card."
            )),
            "payment_timeout" => Some(
                "The card's bank did not answer in time. You were not charged; try again or use another card."
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(text) = said {
            errors.form = None;
            errors.field("payment_token", text);
        }
    }
    // A checkout that ran (declined, out of stock) used up its key: the
    // next press is a new attempt. One that never started keeps it.
    if status != StatusCode::SERVICE_UNAVAILABLE {
        form.idempotency_key = fresh_key();
    }
    let Some(priced) = priced(&state, &actor).await? else {
        return Ok(redirect(&actor, "/cart"));
    };
    Ok(with_status(
        status,
        page(&state, &actor, priced, form, errors).await?,
    ))
}
