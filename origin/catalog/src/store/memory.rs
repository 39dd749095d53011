//! Embedded catalog store: products in memory with ordered indexes per sort
//! and per category, so a page is a range walk, not a scan and sort.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;
use meridian_common::ProductId;

use super::{ProductStore, StoreError};
use crate::domain::{Category, CategoryCount, Cursor, ListQuery, Page, Product, Sort, CATEGORIES};

const SORTS: [Sort; 3] = [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc];

#[derive(Default)]
pub struct MemoryProductStore {
    inner: RwLock<State>,
}

/// Which index: one per sort, for all products (`None`) and per category.
type IndexKey = (Sort, Option<Category>);
/// An index: `(sort key, id)` in ascending order.
type Index = BTreeSet<(i64, ProductId)>;

#[derive(Default)]
struct State {
    by_id: HashMap<ProductId, Product>,
    /// `(sort, category or None for all)` → ordered `(key, id)`.
    indexes: HashMap<IndexKey, Index>,
}

impl State {
    fn index_entries(
        p: &Product,
    ) -> impl Iterator<Item = ((Sort, Option<Category>), (i64, ProductId))> + '_ {
        SORTS.into_iter().flat_map(move |sort| {
            let entry = (sort.key(p), p.id);
            [((sort, None), entry), ((sort, Some(p.category)), entry)]
        })
    }

    fn remove(&mut self, id: ProductId) {
        if let Some(old) = self.by_id.remove(&id) {
            for (index, entry) in Self::index_entries(&old) {
                if let Some(set) = self.indexes.get_mut(&index) {
                    set.remove(&entry);
                }
            }
        }
    }

    fn insert(&mut self, p: Product) {
        for (index, entry) in Self::index_entries(&p) {
            self.indexes.entry(index).or_default().insert(entry);
        }
        self.by_id.insert(p.id, p);
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Other("catalog store lock poisoned".into())
}

#[async_trait]
impl ProductStore for MemoryProductStore {
    async fn put(&self, product: &Product) -> Result<(), StoreError> {
        let mut state = self.inner.write().map_err(poisoned)?;
        state.remove(product.id);
        state.insert(product.clone());
        Ok(())
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.inner.read().map_err(poisoned)?.by_id.get(&id).cloned())
    }

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
        let mut entries = index.range((start, Unbounded));
        let items: Vec<Product> = entries
            .by_ref()
            .take(limit)
            .filter_map(|(_, id)| state.by_id.get(id).cloned())
            .collect();
        let next = if entries.next().is_some() {
            items.last().map(|last| Cursor {
                sort: query.sort,
                key: query.sort.key(last),
                id: last.id,
            })
        } else {
            None
        };
        Ok(Page { items, next })
    }

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

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.inner.read().map_err(poisoned)?.by_id.len() as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
