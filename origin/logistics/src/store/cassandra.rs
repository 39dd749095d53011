//! Production shipment store: Cassandra (scylla driver).
//!
//! Tables are shaped by the reads, one partition per lookup:
//! - `shipments` (by shipment id): the shipment's state as JSON plus `ver`;
//! - `shipments_by_order` (partition order id, clustered by creation time):
//!   the buyer's tracking page reads one partition, oldest first;
//! - `shipments_by_sub_order` (one shipment per sub-order);
//! - `shipments_by_tracking` (partition (carrier, tracking number)): the
//!   carrier webhook's lookup;
//! - `tracking_events` (partition shipment id, clustered by time): the
//!   history, appended, never rewritten;
//! - `logistics_outbox` (partition bucket 0..15, clustered by event id).
//!
//! Every write is one LOGGED batch (the change, its lookup rows, its
//! tracking events and its outbox rows), which Cassandra applies all or
//! nothing. Writes to one shipment (or one sub-order) are serialised within
//! an origin by striped locks; see docs/stores.md for what that leaves to a
//! real cluster.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use meridian_common::events::{EventEnvelope, OutboxReader};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;
use uuid::Uuid;

use super::{Change, ShipmentStore, StoreError};
use crate::domain::{Shipment, TrackingEvent, TrackingStatus};

const BUCKETS: i32 = 16;
const STRIPES: usize = 64;

/// Tables are always named with their keyspace (`{ks}` below), never through
/// `USE`: a server may share the current keyspace between clients.
const SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS {ks}.shipments (id uuid PRIMARY KEY, doc text, ver bigint)",
    "CREATE TABLE IF NOT EXISTS {ks}.shipments_by_order (order_id uuid, created bigint, id uuid, \
     PRIMARY KEY ((order_id), created, id))",
    "CREATE TABLE IF NOT EXISTS {ks}.shipments_by_sub_order (sub_order_id uuid PRIMARY KEY, id uuid)",
    "CREATE TABLE IF NOT EXISTS {ks}.shipments_by_tracking (carrier text, tracking text, id uuid, \
     PRIMARY KEY ((carrier, tracking)))",
    "CREATE TABLE IF NOT EXISTS {ks}.tracking_events (shipment_id uuid, at bigint, seq int, event text, \
     PRIMARY KEY ((shipment_id), at, seq))",
    "CREATE TABLE IF NOT EXISTS {ks}.logistics_outbox (bucket int, id uuid, event text, \
     PRIMARY KEY ((bucket), id))",
];

struct Statements {
    put_shipment: PreparedStatement,
    get_shipment: PreparedStatement,
    put_by_order: PreparedStatement,
    get_by_order: PreparedStatement,
    put_by_sub_order: PreparedStatement,
    get_by_sub_order: PreparedStatement,
    put_by_tracking: PreparedStatement,
    get_by_tracking: PreparedStatement,
    put_event: PreparedStatement,
    get_events: PreparedStatement,
    put_outbox: PreparedStatement,
    get_outbox: PreparedStatement,
    count_outbox: PreparedStatement,
    delete_outbox: PreparedStatement,
}

pub struct CassandraShipmentStore {
    session: std::sync::Arc<Session>,
    st: std::sync::Arc<Statements>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("cassandra: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("cassandra row unreadable: {e}"))
}

/// The state as stored: everything but the history (kept in
/// `tracking_events`), buyer included (the API form leaves it out).
fn state_json(s: &Shipment) -> String {
    let mut v = serde_json::to_value(s).expect("shipments serialise");
    v["buyer_id"] = serde_json::json!(s.buyer_id);
    v["events"] = serde_json::json!([]);
    v.to_string()
}

fn text(v: impl Into<String>) -> CqlValue {
    CqlValue::Text(v.into())
}

/// The batch rows of new tracking events (positions `from..`).
fn event_rows(
    st: &Statements,
    s: &Shipment,
    from: usize,
    batch: &mut Batch,
    values: &mut Vec<Vec<CqlValue>>,
) {
    for (seq, event) in s.events.iter().enumerate().skip(from) {
        batch.append_statement(st.put_event.clone());
        values.push(vec![
            CqlValue::Uuid(s.id),
            CqlValue::BigInt(event.at.timestamp_micros()),
            CqlValue::Int(seq as i32),
            text(serde_json::to_string(event).expect("events serialise")),
        ]);
    }
}

fn outbox_rows(
    st: &Statements,
    events: &[EventEnvelope],
    batch: &mut Batch,
    values: &mut Vec<Vec<CqlValue>>,
) {
    for e in events {
        batch.append_statement(st.put_outbox.clone());
        values.push(vec![
            CqlValue::Int(bucket(e.id)),
            CqlValue::Uuid(e.id),
            text(serde_json::to_string(e).expect("events serialise")),
        ]);
    }
}

fn bucket(id: Uuid) -> i32 {
    (id.as_u128() % BUCKETS as u128) as i32
}

/// How the keyspace is replicated when the store creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// One data center: SimpleStrategy with this many replicas.
    Simple(u32),
    /// A cluster spanning data centers (regions): NetworkTopologyStrategy
    /// with this many replicas in each.
    PerDatacenter(std::collections::BTreeMap<String, u32>),
}

