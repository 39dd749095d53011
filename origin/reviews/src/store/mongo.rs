//! Production review store: MongoDB.
//!
//! Collection `reviews`, one document per review:
//! `{_id: <review id>, product, user, rating, created (µs), helpful, reports,
//!   doc: <review JSON>, reply: <JSON|null>, voters: [user], reporters: [user],
//!   report_reasons: ["<user> <reason>"], outbox: ["<event JSON>"], pending}`.
//! A unique index on `(product, user)` enforces one review per user and
//! product; summaries are an aggregation pipeline grouping by rating.
//!
//! Every change is one single-document update, so it is atomic without
//! multi-document transactions (which need a replica set): the events it
//! produces are appended to the same document's `outbox` array in that
//! update, and `pending` counts them for the relay. Counters (`helpful`,
//! `reports`) and arrays are changed in place (`$inc`, `$push`), never by
//! rewriting the document, so concurrent votes cannot overwrite each other.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use meridian_common::events::{EventEnvelope, OutboxReader};
use meridian_common::{ProductId, UserId};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use uuid::Uuid;

use super::{ReviewStore, Sort, StoreError};
use crate::domain::{Reply, Review, Summary};

pub struct MongoReviewStore {
    reviews: Collection<Document>,
}

const UPSERT_RETRIES: u32 = 20;

fn failed(e: mongodb::error::Error) -> StoreError {
    use mongodb::error::ErrorKind;
    match *e.kind {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. } => {
            StoreError::Unavailable(format!("mongodb: {e}"))
        }
        _ if e.contains_label("RetryableWriteError") => {
            StoreError::Unavailable(format!("mongodb: {e}"))
        }
        _ => StoreError::Other(format!("mongodb: {e}")),
    }
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => e.to_string().contains("E11000") || e.to_string().contains("UNIQUE constraint"),
    }
}

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("review document unreadable: {detail}"))
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("documents serialise")
}

fn event_strings(events: &[EventEnvelope]) -> Vec<String> {
    events.iter().map(json).collect()
}

/// `$push` of the events onto the outbox with `pending` counting them.
fn with_events(mut update: Document, events: &[EventEnvelope]) -> Document {
    if events.is_empty() {
        return update;
    }
    let mut push = update.get_document("$push").cloned().unwrap_or_default();
    push.insert("outbox", doc! { "$each": event_strings(events) });
    update.insert("$push", push);
    let mut inc = update.get_document("$inc").cloned().unwrap_or_default();
    inc.insert("pending", events.len() as i64);
    update.insert("$inc", inc);
    update
}

