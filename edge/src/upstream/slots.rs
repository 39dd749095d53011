//! How many requests the edge has sent one region at once, bounded
//! (`[upstream] max_in_flight_per_region`). Past the bound a request waits
//! up to `queue_ms` for a slot, then the edge refuses it with `503
//! overloaded`: a refusal at the edge costs microseconds, while a request
//! let through to a saturated origin queues there, answers late (often
//! after its client gave up) and slows every other answer, which is how
//! goodput fell to 78% of its peak past saturation.
//!
//! A semaphore rather than a counter so the short wait needs no polling;
//! the fast path (`try_acquire_owned`) is one atomic update and one `Arc`
//! clone, nothing when no limit is set.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Slots {
    /// `None`: no limit.
    semaphore: Option<Arc<Semaphore>>,
    queue: Duration,
}

/// The region has no slot free within the wait.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Slots {
    pub fn new(limit: u32, queue: Duration) -> Self {
        let limit = limit as usize;
        Self {
            semaphore: (limit > 0).then(|| Arc::new(Semaphore::new(limit))),
            queue,
        }
    }

    /// A slot held until the permit drops (`None`: unlimited).
    pub async fn take(&self) -> Result<Option<OwnedSemaphorePermit>, Full> {
        let Some(semaphore) = &self.semaphore else {
            return Ok(None);
        };
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(Some(permit));
        }
        if self.queue.is_zero() {
            return Err(Full);
        }
        match tokio::time::timeout(self.queue, semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // Timed out (or closed, which this code never does).
            _ => Err(Full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests holding a slot of `slots` (made with `limit`) now.
    fn in_flight(slots: &Slots, limit: usize) -> usize {
        slots
            .semaphore
            .as_ref()
            .map_or(0, |s| limit - s.available_permits())
    }

    #[tokio::test]
    async fn a_full_region_refuses_after_its_wait_and_a_freed_slot_is_taken() {
        let slots = Slots::new(2, Duration::from_millis(30));
        let a = slots.take().await.unwrap().unwrap();
        let _b = slots.take().await.unwrap().unwrap();
        assert_eq!(in_flight(&slots, 2), 2);
        assert_eq!(slots.take().await.unwrap_err(), Full);
        // A slot freed during the wait goes to the waiter.
        let waiter = tokio::spawn(async move {
            let permit = slots.take().await;
            (permit.map(|p| p.is_some()), slots)
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(a);
        let (taken, slots) = waiter.await.unwrap();
        assert_eq!(taken, Ok(true));
        assert_eq!(
            in_flight(&slots, 2),
            1,
            "the waiter's permit dropped with it"
        );
    }

    #[tokio::test]
    async fn no_limit_takes_nothing_and_no_wait_refuses_at_once() {
        let unlimited = Slots::new(0, Duration::from_secs(1));
        assert!(unlimited.take().await.unwrap().is_none());
        assert_eq!(in_flight(&unlimited, 0), 0);
        let no_wait = Slots::new(1, Duration::ZERO);
        let _held = no_wait.take().await.unwrap();
        assert_eq!(no_wait.take().await.unwrap_err(), Full);
    }
}
