//! The edge's own calls to an origin: credential introspection and the
//! cache change feed. Paths and message shapes, both directions.

use serde::{Deserialize, Serialize};

/// `POST {"token": …}` → [`Session`].
pub const INTROSPECT_SESSION: &str = "/internal/auth/introspect";
/// `POST {"key": …}` → [`Key`].
pub const INTROSPECT_KEY: &str = "/internal/sellers/keys/introspect";
/// `GET ?after=&epoch=&wait_ms=` → [`Changes`] (long poll).
pub const CACHE_CHANGES: &str = "/internal/cache/changes";

/// `POST INTROSPECT_SESSION` body (`T` is `String` reading, `&str` writing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery<T = String> {
    pub token: T,
}

/// `POST INTROSPECT_KEY` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery<T = String> {
    pub key: T,
}

/// Sessions in Redis, which the edge may read directly instead of asking
/// the auth service: key `<prefix>` + this + the token's SHA-256 in hex
/// (never the token itself), value a [`StoredSession`] as JSON.
pub const REDIS_SESSION_KEY: &str = "session:";

/// The part of the auth service's stored session the edge reads (other
/// fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    pub user_id: String,
    /// Unix seconds; the session is invalid from this instant on.
    pub expires_at: i64,
}

/// What the auth service says of a session token. Inactive answers carry
/// no other field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Session {
    pub const INACTIVE: Session = Session {
        active: false,
        user_id: None,
        expires_at: None,
    };
}

/// What the sellers service says of an API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl Key {
    pub const INACTIVE: Key = Key {
        active: false,
        seller_id: None,
        key_id: None,
        scopes: Vec::new(),
    };
}

/// One answer of the change feed: the cache tags changed after `after`
/// up to `next`, within the origin process `epoch`. `reset` says the
/// follower fell behind the ring (or the origin restarted) and must purge
/// everything once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub next: u64,
    pub epoch: u64,
    pub tags: Vec<String>,
    pub reset: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_answers_are_one_field() {
        assert_eq!(
            serde_json::to_string(&Session::INACTIVE).unwrap(),
            r#"{"active":false}"#
        );
        assert_eq!(
            serde_json::to_string(&Key::INACTIVE).unwrap(),
            r#"{"active":false}"#
        );
        let s: Session =
            serde_json::from_str(r#"{"active":true,"user_id":"u","expires_at":5}"#).unwrap();
        assert_eq!(s.expires_at, Some(5));
    }
}
