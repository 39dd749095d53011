//! Admission control for checkouts.
//!
//! A checkout holds store connections and calls five services; past what
//! the origin's pools and cores can serve, more concurrent checkouts only
//! make every one of them slower until all time out (the real-stores runs
//! saw exactly that: pool starvation, then timeouts for everyone). So at
//! most `max_in_flight` run at once per origin, a checkout waits at most
//! `max_wait` for a slot, and one that cannot get one is refused at once
//! with 503, `Retry-After` and the wire's overload mark (which tells the
//! edge that the region is healthy, only full). Goodput then stays near the
//! peak past saturation, and admitted checkouts keep a bounded latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use meridian_common::wire::headers;
use meridian_common::ApiError;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

#[derive(Clone)]
struct Meters {
    in_flight: IntGauge,
    refused: IntCounter,
    wait: Histogram,
}

impl Meters {
    fn new() -> Self {
        let gauge = IntGauge::new(
            "meridian_orders_checkouts_in_flight",
            "Checkouts running in this origin",
        );
        let refused = IntCounter::new(
            "meridian_orders_checkouts_refused_total",
            "Checkouts refused with 503 because every slot stayed taken",
        );
        let wait = Histogram::with_opts(
            HistogramOpts::new(
                "meridian_orders_checkout_admission_wait_seconds",
                "Time an admitted checkout waited for its slot",
            )
            .buckets(vec![
                0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
            ]),
        );
        Self {
            in_flight: gauge.expect("static metric definition is valid"),
            refused: refused.expect("static metric definition is valid"),
            wait: wait.expect("static metric definition is valid"),
        }
    }
}

/// The checkout slots of one origin.
#[derive(Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    limits: CheckoutLimits,
    meters: Meters,
}

/// A slot, given back when the checkout ends (or its task does).
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    in_flight: IntGauge,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.in_flight.dec();
    }
}

impl Admission {
    pub fn new(limits: CheckoutLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            meters: Meters::new(),
        }
    }

    /// Registers the admission metrics with the origin's registry.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.meters.in_flight.clone()))?;
        registry.register(Box::new(self.meters.refused.clone()))?;
        registry.register(Box::new(self.meters.wait.clone()))
    }

    pub fn limits(&self) -> CheckoutLimits {
        self.limits
    }

    /// A slot within `max_wait`, or the 503 to send.
    pub async fn admit(&self) -> Result<Admitted, Response> {
        let asked = Instant::now();
        let slot = tokio::time::timeout(self.limits.max_wait, self.slots.clone().acquire_owned());
        match slot.await {
            Ok(Ok(permit)) => {
                self.meters.wait.observe(asked.elapsed().as_secs_f64());
                self.meters.in_flight.inc();
                Ok(Admitted {
                    _permit: permit,
                    in_flight: self.meters.in_flight.clone(),
                })
            }
            // Timed out (or the semaphore closed, which nothing does).
            _ => {
                self.meters.refused.inc();
                Err(overloaded())
            }
        }
    }
}

/// 503 `overloaded`, retry in a second, marked so the edge does not count
/// it against the region's health.
fn overloaded() -> Response {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "too many checkouts right now; retry in a second with the same Idempotency-Key",
    )
    .into_response();
    let h = response.headers_mut();
    h.insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static("1"),
    );
    h.insert(headers::OVERLOADED, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_in_flight: usize) -> CheckoutLimits {
        CheckoutLimits {
            max_in_flight,
            max_wait: Duration::from_millis(20),
            lease: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn admits_up_to_the_limit_then_refuses_fast_with_retry_after() {
        let gate = Admission::new(limits(2));
        let a = gate.admit().await.ok().unwrap();
        let _b = gate.admit().await.ok().unwrap();
        assert_eq!(gate.meters.in_flight.get(), 2);
        let refused = gate.admit().await.err().unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(refused.headers()[headers::OVERLOADED], "1");
        assert_eq!(gate.meters.refused.get(), 1);
        drop(a);
        assert_eq!(gate.meters.in_flight.get(), 1);
        assert!(gate.admit().await.is_ok(), "a freed slot is given again");
    }

    #[tokio::test]
    async fn a_waiter_gets_a_slot_freed_within_the_wait() {
        let gate = Admission::new(CheckoutLimits {
            max_wait: Duration::from_secs(5),
            ..limits(1)
        });
        let held = gate.admit().await.ok().unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        assert!(waiter.await.unwrap());
    }
}
