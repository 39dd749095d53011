//! Session checks at the edge.
//!
//! A token (bearer or `meridian_session` cookie) is validated against the
//! auth service's session store: directly in Redis when configured, else via
//! the auth service's introspection endpoint in the region serving the
//! request. Positive answers are cached briefly in moka; a logout passing
//! through drops the entry at once.

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderValue;
use moka::sync::Cache;
use pingora::http::RequestHeader;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::config::SessionConfig;
use crate::metrics::{EdgeMetrics, LookupResult, LookupSource};

pub const COOKIE_NAME: &str = "meridian_session";
/// Tokens are 32 random bytes in unpadded base64url.
pub const TOKEN_LEN: usize = 43;

pub type Token = [u8; TOKEN_LEN];

#[derive(Clone)]
pub struct SessionInfo {
    /// Pre-built `x-user-id` value.
    pub user: HeaderValue,
    pub expires_at: i64,
}

pub enum Lookup {
    Valid(SessionInfo),
    Invalid,
    /// The session store could not be asked; the caller answers 503.
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

/// The presented token, if any: `Authorization: Bearer` first, then the
/// cookie. `Some(None)` means a credential was presented but is malformed.
pub fn token_from(req: &RequestHeader) -> Option<Option<Token>> {
    if let Some(value) = req.headers.get(http::header::AUTHORIZATION) {
        let raw = value.as_bytes();
        return Some(
            raw.strip_prefix(b"Bearer ")
                .and_then(|t| parse_token(t.trim_ascii())),
        );
    }
    for value in req.headers.get_all(http::header::COOKIE) {
        for pair in value.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            if let Some(rest) = pair.strip_prefix(COOKIE_NAME.as_bytes()) {
                if let Some(token) = rest.strip_prefix(b"=") {
                    return Some(parse_token(token));
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

fn unix_now() -> i64 {
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
    fn into_lookup(self) -> Lookup {
        match (self.active, self.user_id, self.expires_at) {
            (true, Some(user), Some(expires_at)) if is_uuid(&user) && expires_at > unix_now() => {
                match HeaderValue::from_str(&user) {
                    Ok(user) => Lookup::Valid(SessionInfo { user, expires_at }),
                    Err(_) => Lookup::Invalid,
                }
            }
            _ => Lookup::Invalid,
        }
    }
}

enum Backend {
    Redis {
        url: String,
        prefix: String,
        conn: OnceCell<redis::aio::ConnectionManager>,
    },
    Introspect {
        client: reqwest::Client,
        secret: String,
    },
}

pub struct Sessions {
    cache: Cache<Token, SessionInfo>,
    backend: Backend,
    timeout: Duration,
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
            None => Backend::Introspect {
                client: reqwest::Client::builder()
                    .timeout(timeout)
                    .build()
                    .expect("a plain HTTP client builds"),
                secret: internal_secret.to_owned(),
            },
        };
        Self {
            cache: Cache::builder()
                .max_capacity(config.cache_capacity)
                .time_to_live(Duration::from_millis(config.cache_ttl_ms))
                .build(),
            backend,
            timeout,
        }
    }

    /// Validates `token`; `origin` is the auth service to ask when the edge
    /// does not read Redis itself.
    pub async fn validate(
        &self,
        token: &Token,
        origin: SocketAddr,
        request_id: Option<&HeaderValue>,
        metrics: &EdgeMetrics,
    ) -> Lookup {
        if let Some(info) = self.cache.get(token) {
            if info.expires_at > unix_now() {
                metrics.record_lookup(LookupSource::Cache, LookupResult::Valid);
                return Lookup::Valid(info);
            }
            self.cache.invalidate(token);
        }
        let (source, lookup) = match &self.backend {
            Backend::Redis { url, prefix, conn } => (
                LookupSource::Redis,
                self.ask_redis(token, url, prefix, conn).await,
            ),
            Backend::Introspect { client, secret } => (
                LookupSource::Introspect,
                self.ask_auth_service(token, origin, request_id, client, secret)
                    .await,
            ),
        };
        let result = match &lookup {
            Lookup::Valid(info) => {
                self.cache.insert(*token, info.clone());
                LookupResult::Valid
            }
            Lookup::Invalid => LookupResult::Invalid,
            Lookup::Unavailable => LookupResult::Error,
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
    ) -> Lookup {
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
                return Lookup::Unavailable;
            }
        };
        // The auth service keys sessions by the token's SHA-256, never the
        // token itself (origin/auth/src/token.rs).
        let key = format!("{prefix}session:{}", hex::encode(Sha256::digest(token)));
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let get = cmd.query_async::<Option<String>>(&mut conn);
        match tokio::time::timeout(self.timeout, get).await {
            Ok(Ok(Some(json))) => {
                serde_json::from_str::<Stored>(&json).map_or(Lookup::Invalid, Stored::into_lookup)
            }
            Ok(Ok(None)) => Lookup::Invalid,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "session redis lookup failed");
                Lookup::Unavailable
            }
            Err(_) => Lookup::Unavailable,
        }
    }

