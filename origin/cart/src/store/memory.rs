//! Embedded cart store: memory; guest carts expire after `GUEST_TTL_SECS`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use meridian_common::events::{EventEnvelope, MemoryOutbox};

use meridian_common::store::poisoned;

use super::{CartStore, Change, StoreError};
use crate::domain::{Cart, CartError, CartKey, GUEST_TTL_SECS};

pub struct MemoryCartStore {
    carts: Mutex<HashMap<CartKey, Cart>>,
    outbox: Arc<MemoryOutbox>,
}

impl MemoryCartStore {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            carts: Mutex::default(),
            outbox,
        }
    }
}

fn expired(key: &CartKey, cart: &Cart) -> bool {
    matches!(key, CartKey::Guest(_))
        && cart
            .updated_at
            .is_some_and(|t| (Utc::now() - t).num_seconds() > GUEST_TTL_SECS)
}

#[async_trait]
impl CartStore for MemoryCartStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn get(&self, key: &CartKey) -> Result<Cart, StoreError> {
        let carts = self.carts.lock().map_err(poisoned)?;
        Ok(carts
            .get(key)
            .filter(|c| !expired(key, c))
            .cloned()
            .unwrap_or_default())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn update(
        &self,
        key: &CartKey,
        change: &Change,
    ) -> Result<Result<Cart, CartError>, StoreError> {
        let mut carts = self.carts.lock().map_err(poisoned)?;
        let mut cart = carts
            .get(key)
            .filter(|c| !expired(key, c))
            .cloned()
            .unwrap_or_default();
        match change(&mut cart) {
            Ok(events) => {
                carts.insert(key.clone(), cart.clone());
                self.outbox.push(events);
                Ok(Ok(cart))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn merge(
        &self,
        guest: &CartKey,
        user: &CartKey,
        events: Vec<EventEnvelope>,
    ) -> Result<Cart, StoreError> {
        let mut carts = self.carts.lock().map_err(poisoned)?;
        let guest_cart = carts
            .remove(guest)
            .filter(|c| !expired(guest, c))
            .unwrap_or_default();
        let mut cart = carts.get(user).cloned().unwrap_or_default();
        if !guest_cart.lines.is_empty() {
            cart.merge(&guest_cart, Utc::now());
            carts.insert(user.clone(), cart.clone());
            self.outbox.push(events);
        }
        Ok(cart)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
