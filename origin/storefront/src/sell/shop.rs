//! The console's overview: open a shop, or see what needs doing.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use meridian_common::client::ClientError;
use meridian_common::public_api::{MyShop, NewShop};
use serde::Deserialize;

use super::{chrome, tabs};
use crate::error::PageError;
use crate::layout::{self, Chrome};
use crate::pages::catalog::Done;
use crate::pages::{redirect, signed_in, Form, Query};
use crate::view::FormErrors;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    contact_email: String,
}

#[derive(Template)]
#[template(path = "sell/open.html")]
struct OpenPage {
    chrome: Chrome,
    form: OpenForm,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "sell/dashboard.html")]
struct Dashboard {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str, bool)>,
    shop: MyShop,
    to_ship: usize,
    orders: usize,
}

pub async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let Some(shop) = state.api.my_shop(&actor).await? else {
        let page = OpenPage {
            chrome: chrome(&state, &actor, "Open your shop", None).await,
            form: OpenForm::default(),
            errors: FormErrors::default(),
        };
        return layout::personal(&page);
    };
    let orders = state.api.seller_orders(&actor).await?;
    let to_ship = orders
        .iter()
        .flat_map(|o| &o.sub_orders)
        .filter(|s| s.status == "paid")
        .count();
    let page = Dashboard {
        chrome: chrome(&state, &actor, "Seller console", q.done.as_deref()).await,
        tabs: tabs("/sell"),
        shop,
        to_ship,
        orders: orders.len(),
    };
    layout::personal(&page)
}

pub async fn open(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<OpenForm>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let shop = NewShop {
        name: form.name.trim().to_owned(),
        slug: form.slug.trim().to_lowercase(),
        description: form.description.trim().to_owned(),
        contact_email: form.contact_email.trim().to_owned(),
    };
    let errors = match state.api.open_shop(&actor, &shop).await {
        Ok(_) => return Ok(redirect(&actor, "/sell?done=opened")),
        Err(ClientError::Api { code, .. }) if code == "slug_taken" => {
            let mut e = FormErrors::default();
            e.field("slug", "Another shop uses this address; choose another.");
            e
        }
        Err(ClientError::Api { code, .. }) if code == "shop_exists" => {
            return Ok(redirect(&actor, "/sell"));
        }
        Err(e) => FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?,
    };
    let page = OpenPage {
        chrome: chrome(&state, &actor, "Open your shop", None).await,
        form,
        errors,
    };
    layout::rejected(&page)
}
