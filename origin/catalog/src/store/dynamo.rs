//! Production catalog store: DynamoDB, with an optional Redis read-through
//! cache (`cache.rs`) for product reads.
//!
//! One table, generic `pk`/`sk` keys:
//! - product `P#<id>` / `P`: the product document (`doc`, JSON), and beside
//!   it the attributes that change concurrently and must not be
//!   overwritten by a document rewrite: `stock` (changed only by condition
//!   expressions), `r1`..`r5` (rating counters, `ADD`) and `ver` (optimistic
//!   version of `doc`). Active products also carry the sparse index keys
//!   `gall`/`gcat` and the sort keys `snew`/`sasc`/`sdesc`;
//! - reservation `R#<id>` / `R`: its lines and which products were released;
//! - `META` / `COUNT`: the number of products;
//! - `OUTBOX` / `<event id>`: events, written in the same transaction as
//!   the change they describe.
//!
//! Six GSIs (all products or one category × newest / price asc / price
//! desc) serve every listing as a key-range query: a page is a `Query` after
//! the cursor, never a scan. Sort keys are `<key as 20 digits>#<id>`, so the
//! order equals the embedded store's `(key, id)` order.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    GlobalSecondaryIndex, KeyType, KeysAndAttributes, Projection, ProjectionType,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use meridian_common::dynamo::{
    self, backoff, classify, get_json, get_n, get_n_or_zero, json, key, n, s, transact_put,
    transact_update, AttributeValue, Cancelled, DynamoOutbox, Item, CONFLICT_RETRIES,
};
use meridian_common::events::EventEnvelope;
use meridian_common::ProductId;
use uuid::Uuid;

use super::cache::ProductCache;
use super::{ProductStore, StoreError};
use crate::domain::{
    shortage, wanted, Category, CategoryCount, ListQuery, Page, Product, ProductPatch,
    ReserveError, ReserveLine, Sort, CATEGORIES,
};

pub struct DynamoProductStore {
    client: Client,
    table: String,
    cache: Option<ProductCache>,
    /// Striped locks: reservations of one product from this process take
    /// turns instead of cancelling each other's transactions (DynamoDB
    /// cancels concurrent transactions on one item); across processes the
    /// conflict retry remains.
    stripes: Vec<tokio::sync::Mutex<()>>,
}

const STRIPES: usize = 64;

fn product_key(id: ProductId) -> Item {
    key(format!("P#{id}"), "P")
}

fn reservation_key(id: Uuid) -> Item {
    key(format!("R#{id}"), "R")
}

fn count_key() -> Item {
    key("META", "COUNT")
}

/// `(key, id)` as a string whose byte order is the tuple's order.
fn sort_value(key: i64, id: ProductId) -> String {
    format!(
        "{:020}#{id}",
        (i128::from(key) - i128::from(i64::MIN)) as u64
    )
}

fn sort_attribute(sort: Sort) -> &'static str {
    match sort {
        Sort::Newest => "snew",
        Sort::PriceAsc => "sasc",
        Sort::PriceDesc => "sdesc",
    }
}

fn index_name(sort: Sort, category: bool) -> String {
    format!(
        "{}-{}",
        if category { "cat" } else { "all" },
        sort_attribute(sort)
    )
}

const SORTS: [Sort; 3] = [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc];

/// The index attributes of a product: set while active, removed otherwise.
fn index_values(p: &Product) -> Vec<(&'static str, AttributeValue)> {
    let mut out = vec![("gall", s("A")), ("gcat", s(p.category.slug()))];
    for sort in SORTS {
        out.push((sort_attribute(sort), s(sort_value(sort.key(p), p.id))));
    }
    out
}

fn rating_slot(stars: u8) -> String {
    format!("r{}", stars.clamp(1, 5))
}

/// Rebuilds a product from its item: the document plus the attributes that
/// are the source of truth for stock and ratings.
fn decode(item: &Item) -> Result<Product, StoreError> {
    let mut p: Product = get_json(item, "doc")?;
    p.stock = get_n::<u32>(item, "stock")?;
    let mut histogram = [0u32; 5];
    for (i, slot) in histogram.iter_mut().enumerate() {
        *slot = get_n_or_zero(item, &format!("r{}", i + 1))?.max(0) as u32;
    }
    p.rating.histogram = histogram;
    p.rating.count = histogram.iter().sum();
    Ok(p)
}

