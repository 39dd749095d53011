//! Admission control for checkouts (`meridian_common::admission`): a
//! checkout holds store connections and calls five services, so at most
//! `max_in_flight` run at once per origin, each waits at most `max_wait`
//! for a slot, and one that cannot get one is refused at once with 503
//! `overloaded` rather than piling onto a starved pool.

use std::time::Duration;

use axum::response::Response;
use meridian_common::admission::{self, Gate, Slot};
use prometheus::Registry;

/// What the region file sets (`[orders]`), validated there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutLimits {
    pub max_in_flight: usize,
    pub max_wait: Duration,
    /// How long a claimed Idempotency-Key is held without an answer before a
    /// retry may take it over. Longer than any checkout can run (every call
    /// it makes is bounded), so it only frees keys whose process died.
    pub lease: Duration,
}

impl Default for CheckoutLimits {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            max_wait: Duration::from_millis(250),
            lease: Duration::from_secs(120),
        }
    }
}

/// The checkout slots of one origin, and its key lease.
#[derive(Clone)]
pub struct Admission {
    gate: Gate,
    limits: CheckoutLimits,
}

impl Admission {
    pub fn new(limits: CheckoutLimits) -> Self {
        Self {
            gate: Gate::new(
                "meridian_orders_checkouts",
                "Checkouts",
                limits.max_in_flight,
                limits.max_wait,
            ),
            limits,
        }
    }

    /// Registers `meridian_orders_checkouts_{in_flight, refused_total,
    /// admission_wait_seconds}` with the origin's registry.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        self.gate.register(registry)
    }

    pub fn limits(&self) -> CheckoutLimits {
        self.limits
    }

    /// A slot, or the 503 to send.
    pub async fn admit(&self) -> Result<Slot, Response> {
        self.gate.admit().await.ok_or_else(|| {
            admission::overloaded(
                "too many checkouts right now; retry in a second with the same Idempotency-Key",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use meridian_common::wire::headers;

    use super::*;

    #[tokio::test]
    async fn a_full_origin_refuses_checkouts_with_retry_after() {
        let gate = Admission::new(CheckoutLimits {
            max_in_flight: 1,
            max_wait: Duration::from_millis(10),
            ..CheckoutLimits::default()
        });
        let _held = gate.admit().await.ok().unwrap();
        let refused = gate.admit().await.err().unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(refused.headers()[headers::OVERLOADED], "1");
    }
}
