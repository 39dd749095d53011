//! DynamoDB plumbing shared by the catalog and payments stores: the client,
//! table bootstrap, attribute helpers, error classification and the outbox.
//!
//! Tables use a generic `pk` (hash) / `sk` (range) string key so one table
//! holds an aggregate, its side items and its outbox; that is what lets an
//! event be written in the same `TransactWriteItems` as the change.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
pub use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CancellationReason, ConditionCheck, DeleteRequest,
    KeySchemaElement, KeyType, Put, ScalarAttributeType, Select, TableStatus, TransactWriteItem,
    Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use uuid::Uuid;

use crate::events::{EventEnvelope, OutboxReader};
use crate::store::StoreError;

pub type Item = HashMap<String, AttributeValue>;

/// Partition of the outbox items inside a service's table.
pub const OUTBOX_PK: &str = "OUTBOX";

pub async fn client(endpoint: Option<&str>, region: &str) -> Client {
    Client::new(&crate::aws::sdk_config(endpoint, region).await)
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Other(format!(
            "item lacks string attribute {name}"
        ))),
    }
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Other(format!("attribute {name} is not a number: {v}"))),
        _ => Err(StoreError::Other(format!(
            "item lacks number attribute {name}"
        ))),
    }
}

/// A number attribute, 0 when absent (counters created by `ADD`).
pub fn get_n_or_zero(item: &Item, name: &str) -> Result<i64, StoreError> {
    if item.contains_key(name) {
        get_n(item, name)
    } else {
        Ok(0)
    }
}

/// The JSON document kept in attribute `name`.
pub fn get_json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, name)?)
        .map_err(|e| StoreError::Other(format!("attribute {name} holds bad JSON: {e}")))
}

pub fn json(value: &impl serde::Serialize) -> AttributeValue {
    s(serde_json::to_string(value).expect("stored documents serialise"))
}

/// Unreachable, timed out or throttled → `Unavailable` (503, retry); the
/// rest is a bug or a schema mismatch.
pub fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    ) || matches!(
        error.code(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
        )
    );
    let detail = match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("")),
        None => format!("{error:?}"),
    };
    if retryable {
        StoreError::Unavailable(format!("dynamodb: {detail}"))
    } else {
        StoreError::Other(format!("dynamodb: {detail}"))
    }
}

/// Creates `table` (pk/sk strings, on-demand) when it does not exist, with
/// whatever `customise` adds (GSIs), and waits until it is active.
pub async fn ensure_table(
    client: &Client,
    table: &str,
    customise: impl FnOnce(CreateTableFluentBuilder) -> CreateTableFluentBuilder,
) -> Result<(), StoreError> {
    let exists = match client.describe_table().table_name(table).send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("ResourceNotFoundException") => false,
        Err(e) => return Err(classify(e)),
    };
    if !exists {
        let mut create = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_element("pk", KeyType::Hash))
            .key_schema(key_element("sk", KeyType::Range))
            .attribute_definitions(string_attribute("pk"))
            .attribute_definitions(string_attribute("sk"));
        create = customise(create);
        match create.send().await {
            Ok(_) => {}
            // Another origin created it first.
            Err(e) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(classify(e)),
        }
    }
    for _ in 0..100 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(classify)?;
        let table = described.table();
        let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active)
            && table.is_some_and(|t| {
                t.global_secondary_indexes()
                    .iter()
                    .all(|g| g.index_status().is_none_or(|s| s.as_str() == "ACTIVE"))
            });
        if active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StoreError::Unavailable(format!(
        "dynamodb: table {table} did not become active"
    )))
}

pub fn key_element(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("name and type set")
}

pub fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type set")
}

/// The transaction items that append `events` to `table`'s outbox. Event
/// ids are UUIDv7, so the sort key orders the outbox by time.
pub fn outbox_puts(table: &str, events: &[EventEnvelope]) -> Vec<TransactWriteItem> {
    events
        .iter()
        .map(|e| {
            let mut item = key(OUTBOX_PK, e.id.to_string());
            item.insert("event".to_owned(), json(e));
            transact_put(table, item, None)
        })
        .collect()
}

/// Whether a transaction was cancelled because of other transactions on
/// the same items (retry) rather than a failed condition.
pub fn is_transaction_conflict<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("TransactionConflictException")
        || error
            .message()
            .is_some_and(|m| m.contains("TransactionConflict"))
}

