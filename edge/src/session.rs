//! Credential checks at the edge: shopper sessions and seller API keys.
//!
//! A session token (bearer or `meridian_session` cookie) is validated
//! against the auth service's session store: directly in Redis when
//! configured, else via the auth service's introspection endpoint in the
//! region serving the request. A seller API key (`Bearer mk_…`) is validated
//! by the sellers service's introspection endpoint. Positive answers are
//! cached briefly in moka; a logout or key revocation passing through drops
//! the entry at once.

use std::time::Duration;

use http::HeaderValue;
use moka::sync::Cache;
use pingora::http::RequestHeader;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::config::SessionConfig;
use crate::metrics::{EdgeMetrics, LookupResult, LookupSource};
use crate::upstreams::OriginClient;

pub const COOKIE_NAME: &str = "meridian_session";
/// Tokens are 32 random bytes in unpadded base64url.
pub const TOKEN_LEN: usize = 43;

pub type Token = [u8; TOKEN_LEN];
/// Seller API keys: `mk_` + 43 base64url characters.
pub const KEY_PREFIX: &[u8] = b"mk_";
pub const KEY_LEN: usize = 46;
pub type KeyToken = [u8; KEY_LEN];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session(Token),
    Key(KeyToken),
}

#[derive(Clone)]
pub struct SessionInfo {
    /// Pre-built `x-user-id` value.
    pub user: HeaderValue,
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct KeyInfo {
    /// Pre-built `x-seller-id` and `x-seller-scopes` values.
    pub seller: HeaderValue,
    pub scopes: HeaderValue,
    pub key_id: String,
}

/// Who a valid credential speaks for.
pub enum Principal {
    User(HeaderValue),
    Seller(KeyInfo),
}

pub enum Lookup {
    Valid(Principal),
    Invalid,
    /// The credential store could not be asked; the caller answers 503.
    Unavailable,
}

fn parse_token(raw: &[u8]) -> Option<Token> {
    let ok = raw.len() == TOKEN_LEN
        && raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
    if ok {
        raw.try_into().ok()
    } else {
        None
    }
}

fn parse_key(raw: &[u8]) -> Option<KeyToken> {
    let rest = raw.strip_prefix(KEY_PREFIX)?;
    let ok = raw.len() == KEY_LEN
        && rest
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
    if ok {
        raw.try_into().ok()
    } else {
        None
    }
}

/// The presented credential, if any: `Authorization: Bearer` first (a
/// session token or an `mk_` seller key), then the session cookie.
/// `Some(None)` means a credential was presented but is malformed.
pub fn credential_from(req: &RequestHeader) -> Option<Option<Credential>> {
    if let Some(value) = req.headers.get(http::header::AUTHORIZATION) {
        let Some(raw) = value.as_bytes().strip_prefix(b"Bearer ") else {
            return Some(None);
        };
        let raw = raw.trim_ascii();
        return Some(if raw.starts_with(KEY_PREFIX) {
            parse_key(raw).map(Credential::Key)
        } else {
            parse_token(raw).map(Credential::Session)
        });
    }
    for value in req.headers.get_all(http::header::COOKIE) {
        for pair in value.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            if let Some(rest) = pair.strip_prefix(COOKIE_NAME.as_bytes()) {
                if let Some(token) = rest.strip_prefix(b"=") {
                    return Some(parse_token(token).map(Credential::Session));
                }
            }
        }
    }
    None
}

/// The answer of the introspection endpoint, and the JSON stored in Redis.
#[derive(Deserialize)]
struct Stored {
    #[serde(default = "active_default")]
    active: bool,
    user_id: Option<String>,
    expires_at: Option<i64>,
}

fn active_default() -> bool {
    true
}

/// Seconds since the Unix epoch (session expiry, config load time).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

impl Stored {
    const INACTIVE: Stored = Stored {
        active: false,
        user_id: None,
        expires_at: None,
    };

    fn into_session(self) -> Option<SessionInfo> {
        match (self.active, self.user_id, self.expires_at) {
            (true, Some(user), Some(expires_at)) if is_uuid(&user) && expires_at > unix_now() => {
                let user = HeaderValue::from_str(&user).ok()?;
                Some(SessionInfo { user, expires_at })
            }
            _ => None,
        }
    }
}

/// The sellers service's answer about an API key.
#[derive(Deserialize)]
struct StoredKey {
    active: bool,
    seller_id: Option<String>,
    key_id: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl StoredKey {
    fn into_key(self) -> Option<KeyInfo> {
        let (true, Some(seller), Some(key_id)) = (self.active, self.seller_id, self.key_id) else {
            return None;
        };
        let scopes_ok = self
            .scopes
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b':'));
        if !is_uuid(&seller) || !scopes_ok {
            return None;
        }
        Some(KeyInfo {
            seller: HeaderValue::from_str(&seller).ok()?,
            scopes: HeaderValue::from_str(&self.scopes.join(" ")).ok()?,
            key_id,
        })
    }
}

