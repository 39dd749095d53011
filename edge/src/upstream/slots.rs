//! How many requests the edge has sent one region at once, bounded
//! (`[upstream] max_in_flight_per_region`). Past the bound a request waits
//! up to `queue_ms` for a slot, then the edge refuses it with `503
//! overloaded`: a refusal at the edge costs microseconds, while a request
//! let through to a saturated origin queues there, answers late (often
//! after its client gave up) and slows every other answer. Unbounded, the
//! mix on two cores drove an origin past its accept queue: health checks
//! and connects timed out, the edge ejected a busy region as a dead one,
//! and its shoppers landed where their sessions were not
//! (docs/performance.md).
//!
//! Not every request is worth the same when there are too many. A freed
//! slot goes to a waiting request of a `critical` route first (checkout,
//! the end of a visit), then to a write (add to cart, sign-in, a seller's
//! restock), then to a signed-in read, then to an anonymous read (mostly
//! cacheable pages, served stale when shed); reads may hold at most
//! `read_share` of the slots and anonymous reads at most
//! `anonymous_read_share`, so a write arriving at a full region finds room
//! soon. Shedding the same share of every kind of request ends nearly every
//! multi-step visit somewhere, and a checkout is what the visit was for
//! (measured: docs/performance.md). Google's SRE book calls this
//! criticality.
//!
//! One short lock per request while a bound is set (a few integer updates
//! under it): tokio's semaphore hands a freed permit to the longest waiter,
//! and strict priority needs it to go to the most important one instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

/// What a request is, for shedding: the first to go are anonymous reads,
/// then signed-in reads; critical routes, then writes, go first and may
/// take every slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Critical = 0,
    Write = 1,
    SignedInRead = 2,
    AnonymousRead = 3,
}

const CLASSES: [Class; 4] = [
    Class::Critical,
    Class::Write,
    Class::SignedInRead,
    Class::AnonymousRead,
];

impl Class {
    fn is_read(self) -> bool {
        matches!(self, Class::SignedInRead | Class::AnonymousRead)
    }
}

pub struct Slots {
    /// `None`: no limit.
    pool: Option<Arc<Pool>>,
    queue: Duration,
}

#[derive(Debug)]
struct Pool {
    limit: usize,
    /// Reads at most, anonymous reads at most.
    read_cap: usize,
    anonymous_cap: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    in_use: usize,
    reads: usize,
    anonymous: usize,
    /// Waiters per class, in `Class` order; each gets its slot through its
    /// channel (a waiter gone by then drops it, which frees it again).
    waiting: [VecDeque<oneshot::Sender<Slot>>; 4],
}

/// The slot one request holds; it goes back (to the most important waiter)
/// when this drops.
#[derive(Debug)]
pub struct Slot {
    pool: Option<Arc<Pool>>,
    class: Class,
}

