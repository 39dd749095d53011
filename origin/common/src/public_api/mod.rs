//! Typed clients of the services' public APIs (`/api/…`), for the
//! storefront: every page reads and changes the marketplace through the
//! same operations, validation and authorization as API clients, never
//! through a second copy of them.
//!
//! A call is made for an [`Actor`]: the shopper or seller whose page
//! request is being served, as the edge identified them. The actor's
//! identity headers and cookies travel with the call, and the cookies a
//! service sets in its answer (a new guest cart, a session at sign-in) are
//! collected on the actor for the page's own response.

use std::sync::Mutex;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{ClientError, InternalClient, Payload};
use crate::clients::optional as found;
pub use crate::clients::Items;
use crate::internal::{Caller, REQUEST_ID_HEADER};
use crate::UserId;

mod auth;
mod catalog;
mod orders;
mod reviews;
mod sellers;

pub use auth::*;
pub use catalog::*;
pub use orders::*;
pub use reviews::*;
pub use sellers::*;

/// Whom a page request speaks for, and the cookies set on their behalf.
pub struct Actor {
    pub user: Option<UserId>,
    forward: Vec<(HeaderName, HeaderValue)>,
    set_cookies: Mutex<Vec<HeaderValue>>,
}

impl Actor {
    /// The signed-in user (the edge's `x-user-id`) and the request's cookies,
    /// passed on to the services. (Pages act for sessions only: a seller
    /// key's identity is not passed on.)
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let caller = Caller {
            key: None,
            ..Caller::from_headers(headers)
        };
        let mut forward = caller.forward();
        forward.extend(headers.get_all(COOKIE).iter().map(|v| (COOKIE, v.clone())));
        Self::new(caller.user, forward)
    }

    /// Nobody in particular: for pages that are the same for everyone (and
    /// cached at the edge), so nothing personal can reach them.
    pub fn anonymous(headers: &HeaderMap) -> Self {
        let caller = Caller {
            request_id: headers.get(REQUEST_ID_HEADER).cloned(),
            ..Caller::default()
        };
        Self::new(None, caller.forward())
    }

    fn new(user: Option<UserId>, forward: Vec<(HeaderName, HeaderValue)>) -> Self {
        Self {
            user,
            forward,
            set_cookies: Mutex::new(Vec::new()),
        }
    }

    /// The `Set-Cookie` values the services answered with, in order.
    pub fn take_cookies(&self) -> Vec<HeaderValue> {
        std::mem::take(&mut *self.set_cookies.lock().expect("cookie jar lock"))
    }

    fn keep_cookies(&self, headers: &HeaderMap) {
        let mut jar = self.set_cookies.lock().expect("cookie jar lock");
        jar.extend(headers.get_all(SET_COOKIE).iter().cloned());
    }
}

/// One client per service, each reaching that service's public routes.
#[derive(Clone)]
pub struct PublicApi {
    auth: InternalClient,
    catalog: InternalClient,
    search: InternalClient,
    sellers: InternalClient,
    cart: InternalClient,
    orders: InternalClient,
    logistics: InternalClient,
    reviews: InternalClient,
    analytics: InternalClient,
}

impl PublicApi {
    /// `client(service)` builds the transport to one service.
    pub fn new(client: impl Fn(&'static str) -> InternalClient) -> Self {
        Self {
            auth: client("auth"),
            catalog: client("catalog"),
            search: client("search"),
            sellers: client("sellers"),
            cart: client("cart"),
            orders: client("orders"),
            logistics: client("logistics"),
            reviews: client("reviews"),
            analytics: client("analytics"),
        }
    }
}

/// Sends one call for `actor` (plus `extra` headers), keeps the cookies it
/// sets and decodes the JSON answer.
async fn send<R: DeserializeOwned>(
    client: &InternalClient,
    actor: &Actor,
    method: Method,
    path: &str,
    payload: Payload,
    extra: &[(HeaderName, HeaderValue)],
) -> Result<R, ClientError> {
    let mut headers = actor.forward.clone();
    headers.extend_from_slice(extra);
    let answer = client.exchange(method, path, payload, &headers).await?;
    actor.keep_cookies(&answer.headers);
    answer.json(client.service())
}

async fn get<R: DeserializeOwned>(
    client: &InternalClient,
    actor: &Actor,
    path: &str,
) -> Result<R, ClientError> {
    bodiless(client, actor, Method::GET, path).await
}

/// A call without a body or extra headers (GET, DELETE, action POSTs).
async fn bodiless<R: DeserializeOwned>(
    client: &InternalClient,
    actor: &Actor,
    method: Method,
    path: &str,
) -> Result<R, ClientError> {
    send(client, actor, method, path, Payload::Empty, &[]).await
}

async fn json<B: Serialize + ?Sized, R: DeserializeOwned>(
    client: &InternalClient,
    actor: &Actor,
    method: Method,
    path: &str,
    body: &B,
) -> Result<R, ClientError> {
    let payload = Payload::json(client.service(), body)?;
    send(client, actor, method, path, payload, &[]).await
}

/// `path?query` with the set fields of `query` (None fields left out).
fn with_query(path: &str, query: &impl Serialize) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}
