//! The search index from its `[stores.search]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, StoreConfig};

use crate::index::{SearchIndex, TantivyIndex};

/// The index: embedded tantivy, or Elasticsearch.
pub async fn connect(config: &StoreConfig) -> Result<Arc<dyn SearchIndex>, ConnectError> {
    const ROLE: &str = "search";
    match config {
        StoreConfig::Memory => Ok(Arc::new(ConnectError::context(
            ROLE,
            "building the embedded index",
            TantivyIndex::in_memory(),
        )?)),
        #[cfg(feature = "elasticsearch")]
        StoreConfig::Elasticsearch { url, index } => {
            let store = crate::elastic::ElasticIndex::connect(url, index).await;
            Ok(Arc::new(ConnectError::context(
                ROLE,
                "connecting to Elasticsearch",
                store,
            )?))
        }
        #[cfg(not(feature = "elasticsearch"))]
        StoreConfig::Elasticsearch { .. } => Err(ConnectError::compiled_out(ROLE, "elasticsearch")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
