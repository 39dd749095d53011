//! The catalog's product store from its `[stores.products]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, Connected, StoreConfig};

use super::memory::MemoryProductStore;
use super::ProductStore;

const ROLE: &str = "products";

/// Products: embedded, or DynamoDB (with an optional Redis read-through
/// cache in front).
pub async fn connect(config: &StoreConfig) -> Result<Connected<dyn ProductStore>, ConnectError> {
    match config {
        StoreConfig::Memory => Ok(Connected::<dyn ProductStore>::embedded(|outbox| {
            Arc::new(MemoryProductStore::new(outbox))
        })),
        #[cfg(feature = "dynamodb")]
        StoreConfig::Dynamodb {
            endpoint,
            region,
            table,
            cache_url,
            cache_ttl_secs,
        } => {
            let cache = match cache_url {
                Some(url) => Some(ConnectError::context(
                    ROLE,
                    "cache_url: connecting to Redis",
                    super::cache::ProductCache::connect(
                        url,
                        &format!("meridian:{table}:"),
                        std::time::Duration::from_secs(*cache_ttl_secs),
                    )
                    .await,
                )?),
                None => None,
            };
            let store = super::dynamo::DynamoProductStore::connect(
                endpoint.as_deref(),
                region,
                table,
                cache,
            )
            .await;
            let store = ConnectError::context(ROLE, "connecting to DynamoDB", store)?;
            let outbox = Arc::new(store.outbox());
            Ok(Connected::polled(Arc::new(store), outbox))
        }
        #[cfg(not(feature = "dynamodb"))]
        StoreConfig::Dynamodb { .. } => Err(ConnectError::compiled_out(ROLE, "dynamodb")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