    async fn ask_auth_service(
        &self,
        token: &Token,
        origin: SocketAddr,
        request_id: Option<&HeaderValue>,
        client: &reqwest::Client,
        secret: &str,
    ) -> Lookup {
        let token = std::str::from_utf8(token).expect("tokens are ASCII");
        let mut request = client
            .post(format!("http://{origin}/internal/auth/introspect"))
            .header("x-meridian-internal", secret);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id.clone());
        }
        let response = request
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => match r.json::<Stored>().await {
                Ok(stored) => stored.into_lookup(),
                Err(_) => Lookup::Unavailable,
            },
            Ok(r) => {
                tracing::warn!(status = %r.status(), "session introspection failed");
                Lookup::Unavailable
            }
            Err(e) => {
                tracing::warn!(error = %e, "session introspection unreachable");
                Lookup::Unavailable
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
    fn token_from_bearer_or_cookie() {
        assert_eq!(TOKEN.len(), TOKEN_LEN);
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(
            token_from(&req(&[("authorization", &bearer)])),
            Some(parse_token(TOKEN.as_bytes()))
        );
        let cookie = format!("a=b; {COOKIE_NAME}={TOKEN}; c=d");
        assert_eq!(
            token_from(&req(&[("cookie", &cookie)])).flatten().unwrap(),
            *TOKEN.as_bytes()
        );
        assert_eq!(token_from(&req(&[])), None);
        assert_eq!(
            token_from(&req(&[("authorization", "Basic abc")])),
            Some(None)
        );
        assert_eq!(
            token_from(&req(&[("cookie", "meridian_session=short")])),
            Some(None)
        );
        assert_eq!(
            token_from(&req(&[("cookie", "meridian_sessionx=abc")])),
            None
        );
    }

    #[test]
    fn stored_sessions_must_be_active_live_and_well_formed() {
        let user = "0190a8d0-0000-7000-8000-000000000001";
        let live = Stored {
            active: true,
            user_id: Some(user.into()),
            expires_at: Some(unix_now() + 60),
        };
        assert!(matches!(live.into_lookup(), Lookup::Valid(i) if i.user == user));
        let expired = Stored {
            active: true,
            user_id: Some(user.into()),
            expires_at: Some(unix_now() - 1),
        };
        assert!(matches!(expired.into_lookup(), Lookup::Invalid));
        let inactive = Stored {
            active: false,
            user_id: None,
            expires_at: None,
        };
        assert!(matches!(inactive.into_lookup(), Lookup::Invalid));
        let injected = Stored {
            active: true,
            user_id: Some("x\r\nx-admin: 1".into()),
            expires_at: Some(unix_now() + 60),
        };
        assert!(matches!(injected.into_lookup(), Lookup::Invalid));
    }
}
