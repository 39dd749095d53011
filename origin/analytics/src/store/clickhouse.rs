//! Analytics in ClickHouse (tested against 18.16, the server Debian ships).
//!
//! `ingest` writes one block into `events`; the materialized views of
//! `migrations/0002_rollups.sql` turn it into the rollups inside the same
//! INSERT. Before writing, the batch's ids are looked up in `events` and the
//! ones already there are skipped: a batch redelivered after a crash between
//! insert and offset commit adds nothing. (Each partition is read by one
//! loader of the group at a time, and an event's id always travels in its
//! aggregate's partition, so two loaders never race on one id.)

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use clickhouse::query::Query;
use clickhouse::sql::Identifier;
use clickhouse::{Client, Row, RowOwned, RowWrite};
use serde::{Deserialize, Serialize};

use super::clickhouse_ddl::{adapt, create_database, Cluster};
use super::{AnalyticsStore, Ingested, StoreError};
use crate::domain::{
    DayRange, DeadLetter, DeliveryCell, Fact, Funnel, Measure, ProductSales, RatingCell, Record,
    SalesCell,
};

/// The migrations, applied in order; each is idempotent DDL (`IF NOT
/// EXISTS`), so regions starting together may all apply them.
pub(super) const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "events",
        include_str!("../../migrations/0001_events.sql"),
    ),
    (
        2,
        "rollups",
        include_str!("../../migrations/0002_rollups.sql"),
    ),
    (
        3,
        "seller_funnel",
        include_str!("../../migrations/0003_seller_funnel.sql"),
    ),
];

pub struct ClickhouseAnalyticsStore {
    client: Client,
}

fn unavailable(e: clickhouse::error::Error) -> StoreError {
    StoreError::Unavailable(format!("clickhouse: {e}"))
}

/// The statements of a migration file: split on `;` at line ends, comments
/// dropped.
pub(super) fn statements(sql: &str) -> Vec<String> {
    sql.split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .trim_end_matches(';')
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Days since 1970-01-01, ClickHouse's `Date` in RowBinary.
fn day_number(day: NaiveDate) -> u16 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    u16::try_from((day - epoch).num_days()).unwrap_or(0)
}

fn from_day_number(n: u16) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date") + chrono::Duration::days(i64::from(n))
}

fn seconds(at: chrono::DateTime<Utc>) -> u32 {
    u32::try_from(at.timestamp()).unwrap_or(0)
}

#[derive(Row, Serialize)]
struct EventRow {
    id: String,
    event_type: String,
    version: u16,
    occurred_at: u32,
    day: u16,
    region: String,
    aggregate_id: String,
    payload: String,
    stage: String,
    currency: String,
    #[serde(rename = "subs.seller")]
    sub_sellers: Vec<String>,
    #[serde(rename = "subs.cents")]
    sub_cents: Vec<i64>,
    #[serde(rename = "lines.seller")]
    line_sellers: Vec<String>,
    #[serde(rename = "lines.product")]
    line_products: Vec<String>,
    #[serde(rename = "lines.units")]
    line_units: Vec<u32>,
    #[serde(rename = "lines.cents")]
    line_cents: Vec<i64>,
    refund_seller: String,
    refund_cents: i64,
    rating_seller: String,
    rating_product: String,
    ratings: i8,
    stars: i16,
    delivery_seller: String,
    carrier: String,
    delivery_seconds: i64,
    loaded_at: u32,
}

