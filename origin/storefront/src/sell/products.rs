//! The seller's products: the list (stock set in place, archive), the
//! create and edit forms (with an image upload), and replies to reviews.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use meridian_common::client::ClientError;
use meridian_common::public_api::{NewProduct, ProductEdit, ProductQuery, Review, ReviewQuery};
use meridian_common::taxonomy::CATEGORIES;
use meridian_common::{Currency, Money, ProductId};
use serde::Deserialize;
use uuid::Uuid;

use super::{chrome, seller, tabs, Seller};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::pages::catalog::Done;
use crate::pages::{redirect, with_status, Form, Path, Query, Upload};
use crate::view::FormErrors;
use crate::AppState;

struct Row {
    id: ProductId,
    title: String,
    price: String,
    stock: u32,
    category: &'static str,
}

#[derive(Template)]
#[template(path = "sell/products.html")]
struct ListPage {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<Row>,
    next: Option<String>,
    first: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    cursor: Option<String>,
    done: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListParams>,
) -> Result<Response, PageError> {
    let Seller { actor, shop } = seller(&state, &headers).await?;
    let query = ProductQuery {
        seller: Some(shop.id),
        sort: Some("newest".into()),
        limit: Some(50),
        cursor: q.cursor.clone().filter(|c| !c.is_empty()),
        ..ProductQuery::default()
    };
    let page = state.api.products(&actor, &query).await?;
    let rows = page
        .items
        .iter()
        .map(|p| Row {
            id: p.id,
            title: p.title.clone(),
            price: format::money(p.price),
            stock: p.stock,
            category: format::category_name(&p.category),
        })
        .collect();
    let view = ListPage {
        chrome: chrome(&state, &actor, "Your products", q.done.as_deref()).await,
        tabs: tabs("/sell/products"),
        rows,
        next: page
            .next_cursor
            .map(|c| crate::pages::filters::link("/sell/products", &[("cursor", c)])),
        first: query.cursor.is_none(),
    };
    layout::personal(&view)
}

/// What the product form holds, as typed.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    title: String,
    description: String,
    price: String,
    category: String,
    stock: String,
    attributes: String,
    /// An image already uploaded by an earlier submission of this form.
    image_url: String,
}

impl Draft {
    /// The uploaded image, as a product's image list.
    fn uploaded(&self) -> Vec<String> {
        if self.image_url.is_empty() {
            Vec::new()
        } else {
            vec![self.image_url.clone()]
        }
    }
}

struct ReviewRow {
    id: Uuid,
    stars: u8,
    text: String,
    date: String,
    reply: Option<String>,
}

#[derive(Template)]
#[template(path = "sell/product_form.html")]
struct FormPage {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str, bool)>,
    /// `None` for a new product.
    id: Option<ProductId>,
    draft: Draft,
    images: Vec<String>,
    categories: &'static [(&'static str, &'static str)],
    errors: FormErrors,
    reviews: Vec<ReviewRow>,
}

impl FormPage {
    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/sell/products/{id}"),
            None => "/sell/products".to_owned(),
        }
    }
}

fn attributes_text(a: &BTreeMap<String, String>) -> String {
    a.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `name: value` lines → attributes.
fn parse_attributes(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("“{l}” needs a name, a colon and a value, like color: blue"))
        })
        .collect()
}

/// The multipart product form: its text fields and the image, if one was
/// chosen.
async fn read_form(
    mut multipart: axum::extract::Multipart,
) -> Result<(Draft, Option<(String, Bytes)>), PageError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        PageError::BadRequest(format!("The form could not be read ({}).", e.body_text()))
    };
    let mut d = Draft::default();
    let mut image = None;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "image" {
            let file = field.file_name().unwrap_or("image").to_owned();
            let bytes = field.bytes().await.map_err(bad)?;
            if !bytes.is_empty() {
                image = Some((file, bytes));
            }
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        match name.as_str() {
            "title" => d.title = text,
            "description" => d.description = text,
            "price" => d.price = text,
            "category" => d.category = text,
            "stock" => d.stock = text,
            "attributes" => d.attributes = text,
            "image_url" => d.image_url = text,
            _ => {}
        }
    }
    Ok((d, image))
}