impl DynamoProductStore {
    /// Connects, creating the table and its indexes when missing.
    pub async fn connect(
        endpoint: Option<&str>,
        region: &str,
        table: &str,
        cache: Option<ProductCache>,
    ) -> Result<Self, StoreError> {
        let client = dynamo::client(endpoint, region).await;
        dynamo::ensure_table(&client, table, |mut create| {
            for attribute in ["gall", "gcat", "snew", "sasc", "sdesc"] {
                create = create.attribute_definitions(dynamo::string_attribute(attribute));
            }
            for category in [false, true] {
                for sort in SORTS {
                    create = create.global_secondary_indexes(
                        GlobalSecondaryIndex::builder()
                            .index_name(index_name(sort, category))
                            .key_schema(dynamo::key_element(
                                if category { "gcat" } else { "gall" },
                                KeyType::Hash,
                            ))
                            .key_schema(dynamo::key_element(sort_attribute(sort), KeyType::Range))
                            .projection(
                                Projection::builder()
                                    .projection_type(ProjectionType::All)
                                    .build(),
                            )
                            .build()
                            .expect("index fields set"),
                    );
                }
            }
            create
        })
        .await?;
        Ok(Self {
            client,
            table: table.to_owned(),
            cache,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        })
    }

    /// The reader a relay drains this store's events with.
    pub fn outbox(&self) -> DynamoOutbox {
        DynamoOutbox {
            client: self.client.clone(),
            table: self.table.clone(),
        }
    }

    /// Consistent batch read from the table, bypassing the cache.
    async fn load(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for id in chunk {
                keys = keys.keys(product_key(*id));
            }
            let mut request = Some(HashMap::from([(
                self.table.clone(),
                keys.build().expect("keys set"),
            )]));
            for attempt in 0..10 {
                let Some(items) = request.take().filter(|m| !m.is_empty()) else {
                    break;
                };
                let answer = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(classify)?;
                if let Some(found) = answer.responses().and_then(|r| r.get(&self.table)) {
                    for item in found {
                        out.push(decode(item)?);
                    }
                }
                request = answer.unprocessed_keys().cloned();
                if request.as_ref().is_some_and(|m| !m.is_empty()) {
                    backoff(attempt).await;
                }
            }
        }
        Ok(out)
    }

    async fn invalidate(&self, ids: &[ProductId]) {
        if let Some(cache) = &self.cache {
            if let Err(e) = cache.invalidate(ids).await {
                tracing::warn!(error = %e, "product cache not invalidated; entries expire by TTL");
            }
        }
    }

    /// Reads through the cache: hits from Redis, the rest from the table,
    /// filling the cache for the misses this reader holds leases for.
    async fn read_through(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.load(ids).await;
        };
        let lookup = match cache.lookup(ids).await {
            Ok(lookup) => lookup,
            Err(e) => {
                tracing::warn!(error = %e, "product cache unavailable; reading the table");
                return self.load(ids).await;
            }
        };
        let mut out = lookup.hits;
        let wanted: Vec<ProductId> = lookup
            .leased
            .iter()
            .map(|(id, _)| *id)
            .chain(lookup.unleased.iter().copied())
            .collect();
        if wanted.is_empty() {
            return Ok(out);
        }
        let loaded = self.load(&wanted).await?;
        for (id, token) in &lookup.leased {
            let result = match loaded.iter().find(|p| p.id == *id) {
                Some(p) => cache.fill(p, token).await,
                None => cache.release(*id).await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "product cache not filled");
            }
        }
        out.extend(loaded);
        Ok(out)
    }

    /// Rewrites the document under optimistic concurrency (`ver`), leaving
    /// stock and ratings alone; `None` if the product does not exist.
    async fn rewrite(
        &self,
        id: ProductId,
        change: impl Fn(&mut Product),
        new_stock: Option<u32>,
        events: &[EventEnvelope],
    ) -> Result<Option<Product>, StoreError> {
        for attempt in 0..CONFLICT_RETRIES {
            let Some(item) = dynamo::read_item(&self.client, &self.table, product_key(id)).await?
            else {
                return Ok(None);
            };
            let version: i64 = get_n(&item, "ver")?;
            let mut p = decode(&item)?;
            change(&mut p);
            if let Some(stock) = new_stock {
                p.stock = stock;
            }
            let mut sets = vec!["doc = :doc".to_owned(), "ver = ver + :one".to_owned()];
            let mut values = vec![(":doc", json(&p)), (":one", n(1)), (":ver", n(version))];
            if let Some(stock) = new_stock {
                sets.push("stock = :stock".into());
                values.push((":stock", n(stock)));
            }
            let mut expression = String::new();
            let index = index_values(&p);
            if p.is_active() {
                for (i, (name, value)) in index.into_iter().enumerate() {
                    sets.push(format!("{name} = :i{i}"));
                    values.push((INDEX_PLACEHOLDERS[i], value));
                }
                expression.push_str(&format!("SET {}", sets.join(", ")));
            } else {
                let names: Vec<&str> = index.iter().map(|(name, _)| *name).collect();
                expression.push_str(&format!(
                    "SET {} REMOVE {}",
                    sets.join(", "),
                    names.join(", ")
                ));
            }
            let mut items = vec![transact_update(
                &self.table,
                product_key(id),
                expression,
                Some("ver = :ver"),
                values,
            )];
            items.extend(dynamo::outbox_puts(&self.table, events));
            match dynamo::transact(&self.client, items).await? {
                Ok(()) => {
                    self.invalidate(&[id]).await;
                    return Ok(Some(p));
                }
                Err(_) => backoff(attempt).await,
            }
        }
        Err(StoreError::Unavailable(
            "dynamodb: product kept changing; gave up".into(),
        ))
    }

    async fn count_category(&self, category: Category) -> Result<u64, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index_name(Sort::Newest, true))
            .key_condition_expression("gcat = :c")
            .expression_attribute_values(":c", s(category.slug()));
        dynamo::count(query).await
    }
}

