//! Embedded analytics: the rollups as ordered maps behind one lock.
//!
//! Exactly-once by remembering every event id loaded (memory grows with
//! the event count: the embedded default serves development and demos,
//! ClickHouse serves production).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::NaiveDate;
use meridian_common::store::poisoned;
use uuid::Uuid;

use super::{AnalyticsStore, Ingested, StoreError};
use crate::domain::{
    DayRange, DeadLetter, DeliveryCell, Fact, Funnel, Measure, ProductSales, RatingCell, Record,
    SalesCell,
};

/// Dead letters kept (oldest dropped first).
const DEAD_CAP: usize = 10_000;

#[derive(Default)]
struct Sales {
    orders: u64,
    gross: i64,
    refunded: i64,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<Uuid>,
    dead_sources: HashSet<String>,
    dead: VecDeque<DeadLetter>,
    types: BTreeMap<String, u64>,
    /// (day, region, seller, currency)
    sales: BTreeMap<(NaiveDate, String, String, String), Sales>,
    /// (day, seller, product, currency) → (units, gross)
    products: BTreeMap<(NaiveDate, String, String, String), (u64, i64)>,
    /// (seller, day, stage) → distinct entities; seller "" is the platform
    funnel: BTreeMap<(String, NaiveDate, &'static str), HashSet<String>>,
    /// day → (ratings, stars)
    ratings: BTreeMap<NaiveDate, (i64, i64)>,
    /// (day, carrier) → (deliveries, seconds)
    deliveries: BTreeMap<(NaiveDate, String), (u64, i64)>,
}

impl Inner {
    fn add(&mut self, fact: &Fact) {
        let day = fact.day();
        let region = fact.event.region.clone();
        *self.types.entry(fact.event.event_type.clone()).or_default() += 1;
        if let Some(stage) = fact.measure.stage() {
            for seller in std::iter::once("").chain(fact.measure.funnel_sellers()) {
                self.funnel
                    .entry((seller.to_owned(), day, stage))
                    .or_default()
                    .insert(fact.event.aggregate_id.clone());
            }
        }
        match &fact.measure {
            Measure::OrderPaid {
                currency,
                subs,
                lines,
            } => {
                for sub in subs {
                    let cell = self
                        .sales
                        .entry((day, region.clone(), sub.seller.clone(), currency.clone()))
                        .or_default();
                    cell.orders += 1;
                    cell.gross += sub.cents;
                }
                for line in lines {
                    let cell = self
                        .products
                        .entry((
                            day,
                            line.seller.clone(),
                            line.product.clone(),
                            currency.clone(),
                        ))
                        .or_default();
                    cell.0 += u64::from(line.units);
                    cell.1 += line.cents;
                }
            }
            Measure::Refund {
                seller,
                currency,
                cents,
            } => {
                self.sales
                    .entry((day, region, seller.clone(), currency.clone()))
                    .or_default()
                    .refunded += cents;
            }
            Measure::Rating {
                rating, previous, ..
            } => {
                let cell = self.ratings.entry(day).or_default();
                cell.0 += i64::from(previous.is_none());
                cell.1 += i64::from(*rating) - previous.map_or(0, i64::from);
            }
            Measure::Delivery {
                carrier, seconds, ..
            } => {
                let cell = self.deliveries.entry((day, carrier.clone())).or_default();
                cell.0 += 1;
                cell.1 += seconds;
            }
            Measure::None | Measure::CartActivity { .. } | Measure::OrderPlaced { .. } => {}
        }
    }
}

#[derive(Default)]
pub struct MemoryAnalyticsStore {
    inner: Mutex<Inner>,
}

impl MemoryAnalyticsStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AnalyticsStore for MemoryAnalyticsStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ingest(&self, records: &[Record]) -> Result<Ingested, StoreError> {
        let mut inner = self.inner.lock().map_err(poisoned)?;
        let mut done = Ingested::default();
        for record in records {
            match record {
                Record::Fact(fact) => {
                    if inner.seen.insert(fact.event.id) {
                        inner.add(fact);
                        done.loaded += 1;
                    } else {
                        done.duplicates += 1;
                    }
                }
                Record::Dead(letter) => {
                    if inner.dead_sources.insert(letter.source.clone()) {
                        if inner.dead.len() >= DEAD_CAP {
                            inner.dead.pop_front();
                        }
                        inner.dead.push_back(letter.clone());
                        done.dead += 1;
                    }
                }
            }
        }
        Ok(done)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn sales(
        &self,
        seller: Option<&str>,
        range: DayRange,
    ) -> Result<Vec<SalesCell>, StoreError> {
        let inner = self.inner.lock().map_err(poisoned)?;
        let mut cells: BTreeMap<(NaiveDate, String, String), SalesCell> = BTreeMap::new();
        for ((day, region, who, currency), s) in &inner.sales {
            if !range.contains(*day) || seller.is_some_and(|wanted| wanted != who) {
                continue;
            }
            let cell = cells
                .entry((*day, region.clone(), currency.clone()))
                .or_insert_with(|| SalesCell {
                    day: *day,
                    region: region.clone(),
                    currency: currency.clone(),
                    orders: 0,
                    gross_cents: 0,
                    refunded_cents: 0,
                });
            cell.orders += s.orders;
            cell.gross_cents += s.gross;
            cell.refunded_cents += s.refunded;
        }
        Ok(cells.into_values().collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn top_products(
        &self,
        seller: Option<&str>,
        range: DayRange,
        limit: usize,
    ) -> Result<Vec<ProductSales>, StoreError> {
        let inner = self.inner.lock().map_err(poisoned)?;
        let mut totals: HashMap<(&str, &str, &str), (u64, i64)> = HashMap::new();
        for ((day, who, product, currency), (units, gross)) in &inner.products {
            if !range.contains(*day) || seller.is_some_and(|wanted| wanted != who) {
                continue;
            }
            let cell = totals.entry((product, who, currency)).or_default();
            cell.0 += units;
            cell.1 += gross;
        }
        let mut rows: Vec<ProductSales> = totals
            .into_iter()
            .map(|((product, who, currency), (units, gross))| ProductSales {
                product_id: product.to_owned(),
                seller_id: who.to_owned(),
                currency: currency.to_owned(),
                units,
                gross_cents: gross,
            })
            .collect();
        rows.sort_by(|a, b| {
            (b.gross_cents, b.units)
                .cmp(&(a.gross_cents, a.units))
                .then_with(|| a.product_id.cmp(&b.product_id))
        });
        rows.truncate(limit);
        Ok(rows)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn funnel(
        &self,
        seller: Option<&str>,
        range: DayRange,
    ) -> Result<(Funnel, Vec<(NaiveDate, Funnel)>), StoreError> {
        let inner = self.inner.lock().map_err(poisoned)?;
        let mut whole: HashMap<&str, HashSet<&str>> = HashMap::new();
        let mut days: BTreeMap<NaiveDate, Funnel> = BTreeMap::new();
        let who = seller.unwrap_or("");
        for ((of, day, stage), entities) in &inner.funnel {
            if of != who || !range.contains(*day) {
                continue;
            }
            days.entry(*day)
                .or_default()
                .set(stage, entities.len() as u64);
            whole
                .entry(stage)
                .or_default()
                .extend(entities.iter().map(String::as_str));
        }
        let mut total = Funnel::default();
        for (stage, entities) in whole {
            total.set(stage, entities.len() as u64);
        }
        Ok((total, days.into_iter().collect()))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ratings(&self, range: DayRange) -> Result<Vec<RatingCell>, StoreError> {
        let inner = self.inner.lock().map_err(poisoned)?;
        Ok(inner
            .ratings
            .range(range.from..=range.to)
            .map(|(day, (ratings, stars))| RatingCell {
                day: *day,
                ratings: *ratings,
                stars: *stars,
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn deliveries(&self, range: DayRange) -> Result<Vec<DeliveryCell>, StoreError> {
        let inner = self.inner.lock().map_err(poisoned)?;
        let mut carriers: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
        for ((day, carrier), (n, seconds)) in &inner.deliveries {
            if range.contains(*day) {
                let cell = carriers.entry(carrier).or_default();
                cell.0 += n;
                cell.1 += seconds;
            }
        }
        Ok(carriers
            .into_iter()
            .map(|(carrier, (deliveries, seconds))| DeliveryCell {
                carrier: carrier.to_owned(),
                deliveries,
                seconds,
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let inner = self.inner.lock().map_err(poisoned)?;
        Ok(inner.dead.iter().rev().take(limit).cloned().collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn event_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let inner = self.inner.lock().map_err(poisoned)?;
        Ok(inner.types.iter().map(|(t, n)| (t.clone(), *n)).collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "memory"))]
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
