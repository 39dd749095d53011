//! Embedded review store: memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use meridian_common::events::{EventEnvelope, MemoryOutbox};
use meridian_common::{ProductId, UserId};
use uuid::Uuid;

use meridian_common::store::poisoned;

use super::{ReviewStore, Sort, StoreError};
use crate::domain::{Reply, Review, Summary};

#[derive(Default)]
struct State {
    reviews: HashMap<Uuid, Review>,
    by_author: HashMap<(ProductId, UserId), Uuid>,
    votes: HashSet<(Uuid, UserId)>,
    reports: HashMap<(Uuid, UserId), String>,
}

pub struct MemoryReviewStore {
    inner: Mutex<State>,
    outbox: Arc<MemoryOutbox>,
}

impl MemoryReviewStore {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            inner: Mutex::default(),
            outbox,
        }
    }
}

#[async_trait]
impl ReviewStore for MemoryReviewStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn upsert(
        &self,
        review: &Review,
        events: &(dyn Fn(Option<u8>) -> Vec<EventEnvelope> + Send + Sync),
    ) -> Result<(Review, Option<u8>), StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        let key = (review.product_id, review.user_id);
        let (stored, old) = match s.by_author.get(&key).copied() {
            Some(id) => {
                let existing = s.reviews.get_mut(&id).expect("indexed review exists");
                let old = existing.rating;
                existing.rating = review.rating;
                existing.text = review.text.clone();
                existing.updated_at = review.updated_at;
                (existing.clone(), Some(old))
            }
            None => {
                s.by_author.insert(key, review.id);
                s.reviews.insert(review.id, review.clone());
                (review.clone(), None)
            }
        };
        self.outbox.push(events(old));
        Ok((stored, old))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn get(&self, id: Uuid) -> Result<Option<Review>, StoreError> {
        Ok(self
            .inner
            .lock()
            .map_err(poisoned)?
            .reviews
            .get(&id)
            .cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_product(
        &self,
        product: ProductId,
        sort: Sort,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Review>, StoreError> {
        let s = self.inner.lock().map_err(poisoned)?;
        let mut found: Vec<Review> = s
            .reviews
            .values()
            .filter(|r| r.product_id == product)
            .cloned()
            .collect();
        match sort {
            Sort::Newest => {
                found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)))
            }
            Sort::Helpful => found.sort_by(|a, b| {
                b.helpful
                    .cmp(&a.helpful)
                    .then(b.created_at.cmp(&a.created_at))
            }),
        }
        Ok(found.into_iter().skip(offset).take(limit).collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn by_author(
        &self,
        product: ProductId,
        user: UserId,
    ) -> Result<Option<Review>, StoreError> {
        let s = self.inner.lock().map_err(poisoned)?;
        Ok(s.reviews
            .values()
            .find(|r| r.product_id == product && r.user_id == user)
            .cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn summary(&self, product: ProductId) -> Result<Summary, StoreError> {
        let s = self.inner.lock().map_err(poisoned)?;
        Ok(Summary::of(
            s.reviews
                .values()
                .filter(|r| r.product_id == product)
                .map(|r| r.rating),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn reply(
        &self,
        id: Uuid,
        reply: &Reply,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Review>, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        let Some(r) = s.reviews.get_mut(&id) else {
            return Ok(None);
        };
        r.reply = Some(reply.clone());
        let r = r.clone();
        self.outbox.push(events);
        Ok(Some(r))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn vote(&self, id: Uuid, user: UserId) -> Result<Option<bool>, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        if !s.reviews.contains_key(&id) {
            return Ok(None);
        }
        let counted = s.votes.insert((id, user));
        if counted {
            s.reviews.get_mut(&id).expect("checked").helpful += 1;
        }
        Ok(Some(counted))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn report(
        &self,
        id: Uuid,
        user: UserId,
        reason: &str,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<bool>, StoreError> {
        let mut s = self.inner.lock().map_err(poisoned)?;
        if !s.reviews.contains_key(&id) {
            return Ok(None);
        }
        if s.reports.contains_key(&(id, user)) {
            return Ok(Some(false));
        }
        s.reports.insert((id, user), reason.to_owned());
        s.reviews.get_mut(&id).expect("checked").reports += 1;
        self.outbox.push(events);
        Ok(Some(true))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
