//! Embedded stores: process memory. Used by default so the system runs with
//! no servers; state is lost at exit.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;
use meridian_common::UserId;

use super::{unix_now, SessionStore, StoreError, UserStore};
use crate::domain::{Email, ProfileUpdate, Session, User};
use crate::token::TokenHash;

#[derive(Default)]
pub struct MemoryUserStore {
    inner: RwLock<Users>,
}

#[derive(Default)]
struct Users {
    by_id: HashMap<UserId, User>,
    by_email: HashMap<Email, UserId>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Other("memory store lock poisoned".into())
}

#[async_trait]
impl UserStore for MemoryUserStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        let mut users = self.inner.write().map_err(poisoned)?;
        if users.by_email.contains_key(&user.email) {
            return Err(StoreError::Conflict("email"));
        }
        if users.by_id.contains_key(&user.id) {
            return Err(StoreError::Conflict("id"));
        }
        users.by_email.insert(user.email.clone(), user.id);
        users.by_id.insert(user.id, user.clone());
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let users = self.inner.read().map_err(poisoned)?;
        Ok(users
            .by_email
            .get(email)
            .and_then(|id| users.by_id.get(id))
            .cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.inner.read().map_err(poisoned)?.by_id.get(&id).cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut users = self.inner.write().map_err(poisoned)?;
        let Some(user) = users.by_id.get_mut(&id) else {
            return Ok(None);
        };
        if let Some(name) = &update.display_name {
            user.display_name = name.clone();
        }
        if let Some(bio) = &update.bio {
            user.bio = bio.clone();
        }
        user.updated_at = now;
        Ok(Some(user.clone()))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Default)]
pub struct MemorySessionStore {
    inner: RwLock<Sessions>,
}

#[derive(Default)]
struct Sessions {
    map: HashMap<TokenHash, Session>,
    /// Size after the last sweep; expired sessions are swept when the map has
    /// doubled since, so memory stays bounded by live sessions at O(1)
    /// amortised cost per insert.
    swept_at_len: usize,
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn create(&self, key: &TokenHash, session: &Session) -> Result<(), StoreError> {
        let mut sessions = self.inner.write().map_err(poisoned)?;
        if sessions.map.len() >= (sessions.swept_at_len * 2).max(1024) {
            let now = unix_now();
            sessions.map.retain(|_, s| s.is_live(now));
            sessions.swept_at_len = sessions.map.len();
        }
        sessions.map.insert(key.clone(), *session);
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn get(&self, key: &TokenHash) -> Result<Option<Session>, StoreError> {
        let sessions = self.inner.read().map_err(poisoned)?;
        let now = unix_now();
        Ok(sessions.map.get(key).filter(|s| s.is_live(now)).copied())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn revoke(&self, key: &TokenHash) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .write()
            .map_err(poisoned)?
            .map
            .remove(key)
            .is_some())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
