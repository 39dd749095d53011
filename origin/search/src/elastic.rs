//! Production search index: Elasticsearch.
//!
//! The index is created with an explicit mapping (text fields analysed,
//! filters as keywords and numbers; `dynamic: false`, so nothing unplanned
//! gets indexed). Writes go through `_bulk` with `refresh=wait_for`: an
//! acknowledged write is visible to the next search, as with the embedded
//! index. Category facets are a `terms` aggregation while the category
//! filter sits in `post_filter`, so facets ignore it and totals honour it.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::indices::{IndicesCreateParts, IndicesExistsParts};
use elasticsearch::params::Refresh;
use elasticsearch::{BulkParts, DeleteParts, Elasticsearch, SearchParts};
use meridian_common::clients::SearchDoc;
use meridian_common::ProductId;
use serde_json::{json, Value};

use crate::index::{IndexError, Results, SearchIndex};
use crate::query::{SearchQuery, SortBy};

pub struct ElasticIndex {
    client: Elasticsearch,
    index: String,
}

fn err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(format!("elasticsearch: {e}"))
}

/// Fails on a non-2xx answer, with the server's reason.
async fn checked(response: elasticsearch::http::response::Response) -> Result<Value, IndexError> {
    let status = response.status_code();
    let body: Value = response.json().await.map_err(err)?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(err(format!("{status}: {body}")))
    }
}

fn mapping() -> Value {
    json!({
        "settings": { "number_of_shards": 1 },
        "mappings": {
            "dynamic": false,
            "properties": {
                "product_id": { "type": "keyword" },
                "seller_id": { "type": "keyword" },
                "category": { "type": "keyword" },
                "title": { "type": "text" },
                "description": { "type": "text" },
                "attributes": { "type": "text" },
                "price": { "properties": { "amount": { "type": "long" }, "currency": { "type": "keyword" } } },
                "rating_centi": { "type": "integer" },
                "in_stock": { "type": "boolean" },
                "created_micros": { "type": "long" }
            }
        }
    })
}

/// Every word must match title, attributes or description, exactly or
/// within a small edit distance; exact and title matches weigh more.
fn text_query(text: &str) -> Option<Value> {
    let words = crate::query::words(text);
    if words.is_empty() {
        return None;
    }
    let must: Vec<Value> = words
        .iter()
        .map(|w| {
            let mut should = Vec::new();
            for (field, boost) in [("title", 3.0), ("attributes", 1.5), ("description", 1.0)] {
                should.push(json!({ "match": { field: { "query": w, "boost": boost } } }));
                if let Some(distance) = crate::query::fuzzy_distance(w) {
                    should.push(json!({ "match": { field: {
                        "query": w, "fuzziness": distance, "boost": boost * 0.5
                    } } }));
                }
            }
            json!({ "bool": { "should": should, "minimum_should_match": 1 } })
        })
        .collect();
    Some(json!({ "bool": { "must": must } }))
}

fn body(q: &SearchQuery) -> Value {
    let mut must = Vec::new();
    if let Some(text) = q.text.as_deref().and_then(text_query) {
        must.push(text);
    }
    let mut filter = Vec::new();
    if let Some(seller) = &q.seller {
        filter.push(json!({ "term": { "seller_id": seller.to_string() } }));
    }
    if q.min_price.is_some() || q.max_price.is_some() {
        let mut range = serde_json::Map::new();
        if let Some(lo) = q.min_price {
            range.insert("gte".into(), json!(lo));
        }
        if let Some(hi) = q.max_price {
            range.insert("lte".into(), json!(hi));
        }
        filter.push(json!({ "range": { "price.amount": range } }));
    }
    if let Some(min) = q.min_rating_centi {
        filter.push(json!({ "range": { "rating_centi": { "gte": min } } }));
    }
    if q.in_stock {
        filter.push(json!({ "term": { "in_stock": true } }));
    }
    let sort = match q.sort {
        SortBy::Relevance => json!([{ "_score": "desc" }, { "created_micros": "desc" }]),
        SortBy::PriceAsc => json!([{ "price.amount": "asc" }, { "product_id": "asc" }]),
        SortBy::PriceDesc => json!([{ "price.amount": "desc" }, { "product_id": "asc" }]),
        SortBy::Newest => json!([{ "created_micros": "desc" }, { "product_id": "asc" }]),
        SortBy::Rating => json!([{ "rating_centi": "desc" }, { "product_id": "asc" }]),
    };
    let mut out = json!({
        "query": { "bool": { "must": must, "filter": filter } },
        "sort": sort,
        "from": q.offset,
        "size": q.limit,
        "track_total_hits": true,
        "aggs": { "categories": { "terms": { "field": "category", "size": 100 } } }
    });
    if let Some(category) = &q.category {
        out["post_filter"] = json!({ "term": { "category": category } });
    }
    out
}

