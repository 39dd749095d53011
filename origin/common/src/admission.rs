//! Admission control: at most N requests of a kind in flight, a bounded
//! wait for a slot, and past it a fast 503 instead of a queue.
//!
//! Past what the cores and pools can serve, more concurrent work only makes
//! every request slower until all of them time out (seen here: checkouts
//! starving PostgreSQL pools; a mixed load at twice its capacity answering
//! in seconds, with a quarter less done). Refusing the excess at once keeps
//! what is admitted fast and the throughput near its peak. The refusal
//! carries `Retry-After` and the wire's overload mark, which tells the edge
//! that the region is healthy, only full (its breaker does not count it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::wire::headers;

/// The metric names of one gate: `<prefix>_in_flight`,
/// `<prefix>_refused_total`, `<prefix>_admission_wait_seconds`.
#[derive(Clone)]
struct Meters {
    in_flight: IntGauge,
    refused: IntCounter,
    wait: Histogram,
}

impl Meters {
    fn new(prefix: &str, what: &str) -> Self {
        let valid = "static metric definitions are valid";
        Self {
            in_flight: IntGauge::new(format!("{prefix}_in_flight"), format!("{what} in flight"))
                .expect(valid),
            refused: IntCounter::new(
                format!("{prefix}_refused_total"),
                format!("{what} refused with 503 because every slot stayed taken"),
            )
            .expect(valid),
            wait: Histogram::with_opts(
                HistogramOpts::new(
                    format!("{prefix}_admission_wait_seconds"),
                    format!("Time admitted {what} waited for a slot"),
                )
                .buckets(vec![
                    0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                ]),
            )
            .expect(valid),
        }
    }
}

/// Slots for one kind of work.
#[derive(Clone)]
pub struct Gate {
    slots: Arc<Semaphore>,
    max_wait: Duration,
    meters: Meters,
}

/// A slot, given back when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    in_flight: IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_flight.dec();
    }
}

impl Gate {
    /// `prefix` names the metrics (`meridian_<subsystem>_<what>`); `what`
    /// is their help text's subject, e.g. "Checkouts".
    pub fn new(prefix: &str, what: &str, max_in_flight: usize, max_wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            max_wait,
            meters: Meters::new(prefix, what),
        }
    }

    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.meters.in_flight.clone()))?;
        registry.register(Box::new(self.meters.refused.clone()))?;
        registry.register(Box::new(self.meters.wait.clone()))
    }

    /// A slot within the wait, or `None` (counted as refused).
    pub async fn admit(&self) -> Option<Slot> {
        let asked = Instant::now();
        let slot = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned());
        match slot.await {
            Ok(Ok(permit)) => {
                self.meters.wait.observe(asked.elapsed().as_secs_f64());
                self.meters.in_flight.inc();
                Some(Slot {
                    _permit: permit,
                    in_flight: self.meters.in_flight.clone(),
                })
            }
            // Timed out (or the semaphore closed, which nothing does).
            _ => {
                self.meters.refused.inc();
                None
            }
        }
    }

    pub fn in_flight(&self) -> i64 {
        self.meters.in_flight.get()
    }

    pub fn refused(&self) -> u64 {
        self.meters.refused.get()
    }
}

/// 503 `overloaded` with `Retry-After: 1` and the overload mark, as the
/// JSON error.
pub fn overloaded(message: &str) -> Response {
    mark(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message).into_response())
}

/// The same refusal as a short page, for a browser.
pub fn overloaded_page() -> Response {
    let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
        <title>Busy right now</title></head><body><h1>Busy right now</h1>\
        <p>Too many people are shopping at this moment. Please try again in a \
        few seconds.</p></body></html>";
    mark(
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response(),
    )
}

fn mark(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    h.insert(headers::OVERLOADED, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_up_to_the_limit_then_refuses_after_the_wait() {
        let gate = Gate::new(
            "meridian_test_things",
            "Things",
            2,
            Duration::from_millis(20),
        );
        let a = gate.admit().await.unwrap();
        let _b = gate.admit().await.unwrap();
        assert_eq!(gate.in_flight(), 2);
        assert!(gate.admit().await.is_none());
        assert_eq!(gate.refused(), 1);
        drop(a);
        assert_eq!(gate.in_flight(), 1);
        assert!(gate.admit().await.is_some(), "a freed slot is given again");
    }

    #[tokio::test]
    async fn a_waiter_gets_a_slot_freed_within_the_wait() {
        let gate = Gate::new("meridian_test_things", "Things", 1, Duration::from_secs(5));
        let held = gate.admit().await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        assert!(waiter.await.unwrap());
    }

    #[test]
    fn refusals_say_when_to_come_back_and_that_the_region_is_only_full() {
        for r in [overloaded("full"), overloaded_page()] {
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.headers()[header::RETRY_AFTER], "1");
            assert_eq!(r.headers()[headers::OVERLOADED], "1");
        }
        assert!(overloaded_page().headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }

    #[test]
    fn metrics_are_named_by_the_prefix() {
        let registry = Registry::new();
        Gate::new("meridian_test_things", "Things", 1, Duration::ZERO)
            .register(&registry)
            .unwrap();
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        for n in [
            "meridian_test_things_in_flight",
            "meridian_test_things_refused_total",
            "meridian_test_things_admission_wait_seconds",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
    }
}