/// A numeric field whichever width the server stored it with (0 if absent).
fn number(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

fn decode(d: &Document) -> Result<Review, StoreError> {
    let mut review: Review =
        serde_json::from_str(d.get_str("doc").map_err(corrupt)?).map_err(corrupt)?;
    review.helpful = number(d.get("helpful")).max(0) as u32;
    review.reports = number(d.get("reports")).max(0) as u32;
    review.reply = match d.get("reply") {
        Some(Bson::String(raw)) => Some(serde_json::from_str::<Reply>(raw).map_err(corrupt)?),
        _ => None,
    };
    Ok(review)
}

impl MongoReviewStore {
    pub async fn connect(url: &str, database: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(url).await.map_err(failed)?;
        options.connect_timeout = Some(Duration::from_secs(2));
        options.server_selection_timeout = Some(Duration::from_secs(3));
        options.max_pool_size = Some(32);
        options.app_name = Some("meridian-reviews".into());
        let client = Client::with_options(options).map_err(failed)?;
        let reviews = client.database(database).collection::<Document>("reviews");
        for (keys, unique) in [
            (doc! { "product": 1, "user": 1 }, true),
            (doc! { "product": 1, "created": -1 }, false),
            (doc! { "pending": 1 }, false),
        ] {
            reviews
                .create_index(
                    IndexModel::builder()
                        .keys(keys)
                        .options(IndexOptions::builder().unique(unique).build())
                        .build(),
                )
                .await
                .map_err(failed)?;
        }
        Ok(Self { reviews })
    }

    pub fn outbox(&self) -> MongoReviewOutbox {
        MongoReviewOutbox {
            reviews: self.reviews.clone(),
            delivered: std::sync::Mutex::default(),
        }
    }

    async fn find(&self, filter: Document) -> Result<Option<Document>, StoreError> {
        self.reviews.find_one(filter).await.map_err(failed)
    }

    /// Applies `update` unless `user` is already in the review's `list`
    /// (which the update adds them to): `Some(true)` if it counted,
    /// `Some(false)` if they were there, `None` for an unknown review.
    async fn once_per_user(
        &self,
        id: Uuid,
        list: &str,
        user: &str,
        update: Document,
    ) -> Result<Option<bool>, StoreError> {
        let result = self
            .reviews
            .update_one(
                doc! { "_id": id.to_string(), list: { "$nin": [user] } },
                update,
            )
            .await
            .map_err(failed)?;
        if result.modified_count == 1 {
            return Ok(Some(true));
        }
        Ok(self
            .find(doc! { "_id": id.to_string() })
            .await?
            .map(|_| false))
    }

    async fn by_id(&self, id: Uuid) -> Result<Option<Review>, StoreError> {
        self.find(doc! { "_id": id.to_string() })
            .await?
            .map(|d| decode(&d))
            .transpose()
    }
}

#[async_trait]
impl ReviewStore for MongoReviewStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn upsert(
        &self,
        review: &Review,
        events: &(dyn Fn(Option<u8>) -> Vec<EventEnvelope> + Send + Sync),
    ) -> Result<(Review, Option<u8>), StoreError> {
        let product = review.product_id.to_string();
        let user = review.user_id.to_string();
        for _ in 0..UPSERT_RETRIES {
            if let Some(existing) = self
                .find(doc! { "product": &product, "user": &user })
                .await?
            {
                let mut stored = decode(&existing)?;
                let old = stored.rating;
                stored.rating = review.rating;
                stored.text = review.text.clone();
                stored.updated_at = review.updated_at;
                // Only if nobody else edited it since we read it.
                let filter = doc! {
                    "_id": existing.get_str("_id").map_err(corrupt)?,
                    "doc": existing.get_str("doc").map_err(corrupt)?,
                };
                let update = with_events(
                    doc! { "$set": { "rating": i32::from(review.rating), "doc": json(&stored) } },
                    &events(Some(old)),
                );
                let result = self
                    .reviews
                    .update_one(filter, update)
                    .await
                    .map_err(failed)?;
                if result.matched_count == 1 {
                    return Ok((decode_fresh(stored, &existing)?, Some(old)));
                }
                continue;
            }
            let fresh = doc! {
                "_id": review.id.to_string(),
                "product": &product,
                "user": &user,
                "rating": i32::from(review.rating),
                "created": review.created_at.timestamp_micros(),
                "helpful": 0i64,
                "reports": 0i64,
                "doc": json(review),
                "reply": Bson::Null,
                "voters": Vec::<String>::new(),
                "reporters": Vec::<String>::new(),
                "report_reasons": Vec::<String>::new(),
                "outbox": event_strings(&events(None)),
                "pending": events(None).len() as i64,
            };
            match self.reviews.insert_one(fresh).await {
                Ok(_) => return Ok((review.clone(), None)),
                // Someone else created it first: update theirs instead.
                Err(e) if is_duplicate(&e) => continue,
                Err(e) => return Err(failed(e)),
            }
        }
        Err(StoreError::Unavailable(
            "review kept changing; retry".into(),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn get(&self, id: Uuid) -> Result<Option<Review>, StoreError> {
        self.by_id(id).await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn by_product(
        &self,
        product: ProductId,
        sort: Sort,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Review>, StoreError> {
        let order = match sort {
            Sort::Newest => doc! { "created": -1, "_id": -1 },
            Sort::Helpful => doc! { "helpful": -1, "created": -1 },
        };
        let docs: Vec<Document> = self
            .reviews
            .find(doc! { "product": product.to_string() })
            .sort(order)
            .skip(offset as u64)
            .limit(limit as i64)
            .await
            .map_err(failed)?
            .try_collect()
            .await
            .map_err(failed)?;
        docs.iter().map(decode).collect()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn by_author(
        &self,
        product: ProductId,
        user: UserId,
    ) -> Result<Option<Review>, StoreError> {
        self.find(doc! { "product": product.to_string(), "user": user.to_string() })
            .await?
            .map(|d| decode(&d))
            .transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn summary(&self, product: ProductId) -> Result<Summary, StoreError> {
        let pipeline = vec![
            doc! { "$match": { "product": product.to_string() } },
            doc! { "$group": { "_id": "$rating", "n": { "$sum": 1 } } },
        ];
        let groups: Vec<Document> = self
            .reviews
            .aggregate(pipeline)
            .await
            .map_err(failed)?
            .try_collect()
            .await
            .map_err(failed)?;
        let mut summary = Summary::default();
        for group in groups {
            let rating = number(group.get("_id"));
            let n = number(group.get("n"));
            if (1..=5).contains(&rating) {
                summary.histogram[rating as usize - 1] += n as u32;
                summary.count += n as u32;
            }
        }
        Ok(summary)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn reply(
        &self,
        id: Uuid,
        reply: &Reply,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Review>, StoreError> {
        let update = with_events(doc! { "$set": { "reply": json(reply) } }, &events);
        let result = self
            .reviews
            .update_one(doc! { "_id": id.to_string() }, update)
            .await
            .map_err(failed)?;
        if result.matched_count == 0 {
            return Ok(None);
        }
        self.by_id(id).await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn vote(&self, id: Uuid, user: UserId) -> Result<Option<bool>, StoreError> {
        let voter = user.to_string();
        let update = doc! { "$push": { "voters": &voter }, "$inc": { "helpful": 1i64 } };
        self.once_per_user(id, "voters", &voter, update).await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn report(
        &self,
        id: Uuid,
        user: UserId,
        reason: &str,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<bool>, StoreError> {
        let reporter = user.to_string();
        let update = with_events(
            doc! {
                "$push": { "reporters": &reporter, "report_reasons": format!("{reporter} {reason}") },
                "$inc": { "reports": 1i64 },
            },
            &events,
        );
        self.once_per_user(id, "reporters", &reporter, update).await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "mongodb"))]
    async fn ping(&self) -> Result<(), StoreError> {
        self.reviews
            .estimated_document_count()
            .await
            .map_err(failed)?;
        Ok(())
    }
}

/// The review as stored after an edit: the new document with the live
/// counters of the version it replaced.
fn decode_fresh(mut stored: Review, existing: &Document) -> Result<Review, StoreError> {
    let live = decode(existing)?;
    stored.helpful = live.helpful;
    stored.reports = live.reports;
    stored.reply = live.reply;
    Ok(stored)
}

/// Reads the events embedded in review documents.
pub struct MongoReviewOutbox {
    reviews: Collection<Document>,
    /// Where each handed-out event sits: (document id, raw string).
    delivered: std::sync::Mutex<HashMap<Uuid, (String, String)>>,
}

#[async_trait]
impl OutboxReader for MongoReviewOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<EventEnvelope>, String> {
        let docs: Vec<Document> = self
            .reviews
            .find(doc! { "pending": { "$gt": 0i64 } })
            .limit(limit as i64)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut delivered = self.delivered.lock().map_err(|e| e.to_string())?;
        for d in docs {
            let id = d.get_str("_id").map_err(|e| e.to_string())?.to_owned();
            for raw in d.get_array("outbox").map_err(|e| e.to_string())? {
                let Bson::String(raw) = raw else { continue };
                let event: EventEnvelope =
                    serde_json::from_str(raw).map_err(|e| format!("bad review event: {e}"))?;
                delivered.insert(event.id, (id.clone(), raw.clone()));
                out.push(event);
            }
        }
        out.sort_by_key(|e| e.occurred_at);
        Ok(out)
    }

    async fn mark_published(&self, ids: &[Uuid]) -> Result<(), String> {
        let mut by_doc: HashMap<String, Vec<String>> = HashMap::new();
        {
            let mut delivered = self.delivered.lock().map_err(|e| e.to_string())?;
            for id in ids {
                if let Some((doc_id, raw)) = delivered.remove(id) {
                    by_doc.entry(doc_id).or_default().push(raw);
                }
            }
        }
        for (doc_id, raws) in by_doc {
            let n = raws.len() as i64;
            // Only the events still there are pulled and uncounted.
            self.reviews
                .update_one(
                    doc! { "_id": &doc_id, "outbox": { "$all": &raws } },
                    doc! { "$pull": { "outbox": { "$in": &raws } }, "$inc": { "pending": -n } },
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, String> {
        let pipeline = vec![
            doc! { "$match": { "pending": { "$gt": 0i64 } } },
            doc! { "$group": { "_id": Bson::Null, "n": { "$sum": "$pending" } } },
        ];
        let groups: Vec<Document> = self
            .reviews
            .aggregate(pipeline)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(number(groups.first().and_then(|g| g.get("n"))).max(0) as u64)
    }
}
