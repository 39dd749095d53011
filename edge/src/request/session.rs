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
use meridian_wire::headers::{INTERNAL, KEY_PREFIX as KEY_PREFIX_STR, REQUEST_ID, SESSION_COOKIE};
use meridian_wire::internal::{self as wire, KeyQuery, SessionQuery};
use moka::sync::Cache;
use pingora::http::RequestHeader;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::clock::unix_secs;
use crate::config::SessionConfig;
use crate::metrics::{EdgeMetrics, LookupResult, LookupSource};
use crate::upstream::OriginClient;

pub const COOKIE_NAME: &str = SESSION_COOKIE;
/// Tokens are 32 random bytes in unpadded base64url.
pub const TOKEN_LEN: usize = 43;

pub type Token = [u8; TOKEN_LEN];
/// Seller API keys: `mk_` + 43 base64url characters.
pub const KEY_PREFIX: &[u8] = KEY_PREFIX_STR.as_bytes();
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

/// Unpadded base64url characters only.
fn is_base64url(raw: &[u8]) -> bool {
    raw.iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

fn parse_token(raw: &[u8]) -> Option<Token> {
    is_base64url(raw).then(|| raw.try_into().ok()).flatten()
}

fn parse_key(raw: &[u8]) -> Option<KeyToken> {
    let rest = raw.strip_prefix(KEY_PREFIX)?;
    is_base64url(rest).then(|| raw.try_into().ok()).flatten()
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

/// A live session for a well-formed user id (the value becomes a header,
/// so nothing else may pass).
fn live_session(user: &str, expires_at: i64) -> Option<SessionInfo> {
    if !is_uuid(user) || expires_at <= unix_secs() {
        return None;
    }
    let user = HeaderValue::from_str(user).ok()?;
    Some(SessionInfo { user, expires_at })
}

/// What the auth service's introspection says, as a session.
fn introspected_session(answer: wire::Session) -> Option<SessionInfo> {
    match (answer.active, answer.user_id, answer.expires_at) {
        (true, Some(user), Some(expires_at)) => live_session(&user, expires_at),
        _ => None,
    }
}

/// What the sellers service says of an API key, as the key's identity.
fn introspected_key(answer: wire::Key) -> Option<KeyInfo> {
    let (true, Some(seller), Some(key_id)) = (answer.active, answer.seller_id, answer.key_id)
    else {
        return None;
    };
    let scopes_ok = answer
        .scopes
        .iter()
        .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b':'));
    if !is_uuid(&seller) || !scopes_ok {
        return None;
    }
    Some(KeyInfo {
        seller: HeaderValue::from_str(&seller).ok()?,
        scopes: HeaderValue::from_str(&answer.scopes.join(" ")).ok()?,
        key_id,
    })
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

impl<T> Answer<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Known(t) => Answer::Known(f(t)),
            Answer::Unavailable => Answer::Unavailable,
        }
    }
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
        let query = KeyQuery {
            key: std::str::from_utf8(key).expect("credentials are ASCII"),
        };
        let answer = self
            .introspect(origin, wire::INTROSPECT_KEY, &query, request_id)
            .await;
        let (lookup, result) = match answer {
            Answer::Known(answer) => match introspected_key(answer) {
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
            if info.expires_at > unix_secs() {
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
                self.introspect(
                    origin,
                    wire::INTROSPECT_SESSION,
                    &SessionQuery {
                        token: std::str::from_utf8(token).expect("credentials are ASCII"),
                    },
                    request_id,
                )
                .await
                .map(introspected_session),
            ),
        };
        let (lookup, result) = match answer {
            Answer::Known(session) => match session {
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
    ) -> Answer<Option<SessionInfo>> {
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
        let key = format!(
            "{prefix}{}{}",
            wire::REDIS_SESSION_KEY,
            hex::encode(Sha256::digest(token))
        );
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let get = cmd.query_async::<Option<String>>(&mut conn);
        match tokio::time::timeout(self.timeout, get).await {
            Ok(Ok(json)) => Answer::Known(
                json.and_then(|j| serde_json::from_str::<wire::StoredSession>(&j).ok())
                    .and_then(|s| live_session(&s.user_id, s.expires_at)),
            ),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "session redis lookup failed");
                Answer::Unavailable
            }
            Err(_) => Answer::Unavailable,
        }
    }

    /// POSTs `query` to an introspection endpoint of `origin`.
    async fn introspect<T: serde::de::DeserializeOwned>(
        &self,
        origin: &OriginClient,
        path: &str,
        query: &impl Serialize,
        request_id: Option<&HeaderValue>,
    ) -> Answer<T> {
        let mut request = origin
            .client
            .post(origin.url(path))
            .timeout(self.timeout)
            .header(INTERNAL, &self.secret);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID, id.clone());
        }
        let response = request.json(query).send().await;
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
        let session = |user: &str, expires_at: i64| wire::Session {
            active: true,
            user_id: Some(user.into()),
            expires_at: Some(expires_at),
        };
        let live = introspected_session(session(user, unix_secs() + 60));
        assert!(matches!(live, Some(i) if i.user == user));
        assert!(introspected_session(session(user, unix_secs() - 1)).is_none());
        assert!(introspected_session(wire::Session::INACTIVE).is_none());
        assert!(introspected_session(session("x\r\nx-admin: 1", unix_secs() + 60)).is_none());
        assert!(live_session(user, unix_secs() + 60).is_some());
        let key = |scopes: Vec<&str>| wire::Key {
            active: true,
            seller_id: Some(user.into()),
            key_id: Some("k1".into()),
            scopes: scopes.into_iter().map(String::from).collect(),
        };
        let info = introspected_key(key(vec!["catalog:write", "orders:read"])).unwrap();
        assert_eq!(info.scopes, "catalog:write orders:read");
        assert!(introspected_key(key(vec!["evil\r\nx: 1"])).is_none());
        assert!(introspected_key(wire::Key::INACTIVE).is_none());
    }
}