impl EventRow {
    fn new(fact: &Fact, now: u32) -> Self {
        let e = &fact.event;
        let mut row = EventRow {
            id: e.id.to_string(),
            event_type: e.event_type.clone(),
            version: e.version,
            occurred_at: seconds(e.occurred_at),
            day: day_number(fact.day()),
            region: e.region.clone(),
            aggregate_id: e.aggregate_id.clone(),
            payload: e.payload.to_string(),
            stage: fact.measure.stage().unwrap_or("").to_owned(),
            currency: String::new(),
            sub_sellers: Vec::new(),
            sub_cents: Vec::new(),
            line_sellers: Vec::new(),
            line_products: Vec::new(),
            line_units: Vec::new(),
            line_cents: Vec::new(),
            refund_seller: String::new(),
            refund_cents: 0,
            rating_seller: String::new(),
            rating_product: String::new(),
            ratings: 0,
            stars: 0,
            delivery_seller: String::new(),
            carrier: String::new(),
            delivery_seconds: 0,
            loaded_at: now,
        };
        match &fact.measure {
            Measure::OrderPaid {
                currency,
                subs,
                lines,
            } => {
                row.currency.clone_from(currency);
                row.sub_sellers = subs.iter().map(|s| s.seller.clone()).collect();
                row.sub_cents = subs.iter().map(|s| s.cents).collect();
                row.line_sellers = lines.iter().map(|l| l.seller.clone()).collect();
                row.line_products = lines.iter().map(|l| l.product.clone()).collect();
                row.line_units = lines.iter().map(|l| l.units).collect();
                row.line_cents = lines.iter().map(|l| l.cents).collect();
            }
            Measure::Refund {
                seller,
                currency,
                cents,
            } => {
                row.currency.clone_from(currency);
                row.refund_seller.clone_from(seller);
                row.refund_cents = *cents;
            }
            Measure::Rating {
                seller,
                product,
                rating,
                previous,
            } => {
                row.rating_seller.clone_from(seller);
                row.rating_product.clone_from(product);
                row.ratings = i8::from(previous.is_none());
                row.stars = i16::from(*rating) - previous.map_or(0, i16::from);
            }
            Measure::Delivery {
                seller,
                carrier,
                seconds,
            } => {
                row.delivery_seller.clone_from(seller);
                row.carrier.clone_from(carrier);
                row.delivery_seconds = *seconds;
            }
            // The funnel's sellers ride in `subs` (no money): the
            // per-seller funnel view reads them from there.
            Measure::CartActivity { .. } | Measure::OrderPlaced { .. } => {
                row.sub_sellers = fact
                    .measure
                    .funnel_sellers()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                row.sub_cents = vec![0; row.sub_sellers.len()];
            }
            Measure::None => {}
        }
        row
    }
}

#[derive(Row, Serialize, Deserialize)]
struct DeadRow {
    source: String,
    message_key: String,
    raw: String,
    reason: String,
    received_at: u32,
}

impl ClickhouseAnalyticsStore {
    /// Connects, creates the database if missing and applies the
    /// migrations.
    pub async fn connect(
        url: &str,
        database: &str,
        user: Option<&str>,
        password: Option<&str>,
        cluster: Option<&Cluster>,
    ) -> Result<Self, StoreError> {
        let mut base = Client::default().with_url(url).with_validation(false);
        if let Some(user) = user {
            base = base.with_user(user);
        }
        if let Some(password) = password {
            base = base.with_password(password);
        }
        // The database name was validated with the config (letters, digits,
        // '-', '_', '.'); DDL takes it in the text because `ON CLUSTER`
        // statements are rewritten per host by the server.
        base.query(&create_database(database, cluster))
            .execute()
            .await
            .map_err(unavailable)?;
        let client = base.with_database(database);
        // On a cluster the record of applied migrations is replicated too,
        // so a replica never re-applies what another one did.
        let ddl = |sql: &str| adapt(sql, database, cluster).map_err(StoreError::Other);
        client
            .query(&ddl(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, \
                 applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version",
            )?)
            .execute()
            .await
            .map_err(unavailable)?;
        let applied: Vec<u32> = client
            .query("SELECT DISTINCT version FROM schema_migrations")
            .fetch_all::<u32>()
            .await
            .map_err(unavailable)?;
        for (version, name, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            for statement in statements(sql) {
                client
                    .query(&ddl(&statement)?)
                    .execute()
                    .await
                    .map_err(|e| StoreError::Other(format!("migration {version} {name}: {e}")))?;
            }
            client
                .query("INSERT INTO schema_migrations VALUES (?, ?, now())")
                .bind(version)
                .bind(name)
                .execute()
                .await
                .map_err(unavailable)?;
            tracing::info!(version, name, "clickhouse migration applied");
        }
        Ok(Self { client })
    }

    /// Those of `values` already stored in `table.column` (18.16's `IN`
    /// takes no array, hence the `arrayJoin` subquery).
    async fn already_stored(
        &self,
        table: &str,
        column: &str,
        values: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if values.is_empty() {
            return Ok(Default::default());
        }
        let rows = self
            .client
            .query("SELECT ? FROM ? WHERE ? IN (SELECT arrayJoin(?))")
            .bind(Identifier(column))
            .bind(Identifier(table))
            .bind(Identifier(column))
            .bind(values)
            .fetch_all::<String>()
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().collect())
    }

    async fn write<T: RowOwned + RowWrite>(
        &self,
        table: &str,
        rows: &[T],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<T>(table).await.map_err(unavailable)?;
        for row in rows {
            insert.write(row).await.map_err(unavailable)?;
        }
        insert.end().await.map_err(unavailable)
    }
}

