//! Register, sign in (the guest cart merges into the account's, as the
//! API does), sign out, the account page, and the personal header fragment
//! of shared pages.

use askama::Template;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use meridian_common::client::ClientError;
use meridian_common::public_api::{Account, Actor};
use serde::Deserialize;

use super::{notice, personal, redirect, signed_in, with_cookies, Form, Query};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome, Personal};
use crate::security::safe_return;
use crate::view::FormErrors;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    display_name: String,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    chrome: Chrome,
    email: String,
    next: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "register.html")]
struct Register {
    chrome: Chrome,
    email: String,
    display_name: String,
    next: String,
    errors: FormErrors,
}

async fn chrome(state: &AppState, headers: &HeaderMap, title: &str) -> Chrome {
    let actor = Actor::from_headers(headers);
    Chrome::personal(title, personal(&state.api, &actor).await)
}

async fn signin_page(
    state: &AppState,
    headers: &HeaderMap,
    email: &str,
    next: String,
    errors: FormErrors,
) -> SignIn {
    SignIn {
        chrome: chrome(state, headers, "Sign in").await,
        email: email.to_owned(),
        next,
        errors,
    }
}

pub async fn signin_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Result<Response, PageError> {
    let next = safe_return(q.next.as_deref());
    layout::personal(&signin_page(&state, &headers, "", next, FormErrors::default()).await)
}

pub async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, PageError> {
    let actor = Actor::from_headers(&headers);
    let next = safe_return(form.next.as_deref());
    let email = form.email.trim();
    let mut errors = FormErrors::default();
    if email.is_empty() {
        errors.field("email", "Enter your email address.");
    }
    if form.password.is_empty() {
        errors.field("password", "Enter your password.");
    }
    if errors.is_empty() {
        match state.api.login(&actor, email, &form.password).await {
            Ok(_) => return Ok(redirect(&actor, &next)),
            Err(ClientError::Api { status: 401, .. }) => {
                errors.form = Some("That email and password don't match an account.".to_owned());
            }
            Err(e) => {
                errors = FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?;
            }
        }
    }
    layout::rejected(&signin_page(&state, &headers, email, next, errors).await)
}

async fn register_page(
    state: &AppState,
    headers: &HeaderMap,
    (email, display_name): (&str, &str),
    next: String,
    errors: FormErrors,
) -> Register {
    Register {
        chrome: chrome(state, headers, "Create your account").await,
        email: email.to_owned(),
        display_name: display_name.to_owned(),
        next,
        errors,
    }
}

pub async fn register_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Result<Response, PageError> {
    let next = safe_return(q.next.as_deref());
    let page = register_page(&state, &headers, ("", ""), next, FormErrors::default()).await;
    layout::personal(&page)
}

/// Creates the account and signs it in (merging the guest cart).
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, PageError> {
    let actor = Actor::from_headers(&headers);
    let next = safe_return(form.next.as_deref());
    let email = form.email.trim();
    let name = form.display_name.trim();
    let created = state
        .api
        .register(&actor, email, &form.password, name)
        .await;
    let errors = match created {
        Ok(_) => {
            state.api.login(&actor, email, &form.password).await?;
            let sep = if next.contains('?') { '&' } else { '?' };
            return Ok(redirect(&actor, &format!("{next}{sep}done=registered")));
        }
        Err(ClientError::Api { code, .. }) if code == "email_taken" => {
            let mut e = FormErrors::default();
            e.field(
                "email",
                "An account with this email already exists. Sign in instead?",
            );
            e
        }
        Err(e) => FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?,
    };
    layout::rejected(&register_page(&state, &headers, (email, name), next, errors).await)
}

pub async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let actor = Actor::from_headers(&headers);
    match state.api.logout(&actor).await {
        // Signed out already (or never in): the same place either way.
        Ok(()) | Err(ClientError::Api { status: 401, .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&actor, "/?done=signed_out"))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    account: Account,
    since: String,
    display_name: String,
    bio: String,
    errors: FormErrors,
}

pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<super::catalog::Done>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let account = state.api.me(&actor).await?;
    let mut chrome = Chrome::personal("Your account", personal(&state.api, &actor).await);
    chrome.notice = notice(q.done.as_deref());
    let page = AccountPage {
        chrome,
        since: format::date(account.created_at),
        display_name: account.display_name.clone(),
        bio: account.bio.clone(),
        account,
        errors: FormErrors::default(),
    };
    layout::personal(&page)
}

#[derive(Debug, Default, Deserialize)]
pub struct Profile {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    bio: String,
}

pub async fn update_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Profile>,
) -> Result<Response, PageError> {
    let actor = signed_in(&headers)?;
    let errors = match state
        .api
        .update_profile(&actor, form.display_name.trim(), form.bio.trim())
        .await
    {
        Ok(_) => return Ok(redirect(&actor, "/account?done=profile")),
        Err(e) => FormErrors::from_api(&e, "").ok_or_else(|| PageError::from(e))?,
    };
    let account = state.api.me(&actor).await?;
    let page = AccountPage {
        chrome: Chrome::personal("Your account", personal(&state.api, &actor).await),
        since: format::date(account.created_at),
        display_name: form.display_name,
        bio: form.bio,
        account,
        errors,
    };
    layout::rejected(&page)
}

#[derive(Template)]
#[template(path = "fragment_header.html")]
struct HeaderFragment {
    personal: Personal,
}

/// `GET /fragments/header`: the personal links of the header, for the
/// script on shared (cached) pages. Never stored.
pub async fn header_fragment(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let actor = Actor::from_headers(&headers);
    let fragment = HeaderFragment {
        personal: personal(&state.api, &actor).await,
    };
    let body = fragment.render().map_err(|_| PageError::Internal)?;
    Ok(with_cookies(
        &actor,
        (
            [
                (CONTENT_TYPE, "text/html; charset=utf-8"),
                (CACHE_CONTROL, "private, no-store"),
            ],
            body,
        )
            .into_response(),
    ))
}
