//! Upstream choice: the regions behind the edge (health, drains,
//! breakers), how the edge reaches their origins (peers, its own client,
//! mTLS) and how much it may retry.

mod client;
mod latency;
mod regions;
mod retry;
mod tls;

pub use client::OriginClient;
pub use regions::{Region, Upstreams};
pub use retry::RetryBudget;
