//! Validated account types: an `Email` or `Password` value is valid by
//! construction, so handlers and stores never re-check them.

use chrono::{DateTime, Utc};
use meridian_common::UserId;
use serde::{Deserialize, Serialize};

pub use meridian_common::email::Email;

/// A plaintext password on its way to being hashed. Not `Debug`-printable so it
/// cannot end up in a log line.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    /// Bounds hashing work per request.
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if raw.trim().is_empty() {
            return Err("must not be only whitespace".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        // As sent: the schema's `maxLength` counts surrounding blanks too.
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct Bio(String);

impl Bio {
    pub const MAX_CHARS: usize = 1_000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let bio = raw.trim();
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if raw.chars().any(|c| c.is_control() && c != '\n') {
            return Err("must not contain control characters".into());
        }
        Ok(Self(bio.to_owned()))
    }

    pub fn empty() -> Self {
        Self(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored account. `password_hash` is a PHC string (argon2id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub bio: Bio,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub use meridian_common::now;

/// What `PATCH /me` may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub display_name: Option<DisplayName>,
    pub bio: Option<Bio>,
}

/// The public view of an account: never includes the password hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub bio: Bio,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            bio: u.bio.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A login session as stored (keyed by the token's hash, never the token).
/// The edge reads this JSON straight from Redis when configured to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: UserId,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; the session is invalid from this instant on.
    pub expires_at: i64,
}

impl Session {
    pub fn is_live(&self, now_unix: i64) -> bool {
        now_unix < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_session_is_what_the_edge_reads() {
        let user = UserId::new();
        let session = Session {
            user_id: user,
            created_at: 1,
            expires_at: 2,
        };
        let json = serde_json::to_string(&session).unwrap();
        let read: meridian_common::wire::internal::StoredSession =
            serde_json::from_str(&json).unwrap();
        assert_eq!(read.user_id, user.to_string());
        assert_eq!(read.expires_at, 2);
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("exactly12chr").is_ok());
        assert!(Password::parse("ééééééééééé").is_err()); // 11 chars, 22 bytes
        assert!(Password::parse(&" ".repeat(20)).is_err());
        assert!(Password::parse(&"x".repeat(257)).is_err());
    }

    #[test]
    fn display_name_and_bio_bounds() {
        assert_eq!(DisplayName::parse("  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"n".repeat(65)).is_err());
        assert!(Bio::parse("line one\nline two").is_ok());
        assert!(Bio::parse(&"b".repeat(1001)).is_err());
    }
}
