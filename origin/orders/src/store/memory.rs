//! Embedded orders store: memory, one lock for orders, keys and outbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use meridian_common::events::{EventEnvelope, MemoryOutbox};
use meridian_common::{SellerId, UserId};

use meridian_common::store::poisoned;

use super::{Begin, Change, OrderStore, StoreError, StoredResponse};
use crate::domain::{Order, OrderError, OrderId};

struct KeyRecord {
    fingerprint: String,
    response: Option<StoredResponse>,
    lease_until: Instant,
}

#[derive(Default)]
struct State {
    orders: HashMap<OrderId, Order>,
    keys: HashMap<(UserId, String), KeyRecord>,
}

pub struct MemoryOrderStore {
    inner: Mutex<State>,
    outbox: Arc<MemoryOutbox>,
}

impl MemoryOrderStore {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            inner: Mutex::default(),
            outbox,
        }
    }
}

fn newest_first(mut orders: Vec<Order>, limit: usize) -> Vec<Order> {
    orders.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    orders.truncate(limit);
    orders
}

#[async_trait]
impl OrderStore for MemoryOrderStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn begin(
        &self,
        buyer: UserId,
        key: &str,
        fingerprint: &str,
        lease: Duration,
    ) -> Result<Begin, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        let now = Instant::now();
        let slot = (buyer, key.to_owned());
        if let Some(existing) = s.keys.get_mut(&slot) {
            let stranded = existing.response.is_none()
                && existing.lease_until <= now
                && existing.fingerprint == fingerprint;
            if !stranded {
                return Ok(Begin::Existing {
                    fingerprint: existing.fingerprint.clone(),
                    response: existing.response.clone(),
                });
            }
            existing.lease_until = now + lease;
            return Ok(Begin::Started);
        }
        s.keys.insert(
            slot,
            KeyRecord {
                fingerprint: fingerprint.to_owned(),
                response: None,
                lease_until: now + lease,
            },
        );
        Ok(Begin::Started)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn finish(
        &self,
        buyer: UserId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        if let Some(record) = s.keys.get_mut(&(buyer, key.to_owned())) {
            record.response.get_or_insert_with(|| response.clone());
        }
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn abandon(&self, buyer: UserId, key: &str) -> Result<(), StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        if let Some(record) = s.keys.get_mut(&(buyer, key.to_owned())) {
            if record.response.is_none() {
                record.lease_until = Instant::now();
            }
        }
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn claim_stale(
        &self,
        idle: Duration,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<(UserId, String)>, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        let now = Instant::now();
        let stale = s
            .keys
            .iter_mut()
            .filter(|(_, r)| r.response.is_none() && r.lease_until + idle <= now);
        Ok(stale
            .take(limit)
            .map(|(slot, record)| {
                record.lease_until = now + lease;
                slot.clone()
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn insert(&self, order: &Order, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        s.orders.insert(order.id, order.clone());
        self.outbox.push(events);
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self
            .inner
            .lock()
            .map_err(poisoned)?
            .orders
            .get(&id)
            .cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn update(
        &self,
        id: OrderId,
        change: &Change,
    ) -> Result<Option<Result<Order, OrderError>>, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        let Some(current) = s.orders.get(&id) else {
            return Ok(None);
        };
        let mut next = current.clone();
        match change(&mut next) {
            Ok(events) => {
                s.orders.insert(id, next.clone());
                self.outbox.push(events);
                Ok(Some(Ok(next)))
            }
            Err(e) => Ok(Some(Err(e))),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_buyer(&self, buyer: UserId, limit: usize) -> Result<Vec<Order>, StoreError> {
        let s = self.inner.lock().map_err(poisoned)?;
        let mine = s
            .orders
            .values()
            .filter(|o| o.buyer_id == buyer)
            .cloned()
            .collect();
        Ok(newest_first(mine, limit))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_seller(&self, seller: SellerId, limit: usize) -> Result<Vec<Order>, StoreError> {
        let s = self.inner.lock().map_err(poisoned)?;
        let theirs = s
            .orders
            .values()
            .filter(|o| o.sub_orders.iter().any(|so| so.seller_id == seller))
            .filter(|o| o.failure.is_none() && o.status != crate::domain::Status::PendingPayment)
            .cloned()
            .collect();
        Ok(newest_first(theirs, limit))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