/// `CREATE KEYSPACE` for `replication`. Names were validated with the
/// config (letters, digits, '-', '_', '.'), so quoting them is enough.
fn create_keyspace(keyspace: &str, replication: &Replication) -> String {
    let map = match replication {
        Replication::Simple(n) => format!("'class': 'SimpleStrategy', 'replication_factor': {n}"),
        Replication::PerDatacenter(dcs) => {
            std::iter::once("'class': 'NetworkTopologyStrategy'".to_owned())
                .chain(dcs.iter().map(|(dc, n)| format!("'{dc}': {n}")))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{{map}}}")
}

impl CassandraShipmentStore {
    pub async fn connect(
        nodes: &[String],
        keyspace: &str,
        replication: &Replication,
        local_datacenter: Option<&str>,
    ) -> Result<Self, StoreError> {
        // Every statement times out, so a node that stops answering is a
        // 503 within seconds rather than a hung request.
        let mut profile = ExecutionProfile::builder().request_timeout(Some(Duration::from_secs(5)));
        if let Some(dc) = local_datacenter {
            // The region's own data center first (the driver's default
            // consistency, LOCAL_QUORUM, then stays inside it); another
            // only while it is down.
            let policy = DefaultPolicy::builder()
                .prefer_datacenter(dc.to_owned())
                .token_aware(true)
                .permit_dc_failover(true)
                .build();
            profile = profile.load_balancing_policy(policy);
        }
        let profile = profile.build().into_handle();
        let session = SessionBuilder::new()
            .known_nodes(nodes)
            // Keyspaces and partitioners only (what token-aware routing
            // needs): the full schema (columns, UDTs) of every keyspace is
            // unused here, and parsing it from a server that describes its
            // system tables with types the driver cannot read logged two
            // warnings and an error on every refresh.
            .fetch_full_schema_metadata(false)
            .connection_timeout(Duration::from_secs(3))
            .default_execution_profile_handle(profile)
            .build()
            .await
            .map_err(|e| failed(format!("connecting: {e}")))?;
        session
            .query_unpaged(create_keyspace(keyspace, replication), &[])
            .await
            .map_err(|e| failed(format!("creating keyspace {keyspace}: {e}")))?;
        for ddl in SCHEMA {
            let ddl = ddl.replace("{ks}", keyspace);
            session
                .query_unpaged(ddl.clone(), &[])
                .await
                .map_err(|e| failed(format!("{ddl}: {e}")))?;
        }
        let prepare = |q: &'static str| {
            let session = &session;
            let q = q.replace("{ks}", keyspace);
            async move {
                session
                    .prepare(q.clone())
                    .await
                    .map_err(|e| failed(format!("{q}: {e}")))
            }
        };
        let st = Statements {
            put_shipment: prepare("INSERT INTO {ks}.shipments (id, doc, ver) VALUES (?, ?, ?)").await?,
            get_shipment: prepare("SELECT doc, ver FROM {ks}.shipments WHERE id = ?").await?,
            put_by_order: prepare(
                "INSERT INTO {ks}.shipments_by_order (order_id, created, id) VALUES (?, ?, ?)",
            )
            .await?,
            get_by_order: prepare("SELECT created, id FROM {ks}.shipments_by_order WHERE order_id = ?")
                .await?,
            put_by_sub_order: prepare(
                "INSERT INTO {ks}.shipments_by_sub_order (sub_order_id, id) VALUES (?, ?)",
            )
            .await?,
            get_by_sub_order: prepare(
                "SELECT id FROM {ks}.shipments_by_sub_order WHERE sub_order_id = ?",
            )
            .await?,
            put_by_tracking: prepare(
                "INSERT INTO {ks}.shipments_by_tracking (carrier, tracking, id) VALUES (?, ?, ?)",
            )
            .await?,
            get_by_tracking: prepare(
                "SELECT id FROM {ks}.shipments_by_tracking WHERE carrier = ? AND tracking = ?",
            )
            .await?,
            put_event: prepare(
                "INSERT INTO {ks}.tracking_events (shipment_id, at, seq, event) VALUES (?, ?, ?, ?)",
            )
            .await?,
            get_events: prepare("SELECT at, seq, event FROM {ks}.tracking_events WHERE shipment_id = ?")
                .await?,
            put_outbox: prepare(
                "INSERT INTO {ks}.logistics_outbox (bucket, id, event) VALUES (?, ?, ?)",
            )
            .await?,
            // A literal limit: not every CQL server binds one.
            get_outbox: prepare(
                "SELECT id, event FROM {ks}.logistics_outbox WHERE bucket = ? LIMIT 256",
            )
            .await?,
            count_outbox: prepare("SELECT id FROM {ks}.logistics_outbox WHERE bucket = ?").await?,
            delete_outbox: prepare("DELETE FROM {ks}.logistics_outbox WHERE bucket = ? AND id = ?")
                .await?,
        };
        Ok(Self {
            session: std::sync::Arc::new(session),
            st: std::sync::Arc::new(st),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        })
    }

    pub fn outbox(&self) -> CassandraOutbox {
        CassandraOutbox {
            session: self.session.clone(),
            st: self.st.clone(),
        }
    }

    fn stripe(&self, id: Uuid) -> &tokio::sync::Mutex<()> {
        &self.stripes[(id.as_u128() % STRIPES as u128) as usize]
    }

    async fn rows<T>(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let result = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(failed)?;
        let rows = result.into_rows_result().map_err(corrupt)?;
        rows.rows::<T>()
            .map_err(corrupt)?
            .collect::<Result<Vec<T>, _>>()
            .map_err(corrupt)
    }

    /// The shipment with its history, and the version of its state row.
    async fn read(&self, id: Uuid) -> Result<Option<(Shipment, i64)>, StoreError> {
        let Some((doc, ver)) = self
            .rows::<(String, i64)>(&self.st.get_shipment, (id,))
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let mut shipment: Shipment = serde_json::from_str(&doc).map_err(corrupt)?;
        let history = self
            .rows::<(i64, i32, String)>(&self.st.get_events, (id,))
            .await?;
        let mut history = history
            .into_iter()
            .map(|(at, seq, raw)| {
                let event = serde_json::from_str::<TrackingEvent>(&raw).map_err(corrupt)?;
                Ok(((seq, at), event))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // The status is the history's, not the state row's: the row is
        // last-write-wins across origins, the history rows are each kept.
        // Recording order is the position (`seq`), concurrent recordings at
        // one position ordered by time.
        history.sort_by_key(|(key, _)| *key);
        if let Some(status) = TrackingStatus::settle(history.iter().map(|(_, e)| e)) {
            shipment.status = status;
        }
        // Shown oldest first; clustering order is (at, seq), sorted again
        // for servers that do not keep it.
        history.sort_by_key(|((seq, at), _)| (*at, *seq));
        shipment.events = history.into_iter().map(|(_, e)| e).collect();
        Ok(Some((shipment, ver)))
    }

    async fn run(&self, batch: Batch, values: Vec<Vec<CqlValue>>) -> Result<(), StoreError> {
        self.session.batch(&batch, values).await.map_err(failed)?;
        Ok(())
    }
}

#[async_trait]
impl ShipmentStore for CassandraShipmentStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "cassandra"))]
    async fn open(
        &self,
        shipment: &Shipment,
        events: Vec<EventEnvelope>,
    ) -> Result<Shipment, StoreError> {
        let _turn = self.stripe(shipment.sub_order_id).lock().await;
        let existing = self
            .rows::<(Uuid,)>(&self.st.get_by_sub_order, (shipment.sub_order_id,))
            .await?;
        if let Some((id,)) = existing.first() {
            if let Some((s, _)) = self.read(*id).await? {
                return Ok(s);
            }
        }
        let s = shipment;
        let st = &self.st;
        let mut batch = Batch::new(BatchType::Logged);
        let mut values: Vec<Vec<CqlValue>> = Vec::new();
        batch.append_statement(st.put_shipment.clone());
        values.push(vec![
            CqlValue::Uuid(s.id),
            text(state_json(s)),
            CqlValue::BigInt(1),
        ]);
        batch.append_statement(st.put_by_order.clone());
        values.push(vec![
            CqlValue::Uuid(s.order_id),
            CqlValue::BigInt(s.created_at.timestamp_micros()),
            CqlValue::Uuid(s.id),
        ]);
        batch.append_statement(st.put_by_sub_order.clone());
        values.push(vec![CqlValue::Uuid(s.sub_order_id), CqlValue::Uuid(s.id)]);
        batch.append_statement(st.put_by_tracking.clone());
        values.push(vec![
            text(s.carrier.to_lowercase()),
            text(s.tracking_number.clone()),
            CqlValue::Uuid(s.id),
        ]);
        event_rows(st, s, 0, &mut batch, &mut values);
        outbox_rows(st, &events, &mut batch, &mut values);
        self.run(batch, values).await?;
        Ok(s.clone())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "cassandra"))]
    async fn by_tracking(
        &self,
        carrier: &str,
        tracking: &str,
    ) -> Result<Option<Shipment>, StoreError> {
        let found = self
            .rows::<(Uuid,)>(
                &self.st.get_by_tracking,
                (carrier.to_lowercase(), tracking.to_owned()),
            )
            .await?;
        match found.first() {
            Some((id,)) => Ok(self.read(*id).await?.map(|(s, _)| s)),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "cassandra"))]
    async fn by_order(&self, order: Uuid) -> Result<Vec<Shipment>, StoreError> {
        let mut ids = self
            .rows::<(i64, Uuid)>(&self.st.get_by_order, (order,))
            .await?;
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for (_, id) in ids {
            if let Some((s, _)) = self.read(id).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "cassandra"))]
    async fn update(
        &self,
        id: Uuid,
        change: &Change,
    ) -> Result<Option<Result<Shipment, String>>, StoreError> {
        let _turn = self.stripe(id).lock().await;
        let Some((current, version)) = self.read(id).await? else {
            return Ok(None);
        };
        let mut next = current.clone();
        let events = match change(&mut next) {
            Ok(events) => events,
            Err(e) => return Ok(Some(Err(e))),
        };
        let st = &self.st;
        let mut batch = Batch::new(BatchType::Logged);
        let mut values: Vec<Vec<CqlValue>> = Vec::new();
        batch.append_statement(st.put_shipment.clone());
        values.push(vec![
            CqlValue::Uuid(id),
            text(state_json(&next)),
            CqlValue::BigInt(version + 1),
        ]);
        // History is append-only: only the events this change added.
        event_rows(st, &next, current.events.len(), &mut batch, &mut values);
        outbox_rows(st, &events, &mut batch, &mut values);
        self.run(batch, values).await?;
        Ok(Some(Ok(next)))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "cassandra"))]
    async fn ping(&self) -> Result<(), StoreError> {
        self.rows::<(String, i64)>(&self.st.get_shipment, (Uuid::nil(),))
            .await?;
        Ok(())
    }
}