enum Backend {
    Redis {
        url: String,
        prefix: String,
        conn: OnceCell<redis::aio::ConnectionManager>,
    },
    /// Ask the auth service of the region serving the request.
    Introspect,
}

pub struct Sessions {
    cache: Cache<Token, SessionInfo>,
    keys: Cache<KeyToken, KeyInfo>,
    backend: Backend,
    secret: String,
    timeout: Duration,
}

/// The answer of an introspection call.
enum Answer<T> {
    Known(T),
    Unavailable,
}

impl Sessions {
    pub fn new(config: &SessionConfig, internal_secret: &str) -> Self {
        let timeout = Duration::from_millis(config.lookup_timeout_ms);
        let backend = match &config.redis_url {
            Some(url) => Backend::Redis {
                url: url.clone(),
                prefix: config.redis_key_prefix.clone(),
                conn: OnceCell::new(),
            },
            None => Backend::Introspect,
        };
        let ttl = Duration::from_millis(config.cache_ttl_ms);
        Self {
            cache: Cache::builder()
                .max_capacity(config.cache_capacity)
                .time_to_live(ttl)
                .build(),
            keys: Cache::builder()
                .max_capacity(config.cache_capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            backend,
            secret: internal_secret.to_owned(),
            timeout,
        }
    }

    /// Validates any credential; `origin` is the region whose services to
    /// ask when the answer is not cached.
    pub async fn validate(
        &self,
        credential: &Credential,
        origin: &OriginClient,
        request_id: Option<&HeaderValue>,
        metrics: &EdgeMetrics,
    ) -> Lookup {
        match credential {
            Credential::Session(token) => {
                self.validate_session(token, origin, request_id, metrics)
                    .await
            }
            Credential::Key(key) => self.validate_key(key, origin, request_id, metrics).await,
        }
    }

    async fn validate_key(
        &self,
        key: &KeyToken,
        origin: &OriginClient,
        request_id: Option<&HeaderValue>,
        metrics: &EdgeMetrics,
    ) -> Lookup {
        if let Some(info) = self.keys.get(key) {
            metrics.record_lookup(LookupSource::Cache, LookupResult::Valid);
            return Lookup::Valid(Principal::Seller(info));
        }
        let answer = self
            .introspect::<StoredKey>(origin, "/internal/sellers/keys/introspect", key, request_id)
            .await;
        let (lookup, result) = match answer {
            Answer::Known(stored) => match stored.into_key() {
                Some(info) => {
                    self.keys.insert(*key, info.clone());
                    (Lookup::Valid(Principal::Seller(info)), LookupResult::Valid)
                }
                None => (Lookup::Invalid, LookupResult::Invalid),
            },
            Answer::Unavailable => (Lookup::Unavailable, LookupResult::Error),
        };
        metrics.record_lookup(LookupSource::Introspect, result);
        lookup
    }

    /// Drops cached answers for a revoked key (a revocation passed through).
    pub fn forget_key_id(&self, key_id: &str) {
        let key_id = key_id.to_owned();
        // Only fails when closures are unsupported, which the builder enables.
        let _ = self
            .keys
            .invalidate_entries_if(move |_, info| info.key_id == key_id);
    }

    async fn validate_session(
        &self,
        token: &Token,
        origin: &OriginClient,
        request_id: Option<&HeaderValue>,
        metrics: &EdgeMetrics,
    ) -> Lookup {
        if let Some(info) = self.cache.get(token) {
            if info.expires_at > unix_now() {
                metrics.record_lookup(LookupSource::Cache, LookupResult::Valid);
                return Lookup::Valid(Principal::User(info.user));
            }
            self.cache.invalidate(token);
        }
        let (source, answer) = match &self.backend {
            Backend::Redis { url, prefix, conn } => (
                LookupSource::Redis,
                self.ask_redis(token, url, prefix, conn).await,
            ),
            Backend::Introspect => (
                LookupSource::Introspect,
                self.introspect::<Stored>(origin, "/internal/auth/introspect", token, request_id)
                    .await,
            ),
        };
        let (lookup, result) = match answer {
            Answer::Known(stored) => match stored.into_session() {
                Some(info) => {
                    self.cache.insert(*token, info.clone());
                    (
                        Lookup::Valid(Principal::User(info.user)),
                        LookupResult::Valid,
                    )
                }
                None => (Lookup::Invalid, LookupResult::Invalid),
            },
            Answer::Unavailable => (Lookup::Unavailable, LookupResult::Error),
        };
        metrics.record_lookup(source, result);
        lookup
    }

    /// Drops a cached session (a logout passed through).
    pub fn forget(&self, token: &Token) {
        self.cache.invalidate(token);
    }

    async fn ask_redis(
        &self,
        token: &Token,
        url: &str,
        prefix: &str,
        conn: &OnceCell<redis::aio::ConnectionManager>,
    ) -> Answer<Stored> {
        let connect = || async {
            let client = redis::Client::open(url)?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(self.timeout)
                .set_response_timeout(self.timeout)
                .set_number_of_retries(1);
            redis::aio::ConnectionManager::new_with_config(client, config).await
        };
        let mut conn = match conn.get_or_try_init(connect).await {
            Ok(c) => c.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "session redis unavailable");
                return Answer::Unavailable;
            }
        };
        // The auth service keys sessions by the token's SHA-256, never the
        // token itself (origin/auth/src/token.rs).
        let key = format!("{prefix}session:{}", hex::encode(Sha256::digest(token)));
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let get = cmd.query_async::<Option<String>>(&mut conn);
        match tokio::time::timeout(self.timeout, get).await {
            Ok(Ok(json)) => Answer::Known(
                json.and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or(Stored::INACTIVE),
            ),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "session redis lookup failed");
                Answer::Unavailable
            }
            Err(_) => Answer::Unavailable,
        }
    }

    /// POSTs `{"token": …}` to an introspection endpoint of `origin`.
    async fn introspect<T: serde::de::DeserializeOwned>(
        &self,
        origin: &OriginClient,
        path: &str,
        credential: &[u8],
        request_id: Option<&HeaderValue>,
    ) -> Answer<T> {
        let credential = std::str::from_utf8(credential).expect("credentials are ASCII");
        let body_field = if path.contains("/keys/") {
            "key"
        } else {
            "token"
        };
        let mut request = origin
            .client
            .post(origin.url(path))
            .timeout(self.timeout)
            .header("x-meridian-internal", &self.secret);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id.clone());
        }
        let response = request
            .json(&serde_json::json!({ body_field: credential }))
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => match r.json::<T>().await {
                Ok(answer) => Answer::Known(answer),
                Err(_) => Answer::Unavailable,
            },
            Ok(r) => {
                tracing::warn!(status = %r.status(), path, "introspection failed");
                Answer::Unavailable
            }
            Err(e) => {
                tracing::warn!(error = %e, path, "introspection unreachable");
                Answer::Unavailable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_Q";

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn credential_from_bearer_or_cookie() {
        assert_eq!(TOKEN.len(), TOKEN_LEN);
        let bearer = format!("Bearer {TOKEN}");
        let session = Credential::Session(TOKEN.as_bytes().try_into().unwrap());
        let got = |h: &[(&str, &str)]| credential_from(&req(h));
        assert_eq!(
            got(&[("authorization", &bearer)]),
            Some(Some(session.clone()))
        );
        let cookie = format!("a=b; {COOKIE_NAME}={TOKEN}; c=d");
        assert_eq!(got(&[("cookie", &cookie)]), Some(Some(session)));
        assert_eq!(got(&[]), None);
        assert_eq!(got(&[("authorization", "Basic abc")]), Some(None));
        assert_eq!(got(&[("cookie", "meridian_session=short")]), Some(None));
        assert_eq!(got(&[("cookie", "meridian_sessionx=abc")]), None);
        let key = format!("mk_{TOKEN}");
        let expected = Credential::Key(key.as_bytes().try_into().unwrap());
        assert_eq!(
            got(&[("authorization", &format!("Bearer {key}"))]),
            Some(Some(expected))
        );
        assert_eq!(got(&[("authorization", "Bearer mk_short")]), Some(None));
    }

    #[test]
    fn stored_answers_must_be_active_live_and_well_formed() {
        let user = "0190a8d0-0000-7000-8000-000000000001";
        let stored = |user: &str, expires_at: i64| Stored {
            active: true,
            user_id: Some(user.into()),
            expires_at: Some(expires_at),
        };
        assert!(matches!(stored(user, unix_now() + 60).into_session(), Some(i) if i.user == user));
        assert!(stored(user, unix_now() - 1).into_session().is_none());
        assert!(Stored::INACTIVE.into_session().is_none());
        assert!(stored("x\r\nx-admin: 1", unix_now() + 60)
            .into_session()
            .is_none());
        let key = |scopes: Vec<&str>| StoredKey {
            active: true,
            seller_id: Some(user.into()),
            key_id: Some("k1".into()),
            scopes: scopes.into_iter().map(String::from).collect(),
        };
        let info = key(vec!["catalog:write", "orders:read"])
            .into_key()
            .unwrap();
        assert_eq!(info.scopes, "catalog:write orders:read");
        assert!(key(vec!["evil\r\nx: 1"]).into_key().is_none());
    }
}
