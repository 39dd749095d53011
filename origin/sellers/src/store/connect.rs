//! The sellers service's stores from `[stores.sellers]` and
//! `[stores.images]`.

use std::path::Path;
use std::sync::Arc;

use meridian_common::store_config::{ConnectError, Connected, StoreConfig};

use super::memory::MemorySellerStore;
use super::SellerStore;
use crate::images::{ImageStore, LocalDirImageStore};

/// Shops and API keys: embedded, or PostgreSQL.
pub async fn connect(config: &StoreConfig) -> Result<Connected<dyn SellerStore>, ConnectError> {
    const ROLE: &str = "sellers";
    match config {
        StoreConfig::Memory => Ok(Connected::<dyn SellerStore>::embedded(|outbox| {
            Arc::new(MemorySellerStore::new(outbox))
        })),
        #[cfg(feature = "postgres")]
        pg @ StoreConfig::Postgres { .. } => {
            let settings = meridian_common::pg::PgSettings::from_config(ROLE, pg, Some("sellers"))
                .expect("a postgres entry");
            let store = super::postgres::PostgresSellerStore::connect(&settings).await;
            let store = ConnectError::context(ROLE, "connecting to PostgreSQL", store)?;
            let outbox = Arc::new(store.outbox());
            Ok(Connected::polled(Arc::new(store), outbox))
        }
        #[cfg(not(feature = "postgres"))]
        StoreConfig::Postgres { .. } => Err(ConnectError::compiled_out(ROLE, "postgres")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}

/// Product photos: files under `dir` (embedded), or S3.
pub async fn images(config: &StoreConfig, dir: &Path) -> Result<Arc<dyn ImageStore>, ConnectError> {
    const ROLE: &str = "images";
    match config {
        StoreConfig::Memory => {
            let store = LocalDirImageStore::new(dir);
            let what = format!("sellers.images_dir: cannot create {}", dir.display());
            Ok(Arc::new(ConnectError::context(ROLE, what, store)?))
        }
        #[cfg(feature = "s3")]
        StoreConfig::S3 {
            endpoint,
            region,
            bucket,
        } => {
            let store =
                crate::images_s3::S3ImageStore::connect(endpoint.as_deref(), region, bucket).await;
            Ok(Arc::new(ConnectError::context(
                ROLE,
                "connecting to S3",
                store,
            )?))
        }
        #[cfg(not(feature = "s3"))]
        StoreConfig::S3 { .. } => Err(ConnectError::compiled_out(ROLE, "s3")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