/// Reads the outbox buckets.
pub struct CassandraOutbox {
    session: std::sync::Arc<Session>,
    st: std::sync::Arc<Statements>,
}

impl CassandraOutbox {
    async fn bucket_rows<T>(
        &self,
        statement: &PreparedStatement,
        bucket: i32,
    ) -> Result<Vec<T>, String>
    where
        T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let result = self
            .session
            .execute_unpaged(statement, (bucket,))
            .await
            .map_err(|e| e.to_string())?;
        let rows = result.into_rows_result().map_err(|e| e.to_string())?;
        rows.rows::<T>()
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl OutboxReader for CassandraOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<EventEnvelope>, String> {
        let mut out = Vec::new();
        for bucket in 0..BUCKETS {
            let rows: Vec<(Uuid, String)> = self.bucket_rows(&self.st.get_outbox, bucket).await?;
            for (_, raw) in rows {
                out.push(
                    serde_json::from_str::<EventEnvelope>(&raw)
                        .map_err(|e| format!("bad logistics event: {e}"))?,
                );
            }
        }
        out.sort_by_key(|e| (e.occurred_at, e.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn mark_published(&self, ids: &[Uuid]) -> Result<(), String> {
        let mut by_bucket: HashMap<i32, Vec<Uuid>> = HashMap::new();
        for id in ids {
            by_bucket.entry(bucket(*id)).or_default().push(*id);
        }
        for (bucket, ids) in by_bucket {
            for id in ids {
                self.session
                    .execute_unpaged(&self.st.delete_outbox, (bucket, id))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, String> {
        let mut total = 0u64;
        for bucket in 0..BUCKETS {
            let ids: Vec<(Uuid,)> = self.bucket_rows(&self.st.count_outbox, bucket).await?;
            total += ids.len() as u64;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyspace_is_replicated_as_configured() {
        assert_eq!(
            create_keyspace("meridian_logistics", &Replication::Simple(3)),
            "CREATE KEYSPACE IF NOT EXISTS meridian_logistics WITH replication = \
             {'class': 'SimpleStrategy', 'replication_factor': 3}"
        );
        let dcs = [("us-west".to_owned(), 3), ("us-east".to_owned(), 2)].into();
        assert_eq!(
            create_keyspace("ks", &Replication::PerDatacenter(dcs)),
            "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'us-east': 2, 'us-west': 3}"
        );
    }
}
