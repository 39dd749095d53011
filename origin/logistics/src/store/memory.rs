//! Embedded shipment store: memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use meridian_common::events::{EventEnvelope, MemoryOutbox};
use uuid::Uuid;

use meridian_common::store::poisoned;

use super::{Change, ShipmentStore, StoreError};
use crate::domain::Shipment;

pub struct MemoryShipmentStore {
    inner: Mutex<HashMap<Uuid, Shipment>>,
    outbox: Arc<MemoryOutbox>,
}

impl MemoryShipmentStore {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            inner: Mutex::default(),
            outbox,
        }
    }
}

#[async_trait]
impl ShipmentStore for MemoryShipmentStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn open(
        &self,
        shipment: &Shipment,
        events: Vec<EventEnvelope>,
    ) -> Result<Shipment, StoreError> {
        let mut all = self.inner.lock().map_err(poisoned)?;
        if let Some(existing) = all
            .values()
            .find(|s| s.sub_order_id == shipment.sub_order_id)
        {
            return Ok(existing.clone());
        }
        all.insert(shipment.id, shipment.clone());
        self.outbox.push(events);
        Ok(shipment.clone())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_tracking(
        &self,
        carrier: &str,
        tracking: &str,
    ) -> Result<Option<Shipment>, StoreError> {
        let all = self.inner.lock().map_err(poisoned)?;
        Ok(all
            .values()
            .find(|s| s.carrier.eq_ignore_ascii_case(carrier) && s.tracking_number == tracking)
            .cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_order(&self, order: Uuid) -> Result<Vec<Shipment>, StoreError> {
        let all = self.inner.lock().map_err(poisoned)?;
        let mut found: Vec<Shipment> = all
            .values()
            .filter(|s| s.order_id == order)
            .cloned()
            .collect();
        found.sort_by_key(|s| s.created_at);
        Ok(found)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn update(
        &self,
        id: Uuid,
        change: &Change,
    ) -> Result<Option<Result<Shipment, String>>, StoreError> {
        let mut all = self.inner.lock().map_err(poisoned)?;
        let Some(current) = all.get(&id) else {
            return Ok(None);
        };
        let mut next = current.clone();
        match change(&mut next) {
            Ok(events) => {
                all.insert(id, next.clone());
                self.outbox.push(events);
                Ok(Some(Ok(next)))
            }
            Err(e) => Ok(Some(Err(e))),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