/// Binds a range's first and last day (as date literals) to the next two
/// `?` of a query.
trait InRange {
    fn in_range(self, range: DayRange) -> Self;
}

impl InRange for Query {
    fn in_range(self, range: DayRange) -> Self {
        let text = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        self.bind(text(range.from)).bind(text(range.to))
    }
}

#[derive(Row, Deserialize)]
struct SalesRow {
    day: u16,
    region: String,
    currency: String,
    orders: u64,
    gross_cents: i64,
    refunded_cents: i64,
}

#[derive(Row, Deserialize)]
struct ProductRow {
    product: String,
    seller: String,
    currency: String,
    units: u64,
    gross_cents: i64,
}

#[derive(Row, Deserialize)]
struct StageRow {
    stage: String,
    entities: u64,
}

#[derive(Row, Deserialize)]
struct DayStageRow {
    day: u16,
    stage: String,
    entities: u64,
}

#[derive(Row, Deserialize)]
struct RatingRow {
    day: u16,
    ratings: i64,
    stars: i64,
}

#[derive(Row, Deserialize)]
struct DeliveryRow {
    carrier: String,
    deliveries: u64,
    seconds: i64,
}

#[derive(Row, Deserialize)]
struct CountRow {
    event_type: String,
    events: u64,
}

#[async_trait]
impl AnalyticsStore for ClickhouseAnalyticsStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn ingest(&self, records: &[Record]) -> Result<Ingested, StoreError> {
        let mut done = Ingested::default();
        let facts: Vec<&Fact> = records
            .iter()
            .filter_map(|r| match r {
                Record::Fact(f) => Some(f),
                Record::Dead(_) => None,
            })
            .collect();
        let ids: Vec<String> = facts.iter().map(|f| f.event.id.to_string()).collect();
        let mut skip = self.already_stored("events", "id", &ids).await?;
        let now = seconds(Utc::now());
        let mut rows = Vec::with_capacity(facts.len());
        for (fact, id) in facts.into_iter().zip(ids) {
            // `insert` is false for an id already loaded or seen earlier in
            // this batch.
            if skip.insert(id) {
                rows.push(EventRow::new(fact, now));
            } else {
                done.duplicates += 1;
            }
        }
        done.loaded = rows.len();
        self.write("events", &rows).await?;