/// The region has no slot free within the wait.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// The most a share lets through: a share of `limit`, at least one slot.
fn share_of(limit: u32, share: f64) -> usize {
    ((f64::from(limit) * share).ceil() as usize).max(1)
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing under the lock can panic midway; a poisoned one is sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fits(&self, s: &State, class: Class) -> bool {
        s.in_use < self.limit
            && (!class.is_read() || s.reads < self.read_cap)
            && (class != Class::AnonymousRead || s.anonymous < self.anonymous_cap)
    }

    fn count(s: &mut State, class: Class, up: bool) {
        let step = |n: &mut usize| *n = if up { *n + 1 } else { *n - 1 };
        step(&mut s.in_use);
        if class.is_read() {
            step(&mut s.reads);
        }
        if class == Class::AnonymousRead {
            step(&mut s.anonymous);
        }
    }

    /// A slot given back: to the first waiter of the most important class
    /// it fits, else free.
    fn release(self: &Arc<Self>, class: Class) {
        let mut s = self.lock();
        Self::count(&mut s, class, false);
        for next in CLASSES {
            while self.fits(&s, next) {
                let Some(waiter) = s.waiting[next as usize].pop_front() else {
                    break;
                };
                Self::count(&mut s, next, true);
                let slot = Slot {
                    pool: Some(self.clone()),
                    class: next,
                };
                if let Err(mut unsent) = waiter.send(slot) {
                    // The waiter gave up: undo without the slot's own drop,
                    // which would take this lock again.
                    unsent.pool = None;
                    Self::count(&mut s, next, false);
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.release(self.class);
        }
    }
}

impl Slots {
    /// `limit` 0: no bound. Shares are validated in `0 < anonymous <= reads
    /// <= 1` by the config.
    pub fn new(limit: u32, read_share: f64, anonymous_read_share: f64, queue: Duration) -> Self {
        let pool = (limit > 0).then(|| {
            Arc::new(Pool {
                limit: limit as usize,
                read_cap: share_of(limit, read_share),
                anonymous_cap: share_of(limit, anonymous_read_share),
                state: Mutex::default(),
            })
        });
        Self { pool, queue }
    }

    /// A slot held until it drops (`None`: unlimited). A request takes a
    /// free slot only when nobody as important is waiting; else it waits
    /// up to `queue_ms` in its class's line.
    pub async fn take(&self, class: Class) -> Result<Option<Slot>, Full> {
        let Some(pool) = &self.pool else {
            return Ok(None);
        };
        let waiting = {
            let mut s = pool.lock();
            let ahead = s.waiting[..=class as usize].iter().any(|q| !q.is_empty());
            if !ahead && pool.fits(&s, class) {
                Pool::count(&mut s, class, true);
                return Ok(Some(Slot {
                    pool: Some(pool.clone()),
                    class,
                }));
            }
            if self.queue.is_zero() {
                return Err(Full);
            }
            let (tx, rx) = oneshot::channel();
            s.waiting[class as usize].push_back(tx);
            rx
        };
        match tokio::time::timeout(self.queue, waiting).await {
            Ok(Ok(slot)) => Ok(Some(slot)),
            // Timed out: the dropped receiver is skipped (or its slot freed)
            // by the next release.
            _ => Err(Full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (in use, reads, anonymous reads) now.
    fn held(slots: &Slots) -> (usize, usize, usize) {
        let s = slots.pool.as_ref().unwrap().lock();
        (s.in_use, s.reads, s.anonymous)
    }

    fn plain(limit: u32, queue_ms: u64) -> Slots {
        Slots::new(limit, 1.0, 1.0, Duration::from_millis(queue_ms))
    }

    async fn fill(slots: &Slots, class: Class) -> Vec<Slot> {
        let mut taken = Vec::new();
        while let Ok(Some(slot)) = slots.take(class).await {
            taken.push(slot);
        }
        taken
    }

    #[tokio::test]
    async fn a_full_region_refuses_after_its_wait_and_a_freed_slot_is_taken() {
        let slots = Arc::new(plain(2, 50));
        let a = slots.take(Class::Write).await.unwrap().unwrap();
        let _b = slots.take(Class::AnonymousRead).await.unwrap().unwrap();
        assert_eq!(held(&slots).0, 2);
        assert_eq!(slots.take(Class::Write).await.unwrap_err(), Full);
        // A slot freed during the wait goes to the waiter.
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(Class::SignedInRead).await.map(|s| s.is_some()) }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(a);
        assert_eq!(waiter.await.unwrap(), Ok(true));
        assert_eq!(held(&slots), (1, 1, 1), "the waiter's slot dropped with it");
    }

    #[tokio::test]
    async fn no_limit_takes_nothing_and_no_wait_refuses_at_once() {
        let unlimited = Slots::new(0, 0.5, 0.25, Duration::from_secs(1));
        assert!(unlimited
            .take(Class::AnonymousRead)
            .await
            .unwrap()
            .is_none());
        assert!(unlimited.pool.is_none());
        let no_wait = plain(1, 0);
        let _held = no_wait.take(Class::Write).await.unwrap();
        assert_eq!(no_wait.take(Class::Write).await.unwrap_err(), Full);
    }

    #[tokio::test]
    async fn reads_keep_to_their_shares_and_writes_find_the_rest() {
        // 10 slots: reads at most 8, anonymous reads at most 5.
        let slots = Slots::new(10, 0.8, 0.5, Duration::ZERO);
        let anonymous = fill(&slots, Class::AnonymousRead).await;
        assert_eq!(anonymous.len(), 5);
        let signed_in = fill(&slots, Class::SignedInRead).await;
        assert_eq!(signed_in.len(), 3, "reads stop at 8 of 10");
        let writes = fill(&slots, Class::Write).await;
        assert_eq!(writes.len(), 2, "writes take the rest");
        assert_eq!(held(&slots), (10, 8, 5));
        drop((anonymous, signed_in));
        let more = fill(&slots, Class::Write).await;
        assert_eq!(more.len(), 8, "writes may hold every slot");
        assert_eq!(slots.take(Class::AnonymousRead).await.unwrap_err(), Full);
        drop((writes, more));
        assert_eq!(held(&slots), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_most_important_waiter() {
        let slots = Arc::new(plain(1, 1_000));
        let first = slots.take(Class::Write).await.unwrap().unwrap();
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        // Lined up in this order; served most important first.
        for class in [
            Class::AnonymousRead,
            Class::SignedInRead,
            Class::Write,
            Class::Critical,
        ] {
            let (slots, order) = (slots.clone(), order_tx.clone());
            waiters.push(tokio::spawn(async move {
                let slot = slots.take(class).await.unwrap().unwrap();
                order.send(class).unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
                drop(slot);
            }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Nobody jumps the line: a newcomer waits behind those waiting.
        assert!(slots.pool.as_ref().unwrap().lock().waiting[3].len() == 1);
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let served: Vec<Class> = std::iter::from_fn(|| order_rx.try_recv().ok()).collect();
        assert_eq!(
            served,
            [
                Class::Critical,
                Class::Write,
                Class::SignedInRead,
                Class::AnonymousRead
            ]
        );
        assert_eq!(held(&slots), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_is_skipped_and_loses_no_slot() {
        let slots = plain(1, 10);
        let held_slot = slots.take(Class::Write).await.unwrap().unwrap();
        assert_eq!(slots.take(Class::Write).await.unwrap_err(), Full);
        // Its channel is still queued; the release skips it.
        drop(held_slot);
        assert_eq!(held(&slots), (0, 0, 0));
        let again = slots.take(Class::AnonymousRead).await.unwrap();
        assert!(again.is_some());
    }

    #[test]
    fn shares_round_up_to_at_least_one_slot() {
        assert_eq!(share_of(10, 0.25), 3);
        assert_eq!(share_of(1, 0.01), 1);
        assert_eq!(share_of(64, 1.0), 64);
    }
}
