//! The failure modes every store shares. Services with richer failures
//! (conflicts, not-found) define their own error and map these into it.

use crate::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or timed out; retrying may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with something we cannot interpret.
    #[error("store error: {0}")]
    Other(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::unavailable("temporarily unavailable; retry shortly")
            }
            StoreError::Other(detail) => ApiError::internal(detail),
        }
    }
}

/// A store's connection pool as Prometheus metrics (its waits and
/// occupancy), registered in the origin's registry.
pub type PoolMetrics = Box<dyn prometheus::core::Collector>;

/// For `lock().map_err(poisoned)` in embedded stores.
pub fn poisoned<T>(_: T) -> StoreError {
    StoreError::Other("embedded store lock poisoned".into())
}
