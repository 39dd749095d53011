//! Embedded catalog store: products in memory with ordered indexes per sort
//! and per category, so a page is a range walk, not a scan and sort.
//! Reservations take stock for every line under one lock (all or nothing).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meridian_common::events::{EventEnvelope, MemoryOutbox};
use meridian_common::ProductId;
use uuid::Uuid;

use meridian_common::store::poisoned;

use super::{ProductStore, StoreError};
use crate::domain::{
    shortage, wanted, Category, CategoryCount, ListQuery, Page, Product, ProductPatch,
    ReserveError, ReserveLine, Sort, CATEGORIES,
};

const SORTS: [Sort; 3] = [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc];

/// Which index: one per sort, for all products (`None`) and per category.
type IndexKey = (Sort, Option<Category>);
/// An index: `(sort key, id)` in ascending order.
type Index = BTreeSet<(i64, ProductId)>;

pub struct MemoryProductStore {
    inner: RwLock<State>,
    outbox: Arc<MemoryOutbox>,
}

impl Default for MemoryProductStore {
    fn default() -> Self {
        Self::new(MemoryOutbox::new())
    }
}

impl MemoryProductStore {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            inner: RwLock::default(),
            outbox,
        }
    }
}

struct Reservation {
    lines: Vec<ReserveLine>,
    released: HashSet<ProductId>,
}

#[derive(Default)]
struct State {
    by_id: HashMap<ProductId, Product>,
    /// Only active products are indexed (listed).
    indexes: HashMap<IndexKey, Index>,
    reservations: HashMap<Uuid, Reservation>,
}

impl State {
    fn index_entries(p: &Product) -> impl Iterator<Item = (IndexKey, (i64, ProductId))> + '_ {
        SORTS.into_iter().flat_map(move |sort| {
            let entry = (sort.key(p), p.id);
            [((sort, None), entry), ((sort, Some(p.category)), entry)]
        })
    }

    fn unindex(&mut self, p: &Product) {
        for (index, entry) in Self::index_entries(p) {
            if let Some(set) = self.indexes.get_mut(&index) {
                set.remove(&entry);
            }
        }
    }

    fn index(&mut self, p: &Product) {
        if p.is_active() {
            for (index, entry) in Self::index_entries(p) {
                self.indexes.entry(index).or_default().insert(entry);
            }
        }
    }

    /// Replaces a product, keeping the indexes in step.
    fn store(&mut self, p: Product) {
        if let Some(old) = self.by_id.remove(&p.id) {
            self.unindex(&old);
        }
        self.index(&p);
        self.by_id.insert(p.id, p);
    }

    /// Mutates a product in place; stock changes do not move index keys.
    fn modify(&mut self, id: ProductId, f: impl FnOnce(&mut Product)) -> Option<Product> {
        let mut p = self.by_id.get(&id)?.clone();
        f(&mut p);
        self.store(p.clone());
        Some(p)
    }
}

#[async_trait]
impl ProductStore for MemoryProductStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn put(&self, product: &Product, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        let mut state = self.inner.write().map_err(poisoned)?;
        state.store(product.clone());
        self.outbox.push(events);
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.inner.read().map_err(poisoned)?.by_id.get(&id).cloned())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let state = self.inner.read().map_err(poisoned)?;
        let unique: HashSet<&ProductId> = ids.iter().collect();
        Ok(unique
            .into_iter()
            .filter_map(|id| state.by_id.get(id).cloned())
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Product>, StoreError> {
        let mut state = self.inner.write().map_err(poisoned)?;
        let updated = state.modify(id, |p| p.apply(patch, now));
        if updated.is_some() {
            self.outbox.push(events);
        }
        Ok(updated)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn set_stock(
        &self,
        id: ProductId,
        stock: u32,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Product>, StoreError> {
        let mut state = self.inner.write().map_err(poisoned)?;
        let updated = state.modify(id, |p| {
            p.stock = stock;
            p.updated_at = now;
        });
        if updated.is_some() {
            self.outbox.push(events);
        }
        Ok(updated)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn reserve(
        &self,
        reservation: Uuid,
        lines: &[ReserveLine],
        events: Vec<EventEnvelope>,
    ) -> Result<Result<(), ReserveError>, StoreError> {
        let mut state = self.inner.write().map_err(poisoned)?;
        if state.reservations.contains_key(&reservation) {
            return Ok(Ok(()));
        }
        let wanted = wanted(lines);
        if let Some(refused) = shortage(&wanted, |id| state.by_id.get(&id)) {
            return Ok(Err(refused));
        }
        for (id, qty) in wanted {
            let p = state.by_id.get_mut(&id).expect("checked above");
            p.stock -= qty as u32;
        }
        state.reservations.insert(
            reservation,
            Reservation {
                lines: lines.to_vec(),
                released: HashSet::new(),
            },
        );
        self.outbox.push(events);
        Ok(Ok(()))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn release(
        &self,
        reservation: Uuid,
        only: Option<&[ProductId]>,
        events: Vec<EventEnvelope>,
    ) -> Result<bool, StoreError> {
        let mut state = self.inner.write().map_err(poisoned)?;
        let State {
            by_id,
            reservations,
            ..
        } = &mut *state;
        let Some(r) = reservations.get_mut(&reservation) else {
            return Ok(false);
        };
        let mut restocked = false;
        for line in &r.lines {
            let selected = only.is_none_or(|ids| ids.contains(&line.product_id));
            if selected && !r.released.contains(&line.product_id) {
                if let Some(p) = by_id.get_mut(&line.product_id) {
                    p.stock = p.stock.saturating_add(line.quantity);
                }
                restocked = true;
            }
        }
        for line in &r.lines {
            if only.is_none_or(|ids| ids.contains(&line.product_id)) {
                r.released.insert(line.product_id);
            }
        }
        if restocked {
            self.outbox.push(events);
        }
        Ok(restocked)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn apply_rating(
        &self,
        id: ProductId,
        old: Option<u8>,
        new: Option<u8>,
    ) -> Result<(), StoreError> {
        let mut state = self.inner.write().map_err(poisoned)?;
        state.modify(id, |p| p.rating.apply(old, new));
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let state = self.inner.read().map_err(poisoned)?;
        let Some(index) = state.indexes.get(&(query.sort, query.category)) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let start = match query.after {
            Some(c) => Excluded((c.key, c.id)),
            None => Unbounded,
        };
        let limit = query.limit as usize;
        let mut entries = index
            .range((start, Unbounded))
            .filter_map(|(_, id)| state.by_id.get(id))
            .filter(|p| query.filter.admits(p));
        let items: Vec<Product> = entries.by_ref().take(limit).cloned().collect();
        let more = entries.next().is_some();
        Ok(Page::new(items, more, query.sort))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError> {
        let state = self.inner.read().map_err(poisoned)?;
        Ok(CATEGORIES
            .iter()
            .map(|(slug, name)| {
                let category = Category::parse(slug).expect("taxonomy slugs parse");
                let count = state
                    .indexes
                    .get(&(Sort::Newest, Some(category)))
                    .map_or(0, BTreeSet::len);
                CategoryCount {
                    slug,
                    name,
                    product_count: count as u64,
                }
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.inner.read().map_err(poisoned)?.by_id.len() as u64)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
