//! Session tokens: 256 random bits, base64url without padding (43 chars).
//!
//! Only the SHA-256 of a token is stored, so a leaked session store does not
//! hand out live sessions. The edge computes the same hash to look sessions up
//! in Redis directly (see `edge/src/session.rs`).

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const COOKIE_NAME: &str = meridian_common::wire::headers::SESSION_COOKIE;
const TOKEN_LEN: usize = 43;

/// A bearer token as handed to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

/// Hex SHA-256 of a token: the session store's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only strings of the exact shape we issue.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == TOKEN_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    /// From `Authorization: Bearer …` first, else the session cookie.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            if let Some(token) = value.strip_prefix("Bearer ") {
                return Self::parse(token.trim());
            }
        }
        meridian_common::internal::cookie(headers, COOKIE_NAME).and_then(Self::parse)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// `Set-Cookie` value for a new session.
pub fn session_cookie(token: &SessionToken, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
        token.as_str()
    )
}

/// `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;
    use axum::http::HeaderValue;

    #[test]
    fn generated_tokens_are_unique_and_parse() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert!(SessionToken::parse(a.as_str()).is_some());
        assert!(SessionToken::parse("short").is_none());
        assert!(SessionToken::parse(&"!".repeat(43)).is_none());
        assert_eq!(a.hash().0.len(), 64);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn reads_bearer_then_cookie() {
        let token = SessionToken::generate();
        let mut headers = HeaderMap::new();
        let cookie = format!("theme=dark; {COOKIE_NAME}={}", token.as_str());
        headers.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert_eq!(SessionToken::from_headers(&headers), Some(token.clone()));
        let other = SessionToken::generate();
        let bearer = format!("Bearer {}", other.as_str());
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&bearer).unwrap());
        assert_eq!(SessionToken::from_headers(&headers), Some(other));
    }

    #[test]
    fn cookie_has_security_attributes() {
        let token = SessionToken::generate();
        let cookie = session_cookie(&token, 60, true);
        for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Max-Age=60", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
    }
}
