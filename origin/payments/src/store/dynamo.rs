//! Production payments store: DynamoDB. Idempotency is a conditional put of
//! the key's record in the same transaction as the change it produced, so
//! a key yields exactly one charge however many requests race on it.
//!
//! Items (generic `pk`/`sk` keys):
//! - payment `PAY#<id>` / `PAY`: document + `ver` (optimistic version);
//! - ledger `PAY#<id>` / `L#<ver>`: one entry per movement, in order;
//! - key record `KEY#<key>` / `KEY`: fingerprint and outcome;
//! - `OUTBOX` / `<event id>`: events, in the same transaction.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use meridian_common::dynamo::{
    self, backoff, classify, get_json, get_n, json, key, n, s, transact_check, transact_put,
    transact_update, Cancelled, DynamoOutbox, Item, CONFLICT_RETRIES,
};
use meridian_common::events::EventEnvelope;

use super::{IdemRecord, PaymentStore, StoreError, Transition};
use crate::domain::{LedgerEntry, Payment, PaymentId};

pub struct DynamoPaymentStore {
    client: Client,
    table: String,
}

fn payment_key(id: PaymentId) -> Item {
    key(format!("PAY#{}", id.0), "PAY")
}

fn ledger_item(entry: &LedgerEntry, seq: i64) -> Item {
    let mut item = key(
        format!("PAY#{}", entry.payment_id.0),
        format!("L#{seq:012}"),
    );
    item.insert("entry".into(), json(entry));
    item
}

fn record_item(idempotency_key: &str, record: &IdemRecord) -> Item {
    let mut item = key(format!("KEY#{idempotency_key}"), "KEY");
    item.insert("record".into(), json(record));
    item
}

const NEW_ITEM: Option<&str> = Some("attribute_not_exists(pk)");

impl From<meridian_common::store::StoreError> for StoreError {
    fn from(e: meridian_common::store::StoreError) -> Self {
        match e {
            meridian_common::store::StoreError::Unavailable(d) => StoreError::Unavailable(d),
            meridian_common::store::StoreError::Other(d) => StoreError::Other(d),
        }
    }
}

impl DynamoPaymentStore {
    pub async fn connect(
        endpoint: Option<&str>,
        region: &str,
        table: &str,
    ) -> Result<Self, StoreError> {
        let client = dynamo::client(endpoint, region).await;
        dynamo::ensure_table(&client, table, |create| create).await?;
        Ok(Self {
            client,
            table: table.to_owned(),
        })
    }

    pub fn outbox(&self) -> DynamoOutbox {
        DynamoOutbox {
            client: self.client.clone(),
            table: self.table.clone(),
        }
    }

    async fn read(&self, key: Item) -> Result<Option<Item>, StoreError> {
        Ok(dynamo::read_item(&self.client, &self.table, key).await?)
    }

    /// The stored record of a key that lost a race to another request.
    async fn existing(&self, idempotency_key: &str) -> Result<IdemRecord, StoreError> {
        self.record(idempotency_key)
            .await?
            .ok_or_else(|| StoreError::Other("key record vanished".into()))
    }
}

#[async_trait]
impl PaymentStore for DynamoPaymentStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn record(&self, idempotency_key: &str) -> Result<Option<IdemRecord>, StoreError> {
        match self
            .read(key(format!("KEY#{idempotency_key}"), "KEY"))
            .await?
        {
            Some(item) => Ok(Some(get_json(&item, "record")?)),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn create(
        &self,
        idempotency_key: &str,
        fingerprint: &str,
        payment: &Payment,
        entry: Option<&LedgerEntry>,
        events: Vec<EventEnvelope>,
    ) -> Result<IdemRecord, StoreError> {
        let record = IdemRecord {
            fingerprint: fingerprint.to_owned(),
            outcome: Ok(payment.clone()),
        };
        let mut item = payment_key(payment.id);
        item.insert("doc".into(), json(payment));
        item.insert("ver".into(), n(1));
        let mut items = vec![
            transact_put(&self.table, record_item(idempotency_key, &record), NEW_ITEM),
            transact_put(&self.table, item, NEW_ITEM),
        ];
        if let Some(entry) = entry {
            items.push(transact_put(&self.table, ledger_item(entry, 1), NEW_ITEM));
        }
        items.extend(dynamo::outbox_puts(&self.table, &events));
        for attempt in 0..CONFLICT_RETRIES {
            match dynamo::transact(&self.client, items.clone()).await? {
                Ok(()) => return Ok(record),
                Err(Cancelled::Conflict) => backoff(attempt).await,
                // The key is taken: its first record wins.
                Err(Cancelled::Conditions(_)) => return self.existing(idempotency_key).await,
            }
        }
        Err(StoreError::Unavailable(
            "dynamodb: payment contended; retry".into(),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn transition(
        &self,
        idempotency_key: &str,
        fingerprint: &str,
        id: PaymentId,
        transition: &Transition,
    ) -> Result<IdemRecord, StoreError> {
        for attempt in 0..CONFLICT_RETRIES {
            if let Some(record) = self.record(idempotency_key).await? {
                return Ok(record);
            }
            let item = self
                .read(payment_key(id))
                .await?
                .ok_or(StoreError::NotFound)?;
            let version: i64 = get_n(&item, "ver")?;
            let current: Payment = get_json(&item, "doc")?;
            let (record, mut items) = match transition(&current) {
                Ok((next, entry, events)) => {
                    let record = IdemRecord {
                        fingerprint: fingerprint.to_owned(),
                        outcome: Ok(next.clone()),
                    };
                    let mut items = vec![
                        transact_put(&self.table, record_item(idempotency_key, &record), NEW_ITEM),
                        transact_update(
                            &self.table,
                            payment_key(id),
                            "SET doc = :doc, ver = :next".into(),
                            Some("ver = :ver"),
                            vec![
                                (":doc", json(&next)),
                                (":next", n(version + 1)),
                                (":ver", n(version)),
                            ],
                        ),
                        transact_put(&self.table, ledger_item(&entry, version + 1), NEW_ITEM),
                    ];
                    items.extend(dynamo::outbox_puts(&self.table, &events));
                    (record, items)
                }
                // A refusal is recorded too (replayed as refused), but only
                // if the payment is still the one it was judged against.
                Err(e) => {
                    let record = IdemRecord {
                        fingerprint: fingerprint.to_owned(),
                        outcome: Err(e),
                    };
                    let items = vec![
                        transact_put(&self.table, record_item(idempotency_key, &record), NEW_ITEM),
                        transact_check(
                            &self.table,
                            payment_key(id),
                            "ver = :ver",
                            vec![(":ver", n(version))],
                        ),
                    ];
                    (record, items)
                }
            };
            match dynamo::transact(&self.client, std::mem::take(&mut items)).await? {
                Ok(()) => return Ok(record),
                // Key taken or payment changed: look again.
                Err(_) => backoff(attempt).await,
            }
        }
        Err(StoreError::Unavailable(
            "dynamodb: payment contended; retry".into(),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        match self.read(payment_key(id)).await? {
            Some(item) => Ok(Some(get_json(&item, "doc")?)),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn ledger(&self, id: PaymentId) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :l)")
                .expression_attribute_values(":pk", s(format!("PAY#{}", id.0)))
                .expression_attribute_values(":l", s("L#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::from(classify(e)))?;
            for item in page.items() {
                out.push(get_json(item, "entry")?);
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "dynamodb"))]
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(key("META", "PING")).await?;
        Ok(())
    }
}
