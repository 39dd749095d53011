//! Embedded payments store: memory, one lock for payment, ledger, key and
//! outbox, so each operation is atomic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use meridian_common::events::{EventEnvelope, MemoryOutbox};

use super::{IdemRecord, PaymentStore, StoreError, Transition};
use crate::domain::{LedgerEntry, Payment, PaymentId};

pub struct MemoryPaymentStore {
    inner: Mutex<State>,
    outbox: Arc<MemoryOutbox>,
}

#[derive(Default)]
struct State {
    payments: HashMap<PaymentId, Payment>,
    ledger: Vec<LedgerEntry>,
    keys: HashMap<String, IdemRecord>,
}

impl MemoryPaymentStore {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            inner: Mutex::default(),
            outbox,
        }
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Other("payments store lock poisoned".into())
}

#[async_trait]
impl PaymentStore for MemoryPaymentStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn record(&self, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        Ok(self.inner.lock().map_err(poisoned)?.keys.get(key).cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn create(
        &self,
        key: &str,
        fingerprint: &str,
        payment: &Payment,
        entry: Option<&LedgerEntry>,
        events: Vec<EventEnvelope>,
    ) -> Result<IdemRecord, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        if let Some(existing) = s.keys.get(key) {
            return Ok(existing.clone());
        }
        let record = IdemRecord {
            fingerprint: fingerprint.to_owned(),
            outcome: Ok(payment.clone()),
        };
        s.payments.insert(payment.id, payment.clone());
        s.ledger.extend(entry.cloned());
        s.keys.insert(key.to_owned(), record.clone());
        self.outbox.push(events);
        Ok(record)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn transition(
        &self,
        key: &str,
        fingerprint: &str,
        id: PaymentId,
        transition: &Transition,
    ) -> Result<IdemRecord, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        if let Some(existing) = s.keys.get(key) {
            return Ok(existing.clone());
        }
        let current = s.payments.get(&id).ok_or(StoreError::NotFound)?;
        let outcome = match transition(current) {
            Ok((next, entry, events)) => {
                s.payments.insert(id, next.clone());
                s.ledger.push(entry);
                self.outbox.push(events);
                Ok(next)
            }
            Err(e) => Err(e),
        };
        let record = IdemRecord {
            fingerprint: fingerprint.to_owned(),
            outcome,
        };
        s.keys.insert(key.to_owned(), record.clone());
        Ok(record)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        Ok(self
            .inner
            .lock()
            .map_err(poisoned)?
            .payments
            .get(&id)
            .cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ledger(&self, id: PaymentId) -> Result<Vec<LedgerEntry>, StoreError> {
        let s = self.inner.lock().map_err(poisoned)?;
        Ok(s.ledger
            .iter()
            .filter(|e| e.payment_id == id)
            .cloned()
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