/// The parts of a draft this page can check itself (the API checks the
/// rest): (price, stock, attributes).
fn check(
    draft: &Draft,
    errors: &mut FormErrors,
    new: bool,
) -> (Option<i64>, Option<u32>, Option<BTreeMap<String, String>>) {
    let price = match format::parse_price(&draft.price) {
        Ok(p) => Some(p),
        Err(m) => {
            errors.field("price", format!("Enter a price: {m}."));
            None
        }
    };
    let stock = match draft.stock.trim().parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) if !new && draft.stock.trim().is_empty() => None,
        Err(_) => {
            errors.field("stock", "Enter how many you have, like 12.");
            None
        }
    };
    let attributes = match parse_attributes(&draft.attributes) {
        Ok(a) => Some(a),
        Err(m) => {
            errors.field("attributes", m);
            None
        }
    };
    if !CATEGORIES.iter().any(|(s, _)| *s == draft.category) {
        errors.field("category", "Choose a category.");
    }
    (price, stock, attributes)
}

/// Uploads the chosen image; its URL, or the reason beside the field.
async fn upload(
    state: &AppState,
    s: &Seller,
    image: Option<(String, Bytes)>,
    errors: &mut FormErrors,
) -> Result<Option<String>, PageError> {
    let Some((name, bytes)) = image else {
        return Ok(None);
    };
    match state.api.upload_image(&s.actor, &name, bytes).await {
        Ok(img) => Ok(Some(img.url)),
        Err(ClientError::Api { message, .. }) => {
            errors.field("image", message);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The form as it stands: which product (none yet for a new one), what it
/// holds, its photos and its problems.
struct View {
    id: Option<ProductId>,
    draft: Draft,
    images: Vec<String>,
    errors: FormErrors,
}

async fn show(
    state: &AppState,
    s: &Seller,
    view: View,
    done: Option<&str>,
) -> Result<Response, PageError> {
    let View {
        id,
        draft,
        images,
        errors,
    } = view;
    let reviews = match id {
        Some(id) => {
            let q = ReviewQuery {
                limit: Some(50),
                ..ReviewQuery::default()
            };
            state.api.reviews(&s.actor, id, &q).await?.items
        }
        None => Vec::new(),
    };
    let title = if id.is_some() {
        "Edit product"
    } else {
        "List a product"
    };
    let page = FormPage {
        chrome: chrome(state, &s.actor, title, done).await,
        tabs: tabs("/sell/products"),
        id,
        draft,
        images,
        categories: CATEGORIES,
        errors,
        reviews: reviews.iter().map(review_row).collect(),
    };
    layout::personal(&page)
}

fn review_row(r: &Review) -> ReviewRow {
    ReviewRow {
        id: r.id,
        stars: r.rating,
        text: r.text.clone(),
        date: format::date(r.created_at),
        reply: r.reply.as_ref().map(|x| x.text.clone()),
    }
}

pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let draft = Draft {
        stock: "1".into(),
        ..Draft::default()
    };
    let view = View {
        id: None,
        draft,
        images: Vec::new(),
        errors: FormErrors::default(),
    };
    show(&state, &s, view, None).await
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Upload(multipart): Upload,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let (mut draft, image) = read_form(multipart).await?;
    let mut errors = FormErrors::default();
    let (price, stock, attributes) = check(&draft, &mut errors, true);
    if let Some(url) = upload(&state, &s, image, &mut errors).await? {
        // Kept by the form, so a correction does not upload it again.
        draft.image_url = url;
    }
    if let (true, Some(price), Some(stock), Some(attributes)) =
        (errors.is_empty(), price, stock, attributes)
    {
        let product = NewProduct {
            title: draft.title.trim().to_owned(),
            description: draft.description.trim().to_owned(),
            price: Money::new(price, Currency::Usd),
            category: draft.category.clone(),
            attributes,
            stock,
            image_urls: draft.uploaded(),
        };
        match state.api.create_product(&s.actor, &product).await {
            Ok(_) => return Ok(redirect(&s.actor, "/sell/products?done=created")),
            Err(e) => errors = FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?,
        }
    }
    let images = draft.uploaded();
    let view = View {
        id: None,
        draft,
        images,
        errors,
    };
    Ok(with_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        show(&state, &s, view, None).await?,
    ))
}

fn product_id(raw: &str) -> Result<ProductId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

/// One of the seller's own products (another shop's is not found here;
/// the API refuses changes to it anyway).
async fn own_product(
    state: &AppState,
    s: &Seller,
    id: ProductId,
) -> Result<meridian_common::public_api::Product, PageError> {
    state
        .api
        .product(&s.actor, id)
        .await?
        .filter(|p| p.seller_id == s.shop.id)
        .ok_or(PageError::NotFound)
}

pub async fn edit_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let p = own_product(&state, &s, product_id(&id)?).await?;
    let draft = Draft {
        title: p.title.clone(),
        description: p.description.clone(),
        price: format::price_input(p.price.amount),
        category: p.category.clone(),
        stock: p.stock.to_string(),
        attributes: attributes_text(&p.attributes),
        image_url: String::new(),
    };
    let view = View {
        id: Some(p.id),
        draft,
        images: p.image_urls.clone(),
        errors: FormErrors::default(),
    };
    show(&state, &s, view, q.done.as_deref()).await
}

pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Upload(multipart): Upload,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let p = own_product(&state, &s, product_id(&id)?).await?;
    let (mut draft, image) = read_form(multipart).await?;
    let mut errors = FormErrors::default();
    let (price, stock, attributes) = check(&draft, &mut errors, false);
    if let Some(url) = upload(&state, &s, image, &mut errors).await? {
        draft.image_url = url;
    }
    let mut images = p.image_urls.clone();
    if !draft.image_url.is_empty() && !images.contains(&draft.image_url) {
        // The new photo leads; at most ten are kept.
        images.insert(0, draft.image_url.clone());
        images.truncate(10);
    }
    if let (true, Some(price), Some(attributes)) = (errors.is_empty(), price, attributes) {
        let edit = ProductEdit {
            title: Some(draft.title.trim().to_owned()),
            description: Some(draft.description.trim().to_owned()),
            price: Some(Money::new(price, p.price.currency)),
            category: Some(draft.category.clone()),
            attributes: Some(attributes),
            image_urls: Some(images.clone()),
        };
        let saved = match state.api.edit_product(&s.actor, p.id, &edit).await {
            Ok(_) => match stock.filter(|n| *n != p.stock) {
                Some(n) => state.api.set_stock(&s.actor, p.id, n).await.map(|_| ()),
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        match saved {
            Ok(()) => {
                return Ok(redirect(
                    &s.actor,
                    &format!("/sell/products/{}?done=saved", p.id),
                ))
            }
            Err(e) => errors = FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?,
        }
    }
    let view = View {
        id: Some(p.id),
        draft,
        images,
        errors,
    };
    Ok(with_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        show(&state, &s, view, None).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct StockForm {
    stock: String,
}

pub async fn stock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<StockForm>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let n =
        form.stock.trim().parse::<u32>().map_err(|_| {
            PageError::BadRequest("Stock must be a whole number, like 12.".to_owned())
        })?;
    state.api.set_stock(&s.actor, product_id(&id)?, n).await?;
    Ok(redirect(&s.actor, "/sell/products?done=stock"))
}

pub async fn archive(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    state
        .api
        .archive_product(&s.actor, product_id(&id)?)
        .await?;
    Ok(redirect(&s.actor, "/sell/products?done=archived"))
}

#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    text: String,
    product_id: String,
}

pub async fn reply(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let review: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let product = product_id(&form.product_id)?;
    if form.text.trim().is_empty() {
        return Err(PageError::BadRequest(
            "Write a reply before sending it.".to_owned(),
        ));
    }
    state
        .api
        .reply_to_review(&s.actor, review, form.text.trim())
        .await?;
    Ok(redirect(
        &s.actor,
        &format!("/sell/products/{product}?done=replied"),
    ))
}