fn source(d: &SearchDoc) -> Value {
    let mut v = serde_json::to_value(d).expect("search docs serialise");
    v["created_micros"] = json!(d.created_at.timestamp_micros());
    v
}

impl ElasticIndex {
    /// Connects and creates the index with its mapping when missing.
    pub async fn connect(url: &str, index: &str) -> Result<Self, IndexError> {
        let pool = SingleNodeConnectionPool::new(url.parse().map_err(err)?);
        let transport = TransportBuilder::new(pool)
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(err)?;
        let client = Elasticsearch::new(transport);
        let exists = client
            .indices()
            .exists(IndicesExistsParts::Index(&[index]))
            .send()
            .await
            .map_err(err)?;
        if exists.status_code().as_u16() == 404 {
            let created = client
                .indices()
                .create(IndicesCreateParts::Index(index))
                .body(mapping())
                .send()
                .await
                .map_err(err)?;
            // Another origin may have created it in the meantime.
            if !created.status_code().is_success() {
                let text = created.text().await.map_err(err)?;
                if !text.contains("resource_already_exists") {
                    return Err(err(text));
                }
            }
        }
        Ok(Self {
            client,
            index: index.to_owned(),
        })
    }
}

#[async_trait]
impl SearchIndex for ElasticIndex {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "elasticsearch"))]
    async fn upsert(&self, docs: &[SearchDoc]) -> Result<(), IndexError> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut lines: Vec<JsonBody<Value>> = Vec::with_capacity(docs.len() * 2);
        for d in docs {
            lines.push(json!({ "index": { "_id": d.product_id.to_string() } }).into());
            lines.push(source(d).into());
        }
        let answer = checked(
            self.client
                .bulk(BulkParts::Index(&self.index))
                .refresh(Refresh::WaitFor)
                .body(lines)
                .send()
                .await
                .map_err(err)?,
        )
        .await?;
        if answer["errors"].as_bool() == Some(true) {
            return Err(err(format!("bulk item failed: {answer}")));
        }
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "elasticsearch"))]
    async fn remove(&self, id: ProductId) -> Result<(), IndexError> {
        let response = self
            .client
            .delete(DeleteParts::IndexId(&self.index, &id.to_string()))
            .refresh(Refresh::WaitFor)
            .send()
            .await
            .map_err(err)?;
        if response.status_code().as_u16() == 404 {
            return Ok(());
        }
        checked(response).await.map(|_| ())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "elasticsearch"))]
    async fn search(&self, q: &SearchQuery) -> Result<Results, IndexError> {
        let answer = checked(
            self.client
                .search(SearchParts::Index(&[&self.index]))
                .body(body(q))
                .send()
                .await
                .map_err(err)?,
        )
        .await?;
        let hits = &answer["hits"];
        let total = hits["total"]["value"]
            .as_u64()
            .or_else(|| hits["total"].as_u64())
            .unwrap_or(0);
        let items = hits["hits"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|h| serde_json::from_value::<SearchDoc>(h["_source"].clone()).map_err(err))
            .collect::<Result<Vec<_>, _>>()?;
        let mut facets = BTreeMap::new();
        for bucket in answer["aggregations"]["categories"]["buckets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let (Some(key), Some(n)) = (bucket["key"].as_str(), bucket["doc_count"].as_u64()) {
                if n > 0 {
                    facets.insert(key.to_owned(), n);
                }
            }
        }
        Ok(Results {
            total,
            items,
            facets,
        })
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "elasticsearch"))]
    async fn ping(&self) -> Result<(), IndexError> {
        let response = self.client.ping().send().await.map_err(err)?;
        if response.status_code().is_success() {
            Ok(())
        } else {
            Err(err(format!("ping answered {}", response.status_code())))
        }
    }
}
