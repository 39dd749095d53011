//! Header names on the edge ↔ origin path.
//!
//! Identity and internal headers belong to the edge: whatever a client
//! sends under these names is dropped before the edge adds its own, and an
//! origin trusts them only next to the edge's credential.

/// The edge's credential on every request it forwards or makes.
pub const INTERNAL: &str = "x-meridian-internal";
/// The authenticated user (a UUID), set after a session check.
pub const USER: &str = "x-user-id";
/// The seller whose API key authenticated the request.
pub const SELLER: &str = "x-seller-id";
/// Space-separated scopes of that API key.
pub const SCOPES: &str = "x-seller-scopes";
/// Request id: made at the edge, logged by both sides, echoed to clients.
pub const REQUEST_ID: &str = "x-request-id";
/// The region that answered, on every response.
pub const REGION: &str = "x-meridian-region";
/// The edge cache's verdict: `HIT`, `MISS`, `STALE`, `BYPASS`.
pub const CACHE: &str = "x-cache";
/// `lat,lon` of the client, believed only from trusted sources.
pub const CLIENT_GEO: &str = "x-client-geo";
/// The client's address, for the origins' logs.
pub const FORWARDED_FOR: &str = "x-forwarded-for";
/// On a 503: the origin refused the request because it is full (admission
/// control), not because it is failing; the edge does not count it against
/// the region's breaker, so shedding load cannot eject a healthy region.
pub const OVERLOADED: &str = "x-meridian-overloaded";
/// Cache tags of a response (space-separated), for purges by tag; the
/// edge strips them before clients see the response.
pub const SURROGATE_KEY: &str = "surrogate-key";

/// Whether a client-sent header claims to be one of the edge's own
/// (identity, credential, request id, forwarding): such headers never
/// reach an origin as the client sent them.
pub fn is_edge_owned(name: &str) -> bool {
    name.starts_with("x-meridian-")
        || name.starts_with("x-seller-")
        || name == USER
        || name == REQUEST_ID
        || name.starts_with("x-forwarded-")
}

/// W3C Trace Context headers: a client's are believed only from the
/// edge's trusted peers (`[tracing] trusted_sources`), like `x-client-geo`.
pub fn is_trace_context(name: &str) -> bool {
    name == "traceparent" || name == "tracestate"
}

/// The session cookie set by the auth service and read by the edge.
pub const SESSION_COOKIE: &str = "meridian_session";
/// Seller API keys start with this (`mk_` + 43 base64url characters).
pub const KEY_PREFIX: &str = "mk_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_owned_headers_cover_identity_and_credentials() {
        for name in [
            INTERNAL,
            USER,
            SELLER,
            SCOPES,
            REQUEST_ID,
            REGION,
            FORWARDED_FOR,
        ] {
            assert!(is_edge_owned(name), "{name}");
        }
        for name in ["x-cache-status", "accept", "x-client-geo", "authorization"] {
            assert!(!is_edge_owned(name), "{name}");
        }
        // Trace context is the client's unless untrusted: not edge-owned.
        for name in ["traceparent", "tracestate"] {
            assert!(is_trace_context(name) && !is_edge_owned(name), "{name}");
        }
        assert!(!is_trace_context("traceresponse"));
    }
}
