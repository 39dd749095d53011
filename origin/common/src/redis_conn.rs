//! Redis connections shared by every service that stores in it.
//!
//! A `ConnectionManager` reconnects by itself after Redis comes back; the
//! timeouts make a dead Redis fail fast (503) instead of hanging requests.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn connect(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}

/// Whether a failure means "Redis is not reachable right now".
pub fn is_unavailable(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
}
