//! Upstream choice: the regions behind the edge (health, drains,
//! breakers), how the edge reaches their origins (peers, its own client,
//! mTLS), how much it may retry and how many requests each may have.

mod client;
mod endpoint;
mod latency;
mod regions;
mod retry;
mod slots;
mod tls;

pub use client::OriginClient;
pub use endpoint::Endpoint;
pub use regions::{Region, Upstreams};
pub use retry::RetryBudget;
pub use slots::{Class, Full, Slot};
