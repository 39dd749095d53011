//! Request checks, in the order a request meets them: its route, its
//! credentials, its rate limits.

pub mod rate_limit;
pub mod routing;
pub mod session;
