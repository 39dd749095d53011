//! Embedded sellers store: memory, with its outbox filled under the same lock
//! as each change.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meridian_common::events::{EventEnvelope, MemoryOutbox};
use meridian_common::{SellerId, UserId};

use super::{SellerStore, StoreError};
use crate::domain::{ApiKey, ApiKeyId, Shop, ShopUpdate, Slug};

pub struct MemorySellerStore {
    inner: RwLock<State>,
    outbox: Arc<MemoryOutbox>,
}

#[derive(Default)]
struct State {
    shops: HashMap<SellerId, Shop>,
    by_slug: HashMap<Slug, SellerId>,
    by_owner: HashMap<UserId, SellerId>,
    keys: HashMap<ApiKeyId, ApiKey>,
    by_hash: HashMap<String, ApiKeyId>,
}

impl MemorySellerStore {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            inner: RwLock::default(),
            outbox,
        }
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Other("sellers store lock poisoned".into())
}

#[async_trait]
impl SellerStore for MemorySellerStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn create_shop(&self, shop: &Shop, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        let mut s = self.inner.write().map_err(poisoned)?;
        if s.by_owner.contains_key(&shop.owner_id) {
            return Err(StoreError::Conflict("owner"));
        }
        if s.by_slug.contains_key(&shop.slug) {
            return Err(StoreError::Conflict("slug"));
        }
        s.by_owner.insert(shop.owner_id, shop.id);
        s.by_slug.insert(shop.slug.clone(), shop.id);
        s.shops.insert(shop.id, shop.clone());
        self.outbox.push(events);
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn shop(&self, id: SellerId) -> Result<Option<Shop>, StoreError> {
        Ok(self.inner.read().map_err(poisoned)?.shops.get(&id).cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn shop_by_slug(&self, slug: &Slug) -> Result<Option<Shop>, StoreError> {
        let s = self.inner.read().map_err(poisoned)?;
        Ok(s.by_slug.get(slug).and_then(|id| s.shops.get(id)).cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn shop_by_owner(&self, owner: UserId) -> Result<Option<Shop>, StoreError> {
        let s = self.inner.read().map_err(poisoned)?;
        Ok(s.by_owner
            .get(&owner)
            .and_then(|id| s.shops.get(id))
            .cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn update_shop(
        &self,
        id: SellerId,
        update: &ShopUpdate,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Shop>, StoreError> {
        let mut s = self.inner.write().map_err(poisoned)?;
        let Some(shop) = s.shops.get_mut(&id) else {
            return Ok(None);
        };
        if let Some(name) = &update.name {
            shop.name = name.clone();
        }
        if let Some(d) = &update.description {
            shop.description = d.clone();
        }
        if let Some(e) = &update.contact_email {
            shop.contact_email = e.clone();
        }
        shop.updated_at = now;
        let shop = shop.clone();
        self.outbox.push(events);
        Ok(Some(shop))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn create_key(&self, key: &ApiKey, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        let mut s = self.inner.write().map_err(poisoned)?;
        if s.by_hash.contains_key(&key.hash) {
            return Err(StoreError::Conflict("key"));
        }
        s.by_hash.insert(key.hash.clone(), key.id);
        s.keys.insert(key.id, key.clone());
        self.outbox.push(events);
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn keys(&self, seller: SellerId) -> Result<Vec<ApiKey>, StoreError> {
        let s = self.inner.read().map_err(poisoned)?;
        let mut keys: Vec<ApiKey> = s
            .keys
            .values()
            .filter(|k| k.seller_id == seller)
            .cloned()
            .collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.0.cmp(&a.id.0)));
        Ok(keys)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn revoke_key(
        &self,
        seller: SellerId,
        id: ApiKeyId,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<bool, StoreError> {
        let mut s = self.inner.write().map_err(poisoned)?;
        match s.keys.get_mut(&id) {
            Some(key) if key.seller_id == seller && key.revoked_at.is_none() => {
                key.revoked_at = Some(now);
                self.outbox.push(events);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let s = self.inner.read().map_err(poisoned)?;
        Ok(s.by_hash.get(hash).and_then(|id| s.keys.get(id)).cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
