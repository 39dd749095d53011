//! Accounts and sessions (`/api/auth`).

use axum::http::Method;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{bodiless, get, json, Actor, PublicApi};
use crate::client::ClientError;
use crate::UserId;

/// An account as its owner sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    #[serde(default)]
    pub bio: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SignedIn {
    pub user: Account,
}

impl PublicApi {
    pub async fn register(
        &self,
        actor: &Actor,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> Result<Account, ClientError> {
        let body = json!({ "email": email, "password": password, "display_name": display_name });
        json(&self.auth, actor, Method::POST, "/api/auth/register", &body).await
    }

    /// Starts a session; its cookie (and the cleared guest-cart cookie once
    /// the guest cart merged) are kept on `actor`.
    pub async fn login(
        &self,
        actor: &Actor,
        email: &str,
        password: &str,
    ) -> Result<SignedIn, ClientError> {
        let body = json!({ "email": email, "password": password });
        json(&self.auth, actor, Method::POST, "/api/auth/login", &body).await
    }

    /// Ends the session named by the actor's cookie (its clearing cookie is
    /// kept on `actor`).
    pub async fn logout(&self, actor: &Actor) -> Result<(), ClientError> {
        bodiless::<serde::de::IgnoredAny>(&self.auth, actor, Method::POST, "/api/auth/logout")
            .await
            .map(|_| ())
    }

    pub async fn me(&self, actor: &Actor) -> Result<Account, ClientError> {
        get(&self.auth, actor, "/api/auth/me").await
    }

    pub async fn update_profile(
        &self,
        actor: &Actor,
        display_name: &str,
        bio: &str,
    ) -> Result<Account, ClientError> {
        let body = json!({ "display_name": display_name, "bio": bio });
        json(&self.auth, actor, Method::PATCH, "/api/auth/me", &body).await
    }
}
