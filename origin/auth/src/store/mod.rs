//! Storage roles of the auth service.
//!
//! `UserStore` holds accounts (embedded: memory; production: PostgreSQL) and
//! `SessionStore` holds login sessions (embedded: memory; production: Redis).
//! Both are checked by one contract suite (`tests/contract.rs`) per impl.

use async_trait::async_trait;
use meridian_common::store::PoolMetrics;
use meridian_common::{ApiError, UserId};

use crate::domain::{Email, ProfileUpdate, Session, User};
use crate::token::TokenHash;

pub mod connect;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (the payload names which).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The backend could not be reached or timed out; retrying may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with something we cannot interpret.
    #[error("store error: {0}")]
    Other(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict("email") => {
                ApiError::conflict("email_taken", "an account with this email already exists")
            }
            StoreError::Conflict(what) => ApiError::conflict("conflict", what),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "auth store unavailable");
                ApiError::unavailable("the account service is temporarily unavailable")
            }
            StoreError::Other(detail) => ApiError::internal(detail),
        }
    }
}

#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new account; `Conflict("email")` if the email is taken.
    async fn insert(&self, user: &User) -> Result<(), StoreError>;
    async fn by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Applies the update and returns the new state, `None` if no such user.
    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<User>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// The connection pool's waits and occupancy, for stores that pool
    /// connections.
    fn pool_metrics(&self) -> Option<PoolMetrics> {
        None
    }
}

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a session that expires at `session.expires_at`.
    async fn create(&self, key: &TokenHash, session: &Session) -> Result<(), StoreError>;
    /// The live session for this key; expired or revoked ones are `None`.
    async fn get(&self, key: &TokenHash) -> Result<Option<Session>, StoreError>;
    /// Removes the session; `true` if it existed.
    async fn revoke(&self, key: &TokenHash) -> Result<bool, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
