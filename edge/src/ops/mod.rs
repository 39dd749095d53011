//! Operations: the admin API, live reloads, health checks, the purge feed
//! from every region and the metrics endpoint. Background services and
//! side listeners that act on the running edge's state.

pub mod admin;
pub mod health;
pub mod metrics_app;
pub mod purge_feed;
pub mod reload;
pub mod watch;