        let letters: Vec<&DeadLetter> = records
            .iter()
            .filter_map(|r| match r {
                Record::Dead(d) => Some(d),
                Record::Fact(_) => None,
            })
            .collect();
        let sources: Vec<String> = letters.iter().map(|d| d.source.clone()).collect();
        let mut parked = self
            .already_stored("dead_letters", "source", &sources)
            .await?;
        let dead: Vec<DeadRow> = letters
            .into_iter()
            .filter(|d| parked.insert(d.source.clone()))
            .map(|d| DeadRow {
                source: d.source.clone(),
                message_key: d.key.clone().unwrap_or_default(),
                raw: d.raw.clone(),
                reason: d.reason.clone(),
                received_at: seconds(d.received_at),
            })
            .collect();
        done.dead = dead.len();
        self.write("dead_letters", &dead).await?;
        Ok(done)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn sales(
        &self,
        seller: Option<&str>,
        range: DayRange,
    ) -> Result<Vec<SalesCell>, StoreError> {
        let rows: Vec<SalesRow> = self
            .client
            .query(
                "SELECT toUInt16(day) AS day_number, region, currency, sum(orders) AS orders, \
                 sum(gross_cents) AS gross_cents, sum(refunded_cents) AS refunded_cents \
                 FROM sales_daily \
                 WHERE day >= toDate(?) AND day <= toDate(?) AND (? = '' OR seller = ?) \
                 GROUP BY day, region, currency ORDER BY day, region, currency",
            )
            .in_range(range)
            .bind(seller.unwrap_or(""))
            .bind(seller.unwrap_or(""))
            .fetch_all()
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| SalesCell {
                day: from_day_number(r.day),
                region: r.region,
                currency: r.currency,
                orders: r.orders,
                gross_cents: r.gross_cents,
                refunded_cents: r.refunded_cents,
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn top_products(
        &self,
        seller: Option<&str>,
        range: DayRange,
        limit: usize,
    ) -> Result<Vec<ProductSales>, StoreError> {
        let rows: Vec<ProductRow> = self
            .client
            .query(
                "SELECT product, seller, currency, sum(units) AS units, \
                 sum(gross_cents) AS gross_cents FROM product_sales_daily \
                 WHERE day >= toDate(?) AND day <= toDate(?) AND (? = '' OR seller = ?) \
                 GROUP BY product, seller, currency \
                 ORDER BY gross_cents DESC, units DESC, product LIMIT ?",
            )
            .in_range(range)
            .bind(seller.unwrap_or(""))
            .bind(seller.unwrap_or(""))
            .bind(limit as u64)
            .fetch_all()
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| ProductSales {
                product_id: r.product,
                seller_id: r.seller,
                currency: r.currency,
                units: r.units,
                gross_cents: r.gross_cents,
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn funnel(
        &self,
        seller: Option<&str>,
        range: DayRange,
    ) -> Result<(Funnel, Vec<(NaiveDate, Funnel)>), StoreError> {
        // The platform's funnel, or one seller's (its own rollup).
        let (table, only_seller) = match seller {
            Some(_) => ("seller_funnel_daily", " AND seller = ?"),
            None => ("funnel_daily", ""),
        };
        let query = |sql: String| {
            let q = self.client.query(&sql).in_range(range);
            match seller {
                Some(s) => q.bind(s),
                None => q,
            }
        };
        let whole: Vec<StageRow> = query(format!(
            "SELECT stage, uniqExactMerge(entities) AS entities FROM {table} \
             WHERE day >= toDate(?) AND day <= toDate(?){only_seller} GROUP BY stage"
        ))
        .fetch_all()
        .await
        .map_err(unavailable)?;
        let days: Vec<DayStageRow> = query(format!(
            "SELECT toUInt16(day) AS day_number, stage, uniqExactMerge(entities) AS entities \
             FROM {table} WHERE day >= toDate(?) AND day <= toDate(?){only_seller} \
             GROUP BY day, stage ORDER BY day"
        ))
        .fetch_all()
        .await
        .map_err(unavailable)?;
        let mut total = Funnel::default();
        for row in whole {
            total.set(&row.stage, row.entities);
        }
        let mut per_day: Vec<(NaiveDate, Funnel)> = Vec::new();
        for row in days {
            let day = from_day_number(row.day);
            if per_day.last().is_none_or(|(d, _)| *d != day) {
                per_day.push((day, Funnel::default()));
            }
            if let Some((_, funnel)) = per_day.last_mut() {
                funnel.set(&row.stage, row.entities);
            }
        }
        Ok((total, per_day))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn ratings(&self, range: DayRange) -> Result<Vec<RatingCell>, StoreError> {
        let rows: Vec<RatingRow> = self
            .client
            .query(
                "SELECT toUInt16(day) AS day_number, sum(ratings) AS ratings, sum(stars) AS stars \
                 FROM ratings_daily WHERE day >= toDate(?) AND day <= toDate(?) \
                 GROUP BY day ORDER BY day",
            )
            .in_range(range)
            .fetch_all()
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| RatingCell {
                day: from_day_number(r.day),
                ratings: r.ratings,
                stars: r.stars,
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn deliveries(&self, range: DayRange) -> Result<Vec<DeliveryCell>, StoreError> {
        let rows: Vec<DeliveryRow> = self
            .client
            .query(
                "SELECT carrier, sum(deliveries) AS deliveries, sum(seconds) AS seconds \
                 FROM deliveries_daily WHERE day >= toDate(?) AND day <= toDate(?) \
                 GROUP BY carrier ORDER BY carrier",
            )
            .in_range(range)
            .fetch_all()
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| DeliveryCell {
                carrier: r.carrier,
                deliveries: r.deliveries,
                seconds: r.seconds,
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<DeadRow> = self
            .client
            .query(
                "SELECT source, message_key, raw, reason, toUInt32(received_at) AS received_at \
                 FROM dead_letters FINAL ORDER BY received_at DESC, source DESC LIMIT ?",
            )
            .bind(limit as u64)
            .fetch_all()
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| DeadLetter {
                source: r.source,
                key: (!r.message_key.is_empty()).then_some(r.message_key),
                raw: r.raw,
                reason: r.reason,
                received_at: chrono::DateTime::from_timestamp(i64::from(r.received_at), 0)
                    .unwrap_or_default(),
            })
            .collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn event_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        // uniqExact, not count(): exact even before ReplacingMergeTree
        // merged away a duplicate that slipped past the loader.
        let rows: Vec<CountRow> = self
            .client
            .query(
                "SELECT event_type, uniqExact(id) AS events FROM events \
                 GROUP BY event_type ORDER BY event_type",
            )
            .fetch_all()
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().map(|r| (r.event_type, r.events)).collect())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "clickhouse"))]
    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
