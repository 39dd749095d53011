//! Trust between the edge and the origins.
//!
//! Identity headers such as `x-user-id` are only meaningful when the edge set
//! them, so every `/api` and `/internal` request must carry the edge's shared
//! secret. The comparison is constant-time so the secret cannot be recovered
//! byte by byte from response timings.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::{ApiError, SellerId, UserId};

// The names are the wire contract's (shared with the edge).
pub use meridian_wire::headers::{
    INTERNAL as INTERNAL_HEADER, REQUEST_ID as REQUEST_ID_HEADER, SCOPES as SCOPES_HEADER,
    SELLER as SELLER_HEADER, USER as USER_HEADER,
};

#[derive(Clone)]
pub struct InternalSecret(Arc<[u8]>);

impl InternalSecret {
    pub fn new(secret: &str) -> Self {
        Self(Arc::from(secret.as_bytes()))
    }

    /// An empty secret matches nothing (a disabled credential).
    pub fn is_configured(&self) -> bool {
        !self.0.is_empty()
    }

    pub fn matches(&self, presented: &[u8]) -> bool {
        // `ct_eq` on slices of different lengths returns false without
        // short-circuiting on content; the length itself is not secret.
        bool::from(self.0.as_ref().ct_eq(presented))
    }
}

/// Middleware: reject requests that did not come through the edge.
pub async fn require_edge(
    State(secret): State<InternalSecret>,
    request: Request,
    next: Next,
) -> Response {
    let ok = request
        .headers()
        .get(INTERNAL_HEADER)
        .is_some_and(|v| secret.matches(v.as_bytes()));
    if ok {
        next.run(request).await
    } else {
        ApiError::unauthorized("requests must come through the Meridian edge").into_response()
    }
}

/// The signed-in user, as established by the edge. Rejects with 401 when the
/// route was reached without a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentUser(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(USER_HEADER)
            .ok_or_else(|| ApiError::unauthorized("sign in required"))?;
        value
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .map(CurrentUser)
            .ok_or_else(|| ApiError::unauthorized("invalid user identity"))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// What a seller API key may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "catalog:write")]
    CatalogWrite,
    #[serde(rename = "orders:read")]
    OrdersRead,
    #[serde(rename = "orders:write")]
    OrdersWrite,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::CatalogWrite, Scope::OrdersRead, Scope::OrdersWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CatalogWrite => "catalog:write",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Everyone a request may speak for, as established by the edge: a signed-in
/// user, a seller API key, both or neither. Never rejects; handlers decide.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user: Option<UserId>,
    /// Seller and scopes of the API key used, if any.
    pub key: Option<(SellerId, Vec<Scope>)>,
    pub request_id: Option<axum::http::HeaderValue>,
}

impl Caller {
    pub fn require_user(&self) -> Result<UserId, ApiError> {
        self.user
            .ok_or_else(|| ApiError::unauthorized("sign in required"))
    }

    /// Headers that carry this identity on to another service.
    pub fn forward(&self) -> Vec<(axum::http::HeaderName, axum::http::HeaderValue)> {
        use axum::http::{HeaderName, HeaderValue};
        let mut out = Vec::new();
        if let Some(user) = self.user {
            if let Ok(v) = HeaderValue::from_str(&user.to_string()) {
                out.push((HeaderName::from_static(USER_HEADER), v));
            }
        }
        if let Some((seller, scopes)) = &self.key {
            if let Ok(v) = HeaderValue::from_str(&seller.to_string()) {
                out.push((HeaderName::from_static(SELLER_HEADER), v));
            }
            let joined: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            if let Ok(v) = HeaderValue::from_str(&joined.join(" ")) {
                out.push((HeaderName::from_static(SCOPES_HEADER), v));
            }
        }
        if let Some(id) = &self.request_id {
            out.push((HeaderName::from_static(REQUEST_ID_HEADER), id.clone()));
        }
        out
    }
}

impl Caller {
    /// Who the edge's identity headers in `headers` name.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let user = header(USER_HEADER).and_then(|v| v.parse().ok());
        let key = header(SELLER_HEADER)
            .and_then(|v| v.parse().ok())
            .map(|seller| {
                let scopes = header(SCOPES_HEADER)
                    .unwrap_or("")
                    .split_ascii_whitespace()
                    .filter_map(Scope::parse)
                    .collect();
                (seller, scopes)
            });
        Caller {
            user,
            key,
            request_id: headers.get(REQUEST_ID_HEADER).cloned(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_matches_only_exact_bytes() {
        let s = InternalSecret::new("0123456789abcdef");
        assert!(s.matches(b"0123456789abcdef"));
        assert!(!s.matches(b"0123456789abcdeF"));
        assert!(!s.matches(b"0123456789abcde"));
        assert!(!s.matches(b""));
    }
}