/// Expression placeholders of the index attributes, in `index_values` order.
const INDEX_PLACEHOLDERS: [&str; 5] = [":i0", ":i1", ":i2", ":i3", ":i4"];

/// The full item of a product written by `put`.
fn product_item(p: &Product, version: i64) -> Item {
    let mut item = product_key(p.id);
    item.insert("doc".into(), json(p));
    item.insert("stock".into(), n(p.stock));
    item.insert("ver".into(), n(version));
    for (i, count) in p.rating.histogram.iter().enumerate() {
        item.insert(format!("r{}", i + 1), n(count));
    }
    if p.is_active() {
        for (name, value) in index_values(p) {
            item.insert(name.to_owned(), value);
        }
    }
    item
}

#[async_trait]
impl ProductStore for DynamoProductStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn put(&self, product: &Product, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        // New: create it and bump the count in one transaction. Exists:
        // replace it (and bump its version so concurrent edits retry).
        let mut created = vec![
            transact_put(
                &self.table,
                product_item(product, 1),
                Some("attribute_not_exists(pk)"),
            ),
            transact_update(
                &self.table,
                count_key(),
                "ADD n :one".into(),
                None,
                vec![(":one", n(1))],
            ),
        ];
        created.extend(dynamo::outbox_puts(&self.table, &events));
        for attempt in 0..CONFLICT_RETRIES {
            match dynamo::transact(&self.client, created.clone()).await? {
                Ok(()) => {
                    self.invalidate(&[product.id]).await;
                    return Ok(());
                }
                Err(Cancelled::Conflict) => backoff(attempt).await,
                Err(Cancelled::Conditions(_)) => {
                    let version =
                        match dynamo::read_item(&self.client, &self.table, product_key(product.id))
                            .await?
                        {
                            Some(item) => get_n::<i64>(&item, "ver")?,
                            None => continue,
                        };
                    let mut replace = vec![transact_put(
                        &self.table,
                        product_item(product, version + 1),
                        Some("attribute_exists(pk)"),
                    )];
                    replace.extend(dynamo::outbox_puts(&self.table, &events));
                    if dynamo::transact(&self.client, replace).await?.is_ok() {
                        self.invalidate(&[product.id]).await;
                        return Ok(());
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "dynamodb: product kept changing; gave up".into(),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.read_through(&[id]).await?.into_iter().next())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let mut unique = ids.to_vec();
        unique.sort();
        unique.dedup();
        self.read_through(&unique).await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Product>, StoreError> {
        self.rewrite(id, |p| p.apply(patch, now), None, &events)
            .await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn set_stock(
        &self,
        id: ProductId,
        stock: u32,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Product>, StoreError> {
        self.rewrite(id, |p| p.updated_at = now, Some(stock), &events)
            .await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn reserve(
        &self,
        reservation: Uuid,
        lines: &[ReserveLine],
        events: Vec<EventEnvelope>,
    ) -> Result<Result<(), ReserveError>, StoreError> {
        // One update per product: duplicate lines count together, and a
        // transaction may touch an item only once.
        let wanted = wanted(lines);
        if wanted.len() + events.len() + 1 > 100 {
            return Err(StoreError::Other(
                "a reservation may hold at most 99 products with its events".into(),
            ));
        }
        let mut record = reservation_key(reservation);
        record.insert("lines".into(), json(&lines_json(lines)));
        record.insert("released".into(), json(&Vec::<ProductId>::new()));
        record.insert("ver".into(), n(1));
        let mut items = vec![transact_put(
            &self.table,
            record,
            Some("attribute_not_exists(pk)"),
        )];
        for (id, qty) in &wanted {
            items.push(transact_update(
                &self.table,
                product_key(*id),
                "SET stock = stock - :q".into(),
                // `gall` exists exactly while the product is active.
                Some("attribute_exists(gall) AND stock >= :q"),
                vec![(":q", n(qty))],
            ));
        }
        items.extend(dynamo::outbox_puts(&self.table, &events));
        let mut stripes: Vec<usize> = wanted
            .iter()
            .map(|(id, _)| id.0.as_u128() as usize % STRIPES)
            .collect();
        // Always in ascending order, so two reservations cannot deadlock.
        stripes.sort_unstable();
        stripes.dedup();
        let mut _held = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            _held.push(self.stripes[stripe].lock().await);
        }
        let ids: Vec<ProductId> = wanted.iter().map(|(id, _)| *id).collect();
        for attempt in 0..CONFLICT_RETRIES {
            let failed = match dynamo::transact(&self.client, items.clone()).await? {
                Ok(()) => {
                    self.invalidate(&ids).await;
                    return Ok(Ok(()));
                }
                Err(Cancelled::Conflict) => {
                    backoff(attempt).await;
                    continue;
                }
                Err(Cancelled::Conditions(failed)) => failed,
            };
            if failed.contains(&0) {
                // This reservation already exists: idempotent success.
                return Ok(Ok(()));
            }
            let current = self.load(&ids).await?;
            if let Some(refused) = shortage(&wanted, |id| current.iter().find(|p| p.id == id)) {
                return Ok(Err(refused));
            }
            // Stock came back between the attempt and the check: retry.
            backoff(attempt).await;
        }
        Err(StoreError::Unavailable(
            "dynamodb: stock too contended; retry".into(),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn release(
        &self,
        reservation: Uuid,
        only: Option<&[ProductId]>,
        events: Vec<EventEnvelope>,
    ) -> Result<bool, StoreError> {
        for attempt in 0..CONFLICT_RETRIES {
            let Some(item) =
                dynamo::read_item(&self.client, &self.table, reservation_key(reservation)).await?
            else {
                return Ok(false);
            };
            let version: i64 = get_n(&item, "ver")?;
            let lines: Vec<(ProductId, u32)> = get_json(&item, "lines")?;
            let mut released: Vec<ProductId> = get_json(&item, "released")?;
            let mut restock: Vec<(ProductId, u64)> = Vec::new();
            for (id, qty) in &lines {
                let selected = only.is_none_or(|ids| ids.contains(id));
                if selected && !released.contains(id) {
                    match restock.iter_mut().find(|(p, _)| p == id) {
                        Some((_, total)) => *total += u64::from(*qty),
                        None => restock.push((*id, u64::from(*qty))),
                    }
                }
            }
            if restock.is_empty() {
                return Ok(false);
            }
            released.extend(restock.iter().map(|(id, _)| *id));
            let mut items = vec![transact_update(
                &self.table,
                reservation_key(reservation),
                "SET released = :r, ver = ver + :one".into(),
                Some("ver = :ver"),
                vec![
                    (":r", json(&released)),
                    (":one", n(1)),
                    (":ver", n(version)),
                ],
            )];
            for (id, qty) in &restock {
                items.push(transact_update(
                    &self.table,
                    product_key(*id),
                    "ADD stock :q".into(),
                    Some("attribute_exists(pk)"),
                    vec![(":q", n(qty))],
                ));
            }
            items.extend(dynamo::outbox_puts(&self.table, &events));
            match dynamo::transact(&self.client, items).await? {
                Ok(()) => {
                    let ids: Vec<ProductId> = restock.iter().map(|(id, _)| *id).collect();
                    self.invalidate(&ids).await;
                    return Ok(true);
                }
                Err(_) => backoff(attempt).await,
            }
        }
        Err(StoreError::Unavailable(
            "dynamodb: reservation kept changing; retry".into(),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn apply_rating(
        &self,
        id: ProductId,
        old: Option<u8>,
        new: Option<u8>,
    ) -> Result<(), StoreError> {
        let mut deltas: Vec<(String, i64)> = Vec::new();
        if let Some(r) = old {
            deltas.push((rating_slot(r), -1));
        }
        if let Some(r) = new {
            match deltas.iter_mut().find(|(slot, _)| *slot == rating_slot(r)) {
                Some((_, d)) => *d += 1,
                None => deltas.push((rating_slot(r), 1)),
            }
        }
        deltas.retain(|(_, d)| *d != 0);
        if deltas.is_empty() {
            return Ok(());
        }
        let expression = deltas
            .iter()
            .map(|(slot, _)| format!("{slot} :{slot}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(product_key(id)))
            .update_expression(format!("ADD {expression}"))
            .condition_expression("attribute_exists(pk)");
        for (slot, delta) in &deltas {
            request = request.expression_attribute_values(format!(":{slot}"), n(delta));
        }
        match request.send().await {
            Ok(_) => {}
            // Unknown product: nothing to summarise, like the embedded store.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(classify(e)),
        }
        self.invalidate(&[id]).await;
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let attribute = sort_attribute(query.sort);
        let (hash_name, hash_value) = match query.category {
            Some(c) => ("gcat", c.slug()),
            None => ("gall", "A"),
        };
        let mut condition = format!("{hash_name} = :h");
        let mut values = vec![(":h", s(hash_value))];
        if let Some(after) = query.after {
            condition.push_str(&format!(" AND {attribute} > :after"));
            values.push((":after", s(sort_value(after.key, after.id))));
        }
        let want = query.limit as usize + 1;
        let mut items: Vec<Product> = Vec::with_capacity(want);
        let mut start: Option<Item> = None;
        // A filter drops some of what a query reads: read in larger steps
        // then, so a narrow filter costs a few round trips, not one per item.
        let step = |missing: usize| {
            if query.filter.is_open() {
                missing
            } else {
                missing.max(100)
            }
        };
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index_name(query.sort, query.category.is_some()))
                .key_condition_expression(&condition)
                .limit(step(want - items.len()) as i32)
                .set_exclusive_start_key(start);
            for (name, value) in &values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let out = request.send().await.map_err(classify)?;
            for item in out.items() {
                let product = decode(item)?;
                if query.filter.admits(&product) && items.len() < want {
                    items.push(product);
                }
            }
            start = out.last_evaluated_key().cloned();
            if items.len() >= want || start.is_none() {
                break;
            }
        }
        let more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        Ok(Page::new(items, more, query.sort))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError> {
        let counts = futures::future::try_join_all(CATEGORIES.iter().map(|(slug, _)| {
            let category = Category::parse(slug).expect("taxonomy slugs parse");
            self.count_category(category)
        }))
        .await?;
        Ok(CATEGORIES
            .iter()
            .zip(counts)
            .map(|((slug, name), product_count)| CategoryCount {
                slug,
                name,
                product_count,
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn count(&self) -> Result<u64, StoreError> {
        match dynamo::read_item(&self.client, &self.table, count_key()).await? {
            Some(item) => Ok(get_n_or_zero(&item, "n")?.max(0) as u64),
            None => Ok(0),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn ping(&self) -> Result<(), StoreError> {
        // The cache is not probed: without it reads still work (slower).
        dynamo::read_item(&self.client, &self.table, count_key()).await?;
        Ok(())
    }
}

/// Reservation lines as stored: `[product id, quantity]` pairs.
fn lines_json(lines: &[ReserveLine]) -> Vec<(ProductId, u32)> {
    lines.iter().map(|l| (l.product_id, l.quantity)).collect()
}