/// Transactions cancelled by concurrent transactions on the same items are
/// retried with jittered backoff this many times before a 503.
pub const CONFLICT_RETRIES: u32 = 80;

pub fn transact_put(table: &str, item: Item, condition: Option<&str>) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_owned))
                .build()
                .expect("table and item set"),
        )
        .build()
}

/// An `Update` in a transaction; `values` bind the expression's `:names`.
pub fn transact_update(
    table: &str,
    key: Item,
    expression: String,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> TransactWriteItem {
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(expression)
        .set_condition_expression(condition.map(str::to_owned));
    for (name, value) in values {
        builder = builder.expression_attribute_values(name, value);
    }
    TransactWriteItem::builder()
        .update(builder.build().expect("table, key and expression set"))
        .build()
}

/// A condition on an item the transaction does not change.
pub fn transact_check(
    table: &str,
    key: Item,
    condition: &str,
    values: Vec<(&str, AttributeValue)>,
) -> TransactWriteItem {
    let mut builder = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(condition);
    for (name, value) in values {
        builder = builder.expression_attribute_values(name, value);
    }
    TransactWriteItem::builder()
        .condition_check(builder.build().expect("table, key and condition set"))
        .build()
}

/// How a cancelled transaction failed, per item.
pub enum Cancelled {
    /// Other transactions held the items: try again.
    Conflict,
    /// The condition of these items (by position) failed.
    Conditions(Vec<usize>),
}

pub fn cancellation(error: &TransactWriteItemsError) -> Option<Cancelled> {
    let TransactWriteItemsError::TransactionCanceledException(e) = error else {
        return None;
    };
    let reasons: &[CancellationReason] = e.cancellation_reasons();
    if reasons
        .iter()
        .any(|r| r.code() == Some("TransactionConflict"))
        || (reasons.is_empty() && is_transaction_conflict(e))
    {
        return Some(Cancelled::Conflict);
    }
    Some(Cancelled::Conditions(
        reasons
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect(),
    ))
}

pub async fn backoff(attempt: u32) {
    // Exponential from 4 ms, capped at 128 ms, with full jitter.
    let cap = 4u64 << attempt.min(5);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * cap / 255;
    tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
}

/// Runs a transaction; a cancellation comes back as `Err(Cancelled)`.
pub async fn transact(
    client: &Client,
    items: Vec<TransactWriteItem>,
) -> Result<Result<(), Cancelled>, StoreError> {
    match client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    {
        Ok(_) => Ok(Ok(())),
        Err(e) => match e.as_service_error().and_then(cancellation) {
            Some(cancelled) => Ok(Err(cancelled)),
            None => Err(classify(e)),
        },
    }
}

/// A strongly consistent read of one item.
pub async fn read_item(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(classify)?;
    Ok(out.item)
}

/// How many items `query` matches, over every page.
pub async fn count(query: QueryFluentBuilder) -> Result<u64, StoreError> {
    let mut total = 0u64;
    let mut start: Option<Item> = None;
    loop {
        let out = query
            .clone()
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        total += out.count() as u64;
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(total);
        }
    }
}

/// Reads a service table's outbox partition.
pub struct DynamoOutbox {
    pub client: Client,
    pub table: String,
}

#[async_trait]
impl OutboxReader for DynamoOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<EventEnvelope>, String> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(OUTBOX_PK))
            .consistent_read(true)
            .limit(limit.min(1000) as i32)
            .send()
            .await
            .map_err(|e| classify(e).to_string())?;
        out.items()
            .iter()
            .map(|item| get_json(item, "event").map_err(|e| e.to_string()))
            .collect()
    }

    async fn mark_published(&self, ids: &[Uuid]) -> Result<(), String> {
        for chunk in ids.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|id| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(key(OUTBOX_PK, id.to_string())))
                                .build()
                                .expect("key set"),
                        )
                        .build()
                })
                .collect();
            // Unprocessed writes come back under throttling; resend them.
            for _ in 0..10 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| classify(e).to_string())?;
                requests = out
                    .unprocessed_items()
                    .and_then(|m| m.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, String> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(OUTBOX_PK));
        count(query).await.map_err(|e| e.to_string())
    }
}
