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

use crate::{ApiError, UserId};

/// The header carrying the edge's credential.
pub const INTERNAL_HEADER: &str = "x-meridian-internal";
/// The authenticated user, injected by the edge after a session check.
pub const USER_HEADER: &str = "x-user-id";
/// Request id, created at the edge and logged by both sides.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Clone)]
pub struct InternalSecret(Arc<[u8]>);

impl InternalSecret {
    pub fn new(secret: &str) -> Self {
        Self(Arc::from(secret.as_bytes()))
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
